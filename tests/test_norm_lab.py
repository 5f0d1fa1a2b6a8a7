"""Lecture 28's normalisation lab: the axes, statistics and γ/β shapes of BatchNorm, LayerNorm,
GroupNorm and InstanceNorm (the lecture's questions), shown to match torch by a normalisation by
hand; BatchNorm's running statistics and train/eval difference; shapes that do not fit refused."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lab import catalog, runner
from lab.events import Event, Message, Table
from lab.recipes.norm_lab import describe
from lab.spec import ParamError, Params
from tests.test_bad_input import invoke, no_runs

EXP = catalog.get("norm-lab")


def run(preset: str = "book", **overrides: str) -> tuple[runner.RunResult, list[Event]]:
    events: list[Event] = []
    result = runner.run(EXP, EXP.resolve(preset, overrides), sinks=[events.append])
    assert result.status == "finished", result.reason
    return result, events


def table(events: list[Event], title: str) -> Table:
    return next(e for e in events if isinstance(e, Table) and e.title.startswith(title))


def plan_rows(events: list[Event]) -> dict[str, str]:
    return dict(table(events, "nn.").rows)


@pytest.mark.parametrize(("norm", "shape", "options", "module", "reduced", "count", "affine"), [
    ("batchnorm", (2, 3, 4, 4), {}, "nn.BatchNorm2d(3)", (0, 2, 3), 3, (3,)),
    ("batchnorm", (8, 5), {}, "nn.BatchNorm1d(5)", (0,), 5, (5,)),
    ("batchnorm", (2, 3, 7), {}, "nn.BatchNorm1d(3)", (0, 2), 3, (3,)),
    ("batchnorm", (2, 3, 2, 2, 2), {}, "nn.BatchNorm3d(3)", (0, 2, 3, 4), 3, (3,)),
    ("layernorm", (2, 3, 4), {"last_dims": 1}, "nn.LayerNorm([4])", (2,), 6, (4,)),
    ("layernorm", (2, 3, 4), {"last_dims": 2}, "nn.LayerNorm([3, 4])", (1, 2), 2, (3, 4)),
    ("groupnorm", (2, 6, 4, 4), {"groups": 3}, "nn.GroupNorm(3, 6)", (1, 2, 3), 6, (6,)),
    ("instancenorm", (2, 3, 4, 4), {}, "nn.InstanceNorm2d(3, affine=True)", (2, 3), 6, (3,)),
])
def test_each_normalisation_reduces_over_its_axes(norm, shape, options, module, reduced, count,
                                                  affine) -> None:
    plan = describe(norm, shape, **options)
    assert (plan.module, plan.reduced, plan.statistics, plan.affine) == (
        module, reduced, count, affine)
    assert plan.statistics * plan.per_statistic == math.prod(shape)  # every value once


def test_the_lectures_questions_batchnorm_on_2x3x4x4_and_layernorm_on_2x3x4() -> None:
    result, events = run()
    rows = plan_rows(events)
    assert rows["reduces over axes"] == "0 (N=2), 2 (H=4), 3 (W=4)"
    assert (rows["means"], rows["variances"], rows["γ (weight) shape"], rows["β (bias) shape"]) \
        == ("3", "3", "[3]", "[3]")
    assert (result.metrics["statistics"], result.metrics["gamma_numel"]) == (3, 3)
    result, events = run("layernorm")
    rows = plan_rows(events)
    assert (rows["means"], rows["γ (weight) shape"], rows["values per statistic"]) == (
        "6", "[4]", "4")
    assert (result.metrics["statistics"], result.metrics["gamma_numel"]) == (6, 4)


@pytest.mark.parametrize("overrides", [
    {}, {"norm": "layernorm", "shape": "2,3,4", "last_dims": "2"},
    {"norm": "groupnorm", "shape": "2,6,4,4", "groups": "3"},
    {"norm": "groupnorm", "shape": "2,6,4,4", "groups": "6"},
    {"norm": "instancenorm", "shape": "(2, 3, 5)"},
])
def test_a_normalisation_by_hand_over_the_shown_axes_matches_torchs(overrides) -> None:
    result, events = run(**overrides)
    assert result.metrics["by_hand_error"] < 1e-4
    said = " ".join(e.text for e in events if isinstance(e, Message))
    assert f"({int(result.metrics['statistics'])} means)" in said  # counted from the tensors


def test_batchnorms_running_statistics_follow_the_momentum_update() -> None:
    result, events = run(steps="5", momentum="0.1")
    assert result.metrics["running_error"] < 1e-5  # torch's buffers = the update by hand
    steps = table(events, "channel 0, step by step").rows
    assert steps[0][3:] == ["0", "1"] and len(steps) == 6
    assert 0 < float(steps[1][3]) < float(steps[-1][3]) < 5  # the mean creeps towards 5
    result, events = run(momentum="1")
    last = table(events, "channel 0, step by step").rows[-1]
    assert last[3:] == last[1:3]  # momentum 1: the running statistics are the last batch's
    result, events = run(momentum="0")
    after = table(events, "after the last step").rows
    assert [row[1] for row in after] == ["0"] * 3 and [row[3] for row in after] == ["1"] * 3


def test_batchnorm_differs_between_train_and_eval_where_layernorm_does_not() -> None:
    result, events = run()
    assert result.metrics["train_eval_gap"] > 1  # 3 steps: the running mean is far from 5
    modes = table(events, "a new batch in train mode and in eval mode").rows
    assert modes[0][2] == "0.0000" and abs(float(modes[1][2])) > 1
    long, _ = run(steps="100")
    assert long.metrics["train_eval_gap"] < result.metrics["train_eval_gap"]
    result, _ = run("layernorm")
    assert result.metrics["train_eval_gap"] == 0 and "running_error" not in result.metrics


@pytest.mark.parametrize(("overrides", "message"), [
    ({"shape": "2,x"}, "shape: must be sizes like 2,3,4 (got '2,x')"),
    ({"shape": "2,3,4,4,4,4"}, "shape: must have 1 to 5 dimensions (got '2,3,4,4,4,4')"),
    ({"shape": "1,3"}, "shape: BatchNorm in training needs more than one value per channel: "
                       "N × the sizes after C must be ≥ 2 (got (1, 3))"),
    ({"shape": "6"}, "shape: BatchNorm takes (N, C, …): 2 to 5 dimensions (got (6,))"),
    ({"norm": "layernorm", "shape": "2,3,4", "last_dims": "4"},
     "last_dims: must be at most 3, the dimensions of shape (2, 3, 4) (got 4)"),
    ({"norm": "groupnorm", "shape": "2,6,4,4", "groups": "4"},
     "groups: must divide the channels C = 6 of shape (2, 6, 4, 4) (got 4)"),
    ({"norm": "instancenorm", "shape": "2,3"}, "shape: InstanceNorm takes (N, C, L), (N, C, H, "
                                               "W) or (N, C, D, H, W): 3 to 5 dimensions (got "
                                               "(2, 3))"),
])
def test_a_shape_that_does_not_fit_is_refused_before_the_run(overrides, message,
                                                            lab_home: Path) -> None:
    with pytest.raises(ParamError) as refused:
        EXP.resolve("book", overrides)
    assert str(refused.value) == message
    sets = [arg for name, raw in overrides.items() for arg in ("--set", f"{name}={raw}")]
    assert invoke("run", "norm-lab", *sets)[::2] == (2, f"error: {message}\n")
    assert no_runs(lab_home)


def test_params_that_skipped_the_checks_end_the_run_with_one_line(lab_home: Path) -> None:
    """A config that never went through resolve (LayerNorm over more dims than the tensor has)
    ends the run as failed with the rule's line, not a traceback."""
    values = {**EXP.defaults(), "norm": "layernorm", "shape": "2,3,4", "last_dims": 5}
    result = runner.run(EXP, Params(values))
    assert result.status == "failed"
    assert result.reason == "last_dims: must be at most 3, the dimensions of shape (2, 3, 4) " \
                            "(got 5)"
    assert result.traceback is None and not (result.run_dir / "traceback.txt").exists()


def test_norm_lab_sits_beside_batchnorm_in_lecture_28() -> None:
    lecture = [e.id for e in catalog.experiments() if e.lecture == 28]
    assert lecture == ["batchnorm", "norm-lab"]
    assert (EXP.title_zh, EXP.chapter.id) == ("批量归一化 + 层归一化", "convolutional-networks")
