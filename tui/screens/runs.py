"""The runs the store has recorded: filter them, pick one to open, resume, attach to or delete,
and select several to overlay their curves (and the book's, when they are all of one experiment
and variant).

The screen reads only the index on open (one query) and per-epoch rows only for the runs
selected; it polls the index's files every couple of seconds and reloads when they changed,
so live runs' status and epochs keep up. It replays, resumes or attaches to nothing itself: it
dismisses with a ``RunsChoice`` the app acts on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Select, Static

from lab import catalog, reference
from lab.charts import BOOK
from lab.cli_progress import format_metrics
from lab.compare import Epochs, format_param, metric_curves, metric_names, run_labels, short_id
from lab.resume import RESUMABLE
from lab.store import RUNNING, RunRecord, Store
from tui.widgets.overlay import OverlayPlot, differences
from tui.widgets.runs_table import RunsTable, duration_text, status_text

STATUSES = (RUNNING, "finished", "stopped", "interrupted", "diverged", "failed", "crashed")
POLL = 2.0  # seconds between looks at the index's files


@dataclass(frozen=True)
class RunsChoice:
    """What the user chose to do with a run: replay it, continue it, or watch it live."""

    action: Literal["open", "resume", "attach"]
    run_id: str


class RunsScreen(Screen["RunsChoice | None"]):
    """Dismisses with a ``RunsChoice``, or None when closed with Esc."""

    BINDINGS = [
        Binding("space", "toggle", "Select"),
        Binding("r", "resume", "Resume"),
        Binding("a", "attach", "Attach"),
        Binding("d,delete", "delete", "Delete"),
        Binding("m", "next_metric", "Metric"),
        # Not in the footer (full at 80 columns): the overlay's legend names it when it applies.
        Binding("b", "toggle_book", "Book", show=False),
        Binding("slash", "focus_filter", "Filter"),
        Binding("s", "next_status", "Status", show=False),
        Binding("c", "clear_selection", "Clear selection", show=False),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, store: Store | None = None, *, experiment: str = "",
                 status: str | None = None) -> None:
        """``experiment`` and ``status`` prefill the filters."""
        super().__init__()
        self._store = store
        self._filter = experiment
        self._status = status
        self.records: list[RunRecord] = []  # every run, newest first
        self.metric = ""  # the metric overlaid; "" until runs are selected
        self.show_book = False  # the book's curve beneath the runs (b), where it has one
        self._epochs: dict[str, Epochs] = {}  # per-epoch rows of the selected runs
        self._signature: tuple = ()

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store()
        return self._store

    def compose(self) -> ComposeResult:
        with Horizontal(id="runs-bar"):
            yield Static("Runs", id="runs-title")
            yield Input(self._filter, placeholder="experiment, sweep or id  ( / )",
                        id="runs-filter", compact=True)
            yield Select([(s, s) for s in STATUSES], prompt="any status", id="runs-status",
                         compact=True, value=self._status or Select.NULL)
        yield RunsTable(id="runs-table")
        yield Static(id="runs-detail")
        with Vertical(id="runs-compare"):
            yield OverlayPlot(id="runs-overlay")
            yield Static(id="runs-diff")
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self.query_one("#runs-compare").display = False
        self.reload()
        self.query_one(RunsTable).focus()
        self.set_interval(POLL, self.poll)

    # -- the list ---------------------------------------------------------------------------

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    def reload(self) -> None:
        """Read the index again (one query) and show what passes the filters."""
        self._signature = self._files_signature()
        self.records = self.store.recent(None)
        self.apply_filters()

    def poll(self) -> None:
        """Reload when the index's files changed: a run started, ended, did an epoch or was
        deleted; else only let the running runs' durations grow."""
        if self._files_signature() == self._signature:
            if any(r.status == RUNNING for r in self.table.shown):
                self.apply_filters()  # rewrites only the cells that changed
            return
        before = {r.id: r for r in self.records}
        self.reload()
        now = {r.id: r for r in self.records}
        changed = {run_id for run_id, r in before.items() if now.get(run_id) != r}
        if changed & set(self.table.selected):  # new epochs to draw, or a run gone
            for run_id in changed:
                self._epochs.pop(run_id, None)
            self.update_compare()

    def _files_signature(self) -> tuple:
        db = self.store.db_path
        return tuple(_stat(path) for path in (db, Path(f"{db}-wal")))

    @property
    def visible(self) -> list[RunRecord]:
        """The runs that pass the filters: the text within the experiment, sweep or id (any
        case), and the status."""
        needle = self._filter.strip().lower()
        return [r for r in self.records
                if (not needle or needle in r.experiment.lower() or needle in r.id.lower()
                    or needle in r.sweep.lower())
                and (self._status is None or r.status == self._status)]

    def apply_filters(self) -> None:
        table = self.table
        table.show(self.visible)
        self._show_title()
        self._show_detail(table.highlighted)

    def _show_title(self) -> None:
        table = self.table
        text = f"Runs {len(table.shown)}"
        if len(table.shown) != len(self.records):
            text += f"/{len(self.records)}"
        if table.selected:
            text += f" · {len(table.selected)} selected"
        self.query_one("#runs-title", Static).update(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._filter = event.value
        self.apply_filters()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._status = None if event.value is Select.NULL else str(event.value)
        self.apply_filters()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(self.table.highlighted)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def _show_detail(self, record: RunRecord | None) -> None:
        """The highlighted run in full: id, preset, seed, sweep, params; its end's reason and
        final metrics."""
        detail = self.query_one("#runs-detail", Static)
        if record is None:
            empty = "no runs match the filters" if self.records else "no runs recorded yet"
            detail.update(Text(empty, style="dim"))
            return
        end = record.ended_at if record.ended_at is not None else time.time()
        head = Text.assemble((record.id, "bold"), f"  {record.device} · "
                             f"{duration_text(end - record.started_at)} · {record.preset} · "
                             f"seed {record.seed}")
        if record.sweep:
            head.append(f" · sweep {record.sweep}")
        head.append("  " + " ".join(f"{k}={format_param(v)}" for k, v in record.params.items()),
                    style="dim")
        tail = Text.assemble(status_text(record.status),
                             f": {record.reason}" if record.reason else "",
                             "  " + format_metrics(record.metrics) if record.metrics else "")
        detail.update(Text("\n").join([head, tail]))  # one line each: the CSS cuts, not wraps

    # -- selection and the overlay ----------------------------------------------------------

    def action_toggle(self) -> None:
        record = self.table.highlighted
        if record is not None:
            self.table.toggle(record.id)
            self._show_title()
            self.update_compare()

    def action_clear_selection(self) -> None:
        self.table.clear_selection()
        self._show_title()
        self.update_compare()

    @property
    def selected(self) -> list[RunRecord]:
        """The selected runs that are still recorded, oldest first (a sweep in its order)."""
        chosen = self.table.selected
        return [r for r in reversed(self.records) if r.id in chosen]

    def update_compare(self) -> None:
        """The overlay of the selected runs' curves and their differences; hidden with none."""
        selected = self.selected
        pane = self.query_one("#runs-compare")
        pane.display = bool(selected)
        if not selected:
            return
        for record in selected:
            if record.id not in self._epochs:
                self._epochs[record.id] = self.store.epochs(record.id)
        labels = run_labels(selected)
        runs = {label: self._epochs[r.id] for label, r in zip(labels, selected, strict=True)}
        names = metric_names(runs.values())
        if self.metric not in names:
            self.metric = names[0] if names else ""
        keys = [f"m: {names.index(self.metric) + 1}/{len(names)}"] if len(names) > 1 else []
        curves = metric_curves(runs, self.metric)
        book = _book_curve(selected, self.metric)
        if book and any(curves.values()):
            keys.append("b: hide the book" if self.show_book else "b: the book's")
            if self.show_book:
                curves[BOOK] = book
        note = f"({' · '.join(keys)})" if keys else ""
        self.query_one(OverlayPlot).show(curves, self.metric, note=note,
                                         log=all(_log_loss(r) for r in selected))
        self.query_one("#runs-diff", Static).update(differences(selected, labels))

    def action_toggle_book(self) -> None:
        """The book's curve beneath the selected runs, or not."""
        self.show_book = not self.show_book
        if self.selected:
            self.update_compare()

    def action_next_metric(self) -> None:
        names = metric_names(self._epochs[r.id] for r in self.selected if r.id in self._epochs)
        if len(names) > 1:
            self.metric = names[(names.index(self.metric) + 1) % len(names)]
            self.update_compare()

    # -- actions on the highlighted run -----------------------------------------------------

    def action_open(self) -> None:
        record = self.table.highlighted
        if record is not None:
            self.dismiss(RunsChoice("open", record.id))

    def action_resume(self) -> None:
        record = self.table.highlighted
        if record is None:
            return
        if record.status in RESUMABLE:
            self.dismiss(RunsChoice("resume", record.id))
        else:
            which = f"{', '.join(RESUMABLE[:-1])} or {RESUMABLE[-1]}"
            self.notify(f"Run {short_id(record)} is {record.status}: only a {which} run can be "
                        "resumed.", severity="warning")

    def action_attach(self) -> None:
        record = self.table.highlighted
        if record is None:
            return
        if record.status == RUNNING:
            self.dismiss(RunsChoice("attach", record.id))
        else:
            self.notify(f"Run {short_id(record)} is {record.status}: only a running run can be "
                        "attached to; Enter replays it.", severity="warning")

    def action_delete(self) -> None:
        record = self.table.highlighted
        if record is None:
            return
        if record.status == RUNNING:
            self.notify(f"Run {short_id(record)} is still running: stop it before deleting it.",
                        severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete(record.id)

        self.app.push_screen(ConfirmDelete(record), confirmed)

    def delete(self, run_id: str) -> None:
        """Forget a run: from the store (index and folder), the list and the selection."""
        now = self.store.get(run_id)
        if now is not None and now.status == RUNNING:  # resumed since the list was read
            self.notify(f"Run {run_id} is running now: nothing was deleted.", severity="warning")
            return
        self.store.delete(run_id)
        self.records = [r for r in self.records if r.id != run_id]
        self._epochs.pop(run_id, None)
        was_selected = run_id in self.table.selected
        self.table.forget(run_id)
        self._show_title()
        self._show_detail(self.table.highlighted)
        if was_selected:
            self.update_compare()
        self.notify(f"Deleted run {run_id}.")

    # -- filters and focus ------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def action_next_status(self) -> None:
        """Cycle the status filter: any, running, finished, …, crashed, any."""
        order = [None, *STATUSES]
        after = order[(order.index(self._status) + 1) % len(order)]
        self.query_one("#runs-status", Select).value = Select.NULL if after is None else after

    def action_close(self) -> None:
        """From a filter, back to the list; from the list, close the screen."""
        if isinstance(self.focused, (Input, Select)):
            self.table.focus()
        else:
            self.dismiss(None)


class ConfirmDelete(ModalScreen[bool]):
    """Asks before a run's index entry and folder (config, events, checkpoint) are deleted."""

    BINDINGS = [Binding("y", "answer(True)", "Delete"),
                Binding("n,escape", "answer(False)", "Keep")]

    def __init__(self, record: RunRecord) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        r = self.record
        with Vertical(id="runs-confirm"):
            yield Static(Text.assemble("Delete run ", (r.id, "bold"), " (", status_text(r.status),
                                       f", {r.epochs_done} epochs) and its folder?"))
            yield Static(Text("y deletes · n or Esc keeps it", style="dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def _stat(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


def _book_curve(records: list[RunRecord], metric: str) -> list[tuple[float, float]]:
    """The book's curve of ``metric`` when the runs are all of one experiment and variant (runs
    of a sweep over lr, say: the book's run is the one to compare them with)."""
    refs = [reference.find(r.experiment, r.params) for r in records]
    if not refs or refs[0] is None or any(ref is not refs[0] for ref in refs):
        return []
    return list(refs[0].series.get(metric, ()))


def _log_loss(record: RunRecord) -> bool:
    """Whether the run's experiment draws its losses on a log axis (linear regression)."""
    try:
        return catalog.get(record.experiment).log_loss
    except KeyError:
        return False
