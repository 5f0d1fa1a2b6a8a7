"""The Runs screen driven by keys over real recorded runs: the list, its filters, the overlay of
selected runs, and the choices it hands back to the app."""

from __future__ import annotations

import html
import re
import threading
from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.app import App
from textual.widgets import Input, Select, Static

from benchmarks.runs_screen import fill_store
from lab import catalog, runner
from lab.events import Ended, EpochEnd, Started
from lab.store import Store
from tests.tui.test_app import screenshots, wait_for
from tui.app import LabApp
from tui.screens.runs import ConfirmDelete, RunsChoice, RunsScreen
from tui.widgets import runs_table
from tui.widgets.overlay import OverlayPlot
from tui.widgets.runs_table import NARROW, RunsTable

SIZES = [(80, 24), (120, 40)]
LRS = ("0.01", "0.1", "0.3")


class RunsApp(App[None]):
    """Only the Runs screen, with the lab's stylesheet; what it dismisses with is kept."""

    CSS_PATH = LabApp.CSS_PATH

    def __init__(self, **options: object) -> None:
        super().__init__()
        self.options = options
        self.choices: list[RunsChoice | None] = []

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(**self.options), self.choices.append)


def record(exp_id: str, *, stop: bool = False, **overrides: str) -> str:
    """A real run of ``exp_id``; ``stop``: stopped at its first batch, as Stop does."""
    exp = catalog.get(exp_id)
    cancel = threading.Event()
    if stop:
        cancel.set()
    return runner.run(exp, exp.resolve("book", overrides), cancel=cancel).run_id


@pytest.fixture
def runs(one_thread) -> dict[str, str]:
    """A sweep of linreg over three learning rates (3 epochs each, well under a second each),
    one stopped linreg run, and one run of another experiment; newest last."""
    made = {f"lr={lr}": record("linreg", epochs="3", lr=lr) for lr in LRS}
    made["stopped"] = record("linreg", stop=True, epochs="3")
    made["other"] = record("linreg-scratch", epochs="1")
    return made


_SVG_TEXT = re.compile(r'<text [^>]*x="([\d.]+)" [^>]*textLength="([\d.]+)" '
                       r'clip-path="url\(#[\w-]+-line-(\d+)\)">([^<]*)</text>')


def screen_lines(app: App) -> list[str]:
    """The screen as plain text, a string per line, read back from its SVG screenshot."""
    lines: dict[int, dict[int, str]] = {}
    for x, length, line, text in _SVG_TEXT.findall(app.export_screenshot()):
        text = html.unescape(text).replace("\xa0", " ")
        cell = float(length) / max(cell_len(text), 1)
        lines.setdefault(int(line), {})[round(float(x) / cell)] = text
    rows = []
    for number in range(max(lines, default=-1) + 1):
        row = ""
        for column, text in sorted(lines.get(number, {}).items()):
            row = row.ljust(column) + text
        rows.append(row.rstrip())
    return rows


def shown_ids(app: App) -> list[str]:
    return [r.id for r in app.screen.query_one(RunsTable).shown]


async def go_to(pilot, run_id: str) -> None:
    """Move the table's cursor onto ``run_id`` with the arrow keys."""
    table = pilot.app.screen.query_one(RunsTable)
    target = shown_ids(pilot.app).index(run_id)
    while table.cursor_row != target:
        await pilot.press("down" if table.cursor_row < target else "up")
    assert table.highlighted is not None and table.highlighted.id == run_id


@pytest.mark.timeout(120)
async def test_the_list_shows_every_run_newest_first_with_its_status(runs) -> None:
    app = RunsApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert shown_ids(app) == list(reversed(runs.values()))
        table = app.screen.query_one(RunsTable)
        stopped = table.get_row(runs["stopped"])
        assert str(stopped[3]) == "stopped" and stopped[3].style == "yellow"
        finished = table.get_row(runs["lr=0.1"])
        assert str(finished[3]) == "finished" and finished[3].style == "green"
        experiment, status, device, started, took, epochs = (str(c) for c in finished[2:8])
        assert (experiment, status, device, epochs) == ("linreg", "finished", "cpu", "3/3")
        assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d", started)  # local time, this year
        assert re.fullmatch(r"\d+\.\ds", took)  # under a minute
        assert str(finished[8]).startswith("loss ")
        assert "Runs 5" in str(app.screen.query_one("#runs-title", Static).render())


