"""The book beside a run in the lab: its three curves dim beneath LeNet's live ones (ctrl+b hides
them), its final numbers in the status panel, the "vs book" table in the log, and its curve in
the Runs screen's overlay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.color import Color
from rich.text import Text

from lab import catalog, drift
from lab.charts import BOOK_COLOR, COLORS, dim
from lab.events import Ended, EpochEnd, Event, Progress, Started
from lab.store import Store
from tui.app import LabApp
from tui.messages import RunEvents
from tui.screens.runs import RunsScreen
from tui.widgets.overlay import OverlayPlot
from tui.widgets.plot import LivePlot
from tui.widgets.runlog import RunLog
from tui.widgets.status import RunStatus

SIZE = (100, 30)
# A real LeNet run at the book's settings (seed 0, 2 CPU threads), as the runner tells it.
LENET = [(2.2881, 0.1197, 0.2767), (1.114, 0.5533, 0.5695), (0.8119, 0.6807, 0.6995),
         (0.6904, 0.7298, 0.7413), (0.6284, 0.754, 0.7515), (0.5873, 0.7717, 0.7349),
         (0.5482, 0.7891, 0.7805), (0.5128, 0.8048, 0.7894), (0.4904, 0.8162, 0.8086),
         (0.4707, 0.824, 0.8077)]
NAMES = ("train_loss", "train_acc", "test_acc")
BOOK_SHADES = {dim(COLORS[name]) for name in NAMES}  # the three curves' dim colours


def lenet_events(done: int) -> list[Event]:
    """The first ``done`` epochs of the run; with all ten, its end as the runner tells it (the
    table before the end)."""
    exp = catalog.get("lenet")
    params = exp.resolve()
    events: list[Event] = []
    emit = drift.watch(exp, params, events.append)
    emit(Started("20250101-120000-lenet-ab12", "lenet", dict(params), "cpu", 0))
    for epoch, row in enumerate(LENET[:done], 1):
        emit(Progress(epoch, 10, 235, 235, [row[0]] * 5, 3000.0, epoch * 20.0))
        emit(EpochEnd(epoch, 10, dict(zip(NAMES, row, strict=True)), 3000.0, epoch * 20.0))
    if done == len(LENET):
        emit(Ended("finished", "", dict(zip(NAMES, LENET[-1], strict=True)), 200.0))
    return events


def colours(text: Text) -> set[int]:
    """The 256-colour indices the chart's cells are drawn in."""
    found = set()
    for span in text.spans:
        color = getattr(span.style, "color", None)
        if color is not None and color.number is not None:
            found.add(color.number)
    return found


@pytest.mark.timeout(60)
async def test_lenets_run_has_the_books_curves_beneath_and_its_numbers_beside(
        tmp_path: Path) -> None:
    out = Path(os.environ.get("D2L_LAB_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    app = LabApp("lenet", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        events = lenet_events(10)
        app.post_message(RunEvents(events[:7]))  # three epochs in
        await pilot.pause()
        app.query_one("TabbedContent").active = "train"
        plot = app.query_one(LivePlot)
        plot.redraw()
        await pilot.pause()
        legend = " ".join(plot.rendered.plain.splitlines()[:2])  # two lines at this height
        assert "book (ctrl+b)" in legend and "test acc" in legend
        assert BOOK_SHADES <= colours(plot.rendered)  # three dim curves, one per metric
        assert set(plot.book) == set(NAMES) and len(plot.book["test_acc"]) == 10
        status = app.query_one(RunStatus)
        assert "book: loss 0.469 · train 0.824 · test 0.776" in str(status.render())
        app.save_screenshot("lenet-book-100x30.svg", str(out))
        svg = (out / "lenet-book-100x30.svg").read_text()
        for shade in BOOK_SHADES:  # the dim curves are on screen, in the 256-colour palette
            assert Color.from_ansi(shade).get_truecolor().hex in svg
        assert "book:&#160;loss&#160;0.469&#160;·&#160;train&#160;0.824" in svg

        await pilot.press("ctrl+b")  # hidden: the curves go, the legend says how to bring them
        assert not plot.show_book and not BOOK_SHADES & colours(plot.rendered)
        assert "book off (ctrl+b)" in " ".join(plot.rendered.plain.splitlines()[:2])
        await pilot.press("ctrl+b")
        assert plot.show_book and BOOK_SHADES <= colours(plot.rendered)

        app.post_message(RunEvents(events[7:]))  # the rest, and its end: the table in the log
        await pilot.pause()
        lines = app.query_one(RunLog).lines_text
        at = lines.index("vs book: lenet")
        assert [line.split() for line in lines[at + 2:at + 5]] == [
            ["train", "loss", "0.4707", "0.469"], ["train", "acc", "0.824", "0.824"],
            ["test", "acc", "0.8077", "0.776"]]
        assert not any("in the book" in line or "book's settings" in line for line in lines)

        exp = catalog.get("init-stability")  # a run the book does not make: no book at all
        app.post_message(RunEvents([
            Started("r2", exp.id, dict(exp.resolve()), "cpu", 0),
            EpochEnd(1, 3, {"train_loss": 2.3, "train_acc": 0.1, "test_acc": 0.1}, 1.0, 1.0)]))
        await pilot.pause()
        plot.redraw()
        assert plot.book == {} and "book" not in " ".join(plot.rendered.plain.splitlines()[:2])
        assert "book:" not in str(status.render())


@pytest.mark.timeout(60)
async def test_the_runs_screen_overlays_the_books_curve_on_a_run(lab_home: Path) -> None:
    store = Store()
    exp = catalog.get("lenet")
    run_id = store.new_run_id(exp.id)
    started = Started(run_id, exp.id, dict(exp.resolve()), "cpu", 0)
    store.record(run_id, started)
    for event in lenet_events(10)[1:]:
        store.record(run_id, event)
    app = LabApp("lenet", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = RunsScreen(store)
        await app.push_screen(screen)
        await pilot.press("space")  # select the run: its curve; the legend offers the book's
        overlay = screen.query_one(OverlayPlot)
        overlay.redraw()
        assert "book" not in overlay.curves and "b: the book's)" in overlay.rendered.plain
        await pilot.press("b")  # the book's curve beneath the run's
        assert "book" in overlay.curves and len(overlay.curves["book"]) == 10
        overlay.redraw()
        assert "━ book" in overlay.rendered.plain and "b: hide the book)" in overlay.rendered.plain
        assert BOOK_COLOR in colours(overlay.rendered)
        await pilot.press("m")  # another metric: the book's curve of it
        assert overlay.metric != "train_loss" and "book" in overlay.curves
