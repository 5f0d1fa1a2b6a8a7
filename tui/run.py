"""The run thread, the device probe and text writing: the only places the TUI touches torch.

Runs use a daemon thread rather than a Textual thread worker: those live in asyncio's default
executor, which the interpreter joins at exit, so a batch that will not end (a slow download, a
huge model) would hold the shell hostage after quitting. Here quitting waits a bounded time for
the run to record itself as stopped, then leaves regardless.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.cancel import Cancel
from lab.events import Ended, Event, Started
from lab.spec import Experiment, Params
from tui.messages import DevicesFound, RunEvents, RunFinished, TextWritten

Post = Callable[[Any], object]


class EventBatcher:
    """A runner sink that forwards events in batches at most every ``interval`` seconds.

    Called only from the run thread. A run's first and last events go out at once so the UI
    reacts immediately; anything held back is sent by the next event or the final ``flush``.
    """

    def __init__(self, post: Post, interval: float = 0.1) -> None:
        self._post = post
        self._interval = interval
        self._pending: list[Event] = []
        self._last = 0.0

    def __call__(self, event: Event) -> None:
        self._pending.append(event)  # events are not changed once emitted (see end_epoch)
        now = time.monotonic()
        if isinstance(event, Started | Ended) or now - self._last >= self._interval:
            self.flush()
            self._last = now

    def flush(self) -> None:
        if self._pending:
            events, self._pending = self._pending, []
            self._post(RunEvents(events))


class RunHandle:
    """One run in a background thread: start it, ask it to stop, wait for it to end."""

    def __init__(self, post: Post, experiment: Experiment, params: Params, *,
                 device: str, seed: int, preset: str) -> None:
        self._post = post
        self.experiment, self.params = experiment, params
        self.device, self.seed, self.preset = device, seed, preset
        self.cancel = Cancel()
        self.done = threading.Event()
        self.result: Any | None = None
        self._thread = threading.Thread(target=self._main, name="d2l-lab-run", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.cancel.set()

    def interrupt(self, signum: int) -> None:
        """The session is ending (SIGTERM, SIGHUP): stop, recorded as interrupted."""
        self.cancel.interrupt(signum)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self.done.is_set()

    def _main(self) -> None:
        batcher = EventBatcher(self._post)
        error = ""
        try:
            from lab import devices, runner  # torch: seconds to import, so only here

            device = devices.validate(self.device)
            self.result = runner.run(
                self.experiment, self.params, device=device, seed=self.seed,
                preset=self.preset, sinks=[batcher], cancel=self.cancel,
            )
        except ValueError as err:  # DeviceError and friends: a message, not a traceback
            error = str(err)
        except Exception as err:  # the runner reports its own failures; this is a lab bug
            error = f"{type(err).__name__}: {err}"
        finally:
            batcher.flush()
            self.done.set()
            self._post(RunFinished(self.result, error))


def probe_devices(post: Post) -> threading.Thread:
    """List devices in a daemon thread (it imports torch); cpu alone if that fails."""

    def main() -> None:
        try:
            from lab import devices

            found = [(d.name, d.label) for d in devices.available()]
        except Exception:  # no torch, a broken driver: cpu still works
            found = [("cpu", "cpu")]
        post(DevicesFound(found))

    thread = threading.Thread(target=main, name="d2l-lab-devices", daemon=True)
    thread.start()
    return thread


def write_text(post: Post, experiment: Experiment, run_dir: Path, prefix: str,
               chars: int) -> threading.Thread:
    """Let a finished run's language model write ``chars`` characters after ``prefix``, in a
    daemon thread (loading the checkpoint imports torch); posts TextWritten."""

    def main() -> None:
        try:
            recipe = importlib.import_module(experiment.entry.partition(":")[0])
            text = recipe.load_generator(run_dir)(prefix, chars)
        except (OSError, ValueError) as err:  # no checkpoint, not a language model, bad prefix
            post(TextWritten(prefix, error=str(err)))
        except Exception as err:  # a lab bug: say what, keep the app
            post(TextWritten(prefix, error=f"{type(err).__name__}: {err}"))
        else:
            post(TextWritten(prefix, text))

    thread = threading.Thread(target=main, name="d2l-lab-write", daemon=True)
    thread.start()
    return thread