@pytest.mark.timeout(120)
async def test_filters_by_experiment_text_and_by_status(runs) -> None:
    app = RunsApp()
    async with app.run_test(size=SIZES[0]) as pilot:
        await pilot.press("slash", *"scratch")
        assert isinstance(app.focused, Input)
        assert shown_ids(app) == [runs["other"]]
        await pilot.press("escape")  # from the filter, back to the list (the screen stays)
        assert isinstance(app.focused, RunsTable) and isinstance(app.screen, RunsScreen)
        app.screen.query_one("#runs-filter", Input).value = "LINREG"  # any case; a substring
        await pilot.pause()
        assert len(shown_ids(app)) == 5
        await pilot.press("s", "s", "s")  # any → running → finished → stopped
        await pilot.pause()
        assert app.screen.query_one("#runs-status", Select).value == "stopped"
        assert shown_ids(app) == [runs["stopped"]]
        assert "Runs 1/5" in str(app.screen.query_one("#runs-title", Static).render())
        app.screen.query_one("#runs-status", Select).value = "finished"
        await pilot.pause()
        assert set(shown_ids(app)) == {runs[f"lr={lr}"] for lr in LRS} | {runs["other"]}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", SIZES)
async def test_selected_runs_are_overlaid_and_their_differences_listed(
        runs, tmp_path: Path, size: tuple[int, int]) -> None:
    """Saves SVGs to look at (set D2L_LAB_SCREENSHOTS=DIR to keep them)."""
    out = screenshots(tmp_path)
    app = RunsApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.save_screenshot(f"runs-{size[0]}x{size[1]}.svg", str(out))
        assert not app.screen.query_one("#runs-compare").display
        for lr in LRS:
            await go_to(pilot, runs[f"lr={lr}"])
            await pilot.press("space")
        await pilot.pause()
        assert app.screen.query_one("#runs-compare").display
        plot = app.screen.query_one(OverlayPlot)
        plot.redraw()
        legend = plot.rendered.plain.splitlines()[0]
        assert legend.startswith("loss")
        for lr in LRS:
            assert f"━ lr={lr}" in legend
        assert set(plot.curves) == {f"lr={lr}" for lr in LRS}
        assert all(len(points) == 3 for points in plot.curves.values())
        assert "┤" in plot.rendered.plain
        assert ("epoch" in plot.rendered.plain) == (size[1] >= 40)  # room for the x label
        lines = screen_lines(app)
        assert "Runs 5 · 3 selected" in lines[0]
        head = next(i for i, line in enumerate(lines) if line.split()[:3] == ["run", "lr", "loss"])
        rows = [lines[head + 1 + i].split() for i in range(3)]
        assert [row[0] for row in rows] == ["━"] * 3  # each in its run's colour
        assert [row[2] for row in rows] == list(LRS)  # oldest first: the sweep's order
        assert "same in all: batch_size=10 epochs=3" in lines[head + 4]
        app.save_screenshot(f"runs-overlay-{size[0]}x{size[1]}.svg", str(out))
        await pilot.press("space")  # the last one again: unselected
        await pilot.pause()
        assert set(plot.curves) == {f"lr={lr}" for lr in LRS[:2]}
        await pilot.press("c")
        await pilot.pause()
        assert not app.screen.query_one("#runs-compare").display


@pytest.mark.timeout(120)
async def test_enter_opens_and_resume_and_attach_only_fit_some_runs(runs) -> None:
    app = RunsApp()
    async with app.run_test(size=SIZES[0]) as pilot:
        await go_to(pilot, runs["lr=0.1"])
        await pilot.press("r", "a")  # a finished run: neither resumes nor attaches
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and app.choices == []
        assert any("only a" in n.message for n in app._notifications)
        await pilot.press("enter")
        await pilot.pause()
        assert app.choices == [RunsChoice("open", runs["lr=0.1"])]
    app = RunsApp()
    async with app.run_test(size=SIZES[0]) as pilot:
        await go_to(pilot, runs["stopped"])
        await pilot.press("r")
        await pilot.pause()
        assert app.choices == [RunsChoice("resume", runs["stopped"])]
    app = RunsApp()
    async with app.run_test(size=SIZES[0]) as pilot:
        await pilot.press("escape")
        await pilot.pause()
        assert app.choices == [None]


