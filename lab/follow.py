"""Watching a run that another process writes: read its events file as it grows.

A run's ``events.jsonl`` gets one whole line per event (``EventLog``), so a reader that keeps its
offset and holds back a line until its newline arrives sees every event once, in order, whether
the run lives in this process, a detached one, another terminal or a torchrun rank.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from lab.events import Ended, Event, from_dict

POLL_SECONDS = 0.2


class EventTail:
    """The events appended to a run's events file since the last ``read``."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "events.jsonl"
        self._offset = 0
        self._partial = b""
        self.ended: Ended | None = None  # the run's end, once read

    def read(self) -> list[Event]:
        try:
            with self.path.open("rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:  # the run has not written its first event yet
            return []
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # "" after a whole line; else a line still being written
        events = []
        for line in lines:
            try:
                event = from_dict(json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                continue  # a line torn by a crash, later cut by a resume: nothing to show
            events.append(event)
            if isinstance(event, Ended):
                self.ended = event
            elif self.ended is not None:  # resumed after it ended: it runs again
                self.ended = None
        return events


def follow(run_dir: Path, alive: Callable[[], bool], stop: Callable[[], bool] = lambda: False,
           poll: float = POLL_SECONDS) -> Iterator[list[Event]]:
    """Batches of a run's events, from its first, until it ends, its process is gone
    (``alive()`` false: it crashed) or ``stop()`` says the watcher has seen enough."""
    tail = EventTail(run_dir)
    while True:
        running = alive()  # asked before reading, so nothing written before it died is missed
        events = tail.read()
        if events:
            yield events
        if tail.ended is not None or not running or stop():
            return
        time.sleep(poll)
