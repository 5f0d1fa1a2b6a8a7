"""How a run is asked to stop; torch-free, so the TUI can hold one before torch is loaded."""

from __future__ import annotations

import threading


class Cancel(threading.Event):
    """The stop request a run checks every batch: ``set()`` when the user stops it (Stop,
    Ctrl+C, quitting), ``interrupt(signum)`` when the session ends under it (SIGTERM, SIGHUP):
    the run is then recorded as interrupted rather than stopped."""

    signum = 0  # the signal that interrupted the run; 0: none

    def interrupt(self, signum: int) -> None:
        self.signum = signum
        self.set()
