"""The learning-rate schedule is drawn under the form before a run starts, and follows what
is typed: shown for a schedule, hidden for the constant rate or while the form is invalid."""

from __future__ import annotations

from textual.widgets import Input

from tests.tui.test_app import SIZE
from tui.app import LabApp
from tui.widgets.schedule import SchedulePreview


async def test_the_schedule_is_drawn_as_it_is_typed(tmp_path) -> None:
    app = LabApp("softmax", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        preview = app.query_one("#schedule", SchedulePreview)
        field = app.query_one("#param-lr_schedule", Input)
        assert not preview.display  # the book's constant rate: nothing to draw
        field.value = "step every=3 factor=0.5"
        await pilot.pause()
        assert preview.display
        drawn = str(preview.render())
        assert "learning rate per epoch" in drawn and "step every=3" in drawn
        assert "⠀" in drawn or any("\u2800" <= c <= "\u28ff" for c in drawn)  # braille line
        app.save_screenshot(str(tmp_path / "schedule.svg"))
        field.value = "step every=0"  # invalid: no drawing of a schedule that cannot run
        await pilot.pause()
        assert not preview.display
        field.value = "constant"
        await pilot.pause()
        assert not preview.display
