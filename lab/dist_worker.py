"""One rank of a data-parallel run: ``python -m lab.dist_worker RUN|- CONFIG``, as torchrun
starts it (lab/dist.py builds the command). It runs the one runner with a ``Ranks``: what the
runner, RunContext and fit_classifier ask of this process's place in the group.

- Only the recording rank (local rank 0 of the machine started with --node-rank 0) writes the
  run's folder and index; the others run with no record and a scratch folder.
- Every rank shuffles the same permutation (the same seed) and trains on its slice of each
  batch; DistributedDataParallel averages the gradients; the epoch's metrics are summed over
  the ranks, the test set is evaluated in shards.
- Stopping is agreed: every batch the ranks all-reduce their stop flags, so all stop at the
  same batch, one after the request (a Stop or ``runs stop`` reaches the recording rank
  only).
- A rank whose run fails or diverges says so in the rendezvous store before it exits; the
  recording rank, failing next (its peer is gone), records that first error, not its own.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.elastic.multiprocessing.errors import record

from lab import catalog
from lab.cancel import Cancel
from lab.dist import Plan, processes
from lab.events import DIVERGED, FAILED, Curve, Message
from lab.train.graphs import WARMUP_STEPS, GraphedStep

FIRST_FAILURE = "d2l-lab/first-failure"  # the rendezvous store's key: the first rank to fail
SPEED_FIGURE = "examples/s per process"
# The default group: gloo on the CPU; on CUDA, NCCL for the devices' tensors and gloo for the
# small host-side agreements (stop flags, throughput, checksums), which then never wait on
# the GPU's stream.
BACKENDS = {"gloo": "gloo", "nccl": "cpu:gloo,cuda:nccl"}
STORE_TIMEOUT = timedelta(seconds=30)
STOP, INTERRUPT = 1, 100  # the stop flags the ranks all-reduce (see _stop_code)
ALONE_WARMUP, ALONE_STEPS = 2, 8  # the steps of measure_alone: warm-up, then timed


class RankFailed(RuntimeError):
    """This rank's run failed: torchrun's error file and exit code carry the reason (lab.dist
    reads it back by this class's name, RANK_FAILED)."""


class Ranks:
    """This process's place in the group, as the runner and the training loop use it."""

    def __init__(self, plan: Plan, device: str, records: bool, run: str) -> None:
        """``run``: what this machine was asked to train (experiment, preset, parameters,
        seed), which every machine's command must give alike."""
        self.plan, self.device = plan, torch.device(device)
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.records = records  # this rank writes the run's record
        self._store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]),
                                    is_master=False, timeout=STORE_TIMEOUT)
        self._speeds: list[list[float]] = []  # per epoch, every rank's examples/s
        self._alone: list[float] = []  # every rank's examples/s alone (measure_alone)
        self._pending: tuple[Any, torch.Tensor] | None = None  # the stop flags in flight
        recorders = self._host_sum([float(records)])[0]
        if recorders != 1:  # one machine must be --node-rank 0, and only one
            raise RuntimeError(f"{int(recorders)} machines were started with --node-rank 0; "
                               "exactly one records the run")
        runs = self._gather_digests(hashlib.sha256(run.encode()).hexdigest())
        if len(set(runs)) > 1:
            differ = [rank for rank, digest in enumerate(runs) if digest != runs[0]]
            raise RuntimeError(f"ranks {differ} were started with another experiment, preset, "
                               "--set or --seed than rank 0: give every machine the same command")
        # Where a rank that does not record the run keeps what the runner writes on a failure.
        self.scratch = Path(tempfile.mkdtemp(prefix=f"d2l-lab-rank{self.rank}-"))

    def describe(self) -> dict[str, Any]:
        return self.plan.describe()

    # -- the training loop (fit_classifier) --

    def wrap(self, ctx: Any, net: nn.Module, stream: torch.cuda.Stream | None = None) -> nn.Module:
        """``net`` in DistributedDataParallel (which starts every rank from rank 0's weights),
        built on ``stream`` where the steps are to be captured as CUDA graphs on it."""
        machines = f" on each of {self.plan.nnodes} machines" if self.plan.nnodes > 1 else ""
        batch = ctx.params.batch_size
        ctx.emit(Message(f"data-parallel on {processes(self.world_size)} ({self.plan.backend}): "
                         f"{', '.join(self.plan.devices)}{machines}; each trains on "
                         f"{batch // self.world_size} of every batch of {batch}, the gradients "
                         f"are averaged, lr {ctx.params.lr} as given"))
        ids = [self.device.index] if self.device.type == "cuda" else None
        # Gradients written straight into the all-reduce buckets (no copy per parameter), and
        # no broadcast of rank 0's buffers before every forward: each rank keeps the BatchNorm
        # statistics of its own shards (rank 0's are checkpointed). Both cost kernel launches
        # every step, which is what limits a small network's speed on a GPU. static_graph: the
        # same parameters take part in every step, so DDP need not look for unused ones.
        # DDP keeps the gradient accumulators of the stream it is built on: a graph captured
        # on another would wait on this one, which capture forbids.
        with torch.cuda.stream(stream):  # no-op for None
            return nn.parallel.DistributedDataParallel(
                net, device_ids=ids, broadcast_buffers=False, gradient_as_bucket_view=True,
                static_graph=True)

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        return shard(indices, self.rank, self.world_size)

    def share(self, batch_size: int) -> int:
        """How many examples of a full batch each rank trains on (lab.dist checks that the
        batch splits evenly)."""
        return batch_size // self.world_size

    def split(self, tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """This rank's contiguous share of a dataset (the test set, evaluated in shards)."""
        return tuple(t.tensor_split(self.world_size)[self.rank] for t in tensors)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over the ranks, on the device (one all-reduce)."""
        values = values.clone()
        dist.all_reduce(values)
        return values

    def report_speed(self, ctx: Any, epoch: int, examples: int, seconds: float) -> None:
        """Every rank's training throughput this epoch, gathered and drawn per rank."""
        rates = self._host_gather(examples / max(seconds, 1e-9))
        self._speeds.append(rates)
        epochs = [float(e) for e in range(epoch - len(self._speeds) + 1, epoch + 1)]
        for rank in range(self.world_size):
            ctx.emit(Curve(SPEED_FIGURE, self._series(rank), epochs,
                           [speeds[rank] for speeds in self._speeds], xlabel="epoch"))
        ctx.emit(Curve(SPEED_FIGURE, "total", epochs, [sum(s) for s in self._speeds],
                       xlabel="epoch"))

    def measure_alone(self, net: nn.Module,
                      loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                      batch: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                      batch_size: int, graphed: bool = False) -> None:
        """Every rank's examples/s training a copy of ``net`` on its share of a batch without
        talking to the others: what each device does on its own, the yardstick of the scaling
        efficiency. All ranks measure at once, so processes sharing a CPU share it here as in
        training; the run's own weights are not touched. ``batch(indices)`` gives (X, y).
        ``graphed``: the run's steps replay as CUDA graphs, so the yardstick's do too."""
        alone = copy.deepcopy(net)
        optimizer = torch.optim.SGD(alone.parameters(), lr=1e-3)
        share = self.share(batch_size)
        indices = torch.arange(share, device=self.device)
        X, y = batch(indices)

        def step(_: torch.Tensor) -> tuple[torch.Tensor, ...]:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(alone(X), y).mean().backward()
            optimizer.step()
            return ()

        warmup = ALONE_WARMUP
        if graphed:
            step, warmup = GraphedStep(step, share, lambda _: None), WARMUP_STEPS + 1  # + capture
        for _ in range(warmup):
            step(indices)
        _synchronize(self.device)
        started = time.perf_counter()
        for _ in range(ALONE_STEPS):
            step(indices)
        _synchronize(self.device)
        self._alone = self._host_gather(share * ALONE_STEPS / (time.perf_counter() - started))

    def report_scaling(self, ctx: Any) -> None:
        """The last epoch's scaling efficiency: the examples/s of all ranks together over the
        sum of what each trains alone (1.0: no time lost to communication)."""
        if not self._alone or not self._speeds:
            return
        together, alone = sum(self._speeds[-1]), sum(self._alone)
        efficiency = together / alone
        ctx.metrics["scaling_efficiency"] = efficiency
        ctx.emit(Message(f"scaling efficiency {efficiency:.2f}: the {processes(self.world_size)} "
                         f"trained {together:,.0f} examples/s together; each alone trains "
                         f"{statistics.mean(self._alone):,.0f} ({alone:,.0f} for "
                         f"{self.world_size})"))

    def _series(self, rank: int) -> str:
        per_node = len(self.plan.devices)  # the same on every machine
        return f"rank {rank} · {self.plan.devices[rank % per_node]}"

    def check_weights(self, ctx: Any, net: nn.Module) -> None:
        """Say whether every rank ends with the same weights (their parameters' sha256)."""
        mine = weights_digest(net.parameters())
        digests = self._gather_digests(mine)
        if self.world_size == 1:
            ctx.emit(Message(f"one process: no other weights to compare (parameters' sha256 "
                             f"{mine})"))
        elif len(set(digests)) == 1:
            ctx.emit(Message(f"the weights are identical on all {self.world_size} processes "
                             f"(parameters' sha256 {mine})"))
        else:
            ranks = ", ".join(f"rank {r} {d[:12]}" for r, d in enumerate(digests))
            ctx.emit(Message(f"the weights differ between processes: {ranks}", level="warning"))

    # -- RunContext: stopping --

    def agree_to_stop(self, cancel: Any) -> bool:
        """Whether every rank stops now: the ranks' stop requests are all-reduced, a batch
        behind (the reduction runs while the next batch computes, so it costs no wait); a
        request from any rank stops all at the same batch. A signal's number travels with it,
        so an interruption is recorded as one."""
        agreed = 0
        if self._pending is not None:
            work, flag = self._pending
            work.wait()
            agreed = int(flag.item())
        flag = torch.tensor([_stop_code(cancel)], dtype=torch.int64)
        self._pending = (dist.all_reduce(flag, op=dist.ReduceOp.MAX, async_op=True), flag)
        if agreed and not cancel.is_set():
            if agreed > STOP and hasattr(cancel, "interrupt"):
                cancel.interrupt(agreed - INTERRUPT)
            else:
                cancel.set()
        return bool(agreed)

    # -- the runner: how the run ended --

    def outcome(self, ctx: Any, status: str, reason: str) -> tuple[str, str]:
        """The run's end as the record should say it: a failure or divergence is published to
        the rendezvous store; the first rank to publish is the cause, which the recording rank
        records (with its traceback) instead of its own failure that followed."""
        if status not in (FAILED, DIVERGED):
            return status, reason
        tb = ctx.traceback.read_text(encoding="utf-8") if ctx.traceback else ""
        mine = json.dumps({"rank": self.rank, "status": status, "reason": reason, "tb": tb})
        try:
            first = self._store.compare_set(FIRST_FAILURE, "", mine).decode()
        except Exception:  # the store is gone with its host: this rank's own end stands
            return status, reason
        if first == mine or not self.records:
            return status, reason
        cause = json.loads(first)
        if cause["tb"]:
            path = ctx.run_dir / "traceback.txt"
            path.write_text(f"rank {cause['rank']} failed first:\n{cause['tb']}",
                            encoding="utf-8")
            ctx.traceback = path
        return cause["status"], f"rank {cause['rank']}: {cause['reason']}"

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def finish(self) -> None:
        """A run that ended on every rank alike: the last stop flags in flight are received,
        the cycles that hold the group (DistributedDataParallel's hooks) are collected while
        the interpreter is whole rather than in its shutdown, and every rank reaches this point
        before any tears the group down. (One CI run saw a rank abort at exit with gloo's
        "terminate called without an active exception" after its peer had gone.)"""
        if self._pending is not None:
            self._pending[0].wait()
            self._pending = None
        gc.collect()
        dist.barrier()

    # -- small agreements on the host (gloo) --

    def _host_sum(self, values: list[float]) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def _gather_digests(self, digest: str) -> list[str]:
        """Every rank's sha256 (hex), in rank order."""
        out = [torch.empty(32, dtype=torch.uint8) for _ in range(self.world_size)]
        dist.all_gather(out, torch.frombuffer(bytearray.fromhex(digest), dtype=torch.uint8))
        return [bytes(t.tolist()).hex() for t in out]

    def _host_gather(self, value: float) -> list[float]:
        out = [torch.empty(1, dtype=torch.float64) for _ in range(self.world_size)]
        dist.all_gather(out, torch.tensor([value], dtype=torch.float64))
        return [t.item() for t in out]


def _stop_code(cancel: Any) -> int:
    """0: go on; STOP: the user stopped it; INTERRUPT + N: signal N interrupted it (the
    maximum over the ranks wins, so an interruption outranks a stop)."""
    if not cancel.is_set():
        return 0
    signum = getattr(cancel, "signum", 0)
    return INTERRUPT + signum if signum else STOP


def shard(indices: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s slice of a batch: equal slices, so every rank draws as many random
    numbers (dropout) and keeps the same random state as the others. A last batch that does
    not split evenly is padded with its own first examples."""
    size = -(-len(indices) // world_size)
    if size * world_size != len(indices):
        repeats = -(-size * world_size // len(indices))
        indices = indices.repeat(repeats)[:size * world_size]
    return indices[rank * size:(rank + 1) * size]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def weights_digest(tensors: Iterable[torch.Tensor]) -> str:
    """sha256 of the tensors' bytes, in order: equal only for bitwise equal weights."""
    digest = hashlib.sha256()
    for tensor in tensors:
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@record
def main(argv: list[str]) -> None:
    from lab import runner

    run_id, config = argv[0], json.loads(argv[1])
    plan = Plan.from_config(config["distributed"])
    local_rank = int(os.environ["LOCAL_RANK"])
    device = plan.devices[local_rank]
    cancel = Cancel()
    # torchrun passes Ctrl+C on as SIGINT (stop), a shutdown as SIGTERM; `runs stop` sends
    # SIGINT to the recording rank. Each sets the flag the ranks agree on every batch.
    signal.signal(signal.SIGINT, lambda *_: cancel.set())
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: cancel.interrupt(signum))
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
    dist.init_process_group(BACKENDS[plan.backend])
    run = json.dumps([config[key] for key in ("experiment", "preset", "params", "seed")],
                     sort_keys=True)
    ranks = Ranks(plan, device, records=run_id != "-" and local_rank == 0, run=run)
    try:
        experiment = catalog.get(config["experiment"])
        params = experiment.resolve(config["preset"], config["params"])
        result = runner.run(experiment, params, device=device, seed=config["seed"],
                            preset=config["preset"], cancel=cancel,
                            run_id=run_id if ranks.records else None,
                            sweep=config.get("sweep", ""), dist=ranks)
    finally:
        ranks.close()
    if result.status in (FAILED, DIVERGED):
        raise RankFailed(result.reason)  # the group is left as it is: a peer may be gone
    ranks.finish()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
