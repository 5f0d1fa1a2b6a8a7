"""What sets runs apart (lab/compare.py) and the overlay chart of several runs (lab/charts.py)."""

from __future__ import annotations

import re

from rich.text import Text

from lab.charts import RUN_COLORS, overlay_chart, overlay_legend, run_colors
from lab.compare import (
    differing_params,
    format_param,
    metric_curves,
    metric_names,
    run_labels,
    short_id,
    short_ids,
    union,
)
from lab.store import RunRecord

BRAILLE = re.compile("[\u2801-\u28ff]")  # a drawn line (U+2800, the empty cell, draws nothing)


def run(run_id: str, experiment: str = "mlp", seed: int = 0, **params: object) -> RunRecord:
    return RunRecord(run_id, experiment, "book", "cpu", seed, dict(params), "finished", "", 3,
                     {}, 0.0, 1.0)


def test_union_keeps_the_order_of_first_appearance() -> None:
    assert union([{"b": 1, "a": 2}, {"c": 3, "a": 4}, {}]) == ["b", "a", "c"]


def test_differing_params_splits_the_names_and_a_missing_one_differs() -> None:
    params = [{"lr": 0.1, "epochs": 3, "batch_size": 256},
              {"lr": 0.3, "epochs": 3, "batch_size": 256},
              {"lr": 0.1, "epochs": 3, "batch_size": 256, "dropout": 0.5}]
    assert differing_params(params) == (["lr", "dropout"], ["epochs", "batch_size"])
    assert differing_params([{"lr": 0.1}]) == ([], ["lr"])
    assert differing_params([]) == ([], [])


def test_format_param_writes_what_a_user_would_type() -> None:
    assert [format_param(v) for v in ("relu", 0.1, 3, True, [1, 2])] == [
        "relu", "0.1", "3", "true", "[1, 2]"]


def test_short_ids_drop_the_date_and_experiment_the_list_shows_beside_them() -> None:
    store_made = run("20250101-120000-mlp-scratch-ab12", "mlp-scratch")
    assert short_id(store_made) == "ab12"
    assert short_id(run("my-own-name", "mlp")) == "my-own-name"
    assert short_ids([store_made]) == ["20250101-120000-ab12"]


def test_labels_of_a_sweep_name_the_value_that_differs() -> None:
    runs = [run(f"20250101-12000{i}-mlp-000{i}", lr=lr, epochs=10)
            for i, lr in enumerate((0.1, 0.3, 1))]
    assert run_labels(runs) == ["lr=0.1", "lr=0.3", "lr=1"]
    two = [run("20250101-120000-mlp-0001", lr=0.1, dropout=0.2),
           run("20250101-120001-mlp-0002", lr=0.3, dropout=0.5)]
    assert run_labels(two) == ["lr=0.1 dropout=0.2", "lr=0.3 dropout=0.5"]


def test_labels_add_the_experiment_and_seed_when_they_differ_and_ids_when_alike() -> None:
    mixed = [run("20250101-120000-mlp-0001", "mlp", lr=0.1),
             run("20250101-120001-lenet-0002", "lenet", lr=0.9)]
    assert run_labels(mixed) == ["mlp lr=0.1", "lenet lr=0.9"]
    seeds = [run("20250101-120000-mlp-0001", seed=0, lr=0.1),
             run("20250101-120001-mlp-0002", seed=1, lr=0.1)]
    assert run_labels(seeds) == ["seed=0", "seed=1"]
    alike = [run("20250101-120000-mlp-0001", lr=0.1), run("20250101-120001-mlp-0002", lr=0.1)]
    assert run_labels(alike) == ["0001", "0002"]
    assert run_labels(alike[:1]) == ["0001"]  # one run: nothing sets it apart
    same_token = [run("20250101-120000-mlp-0001", lr=0.1),
                  run("20250102-120000-mlp-0001", lr=0.1)]
    assert run_labels(same_token) == ["20250101-120000-0001", "20250102-120000-0001"]


