"""Run history in the lab: a recorded run replayed into the Train tab, a stopped one resumed, and
runs other processes run (detached, the CLI) followed live, stopped, and left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static, TabbedContent

from lab import catalog, detach, runner
from lab.cancel import Cancel
from lab.events import EpochEnd
from lab.store import Store
from tests.tui.test_app import screenshots, set_field, wait_for
from tui.app import LabApp
from tui.widgets.plot import LivePlot
from tui.widgets.runlog import RunLog
from tui.widgets.samples import SampleView
from tui.widgets.status import RunStatus

SIZES = [(80, 24), (100, 30)]
LINREG = catalog.get("linreg-scratch")


@pytest.fixture(autouse=True)
def one_omp_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Detached runs are other processes: one thread each, beside the test's own."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def linreg_run(cancel_after: int = 0, seed: int = 0, **overrides: str) -> str:
    """A linreg-scratch run recorded by the runner; ``cancel_after``: stopped (with its
    checkpoint) at that epoch's end, as Stop would."""
    cancel = Cancel()

    def stop_at(event: object) -> None:
        if isinstance(event, EpochEnd) and event.epoch == cancel_after:
            cancel.set()

    params = LINREG.resolve("book", overrides)
    result = runner.run(LINREG, params, seed=seed, sinks=[stop_at], cancel=cancel)
    assert result.status == ("stopped" if cancel_after else "finished")
    return result.run_id


def log_text(app: LabApp) -> str:
    return "\n".join(app.query_one(RunLog).lines_text)


def notices(app: LabApp) -> list[str]:
    """What the app tells with ``notify``, kept for the test to read."""
    said: list[str] = []
    notify = app.notify

    def keep(message: str, **kwargs: object) -> None:
        said.append(message)
        notify(message, **kwargs)  # type: ignore[arg-type]

    app.notify = keep  # type: ignore[method-assign]
    return said


def loss_epochs(app: LabApp) -> list[float]:
    return [x for x, _ in app.query_one(LivePlot).series.get("loss", [])]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("size", SIZES)
async def test_a_finished_run_replays_as_it_ran(one_thread, tmp_path: Path,
                                                size: tuple[int, int]) -> None:
    """Saves an SVG of the replay (D2L_LAB_SCREENSHOTS=DIR keeps them)."""
    run_id = linreg_run(seed=7, epochs="3", lr="0.05")
    store = Store()
    app = LabApp("mlp", probe=False)
    async with app.run_test(size=size) as pilot:
        assert await app.open_run(run_id)
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "train"
        # Setup holds the run's experiment and values, as if chosen and typed in.
        assert app.experiment is LINREG and app.form is not None
        assert app.form.overrides() == {"lr": "0.05", "batch_size": "10", "epochs": "3"}
        assert app.form.field("seed").text == "7" and app.form.preset == "book"
        plot = app.query_one(LivePlot)
        assert loss_epochs(app) == [1.0, 2.0, 3.0]
        recorded = [metrics["loss"] for _, metrics in store.epochs(run_id)]
        assert [y for _, y in plot.series["loss"]] == recorded
        assert len(plot.batch) == 3 * 100  # every batch loss (1000 examples / 10 a batch)
        log = log_text(app)
        assert f"the record of {run_id} (finished)" in log
        assert "seed 7" in log and "epoch 3: loss" in log and "finished after" in log
        status = app.query_one(RunStatus)
        assert (status.state, status.epoch, status.epochs) == ("finished", 3, 3)
        assert app.run_id == run_id
        plot.redraw()
        await pilot.pause()
        assert "loss" in plot.rendered.plain and "┤" in plot.rendered.plain
        app.save_screenshot(f"replay-{size[0]}x{size[1]}.svg", str(screenshots(tmp_path)))
        await pilot.press("ctrl+r")  # the form is the run's: Run repeats it
        await wait_for(pilot, lambda: app.handle is not None and app.handle.done.is_set(), 60,
                       "the repeated run")
    runs = store.recent()
    assert len(runs) == 2 and runs[0].params == runs[1].params and runs[0].seed == 7