@pytest.mark.timeout(120)
async def test_delete_asks_first_and_refuses_a_running_run(runs) -> None:
    store = Store()
    live = "20260101-120000-mlp-beef"
    store.record(live, Started(live, "mlp", {"epochs": 10}, "cpu", 0))  # this process: alive
    app = RunsApp()
    async with app.run_test(size=SIZES[0]) as pilot:
        await pilot.pause()
        await go_to(pilot, live)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert any("still running" in n.message for n in app._notifications)
        await pilot.press("a")  # a running run: attach
        await pilot.pause()
        assert app.choices == [RunsChoice("attach", live)]
    app = RunsApp()
    async with app.run_test(size=SIZES[0]) as pilot:
        await pilot.pause()
        victim = runs["lr=0.1"]
        await go_to(pilot, victim)
        await pilot.press("space", "d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDelete)
        await pilot.press("n")  # kept
        await pilot.pause()
        assert store.get(victim) is not None and victim in shown_ids(app)
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert store.get(victim) is None and not store.run_dir(victim).exists()
        assert victim not in shown_ids(app) and len(shown_ids(app)) == 5
        assert not app.screen.query_one(RunsTable).selected
        assert not app.screen.query_one("#runs-compare").display


@pytest.mark.timeout(120)
async def test_a_live_run_updates_in_the_list_and_its_overlay(monkeypatch) -> None:
    """The screen polls the index: another process's run appears, gains epochs and ends."""
    import tui.screens.runs

    monkeypatch.setattr(tui.screens.runs, "POLL", 0.05)
    store = Store()
    first = "20260101-120000-mlp-0001"
    store.record(first, Started(first, "mlp", {"epochs": 3, "lr": 0.1}, "cpu", 0))
    app = RunsApp()
    async with app.run_test(size=SIZES[0]) as pilot:  # narrow: run, ..., epochs (5), ...
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        await pilot.press("space")
        plot = app.screen.query_one(OverlayPlot)
        assert plot.curves == {"0001": []}  # selected before its first epoch
        store.record(first, EpochEnd(1, 3, {"train_loss": 0.9, "test_acc": 0.6}, 1000.0, 1.0))
        await wait_for(pilot, lambda: str(table.get_row(first)[5]) == "1/3", 5, "epoch 1")
        assert plot.curves == {"0001": [(1.0, 0.9)]} and plot.metric == "train_loss"
        await pilot.press("m")
        assert plot.metric == "test_acc" and plot.curves == {"0001": [(1.0, 0.6)]}
        second = "20260101-120100-mlp-0002"
        store.record(second, Started(second, "mlp", {"epochs": 3, "lr": 0.3}, "cpu", 0))
        await wait_for(pilot, lambda: second in shown_ids(app), 5, "the new run")
        assert shown_ids(app) == [second, first]
        assert table.highlighted is not None and table.highlighted.id == first  # kept
        store.record(first, Ended("stopped", "stopped by the user"))
        await wait_for(pilot, lambda: str(table.get_row(first)[3]) == "stopped", 5, "its end")
        assert table.layout_columns == NARROW


@pytest.mark.timeout(120)
async def test_a_thousand_runs_cost_one_query_and_draw_only_the_rows_on_screen(
        monkeypatch) -> None:
    """What keeps a long history quick (its time is benchmarks/runs_screen.py's, goal under
    0.5 s with 1000 runs; a test does not time it): opening reads the index in one query, builds
    each run's cells once and draws only the rows on screen; refiltering builds no cell again."""
    store = fill_store(1000)
    built, drawn, queries = [], [], []
    row_cells = runs_table.row_cells
    monkeypatch.setattr(runs_table, "row_cells",
                        lambda record, now: built.append(record.id) or row_cells(record, now))
    draw = runs_table.Cell.__rich_console__
    monkeypatch.setattr(runs_table.Cell, "__rich_console__",
                        lambda cell, *args: drawn.append(cell) or draw(cell, *args))
    for name in ("recent", "get", "epochs"):
        read = getattr(Store, name)
        monkeypatch.setattr(Store, name, lambda *args, _read=read, _name=name, **kw:
                            queries.append(_name) or _read(*args, **kw))
    app = App()
    app.CSS_PATH = LabApp.CSS_PATH
    async with app.run_test(size=SIZES[1]) as pilot:
        await app.push_screen(RunsScreen(store))
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        assert table.row_count == 1000
        assert table.shown[0].id.startswith("20260101-000999-")  # newest first
        assert queries == ["recent"]
        assert sorted(built) == sorted(r.id for r in table.shown)
        # The first frames draw the cells on screen about twice; all 1000 rows would be 8000.
        on_screen = table.size.height * len(table.layout_columns)
        assert 0 < len(drawn) <= 3 * on_screen, f"{len(drawn)} cells drawn, {on_screen} shown"
        built.clear()
        drawn.clear()
        app.screen.query_one("#runs-filter", Input).value = "lenet"
        await pilot.pause()
        assert table.row_count == 200 and {r.experiment for r in table.shown} == {"lenet"}
        app.screen.query_one("#runs-status", Select).value = "diverged"
        await pilot.pause()
        assert table.row_count == 40
        app.screen.query_one("#runs-filter", Input).value = ""
        app.screen.query_one("#runs-status", Select).value = Select.NULL
        await pilot.pause()
        assert table.row_count == 1000
        assert built == [] and queries == ["recent"]
        assert 0 < len(drawn) <= 3 * on_screen  # three refilters, each drawing a screen
