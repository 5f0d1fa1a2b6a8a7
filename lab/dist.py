"""Data-parallel runs on several devices and machines, launched by torchrun.

``d2l-lab run ID --nproc N`` (or ``--devices cuda:0,cuda:1``; ``--nnodes``, ``--node-rank`` and
``--rdzv-endpoint`` for several machines) trains one run in several processes, one per device,
each running the one runner (lab/dist_worker.py is a rank). This module is the launching side:

- ``plan`` turns the options into a ``Plan`` and ``check`` refuses what cannot run, before
  anything starts;
- ``spawn`` names the run, writes its config.json and starts the supervisor, ``python -m
  lab.dist RUN``: torchrun (``torch.distributed.run``, PyTorch's own launcher) in that process,
  then ``settle``; ``join`` starts a supervisor on another machine, for a run recorded there;
- ``settle`` records the end of a run whose recording rank died without recording it (killed,
  or stuck until torchrun killed it), with the first failing rank's error.

Batch semantics: ``batch_size`` is the global batch. Each of the W processes trains on its
batch_size / W examples of every batch (the same permutation on every rank, from the same seed),
DistributedDataParallel averages the gradients, and the learning rate is unchanged: a W-process
run takes the same steps as the one-device run with the same batch_size.

Importing this module is cheap: torch is imported by the supervisor and the ranks only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab import paths

if TYPE_CHECKING:
    from collections.abc import Callable

    from lab.spec import Experiment, Params
    from lab.store import Store

# The recipes built on lab/train/classify.py's fit_classifier: these can train data-parallel.
DATA_PARALLEL = ("lab.recipes.classify:train_fashion_mnist", "lab.recipes.cnn:train_cnn",
                 "lab.recipes.init_stability:train_init_stability",
                 "lab.recipes.multi_gpu:train_lenet_by_hand")  # by hand, without DDP
LAUNCHER_LOG = "launcher.log"  # the supervisor's output (torchrun's log) in the run's folder
RANK_LOGS = "ranks"  # each local rank's output and error file (torchrun's --log-dir)
SHUTDOWN_SECONDS = 25  # torchrun's grace for the other ranks once one fails, then SIGKILL
RDZV_ID = "d2l-lab"  # the rendezvous every machine of a run joins
OWNED = "--owned"  # the supervisor's flag: its stdin is a pipe from the lab that started it
FAILED, STOPPED, INTERRUPTED = "failed", "stopped", "interrupted"  # as lab.events (torch-free)
RANK_FAILED = "RankFailed"  # lab.dist_worker's exception for a rank whose run failed
SEMANTICS = ("batch_size is the global batch: each of the W processes trains on batch_size/W "
             "examples of every batch and the gradients are averaged, so lr stays as it is")


class PlanError(ValueError):
    """Options that cannot start a data-parallel run; the message says which and why."""


@dataclass(frozen=True)
class Plan:
    """Where a data-parallel run's processes go: one per device of ``devices`` on this machine,
    on each of ``nnodes`` machines (the same number on each)."""

    devices: tuple[str, ...]
    nnodes: int = 1
    node_rank: int = 0  # 0: the machine that records the run (and shows it)
    rdzv_endpoint: str = ""  # HOST:PORT of the rendezvous; "" on one machine (a free port)

    @property
    def world_size(self) -> int:
        return self.nnodes * len(self.devices)

    @property
    def backend(self) -> str:
        return "nccl" if self.devices[0].startswith("cuda") else "gloo"

    def describe(self) -> dict[str, Any]:
        """What config.json keeps: how the run was spread."""
        return {"world_size": self.world_size, "backend": self.backend, **asdict(self),
                "devices": list(self.devices)}

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> Plan:
        return cls(tuple(data["devices"]), data["nnodes"], data["node_rank"],
                   data["rdzv_endpoint"])


def plan(*, nproc: int | None, devices: str | None, device: str | None, nnodes: int | None,
         node_rank: int | None, rdzv_endpoint: str | None,
         validate: Callable[[str], str]) -> Plan | None:
    """The plan the options ask for; None when they ask for one process (none given).
    ``validate`` checks one device name (lab.devices.validate) and raises with the list of
    those that exist."""
    if nproc is None and devices is None and nnodes is None and node_rank is None \
            and rdzv_endpoint is None:
        return None
    if nproc is not None and nproc < 1:
        raise PlanError(f"--nproc must be at least 1 (got {nproc})")
    if devices is not None:
        if device is not None:
            raise PlanError("give either --devices (one process per device) or --device")
        names = [name.strip() for name in devices.split(",")]
        if not all(names):
            raise PlanError(f"--devices takes names separated by commas (got {devices!r})")
        chosen = [validate(name) for name in names]
        if nproc is not None and nproc != len(chosen):
            raise PlanError(f"--nproc {nproc} does not match the {len(chosen)} devices of "
                            "--devices (one process per device)")
    else:
        chosen = _processes_on(validate(device or "cpu"), nproc or 1, validate)
    kinds = {name.split(":")[0] for name in chosen}
    if kinds - {"cpu", "cuda"}:
        raise PlanError(f"{', '.join(sorted(kinds - {'cpu', 'cuda'}))} has no torch.distributed "
                        "backend: use CUDA devices (NCCL) or cpu processes (gloo)")
    if len(kinds) > 1:
        raise PlanError("a run's processes are all CUDA devices or all cpu, not both")
    if kinds == {"cuda"} and len(set(chosen)) < len(chosen):
        raise PlanError("each CUDA device can take one process of a run (NCCL cannot share one)")
    nodes = nnodes or 1
    if nodes < 1:
        raise PlanError(f"--nnodes must be at least 1 (got {nodes})")
    rank = node_rank or 0
    if not 0 <= rank < nodes:
        raise PlanError(f"--node-rank must be between 0 and {nodes - 1} (got {rank})")
    if nodes > 1 and (node_rank is None or not rdzv_endpoint):
        raise PlanError("several machines need --node-rank (0 on the one that records the run) "
                        "and --rdzv-endpoint HOST:PORT (the same on every machine)")
    endpoint = (rdzv_endpoint or "").strip()
    if endpoint:
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit():
            raise PlanError(f"--rdzv-endpoint must be HOST:PORT (got {rdzv_endpoint!r})")
    return Plan(tuple(chosen), nodes, rank, endpoint)


def processes(n: int) -> str:
    """"1 process", "2 processes": as the run's messages count them."""
    return "1 process" if n == 1 else f"{n} processes"


