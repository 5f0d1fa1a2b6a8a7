"""Messages that cross from background threads (the run, the device probe) to the UI thread."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from lab.events import Event


class RunEvents(Message):
    """A batch of run events, in order; batched so a fast run cannot flood the UI queue."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class RunFinished(Message):
    """The run thread has returned: ``result`` is the runner's RunResult, or None with ``error``."""

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
