"""One run on several processes from the lab (issue 10): a data-parallel experiment's device
picker offers "2 cpu processes" (and all GPUs, when there are several), the form states the
batch semantics, Run starts it under torchrun and the lab follows it as it follows a detached
run; other experiments do not offer it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Select

from lab import catalog, dist
from lab.store import Store
from tests.test_dist import in_the_ranks
from tests.tui.test_app import SIZE, set_field, wait_for
from tui.app import LabApp
from tui.widgets.description import Description
from tui.widgets.form import parallel_options
from tui.widgets.status import RunStatus


def test_the_choices_name_one_device_per_process() -> None:
    assert parallel_options(["cpu"]) == [("2 cpu processes · data-parallel (gloo)", "cpu,cpu")]
    assert parallel_options(["cpu", "cuda:0", "cuda:1"])[1] == (
        "2 GPUs · data-parallel (NCCL)", "cuda:0,cuda:1")
    assert len(parallel_options(["cpu", "cuda:0"])) == 1  # one GPU: nothing to spread over


async def test_only_a_data_parallel_experiment_offers_several_processes() -> None:
    app = LabApp("linreg", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        with pytest.raises(Exception, match="cpu,cpu"):  # not among the choices
            app.query_one("#device", Select).value = "cpu,cpu"
        assert "Several devices" not in str(app.query_one(Description).render())
        await app.load(catalog.get("softmax"))
        await pilot.pause()
        app.query_one("#device", Select).value = "cpu,cpu"
        assert dist.SEMANTICS in " ".join(str(app.query_one(Description).render()).split())


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_two_cpu_processes_train_one_run_followed_live(
        fashion_mnist, lab_home: Path, tmp_path: Path, monkeypatch) -> None:
    in_the_ranks(monkeypatch, tmp_path)  # each rank cuts Fashion-MNIST to 3000 + 1000 images
    app = LabApp("softmax", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        app.query_one("#preset", Select).value = "quick"
        await pilot.pause()
        await set_field(pilot, "epochs", "2")
        app.query_one("#device", Select).value = "cpu,cpu"
        await pilot.pause()
        await pilot.press("ctrl+r")
        status = app.query_one(RunStatus)
        await wait_for(pilot, lambda: status.epoch >= 1, 120, "the first epoch, live")
        await wait_for(pilot, lambda: app.handle is not None and app.handle.done.is_set(), 120,
                       "the run to end")
        await pilot.pause(0.1)
        assert status.state == "finished", status.detail
    [record] = Store().recent()
    assert record.status == "finished" and record.epochs_done == 2
    config = json.loads((Store().run_dir(record.id) / "config.json").read_text())
    assert config["distributed"]["world_size"] == 2
    assert config["distributed"]["backend"] == "gloo"
