"""Runs in processes of their own, watched by following their events (lab/follow.py).

Detached: a run in its own process and session, so it outlives the terminal (an SSH drop, a
closed window) that started it. The parent checks everything first, names the run, writes its
``config.json`` and starts ``python -m lab.detach RUN`` in a new session; the child reads the
config back and runs it with the one runner. Its own output (a traceback at worst) goes to the
run's ``output.log``.

Owned by the lab: the TUI trains in a worker process too, never in its own, where the UI and the
training loop would share one GIL (a third of the headless speed for small models). A worker
(``standby``) imports torch ahead of time and waits on a pipe for the run the lab hands it
(``hand``); it belongs to the lab: when the lab's end of the pipe closes (the lab exited or was
killed), its run is interrupted, keeping its checkpoint, and an idle worker just exits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from lab import catalog, paths
from lab.cancel import Cancel
from lab.spec import Experiment, Params
from lab.store import Store

OUTPUT = "output.log"
WORKER_LOG = "worker.log"  # in the lab's home: what a worker says before it has a run (if anything)
STANDBY = "--standby"
START_TIMEOUT = 120.0  # seconds the parent waits for the child to record the run (torch import)


class DetachError(RuntimeError):
    """The detached process ended before it recorded its run; the message has its output."""


def spawn(store: Store, experiment: Experiment, params: Params, *, device: str, seed: int,
          preset: str, sweep: str = "") -> tuple[str, subprocess.Popen]:
    """Start a new run in a detached process; returns its id at once (see ``wait_started``)."""
    run_id = prepare(store, experiment, params, device=device, seed=seed, preset=preset,
                     sweep=sweep)
    return run_id, _start(store, run_id, [])


def prepare(store: Store, experiment: Experiment, params: Params, *, device: str, seed: int,
            preset: str, sweep: str = "") -> str:
    """Name a new run and write the ``config.json`` its process reads; returns the run's id."""
    run_id = store.new_run_id(experiment.id)
    run_dir = store.run_dir(run_id)
    run_dir.mkdir(parents=True)
    config = {"experiment": experiment.id, "preset": preset, "params": dict(params),
              "device": device, "seed": seed, "sweep": sweep}
    (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return run_id


def spawn_resume(store: Store, run_id: str, device: str | None = None) -> subprocess.Popen:
    """Continue a stopped or crashed run (checked by the caller with ``plan_resume``) in a
    detached process."""
    return _start(store, run_id, resume_args(device))


def resume_args(device: str | None = None) -> list[str]:
    return ["--resume"] + (["--device", device] if device else [])


def standby(store: Store) -> subprocess.Popen:
    """A worker: a process that imports torch now and trains the run ``hand`` gives it later."""
    return _popen(store, [STANDBY], store.home / WORKER_LOG, stdin=subprocess.PIPE)


def hand(worker: subprocess.Popen, run_id: str, extra: list[str] | None = None) -> None:
    """Give ``worker`` (``standby``) the run to train: a new one (``prepare``), or one to resume
    (``resume_args``). BrokenPipeError if the worker has died."""
    assert worker.stdin is not None
    worker.stdin.write(" ".join([run_id, *(extra or [])]).encode() + b"\n")
    worker.stdin.flush()


def _start(store: Store, run_id: str, extra: list[str]) -> subprocess.Popen:
    return _popen(store, [run_id, *extra], output_path(store, run_id), stdin=subprocess.DEVNULL)


def _popen(store: Store, args: list[str], output: Path, *, stdin: int) -> subprocess.Popen:
    log = output.open("ab")
    env = dict(os.environ)
    if store.home != paths.home():  # a store elsewhere (D2L_LAB_HOME moves the data cache too)
        env["D2L_LAB_HOME"] = str(store.home)
    try:
        # A session of its own: the terminal's signals (a hang-up, a Ctrl+C meant for the lab)
        # do not reach it; a detached run ignores them, an owned one hears them from the lab.
        return subprocess.Popen(
            [sys.executable, "-m", "lab.detach", *args], stdin=stdin, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, env=env)
    finally:
        log.close()  # the child holds its own copy


def wait_started(store: Store, run_id: str, proc: subprocess.Popen,
                 timeout: float = START_TIMEOUT, *, own_pid: bool = True) -> None:
    """Return once ``proc`` has recorded ``run_id`` as running (``own_pid`` False: a process it
    started has, as torchrun's first rank does); DetachError if it ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = store.pid(run_id)
        if pid is not None and (pid == proc.pid or not own_pid):
            return
        if proc.poll() is not None:
            if store.get(run_id) is not None:  # it ran, and ended already: a very short run
                return
            output = output_tail(store, run_id)
            raise DetachError(f"the detached run ended at once (exit {proc.returncode})"
                              + (f":\n{output}" if output else ""))
        time.sleep(0.05)
    raise DetachError(f"the detached run did not start within {timeout:.0f}s; see "
                      f"{output_path(store, run_id)}")


def output_path(store: Store, run_id: str) -> Path:
    return store.run_dir(run_id) / OUTPUT


def output_tail(store: Store, run_id: str, chars: int = 2000) -> str:
    """The end of what a detached process printed (a traceback, at worst)."""
    path = output_path(store, run_id)
    return path.read_text(errors="replace").strip()[-chars:] if path.exists() else ""


def stop(store: Store, run_id: str) -> bool:
    """Ask a run in another process on this machine to stop (as Ctrl+C would: it keeps its
    checkpoint); False if it is not running here."""
    pid = store.pid(run_id)
    if pid is None or not store.is_live(run_id):
        return False
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return False
    return True


def _main(argv: list[str]) -> int:
    """The run's process: run (or resume) the run whose folder the parent prepared; as a
    worker (``--standby``), the run named on stdin once the lab hands it one."""
    from lab import runner  # torch
    from lab.resume import plan_resume

    cancel = Cancel()
    # Ctrl+C's signal (from `runs stop`, or the TUI's Stop) stops it; SIGTERM and SIGHUP
    # (a shutdown) interrupt it; either way it records itself and keeps its checkpoint.
    signal.signal(signal.SIGINT, lambda *_: cancel.set())
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: cancel.interrupt(signum))
    store = Store()
    if argv == [STANDBY]:
        argv = _read_line(0).split()
        if not argv:  # the lab closed without a run for it
            return 0
        _output_to(output_path(store, argv[0]))
        threading.Thread(target=_interrupt_when_orphaned, args=(cancel,), daemon=True).start()
    run_id, resume = argv[0], "--resume" in argv
    device = argv[argv.index("--device") + 1] if "--device" in argv else None
    if resume:
        result = runner.resume(plan_resume(store, run_id, device), cancel=cancel, store=store)
    else:
        config = json.loads((store.run_dir(run_id) / "config.json").read_text(encoding="utf-8"))
        experiment = catalog.get(config["experiment"])
        params = experiment.resolve(config["preset"], config["params"])
        result = runner.run(experiment, params, device=config["device"], seed=config["seed"],
                            preset=config["preset"], cancel=cancel, store=store, run_id=run_id,
                            sweep=config.get("sweep", ""))
    return 0 if result.status == "finished" else 1


def _read_line(fd: int) -> str:
    """One line from ``fd``, read unbuffered: nothing past it is taken from the pipe."""
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line.decode()


def _output_to(path: Path) -> None:
    """From now on this process's stdout and stderr (a traceback, at worst) go to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)


def _interrupt_when_orphaned(cancel: Cancel) -> None:
    """A worker's run belongs to the lab: once the lab's end of the pipe closes (it quit
    without stopping the run, or was killed), the run is interrupted as a hang-up would."""
    while os.read(0, 4096):  # not sys.stdin: a thread blocked in it would hang the exit
        pass
    cancel.interrupt(signal.SIGHUP)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
