"""The run thread (following a run that a worker process trains for the lab, or one another
process runs), the lab's workers, the device probe and text writing: the only places the TUI
touches torch.

A run's thread is a daemon thread rather than a Textual thread worker: those live in asyncio's
default executor, which the interpreter joins at exit, so a wait that will not end (a worker
that hangs) would hold the shell hostage after quitting. Here quitting waits a bounded time for
the run to record itself as stopped, then leaves regardless.
"""

from __future__ import annotations

import importlib
import signal
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
from lab.store import RUNNING, Store, StoreError
from tui.messages import DevicesFound, RunEvents, RunFinished, TextWritten

Post = Callable[[Any], object]
# How often the lab reads a run's new events (the CLI: every 0.2 s): each read that finds some
# repaints the Train tab, and on 2 cores the interface's time is the training's loss (more than
# its share: a 2-thread matrix product waits for the thread it interrupted). Every 0.4 s, with
# the plot redrawn twice a second, cost softmax and the Transformer 5-7% of their speed
# (benchmarks/tui_cost.py, paired); at this pace and once a second, 0-2%.
UI_POLL = 0.8


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


# What a run's thread does: follows a run (or a sweep's), feeding ``sink``; returns its result.
Body = Callable[[EventBatcher, Cancel], Any]


class RunHandle:
    """One run's thread: ``body(sink, cancel)`` runs in it and its events reach the UI in
    batches; stop it, wait for it to end."""

    follows = False  # True: a run someone else started; this only watches it

    def __init__(self, post: Post, experiment: Experiment, body: Body) -> None:
        self._post = post
        self._body = body
        self.experiment = experiment
        self.cancel = Cancel()
        self.done = threading.Event()
        self.result: Any | None = None
        self._thread = threading.Thread(target=self._main, name="d2l-lab-run", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> bool:
        self.cancel.set()
        return True

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
        except (ValueError, DetachError, StoreError) as err:  # a bad device, a refused resume
            error = str(err)
        except Exception as err:  # the runner reports its own failures; this is a lab bug
            error = f"{type(err).__name__}: {err}"
        finally:
            batcher.flush()
            self.done.set()
            self.post(RunFinished(self.result, error))


# Names a run and starts its process (in the follower's thread: checking the device imports
# torch); returns the run's id and the process.
Spawn = Callable[[Store], "tuple[str, subprocess.Popen]"]


class Follower(RunHandle):
    """A run in another process, watched through its events file: the history so far comes as
    the first batch, then each new batch as it is written. Ends with the run; a run whose
    process vanished without a word is recorded as crashed, and an ``Ended`` says so.

    ``owned``: the lab's own run, trained in a worker (lab/detach.py) rather than in this
    process. Stop and quitting stop it; a hang-up or SIGTERM interrupts it. Otherwise the run is
    someone else's (detached, another terminal, the CLI): ``stop`` asks that process to stop
    (SIGINT, as Ctrl+C there would) and quitting only stops watching (``leave``)."""

    def __init__(self, post: Post, experiment: Experiment, run_id: str = "", *,
                 spawn: Spawn | None = None, owned: bool = False,
                 distributed: bool = False) -> None:
        super().__init__(post, experiment, self._watch)
        self.run_id = run_id  # "" until ``spawn`` has named the run
        self.pid: int | None = None  # the run's process, once known
        self.follows = not owned
        # torchrun's supervisor (``spawn``) is not the process that records the run (its first
        # rank), and it records the end itself if that rank dies: it alone says it is alive.
        self.distributed = distributed
        self._spawn = spawn  # starts the run first
        self._proc: subprocess.Popen | None = None
        self._stop_asked = 0  # 0, or the signal to send once the run's process is known
        self._sent: set[int] = set()  # each signal once: a second SIGINT cuts torchrun short

    def stop(self) -> bool:
        """Ask the run's process to stop; False if it does not run on this machine."""
        return self._signal(signal.SIGINT)

    def interrupt(self, signum: int) -> None:
        if self.follows:
            self.leave()  # the run is not this session's: it goes on
        else:
            self._signal(signum)

    def leave(self) -> None:
        self.cancel.set()

    def _signal(self, signum: int) -> bool:
        from lab import detach

        self._stop_asked = signum  # before its pid is known: the thread sends it once it is
        if self.pid is None or signum in self._sent:
            return True
        if self._proc is not None and self._proc.poll() is None:
            self._sent.add(signum)
            if self.distributed:
                from lab import dist

                dist.signalled(self._proc)
            self._proc.send_signal(signum)
            return True
        return signum == signal.SIGINT and detach.stop(Store(), self.run_id)

    def _watch(self, sink: EventBatcher, cancel: Cancel) -> Any:
        store = Store()
        if self._spawn is not None:
            self._begin(store, self._spawn)
        else:
            self.pid = store.pid(self.run_id)
        try:
            return self._follow(store, sink, cancel)
        finally:
            self._release()

    def _begin(self, store: Store, spawn: Spawn) -> None:
        """Start a run with ``spawn`` and wait until its process has recorded it."""
        from lab import detach

        self.pid = None
        self.run_id, self._proc = spawn(store)
        detach.wait_started(store, self.run_id, self._proc, own_pid=not self.distributed)
        self.pid = self._proc.pid
        if self._stop_asked:  # Stop came first (``_signal`` sets it, then reads the pid)
            self._signal(self._stop_asked)

    def _release(self) -> None:
        """The run has ended: close the worker's pipe (no fd per run left open), and reap the
        process aside (tearing torch down takes it a second: the UI need not wait)."""
        proc, self._proc = self._proc, None
        if proc is None or self.follows or self.cancel.is_set():
            return
        if proc.stdin is not None:
            proc.stdin.close()
        threading.Thread(target=proc.wait, name="d2l-lab-reap", daemon=True).start()

    def _follow(self, store: Store, sink: EventBatcher, cancel: Cancel) -> Any:
        """Feed the run's events to ``sink`` until it ends (or this stops watching); the
        run's result if it is this lab's own."""
        from lab.follow import follow

        proc = self._proc

        def alive() -> bool:  # our own child: poll() also reaps it, so a dead one is seen dead
            if self.distributed and proc is not None:
                return proc.poll() is None
            return (proc is None or proc.poll() is None) and store.is_live(self.run_id)

        ended, elapsed = False, 0.0
        for batch in follow(store.run_dir(self.run_id), alive, cancel.is_set, poll=UI_POLL):
            sink.send(batch)
            for event in batch:
                if isinstance(event, Ended | Started):
                    ended = isinstance(event, Ended)  # a resumed run starts again
                elapsed = getattr(event, "elapsed", elapsed)
        if not ended and not cancel.is_set():
            store.mark_crashed()  # its process is gone: the store says so, and so does the UI
            record = store.get(self.run_id)
            if record is not None and record.status != RUNNING:
                sink(Ended(record.status, record.reason, record.metrics, elapsed))
        return None if self.follows else _result(store, self.run_id)


def _result(store: Store, run_id: str) -> Any:
    """What the runner returned in the worker, as the store recorded it."""
    from lab.runner import RunResult

    record, run_dir = store.get(run_id), store.run_dir(run_id)
    if record is None:
        return None
    traceback = run_dir / "traceback.txt"
    return RunResult(run_id, record.status, record.reason, record.metrics, run_dir,
                     traceback if traceback.exists() else None)


class RunWorkers:
    """The lab's next worker process (lab/detach.py's ``standby``), started ahead when the lab
    may (``warm``) so that a run starts at once instead of after torch's import. A worker
    trains one run (``hand``, from any thread)."""

    def __init__(self, ahead: bool) -> None:
        self.ahead = ahead
        self._next: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def warm(self, store: Store) -> None:
        """Start the next worker now, if the lab starts them ahead and none waits."""
        with self._lock:
            if self.ahead and (self._next is None or self._next.poll() is not None):
                from lab import detach

                self._next = detach.standby(store)

    @property
    def waiting(self) -> subprocess.Popen | None:
        """The worker started ahead, while it waits for a run."""
        worker = self._next
        return worker if worker is not None and worker.poll() is None else None

    def hand(self, store: Store, run_id: str, extra: list[str] | None = None) -> subprocess.Popen:
        """Give the run (see lab/detach.py's ``hand``) to the waiting worker, or a new one."""
        from lab import detach

        with self._lock:
            worker, self._next = self._next, None
        if worker is None or worker.poll() is not None:
            worker = detach.standby(store)
        try:
            detach.hand(worker, run_id, extra)
        except BrokenPipeError:  # it died as it was taken (killed): a fresh one
            worker = detach.standby(store)
            detach.hand(worker, run_id, extra)
        return worker

    def close(self) -> None:
        """The waiting worker exits (its pipe closes without a run)."""
        with self._lock:
            worker, self._next = self._next, None
        if worker is not None and worker.stdin is not None:
            worker.stdin.close()


def in_worker(workers: RunWorkers, experiment: Experiment, params: Params, *, device: str,
              seed: int, preset: str, sweep: str = "") -> Spawn:
    """Start a new run of ``experiment`` in one of the lab's workers."""

    def spawn(store: Store) -> tuple[str, subprocess.Popen]:
        from lab import detach, devices  # a missing device: ValueError, before any record

        run_id = detach.prepare(store, experiment, params, device=devices.validate(device),
                                seed=seed, preset=preset, sweep=sweep)
        return run_id, workers.hand(store, run_id)

    return spawn


def data_parallel(experiment: Experiment, params: Params, *, device: str, seed: int,
                  preset: str) -> Spawn:
    """Start a run on one process per device of ``device`` ("cpu,cpu", "cuda:0,cuda:1") under
    torchrun (lab/dist.py); options it cannot train are refused here (a ValueError)."""

    def spawn(store: Store) -> tuple[str, subprocess.Popen]:
        from lab import devices, dist

        chosen = dist.plan(nproc=None, devices=device, device=None, nnodes=None, node_rank=None,
                           rdzv_endpoint=None, validate=devices.validate)
        assert chosen is not None
        dist.check(experiment, params, chosen)
        return dist.spawn(store, experiment, params, chosen, seed=seed, preset=preset,
                          owned=True)  # the lab's: killing the lab interrupts it

    return spawn


def resume_in_worker(workers: RunWorkers, run_id: str, device: str | None = None) -> Spawn:
    """Continue a stopped, interrupted or crashed run in one of the lab's workers; one that
    cannot continue is refused here with ``plan_resume``'s reason (a ValueError)."""

    def spawn(store: Store) -> tuple[str, subprocess.Popen]:
        from lab import detach, devices
        from lab.resume import plan_resume  # loads the checkpoint: torch

        devices.validate(plan_resume(store, run_id, device).device)  # a GPU run, and no GPU
        return run_id, workers.hand(store, run_id, detach.resume_args(device))

    return spawn


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
