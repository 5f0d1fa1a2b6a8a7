"""Faults during a run: divergence, out of memory, a crash in the model, a full or read-only disk,
an unwritable lab home, and signals. Each ends as a recorded run with a reason (or, before a run
exists, one clear line), and loses nothing saved before it."""

from __future__ import annotations

import errno
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import lab.recipes.linear as linear_recipe
from lab import catalog, runner
from lab.cli import app
from lab.events import Ended, EpochEnd, Event, Progress, Sink, Started
from lab.resume import plan_resume
from lab.store import Store, StoreError, read_events
from lab.train import checkpoint
from lab.train.context import Diverged, RunContext
from lab.train.monitor import EpochMonitor

ROOT = Path(__file__).resolve().parents[1]
LINREG = catalog.get("linreg")
pytestmark = pytest.mark.usefixtures("one_thread")


def run(sinks=(), cancel=None, run_id: str | None = None, **overrides):
    params = LINREG.resolve("book", {k: str(v) for k, v in overrides.items()})
    return runner.run(LINREG, params, sinks=sinks, cancel=cancel, run_id=run_id)


class LossSpy:
    """linreg's loss, watched: every batch's mean loss in order (evaluations too), and, once
    ``poison`` is set, NaN instead (as a model that broke would give)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.values: list[float] = []
        self.poison = False
        self.on_first_poisoned = lambda: None
        self._real = linear_recipe.mse
        monkeypatch.setattr(linear_recipe, "mse", self)

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        losses = self._real(y_hat, y)
        if self.poison:
            if all(math.isfinite(v) for v in self.values):
                self.on_first_poisoned()
            losses = losses * math.nan
        self.values.append(losses.detach().mean().item())
        return losses


def when_epoch_ends(epoch: int, action: Callable[[Path], None]) -> Sink:
    """A sink that calls ``action(the run's folder)`` once ``epoch`` has ended."""
    folder: list[Path] = []

    def sink(event: Event) -> None:
        if isinstance(event, Started):
            folder.append(Store().run_dir(event.run_id))
        elif isinstance(event, EpochEnd) and event.epoch == epoch:
            action(folder[-1])

    return sink


def leftovers(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.glob("*.tmp"))


# -- divergence --------------------------------------------------------------------------------

def test_divergence_stops_at_the_very_first_non_finite_batch(monkeypatch) -> None:
    spy = LossSpy(monkeypatch)
    events: list[Event] = []
    result = run(sinks=[events.append], lr=1e6)

    assert result.status == "diverged"
    bad = next(i for i, v in enumerate(spy.values) if not math.isfinite(v))
    assert bad >= 1  # the lr makes the loss explode over a few steps, not at once
    assert len(spy.values) == bad + 1  # no batch was trained after the first bad one
    assert f"became {spy.values[bad]} at epoch 1, step {bad + 1}" in result.reason
    assert "try a smaller lr" in result.reason
    # The plot gets every batch up to the one that broke, and nothing after.
    reported = [v for e in events if isinstance(e, Progress) for v in e.losses]
    assert reported == spy.values[:bad]
    assert not any(isinstance(e, EpochEnd) for e in events)
    record = Store().get(result.run_id)
    assert (record.status, record.reason) == ("diverged", result.reason)
    assert not list(result.run_dir.glob("*.pt"))


def test_divergence_in_epoch_3_leaves_the_checkpoints_of_epoch_2_untouched(monkeypatch) -> None:
    spy = LossSpy(monkeypatch)
    saved: dict[str, bytes] = {}

    def poison(folder: Path) -> None:
        def snapshot() -> None:  # the checkpoints as epoch 2 left them
            saved.update({name: (folder / name).read_bytes()
                          for name in (checkpoint.LAST, checkpoint.BEST)})

        spy.poison, spy.on_first_poisoned = True, snapshot

    result = run(sinks=[when_epoch_ends(2, poison)], epochs=5)

    assert result.status == "diverged"
    assert "loss became nan at epoch 3, step 1" in result.reason
    assert set(saved) == {checkpoint.LAST, checkpoint.BEST}
    for name, content in saved.items():
        assert (result.run_dir / name).read_bytes() == content, name
    last = checkpoint.load(result.run_dir / checkpoint.LAST)
    assert last["epoch"] == 2
    assert all(torch.isfinite(t).all() for t in last["state"]["net"].values())
    assert not (result.run_dir / checkpoint.FINAL).exists()  # the NaN model is not kept
    assert leftovers(result.run_dir) == []
    assert result.metrics == last["metrics"]  # the run ends with its last good epoch's


def test_nan_weights_behind_finite_metrics_do_not_replace_last_pt(tmp_path) -> None:
    """A NaN model's accuracy is a number: the checkpoint itself must be checked."""
    net = nn.Linear(2, 1)
    ctx = RunContext(LINREG.resolve("book", {}), torch.device("cpu"), lambda event: None,
                     threading.Event(), tmp_path, main_metric="test_acc")
    ctx.track(net=net)
    with pytest.raises(Diverged, match="the model's weights became nan at the end of epoch 2"):
        for epoch in ctx.epochs(3):
            ctx.metrics = {"test_acc": 0.1 * epoch}  # each epoch better than the last
            if epoch == 2:
                with torch.no_grad():
                    net.weight.fill_(math.nan)
    assert checkpoint.load(tmp_path / checkpoint.LAST)["epoch"] == 1
    assert checkpoint.load(tmp_path / checkpoint.BEST)["epoch"] == 1
    assert leftovers(tmp_path) == []


def test_off_the_cpu_a_nan_found_at_a_tick_names_its_step_and_shows_the_batches_before(
        tmp_path) -> None:
    events: list[Event] = []
    ctx = RunContext(LINREG.resolve("book", {}), torch.device("cpu"), events.append,
                     threading.Event(), tmp_path)
    monitor = EpochMonitor(ctx, 1, 1, 5)
    monitor.check_every_batch = False  # as on a GPU: losses reach the host at ticks only
    with pytest.raises(Diverged, match="loss became nan at epoch 1, step 3;"):
        for index, value in enumerate([1.0, 2.0, math.nan, 4.0, 5.0]):
            monitor.step(index, torch.tensor(value), 10)
        monitor.finish()
    assert [e.losses for e in events if isinstance(e, Progress)] == [[1.0, 2.0]]


# -- out of memory, and a crash in the model ---------------------------------------------------

CUDA_OOM = ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
            "79.19 GiB of which 1.06 GiB is free.")