async def test_a_crashed_run_replays_with_the_stores_verdict(lab_home: Path) -> None:
    """A run killed without a word has no Ended in its events: the store's crashed stands in."""
    from lab.events import Progress, Started
    from lab.store import EventLog

    store = Store()
    events = [Started("r-killed", "linreg-scratch", {"epochs": 5}, "cpu", 0),
              Progress(1, 5, 10, 100, [0.5], 1000.0, 0.4),
              EpochEnd(1, 5, {"loss": 0.25}, 1000.0, 1.0),
              Progress(2, 5, 50, 100, [0.1], 1000.0, 1.5)]
    store.run_dir("r-killed").mkdir(parents=True)
    log = EventLog(store.run_dir("r-killed") / "events.jsonl")
    for event in events:
        log(event)
        store.record("r-killed", event)
    log.close()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs: the run's process was killed
    import sqlite3

    with sqlite3.connect(lab_home / "runs.db") as db:
        db.execute("UPDATE runs SET pid = ? WHERE id = 'r-killed'", (gone.pid,))
    app = LabApp(probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await app.open_run("r-killed")
        await pilot.pause()
        status = app.query_one(RunStatus)
        assert status.state == "crashed" and "process ended" in status.detail
        assert status.eta is None  # no ETA for a run that is not running
        assert loss_epochs(app) == [1.0]
        assert "crashed after 0:02: its process ended" in log_text(app)


@pytest.mark.timeout(120)
async def test_a_language_models_replay_writes_with_its_checkpoint(
        one_thread, time_machine: bool) -> None:
    rnn = catalog.get("rnn")
    result = runner.run(rnn, rnn.resolve("book", {"epochs": "10", "num_hiddens": "16"}))
    assert result.status == "finished"
    app = LabApp(probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await app.open_run(result.run_id)
        await pilot.pause()
        samples = app.query_one(SampleView)
        assert samples.display and not samples.prefix_box.disabled
        shown = str(app.query_one("#sample-text", Static).render())
        assert shown.startswith("epoch 10 ")  # the sample it wrote at its last epoch
        samples.prefix_box.focus()
        await pilot.press(*"the time", "enter")
        await wait_for(pilot, lambda: any(line.startswith("you asked: the time")
                                          for line in app.query_one(RunLog).lines_text),
                       30, "the model to write")


@pytest.mark.timeout(120)
async def test_a_stopped_run_resumes_to_its_end(one_thread) -> None:
    run_id = linreg_run(cancel_after=1, epochs="4")
    store = Store()
    assert store.get(run_id).epochs_done == 1
    app = LabApp(probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await app.resume_run(run_id)
        assert app.query_one(TabbedContent).active == "train"
        await wait_for(pilot, lambda: app.handle is not None and app.handle.done.is_set(), 60,
                       "the resumed run to end")
        await pilot.pause(0.1)
        assert loss_epochs(app) == [1.0, 2.0, 3.0, 4.0]  # the first from the record, once
        log = log_text(app)
        assert "stopped after" in log and "resumed after epoch 1 on cpu" in log
        assert log.rindex("finished after") > log.index("resumed after epoch 1")
        assert app.query_one(RunStatus).state == "finished"
        assert not app.query_one("#run").disabled
    record = store.get(run_id)
    assert (record.status, record.epochs_done) == ("finished", 4)
    assert [epoch for epoch, _ in store.epochs(run_id)] == [1, 2, 3, 4]
    assert len(store.recent()) == 1  # the same run, not a new one


@pytest.mark.timeout(90)
async def test_a_run_that_cannot_continue_is_refused_with_the_reason(one_thread) -> None:
    run_id = linreg_run(epochs="2")
    app = LabApp(probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        said = notices(app)
        assert await app.resume_run(run_id)  # the history shows; the run thread refuses
        await wait_for(pilot, lambda: app.handle is not None and app.handle.done.is_set(), 60,
                       "the refusal")
        await pilot.pause(0.1)
        assert any("finished: there is nothing left to resume" in note for note in said)
        status = app.query_one(RunStatus)
        assert status.state == "finished" and status.epoch == 2  # as the record left it
        assert loss_epochs(app) == [1.0, 2.0]
        assert not await app.resume_run("no-such-run")
        assert said[-1] == "No run 'no-such-run'."
    assert Store().get(run_id).status == "finished"


@pytest.mark.timeout(120)
async def test_ctrl_y_lists_the_runs_and_what_is_chosen_there_happens(one_thread) -> None:
    from tui.screens.runs import RunsScreen

    finished = linreg_run(epochs="2")
    stopped = linreg_run(cancel_after=1, epochs="3")  # the newest: the list starts on it
    store = Store()
    app = LabApp(probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+y")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("ctrl+d", "ctrl+r")  # the lab's keys wait while the list is open
        await pilot.pause()
        assert app.handle is None and isinstance(app.screen, RunsScreen)
        await pilot.press("ctrl+y")  # its key closes it too
        assert not isinstance(app.screen, RunsScreen)

        await pilot.press("ctrl+y")
        await pilot.pause()
        await pilot.press("r")  # resume the stopped run
        await wait_for(pilot, lambda: app.handle is not None and app.handle.done.is_set(), 60,
                       "the resumed run to end")
        assert not isinstance(app.screen, RunsScreen)
        assert app.run_id == stopped and store.get(stopped).status == "finished"

        await pilot.press("ctrl+y")
        await pilot.pause()
        await pilot.press("down", "enter")  # the older run: replayed
        await wait_for(pilot, lambda: app.run_id == finished, 10, "the replay")
        assert app.query_one(TabbedContent).active == "train"
        assert loss_epochs(app) == [1.0, 2.0]


def spawn_long_run(store: Store, epochs: int = 300) -> tuple[str, subprocess.Popen]:
    """linreg-scratch one example a batch (~0.2 s an epoch) in a detached process, started."""
    params = LINREG.resolve("book", {"epochs": str(epochs), "batch_size": "1"})
    run_id, proc = detach.spawn(store, LINREG, params, device="cpu", seed=0, preset="book")
    detach.wait_started(store, run_id, proc)
    return run_id, proc


def end(proc: subprocess.Popen) -> None:
    """Stop a detached run a failed test left behind."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def epochs_arrive(pilot: Pilot, count: int) -> None:
    """Wait for the followed run's history, then for ``count`` epochs more."""
    app = pilot.app
    status = app.query_one(RunStatus)
    await wait_for(pilot, lambda: status.state == "running", 60, "the run's history")
    seen = len(loss_epochs(app))
    await wait_for(pilot, lambda: len(loss_epochs(app)) >= seen + count, 60,
                   f"{count} more epochs")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("size", SIZES)
async def test_attach_follows_another_process_run_leaves_it_on_quit_and_stops_it(
        tmp_path: Path, size: tuple[int, int]) -> None:
    """Saves an SVG of the followed run (D2L_LAB_SCREENSHOTS=DIR keeps them)."""
    store = Store()
    run_id, proc = spawn_long_run(store)
    try:
        app = LabApp(probe=False)
        async with app.run_test(size=size) as pilot:
            assert await app.attach_run(run_id)
            await epochs_arrive(pilot, 2)
            status = app.query_one(RunStatus)
            assert f"attached · pid {proc.pid}" in str(status.render())
            assert app.experiment is LINREG and app.form is not None
            assert app.form.overrides()["batch_size"] == "1"
            assert not app.query_one("#stop").disabled
            epochs = loss_epochs(app)
            assert epochs == [float(e) for e in range(1, len(epochs) + 1)]  # each once, in order
            await pilot.press("ctrl+q")  # quitting only stops following
            await wait_for(pilot, lambda: not app.is_running, 10, "the app to exit")
        assert proc.poll() is None and store.is_live(run_id)

        app = LabApp(probe=False)
        async with app.run_test(size=size) as pilot:
            assert await app.open_run(run_id)  # a run still going is followed, not replayed
            await epochs_arrive(pilot, 2)
            status = app.query_one(RunStatus)
            app.query_one(LivePlot).redraw()
            await pilot.pause()
            app.save_screenshot(f"attached-{size[0]}x{size[1]}.svg", str(screenshots(tmp_path)))
            await pilot.press("ctrl+x")  # Stop: the run's process is asked, as Ctrl+C there
            await wait_for(pilot, lambda: status.state == "stopped", 30, "the run to stop")
            await wait_for(pilot, lambda: app.handle is not None and app.handle.done.is_set(),
                           10, "the follower to end")
            await pilot.pause(0.1)
            assert "attached" not in str(status.render())
            assert "stopped by the user" in log_text(app)
            assert app.query_one("#stop").disabled
        assert proc.wait(15) == 1  # a detached run that did not finish
    finally:
        end(proc)
    record = store.get(run_id)
    assert record.status == "stopped" and 4 <= record.epochs_done < 300
    assert (store.run_dir(run_id) / "last.pt").exists()


@pytest.mark.timeout(60)
async def test_a_followed_run_whose_process_dies_is_shown_crashed() -> None:
    store = Store()
    run_id, proc = spawn_long_run(store)
    try:
        app = LabApp(probe=False)
        async with app.run_test(size=(80, 24)) as pilot:
            assert await app.attach_run(run_id)
            await epochs_arrive(pilot, 1)
            proc.kill()  # SIGKILL: no end recorded
            proc.wait(10)
            status = app.query_one(RunStatus)
            await wait_for(pilot, lambda: status.state == "crashed", 20, "the crash to be seen")
            assert "process ended without recording an end" in log_text(app)
    finally:
        end(proc)
    assert store.get(run_id).status == "crashed"


@pytest.mark.timeout(120)
async def test_detach_runs_the_form_apart_and_the_session_ending_leaves_it() -> None:
    store = Store()
    app = LabApp("linreg-scratch", probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await set_field(pilot, "batch_size", "1")
        await set_field(pilot, "epochs", "300")  # a field has focus: ctrl+d still detaches
        await pilot.press("ctrl+d")
        assert app.query_one(TabbedContent).active == "train"
        await epochs_arrive(pilot, 1)
        run_id, pid = app.run_id, app.query_one(RunStatus).attached
        assert pid is not None and pid != os.getpid() and store.pid(run_id) == pid
        assert "following " + run_id in log_text(app)
        assert not app.query_one("#run").disabled  # a followed run does not keep Run off
        await app._quit_on_signal(signal.SIGTERM)  # as the lab's SIGTERM/SIGHUP handler does
        await wait_for(pilot, lambda: not app.is_running, 10, "the app to exit")
    try:
        assert store.is_live(run_id)
        wanted = store.get(run_id).epochs_done + 2
        deadline = time.monotonic() + 30
        while store.get(run_id).epochs_done < wanted and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.get(run_id).epochs_done >= wanted  # it went on without the lab
    finally:
        detach.stop(store, run_id)
        deadline = time.monotonic() + 20
        while store.get(run_id).status == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
    assert store.get(run_id).status == "stopped"