def _processes_on(base: str, n: int, validate: Callable[[str], str]) -> list[str]:
    """``--nproc n`` on ``--device base``: n cpu processes, or CUDA devices 0..n-1."""
    if base == "cpu" or n == 1:
        return [base] * n
    if base != "cuda:0":
        raise PlanError(f"--nproc {n} with --device {base}: name the devices with --devices")
    return [validate(f"cuda:{i}") for i in range(n)]


def check(experiment: Experiment, params: Params, chosen: Plan) -> None:
    """Refuse what the plan cannot train: an experiment that is not an image classifier, a
    batch that does not split evenly over the processes."""
    if experiment.entry not in DATA_PARALLEL:
        raise PlanError(f"{experiment.id} is not an image classification experiment: only those "
                        "(softmax, mlp, lenet, resnet, …) train on several processes")
    world = chosen.world_size
    batch = params.get("batch_size")
    if batch is not None and batch % world:
        raise PlanError(f"batch_size {batch} does not split evenly over {world} processes: "
                        f"choose a multiple of {world} ({SEMANTICS})")


def spawn(store: Store, experiment: Experiment, params: Params, chosen: Plan, *, seed: int,
          preset: str, owned: bool = False) -> tuple[str, subprocess.Popen]:
    """Name a new run, write its config.json (with how it is spread) and start its supervisor;
    returns the run's id and the supervisor at once. The run's first rank records it.
    ``owned``: the run belongs to the calling process (the lab), as a worker's run does: when
    the supervisor's stdin, a pipe from the caller, closes (the lab was killed), the run is
    interrupted as a hang-up would interrupt it. The caller writes a byte to that pipe before it
    signals the supervisor itself (``signalled``): a lab that stops its run and quits must not
    send torchrun a second signal, which would cut its shutdown of the ranks short."""
    from lab import detach

    run_id = detach.prepare(store, experiment, params, device=chosen.devices[0], seed=seed,
                            preset=preset)
    run_dir = store.run_dir(run_id)
    config = read_config(run_dir)
    config["distributed"] = chosen.describe()
    (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    with (run_dir / LAUNCHER_LOG).open("ab") as log:
        proc = _popen([run_id, *([OWNED] if owned else [])], store.home, stdout=log,
                      stdin=subprocess.PIPE if owned else subprocess.DEVNULL)
    return run_id, proc


def join(experiment: Experiment, params: Params, chosen: Plan, *, seed: int,
         preset: str) -> subprocess.Popen:
    """This machine's processes of a run that another machine (--node-rank 0) records; they
    write no record here, and their output goes to this terminal."""
    config = {"experiment": experiment.id, "preset": preset, "params": dict(params),
              "device": chosen.devices[0], "seed": seed, "sweep": "",
              "distributed": chosen.describe()}
    return _popen(["-", json.dumps(config)], paths.home(), stdout=None)


def _popen(args: list[str], home: Path, *, stdout: Any,
           stdin: int = subprocess.DEVNULL) -> subprocess.Popen:
    env = dict(os.environ)
    env["D2L_LAB_HOME"] = str(home)  # the ranks record where the launcher looks
    # A session of its own: the terminal's Ctrl+C reaches the launcher only, which passes one
    # signal on; a second one reaching torchrun would cut its shutdown of the ranks short.
    return subprocess.Popen([sys.executable, "-m", "lab.dist", *args], stdin=stdin,
                            stdout=stdout, stderr=subprocess.STDOUT if stdout else None,
                            start_new_session=True, env=env)


def read_config(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "config.json").read_text(encoding="utf-8"))


