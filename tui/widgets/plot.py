"""The live plot: a run's data, its views (the metrics, then each figure) and the redraw timer.

The charts themselves are drawn by lab/charts.py (the one place that calls plotext). plotext 6
keeps one global figure, so charts are built here one at a time, on the UI thread, from the data
``add`` caches; a timer rebuilds the chart within a quarter second of a resize, and for new
data at most twice a second: on 2 cores each rebuild and repaint is time the training loses.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.geometry import Region
from textual.widget import Widget

from lab.charts import figure_chart, figure_legend, metrics_legend
from lab.events import Ended, Event, Started
from lab.plotdata import RunPlots

VIEW_KEY = "ctrl+f"  # cycles the views; the app binds it, the legend line names it
BOOK_KEY = "ctrl+b"  # shows or hides the book's curves; the app binds it, the legend names it
RESIZE_CHECK = 0.25  # seconds between looks at the size (and at new data)
DATA_REDRAW = 1.0  # seconds at least between two rebuilds for new data (see tui/run.UI_POLL)


class LivePlot(Widget):
    """Per-epoch metrics (x = epoch, like the book's Animator) over a faint per-batch loss, and
    the run's figures (the curves of a demo, gradient norms redrawn as a run goes, ...), one
    view at a time."""

    DEFAULT_CSS = "LivePlot { height: 1fr; min-height: 6; text-wrap: nowrap; text-overflow: clip; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.log_loss = False
        self.show_book = True  # the book's curves beneath the run's (kept from run to run)
        self.reset()
        self._built_size = (0, 0)
        self._drawn_at = 0.0

    def reset(self, epochs: int | None = None, *, waiting: bool = False,
              log_loss: bool | None = None) -> None:
        """Forget all data and show the metrics again; ``epochs`` fixes the x range, so the plot
        does not rescale; ``waiting``: a run is starting, so say so instead of "no data";
        ``log_loss``: the experiment wants its losses on a log axis (kept until changed)."""
        self.waiting = waiting
        self.data = RunPlots(epochs, with_book=True)
        self.view: str | None = None  # None: the metrics; else the name of a figure
        if log_loss is not None:
            self.log_loss = log_loss
        self.rendered = Text()
        self._painted: Text | None = None  # the chart last repainted; None: repaint it whole
        self._dirty = True

    def on_mount(self) -> None:
        self.set_interval(RESIZE_CHECK, self._tick)

    # -- data and views -----------------------------------------------------------------------

    def add(self, event: Event) -> None:
        if isinstance(event, Started) and event.resume_epoch is None:
            self.reset(epochs=_int(event.params.get("epochs")), waiting=True)
            self.data.add(event)  # which of the book's runs is this one's
        elif self.data.add(event):  # a resumed run's Started drops the epochs it redoes
            self._dirty = True
        elif isinstance(event, Ended) and not self.has_data:
            # Nothing to draw (a demo's tables and messages, or a run that failed at once): the
            # log below takes the room. The next run's start shows the plot again.
            self.display = False

    @property
    def has_data(self) -> bool:
        return self.data.has_metrics or bool(self.data.figures)

    @property
    def series(self) -> dict[str, list[tuple[float, float]]]:
        return self.data.series

    @property
    def batch(self) -> list[tuple[float, float]]:
        return self.data.batch.points

    @property
    def views(self) -> list[str | None]:
        """What ``next_view`` cycles through: the metrics (unless a run has only figures, like
        a demo), then the figures in order of first appearance."""
        metrics = self.data.has_metrics or not self.data.figures
        return [None] * metrics + list(self.data.figures)

    @property
    def current(self) -> str | None:
        """The view shown: the one chosen, or the first there is."""
        views = self.views
        return self.view if self.view in views else views[0]

    @property
    def curves(self) -> dict[str, tuple[list[float], list[float]]]:
        """The curves of the figure shown (none on the metrics view): series -> (x, y)."""
        if self.current is None:
            return {}
        return {c.series: (c.x, c.y) for c in self.data.figures[self.current].values()}

    @property
    def book(self) -> dict[str, tuple[tuple[float, float], ...]]:
        """The book's curves drawn beneath the metrics (none when hidden or not in the book)."""
        ref = self.data.book
        return dict(ref.series) if ref is not None and self.show_book else {}

    def toggle_book(self) -> None:
        self.show_book = not self.show_book
        self.redraw()

    def next_view(self) -> None:
        views = self.views
        self.view = views[(views.index(self.current) + 1) % len(views)]
        self.redraw()

    # -- drawing ------------------------------------------------------------------------------

    def _tick(self) -> None:
        size = (self.content_region.width, self.content_region.height)
        if size != self._built_size or (
                self._dirty and time.monotonic() - self._drawn_at >= DATA_REDRAW):
            self.redraw()

    def redraw(self) -> None:
        """Build the chart now (tests call this instead of waiting for the timer)."""
        resized = self._built_size != self.content_region.size
        self._built_size = (self.content_region.width, self.content_region.height)
        self._drawn_at = time.monotonic()
        width, height = self._built_size
        self._dirty = False
        if not self.has_data or width < 20 or height < 4:
            idle = "waiting for the first batch…" if self.waiting else "no data yet · ctrl+r runs"
            self.rendered = Text(idle, style="dim")
        else:
            legend, draw = self._view(width, lines=2 if height >= 12 else 1)
            try:
                body = Text.from_ansi(draw(width, height - len(legend.plain.splitlines())))
            except Exception as err:  # a plotting bug must not take the lab (or a run) down
                body = Text(f"cannot draw this data: {type(err).__name__}: {err}", style="red")
            self.rendered = Text.assemble(legend, "\n", body, no_wrap=True, overflow="crop")
        self._repaint(full=resized)

    def _repaint(self, full: bool) -> None:
        """Repaint the rows that changed. Textual sends every dirty row of a widget whole, and
        the axes, the legend and the empty rows of a chart rarely change: repainting only the
        others keeps a run on screen well under 10 KiB/s of terminal output (issue 8)."""
        before, self._painted = self._painted, self.rendered
        old = before.split(allow_blank=True) if before is not None else []
        new = self.rendered.split(allow_blank=True)
        if full or before is None or len(old) != len(new):
            self.refresh()
            return
        for y, (was, now) in enumerate(zip(old, new, strict=True)):
            if was != now:
                self.refresh(Region(0, y, self.size.width, 1))

    def _view(self, width: int, lines: int) -> tuple[Text, Callable[[int, int], str]]:
        """The legend of the view shown (``lines`` at most), and how to draw its chart."""
        views, current = self.views, self.current
        note = f"({VIEW_KEY}: {views.index(current) + 1}/{len(views)})" if len(views) > 1 else ""
        if current is None:
            book = ""
            if self.data.book is not None and self.data.book.series:
                book = f"━ book ({BOOK_KEY})" if self.show_book else f"┄ book off ({BOOK_KEY})"
            legend = metrics_legend(self.data.series, batch=bool(self.data.batch),
                                    title="metrics" if note else "", note=note, width=width,
                                    lines=lines, book=book)
            return legend, lambda w, h: self.data.metrics_chart(w, h, log_loss=self.log_loss,
                                                                book=self.show_book)
        curves = list(self.data.figures[current].values())
        legend = figure_legend(current, curves, note, width=width, lines=lines)
        return legend, lambda w, h: figure_chart(curves, w, h)

    def render(self) -> Text:
        return self.rendered


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