CPU_OOM = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
           "memory: you tried to allocate 400000000000000 bytes. Error code 12")


def break_forward(monkeypatch, error: Exception) -> None:
    """nn.Linear's next forward raises ``error``; the ones after it work."""
    real, raised = nn.Linear.forward, []

    def forward(self, x):
        if not raised:
            raised.append(error)
            raise error
        return real(self, x)

    monkeypatch.setattr(nn.Linear, "forward", forward)


@pytest.mark.parametrize(("error", "asked"), [
    (torch.cuda.OutOfMemoryError(CUDA_OOM), "2.00 GiB"),
    (RuntimeError(CPU_OOM), "400000000000000 bytes"),
])
def test_out_of_memory_fails_the_run_and_suggests_a_smaller_batch(monkeypatch, error,
                                                                   asked) -> None:
    assert torch.cuda.OutOfMemoryError is torch.OutOfMemoryError  # what the runner catches
    break_forward(monkeypatch, error)
    result = run(batch_size=64)
    assert result.status == "failed"
    assert result.reason == (f"out of memory on cpu while allocating {asked}; try a smaller "
                             "batch_size (this run's is 64)")
    assert result.traceback is None  # not a bug: no traceback
    assert not (result.run_dir / "traceback.txt").exists()
    assert Store().get(result.run_id).reason == result.reason
    assert run(epochs=1).status == "finished"  # the next run in this process is unharmed


