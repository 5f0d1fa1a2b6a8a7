"""d2l-lab's terminal console: pick an experiment, edit its parameters, run it, watch it learn;
replay a recorded run, resume a stopped one, or follow one another process runs.

Nothing here imports torch: the first screen paints at once, and torch is loaded by the device
probe after that paint, or by the run thread (see tui/run.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.filter import Monochrome, NoColor
from textual.widgets import Button, Footer, Static, TabbedContent, TabPane

from lab import catalog
from lab.events import Predictions
from lab.spec import Experiment, ParamError
from lab.store import RunRecord, Store
from tui.history import RunHistory
from tui.messages import DevicesFound
from tui.run import RunHandle, RunWorkers, probe_devices
from tui.running import RunControl
from tui.screens.help import HelpScreen
from tui.screens.panel import PanelScreen
from tui.screens.predictions import PredictionsScreen
from tui.screens.runs import RunsScreen
from tui.screens.shapes import ShapesScreen
from tui.widgets.catalog import CatalogTree
from tui.widgets.description import Description, Heading
from tui.widgets.field import as_text
from tui.widgets.form import ParamForm
from tui.widgets.heatmap import HeatmapView
from tui.widgets.plot import BOOK_KEY, VIEW_KEY, LivePlot
from tui.widgets.runlog import RunLog
from tui.widgets.samples import SampleView
from tui.widgets.status import RunStatus

QUIT_WAIT = 1.5  # seconds quitting waits for a run to record itself as stopped
PROBE_DELAY = 0.3  # seconds after the first paint before the device probe imports torch
WORKER_DELAY = 1.0  # and before the first worker starts to (see tui/run.py's RunWorkers)


class LabApp(RunControl, RunHistory, App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "d2l-lab"
    BINDINGS = [
        Binding("ctrl+r,f5", "run", "Run", priority=True),
        Binding("ctrl+x,f6", "stop", "Stop", priority=True),
        # Not in the footer: the Setup tab's Detach button names it. Like ctrl+x, it wins over
        # the fields' own use of the key (delete right).
        Binding("ctrl+d", "detach", "Detach", priority=True, show=False),
        Binding("ctrl+t", "switch_tab", "Setup/Train", priority=True),
        Binding("ctrl+y", "runs", "Runs", priority=True),  # the recorded runs (tui/history.py)
        # Not in the footer (full at 80 columns with Figure and Predictions): the catalog is in
        # view, and Help names the key.
        Binding("ctrl+l", "focus_catalog", "Catalog", priority=True, show=False),
        Binding(VIEW_KEY, "next_view", "Figure", priority=True),  # shown when a run has figures
        # Not in the footer (full at 80 columns): the plot's legend names it beside "book".
        Binding(BOOK_KEY, "toggle_book", "Book", priority=True, show=False),
        # Not in the footer (full at 80 columns): the Setup tab's Shapes button names it.
        Binding("ctrl+o", "shapes", "Shapes", priority=True, show=False),
        # Not ctrl+p: Textual's command palette. Shown once a run has drawn predictions.
        Binding("ctrl+g", "predictions", "Predictions", priority=True),
        Binding("f1", "help", "Help", priority=True),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        # Textual's own Tab acts after the key bubbles up from the field, so a digit typed right
        # after it landed in the field Tab was leaving; as a priority binding it acts at once.
        Binding("tab", "focus_next", show=False, priority=True),
        Binding("shift+tab", "focus_previous", show=False, priority=True),
    ]

    def __init__(self, experiment_id: str | None = None, *, probe: bool = True,
                 handle_signals: bool = False) -> None:
        super().__init__()
        self._start_id = experiment_id
        self._probe = probe
        self._handle_signals = handle_signals
        self.experiment: Experiment | None = None
        self.devices: list[tuple[str, str]] = [("cpu", "cpu")]
        self.handle: RunHandle | None = None  # the lab's run (in a worker), or one followed
        # The run's worker process, started ahead (tests, probe=False: on demand, at Run).
        self.run_workers = RunWorkers(ahead=probe)
        self.painted_at: float | None = None  # monotonic time of the first paint
        self.predictions: Predictions | None = None  # the shown run's, if it drew any
        self.run_id = ""  # the run shown on Train (live, followed or replayed)
        self.shown: Experiment | None = None  # its experiment
        self._maps_auto: bool | None = None  # heatmaps shown by themselves; False: user chose
        self._store: Store | None = None
        self._before_resume: tuple[str, str] | None = None  # the status a refused resume restores

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
                        yield Button("Detach ^d", id="detach", variant="primary", compact=True)
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
                self.notify(str(err), severity="warning", markup=False)
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

    def on_unmount(self) -> None:
        self.run_workers.close()  # an idle worker leaves with the lab, however it ends

    def _after_first_paint(self) -> None:
        self.painted_at = time.monotonic()
        if self._probe:
            self.set_timer(PROBE_DELAY, lambda: probe_devices(self.post_message))
            self.set_timer(WORKER_DELAY, lambda: self.run_workers.warm(self.store))

    # -- the form -----------------------------------------------------------------------------

    @property
    def form(self) -> ParamForm | None:
        forms = self.query(ParamForm)
        return forms.first() if forms else None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store()  # opening it marks runs whose process is gone as crashed
        return self._store

    async def load(self, exp: Experiment, record: RunRecord | None = None) -> None:
        """Show an experiment's description and a fresh form prefilled with its first preset,
        or with a recorded run's preset, device, seed and values."""
        device = record.device if record else self.form.device if self.form else "cpu"
        self.experiment = exp
        self.query_one(Heading).show(exp)
        self.query_one(Description).show(exp)
        if not self.running:  # a running language model keeps its samples in view
            self.query_one(SampleView).display = exp.writes_text
        holder = self.query_one("#form-holder")
        await holder.remove_children()
        form = ParamForm(exp, devices=self.devices, device=device,
                         preset=record.preset if record else None)
        await holder.mount(form)
        if record is not None:
            form.field("seed").set_text(str(record.seed))
            names = {param.name for param in exp.params}
            for name, value in record.params.items():
                if name in names:  # a parameter this version no longer has is left out
                    form.field(name).set_text(as_text(value))
            form.revalidate()
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
        sweep = valid and self.form is not None and self.form.is_sweep
        self.query_one("#run", Button).disabled = self.training or not valid
        self.query_one("#detach", Button).disabled = self.training or not valid
        self.query_one("#stop", Button).disabled = not self.running
        # Shapes and Detach need valid values too; while they are not, the note takes their
        # place (it needs the room at 80 columns). A sweep runs here, one run after another.
        self.query_one("#shapes", Button).display = valid
        self.query_one("#detach", Button).display = valid and not sweep
        if not valid:
            note = "fix the fields marked ✗ to run"
        else:
            note = f"Run: a sweep of {self.form.runs} runs" if sweep and self.form else ""
        self.query_one("#form-note", Static).update(note)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, RunsScreen) and action not in ("runs", "help", "quit"):
            return False  # its keys are its own (ctrl+d in its filter deletes, not detaches)
        if action in ("run", "detach"):  # None: shown dimmed in the footer
            return None if self.training or not (self.form and self.form.valid) else True
        if action == "stop":
            return True if self.running else None
        if action == "next_view":
            plots, maps = self.query(LivePlot), self.query(HeatmapView)
            return bool(plots) and len(plots.first().views) + bool(maps.first().data) > 1
        if action == "predictions":
            return self.predictions is not None
        return True

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

    def action_toggle_book(self) -> None:
        """Show or hide the book's curves beneath the run's."""
        self.query_one(LivePlot).toggle_book()

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
        try:  # the seed does not matter; a sweep shows its first run's network
            params = (form.sweep_points()[0].params if form.is_sweep
                      else exp.resolve(form.preset, form.overrides()))
        except ParamError as err:
            self.notify(f"Fix the fields marked ✗ first ({err}).", severity="warning",
                        markup=False)
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
        self.exit(return_code=128 + sig)  # the shell's convention, as the CLI's runs exit

    async def _stop_run_before_exit(self, interrupted_by: int = 0) -> None:
        """Stop the lab's run and give it a bounded time to record itself as stopped (or as
        interrupted, when a signal ends the session). A followed run goes on."""
        handle = self.handle
        self.run_workers.close()
        if handle is not None and handle.follows:
            handle.interrupt(interrupted_by)  # leaves it
        elif handle is not None and handle.running:
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
    app = LabApp(experiment_id, handle_signals=True)
    if app.no_color:
        # NO_COLOR: Textual only turns the colours grey (still 256-colour or truecolor codes).
        # What it does for an ANSI theme sends none: the NoColor filter, leaving bold, dim and
        # reverse. A field's cursor, only a colour otherwise, is then shown reversed.
        theme = app.current_theme
        app.register_theme(replace(theme, name="no-color", variables={
            **theme.variables, "input-cursor-text-style": "reverse"}))
        app.theme, app.ansi_color = "no-color", True
        app._filters = [NoColor() if isinstance(f, Monochrome) else f for f in app._filters]
    app.run()
    # Everything is saved by now. Tearing down an interpreter that has loaded torch takes about
    # a second, which would push quitting past the 2 s a learner should wait for the shell.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(app.return_code or 0)


if __name__ == "__main__":
    main()
