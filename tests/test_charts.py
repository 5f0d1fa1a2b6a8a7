"""Charts built from plain data: the axes a learner reads, at the widths a terminal has."""

from __future__ import annotations

import math
import re

import pytest
from rich.text import Text

from lab.charts import _finite as finite
from lab.charts import (
    figure_chart,
    figure_legend,
    log_ticks,
    metrics_chart,
    metrics_legend,
    nice_ticks,
    thin,
    thin_columns,
)
from lab.events import Curve, EpochEnd, Progress
from lab.plotdata import Decimated, RunPlots

BRAILLE = re.compile("[\u2801-\u28ff]")  # a drawn line (U+2800, the empty cell, draws nothing)


def plain(chart: str) -> str:
    return Text.from_ansi(chart).plain


def y_labels(chart: str) -> list[str]:
    """The left axis' tick labels, top to bottom."""
    return [line.split("┤")[0].strip() for line in plain(chart).splitlines() if "┤" in line]


def falling(start: float, factor: float, epochs: int) -> list[tuple[float, float]]:
    return [(float(e), start * factor ** (e - 1)) for e in range(1, epochs + 1)]


def test_a_loss_falling_over_decades_gets_a_log_axis_by_itself() -> None:
    chart = metrics_chart({"loss": falling(30.0, 0.1, 5)}, [], 60, 16, epochs=5)  # 30 → 3e-3
    labels = y_labels(chart)
    assert labels and all(re.fullmatch(r"1e-?\d+", label) for label in labels), labels
    assert labels == sorted(labels, key=lambda s: -float(s))  # highest on top
    assert BRAILLE.search(plain(chart))


def test_log_loss_forces_the_log_axis_even_within_one_decade() -> None:
    series = {"train_loss": falling(0.9, 0.7, 5)}  # 0.9 → 0.22: not one decade
    linear = y_labels(metrics_chart(series, [], 60, 16, epochs=5))
    forced = y_labels(metrics_chart(series, [], 60, 16, epochs=5, log_loss=True))
    assert not any("e" in label for label in linear), linear
    assert len(forced) >= 2 and all(re.fullmatch(r"[1-9]e-?\d+", s) for s in forced), forced


def test_accuracy_is_on_a_right_axis_from_0_to_1_and_the_x_axis_is_the_epoch() -> None:
    series = {"train_loss": falling(0.9, 0.8, 3), "test_acc": [(1, 0.6), (2, 0.7), (3, 0.75)]}
    batch = [(i / 10, 1.0 - i / 100) for i in range(30)]
    text = plain(metrics_chart(series, batch, 60, 16, epochs=10))
    right = [line.split("├")[1].strip() for line in text.splitlines() if "├" in line]
    assert right[0] == "1" and right[-1] == "0"
    ticks = text.splitlines()[-2].split()  # the x ticks, above the "epoch" label
    assert ticks[0] == "0" and ticks[-1] == "10"
    assert text.splitlines()[-1].strip() == "epoch"


def test_a_figure_with_log_y_has_1eN_ticks_and_leaves_out_what_a_log_cannot_show() -> None:
    norms = [10.0 ** -k for k in range(7)] + [0.0]  # a zero norm has no place on a log axis
    curves = [Curve("gradient norm per layer", "now", list(range(8)), norms, xlabel="layer",
                    log_y=True)]
    chart = figure_chart(curves, 60, 16)
    assert "1e0" in y_labels(chart) and "1e-6" in y_labels(chart)
    assert plain(chart).splitlines()[-1].strip() == "layer"


def test_a_log_log_figure_has_powers_of_ten_on_both_axes() -> None:
    ranks = list(range(-1, 20_001))  # rank 0 and -1 have no place on a log axis
    zipf = [Curve("Zipf's law", "unigram", ranks, [2000 / max(r, 1) for r in ranks],
                  xlabel="rank", log_x=True, log_y=True)]
    text = plain(figure_chart(zipf, 80, 16))
    assert text.splitlines()[-2].split() == ["1e0", "1e1", "1e2", "1e3", "1e4"]
    assert text.splitlines()[-1].strip() == "rank"
    labels = y_labels(figure_chart(zipf, 80, 16))
    assert "1e0" in labels and all(re.fullmatch(r"1e-?\d", label) for label in labels), labels
    # 1/rank is a straight line on log-log axes: one braille run per column, corner to corner
    rows = [line.split("│")[1] if "│" in line else line.split("┤")[1]
            for line in text.splitlines()[:-3]]
    first = [i for i, row in enumerate(rows) if BRAILLE.search(row[:2])]
    last = [i for i, row in enumerate(rows) if BRAILLE.search(row[-3:])]
    assert first and last and first[0] <= 1 and last[-1] >= len(rows) - 2


