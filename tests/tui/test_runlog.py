"""The run log grows without re-laying out the screen: a line no wider than those before moves
only its scrollbar's thumb, and the newest line stays in view."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from tests.tui.test_runs_screen import screen_lines
from tui.widgets.runlog import RunLog


class LogApp(App):
    CSS = "RunLog { height: 6; }"

    def compose(self) -> ComposeResult:
        yield RunLog(id="log")


def screen_text(app: App) -> str:
    return "\n".join(screen_lines(app))


@pytest.mark.timeout(30)
async def test_lines_after_the_log_overflows_lay_nothing_out() -> None:
    app = LogApp()
    async with app.run_test(size=(40, 10)) as pilot:
        log = app.query_one(RunLog)
        layouts: list[int] = []
        refresh = log.refresh

        def counting(*regions, **flags):  # noqa: ANN002, ANN003, ANN202
            layouts.extend([1] if flags.get("layout") else [])
            return refresh(*regions, **flags)

        log.refresh = counting  # type: ignore[method-assign]
        for i in range(8):  # wider lines than any before, the log overflows: a layout
            log.note(f"line {i:02}")
        await pilot.pause()
        assert layouts and log.max_scroll_y > 0
        layouts.clear()
        for i in range(8, 40):
            log.note(f"line {i:02}")
            await pilot.pause()
        assert not layouts
        assert log.vertical_scrollbar.window_virtual_size == 40 == log.virtual_size.height
        assert log.scroll_y == log.max_scroll_y > 30
        assert "line 39" in screen_text(app) and "line 30" not in screen_text(app)
        log.clear()
        log.note("again")
        await pilot.pause()
        assert layouts and log.max_scroll_y == 0 and "again" in screen_text(app)
