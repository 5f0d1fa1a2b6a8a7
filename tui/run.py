"""The run thread (training here, or following a run another process trains), the device probe
and text writing: the only places the TUI touches torch.

Runs use a daemon thread rather than a Textual thread worker: those live in asyncio's default
executor, which the interpreter joins at exit, so a batch that will not end (a slow download, a
huge model) would hold the shell hostage after quitting. Here quitting waits a bounded time for
the run to record itself as stopped, then leaves regardless.
"""

from __future__ import annotations

import importlib
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.cancel import Cancel
from lab.detach import DetachError
from lab.events import Ended, Event, Started
from lab.spec import Experiment, Params
from lab.store import RUNNING, Store
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

    def send(self, events: list[Event]) -> None:
        """Forward events that came together (a followed run's new lines) as one batch."""
        self._pending += events
        self.flush()

    def flush(self) -> None:
        if self._pending:
            events, self._pending = self._pending, []
            self._post(RunEvents(events))


# What a run's thread does: trains or follows, feeding ``sink``; returns the runner's result.
Body = Callable[[EventBatcher, Cancel], Any]


class RunHandle:
    """One run's thread: ``body(sink, cancel)`` runs in it (training, or following a run another
    process trains) and its events reach the UI in batches; stop it, wait for it to end."""

    follows = False  # True (Follower): the run lives in another process; this only watches it

    def __init__(self, post: Post, experiment: Experiment, body: Body) -> None:
        self._post = post
        self._body = body
        self.experiment = experiment
        self.cancel = Cancel()
        self.done = threading.Event()
        self.result: Any | None = None
        self._thread = threading.Thread(target=self._main, name="d2l-lab-run", daemon=True)

    @classmethod
    def new(cls, post: Post, experiment: Experiment, params: Params, *, device: str, seed: int,
            preset: str) -> RunHandle:
        """A new run of ``experiment`` in this process."""

        def body(sink: EventBatcher, cancel: Cancel) -> Any:
            from lab import devices, runner  # torch: seconds to import, so only here

            return runner.run(experiment, params, device=devices.validate(device), seed=seed,
                              preset=preset, sinks=[sink], cancel=cancel)

        return cls(post, experiment, body)

    @classmethod
    def resuming(cls, post: Post, experiment: Experiment, run_id: str,
                 device: str | None = None) -> RunHandle:
        """Continue a stopped, interrupted or crashed run in this process from its checkpoint;
        a run that cannot continue ends the thread with ``plan_resume``'s reason."""

        def body(sink: EventBatcher, cancel: Cancel) -> Any:
            from lab import devices, runner
            from lab.resume import plan_resume  # loads the checkpoint: torch

            store = Store()
            plan = plan_resume(store, run_id, device)
            devices.validate(plan.device)  # a GPU run, and no GPU here: say so
            return runner.resume(plan, sinks=[sink], cancel=cancel, store=store)

        return cls(post, experiment, body)

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

    def post(self, message: RunEvents | RunFinished) -> None:
        message.handle = self  # so the app can tell a run it still shows from one it left
        self._post(message)

    def _main(self) -> None:
        batcher = EventBatcher(self.post)
        error = ""
        try:
            self.result = self._body(batcher, self.cancel)
        except (ValueError, DetachError) as err:  # a bad device, a refused resume: a message
            error = str(err)
        except Exception as err:  # the runner reports its own failures; this is a lab bug
            error = f"{type(err).__name__}: {err}"
        finally:
            batcher.flush()
            self.done.set()
            self.post(RunFinished(self.result, error))


Spawn = Callable[[Store], "tuple[str, subprocess.Popen]"]


class Follower(RunHandle):
    """A run another process runs (detached, another terminal, the CLI), watched through its
    events file: the history so far comes as the first batch, then each new batch as it is
    written. ``stop`` asks that process to stop (SIGINT, as Ctrl+C there would); ``leave`` only
    stops watching (quitting the lab leaves the run going). Ends with the run; a run whose
    process vanished without a word is recorded as crashed, and an ``Ended`` says so."""

    follows = True

    def __init__(self, post: Post, experiment: Experiment, run_id: str = "", *,
                 spawn: Spawn | None = None) -> None:
        super().__init__(post, experiment, self._watch)
        self.run_id = run_id  # "" until ``spawn`` has named the run
        self.pid: int | None = None  # the run's process, once known
        self._spawn = spawn  # starts the run first (in this thread: the child imports torch)
        self._stop_asked = False

    def stop(self) -> bool:
        """Ask the run's process to stop; False if it does not run on this machine."""
        from lab import detach

        self._stop_asked = True  # before its pid is known: the thread asks once it is
        return self.pid is None or detach.stop(Store(), self.run_id)

    def leave(self) -> None:
        self.cancel.set()

    def interrupt(self, signum: int) -> None:
        self.leave()  # the run is not this session's: it goes on

    def _watch(self, sink: EventBatcher, cancel: Cancel) -> None:
        from lab import detach
        from lab.follow import follow

        store = Store()
        proc = None
        if self._spawn is not None:
            self.run_id, proc = self._spawn(store)
            detach.wait_started(store, self.run_id, proc)
        self.pid = store.pid(self.run_id)
        if self._stop_asked:  # Stop came first (``stop`` sets the flag, then reads the pid)
            detach.stop(store, self.run_id)

        def alive() -> bool:  # our own child: poll() also reaps it, so a dead one is seen dead
            return (proc is None or proc.poll() is None) and store.is_live(self.run_id)

        ended, elapsed = False, 0.0
        for batch in follow(store.run_dir(self.run_id), alive, cancel.is_set):
            sink.send(batch)
            for event in batch:
                if isinstance(event, Ended | Started):
                    ended = isinstance(event, Ended)  # a resumed run starts again
                elapsed = getattr(event, "elapsed", elapsed)
        if ended or cancel.is_set():
            return None
        store.mark_crashed()  # its process is gone: the store says so, and so does the UI
        record = store.get(self.run_id)
        if record is not None and record.status != RUNNING:
            sink(Ended(record.status, record.reason, record.metrics, elapsed))
        return None


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
