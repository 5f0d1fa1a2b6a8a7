"""Detached runs from the command line: one outlives the terminal that started it (the pty is
closed under it), `runs follow` watches one to its end, `runs stop` stops one, and
`run --resume` finishes what was stopped."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import catalog, detach
from lab.store import Store

ROOT = Path(__file__).resolve().parents[1]
LAB = [sys.executable, "-m", "lab.cli"]
# Runs a command as the leader of a new session whose controlling terminal is its stdin (the
# pty), as a login shell in a terminal window or over SSH is.
TAKE_TERMINAL = ("import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
                 "os.execvp(sys.argv[1], sys.argv[1:])")
RUN_ID = re.compile(rb"\d{8}-\d{6}-linreg-scratch-[0-9a-f]{4}")


@pytest.fixture
def env(lab_home: Path) -> dict[str, str]:
    """The test's lab home for every process; one thread each, wide rich output."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120"}


def read_until(fd: int, pattern: re.Pattern[bytes], timeout: float) -> re.Match[bytes]:
    """Read a pty until ``pattern`` appears in what it printed."""
    seen, deadline = b"", time.monotonic() + timeout
    while (found := pattern.search(seen)) is None:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; the terminal showed:\n{seen.decode(errors='replace')}"
        if select.select([fd], [], [], left)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the other side closed: nothing more will come
                raise AssertionError(seen.decode(errors="replace")) from None
    return found


def wait_status(store: Store, run_id: str, done: callable, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done(store.get(run_id)):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {store.get(run_id)}"
        time.sleep(0.1)


def stop_leftover(store: Store, run_id: str | None) -> None:
    """A failed test must not leave a detached run training."""
    if run_id and store.is_live(run_id):
        detach.stop(store, run_id)


@pytest.mark.timeout(180)
def test_a_detached_run_keeps_going_after_its_terminal_is_closed(env: dict[str, str]) -> None:
    store, run_id = Store(), None
    master, slave = os.openpty()
    command = (f"{' '.join(LAB)} run linreg-scratch --set epochs=20 --set batch_size=1 --detach;"
               " exec sleep 120")  # the shell stays, as the terminal's session
    shell = subprocess.Popen([sys.executable, "-c", TAKE_TERMINAL, "sh", "-c", command],
                             stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env,
                             start_new_session=True)
    os.close(slave)
    try:
        run_id = read_until(master, RUN_ID, 90).group().decode()
        assert store.get(run_id).status == "running"
        epochs_then = store.get(run_id).epochs_done
        os.close(master)  # the terminal window closes (or the SSH connection drops)
        master = -1
        assert shell.wait(10) == -signal.SIGHUP  # the kernel hung up the whole session
        # The run goes on without it, to its end; `runs follow` shows it.
        follow = subprocess.run([*LAB, "runs", "follow", run_id], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        record = store.get(run_id)
        assert (record.status, record.epochs_done) == ("finished", 20)
        assert epochs_then < 20  # it was still training when the terminal went
        assert follow.returncode == 0, follow.stdout + follow.stderr
        rows = [line.split()[0] for line in follow.stdout.splitlines()
                if re.match(r"\d+\s+\d", line)]
        assert rows == [str(epoch) for epoch in range(1, 21)]
        assert "finished" in follow.stdout
    finally:
        if master >= 0:
            os.close(master)
        if shell.poll() is None:
            shell.kill()
        stop_leftover(store, run_id)


@pytest.mark.timeout(180)
def test_runs_stop_stops_a_detached_run_and_run_resume_finishes_it(env: dict[str, str]) -> None:
    exp = catalog.get("linreg-scratch")
    params = exp.resolve("book", {"epochs": "30", "batch_size": "1"})
    store = Store()
    run_id, proc = detach.spawn(store, exp, params, device="cpu", seed=0, preset="book")
    follow = None
    try:
        detach.wait_started(store, run_id, proc)
        follow = subprocess.Popen([*LAB, "runs", "follow", run_id], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_status(store, run_id, lambda r: r.epochs_done >= 2, 60, "two epochs")
        stop = subprocess.run([*LAB, "runs", "stop", run_id], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0 and "asked" in stop.stdout, stop.stdout + stop.stderr
        assert follow.wait(60) == 130  # as `run` itself exits for a stopped run
        assert "stopped" in follow.stdout.read()
        assert proc.wait(30) == 1
        record = store.get(run_id)
        assert record.status == "stopped" and 2 <= record.epochs_done < 30
        assert (store.run_dir(run_id) / "last.pt").exists()

        again = subprocess.run([*LAB, "run", "--resume", run_id], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"resumed after epoch {record.epochs_done}" in again.stdout
    finally:
        if follow is not None and follow.poll() is None:
            follow.kill()
        stop_leftover(store, run_id)
    record = store.get(run_id)
    assert (record.status, record.epochs_done) == ("finished", 30)
    assert [epoch for epoch, _ in store.epochs(run_id)] == list(range(1, 31))
