"""Checkpoints and resume: last.pt after every epoch, best.pt by the main metric, and a stopped
or killed run that continues to end bitwise equal to one never interrupted."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from lab import catalog, runner
from lab.cli import app
from lab.events import EpochEnd, Started
from lab.resume import ResumeError, plan_resume
from lab.store import CRASHED, Store, read_events
from lab.train import checkpoint

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def run(exp_id: str, seed: int = 0, stop_after: int | None = None, **overrides):
    """A run; ``stop_after``: Stop pressed when that epoch ends, so the next epoch's first
    batch trains and then the run stops mid-epoch, its progress past last.pt lost."""
    exp = catalog.get(exp_id)
    params = exp.resolve("book", {k: str(v) for k, v in overrides.items()})
    cancel = threading.Event()

    def stop_at(event) -> None:
        if isinstance(event, EpochEnd) and event.epoch == stop_after:
            cancel.set()

    return runner.run(exp, params, seed=seed, sinks=[stop_at], cancel=cancel)


def weights(run_dir: Path, name: str = "final.pt") -> dict[str, torch.Tensor]:
    saved = checkpoint.load(run_dir / name)
    return (saved.get("state") or saved)["net"]


def assert_bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize(("exp_id", "overrides"), [
    ("linreg", {"epochs": 5}),  # a torch optimizer, a shuffled order per epoch
    ("weight-decay", {"epochs": 8, "impl": "concise", "lambda": 3}),  # parameter groups
    ("softmax-scratch", {}),  # the book's sgd, on Fashion-MNIST (below)
])
def test_a_resumed_run_ends_bitwise_equal_to_an_uninterrupted_one(
        exp_id, overrides, request) -> None:
    if exp_id == "softmax-scratch":
        request.getfixturevalue("small_fashion_mnist")
        overrides = {"epochs": 3, "batch_size": 64}
    whole = run(exp_id, seed=7, **overrides)
    stopped = run(exp_id, seed=7, stop_after=2, **overrides)
    assert (whole.status, stopped.status) == ("finished", "stopped")
    store = Store()
    plan = plan_resume(store, stopped.run_id)
    assert plan.epoch == 2
    resumed = runner.resume(plan)

    assert resumed.status == "finished" and resumed.run_id == stopped.run_id
    assert_bitwise_equal(weights(whole.run_dir), weights(resumed.run_dir))
    assert resumed.metrics == whole.metrics
    record = store.get(stopped.run_id)
    assert record.status == "finished" and record.epochs_done == overrides["epochs"]
    assert [e for e, _ in store.epochs(stopped.run_id)] == list(range(1, overrides["epochs"] + 1))


def test_a_resumed_language_model_with_random_sampling_ends_bitwise_equal(time_machine) -> None:
    tiny = {"epochs": 4, "max_tokens": 2000, "batch_size": 8, "num_steps": 10,
            "num_hiddens": 32, "sampling": "random"}
    whole = run("rnn", seed=3, **tiny)
    stopped = run("rnn", seed=3, stop_after=1, **tiny)
    resumed = runner.resume(plan_resume(Store(), stopped.run_id))
    assert resumed.status == "finished"
    assert_bitwise_equal(weights(whole.run_dir), weights(resumed.run_dir))
    assert resumed.metrics["perplexity"] == whole.metrics["perplexity"]


def test_every_epoch_leaves_last_pt_and_the_best_epoch_best_pt() -> None:
    seen: list[float] = []
    exp = catalog.get("linreg")
    # lr 0.03 falls then stalls at the noise floor: the best epoch is rarely the last.
    result = runner.run(exp, exp.resolve("book", {"epochs": "6", "lr": "0.5"}),
                        sinks=[lambda e: isinstance(e, EpochEnd) and seen.append(
                            e.metrics["loss"])])
    last = checkpoint.load(result.run_dir / checkpoint.LAST)
    best = checkpoint.load(result.run_dir / checkpoint.BEST)
    assert last["epoch"] == 6 and last["metrics"]["loss"] == seen[-1]
    assert best["epoch"] == 1 + seen.index(min(seen))
    assert best["best"] == ("loss", min(seen))
    assert not list(result.run_dir.glob("*.tmp"))
    assert checkpoint.main_metric({"train_loss": 1, "train_acc": 0.5, "test_acc": 0.4}) == \
        "test_acc"
    assert checkpoint.main_metric({"perplexity": 3.0}) == "perplexity"


def test_a_run_stopped_in_its_first_epoch_resumes_from_the_start() -> None:
    exp = catalog.get("linreg")
    cancel = threading.Event()
    cancel.set()  # stops at the first batch: no epoch ended, no last.pt
    stopped = runner.run(exp, exp.resolve("book", {"epochs": "2"}), cancel=cancel)
    assert stopped.status == "stopped"
    assert not (stopped.run_dir / checkpoint.LAST).exists()
    plan = plan_resume(Store(), stopped.run_id)
    assert plan.epoch == 0 and plan.checkpoint is None
    assert runner.resume(plan).status == "finished"


def test_runs_that_cannot_resume_say_why() -> None:
    store = Store()
    finished = run("linreg", epochs=1)
    with pytest.raises(ResumeError, match="finished"):
        plan_resume(store, finished.run_id)
    diverged = run("linreg", epochs=2, lr=1e6)
    assert diverged.status == "diverged"
    with pytest.raises(ResumeError, match="diverge"):
        plan_resume(store, diverged.run_id)
    with pytest.raises(ResumeError, match="no run"):
        plan_resume(store, "nope")
    store.record("r-live", Started("r-live", "linreg", {}, "cpu", 0))  # this process: alive
    with pytest.raises(ResumeError, match="still running"):
        plan_resume(store, "r-live")
    result = CliRunner().invoke(app, ["run", "--resume", finished.run_id, "--set", "lr=1"])
    assert result.exit_code == 2 and "keeps its own parameters" in result.output


# linreg-scratch with batch_size 1: 1000 steps an epoch, so an epoch lasts long enough to be
# killed in the middle of one.
KILLED_RUN = """
from lab import catalog, runner
exp = catalog.get("linreg-scratch")
runner.run(exp, exp.resolve("book", {"epochs": "12", "batch_size": "1", "lr": "0.001"}))
"""


def test_a_run_killed_mid_epoch_resumes_from_its_last_epoch(lab_home: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN], cwd=ROOT, env=os.environ.copy())
    try:
        events = _wait_for_epochs(lab_home, proc, 2)
        time.sleep(0.05)  # into the next epoch
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    with events.open("a") as file:
        file.write('{"kind": "progress", "epo')  # as a kill in the middle of a write leaves it

    store = Store()  # marks it crashed
    run_id = events.parent.name
    assert store.get(run_id).status == CRASHED
    with sqlite3.connect(lab_home / "runs.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    saved_epoch = checkpoint.load(events.parent / checkpoint.LAST)["epoch"]
    assert saved_epoch >= 2

    result = CliRunner().invoke(app, ["run", "--resume", run_id])
    assert result.exit_code == 0, result.output
    assert f"resumed after epoch {saved_epoch}" in result.output
    record = store.get(run_id)
    assert record.status == "finished" and record.epochs_done == 12
    assert [e for e, _ in store.epochs(run_id)] == list(range(1, 13))
    lines = events.read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # the torn line was cut, not continued
    resumes = [e for e in read_events(events.parent) if isinstance(e, Started)]
    assert [e.resume_epoch for e in resumes] == [None, saved_epoch]


def _wait_for_epochs(lab_home: Path, proc: subprocess.Popen, epochs: int) -> Path:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for events in (lab_home / "runs").glob("*/events.jsonl"):
            if events.read_text().count('"kind": "epoch"') >= epochs:
                return events
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    raise AssertionError(f"the run did not reach {epochs} epochs")