def torchrun_args(run_id: str, config: dict[str, Any], log_dir: Path | None) -> list[str]:
    """torchrun's command line for this machine's share of the run."""
    chosen = Plan.from_config(config["distributed"])
    args = [f"--nproc-per-node={len(chosen.devices)}", "--max-restarts=0"]
    if _torchrun_knows("--shutdown-timeout"):  # torch >= 2.11; before, a fixed 30 s grace
        args.append(f"--shutdown-timeout={SHUTDOWN_SECONDS}")
    if chosen.rdzv_endpoint:
        args += [f"--nnodes={chosen.nnodes}", "--rdzv-backend=c10d",
                 f"--rdzv-endpoint={chosen.rdzv_endpoint}", f"--rdzv-id={RDZV_ID}"]
    else:
        args += ["--standalone"]
    if log_dir is not None:  # each rank's output in the run's folder, not on the terminal
        args += [f"--log-dir={log_dir}", "--redirects=3"]
    return [*args, "-m", "lab.dist_worker", run_id, json.dumps(config)]


def _torchrun_knows(option: str) -> bool:
    from torch.distributed.run import get_args_parser

    return option in get_args_parser()._option_string_actions


def settle(store: Store, run_id: str, config: dict[str, Any], status: str, reason: str) -> None:
    """Record how the run ended if its recording rank could not: it never started (then the
    run is recorded now, so it is not lost), or it died before recording its end."""
    from lab.events import Ended, Started
    from lab.store import CRASHED, RUNNING, EventLog

    record = store.get(run_id)
    if record is not None and record.status not in (RUNNING, CRASHED):
        return  # the run recorded its own end
    events = []
    if record is None:
        events.append(Started(run_id, config["experiment"], config["params"], config["device"],
                              config["seed"], config["preset"], config.get("sweep", "")))
    events.append(Ended(status, reason))
    log = EventLog(store.run_dir(run_id) / "events.jsonl")
    try:
        for event in events:
            store.record(run_id, event)
            log(event)
    finally:
        log.close()


