"""d2l-lab's terminal console: pick an experiment, edit its parameters, run it, watch it learn.

Nothing here imports torch: the first screen paints at once, and torch is loaded by the device
probe after that paint, or by the run thread (see tui/run.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Static, TabbedContent, TabPane

from lab import catalog
from lab.events import Heatmap, Predictions, Started
from lab.spec import Experiment, ParamError
from tui.messages import DevicesFound, RunEvents, RunFinished, TextWritten
from tui.run import RunHandle, probe_devices, write_text
from tui.screens.help import HelpScreen
from tui.screens.panel import PanelScreen
from tui.screens.predictions import PredictionsScreen
from tui.screens.shapes import ShapesScreen
from tui.widgets.catalog import CatalogTree
from tui.widgets.description import Description, Heading
from tui.widgets.form import ParamForm
from tui.widgets.heatmap import HeatmapView
from tui.widgets.plot import VIEW_KEY, LivePlot
from tui.widgets.runlog import RunLog
from tui.widgets.samples import CHARS, SampleView
from tui.widgets.status import RunStatus

QUIT_WAIT = 1.5  # seconds quitting waits for a run to record itself as stopped
PROBE_DELAY = 0.3  # seconds after the first paint before the device probe imports torch


class LabApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "d2l-lab"
    BINDINGS = [
        Binding("ctrl+r,f5", "run", "Run", priority=True),
        Binding("ctrl+x,f6", "stop", "Stop", priority=True),
        Binding("ctrl+t", "switch_tab", "Setup/Train", priority=True),
        Binding("ctrl+l", "focus_catalog", "Catalog", priority=True),
        Binding(VIEW_KEY, "next_view", "Figure", priority=True),  # shown when a run has figures
        # Not in the footer (full at 80 columns): the Setup tab's Shapes button names it.
        Binding("ctrl+o", "shapes", "Shapes", priority=True, show=False),
        # Not ctrl+p: Textual's command palette. Shown once a run has drawn predictions.
        Binding("ctrl+g", "predictions", "Predictions", priority=True),
        Binding("f1", "help", "Help", priority=True),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, experiment_id: str | None = None, *, probe: bool = True,
                 handle_signals: bool = False) -> None:
        super().__init__()
        self._start_id = experiment_id
        self._probe = probe
        self._handle_signals = handle_signals
        self.experiment: Experiment | None = None
        self.devices: list[tuple[str, str]] = [("cpu", "cpu")]
        self.handle: RunHandle | None = None
        self.painted_at: float | None = None  # monotonic time of the first paint
        self.predictions: Predictions | None = None  # the latest run's, if it drew any
        self.run_id = ""  # the latest run's
        self._maps_auto: bool | None = None  # heatmaps shown by themselves; False: user chose

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Static("d2l-lab · 动手学深度学习", id="brand")
                yield CatalogTree(id="catalog")
            with TabbedContent(id="tabs", initial="setup"):
                with TabPane("Setup", id="setup"):
                    yield Heading(id="heading")
                    with VerticalScroll(id="setup-scroll"):
                        yield Vertical(id="form-holder")
                        yield Description(id="description")
                    with Horizontal(id="actions"):
                        yield Button("Run ^r", id="run", variant="success", compact=True)
                        yield Button("Stop ^x", id="stop", variant="error", compact=True,
                                     disabled=True)
                        yield Button("Shapes ^o", id="shapes", variant="primary", compact=True)
                        yield Static("", id="form-note")
                with TabPane("Train", id="train"):
                    yield LivePlot(id="plot")
                    yield HeatmapView(id="heatmaps")
                    yield SampleView(id="samples")
                    yield RunStatus(id="status")
                    yield RunLog(id="log")
        yield Footer(show_command_palette=False, compact=True)

    async def on_mount(self) -> None:
        start = catalog.experiments()[0]
        if self._start_id:
            try:
                start = catalog.get(self._start_id)
            except KeyError as err:
                self.notify(str(err), severity="warning")
        tree = self.query_one(CatalogTree)
        tree.move_to(start.id)
        tree.focus()
        await self.load(start)
        self.call_after_refresh(self._after_first_paint)
        if self._handle_signals:  # an SSH drop or a kill: stop the run cleanly, then leave
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(
                    sig, lambda sig=sig: asyncio.ensure_future(self._quit_on_signal(sig)))

    def _after_first_paint(self) -> None:
        self.painted_at = time.monotonic()
        if self._probe:
            self.set_timer(PROBE_DELAY, lambda: probe_devices(self.post_message))

    # -- the form -----------------------------------------------------------------------------

    @property
    def form(self) -> ParamForm | None:
        forms = self.query(ParamForm)
        return forms.first() if forms else None

    @property
    def running(self) -> bool:
        return self.handle is not None and self.handle.running

    async def load(self, exp: Experiment) -> None:
        """Show an experiment's description and a fresh form prefilled with its first preset."""
        device = self.form.device if self.form else "cpu"
        self.experiment = exp
        self.query_one(Heading).show(exp)
        self.query_one(Description).show(exp)
        if not self.running:  # a running language model keeps its samples in view
            self.query_one(SampleView).display = exp.writes_text
        holder = self.query_one("#form-holder")
        await holder.remove_children()
        await holder.mount(ParamForm(exp, devices=self.devices, device=device))
        self.query_one("#setup-scroll", VerticalScroll).scroll_home(animate=False)
        self._sync_controls()

    async def on_catalog_tree_chosen(self, event: CatalogTree.Chosen) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = "setup"  # before the await: a Run pressed meanwhile must win
        await self.load(event.experiment)
        if self.form and event.experiment.params and tabs.active == "setup":
            self.form.field(event.experiment.params[0].name).control.focus()

    def on_param_form_validity(self, event: ParamForm.Validity) -> None:
        self._sync_controls()

    def on_devices_found(self, event: DevicesFound) -> None:
        self.devices = event.devices
        if self.form:
            self.form.set_devices(event.devices)

    def _sync_controls(self) -> None:
        valid = self.form is not None and self.form.valid
        self.query_one("#run", Button).disabled = self.running or not valid
        self.query_one("#stop", Button).disabled = not self.running
        # Shapes need valid values too; while they are not, the note takes its place.
        self.query_one("#shapes", Button).display = valid
        note = "" if valid else "fix the fields marked ✗ to run"
        self.query_one("#form-note", Static).update(note)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run":  # None: shown dimmed in the footer
            return None if self.running or not (self.form and self.form.valid) else True
        if action == "stop":
            return True if self.running else None
        if action == "next_view":
            plots, maps = self.query(LivePlot), self.query(HeatmapView)
            return bool(plots) and len(plots.first().views) + bool(maps.first().data) > 1
        if action == "predictions":
            return self.predictions is not None
        return True

    # -- running ------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run":
            self.action_run()
        elif event.button.id == "stop":
            self.action_stop()
        elif event.button.id == "shapes":
            self.action_shapes()

    def action_run(self) -> None:
        form, exp = self.form, self.experiment
        if self.running or form is None or exp is None:
            return
        if not form.revalidate():
            self.query_one(TabbedContent).active = "setup"
            self.notify("Some fields are invalid: fix the ones marked ✗.", severity="warning")
            return
        try:
            params, seed = form.resolve()
        except ParamError as err:
            self.notify(str(err), severity="error")
            return
        self.handle = RunHandle(self.post_message, exp, params, device=form.device, seed=seed,
                                preset=form.preset)
        epochs = params.get("epochs")
        self.query_one(LivePlot).reset(epochs if isinstance(epochs, int) else None, waiting=True,
                                       log_loss=exp.log_loss)
        self.query_one(HeatmapView).reset()
        self._show_heatmaps(False)
        self._maps_auto = None
        self.query_one(SampleView).display = exp.writes_text
        status = self.query_one(RunStatus)
        status.unit = "tok" if exp.unit == "tokens" else "ex"
        status.set_state("starting", f"{exp.id} · loading torch", fresh=True)
        self.query_one(TabbedContent).active = "train"
        self.handle.start()
        self._sync_controls()

    def action_stop(self) -> None:
        if self.running and self.handle is not None:
            self.handle.stop()
            self.query_one(RunStatus).set_state("stopping", "finishing the current batch")

    def on_run_events(self, message: RunEvents) -> None:
        plot, status = self.query_one(LivePlot), self.query_one(RunStatus)
        log, samples = self.query_one(RunLog), self.query_one(SampleView)
        maps = self.query_one(HeatmapView)
        views, predictions, had_maps = len(plot.views), self.predictions, bool(maps.data)
        for event in message.events:
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
            elif isinstance(event, Predictions):
                self.predictions = event
                log.note("test images and their predicted labels: ctrl+g shows them", "dim")
        # Heatmaps take the view while they are all a run has drawn (a demo of heatmaps), until
        # the user picks a view or a curve comes.
        if self._maps_auto is not False and had_maps:
            self._maps_auto = not plot.has_data
            self._show_heatmaps(self._maps_auto)
        # The Figure and Predictions keys show once there is something to go to.
        if len(plot.views) != views or self.predictions is not predictions or had_maps:
            self.refresh_bindings()

    def on_run_finished(self, message: RunFinished) -> None:
        log = self.query_one(RunLog)
        if message.error:
            log.note(message.error, "bold red")
            self.query_one(RunStatus).set_state("failed", message.error)
        if message.result is not None:
            log.note(f"saved as {message.result.run_id}", "dim")
        self._sync_controls()

    def on_sample_view_write(self, message: SampleView.Write) -> None:
        """Let the latest run's model write after the prefix typed in the box."""
        result = self.handle.result if self.handle is not None else None
        if result is not None:
            write_text(self.post_message, self.handle.experiment, result.run_dir,
                       message.prefix, CHARS)

    def on_text_written(self, message: TextWritten) -> None:
        self.query_one(SampleView).written(message.prefix, message.text, message.error)
        if not message.error:
            self.query_one(RunLog).note(f"you asked: {message.text}")

    # -- navigation ---------------------------------------------------------------------------

    def action_switch_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = "train" if tabs.active == "setup" else "setup"

    def action_focus_catalog(self) -> None:
        self.query_one(CatalogTree).focus()

    def action_next_view(self) -> None:
        """The next view: the metrics, each figure, the heatmaps, and round again; from Setup,
        first the Train tab as it was."""
        tabs = self.query_one(TabbedContent)
        if tabs.active == "train":
            self._maps_auto = False
            plot, maps = self.query_one(LivePlot), self.query_one(HeatmapView)
            if maps.display:
                self._show_heatmaps(False)
                plot.view = None
                plot.redraw()
            elif maps.data and plot.current == plot.views[-1]:
                self._show_heatmaps(True)
            else:
                plot.next_view()
        tabs.active = "train"

    def _show_heatmaps(self, show: bool) -> None:
        """Heatmaps in the plot's place (they need its room), focused so their keys work."""
        maps = self.query_one(HeatmapView)
        if show and not maps.display:
            maps.focus()
        maps.display = show
        self.query_one(LivePlot).display = not show
        self.query_one("#train", TabPane).set_class(show, "-maps")  # the log gives them room

    def action_shapes(self) -> None:
        """The network of the experiment on the form, for the form's values (ctrl+o again or
        Esc closes it)."""
        if self._close_panel(ShapesScreen):
            return
        form, exp = self.form, self.experiment
        if form is None or exp is None:
            return
        try:
            params = exp.resolve(form.preset, form.overrides())  # the seed does not matter
        except ParamError as err:
            self.notify(f"Fix the fields marked ✗ first ({err}).", severity="warning")
            return
        self.push_screen(ShapesScreen(exp, params))

    def action_predictions(self) -> None:
        """The latest run's test images with true and predicted labels."""
        if not self._close_panel(PredictionsScreen) and self.predictions is not None:
            self.push_screen(PredictionsScreen(self.predictions, self.run_id))

    def _close_panel(self, kind: type[PanelScreen]) -> bool:
        """Close the panel on top; True if it was a ``kind`` (its key toggles it)."""
        screen = self.screen
        if isinstance(screen, PanelScreen):
            screen.dismiss()
            return isinstance(screen, kind)
        return False

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        await self._stop_run_before_exit()
        self.exit()

    async def _quit_on_signal(self, sig: int) -> None:
        await self._stop_run_before_exit(interrupted_by=sig)
        if sig == signal.SIGHUP:
            # The terminal is gone: restoring it would block on a dead pty and leave the
            # process behind. The run has recorded itself, so leave at once.
            os._exit(128 + sig)
        self.exit()

    async def _stop_run_before_exit(self, interrupted_by: int = 0) -> None:
        """Stop a running experiment and give it a bounded time to record itself as stopped
        (or as interrupted, when a signal ends the session)."""
        handle = self.handle
        if handle is not None and handle.running:
            if interrupted_by:
                handle.interrupt(interrupted_by)
            else:
                handle.stop()
            self.query_one(RunStatus).set_state("stopping", "quitting")
            deadline = time.monotonic() + QUIT_WAIT
            while not handle.done.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)


def main(experiment_id: str | None = None) -> None:
    """Open the lab (at an experiment, if given); does not return (see below)."""
    # torch's OpenMP threads spin while they wait; beside the UI thread on a small machine they
    # then fight it for the cores and training ran 70x slower (3k vs 214k ex/s for softmax on 2
    # cores). Passive waiting must be chosen before torch loads, which the TUI does lazily.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    app = LabApp(experiment_id, handle_signals=True)
    app.run()
    # Everything is saved by now. Tearing down an interpreter that has loaded torch takes about
    # a second, which would push quitting past the 2 s a learner should wait for the shell.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(app.return_code or 0)


if __name__ == "__main__":
    main()
