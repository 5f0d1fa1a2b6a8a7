"""What a run has to plot, kept from its events: the per-epoch metrics, the per-batch loss and
the figures. The TUI's live plot and the CLI's end-of-run charts both keep it so; lab/charts.py
draws it."""

from __future__ import annotations

import math

from lab import reference
from lab.charts import metrics_chart, thin
from lab.events import Curve, EpochEnd, Event, Progress, Started
from lab.reference import Reference

MAX_BATCH_POINTS = 4096  # past this, halve the per-batch line by averaging neighbours


class Decimated:
    """A growing (x, y) series kept under a bound by averaging: old points stay, coarser."""

    def __init__(self, limit: int = MAX_BATCH_POINTS) -> None:
        self.limit, self.stride = limit, 1
        self.points: list[tuple[float, float]] = []
        self._acc: list[tuple[float, float]] = []

    def append(self, x: float, y: float) -> None:
        self._acc.append((x, y))
        if len(self._acc) < self.stride:
            return
        self.points += thin(self._acc, 1)  # their mean
        self._acc.clear()
        if len(self.points) >= self.limit:
            self.points = list(thin(self.points, len(self.points) // 2))
            self.stride *= 2

    def __len__(self) -> int:
        return len(self.points)

    def drop_after(self, x: float) -> None:
        """Forget the points past ``x`` (a resumed run redoes them)."""
        self.points = [point for point in self.points if point[0] <= x]
        self._acc = [point for point in self._acc if point[0] <= x]


class RunPlots:
    """What a run has to plot, from its events: the per-epoch metrics, the per-batch loss, and
    its figures in order of first appearance, each holding the latest curve of every series;
    and, when asked (``with_book``), the book's curves of the same experiment and variant."""

    def __init__(self, epochs: int | None = None, *, with_book: bool = False) -> None:
        self.epochs = epochs
        self.with_book = with_book
        self.series: dict[str, list[tuple[float, float]]] = {}  # metric -> (epoch, value)
        self.batch = Decimated()
        self.figures: dict[str, dict[str, Curve]] = {}
        self.book: Reference | None = None

    def add(self, event: Event) -> bool:
        """Take an event; says whether it changed anything to plot."""
        if isinstance(event, Started) and self.with_book:
            self.book = reference.find(event.experiment, event.params)
        if isinstance(event, Started) and event.resume_epoch is not None:
            # A resumed run starts again after its checkpoint's epoch: later points are redone.
            last = event.resume_epoch
            self.series = {name: [p for p in points if p[0] <= last]
                           for name, points in self.series.items()}
            self.batch.drop_after(last)
        elif isinstance(event, Progress):
            self.epochs = event.epochs
            n = len(event.losses)
            for i, loss in enumerate(event.losses):
                if math.isfinite(loss):
                    step = max(event.step - n + i + 1, 0)
                    self.batch.append(event.epoch - 1 + step / event.steps, loss)
        elif isinstance(event, EpochEnd):
            self.epochs = event.epochs
            for name, value in event.metrics.items():
                if math.isfinite(value):
                    self.series.setdefault(name, []).append((float(event.epoch), value))
        elif isinstance(event, Curve):
            self.figures.setdefault(event.figure, {})[event.series] = event  # replaces
        else:
            return False
        return True

    @property
    def has_metrics(self) -> bool:
        return bool(self.series or self.batch)

    def metrics_chart(self, width: int, height: int, *, log_loss: bool = False,
                      book: bool = True) -> str:
        """The metrics over the batch loss; ``book``: with the book's curves beneath."""
        curves = self.book.series if book and self.book is not None else None
        return metrics_chart(self.series, self.batch.points, width, height, epochs=self.epochs,
                             log_loss=log_loss, book=curves)


def report_every(epochs: int, most: int = 20) -> int:
    """Which epochs a printout shows: all of up to ``most``, else every k-th for the smallest
    1-2-5 step k that keeps it near ``most`` lines (polyfit's 400 epochs: every 20th, as the
    book plots them). The first and last epochs are always shown."""
    steps = (m * 10**k for k in range(9) for m in (1, 2, 5))
    return next(step for step in steps if epochs / step <= most)


def shows_epoch(epoch: int, epochs: int) -> bool:
    return epoch in (1, epochs) or epoch % report_every(epochs) == 0
