"""A demo's Table events in the lab: drawn in the run log, their rows kept as readable text."""

from __future__ import annotations

import pytest

from tests.tui.test_app import SIZE, run_to_end
from tui.app import LabApp
from tui.widgets.plot import LivePlot
from tui.widgets.runlog import RunLog


@pytest.mark.timeout(60)
async def test_the_norm_labs_tables_reach_the_run_log() -> None:
    app = LabApp("norm-lab", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(pilot)
        lines = app.query_one(RunLog).lines_text
        text = "\n".join(lines)
        assert "nn.BatchNorm2d(3) on an input of shape (2, 3, 4, 4)" in lines
        # Each row a line, its cells apart: the lecture's answers read as a table would.
        rows = [line.split() for line in lines]
        assert ["means", "3"] in rows and ["variances", "3"] in rows
        assert ["γ", "(weight)", "shape", "[3]"] in rows
        assert " ".join(["channel", "running mean", "mean by hand", "running var",
                         "var by hand"]).split() in rows
        assert "finished" in text
        # Nothing was plotted: the empty plot makes way for the log.
        assert not app.query_one(LivePlot).display and app.query_one(RunLog).size.height > 12
