"""Running, as a part of the app: start a run from the form (in one of the lab's worker
processes, or detached in a process of its own), stop it, and show what it tells on the Train
tab.

Either way a Follower (tui/run.py) watches the run's events file and posts its events in
batches; ``_show_events`` feeds them, or a whole recorded run (tui/history.py), to the same
widgets. Nothing trains in the app's own process: there the training loop and the UI would
share one GIL, and small models trained at a third of their speed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Button, TabbedContent

from lab import catalog
from lab.events import FAILED, Event, Heatmap, Predictions, Started
from lab.spec import Experiment, ParamError, Params
from lab.store import Store
from tui.messages import RunEvents, RunFinished, SweepFinished, SweepStep, TextWritten
from tui.run import Follower, data_parallel, in_worker, write_text
from tui.screens.error import ErrorScreen
from tui.sweep import SweepHandle
from tui.widgets.heatmap import HeatmapView
from tui.widgets.plot import VIEW_KEY, LivePlot
from tui.widgets.runlog import RunLog
from tui.widgets.samples import CHARS, SampleView
from tui.widgets.status import RunStatus

if TYPE_CHECKING:
    from tui.app import LabApp


class RunControl:
    """LabApp's runs: Run, Detach, Stop, and the events they send (a mixin: it uses the app's
    widgets and state)."""

    @property
    def running(self: LabApp) -> bool:
        """A run is shown live: the lab's own, or one followed."""
        return self.handle is not None and self.handle.running

    @property
    def training(self: LabApp) -> bool:
        """The lab's own run trains (a followed one does not keep Run from starting)."""
        return self.running and self.handle is not None and not self.handle.follows

    def on_button_pressed(self: LabApp, event: Button.Pressed) -> None:
        if event.button.id == "run":
            self.action_run()
        elif event.button.id == "detach":
            self.action_detach()
        elif event.button.id == "stop":
            self.action_stop()
        elif event.button.id == "shapes":
            self.action_shapes()

    def _form_run(self: LabApp) -> tuple[Experiment, Params, int] | None:
        """The experiment and validated values (params, seed) on the form, if they can run."""
        form, exp = self.form, self.experiment
        if self.training or form is None or exp is None:
            return None
        if not form.revalidate():
            self.query_one(TabbedContent).active = "setup"
            self.notify("Some fields are invalid: fix the ones marked ✗.", severity="warning")
            return None
        try:
            params, seed = form.resolve()
        except ParamError as err:
            self.notify(str(err), severity="error", markup=False)
            return None
        return exp, params, seed

    def action_run(self: LabApp) -> None:
        if self.form is not None and self.form.is_sweep:
            self._run_sweep()
            return
        chosen = self._form_run()
        if chosen is None or self.form is None:
            return
        exp, params, seed = chosen
        device, preset = self.form.device, self.form.preset
        self._leave()
        if "," in device:  # one process per device: torchrun's, followed as a detached run
            spawn = data_parallel(exp, params, device=device, seed=seed, preset=preset)
            self.handle = Follower(self.post_message, exp, spawn=spawn, owned=True,
                                   distributed=True)
        else:
            spawn = in_worker(self.run_workers, exp, params, device=device, seed=seed,
                              preset=preset)
            self.handle = Follower(self.post_message, exp, spawn=spawn, owned=True)
        self._start(exp, params, exp.id)

    def _run_sweep(self: LabApp) -> None:
        """Fields holding several values ("0.1, 0.3"): run every combination in turn, each
        shown live; the Runs list (ctrl+y) then overlays them."""
        form, exp = self.form, self.experiment
        if self.training or form is None or exp is None:
            return
        if not form.revalidate():
            self.query_one(TabbedContent).active = "setup"
            self.notify("Some fields are invalid: fix the ones marked ✗.", severity="warning")
            return
        try:
            points = form.sweep_points()
        except ParamError as err:
            self.notify(str(err), severity="error", markup=False)
            return
        if "," in form.device:
            self.notify("A sweep runs its runs one after another on one device: choose one.",
                        severity="warning")
            return
        self._leave()
        self.handle = SweepHandle(self.post_message, exp, points, device=form.device,
                                  preset=form.preset, workers=self.run_workers)
        self._start(exp, points[0].params, f"{exp.id} · sweep of {len(points)} runs")

    def on_sweep_step(self: LabApp, message: SweepStep) -> None:
        if message.handle is not self.handle or self.experiment is None:
            return
        handle = self.handle
        assert isinstance(handle, SweepHandle)
        self._clear_train(handle.experiment, message.params)
        self.query_one(RunStatus).set_state(
            "starting", f"sweep {message.index}/{message.total} · {message.label}", fresh=True)
        self.query_one(RunLog).note(f"sweep {message.sweep}: run {message.index}/"
                                    f"{message.total} · {message.label}", "bold")

    def on_sweep_finished(self: LabApp, message: SweepFinished) -> None:
        if message.handle is not self.handle:
            return
        finished = sum(r.status == "finished" for r in message.results)
        self.query_one(RunLog).note(
            f"sweep {message.sweep}: {finished} of {message.total} runs finished; ctrl+y "
            f"overlays them (or `d2l-lab runs compare --sweep {message.sweep}`)", "bold")

    def action_detach(self: LabApp) -> None:
        """Run the form's values in a process of its own, which outlives the lab (and the
        terminal), and follow it."""
        chosen = self._form_run()
        if chosen is None or self.form is None:
            return
        exp, params, seed = chosen
        device, preset = self.form.device, self.form.preset

        def spawn(store: Store):  # in the follower's thread: the device check imports torch
            from lab import detach, devices

            return detach.spawn(store, exp, params, device=devices.validate(device), seed=seed,
                                preset=preset)

        distributed = "," in device
        if distributed:  # torchrun's supervisor already lives in a session of its own
            spawn = data_parallel(exp, params, device=device, seed=seed, preset=preset)
        self._leave()
        self.handle = Follower(self.post_message, exp, spawn=spawn, distributed=distributed)
        self._start(exp, params, f"{exp.id} · starting a detached run")

    def _start(self: LabApp, exp: Experiment, params: Params | dict, state: str) -> None:
        """Clear the Train tab for a run of ``exp`` and start ``self.handle``."""
        self._clear_train(exp, params)
        self.query_one(RunStatus).set_state("starting", state, fresh=True)
        assert self.handle is not None
        self.handle.start()
        self._sync_controls()

    def _clear_train(self: LabApp, exp: Experiment, params: Params | dict) -> None:
        """Empty the Train tab's figures for a run of ``exp`` with ``params``, and show it."""
        epochs = params.get("epochs")
        self.query_one(LivePlot).reset(epochs if isinstance(epochs, int) else None, waiting=True,
                                       log_loss=exp.log_loss)
        self.query_one(HeatmapView).reset()
        self._show_heatmaps(False)
        self._maps_auto = None
        self._before_resume = None
        self.query_one(SampleView).display = exp.writes_text
        status = self.query_one(RunStatus)
        status.unit = "tok" if exp.unit == "tokens" else "ex"
        status.set_attached(None)
        self.query_one(TabbedContent).active = "train"

    def _leave(self: LabApp) -> None:
        """Stop following a run another process runs (it goes on); the Train tab is free."""
        if isinstance(self.handle, Follower) and self.handle.follows and self.handle.running:
            self.handle.leave()
            self.query_one(RunLog).note(f"left {self.handle.run_id}: it goes on", "dim")

    def action_stop(self: LabApp) -> None:
        handle = self.handle
        if not self.running or handle is None:
            return
        if not handle.stop():
            self.notify(f"Run {handle.run_id} does not run on this machine: it cannot be "
                        "stopped from here.", severity="warning")
            return
        if handle.follows:
            detail = f"asked pid {handle.pid} to stop" if handle.pid else "asked it to stop"
        else:
            detail = "finishing the current batch"
        self.query_one(RunStatus).set_state("stopping", detail)

    # -- what a run tells ---------------------------------------------------------------------

    def on_run_events(self: LabApp, message: RunEvents) -> None:
        if message.handle is not None and message.handle is not self.handle:
            return  # a run the app has left
        handle, status = message.handle, self.query_one(RunStatus)
        if isinstance(handle, Follower) and handle.follows and status.attached != handle.pid:
            self.query_one(RunLog).note(
                f"following {handle.run_id} (pid {handle.pid}): ctrl+x stops it; quitting the "
                "lab leaves it running", "dim")
            status.set_attached(handle.pid)
        self._show_events(message.events)

    def _show_events(self: LabApp, events: list[Event]) -> None:
        """Feed a run's events to the Train tab's widgets: a live batch, or a whole record."""
        plot, status = self.query_one(LivePlot), self.query_one(RunStatus)
        log, samples = self.query_one(RunLog), self.query_one(SampleView)
        maps = self.query_one(HeatmapView)
        views, predictions, maps_before = len(plot.views), self.predictions, bool(maps.data)
        had_maps = maps_before
        for event in events:
            plot.add(event)
            maps.add(event)
            status.add(event)
            log.add(event)
            samples.add(event)
            if isinstance(event, Heatmap) and not had_maps:
                had_maps = True
                log.note(f"heatmaps ({event.group}, …): {VIEW_KEY} shows them", "dim")
            elif isinstance(event, Started):
                self.predictions, self.run_id = None, event.run_id
                self.shown = _experiment(event.experiment)
                self._before_resume = None  # it runs: a later error is not a refusal
            elif isinstance(event, Predictions):
                self.predictions = event
                log.note("test images and their predicted labels: ctrl+g shows them", "dim")
        # Heatmaps take the view while they are all a run has drawn (a demo of heatmaps), until
        # the user picks a view or a curve comes.
        if self._maps_auto is not False and had_maps:
            self._maps_auto = not plot.has_data
            self._show_heatmaps(self._maps_auto)
        # The Figure and Predictions keys show once there is something to go to (only then: the
        # footer's refresh restyles it, and every batch of a run with heatmaps cost the UI
        # a sixth of a core).
        if len(plot.views) != views or self.predictions is not predictions \
                or had_maps != maps_before:
            self.refresh_bindings()

    def on_run_finished(self: LabApp, message: RunFinished) -> None:
        if message.handle is not None and message.handle is not self.handle:
            return
        log, status = self.query_one(RunLog), self.query_one(RunStatus)
        status.set_attached(None)
        if message.error and self._before_resume is not None:  # refused: nothing changed
            self.notify(message.error, title="Cannot resume", severity="warning", timeout=8,
                        markup=False)
            status.set_state(*self._before_resume)
            self._before_resume = None
        elif message.error:  # the run could not start, or a lab bug: nothing was recorded
            log.note(message.error, "bold red")
            status.set_state("failed", message.error)
            self.push_screen(ErrorScreen(message.error))
        result = message.result
        if result is not None:
            log.note(f"saved as {result.run_id}", "dim")
            # A failed run says why in a panel (not one of a sweep: the sweep goes on).
            if result.status == FAILED and not isinstance(message.handle, SweepHandle):
                self.push_screen(ErrorScreen(result.reason, result.run_id, result.traceback))
        self._sync_controls()
        if not self.running:
            self.run_workers.warm(self.store)  # the next run's, while this one is read

    def on_sample_view_write(self: LabApp, message: SampleView.Write) -> None:
        """Let the shown run's model write after the prefix typed in the box."""
        if self.shown is not None and self.run_id:
            write_text(self.post_message, self.shown, self.store.run_dir(self.run_id),
                       message.prefix, CHARS)

    def on_text_written(self: LabApp, message: TextWritten) -> None:
        self.query_one(SampleView).written(message.prefix, message.text, message.error)
        if not message.error:
            self.query_one(RunLog).note(f"you asked: {message.text}")


def _experiment(exp_id: str) -> Experiment | None:
    try:
        return catalog.get(exp_id)
    except catalog.UnknownExperiment:
        return None
