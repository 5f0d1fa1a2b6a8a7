"""A sweep started from the form: a field holding three learning rates runs softmax (quick) three
times, each shown live, and the Runs screen overlays the three runs' curves."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Select, Static

from lab.store import Store
from tests.tui.test_app import choose, screenshots, set_field, wait_for
from tests.tui.test_runs_screen import go_to, screen_lines
from tui.app import LabApp
from tui.screens.runs import RunsScreen
from tui.sweep import SweepHandle
from tui.widgets.overlay import OverlayPlot
from tui.widgets.runlog import RunLog

LRS = ("0.03", "0.1", "0.3")


@pytest.mark.timeout(240)
async def test_a_sweep_from_the_form_runs_each_value_and_the_runs_screen_overlays_them(
        small_fashion_mnist, one_thread, tmp_path: Path) -> None:
    out = screenshots(tmp_path)
    app = LabApp(probe=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await choose(pilot, "softmax")
        app.query_one("#preset", Select).value = "quick"
        await pilot.pause()
        await set_field(pilot, "lr", ", ".join(LRS))
        assert "a sweep of 3 runs" in str(app.query_one("#form-note", Static).render())
        assert not app.query_one("#detach").display  # a sweep runs here, one after another
        await pilot.press("ctrl+r")
        handle = app.handle
        assert isinstance(handle, SweepHandle)
        await wait_for(pilot, lambda: handle.done.is_set(), 180, "the sweep to end")
        await pilot.pause(0.3)
        log = "\n".join(app.query_one(RunLog).lines_text)
        assert "run 3/3 · lr=0.3" in log and "3 of 3 runs finished" in log

        runs = Store().recent(sweep=handle.sweep_id)
        assert sorted(r.params["lr"] for r in runs) == [0.03, 0.1, 0.3]
        assert {r.status for r in runs} == {"finished"}
        assert all(r.epochs_done == 3 for r in runs)

        await pilot.press("ctrl+y")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        for run in runs:
            await go_to(pilot, run.id)
            await pilot.press("space")
        await pilot.press("m")  # loss first; the next metric is an accuracy
        await pilot.pause()
        plot = app.screen.query_one(OverlayPlot)
        plot.redraw()
        assert set(plot.curves) == {f"lr={lr}" for lr in LRS}
        assert all(len(points) == 3 for points in plot.curves.values())
        text = "\n".join(screen_lines(app))
        for lr in LRS:
            assert f"lr={lr}" in text
        app.save_screenshot("sweep-overlay-100x30.svg", str(out))
