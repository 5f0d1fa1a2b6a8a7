"""A run that fails in the lab: an error panel says why (and where the traceback is), Esc closes
it, and the lab goes on: the next run starts and finishes as if nothing had happened."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from tests.test_faults import break_forward
from tests.tui.test_app import SIZE, screenshots, set_field, store_status, wait_for
from tui.app import LabApp
from tui.screens.error import ErrorScreen
from tui.widgets.runlog import RunLog
from tui.widgets.status import RunStatus

CUDA_OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79 GiB"


def panel_text(app: LabApp) -> str:
    return str(app.screen.query_one("#error-body", Static).render())


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("error", "says", "traceback"), [
    ("oom", ["out of memory on cpu while allocating 2.00 GiB",
             "try a smaller batch_size (this run's is 10)"], False),
    ("bug", ["RuntimeError: mat1 and mat2 shapes cannot be multiplied"], True),
])
async def test_a_failed_run_shows_why_in_a_panel_and_the_next_run_works(
        error, says, traceback, monkeypatch, lab_home: Path, tmp_path: Path) -> None:
    import torch

    break_forward(monkeypatch, torch.cuda.OutOfMemoryError(CUDA_OOM) if error == "oom"
                       else RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    app = LabApp("linreg", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await set_field(pilot, "epochs", "2")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), 60, "the error panel")
        await pilot.pause()  # laid out
        run_id = app.run_id
        text = " ".join(panel_text(app).split())
        for words in says:
            assert words in text
        saved = lab_home / "runs" / run_id / "traceback.txt"
        assert saved.exists() == traceback
        if traceback:
            assert "The traceback is saved in" in text
            assert str(saved) in "".join(panel_text(app).split())  # the path, folded to fit
        assert "Run failed · " + run_id == app.screen.query_one("#panel").border_title
        app.save_screenshot(f"error-{error}.svg", str(screenshots(tmp_path)))

        # Behind it the lab says so too, and stays usable.
        status = app.query_one(RunStatus)
        assert status.state == "failed"
        ended = [line for line in app.query_one(RunLog).lines_text
                 if line.startswith("failed after")]
        assert len(ended) == 1 and says[0] in ended[0]
        await pilot.press("escape")
        assert not isinstance(app.screen, ErrorScreen)

        await pilot.press("ctrl+r")  # the same values again: this time the model works
        await wait_for(pilot, lambda: status.state == "finished", 60, "the next run to finish")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ErrorScreen)
    assert sorted(store_status(lab_home)) == ["failed", "finished"]


@pytest.mark.timeout(60)
async def test_a_run_that_cannot_start_shows_the_panel_too(monkeypatch) -> None:
    """The runner refused before a run existed (the lab's home is read-only): nothing is
    recorded, and the panel says why."""
    from lab import runner
    from lab.store import StoreError

    def refuse(*args, **kwargs):
        raise StoreError(Path("/home/me/.local/share/d2l-lab"), PermissionError(
            13, "Permission denied"))

    monkeypatch.setattr(runner, "run", refuse)
    app = LabApp("linreg-scratch", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), 30, "the error panel")
        text = " ".join(panel_text(app).split())
        assert "cannot write the lab's home /home/me/.local/share/d2l-lab: Permission denied" \
            in text and "D2L_LAB_HOME" in text
        assert app.screen.query_one("#panel").border_title == "Run failed"
        await pilot.press("escape")
        assert app.query_one(RunStatus).state == "failed"
        assert not app.query_one("#run").disabled