def first_failure(failures: dict[int, Any]) -> str:
    """The error of the rank that failed first, from torchrun's ChildFailedError.failures: an
    exception (it left an error file) before a rank killed by a signal (torchrun's shutdown)."""
    raised = {rank: f for rank, f in failures.items() if os.path.isfile(f.error_file)}
    rank, failure = min((raised or failures).items(), key=lambda item: item[1].timestamp)
    message = failure.message
    if isinstance(message, dict):  # from the error file: "Type: text" and the traceback
        message = message.get("message", "")
    text = str(message).strip().removeprefix(f"{RANK_FAILED}: ")
    return f"rank {rank}: {text.splitlines()[0] if text else f'exit code {failure.exitcode}'}"


def _supervise(run_id: str, config: dict[str, Any], log_dir: Path | None) -> tuple[str, str]:
    """Run torchrun for this machine's ranks; how it ended as (status, reason), "" when the
    ranks ended on their own."""
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    def interrupt(signum: int, _frame: object) -> None:
        # Until torchrun's agent installs its own handler (the same), a signal ends the start.
        raise SignalException(f"got {signal.Signals(signum).name}", signal.Signals(signum))

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    nproc = len(config["distributed"]["devices"])
    # torchrun would give each process one thread; share the cores instead.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    try:
        run(parse_args(torchrun_args(run_id, config, log_dir)))
    except ChildFailedError as err:
        return FAILED, first_failure(err.failures)
    except SignalException as err:
        if err.sigval == signal.SIGINT:
            return STOPPED, "stopped by the user (its last epoch's checkpoint is kept)"
        return INTERRUPTED, f"interrupted by {err.sigval.name}"
    except Exception as err:  # the rendezvous timed out, a port was taken, …
        return FAILED, f"the processes could not start: {type(err).__name__}: {err}"
    return "", ""


def signalled(supervisor: subprocess.Popen) -> None:
    """Tell an owned run's supervisor (``spawn``) that its lab signals it itself."""
    if supervisor.stdin is None:  # not owned
        return
    try:
        supervisor.stdin.write(b"\n")
        supervisor.stdin.flush()
    except (OSError, ValueError):  # it has ended (a broken pipe), or the pipe was closed
        pass


def _hang_up_when_orphaned() -> None:
    """Once the lab's end of stdin closes without a word (it was killed), a SIGHUP to this
    process: torchrun's handler stops every rank, which record the run interrupted with its
    checkpoint."""
    told = False
    while os.read(0, 4096):  # not sys.stdin: a thread blocked in it would hang the exit
        told = True
    if not told:
        os.kill(os.getpid(), signal.SIGHUP)


def _main(argv: list[str]) -> int:
    """The supervisor: ``RUN`` (a run spawn prepared) or ``- CONFIG`` (join's share)."""
    from lab.store import Store

    if argv[0] == "-":
        status, _ = _supervise("-", json.loads(argv[1]), None)
        return 1 if status else 0
    store = Store()
    run_id = argv[0]
    if OWNED in argv:
        threading.Thread(target=_hang_up_when_orphaned, daemon=True).start()
    run_dir = store.run_dir(run_id)
    config = read_config(run_dir)
    status, reason = _supervise(run_id, config, run_dir / RANK_LOGS)
    settle(store, run_id, config, status or FAILED,
           reason or "its processes ended without recording an end")
    record = store.get(run_id)
    return 0 if record is not None and record.status == "finished" else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
