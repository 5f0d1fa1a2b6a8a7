"""The table of recorded runs: a row per run, newest first, a mark on the selected ones.

A row's cells are built once per state of its run and cached, so refiltering 1000 runs only
re-adds rows, and the periodic refresh rewrites only the cells of runs that changed. Cells carry
their width (``Cell``) and the columns are sized from those: DataTable would otherwise measure
every cell through the console, which took 0.2 s of the 0.5 s allowed for 1000 runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from lab.cli_progress import STATUS_STYLE
from lab.compare import short_id
from lab.store import RUNNING, RunRecord

# (key, header); a narrow table leaves device and duration to the detail line below it, so
# that the final metrics still show at 80 columns.
COLUMNS = (("mark", ""), ("run", "run"), ("experiment", "experiment"), ("status", "status"),
           ("device", "device"), ("started", "started"), ("took", "took"),
           ("epochs", "epochs"), ("metrics", "final metrics"))
NARROW = tuple(c for c in COLUMNS if c[0] not in ("device", "took"))
NARROW_BELOW = 110  # columns


class Cell:
    """A cell's text, style and width. It has no ``__rich_measure__``, so DataTable does not
    measure it (it counts it 1 wide): the table sizes its columns from ``width``. Its Text is
    made only when drawn: 1000 runs make 8000 cells, and few are on screen."""

    __slots__ = ("plain", "style", "width")

    def __init__(self, plain: str, style: str = "") -> None:
        self.plain, self.style, self.width = plain, style, cell_len(plain)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        yield Text(self.plain, style=self.style, no_wrap=True, overflow="ellipsis")

    def __str__(self) -> str:
        return self.plain


MARK, NO_MARK = Cell("●", "bold magenta"), Cell(" ")


def status_style(status: str) -> str:
    return STATUS_STYLE.get(status, "cyan")  # running: cyan, as the CLI shows it


def status_text(status: str) -> Text:
    return Text(status, style=status_style(status))


def started_text(t: float) -> str:
    """Local time: month-day hour:minute this year, the date alone before."""
    when = datetime.fromtimestamp(t)
    return when.strftime("%m-%d %H:%M" if when.year == datetime.now().year else "%Y-%m-%d")


def duration_text(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes}m{secs:02d}s"
    days, hours = divmod(hours, 24)
    return f"{hours}h{minutes:02d}m" if days == 0 else f"{days}d{hours:02d}h"


def epochs_text(record: RunRecord) -> str:
    planned = record.params.get("epochs")
    planned_ok = isinstance(planned, int) and not isinstance(planned, bool)
    return f"{record.epochs_done}/{planned}" if planned_ok else str(record.epochs_done)


def metrics_text(metrics: dict[str, float]) -> str:
    """Three significant digits: enough to tell runs apart in a list; the pane below has more."""
    return "  ".join(f"{name} {value:.3g}" for name, value in metrics.items())


def row_cells(record: RunRecord, now: float) -> dict[str, Cell]:
    """The cells of a run's row after its mark, by column key."""
    end = record.ended_at if record.ended_at is not None else now
    return {"run": Cell(short_id(record)), "experiment": Cell(record.experiment),
            "status": Cell(record.status, status_style(record.status)),
            "device": Cell(record.device),
            "started": Cell(started_text(record.started_at)),
            "took": Cell(duration_text(end - record.started_at)),
            "epochs": Cell(epochs_text(record)), "metrics": Cell(metrics_text(record.metrics))}


