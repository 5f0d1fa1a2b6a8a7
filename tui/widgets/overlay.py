"""Runs compared: one metric of each run in one chart (OverlayPlot), and a table of what sets
them apart (``differences``): the hyperparameters that differ and the final metrics.

The chart is drawn by lab/charts.py like the live plot's, from data the screen hands over; a
timer rebuilds it only when that data or the widget's size changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from lab.charts import Points, overlay_chart, overlay_legend, run_colors
from lab.cli_progress import format_value
from lab.compare import MISSING, differing_params, format_param, short_id, union
from lab.store import RunRecord


class OverlayPlot(Widget):
    """One metric of several runs against the epoch, a coloured line and legend entry each."""

    DEFAULT_CSS = """
    OverlayPlot { height: 1fr; min-height: 4; text-wrap: nowrap; text-overflow: clip; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.curves: dict[str, Points] = {}
        self.metric = ""
        self.note = ""
        self.log_scale = False
        self.rendered = Text()
        self._dirty = True
        self._built_size = (0, 0)

    def show(self, curves: Mapping[str, Points], metric: str, *, note: str = "",
             log: bool = False) -> None:
        """Draw these curves (run label -> points) of ``metric``; ``note`` follows its name in
        the legend; ``log``: the experiment wants its losses on a log axis."""
        self.curves, self.metric, self.note, self.log_scale = dict(curves), metric, note, log
        self._dirty = True

    def on_mount(self) -> None:
        self.set_interval(0.25, self._tick)

    def _tick(self) -> None:
        size = (self.content_region.width, self.content_region.height)
        if self._dirty or size != self._built_size:
            self.redraw()

    def redraw(self) -> None:
        """Build the chart now (tests call this instead of waiting for the timer)."""
        self._built_size = width, height = self.content_region.width, self.content_region.height
        self._dirty = False
        empty = [name for name, points in self.curves.items() if not points]
        legend = overlay_legend(self.curves, title=self.metric.replace("_", " "), note=self.note,
                                empty=empty, width=max(width, 1), lines=2 if height >= 12 else 1)
        if len(empty) == len(self.curves) or width < 20 or height < 4:
            why = "no epochs recorded yet" if self.curves else "no runs selected"
            self.rendered = Text.assemble(legend, "\n", Text(why, style="dim"))
        else:
            try:
                chart = overlay_chart(self.curves, width, height - len(legend.plain.splitlines()),
                                      metric=self.metric, log=self.log_scale)
                body = Text.from_ansi(chart)
            except Exception as err:  # a plotting bug must not take the lab down
                body = Text(f"cannot draw this data: {type(err).__name__}: {err}", style="red")
            self.rendered = Text.assemble(legend, "\n", body, no_wrap=True, overflow="crop")
        self.refresh()

    def render(self) -> Text:
        return self.rendered


def differences(records: Sequence[RunRecord], labels: Sequence[str]) -> Group:
    """A row per run, in its overlay colour: its id, the hyperparameters that differ between
    the runs and its final metrics; then, dim, the hyperparameters they share."""
    differing, same = differing_params([r.params for r in records])
    metrics = union(r.metrics for r in records)
    table = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
    table.add_column("")
    table.add_column("run", no_wrap=True)
    for name in differing:
        table.add_column(name, no_wrap=True, style="bold")
    for name in metrics:
        table.add_column(name, no_wrap=True, justify="right")
    colors = run_colors(labels)
    for record, label in zip(records, labels, strict=True):
        table.add_row(Text("━", style=f"color({colors[label]})"), short_id(record),
                      *(format_param(record.params.get(n, MISSING)) for n in differing),
                      *(format_value(record.metrics[n]) if n in record.metrics else MISSING
                        for n in metrics))
    shared = " ".join(f"{n}={format_param(records[0].params[n])}" for n in same)
    head = "same in all: " if len(records) > 1 else "params: "
    note = Text(head + shared if shared else "", style="dim", no_wrap=True, overflow="ellipsis")
    return Group(table, note)