def test_a_crash_in_the_model_is_one_line_in_the_cli_and_a_traceback_in_the_folder(
        monkeypatch) -> None:
    break_forward(monkeypatch, RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    result = CliRunner().invoke(app, ["run", "linreg", "--set", "epochs=1"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed")]
    assert len(failed) == 1 and "RuntimeError: mat1 and mat2 shapes" in failed[0]
    record = Store().recent(1)[0]
    assert (record.status, record.reason) == (
        "failed", "RuntimeError: mat1 and mat2 shapes cannot be multiplied")
    saved = Store().run_dir(record.id) / "traceback.txt"
    assert "the traceback is saved in" in result.output
    assert str(saved) in "".join(result.output.split())  # the path, folded to the width
    text = saved.read_text()
    assert text.startswith("Traceback") and "in forward" in text


def test_a_bug_while_saving_the_final_checkpoint_fails_the_run_instead_of_finishing_it(
        monkeypatch) -> None:
    real = torch.save

    def save(obj, file, *args, **kwargs):
        if Path(file.name).name == "final.tmp":
            raise RuntimeError("PytorchStreamWriter failed writing file data/0")
        return real(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    result = run(epochs=2)  # returns: no exception escapes the runner
    assert result.status == "failed"
    assert result.reason == "RuntimeError: PytorchStreamWriter failed writing file data/0"
    assert Store().get(result.run_id).status == "failed"
    assert result.traceback == result.run_dir / "traceback.txt"
    assert "in save" in result.traceback.read_text()
    assert checkpoint.load(result.run_dir / checkpoint.LAST)["epoch"] == 2
    assert leftovers(result.run_dir) == [] and not (result.run_dir / checkpoint.FINAL).exists()


# -- a full or read-only disk ------------------------------------------------------------------

needs_dev_full = pytest.mark.skipif(not (Path("/dev/full").exists() and Path("/proc/self/fd")
                                         .is_dir()), reason="needs Linux's /dev/full and /proc")


def fill_disk(run_dir: Path, where: str) -> None:
    """From now on writing ``where`` in ``run_dir`` fails as on a full disk, by the kernel's own
    ENOSPC: the checkpoint's temp file leads to /dev/full, or the open events file becomes it."""
    if where == "checkpoint":
        (run_dir / "last.tmp").symlink_to("/dev/full")
        return
    full = os.open("/dev/full", os.O_WRONLY)
    events = str(run_dir / "events.jsonl")
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == events:
                os.dup2(full, int(fd))
        except OSError:  # the listing's own descriptor, gone by now
            continue
    os.close(full)


@needs_dev_full
@pytest.mark.parametrize(("where", "file"), [("checkpoint", "last.pt"),
                                             ("events", "events.jsonl")])
def test_a_full_disk_mid_run_fails_it_cleanly_and_it_resumes(where, file) -> None:
    store = Store()
    ended: list[Ended] = []
    result = run(sinks=[when_epoch_ends(2, lambda folder: fill_disk(folder, where)),
                        lambda e: isinstance(e, Ended) and ended.append(e)], epochs=5)

    assert result.status == "failed"
    assert f"cannot write {result.run_dir / file}: No space left on device" in result.reason
    assert f"free some space, then `d2l-lab run --resume {result.run_id}`" in result.reason
    assert [e.status for e in ended] == ["failed"]  # the display heard the end
    record = store.get(result.run_id)
    assert (record.status, record.reason) == ("failed", result.reason)
    assert leftovers(result.run_dir) == []
    assert not (result.run_dir / "traceback.txt").exists()
    assert not (result.run_dir / checkpoint.FINAL).exists()
    saved = checkpoint.load(result.run_dir / checkpoint.LAST)["epoch"]
    assert saved == (1 if where == "checkpoint" else 2)  # the epoch before the disk filled

    plan = plan_resume(store, result.run_id)  # space freed: it continues from there
    assert plan.epoch == saved
    resumed = runner.resume(plan)
    assert resumed.status == "finished"
    assert [e for e, _ in store.epochs(result.run_id)] == [1, 2, 3, 4, 5]


def test_an_index_that_fills_up_fails_the_run_and_still_records_its_end(monkeypatch,
                                                                          lab_home) -> None:
    real = Store.record

    def record(self, run_id, event):  # full for a moment: the end finds room again
        if isinstance(event, EpochEnd) and event.epoch == 2:
            raise sqlite3.OperationalError("database or disk is full")
        real(self, run_id, event)

    monkeypatch.setattr(Store, "record", record)
    result = run(epochs=4)
    assert result.status == "failed"
    assert result.reason.startswith(f"cannot write {lab_home / 'runs.db'}: database or disk is "
                                    "full; free some space, then")
    record = Store().get(result.run_id)
    assert (record.status, record.reason) == ("failed", result.reason)  # not left "running"
    assert record.epochs_done == 1
    assert leftovers(result.run_dir) == []


def test_a_read_only_run_folder_fails_the_run_with_what_to_do(monkeypatch) -> None:
    store = Store()
    root = os.geteuid() == 0  # root writes through any mode: then the file system says no

    def read_only(folder: Path) -> None:
        if root:
            def refuse(*args, **kwargs):
                raise OSError(errno.EROFS, "Read-only file system")
            monkeypatch.setattr(torch, "save", refuse)
        else:
            folder.chmod(0o500)

    try:
        result = run(sinks=[when_epoch_ends(2, read_only)], epochs=4)
    finally:
        for folder in store.runs_dir.iterdir():
            folder.chmod(0o755)
    why = "Read-only file system" if root else "Permission denied"
    assert result.status == "failed"
    assert f"cannot write {result.run_dir / 'last.pt'}: {why}" in result.reason
    assert f"make {result.run_dir} writable, then `d2l-lab run --resume" in result.reason
    assert store.get(result.run_id).status == "failed"
    assert checkpoint.load(result.run_dir / checkpoint.LAST)["epoch"] == 1
    assert leftovers(result.run_dir) == [] and not (result.run_dir / "traceback.txt").exists()


@needs_dev_full
def test_a_run_folder_that_cannot_be_written_is_refused_before_the_run_exists() -> None:
    store = Store()
    folder = store.run_dir("r-full")
    folder.mkdir(parents=True)
    (folder / "config.json").symlink_to("/dev/full")  # the disk fills as the run begins
    with pytest.raises(StoreError) as refused:
        run(run_id="r-full")
    assert str(refused.value).startswith(f"cannot write the run's folder {folder}: No space "
                                         "left on device")
    assert "D2L_LAB_HOME" in str(refused.value)
    assert store.get("r-full") is None  # never recorded as running


@pytest.mark.parametrize("blocker", ["home under a file", "index is a folder"])
def test_a_home_that_cannot_be_used_is_one_clear_error(blocker, tmp_path, monkeypatch) -> None:
    if blocker == "home under a file":  # not a folder: refused even to root
        (tmp_path / "file").write_text("")
        home = tmp_path / "file" / "home"
    else:
        home = tmp_path / "home"
        (home / "runs.db").mkdir(parents=True)
    monkeypatch.setenv("D2L_LAB_HOME", str(home))
    with pytest.raises(StoreError) as refused:
        Store()
    message = str(refused.value)
    assert message.startswith(f"cannot write the lab's home {home}: ")
    assert message.endswith("or set D2L_LAB_HOME to a folder you can write")
    assert "\n" not in message


@pytest.mark.timeout(60)
def test_the_cli_says_in_one_line_that_the_home_cannot_be_used(tmp_path) -> None:
    (tmp_path / "file").write_text("")
    home = tmp_path / "file" / "home"
    proc = subprocess.run([sys.executable, "-m", "lab", "run", "linreg", "--set", "epochs=1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=50,
                          env={**os.environ, "D2L_LAB_HOME": str(home)})
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr and len(lines) == 1
    assert str(home) in " ".join(lines) and "D2L_LAB_HOME" in lines[0]


# -- stop, and signals -------------------------------------------------------------------------

@pytest.mark.parametrize(("request_stop", "status", "reason"), [
    (lambda cancel: cancel.set(), "stopped", "stopped by the user"),
    (lambda cancel: cancel.interrupt(signal.SIGTERM), "interrupted", "interrupted by SIGTERM"),
    (lambda cancel: cancel.interrupt(signal.SIGHUP), "interrupted", "interrupted by SIGHUP"),
])
def test_a_stop_in_epoch_3_trains_at_most_one_more_batch_and_keeps_every_checkpoint(
        monkeypatch, request_stop, status, reason) -> None:
    from lab.cancel import Cancel

    spy = LossSpy(monkeypatch)
    cancel = Cancel()
    asked_at: list[int] = []

    def stop_mid_epoch_3(event: Event) -> None:
        if isinstance(event, Progress) and event.epoch == 3 and not asked_at:
            asked_at.append(len(spy.values))
            request_stop(cancel)

    monkeypatch.setattr("lab.train.monitor.TICK_SECONDS", 0.0)  # a tick every batch
    result = run(sinks=[stop_mid_epoch_3], cancel=cancel, epochs=5, batch_size=10)

    assert (result.status, result.reason.split(" (")[0]) == (status, reason)
    assert len(spy.values) - asked_at[0] <= 1  # within one batch
    assert checkpoint.load(result.run_dir / checkpoint.LAST)["epoch"] == 2
    final = checkpoint.load(result.run_dir / checkpoint.FINAL)
    assert not torch.equal(final["net"]["0.weight"], checkpoint.load(
        result.run_dir / checkpoint.LAST)["state"]["net"]["0.weight"])  # epoch 3's progress
    assert (result.run_dir / checkpoint.BEST).exists() and leftovers(result.run_dir) == []
    assert plan_resume(Store(), result.run_id).epoch == 2


def test_ctrl_c_at_once_in_the_middle_of_a_checkpoint_tears_nothing(monkeypatch) -> None:
    """The CLI's second Ctrl+C raises KeyboardInterrupt wherever the run is: here, half-way
    through writing epoch 3's last.pt."""
    real, calls = torch.save, []

    def save(obj, file, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            file.write(b"PK\x03\x04 half a checkpoint")
            raise KeyboardInterrupt
        return real(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    store = Store()
    with pytest.raises(KeyboardInterrupt):
        run(epochs=5)
    record = store.recent(1)[0]
    assert record.status == "stopped" and "Ctrl+C" in record.reason
    run_dir = store.run_dir(record.id)
    assert leftovers(run_dir) == []
    assert checkpoint.load(run_dir / checkpoint.LAST)["epoch"] == 2
    ended = read_events(run_dir)[-1]
    assert isinstance(ended, Ended) and (ended.status, ended.reason) == ("stopped", record.reason)
    assert plan_resume(store, record.id).epoch == 2
