"""The lab's run history, as a part of the app: replay a recorded run into the Train tab, resume a
stopped one, follow (attach to) a run another process runs, start a detached run, and the Runs
list that picks among them.

Each shows its run through the path a live run takes (``LabApp._show_events``), so a replay
looks exactly as the run did. A followed run belongs to its own process: Stop asks that process
to stop, and quitting the lab only stops following.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import TabbedContent

from lab import catalog
from lab.events import Ended
from lab.spec import Experiment
from lab.store import RunRecord, read_events
from tui.run import Follower, resume_in_worker
from tui.screens.runs import RunsChoice, RunsScreen
from tui.widgets.catalog import CatalogTree
from tui.widgets.runlog import RunLog
from tui.widgets.status import RunStatus

if TYPE_CHECKING:
    from tui.app import LabApp


class RunHistory:
    """LabApp's recorded and detached runs (a mixin: it uses the app's widgets and state)."""

    async def open_run(self: LabApp, run_id: str) -> bool:
        """Show a recorded run as it ran: its values on Setup; its curves, figures, samples,
        status and log on Train (in one batch: the widgets redraw on their timers). A run
        that still runs is followed instead."""
        found = None if self._busy() else self._record(run_id)
        if found is None:
            return False
        record, exp = found
        if self.store.is_live(run_id):
            return await self.attach_run(run_id)
        try:
            events = read_events(self.store.run_dir(run_id))
        except OSError as err:
            self.notify(f"Run {run_id}'s events cannot be read: {err}", severity="warning",
                        markup=False)
            return False
        self._leave()
        self.handle = None  # what an earlier run still has queued is not this one's
        await self._show_record(record, exp)
        self._clear_train(exp, record.params)
        self.query_one(RunLog).note(f"the record of {run_id} ({record.status})", "dim")
        if not events or not isinstance(events[-1], Ended):
            # It ended without a word (killed, the machine went down): the store's verdict.
            elapsed = next((e.elapsed for e in reversed(events) if hasattr(e, "elapsed")), 0.0)
            events.append(Ended(record.status, record.reason, record.metrics, elapsed))
        self._show_events(events)
        self._sync_controls()
        return True

    async def resume_run(self: LabApp, run_id: str) -> bool:
        """Continue a stopped, interrupted or crashed run here: its history first, then its
        next epochs live. One that cannot continue is refused with ``plan_resume``'s reason
        (decided in the run thread: loading the checkpoint imports torch)."""
        found = None if self._busy() else self._record(run_id)
        if found is None:
            return False
        record, exp = found
        if not self.store.is_live(run_id) and not await self.open_run(run_id):
            return False
        self._leave()  # a run still going has no history to show yet: it is refused below
        status = self.query_one(RunStatus)
        self._before_resume = (status.state, status.detail)
        spawn = resume_in_worker(self.run_workers, run_id)
        self.handle = Follower(self.post_message, exp, spawn=spawn, owned=True)
        status.set_state("starting", f"resuming after epoch {record.epochs_done}")
        self.query_one(TabbedContent).active = "train"
        self.handle.start()
        self._sync_controls()
        return True

    async def attach_run(self: LabApp, run_id: str) -> bool:
        """Follow a run another process runs (detached, another terminal, the CLI): its events
        so far, then live. Stop asks that process to stop; quitting leaves it running. A run
        that no longer runs is shown as recorded."""
        handle = self.handle
        if isinstance(handle, Follower) and handle.running and handle.run_id == run_id:
            self.query_one(TabbedContent).active = "train"
            return True
        found = None if self._busy() else self._record(run_id)
        if found is None:
            return False
        record, exp = found
        if not self.store.is_live(run_id):
            self.notify(f"Run {run_id} is not running ({record.status}): here is its record.")
            return await self.open_run(run_id)
        self._leave()
        self.handle = Follower(self.post_message, exp, run_id)
        await self._show_record(record, exp)
        self._start(exp, record.params, f"attaching to {run_id}")
        return True

    def action_runs(self: LabApp) -> None:
        """The recorded runs: Enter replays one, r resumes it, a attaches to it (ctrl+y again or
        Esc closes the list)."""
        if isinstance(self.screen, RunsScreen):
            self.screen.dismiss(None)
        else:
            self.push_screen(RunsScreen(self.store), self._runs_chosen)

    async def _runs_chosen(self: LabApp, choice: RunsChoice | None) -> None:
        if choice is not None:
            act = {"open": self.open_run, "resume": self.resume_run, "attach": self.attach_run}
            await act[choice.action](choice.run_id)

    def _record(self: LabApp, run_id: str) -> tuple[RunRecord, Experiment] | None:
        """A recorded run and its experiment; None (and a notice) if either is unknown."""
        record = self.store.get(run_id)
        if record is None:
            self.notify(f"No run {run_id!r}.", severity="warning")
            return None
        try:
            return record, catalog.get(record.experiment)
        except catalog.UnknownExperiment as err:
            self.notify(f"Run {run_id}: {err}.", severity="warning", markup=False)
            return None

    def _busy(self: LabApp) -> bool:
        """A run trains here: the Train tab is taken (say so)."""
        if self.training:
            self.notify("A run is training: stop it first (ctrl+x).", severity="warning")
        return self.training

    async def _show_record(self: LabApp, record: RunRecord, exp: Experiment) -> None:
        """The run's experiment on Setup with the run's values, as if chosen and filled in."""
        self.query_one(CatalogTree).move_to(exp.id)
        await self.load(exp, record)
