"""How the CLI shows a run: a live per-epoch table with a progress bar, or JSON lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from lab.events import Curve, Ended, EpochEnd, Event, Message, Started
from lab.events import Progress as ProgressEvent
from lab.spec import Experiment

STATUS_STYLE = {"finished": "green", "stopped": "yellow", "diverged": "red", "failed": "red"}


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
    """Epoch rows printed as they come (like the book's printout), above a live progress bar."""

    COLUMN = 12

    def __init__(self, console: Console, experiment: Experiment):
        self.console = console
        self.experiment = experiment
        self.header_printed = False
        self.curves: dict[str, list[Curve]] = {}
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"),
                            TextColumn("loss {task.fields[loss]}"),
                            TextColumn("{task.fields[speed]}"), TimeRemainingColumn(),
                            console=console, transient=True)
        self.task = self.bar.add_task("", total=None, loss="-", speed="")

    def __enter__(self) -> RichSink:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def _row(self, cells: list[str]) -> None:
        self.console.print("".join(c.ljust(self.COLUMN) for c in cells).rstrip(), highlight=False)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Started):
            params = " ".join(f"{k}={v}" for k, v in event.params.items())
            self.console.print(f"[bold]{self.experiment.title}[/] on {event.device} "
                               f"({event.preset}, seed {event.seed}): {params}", highlight=False)
            self.console.print(f"[dim]run {event.run_id}[/]", highlight=False)
        elif isinstance(event, ProgressEvent):
            loss = format_value(event.losses[-1]) if event.losses else "-"
            self.bar.update(self.task, description=f"epoch {event.epoch}/{event.epochs}",
                            total=event.steps, completed=event.step, loss=loss,
                            speed=f"{event.examples_per_sec:,.0f} ex/s")
        elif isinstance(event, EpochEnd):
            if not self.header_printed:
                self._row(["epoch", *event.metrics, "examples/s", "time"])
                self.header_printed = True
            self._row([str(event.epoch), *map(format_value, event.metrics.values()),
                       f"{event.examples_per_sec:,.0f}", f"{event.elapsed:.1f}s"])
        elif isinstance(event, Curve):
            self.curves.setdefault(event.figure, []).append(event)
        elif isinstance(event, Message):
            style = {"warning": "yellow", "error": "red"}.get(event.level, "")
            self.console.print(Text(event.text, style=style))
        elif isinstance(event, Ended):
            self.bar.stop()
            for figure, curves in self.curves.items():
                for curve in curves:
                    self.console.print(
                        f"{figure}: {curve.series}, {len(curve.x)} points over "
                        f"[{curve.x[0]:g}, {curve.x[-1]:g}], range "
                        f"[{min(curve.y):.4g}, {max(curve.y):.4g}]", highlight=False)
            style = STATUS_STYLE.get(event.status, "red")
            line = f"[{style}]{event.status}[/] in {event.elapsed:.1f}s"
            if event.reason:
                line += f": {event.reason}"
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
