"""A run that fails in the lab: an error panel says why (and where the traceback is), Esc closes
it, and the lab goes on: the next run starts and finishes as if nothing had happened."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from textual.widgets import Static

from tests.tui.test_app import SIZE, screenshots, set_field, store_status, wait_for
from tui.app import LabApp
from tui.screens.error import ErrorScreen
from tui.widgets.runlog import RunLog
from tui.widgets.status import RunStatus

CUDA_OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79 GiB"


def break_forward_in_workers(monkeypatch, folder: Path, error: str) -> None:
    """The next nn.Linear forward in a worker process the lab starts raises ``error`` (a Python
    expression); the ones after it, in that process or a later one, work. The lab trains in
    workers, so the fault goes there: a sitecustomize on their path patches torch as they start."""
    site, raised = folder / "site", folder / "raised"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import pathlib
        import torch
        from torch import nn

        real, raised = nn.Linear.forward, pathlib.Path({str(raised)!r})

        def forward(self, x):
            if not raised.exists():
                raised.touch()
                raise {error}
            return real(self, x)

        nn.Linear.forward = forward
    """), encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(site), os.environ.get("PYTHONPATH")])))


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
    break_forward_in_workers(monkeypatch, tmp_path, f"torch.cuda.OutOfMemoryError({CUDA_OOM!r})"
                             if error == "oom" else
                             "RuntimeError('mat1 and mat2 shapes cannot be multiplied')")
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
    """The run could not be recorded (the lab's home is read-only): nothing is recorded, no
    worker gets it, and the panel says why."""
    from lab import detach
    from lab.store import StoreError

    def refuse(*args, **kwargs):
        raise StoreError(Path("/home/me/.local/share/d2l-lab"), PermissionError(
            13, "Permission denied"))

    monkeypatch.setattr(detach, "prepare", refuse)
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
