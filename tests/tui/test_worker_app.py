"""The lab trains in a worker process, never in its own (where the UI and the training loop
would share one GIL): the worker is started ahead so that Run starts at once, the next one is
started when a run ends, and a lab that is killed outright leaves its run interrupted with its
checkpoint, not running on with no one to stop it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from lab.store import Store
from tests.ptyapp import open_lab, start_long_run
from tests.tui.test_app import SIZE, set_field, wait_for
from tui.app import WORKER_DELAY, LabApp
from tui.widgets.status import RunStatus


def waiting_worker(app: LabApp):
    return app.run_workers.waiting


@pytest.mark.timeout(90)
async def test_a_run_goes_to_the_worker_started_ahead_and_the_next_one_is_started(
        lab_home: Path) -> None:
    app = LabApp("linreg-scratch")  # probe=True: the lab as `d2l-lab` opens it
    async with app.run_test(size=SIZE) as pilot:
        # Started WORKER_DELAY after the first paint (later on a busy machine), before any Run.
        await wait_for(pilot, lambda: waiting_worker(app) is not None, WORKER_DELAY + 10,
                       "a worker started ahead")
        ahead = waiting_worker(app)
        await set_field(pilot, "epochs", "2")
        await pilot.press("ctrl+r")
        status = app.query_one(RunStatus)
        await wait_for(pilot, lambda: status.state == "finished", 60, "the run to finish")
        [record] = Store().recent()
        assert Store().run_dir(record.id).joinpath("last.pt").exists()
        # It trained in the worker started ahead, not in the lab's process.
        events = (Store().run_dir(record.id) / "events.jsonl").read_text()
        assert '"kind": "started"' in events
        assert ahead.wait(20) == 0 and ahead.pid != os.getpid()
        await wait_for(pilot, lambda: waiting_worker(app) not in (None, ahead), 10,
                       "the next worker")
        following = waiting_worker(app)
    assert following is not None
    assert following.wait(20) == 0  # the lab closed: the idle worker left with it


@pytest.mark.timeout(90)
def test_a_killed_lab_leaves_its_run_interrupted_with_its_checkpoint(lab_home: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TERM": "xterm-256color"}
    with open_lab(env) as app:
        start_long_run(app)
        [record] = Store().recent()
        worker = Store().pid(record.id)
        assert worker is not None and worker != app.proc.pid
        deadline = time.monotonic() + 30
        while not (Store().run_dir(record.id) / "last.pt").exists():
            assert time.monotonic() < deadline, "no epoch ended"
            app.read(0.1)
        app.proc.send_signal(signal.SIGKILL)  # no handler runs: only the pipe tells the worker
        app.proc.wait(10)
        deadline = time.monotonic() + 20
        while Store().get(record.id).status == "running":
            assert time.monotonic() < deadline, "the run went on without its lab"
            time.sleep(0.1)
    record = Store().get(record.id)
    assert record.status == "interrupted" and record.epochs_done >= 1
    assert (Store().run_dir(record.id) / "final.pt").exists()
    with pytest.raises(ProcessLookupError):
        for _ in range(100):  # it exits right after recording itself
            os.kill(worker, 0)
            time.sleep(0.1)