def test_log_x_without_log_y_and_thinning_by_column() -> None:
    xs = [10 ** (k / 100) for k in range(501)]
    chart = figure_chart([Curve("f", "s", xs, [math.log10(x) for x in xs], log_x=True)], 60, 12)
    assert plain(chart).splitlines()[-1].split() == ["1e0", "1e1", "1e2", "1e3", "1e4", "1e5"]
    assert y_labels(chart) and not any("e" in label for label in y_labels(chart))  # linear y
    points = [(math.log10(r), 1.0 / r) for r in range(1, 10_001)]
    thinned = thin_columns(points, 160)
    assert len(thinned) <= 160
    assert thinned[:3] == points[:3]  # the head keeps every point: ranks 1, 2, 3 are columns
    assert thinned[-1][0] > 3.97  # and the tail is averaged, not cut
    assert thin_columns(points[:10], 160) == points[:10]


def test_a_figure_has_round_ticks() -> None:
    xs = [i / 10 for i in range(-80, 80)]
    curves = [Curve("tanh", "tanh(x)", xs, [math.tanh(x) for x in xs], xlabel="x")]
    chart = figure_chart(curves, 60, 16)
    assert y_labels(chart) == ["1", "0.5", "0", "-0.5", "-1"]
    assert plain(chart).splitlines()[-2].split() == ["-5", "0", "5"]


@pytest.mark.parametrize("width", [40, 52, 80, 100])
def test_charts_fit_their_width(width: int) -> None:
    xs = list(range(100))
    charts = [
        metrics_chart({"train_loss": falling(2.3, 0.5, 10), "train_acc": falling(0.1, 1.2, 10)},
                      [(i / 50, 2.0 / (1 + i)) for i in range(500)], width, 12, epochs=10),
        figure_chart([Curve("f", "a", xs, [x * x for x in xs]),
                      Curve("f", "b", xs, [1e-3 + x for x in xs], log_y=True)], width, 12),
    ]
    for chart in charts:
        lines = plain(chart).splitlines()
        assert len(lines) == 12 and max(len(line) for line in lines) <= width


@pytest.mark.parametrize("points", [[], [(1.0, 0.5)], [(1.0, 2.0), (2.0, 2.0)],
                                    [(1.0, 0.0), (2.0, -1.0)], [(1.0, math.nan), (2.0, 1.0)]])
def test_edge_cases_draw_without_raising(points: list[tuple[float, float]]) -> None:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    for log in (False, True):
        assert isinstance(metrics_chart({"loss": points}, points, 40, 10, log_loss=log), str)
        assert isinstance(metrics_chart({"test_acc": points}, [], 40, 10, log_loss=log), str)
        assert isinstance(figure_chart([Curve("f", "s", xs, ys, log_y=log)], 40, 10), str)
    assert isinstance(figure_chart([], 40, 10), str)
    assert isinstance(metrics_chart({}, [], 20, 4), str)


def test_legends_name_every_series_in_its_colour() -> None:
    legend = metrics_legend(["train_loss", "train_acc", "test_acc"], batch=True,
                            title="metrics", note="(ctrl+f: 1/2)")
    assert legend.plain == ("metrics (ctrl+f: 1/2)  ┄ batch loss  ━ train loss  ━ train acc  "
                            "━ test acc")
    figure = figure_legend("learned vs true weights", ["true", "learned"])
    assert figure.plain == "learned vs true weights  ━ true  ━ learned"
    styles = {str(span.style) for span in figure.spans}
    assert len(styles) == 3  # the bold title, and a colour per series


