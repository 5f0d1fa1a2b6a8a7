"""How the CLI shows a run: a live per-epoch table with a progress bar and, at the end, its charts
(the training curves, each figure), or JSON lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from lab.charts import figure_chart, figure_legend, metrics_legend
from lab.events import Ended, EpochEnd, Event, Message, Sample, Started, Table
from lab.events import Progress as ProgressEvent
from lab.plotdata import RunPlots, shows_epoch
from lab.spec import Experiment
from lab.tables import rich_table

STATUS_STYLE = {"finished": "green", "stopped": "yellow", "diverged": "red", "failed": "red",
                "crashed": "red", "interrupted": "yellow"}
CHART_WIDTH = 100  # at most: wider charts only spread the same curves
CHART_HEIGHT = 18


def format_value(value: float) -> str:
    """Losses near zero keep their digits (the book prints 0.000054), the rest four places."""
    return f"{value:.6f}" if abs(value) < 0.01 else f"{value:.4f}"


def format_metrics(metrics: dict[str, float]) -> str:
    return "  ".join(f"{name} {format_value(value)}" for name, value in metrics.items())


class JsonSink:
    """Every event as one JSON line on stdout, for scripts."""

    def __call__(self, event: Event) -> None:
        print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)


class RichSink:
    """Epoch rows printed as they come (like the book's printout), above a live progress bar;
    at the end, the charts the TUI would show: the training curves, then each figure."""

    COLUMN = 12

    def __init__(self, console: Console, experiment: Experiment):
        self.console = console
        self.experiment = experiment
        self.header: list[str] = []
        self.widths: list[int] = []
        self.plots = RunPlots()
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"),
                            TextColumn("loss {task.fields[loss]}"),
                            TextColumn("{task.fields[speed]}"), TimeRemainingColumn(),
                            console=console, transient=True)
        self.task = self.bar.add_task("", total=None, loss="-", speed="")
        unit = experiment.unit
        self.speed_column = f"{unit}/s"  # examples/s, or tokens/s for text
        self.speed_short = "ex/s" if unit == "examples" else self.speed_column

    def __enter__(self) -> RichSink:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def _row(self, cells: list[str]) -> None:
        line = "".join(c.ljust(w) for c, w in zip(cells, self.widths, strict=True))
        self.console.print(line.rstrip(), highlight=False)

    def _charts(self) -> None:
        """Every chart of the run; a figure redrawn as the run went shows its last version."""
        width = min(self.console.width, CHART_WIDTH)
        if self.plots.has_metrics:
            legend = metrics_legend(self.plots.series, batch=bool(self.plots.batch), width=width)
            self._chart(legend, self.plots.metrics_chart(width, CHART_HEIGHT,
                                                         log_loss=self.experiment.log_loss))
        for title, curves in self.plots.figures.items():
            self._chart(figure_legend(title, curves.values(), width=width),
                        figure_chart(curves.values(), width, CHART_HEIGHT))

    def _chart(self, legend: Text, chart: str) -> None:
        self.console.print()
        self.console.print(legend)
        self.console.print(Text.from_ansi(chart), no_wrap=True, overflow="crop")

    def __call__(self, event: Event) -> None:
        self.plots.add(event)
        if isinstance(event, Started) and event.resume_epoch is not None:
            self.console.print(f"[bold]{self.experiment.title}[/]: run {event.run_id} resumed "
                               f"after epoch {event.resume_epoch} on {event.device}",
                               highlight=False)
        elif isinstance(event, Started):
            params = escape(" ".join(f"{k}={v}" for k, v in event.params.items()))  # free text
            self.console.print(f"[bold]{self.experiment.title}[/] on {event.device} "
                               f"({event.preset}, seed {event.seed}): {params}", highlight=False)
            self.console.print(f"[dim]run {event.run_id}[/]", highlight=False)
        elif isinstance(event, ProgressEvent):
            loss = format_value(event.losses[-1]) if event.losses else "-"
            self.bar.update(self.task, description=f"epoch {event.epoch}/{event.epochs}",
                            total=event.steps, completed=event.step, loss=loss,
                            speed=f"{event.examples_per_sec:,.0f} {self.speed_short}")
        elif isinstance(event, EpochEnd) and shows_epoch(event.epoch, event.epochs):
            names = ["epoch", *event.metrics, self.speed_column, "time"]
            if names != self.header:  # the first row, or new metrics (house prices' next fold)
                self.header = names
                self.widths = [max(self.COLUMN, len(name) + 2) for name in names]
                self._row(names)
            self._row([str(event.epoch), *map(format_value, event.metrics.values()),
                       f"{event.examples_per_sec:,.0f}", f"{event.elapsed:.1f}s"])
        elif isinstance(event, Sample):
            line = Text(f"epoch {event.epoch}  ", style="dim")
            self.console.print(line.append(event.text, style="italic"), highlight=False)
        elif isinstance(event, Message):
            style = {"warning": "yellow", "error": "red"}.get(event.level, "")
            self.console.print(Text(event.text, style=style))
        elif isinstance(event, Table):
            self.console.print(rich_table(event))
        elif isinstance(event, Ended):
            self.bar.stop()
            self._charts()
            style = STATUS_STYLE.get(event.status, "red")
            line = f"[{style}]{event.status}[/] in {event.elapsed:.1f}s"
            if event.reason:
                line += f": {escape(event.reason)}"  # it may quote a path or a value
            self.console.print(line, highlight=False)
            if event.metrics:
                self.console.print(format_metrics(event.metrics), highlight=False)


@contextmanager
def download_progress(console: Console) -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress bar per downloaded file, as the hub's ``progress`` callback wants it."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TimeRemainingColumn(), console=console, disable=not sys.stdout.isatty())
    tasks: dict[str, int] = {}

    def update(name: str, done: int, total: int | None) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done, total=total)

    with bar:
        yield update
