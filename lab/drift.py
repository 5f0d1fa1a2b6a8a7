"""Is this run normal? Each epoch's metrics against the book's at the same epoch, and at the end a
"vs book" table.

When a metric is outside its band at two of the book's plotted epochs in a row, the run gets
one short warning, naming the hyperparameters it sets otherwise than the book (``test acc 0.73
at epoch 2, book 0.81 — lr is 0.01 here, 0.1 in the book``); one a run. The band holds a normal
run: the book's curve from one plotted step before the epoch to one after (LeNet leaves chance
in the second epoch, or the first, or the third), widened by a margin for the metric's kind and
by twice the book curve's mean wobble (batch norm's test accuracy jumps by 0.2 between epochs);
and one epoch outside it is not enough (at lr 0.5 dropout's test accuracy dips by 0.1 now and
then). The margins come from runs with the book's settings and several seeds — softmax, mlp,
dropout, LeNet, linear regression, the sequence model, Nadaraya-Watson, house prices — which
all stay inside, while softmax at lr 0.01 leaves at epoch 2 (issue 13). Polyfit and weight decay
are not watched: each run draws its few examples anew, and their curves differ from draw to
draw by 2× to 40×.

The runner wraps its event stream with ``watch``, so every front end (the TUI, the CLI, --json,
the store) gets the notes and the table as ordinary events.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

from lab import reference
from lab.events import Ended, EpochEnd, Event, Message, Sink, Table
from lab.reference import Reference
from lab.spec import Experiment, ParamError

ACC_MARGIN = 0.04  # accuracies: this far (absolute) beyond the book's curve near the epoch
LOG_MARGIN = math.log(1.15)  # losses, perplexities, rmse: a factor this far beyond it
JITTER = 2.0  # and this many times the book curve's typical wobble from point to point
SAME_SETTINGS = "the settings are the book's"  # what a note says when nothing differs


def kind(metric: str) -> str:
    return "acc" if "acc" in metric else "log"


def jitter(points: tuple[tuple[float, float], ...], log: bool) -> float:
    """How much the book's curve wobbles: the mean distance of a point from the midpoint of its
    two neighbours (on a log scale for losses); a test accuracy that jumps about (batch norm's,
    DenseNet's) wobbles by 0.04, a smooth one (softmax's) by 0.006."""
    ys = [math.log(y) if log else y for _, y in points if y > 0 or not log]
    wobble = [abs(b - (a + c) / 2) for a, b, c in zip(ys, ys[1:], ys[2:], strict=False)]
    return statistics.fmean(wobble) if wobble else 0.0


def outside(ref: Reference, metric: str, epoch: float, value: float) -> bool:
    """Whether ``value`` is outside the band a normal run stays in at ``epoch``."""
    near = ref.around(metric, epoch)
    if not near or not math.isfinite(value):
        return False
    points = ref.series.get(metric, ())
    if kind(metric) == "acc":
        margin = ACC_MARGIN + JITTER * jitter(points, log=False)
        return not min(near) - margin <= value <= max(near) + margin
    if value <= 0 or min(near) <= 0:
        return False
    margin = LOG_MARGIN + JITTER * jitter(points, log=True)
    return not math.log(min(near)) - margin <= math.log(value) <= math.log(max(near)) + margin


def shown(metric: str, value: float) -> str:
    return f"{value:.2f}" if kind(metric) == "acc" else f"{value:.3g}"


class BookWatch:
    """Follows one run's events: drift notes after its epochs, the table before its end."""

    def __init__(self, experiment: Experiment, params: Mapping[str, Any], ref: Reference):
        self.experiment, self.params, self.ref = experiment, params, ref
        self.noted: set[str] = set()  # the metrics the note named
        self.outside: set[str] = set()  # the metrics outside their band at their last comparison
        self.last: EpochEnd | None = None
        try:
            self.differences = ref.differences(experiment, params)
        except ParamError:  # a catalog that no longer has the book's preset: name nothing
            self.differences = {}

    def note(self, event: EpochEnd) -> Message | None:
        """The run's drift note, at the first epoch it is due."""
        self.last = event
        if not self.ref.drift or self.noted:  # one note a run: it names the cause
            return None
        drifted = []
        for m, v in event.metrics.items():
            if not self.ref.around(m, event.epoch):
                continue  # the book has no value at this epoch
            if not outside(self.ref, m, event.epoch, v):
                self.outside.discard(m)
            elif m in self.outside:
                drifted.append((m, v))
            else:
                self.outside.add(m)
        if not drifted:
            return None
        self.noted.update(m for m, _ in drifted)
        # One metric says it: the held-out one first (what the learner watches), then accuracy.
        drifted.sort(key=lambda mv: (not any(w in mv[0] for w in ("test", "valid")),
                                     kind(mv[0]) != "acc"))
        (metric, value), others = drifted[0], [reference.label(m) for m, _ in drifted[1:]]
        text = (f"{reference.label(metric)} {shown(metric, value)} at epoch {event.epoch}, "
                f"book {shown(metric, self.ref.at(metric, event.epoch) or 0.0)}")
        if others:
            text += f" ({', '.join(others)} too)"
        why = "; ".join(f"{name} is {reference.param_text(ours)} here, "
                        f"{reference.param_text(book)} in the book"
                        for name, (ours, book) in self.differences.items())
        return Message(f"{text} — {why or SAME_SETTINGS}", level="warning")

    def table(self, ended: Ended) -> Table | None:
        """This run's final numbers beside the book's; where it ended at another epoch than the
        book (a quick preset, a stop), also the book's at that epoch."""
        metrics = {**(self.last.metrics if self.last else {}), **ended.metrics}
        names = [m for m in self.ref.final if m in metrics]
        if not names:
            return None
        columns = ["", "this run", "book"]
        rows = [[reference.label(m), reference.number(metrics[m], True),
                 reference.number(self.ref.final[m], m in self.ref.printed)] for m in names]
        epoch = self.last.epoch if self.last else self.ref.epochs
        book_then = [self.ref.at(m, epoch) for m in names]
        if abs(epoch - self.ref.epochs) > 1e-6:  # a quick preset, a stop: epochs differ
            columns[1:] = [f"this run · epoch {epoch}",
                           f"book · epoch {reference.number(self.ref.epochs)}"]
            if any(value is not None for value in book_then):
                columns.insert(2, f"book · epoch {epoch}")
                for row, value in zip(rows, book_then, strict=True):
                    row.insert(2, "–" if value is None else reference.number(value))
        variant = " ".join(f"{k}={reference.param_text(v)}" for k, v in self.ref.variant.items())
        title = f"vs book: {self.experiment.id}{f' ({variant})' if variant else ''}"
        if self.differences:
            title += f" · differs: {', '.join(self.differences)}"
        return Table(title, columns, rows)


def watch(experiment: Experiment, params: Mapping[str, Any], emit: Sink) -> Sink:
    """``emit`` with the book beside it: a drift note after an epoch that needs one, the table
    just before the run's end. Unchanged for an experiment the book does not run."""
    ref = reference.find(experiment.id, params)
    if ref is None:
        return emit
    book = BookWatch(experiment, params, ref)

    def with_book(event: Event) -> None:
        if isinstance(event, Ended):
            table = book.table(event)
            if table is not None:
                try:
                    emit(table)
                finally:  # the end is told even if recording the table failed
                    emit(event)
                return
        emit(event)
        if isinstance(event, EpochEnd) and (message := book.note(event)) is not None:
            emit(message)

    return with_book
