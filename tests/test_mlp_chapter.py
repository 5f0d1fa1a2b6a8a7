"""Lectures 11–14: each experiment makes its lesson visible, with the book's numbers."""

from __future__ import annotations

import pytest
import torch

from lab import catalog, runner
from lab.events import Curve, EpochEnd, Event, Progress
from lab.models.mlp import dropout_layer


def run(exp_id: str, preset: str = "book", **overrides):
    events: list[Event] = []
    exp = catalog.get(exp_id)
    params = exp.resolve(preset, {k: str(v) for k, v in overrides.items()})
    result = runner.run(exp, params, preset=preset, sinks=[events.append])
    assert result.status == "finished", result.reason
    return result, events


def epoch_metrics(events: list[Event]) -> list[dict[str, float]]:
    return [e.metrics for e in events if isinstance(e, EpochEnd)]


def curves(events: list[Event], figure: str) -> dict[str, Curve]:
    return {e.series: e for e in events if isinstance(e, Curve) and e.figure == figure}


def test_polyfit_cubic_learns_the_true_weights() -> None:
    result, events = run("polyfit", "cubic")
    assert result.metrics["w_error"] < 0.1  # of [5, 1.2, -3.4, 5.6]
    history = epoch_metrics(events)
    assert len(history) == 400
    assert history[-1]["train_loss"] < history[0]["train_loss"] / 10
    weights = curves(events, "weights: learned and true")
    assert weights["true"].y == pytest.approx([5, 1.2, -3.4, 5.6])
    assert weights["learned"].y == pytest.approx([5, 1.2, -3.4, 5.6], abs=0.1)


def test_polyfit_underfit_cannot_fit() -> None:
    result, _ = run("polyfit", "underfit")
    assert result.metrics["train_loss"] > 1


@pytest.mark.slow
def test_polyfit_overfit_ends_with_test_loss_above_train_loss() -> None:
    result, events = run("polyfit", "overfit")
    assert len(epoch_metrics(events)) == 1500
    assert result.metrics["test_loss"] > result.metrics["train_loss"]


@pytest.mark.parametrize("impl", ["scratch", "concise"])
def test_weight_decay_keeps_weights_small(impl: str) -> None:
    free, free_events = run("weight-decay", "book", impl=impl)
    decayed, _ = run("weight-decay", "decay", impl=impl)
    assert free_events and epoch_metrics(free_events)[-1]["train_loss"] < 1e-3
    assert 10 < free.metrics["w_norm"] < 16 and free.metrics["test_loss"] > 10
    assert decayed.metrics["w_norm"] < 0.6
    # The concise loss is nn.MSELoss, twice the scratch (ŷ − y)²/2.
    assert decayed.metrics["test_loss"] < (1 if impl == "scratch" else 2)


def test_dropout_layer_matches_the_book() -> None:
    X = torch.arange(16, dtype=torch.float32).reshape(2, 8)
    assert torch.equal(dropout_layer(X, 0.0), X)
    assert torch.equal(dropout_layer(X, 1.0), torch.zeros_like(X))
    torch.manual_seed(0)
    half = dropout_layer(X, 0.5)
    kept = half != 0
    assert torch.equal(half[kept], 2 * X[kept])  # survivors scaled by 1/(1 − p)


@pytest.mark.parametrize("impl", ["scratch", "concise"])
def test_dropout_learns_on_a_slice(impl: str, small_fashion_mnist) -> None:
    result, events = run("dropout", impl=impl, epochs=2, batch_size=64)
    history = epoch_metrics(events)
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert result.metrics["test_acc"] > 0.5  # chance is 0.1


def test_init_stability_shows_vanishing_and_xavier(small_fashion_mnist) -> None:
    vanishing, events = run("init-stability", "vanishing", epochs=1)
    assert vanishing.metrics["grad_ratio_first_batch"] < 1 / 100  # first layer ≥ 100× smaller
    xavier, xavier_events = run("init-stability", "xavier", epochs=1)
    assert 1 / 10 < xavier.metrics["grad_ratio_first_batch"] < 10
    batch_losses = [x for e in xavier_events if isinstance(e, Progress) for x in e.losses]
    assert sum(batch_losses[-5:]) < sum(batch_losses[:5])  # Xavier's deep net learns
    exploding, _ = run("init-stability", "exploding", epochs=1)
    assert exploding.metrics["grad_ratio_first_batch"] > 10

    norms = curves(events, "gradient norm per layer")
    assert len(norms["first batch"].y) == 16 and norms["now"].log_y  # 15 hidden + output
    sigmoid = curves(events, "sigmoid")
    assert max(sigmoid["grad of sigmoid"].y) == pytest.approx(0.25, abs=1e-6)
    product = curves(events, "product of 100 random 4×4 matrices")["largest |entry|"]
    assert len(product.x) == 101 and product.y[-1] > 1e15 * product.y[0]


@pytest.mark.slow
@pytest.mark.timeout(600)  # a full 10-epoch run: 20 s to 100 s on 2 busy cores
def test_dropout_book_preset_on_real_fashion_mnist(fashion_mnist) -> None:
    result, _ = run("dropout")
    assert result.metrics["test_acc"] >= 0.83