def test_ticks() -> None:
    assert nice_ticks(-8, 7.9, 6) == ([-5.0, 0.0, 5.0], ["-5", "0", "5"])
    assert nice_ticks(0, 1, 5)[1] == ["0", "0.2", "0.4", "0.6", "0.8", "1"]
    assert nice_ticks(3, 3, 5) == ([3], ["3"])
    assert log_ticks(-4, 1.5, 4)[1] == ["1e-4", "1e-2", "1e0"]  # every other power, from 1e0
    assert log_ticks(-9.2, 1.3, 4)[1] == ["1e-9", "1e-6", "1e-3", "1e0"]
    assert log_ticks(-2.2, -0.9, 4)[1] == ["1e-2", "2e-2", "5e-2", "1e-1"]
    assert log_ticks(math.log10(0.6), math.log10(0.8), 4)[1] == ["6e-1", "7e-1", "8e-1"]
    assert log_ticks(-1, -1, 4)[1] == ["1e-1", "2e-1"]  # one value: the ticks around it


def test_run_plots_keep_figures_in_order_and_replace_a_redrawn_series() -> None:
    plots = RunPlots()
    assert plots.add(Curve("norms", "now", [1, 2], [3.0, 4.0]))
    plots.add(Curve("weights", "true", [0], [1.0]))
    plots.add(Curve("norms", "first batch", [1, 2], [5.0, 6.0]))
    plots.add(Curve("norms", "now", [1, 2], [0.3, 0.4]))  # redrawn: replaces
    assert list(plots.figures) == ["norms", "weights"]
    assert list(plots.figures["norms"]) == ["now", "first batch"]
    assert plots.figures["norms"]["now"].y == [0.3, 0.4]
    assert not plots.has_metrics
    plots.add(Progress(1, 2, 2, 4, [1.0, 0.5], 100.0, 0.1))
    plots.add(EpochEnd(1, 2, {"loss": 0.4, "test_acc": math.nan}, 100.0, 0.2))
    assert plots.batch.points == [(0.25, 1.0), (0.5, 0.5)]
    assert plots.series == {"loss": [(1.0, 0.4)]}  # NaN is not plotted
    assert plots.epochs == 2


def test_the_batch_loss_stays_bounded_and_keeps_its_shape() -> None:
    line = Decimated(limit=64)
    for i in range(10_000):
        line.append(i, 2.0 * i)
    assert len(line) < 64
    assert all(y == pytest.approx(2 * x) for x, y in line.points)
    assert line.points[0][0] < 500 and line.points[-1][0] > 9_000  # the whole run, coarser


def test_integer_x_gets_integer_ticks() -> None:
    curves = [Curve("norms", "now", [1, 2, 3], [1.0, 2.0, 3.0], xlabel="layer")]
    assert plain(figure_chart(curves, 60, 12)).splitlines()[-2].split() == ["1", "2", "3"]


def test_thin_averages_runs_of_consecutive_points() -> None:
    points = [(float(x), float(x * x)) for x in range(10)]
    assert thin(points, 20) is points
    assert thin(points, 4) == [(1.0, 5 / 3), (4.0, 50 / 3), (7.0, 149 / 3), (9.0, 81.0)]


def test_only_finite_points_are_drawn() -> None:
    clean = [(1.0, 2.0), (2.0, 1e308), (3.0, 1e308)]  # finite, though their sum is not
    assert finite(clean) == clean
    assert finite([(1.0, math.nan), (2.0, 1.0), (math.inf, 3.0), (4.0, -math.inf)]) == [(2.0, 1.0)]


def test_lines_drawn_without_plotexts_colour_walk_are_the_same_picture(monkeypatch) -> None:
    """``_draw`` skips plotext's per-point colour bookkeeping: every line has its colour."""
    from lab import charts

    plots = RunPlots()
    for e in range(1, 301):
        plots.add(EpochEnd(e, 300, {"train_loss": 1 / e, "test_acc": 1 - 1 / e}, 100.0, e))
    xs = [float(x) for x in range(50)]
    curves = [Curve("f", "a", xs, [x * x for x in xs], style="points"),
              Curve("f", "b", xs, [1 + x for x in xs], log_y=True)]

    def draw_all() -> tuple[str, str]:
        return plots.metrics_chart(80, 20), figure_chart(curves, 80, 20)

    fast = draw_all()
    monkeypatch.setattr(charts, "_draw", lambda fig, signal: fig.draw(signal))
    assert draw_all() == fast
