"""The optimisers' trajectories as a learner sees them at 80×24: drawn by the TUI's live plot
(and the CLI's charts) from a real run's events, over dim contour lines, each optimiser in its
own colour and named in the legend. Saves an SVG and the text to look at (set
D2L_LAB_SCREENSHOTS=DIR to keep them)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from lab import catalog, runner
from lab.charts import DIM_COLOR, clip_polyline, figure_chart, figure_legend
from lab.events import Curve, Event, from_dict
from tui.widgets.plot import LivePlot

SIZE = (80, 24)
BRAILLE = re.compile("[\u2801-\u28ff]")
ALL = ["gd", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam"]


class Host(App):
    def compose(self) -> ComposeResult:
        yield LivePlot()


def events(preset: str) -> list[Event]:
    exp = catalog.get("optim-2d")
    recorded: list[Event] = []
    assert runner.run(exp, exp.resolve(preset), sinks=[recorded.append]).status == "finished"
    return recorded


def colored(text: Text) -> dict[str, str]:
    """What each colour draws: its style -> the characters it covers."""
    drawn: dict[str, str] = {}
    for span in text.spans:
        key = str(span.style)
        drawn[key] = drawn.get(key, "") + text.plain[span.start:span.end]
    return drawn


def out_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("D2L_LAB_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


async def test_eight_optimisers_over_the_contours_at_80x24(tmp_path: Path) -> None:
    out = out_dir(tmp_path)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        plot = app.query_one(LivePlot)
        for event in events("all"):
            plot.add(event)
        plot.redraw()
        await pilot.pause()
        app.save_screenshot("optim-2d-80x24.svg", str(out))
        shown = plot.rendered
    (out / "optim-2d-80x24.txt").write_text(shown.plain)
    legend, chart = shown.plain.splitlines()[:2], shown.plain.splitlines()[2:]
    assert len(legend + chart) <= SIZE[1]
    assert legend[0].startswith("f(x1, x2) = 0.1·x1² + 2·x2²")
    named = re.findall(r"━• (\w+)", "\n".join(legend))
    assert named == ALL  # every optimiser, in the order run; no contour level among them
    assert "f = " not in "\n".join(legend)
    drawn = colored(shown)
    dim = drawn[f"color({DIM_COLOR})"]
    assert len(BRAILLE.findall(dim)) > 100  # the contour lines
    paths = [chars for style, chars in drawn.items()
             if style != f"color({DIM_COLOR})" and "•" in chars]
    assert len(paths) == len(ALL)  # a colour of its own for each path, its steps dotted
    assert "x1" in chart[-1] and "┤" in "\n".join(chart)
    svg = (out / "optim-2d-80x24.svg").read_text()
    assert all(f"━•&#160;{name}" in svg or f"━• {name}" in svg for name in ("gd", "momentum",
                                                                            "adagrad", "rmsprop"))


@pytest.mark.parametrize("preset", ["book", "momentum", "nonconvex"])
def test_the_cli_draws_the_same_view_within_its_width(preset: str) -> None:
    curves = [e for e in events(preset) if isinstance(e, Curve)]
    title = curves[0].figure  # the trajectories' (the book's weight plots follow in others)
    recorded = [c for c in curves if c.figure == title]
    legend = figure_legend(title, recorded, width=SIZE[0])
    chart = Text.from_ansi(figure_chart(recorded, SIZE[0], SIZE[1] - 2)).plain
    lines = chart.splitlines()
    assert len(lines) == SIZE[1] - 2 and max(map(len, lines)) <= SIZE[0]
    paths = [c.series for c in recorded if c.style == "points"]
    entries = legend.plain.replace("\n", "  ").split("  ")[1:]  # after the title
    assert entries == [f"━• {name}" for name in paths]  # the contours are not named
    assert "•" in chart and BRAILLE.search(chart)


def test_a_diverging_path_is_cut_at_the_views_edge() -> None:
    """GD with η = 0.6 reaches x2 = −1673: the view stays near the book's box, not 1000 times
    taller, and the path's last steps run off its top and bottom edges."""
    recorded = [e for e in events("momentum") if isinstance(e, Curve)]
    chart = Text.from_ansi(figure_chart(recorded, 80, 22)).plain
    labels = [line.split("┤")[0].strip() for line in chart.splitlines() if "┤" in line]
    assert labels and all(-7 <= float(label) <= 5 for label in labels)
    rows = [line.split("│", 1)[-1] if "┤" not in line else line.split("┤", 1)[1]
            for line in chart.splitlines()[:-3]]
    assert BRAILLE.search(rows[0]) and BRAILLE.search(rows[-1])  # lines reach both edges


def test_a_finished_run_replays_with_its_styles() -> None:
    """The record of a run (events.jsonl) keeps how each curve is drawn, so a run opened
    later shows the same view."""
    exp = catalog.get("optim-2d")
    result = runner.run(exp, exp.resolve("gd-2d"))
    lines = (result.run_dir / "events.jsonl").read_text().splitlines()
    replayed = [from_dict(json.loads(line)) for line in lines]
    styles = {e.series: e.style for e in replayed if isinstance(e, Curve)}
    assert styles["gd"] == "points" and styles["corner 1"] == "contour"
    assert {s for name, s in styles.items() if name.startswith("f = ")} == {"contour"}


def test_a_path_that_runs_to_1e306_is_cut_before_plotext_draws_it() -> None:
    """plotext's own limits rasterise the whole segment first: a path to 1e306 exhausted its
    memory (std::bad_alloc) before the chart cut it itself."""
    frame = Curve("f", "view", [-1.0, 1.0], [-1.0, 1.0], style="contour")
    wild = Curve("f", "gd", [0.0, 0.5, -2e306, 1e306], [0.0, 0.5, 1e306, -1e306], style="points")
    chart = Text.from_ansi(figure_chart([frame, wild], 40, 12)).plain
    assert chart.count("•") == 2  # the two points in view; the others are off it
    assert clip_polyline([(0.0, 0.0), (2.0, 0.0), (2.0, 0.5), (0.0, 0.5)],
                         ((-1.0, 1.0), (-1.0, 1.0))) == [[(0.0, 0.0), (1.0, 0.0)],
                                                         [(1.0, 0.5), (0.0, 0.5)]]