def test_metric_names_and_curves_come_from_every_epoch_of_every_run() -> None:
    runs = {"lr=0.1": [(1, {"train_loss": 0.9}), (2, {"train_loss": 0.5, "test_acc": 0.7})],
            "lr=0.3": [(1, {"train_loss": 0.8, "test_acc": 0.6})],
            "lr=1": []}
    assert metric_names(runs.values()) == ["train_loss", "test_acc"]
    assert metric_curves(runs, "test_acc") == {"lr=0.1": [(2.0, 0.7)], "lr=0.3": [(1.0, 0.6)],
                                               "lr=1": []}


# -- the overlay chart ------------------------------------------------------------------------

def colors_drawn(chart: str) -> dict[int, list[int]]:
    """For each colour that draws braille: the columns it draws in."""
    found: dict[int, list[int]] = {}
    for line in Text.from_ansi(chart).split("\n"):
        for span in line.spans:
            color = span.style.color if not isinstance(span.style, str) else None
            drawn = line.plain[span.start:span.end]
            if color is not None and BRAILLE.search(drawn):
                columns = [span.start + i for i, c in enumerate(drawn) if BRAILLE.match(c)]
                found.setdefault(color.number, []).extend(columns)
    return found


def falling(epochs: int, start: float = 1.0) -> list[tuple[float, float]]:
    return [(float(e), start / e) for e in range(1, epochs + 1)]


def test_run_colors_are_distinct_and_the_legend_uses_them() -> None:
    names = [f"lr={i}" for i in range(len(RUN_COLORS))]
    colors = run_colors(names)
    assert len(set(colors.values())) == len(names)
    legend = overlay_legend(names, title="test acc", width=200)
    assert legend.plain.startswith("test acc")
    for name in names:
        start = legend.plain.index(f"━ {name}")
        styles = [s.style for s in legend.spans if s.start <= start < s.end]
        assert styles == [f"color({colors[name]})"]


def test_every_run_is_drawn_in_its_own_colour() -> None:
    curves = {"lr=0.1": falling(10), "lr=0.3": falling(10, 2.0), "lr=1": falling(10, 4.0)}
    chart = overlay_chart(curves, 60, 16, metric="train_loss")
    drawn = colors_drawn(chart)
    assert set(drawn) == set(run_colors(curves).values())
    plain = Text.from_ansi(chart).plain
    assert "epoch" in plain and "┤" in plain


def test_runs_of_different_lengths_share_the_longest_axis() -> None:
    curves = {"short": falling(3, 4.0), "long": falling(12)}
    chart = overlay_chart(curves, 60, 14, metric="loss")
    colors = run_colors(curves)
    drawn = colors_drawn(chart)
    assert max(drawn[colors["short"]]) < 0.4 * max(drawn[colors["long"]])  # 3 of 12 epochs
    ticks = Text.from_ansi(chart).plain.splitlines()[-2].split()  # the line under the axis
    assert ticks[-1] == "12"


def test_a_run_without_epochs_is_named_but_not_drawn() -> None:
    curves = {"lr=0.1": falling(5), "lr=9": []}
    chart = overlay_chart(curves, 60, 12, metric="test_acc")
    assert set(colors_drawn(chart)) == {run_colors(curves)["lr=0.1"]}
    legend = overlay_legend(curves, empty=["lr=9"], width=80).plain
    assert "━ lr=0.1" in legend and "━ lr=9 (no epochs)" in legend
    blank = overlay_chart({"lr=9": []}, 40, 10)  # none at all: an empty frame, no error
    assert not colors_drawn(blank)


def test_a_single_epoch_still_gets_an_axis_and_accuracies_stay_linear() -> None:
    chart = overlay_chart({"a": [(1.0, 0.5)], "b": [(1.0, 0.9)]}, 50, 10, metric="test_acc")
    assert len(colors_drawn(chart)) == 2
    spread = {"a": [(1.0, 1e-4), (2.0, 1.0)]}  # four decades
    assert "1e" not in Text.from_ansi(overlay_chart(spread, 50, 12, metric="test_acc")).plain
    assert "1e" in Text.from_ansi(overlay_chart(spread, 50, 12, metric="loss")).plain
