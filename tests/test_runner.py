"""Real training through the one runner: small configurations that learn, stop and fail well."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest
import torch

from lab import catalog, runner
from lab.events import Ended, EpochEnd, Event, Progress, Started
from lab.store import Store, read_events


def run(exp_id: str, preset: str = "book", sinks=(), cancel=None, seed: int = 0, **overrides):
    exp = catalog.get(exp_id)
    params = exp.resolve(preset, {k: str(v) for k, v in overrides.items()})
    return runner.run(exp, params, seed=seed, preset=preset, sinks=sinks, cancel=cancel)


def test_linreg_scratch_reproduces_the_book() -> None:
    """Book defaults: epoch-3 loss ~5e-5 and w within 0.01 of [2, -3.4]."""
    events: list[Event] = []
    result = run("linreg-scratch", sinks=[events.append])
    assert result.status == "finished"
    losses = [e.metrics["loss"] for e in events if isinstance(e, EpochEnd)]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2]
    assert result.metrics["loss"] < 1e-4
    assert result.metrics["w_error"] < 0.01 and result.metrics["b_error"] < 0.01
    last_epoch = [e for e in events if isinstance(e, EpochEnd)][-1]
    assert set(last_epoch.metrics) == {"loss"}  # an emitted event is never changed afterwards


def test_linreg_concise_learns() -> None:
    result = run("linreg", epochs=2)
    assert result.status == "finished"
    assert result.metrics["loss"] < 1e-3  # MSELoss: twice the scratch scale


def test_a_run_is_recorded_and_replayable(lab_home) -> None:
    result = run("linreg-scratch", epochs=2)
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["params"] == {"lr": 0.03, "batch_size": 10, "epochs": 2}
    events = read_events(result.run_dir)
    assert isinstance(events[0], Started) and isinstance(events[-1], Ended)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2]
    progress = [e for e in events if isinstance(e, Progress)]
    assert sum(len(p.losses) for p in progress) == 2 * 100  # every batch loss, none twice
    checkpoint = torch.load(result.run_dir / "final.pt")
    assert set(checkpoint) == {"net", "optimizer"}
    with sqlite3.connect(lab_home / "runs.db") as db:
        row = db.execute("SELECT status, epochs_done FROM runs WHERE id = ?",
                         (result.run_id,)).fetchone()
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert row == ("finished", 2)
    assert Store().recent(1)[0].metrics["loss"] == pytest.approx(result.metrics["loss"])


def test_same_seed_same_run() -> None:
    a = run("linreg-scratch", epochs=1, seed=3)
    b = run("linreg-scratch", epochs=1, seed=3)
    c = run("linreg-scratch", epochs=1, seed=4)
    assert a.metrics == b.metrics != c.metrics


def test_divergence_stops_at_the_first_bad_step_and_keeps_no_nan_checkpoint() -> None:
    result = run("linreg", lr=1e6)
    assert result.status == "diverged"
    assert "epoch 1, step 1" in result.reason or "step" in result.reason
    assert "smaller lr" in result.reason
    assert not (result.run_dir / "final.pt").exists()
    events = read_events(result.run_dir)
    assert not any(isinstance(e, EpochEnd) for e in events)


def test_stop_halts_within_one_batch_and_keeps_a_checkpoint() -> None:
    cancel = threading.Event()
    batches_after_cancel: list[int] = []

    def sink(event: Event) -> None:
        if isinstance(event, Progress):
            if cancel.is_set():
                batches_after_cancel.append(len(event.losses))
            cancel.set()  # ask to stop at the first progress tick

    result = run("linreg-scratch", batch_size=1, epochs=1000, sinks=[sink], cancel=cancel)
    assert result.status == "stopped"
    assert batches_after_cancel == []  # no further batch was reported after the request
    assert (result.run_dir / "final.pt").exists()
    assert Store().get(result.run_id).status == "stopped"


def test_a_crash_inside_a_recipe_is_a_failed_run_with_its_traceback(monkeypatch) -> None:
    import lab.recipes.linear as recipe

    def broken(*args, **kwargs):
        raise RuntimeError("shape mismatch in layer 2")

    monkeypatch.setattr(recipe, "fit_regressor", broken)
    result = run("linreg-scratch")
    assert result.status == "failed"
    assert "RuntimeError: shape mismatch in layer 2" in result.reason
    assert "broken" in (result.run_dir / "traceback.txt").read_text()


def test_missing_data_fails_with_how_to_get_it(monkeypatch, tmp_path) -> None:
    from lab.data import hub

    monkeypatch.setattr(hub, "search_dirs", lambda dataset_id: [tmp_path / "nowhere"])
    result = run("softmax", epochs=1)
    assert result.status == "failed"
    messages = " ".join(e.text for e in read_events(result.run_dir) if e.kind == "message")
    assert "d2l-lab data fetch fashion-mnist" in messages
    assert "d2l-lab data import fashion-mnist" in messages


def test_activations_demo_plots_function_and_gradient() -> None:
    events: list[Event] = []
    result = run("activations", activation="sigmoid", sinks=[events.append])
    assert result.status == "finished"
    curves = {e.series: e for e in events if e.kind == "curve"}
    grad = curves["grad of sigmoid"]
    assert len(grad.x) == 160 and max(grad.y) == pytest.approx(0.25, abs=1e-6)
    assert max(curves["sigmoid(x)"].y) < 1 and min(curves["sigmoid(x)"].y) > 0


@pytest.mark.parametrize("exp_id", ["softmax-scratch", "softmax", "mlp-scratch", "mlp"])
def test_fashion_mnist_models_learn_on_a_slice(exp_id, small_fashion_mnist) -> None:
    """A few thousand real images: the loss falls and accuracy beats chance by far."""
    events: list[Event] = []
    result = run(exp_id, epochs=2, batch_size=64, sinks=[events.append])
    assert result.status == "finished"
    epochs = [e.metrics for e in events if isinstance(e, EpochEnd)]
    assert epochs[1]["train_loss"] < epochs[0]["train_loss"]
    assert result.metrics["test_acc"] > 0.5


@pytest.mark.slow
def test_softmax_one_epoch_on_real_fashion_mnist(fashion_mnist) -> None:
    result = run("softmax", epochs=1)
    assert result.status == "finished"
    assert result.metrics["test_acc"] > 0.75
