"""The event protocol: what a run tells the world, as small JSON-serialisable records.

One stream feeds every sink: the store (``events.jsonl``), the TUI (as messages) and the CLI
(a progress bar, or JSON lines). Replaying a run's ``events.jsonl`` through ``from_dict`` gives
back the same events, so a finished run can be redrawn by the widgets that showed it live.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

# How a run ends.
FINISHED, STOPPED, DIVERGED, FAILED = "finished", "stopped", "diverged", "failed"
INTERRUPTED = "interrupted"  # stopped by SIGTERM or SIGHUP (the session ended), not by the user
END_STATES = (FINISHED, STOPPED, INTERRUPTED, DIVERGED, FAILED)


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    t: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass
class Started(Event):
    kind: ClassVar[str] = "started"
    run_id: str
    experiment: str
    params: dict[str, Any]
    device: str
    seed: int
    preset: str = "book"
    sweep: str = ""  # the sweep it belongs to, if any: its runs are compared together
    # None: a new run. A number: this process continues the run after that epoch (its last
    # checkpoint); what an earlier process recorded past it is superseded.
    resume_epoch: int | None = None


@dataclass
class Progress(Event):
    """A tick inside an epoch: the batch losses since the last tick, and the throughput."""

    kind: ClassVar[str] = "progress"
    epoch: int  # 1-based
    epochs: int
    step: int  # batches done in this epoch
    steps: int  # batches per epoch
    losses: list[float]  # every batch loss since the previous tick, in order
    examples_per_sec: float
    elapsed: float

    @property
    def position(self) -> float:
        """Where the run is, in epochs (e.g. 2.5 = half-way through epoch 3)."""
        return self.epoch - 1 + self.step / self.steps


@dataclass
class EpochEnd(Event):
    kind: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    metrics: dict[str, float]  # e.g. train_loss, train_acc, test_acc
    examples_per_sec: float
    elapsed: float


@dataclass
class Curve(Event):
    """A whole named curve of a figure: y against x. A later curve with the same figure and
    series replaces the earlier one, so a figure can be redrawn live (gradient norms per layer)."""

    kind: ClassVar[str] = "curve"
    figure: str
    series: str
    x: list[float]
    y: list[float]
    xlabel: str = ""
    log_y: bool = False  # values that span decades (gradient norms)
    log_x: bool = False  # a log-log plot wants both (Zipf's law: frequency against rank)
    # How it is drawn: "" a line in its own colour, named in the legend; "points" the same,
    # its points marked (the book's "-o": an optimiser's steps); "dim" a faint reference beneath
    # the others, not in the legend; "contour" dim too, and the figure's view is the extent of
    # its contour curves: what leaves it is cut at the edge (a trajectory that diverges).
    style: str = ""


@dataclass
class Predictions(Event):
    """Test images with their true and predicted labels (the book's ``predict_ch3``), as uint8
    grey levels, row by row, so any front end can draw them."""

    kind: ClassVar[str] = "predictions"
    images: list[list[list[int]]]  # N × H × W, 0..255
    true: list[str]
    predicted: list[str]


@dataclass
class Heatmap(Event):
    """A matrix to draw as a heatmap, e.g. attention weights: ``matrix[i][j]`` is how much
    query ``rows[i]`` attends to key ``cols[j]``. A later heatmap with the same ``group`` and
    ``title`` replaces the earlier one, so a running model's attention updates in place."""

    kind: ClassVar[str] = "heatmap"
    group: str  # a family browsed together, e.g. "encoder self-attention"
    title: str  # this matrix within it, e.g. "layer 1, head 2"
    matrix: list[list[float]]
    rows: list[str]  # a label per row (queries: tokens or positions)
    cols: list[str]  # a label per column (keys)
    ylabel: str = "queries"
    xlabel: str = "keys"
    epoch: int = 0  # when it was drawn (0: after training)


@dataclass
class Sample(Event):
    """Text a language model generated after ``prefix`` (the book's ``predict_ch8``), at
    ``epoch`` of training (0 for a model that is not training: a finished run's checkpoint)."""

    kind: ClassVar[str] = "sample"
    epoch: int
    prefix: str
    text: str  # the prefix followed by what the model wrote


@dataclass
class Message(Event):
    """A line for the log: what the book prints, a warning, a hint."""

    kind: ClassVar[str] = "message"
    text: str
    level: str = "info"  # info | warning | error


@dataclass
class Table(Event):
    """A small table for the log, its cells already text: a demo's values step by step (a data
    frame after each preprocessing step, the statistics a normalisation computes)."""

    kind: ClassVar[str] = "table"
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Ended(Event):
    kind: ClassVar[str] = "ended"
    status: str  # one of END_STATES
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0


_KINDS: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (Started, Progress, EpochEnd, Curve, Heatmap, Predictions, Sample, Message,
                Table, Ended)
}


def from_dict(data: dict[str, Any]) -> Event:
    """The inverse of ``Event.to_dict``; unknown keys (from newer versions) are ignored."""
    cls = _KINDS[data["kind"]]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


Sink = Callable[[Event], None]
