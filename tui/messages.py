"""Messages that cross from background threads (the run, the device probe) to the UI thread."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from lab.events import Event


class RunEvents(Message):
    """A batch of run events, in order; batched so a fast run cannot flood the UI queue."""

    # The RunHandle that sent it (set by the handle): the app drops batches from a run it no
    # longer shows (one it stopped following). None: shown whatever the handle.
    handle: Any = None

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class RunFinished(Message):
    """The run thread has returned: ``result`` is the runner's RunResult, or None with ``error``
    (or None and no error: a run another process runs, followed to its end or left)."""

    handle: Any = None  # as for RunEvents

    def __init__(self, result: Any | None, error: str = "") -> None:
        super().__init__()
        self.result = result
        self.error = error


class DevicesFound(Message):
    """The devices this machine offers, as (name, label) pairs; cpu first."""

    def __init__(self, devices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.devices = devices


class TextWritten(Message):
    """What a trained language model wrote after ``prefix`` (``text`` includes the prefix), or
    why it could not (``error``)."""

    def __init__(self, prefix: str, text: str = "", error: str = "") -> None:
        super().__init__()
        self.prefix, self.text, self.error = prefix, text, error


class SweepStep(Message):
    """A sweep's next run is about to start (before its events): run ``index`` of ``total``
    (1-based), ``label`` its values ("lr=0.3"), ``params`` what it runs with."""

    handle: Any = None  # the SweepHandle, as for RunEvents

    def __init__(self, sweep: str, index: int, total: int, label: str, params: Any) -> None:
        super().__init__()
        self.sweep, self.index, self.total = sweep, index, total
        self.label, self.params = label, params


class SweepFinished(Message):
    """A sweep's thread has ended, after its RunFinished: ``results`` are its runs' RunResults
    in order (fewer than ``total`` when it was stopped or a run could not start)."""

    handle: Any = None

    def __init__(self, sweep: str, results: list[Any], total: int) -> None:
        super().__init__()
        self.sweep, self.results, self.total = sweep, results, total
