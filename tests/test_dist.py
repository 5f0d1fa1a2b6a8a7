"""Data-parallel runs under torchrun (issue 10): two gloo processes on the CPU train softmax to
the one-process result with identical weights, recorded once; a rank that fails ends the run
with its error and leaves no process; a stop reaches every rank; the CLI refuses what cannot
run. The ranks are real processes, so faults and the data cut reach them through a
sitecustomize on their PYTHONPATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from lab import dist
from lab.cli import app
from lab.store import Store, read_events

LAB = [sys.executable, "-m", "lab"]
TWO_CPU = ["--preset", "quick", "--nproc", "2", "--json"]
FAULT = "injected fault on rank 1"


def in_the_ranks(monkeypatch, folder: Path, fail: bool = False) -> Path:
    """Every process started from now on notes its pid in ``folder/pids``; each rank cuts
    Fashion-MNIST to 3000 + 1000 images (as ``small_fashion_mnist`` does in this process);
    with ``fail``, rank 1's third nn.Linear forward (in epoch 1) raises, noting the time."""
    site = folder / "site"
    site.mkdir()
    (folder / "pids").mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import os, pathlib, time
        folder = pathlib.Path({str(folder)!r})
        (folder / "pids" / str(os.getpid())).touch()
        if "RANK" in os.environ:  # a process torchrun started
            from lab.data import fashion_mnist as fm
            full = fm.load

            def small(device="cpu", progress=None):
                train, test = full(device, progress)
                return (fm.Split(train.images[:3000], train.labels[:3000]),
                        fm.Split(test.images[:1000], test.labels[:1000]))

            fm.load = small
            if {fail!r} and os.environ["RANK"] == "1":
                from torch import nn
                real, calls = nn.Linear.forward, []

                def forward(self, x):
                    calls.append(1)
                    if len(calls) == 3:
                        (folder / "raised").write_text(str(time.time()))
                        raise RuntimeError({FAULT!r})
                    return real(self, x)

                nn.Linear.forward = forward
    """), encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(site), os.environ.get("PYTHONPATH")])))
    return folder / "pids"


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process (a zombie is not: it has ended, only its exit is unread)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def survivors(pids: Path, ranks: int = 2) -> list[int]:
    noted = [int(path.name) for path in pids.iterdir()]
    assert len(noted) >= 2 + ranks  # the launcher, the supervisor (torchrun) and the ranks
    return [pid for pid in noted if alive(pid)]


def only_run(home: Path):
    records = Store(home).recent(None)
    assert len(records) == 1, [r.id for r in records]  # one run, not one per rank
    return records[0]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_softmax_on_two_gloo_processes_matches_one_process(
        small_fashion_mnist, lab_home: Path, tmp_path: Path, monkeypatch, one_thread) -> None:
    pids = in_the_ranks(monkeypatch, tmp_path)
    done = subprocess.run([*LAB, "run", "softmax", *TWO_CPU], capture_output=True, text=True,
                          timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    record = only_run(lab_home)
    assert record.status == "finished" and record.epochs_done == 3
    run_dir = Store(lab_home).run_dir(record.id)
    spread = json.loads((run_dir / "config.json").read_text())["distributed"]
    assert (spread["world_size"], spread["backend"], spread["devices"]) == (2, "gloo",
                                                                            ["cpu", "cpu"])
    events = read_events(run_dir)

    # Both ranks' throughput, every epoch, and the total the epoch rows show.
    curves = {e.series: e for e in events if getattr(e, "figure", "") == "examples/s per process"}
    assert set(curves) == {"rank 0 · cpu", "rank 1 · cpu", "total"}
    assert all(len(c.y) == 3 and min(c.y) > 0 for c in curves.values())
    epoch_ends = [e for e in events if e.kind == "epoch"]
    assert len(epoch_ends) == 3 and all(e.examples_per_sec > 0 for e in epoch_ends)
    # ... and the scaling efficiency: together against each process alone (measured first).
    scaling = [e.text for e in events if e.kind == "message" and "scaling efficiency" in e.text]
    assert len(scaling) == 1 and "the 2 processes trained" in scaling[0]
    assert 0 < record.metrics["scaling_efficiency"] < 2

    # Every rank hashed its weights: all equal, and equal to rank 0's final.pt.
    from lab.dist_worker import weights_digest
    from lab.train import checkpoint

    said = [e.text for e in events if e.kind == "message" and "sha256" in e.text]
    assert len(said) == 1 and "identical on all 2 processes" in said[0]
    final = checkpoint.load(run_dir / checkpoint.FINAL)["net"]
    assert said[0].split()[-1].rstrip(")") == weights_digest(final.values())
    assert not list(run_dir.glob("ranks/**/error.json"))
    assert not survivors(pids)

    # The same global batch in one process: the same steps, so the same accuracy.
    from lab import catalog, runner

    softmax = catalog.get("softmax")
    alone = runner.run(softmax, softmax.resolve("quick", {}), preset="quick",
                       store=Store(tmp_path / "alone"))
    assert alone.status == "finished"
    assert abs(alone.metrics["test_acc"] - record.metrics["test_acc"]) <= 0.01
    assert alone.metrics["test_acc"] > 0.6  # it learned: ten classes, chance is 0.1


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_one_nccl_process_replays_its_steps_as_cuda_graphs_and_matches_the_plain_run(
        small_fashion_mnist, lab_home: Path, tmp_path: Path, monkeypatch) -> None:
    """The data-parallel step on CUDA is captured with its all-reduce (lab.train.graphs), as
    the plain run's is: LeNet with batch norm under torchrun on one GPU learns what the plain
    run learns (3 epochs of 3000 images: 11 eager full batches, the capture, then replays)."""
    pids = in_the_ranks(monkeypatch, tmp_path)
    batchnorm = ["batchnorm", "--preset", "quick", "--set", "epochs=3"]
    done = subprocess.run([*LAB, "run", *batchnorm, "--devices", "cuda:0", "--json"],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    record = only_run(lab_home)
    assert record.status == "finished" and record.epochs_done == 3
    said = [e.text for e in read_events(Store(lab_home).run_dir(record.id))
            if e.kind == "message"]
    assert any("replays as one CUDA graph (captured after 11 eager steps)" in m
               for m in said), said
    assert not any("CUDA graphs off" in m for m in said), said
    assert not survivors(pids, ranks=1)

    from lab import catalog, runner

    plain = catalog.get("batchnorm")
    alone = runner.run(plain, plain.resolve("quick", {"epochs": 3}), device="cuda:0",
                       preset="quick", store=Store(tmp_path / "alone"))
    assert alone.status == "finished"
    assert abs(alone.metrics["test_acc"] - record.metrics["test_acc"]) <= 0.02
    assert record.metrics["test_acc"] > 0.3  # it learned: ten classes, chance is 0.1


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_rank_that_fails_ends_the_run_with_its_error_and_no_process_left(
        fashion_mnist, lab_home: Path, tmp_path: Path, monkeypatch) -> None:
    pids = in_the_ranks(monkeypatch, tmp_path, fail=True)
    done = subprocess.run([*LAB, "run", "softmax", *TWO_CPU], capture_output=True, text=True,
                          timeout=150)
    assert done.returncode == 1, done.stderr[-3000:]
    record = only_run(lab_home)
    assert record.status == "failed"
    assert record.reason == f"rank 1: RuntimeError: {FAULT}"  # the cause, not rank 0's echo
    raised = float((tmp_path / "raised").read_text())
    assert record.ended_at is not None and record.ended_at - raised < 30
    assert not survivors(pids)
    run_dir = Store(lab_home).run_dir(record.id)
    errors = {path.parent.name: path for path in run_dir.glob("ranks/**/error.json")}
    assert FAULT in errors["1"].read_text()  # torchrun's error file of rank 1
    traceback = (run_dir / "traceback.txt").read_text()
    assert traceback.startswith("rank 1 failed first") and FAULT in traceback
    ended = [json.loads(line) for line in done.stdout.splitlines()][-1]
    assert ended["kind"] == "ended" and ended["reason"] == record.reason


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("how", ["runs stop", "ctrl+c"])
def test_a_stop_stops_every_rank_and_keeps_rank_0s_checkpoint(
        how, fashion_mnist, lab_home: Path, tmp_path: Path, monkeypatch) -> None:
    """`runs stop` signals the recording rank only, Ctrl+C the launcher (which passes it to
    torchrun, which passes it to every rank); either way the ranks agree on one batch."""
    import signal

    from lab import detach

    pids = in_the_ranks(monkeypatch, tmp_path)
    launcher = subprocess.Popen([*LAB, "run", "softmax", *TWO_CPU, "--set", "epochs=200"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        store = Store(lab_home)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            records = store.recent(None)
            if records and records[0].epochs_done >= 1:
                break
            assert launcher.poll() is None, launcher.communicate()[1][-3000:]
            time.sleep(0.1)
        else:
            pytest.fail("the run did not finish an epoch")
        run_id = records[0].id
        if how == "runs stop":
            assert detach.stop(store, run_id)
        else:
            launcher.send_signal(signal.SIGINT)
        out, err = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 130, err[-3000:]
    record = only_run(lab_home)
    assert record.status == "stopped", record.reason
    assert 1 <= record.epochs_done < 200
    from lab.train import checkpoint

    run_dir = store.run_dir(run_id)
    assert checkpoint.load(run_dir / checkpoint.LAST)["epoch"] == record.epochs_done
    assert (run_dir / checkpoint.FINAL).exists()
    assert not list(run_dir.glob("ranks/**/error.json"))  # no rank failed: all stopped
    assert not survivors(pids)


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("how", ["killed", "stops and quits"])
def test_a_run_the_lab_owns_ends_with_the_lab(
        how, fashion_mnist, lab_home: Path, tmp_path: Path, monkeypatch) -> None:
    """The TUI starts its data-parallel runs owned. A SIGKILLed lab (no handler runs) closes
    the supervisor's stdin: the run ends interrupted, with its checkpoint. A lab that stops its
    run and quits at once closes it too, having said so first: the run is stopped, not hit by
    a second signal. Either way no rank is left."""
    pids = in_the_ranks(monkeypatch, tmp_path)
    lab = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal, time
        from lab import catalog, devices, dist
        from lab.store import Store
        exp, store = catalog.get("softmax"), Store()
        chosen = dist.plan(nproc=2, devices=None, device=None, nnodes=None, node_rank=None,
                           rdzv_endpoint=None, validate=devices.validate)
        run_id, proc = dist.spawn(store, exp, exp.resolve("quick", {{"epochs": 200}}), chosen,
                                  seed=0, preset="quick", owned=True)
        while store.get(run_id) is None or store.get(run_id).epochs_done < 1:
            time.sleep(0.1)
        if {how!r} == "stops and quits":
            dist.signalled(proc)
            proc.send_signal(signal.SIGINT)
            os._exit(0)
        time.sleep(600)
    """)])
    try:
        store = Store(lab_home)
        deadline = time.monotonic() + 120
        while not (records := store.recent(None)) or records[0].epochs_done < 1:
            assert time.monotonic() < deadline, "the run did not finish an epoch"
            time.sleep(0.1)
        if how == "killed":
            lab.kill()
        assert lab.wait(timeout=30) in (0, -9)
        gone = time.monotonic()
        while store.get(records[0].id).status == "running":
            assert time.monotonic() - gone < 60, "the run went on without its lab"
            time.sleep(0.1)
    finally:
        lab.kill()
    record = only_run(lab_home)
    assert record.status == ("interrupted" if how == "killed" else "stopped"), record.reason
    from lab.train import checkpoint

    run_dir = store.run_dir(record.id)
    assert checkpoint.load(run_dir / checkpoint.LAST)["epoch"] == record.epochs_done
    deadline = time.monotonic() + 30
    while survivors(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not survivors(pids)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_machines_train_one_run_recorded_by_machine_0(
        fashion_mnist, lab_home: Path, tmp_path: Path, monkeypatch) -> None:
    """Two "machines" on this one (two launchers meeting at a c10d rendezvous on localhost,
    each with its own lab home): one run, recorded on machine 0 only."""
    import socket

    pids = in_the_ranks(monkeypatch, tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    machine = ["run", "softmax", "--preset", "quick", "--set", "epochs=1", "--nnodes", "2",
               "--rdzv-endpoint", f"127.0.0.1:{port}", "--node-rank"]
    other_home = tmp_path / "machine-1"
    # One thread per process: two machines' processes share this machine's cores.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    second = subprocess.Popen([*LAB, *machine, "1"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              env={**env, "D2L_LAB_HOME": str(other_home)})
    try:
        first = subprocess.run([*LAB, *machine, "0", "--json"], capture_output=True, text=True,
                               timeout=150, env=env)
        said = second.communicate(timeout=60)[0]
    finally:
        if second.poll() is None:
            second.kill()
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, said[-3000:]
    joined = " ".join(said.split())  # as printed, wrapped to the terminal or not
    assert "machine 1 of 2 joins the run at" in joined
    assert "with 1 process (cpu); machine 0 records it" in joined
    record = only_run(lab_home)
    assert record.status == "finished" and record.epochs_done == 1
    spread = json.loads((Store(lab_home).run_dir(record.id) / "config.json").read_text())
    assert spread["distributed"]["world_size"] == 2 and spread["distributed"]["nnodes"] == 2
    events = read_events(Store(lab_home).run_dir(record.id))
    series = {e.series for e in events if getattr(e, "figure", "") == "examples/s per process"}
    assert series == {"rank 0 · cpu", "rank 1 · cpu", "total"}
    assert not (other_home / "runs").exists() or not any((other_home / "runs").iterdir())
    assert not survivors(pids)


cli = CliRunner()


@pytest.mark.parametrize(("args", "message"), [
    (["linreg", "--nproc", "2"],
     "linreg is not an image classification experiment: only those (softmax, mlp, lenet"),
    (["softmax", "--devices", "cuda:0,cuda:1"], "'cuda:0' is not available here; devices: cpu"),
    (["softmax", "--nproc", "3"], "batch_size 256 does not split evenly over 3 processes"),
    (["softmax", "--nproc", "2", "--devices", "cpu,cpu,cpu"], "--nproc 2 does not match"),
    (["softmax", "--nproc", "0"], "--nproc must be at least 1"),
    (["softmax", "--nnodes", "2"], "several machines need --node-rank"),
    (["softmax", "--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "h:1"],
     "--node-rank must be between 0 and 1"),
    (["softmax", "--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", "h"],
     "--rdzv-endpoint must be HOST:PORT"),
    (["--resume", "x", "--nproc", "2"], "a run resumes in one process: drop --nproc"),
])
def test_the_cli_refuses_what_cannot_run_before_anything_starts(args, message,
                                                                 lab_home: Path) -> None:
    import torch

    if "cuda" in " ".join(args) and torch.cuda.device_count() >= 2:
        pytest.skip("this machine has the CUDA devices")
    result = cli.invoke(app, ["run", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert not (lab_home / "runs").exists() or not any((lab_home / "runs").iterdir())


def fake_devices(name: str) -> str:
    """lab.devices.validate on a machine with cpu and two GPUs."""
    name = "cuda:0" if name == "cuda" else name
    if name not in ("cpu", "cuda:0", "cuda:1"):
        raise ValueError(f"device {name!r} is not available here; devices: cpu, cuda:0, cuda:1")
    return name


def plan(**given):
    options = dict(nproc=None, devices=None, device=None, nnodes=None, node_rank=None,
                   rdzv_endpoint=None)
    return dist.plan(**{**options, **given}, validate=fake_devices)


def test_a_plan_puts_one_process_on_each_device_with_the_backend_it_needs() -> None:
    assert plan() is None  # no option: one process, not torchrun
    cpus = plan(nproc=2)
    assert (cpus.devices, cpus.backend, cpus.world_size) == (("cpu", "cpu"), "gloo", 2)
    gpus = plan(nproc=2, device="cuda")
    assert (gpus.devices, gpus.backend) == (("cuda:0", "cuda:1"), "nccl")
    assert plan(devices="cuda:1, cuda:0").devices == ("cuda:1", "cuda:0")
    two = plan(devices="cuda:0,cuda:1", nnodes=2, node_rank=1, rdzv_endpoint="head:29400")
    assert (two.world_size, two.node_rank) == (4, 1)
    assert dist.Plan.from_config(two.describe()) == two
    args = dist.torchrun_args("run-1", {"distributed": two.describe()}, None)
    assert "--rdzv-backend=c10d" in args and "--rdzv-endpoint=head:29400" in args
    assert "--nproc-per-node=2" in args and "--standalone" not in args
    assert "--standalone" in dist.torchrun_args("r", {"distributed": cpus.describe()}, None)


@pytest.mark.parametrize(("given", "message"), [
    (dict(devices="cpu,cuda:0"), "all CUDA devices or all cpu"),
    (dict(devices="cuda:0,cuda:0"), "each CUDA device can take one process"),
    (dict(devices="cuda:0", device="cpu"), "either --devices"),
    (dict(nproc=2, device="cuda:1"), "name the devices with --devices"),
    (dict(devices="cuda:0,cuda:2"), "'cuda:2' is not available here; devices: cpu, cuda:0"),
])
def test_a_plan_refuses_devices_it_cannot_use(given, message) -> None:
    with pytest.raises(ValueError, match=message):
        plan(**given)


@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("size", [1, 2, 5, 12, 13])
def test_each_rank_takes_an_equal_slice_and_together_they_take_the_batch(world, size) -> None:
    import torch

    from lab.dist_worker import shard

    batch = torch.randperm(100)[:size]
    slices = [shard(batch, rank, world) for rank in range(world)]
    assert len({len(s) for s in slices}) == 1  # equal: the ranks draw alike and stay in step
    together = torch.cat(slices)
    assert torch.equal(together[:size], batch)  # in order, then padded from the start
    assert set(together.tolist()) == set(batch.tolist())
    assert len(together) - size < world


def test_the_first_failure_is_the_earliest_exception_not_a_killed_rank(tmp_path: Path) -> None:
    error = tmp_path / "error.json"
    error.write_text("{}")

    def failure(timestamp, message, error_file="<N/A>", exitcode=1):
        return SimpleNamespace(timestamp=timestamp, message=message, error_file=error_file,
                               exitcode=exitcode)

    failures = {0: failure(5, "Signal 15 (SIGTERM) received by PID 9", exitcode=-15),
                1: failure(7, {"message": "RankFailed: ValueError: bad\nmore"}, str(error)),
                2: failure(9, {"message": "RankFailed: rank 1: ValueError: bad"}, str(error))}
    assert dist.first_failure(failures) == "rank 1: ValueError: bad"
    assert dist.first_failure({3: failure(4, "", exitcode=-9)}) == "rank 3: exit code -9"


ONE_STEP = """
import sys
import torch
import torch.distributed as dist
from lab.recipes.multi_gpu import LeNetReLU, train_batch

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
net = LeNetReLU()
batch = torch.load(sys.argv[1]) if rank == 0 else (None, None)  # only rank 0 holds the batch
train_batch(net, *batch, n=16, lr=float(sys.argv[2]), world=dist.get_world_size())
torch.save(net.state_dict(), f"{sys.argv[3]}/rank{rank}.pt")
dist.destroy_process_group()
"""


@pytest.mark.timeout(120)
def test_lenet_by_hand_on_two_processes_takes_the_one_process_sgd_step(tmp_path: Path) -> None:
    """Lecture 33 with torch.distributed: scatter the batch, all-reduce the gradients, then
    the SGD step of the whole batch, on each of two gloo processes."""
    import torch
    from torch.nn import functional as F

    from lab.recipes.multi_gpu import LeNetReLU

    lr = 2.0  # large enough that a step that missed half the gradient would show
    generator = torch.Generator().manual_seed(1)
    X = torch.randint(0, 256, (16, 28, 28), dtype=torch.uint8, generator=generator)
    y = torch.randint(0, 10, (16,), generator=generator)
    torch.save((X, y), tmp_path / "batch.pt")
    (tmp_path / "one_step.py").write_text(ONE_STEP)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node=2", str(tmp_path / "one_step.py"),
                           str(tmp_path / "batch.pt"), str(lr), str(tmp_path)],
                          capture_output=True, text=True, timeout=100,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    torch.manual_seed(0)  # the same start, and plain SGD on the whole batch in one process
    net = LeNetReLU()
    start = {name: value.clone() for name, value in net.state_dict().items()}
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    F.cross_entropy(net(X.unsqueeze(1).float() / 255), y).backward()
    optimizer.step()
    moved = max((net.state_dict()[name] - start[name]).abs().max().item() for name in start)
    assert moved > 1e-3  # a real step, far above the tolerance
    for name, value in net.state_dict().items():
        assert torch.equal(ranks[0][name], ranks[1][name])  # the copies stay equal
        torch.testing.assert_close(ranks[0][name], value, atol=1e-5, rtol=0)