class RunsTable(DataTable):
    """Runs as rows keyed by run id; ``selected`` (in order of selection) survives refiltering."""

    BINDINGS = [Binding("enter", "select_cursor", "Open")]  # named in the footer

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.shown: list[RunRecord] = []
        self.selected: dict[str, None] = {}  # an ordered set
        self.layout_columns: tuple[tuple[str, str], ...] = ()
        self._by_id: dict[str, RunRecord] = {}
        self._cells: dict[str, tuple[tuple, dict]] = {}  # run id -> (state, cells)

    def on_resize(self) -> None:
        wanted = NARROW if self.size.width < NARROW_BELOW else COLUMNS
        if wanted != self.layout_columns:
            self._set_columns(wanted)

    def _set_columns(self, columns: tuple[tuple[str, str], ...]) -> None:
        self.layout_columns = columns
        shown, self.shown = self.shown, []
        self.clear(columns=True)
        for key, label in columns:
            self.add_column(label, key=key, width=max(len(label), 1))
        self.show(shown)

    def _cells_of(self, record: RunRecord, now: float) -> tuple[dict, bool]:
        """The run's cells, and whether they changed since they were last built."""
        # A running run's "took" grows each second; an ended one's row no longer changes.
        state = (record.status, record.epochs_done, record.ended_at, record.device,
                 record.metrics, int(now) if record.status == RUNNING else 0)
        cached = self._cells.get(record.id)
        if cached is not None and cached[0] == state:
            return cached[1], False
        cells = row_cells(record, now)
        self._cells[record.id] = (state, cells)
        return cells, cached is not None

    def show(self, records: Sequence[RunRecord]) -> None:
        """Show these runs in this order; the cursor stays on its run while it is shown. When
        the runs are those shown, only the cells that changed are rewritten."""
        if not self.layout_columns:  # before the first resize: as wide as the screen
            self._set_columns(NARROW if self.app.size.width < NARROW_BELOW else COLUMNS)
        now = time.time()
        keys = [key for key, _ in self.layout_columns[1:]]
        rows = [self._cells_of(record, now) for record in records]
        same = [r.id for r in records] == [r.id for r in self.shown]
        if same and self._fit_columns(cells for cells, _ in rows):
            for record, (cells, changed) in zip(records, rows, strict=True):
                if changed:
                    for key in keys:
                        self.update_cell(record.id, key, cells[key])
        else:
            current = self.highlighted
            self.clear()
            self._fit_columns((cells for cells, _ in rows), shrink=True)
            for record, (cells, _) in zip(records, rows, strict=True):
                mark = MARK if record.id in self.selected else NO_MARK
                self.add_row(mark, *(cells[key] for key in keys), key=record.id)
            if current is not None and current.id in self._row_locations:
                self.move_cursor(row=self.get_row_index(current.id), animate=False)
        self.shown = list(records)
        self._by_id = {r.id: r for r in records}

    def _fit_columns(self, rows: Iterable[dict[str, Cell]], *, shrink: bool = False) -> bool:
        """Size the columns to their widest cell (and header); ``shrink``: also narrower than
        now. Whether they already fitted (else the table must be rebuilt to widen them)."""
        columns = {str(key.value): column for key, column in self.columns.items()}
        widest = {key: column.label.cell_len for key, column in columns.items()}
        widest["mark"] = 1
        for cells in rows:
            for key, cell in cells.items():
                if key in widest and cell.width > widest[key]:
                    widest[key] = cell.width
        fitted = all(widest[key] <= column.width for key, column in columns.items())
        for key, column in columns.items():
            column.width = widest[key] if shrink else max(widest[key], column.width)
        return fitted

    @property
    def highlighted(self) -> RunRecord | None:
        """The run under the cursor."""
        if not 0 <= self.cursor_row < len(self.shown):
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self._by_id.get(key or "")

    def toggle(self, run_id: str) -> None:
        if run_id in self.selected:
            del self.selected[run_id]
        else:
            self.selected[run_id] = None
        if run_id in self._row_locations:
            self.update_cell(run_id, "mark", MARK if run_id in self.selected else NO_MARK)

    def clear_selection(self) -> None:
        for run_id in list(self.selected):
            self.toggle(run_id)

    def forget(self, run_id: str) -> None:
        """A deleted run: its row, its mark and its cached cells go."""
        self.selected.pop(run_id, None)
        self._cells.pop(run_id, None)
        if run_id in self._row_locations:
            self.remove_row(run_id)
        self.shown = [r for r in self.shown if r.id != run_id]
        self._by_id.pop(run_id, None)
