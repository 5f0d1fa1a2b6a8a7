"""A run killed with SIGKILL mid-epoch: the index stays sound, the events file stays readable up
to its last whole line, and the next look at the store says the run crashed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from lab.store import CRASHED, Store, read_events

ROOT = Path(__file__).resolve().parents[1]
# linreg-scratch for its most epochs (1000): seconds of steady epochs, no data needed.
LONG_RUN = """
from lab import catalog, runner
exp = catalog.get("linreg-scratch")
runner.run(exp, exp.resolve("book", {"epochs": "1000", "batch_size": "1"}))
"""


def epoch_lines(events: Path) -> int:
    if not events.exists():
        return 0
    return sum('"kind": "epoch"' in line for line in events.read_text().splitlines())


def test_a_run_killed_mid_epoch_is_marked_crashed_and_its_records_stay_sound(
        lab_home: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", LONG_RUN], cwd=ROOT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        events = None
        while time.monotonic() < deadline:
            folders = list((lab_home / "runs").glob("*"))
            events = folders[0] / "events.jsonl" if folders else None
            if events is not None and epoch_lines(events) >= 3:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            raise AssertionError("the run did not reach 3 epochs")
        (events.parent / "final.tmp").write_bytes(b"half a checkpoint")  # as a kill leaves it
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()

    run_id = events.parent.name
    with sqlite3.connect(lab_home / "runs.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone() == (
            "running",)  # nobody has looked yet
    lines = events.read_text().splitlines()
    whole = [line for line in lines if _parses(line)]
    assert len(whole) >= len(lines) - 1  # at most the line being written when it died is torn
    assert len(read_events(events.parent)) == len(whole)

    store = Store()  # what every command and the TUI do at start-up
    record = store.get(run_id)
    assert record is not None and record.status == CRASHED
    assert "process ended" in record.reason and record.ended_at is not None
    assert record.epochs_done >= 3
    assert not (events.parent / "final.tmp").exists()  # the stray half checkpoint is gone
    assert Store().mark_crashed() == []  # once is enough


def test_a_live_run_is_not_marked_crashed(lab_home: Path) -> None:
    from lab.events import Started

    store = Store()
    store.record("r-live", Started("r-live", "linreg-scratch", {}, "cpu", 0))  # this process
    assert Store().get("r-live").status == "running"


def test_an_older_index_gains_the_new_columns(lab_home: Path) -> None:
    lab_home.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(lab_home / "runs.db") as db:  # the first release's table
        db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, experiment TEXT NOT NULL, preset TEXT"
                   " NOT NULL, device TEXT NOT NULL, seed INTEGER NOT NULL, params TEXT NOT NULL,"
                   " status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', epochs_done INTEGER"
                   " NOT NULL DEFAULT 0, metrics TEXT NOT NULL DEFAULT '{}', started_at REAL NOT"
                   " NULL, ended_at REAL)")
        db.execute("INSERT INTO runs VALUES ('old', 'mlp', 'book', 'cpu', 0, '{}', 'finished',"
                   " '', 10, '{}', 1.0, 2.0)")
    store = Store()
    assert store.get("old").status == "finished"
    with sqlite3.connect(lab_home / "runs.db") as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    assert {"pid", "host"} <= columns


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


WRITER = """
import sys
from lab.events import EpochEnd, Started
from lab.store import Store
run_id = sys.argv[1]
store = Store()
store.record(run_id, Started(run_id, "linreg-scratch", {}, "cpu", 0))
for epoch in range(1, 2001):
    store.record(run_id, EpochEnd(epoch, 2000, {"loss": 1.0 / epoch}, 1.0, 0.0))
"""


def test_two_processes_writing_2000_epochs_each_at_once_lose_nothing(lab_home: Path) -> None:
    Store()  # the index exists before they race
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, f"writer-{i}"], cwd=ROOT,
                                env=os.environ.copy(), stderr=subprocess.PIPE, text=True)
               for i in (1, 2)]
    errors = [w.communicate(timeout=120)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    assert not any("locked" in e for e in errors)
    store = Store()
    for i in (1, 2):
        epochs = store.epochs(f"writer-{i}")
        assert [e for e, _ in epochs] == list(range(1, 2001))
        assert epochs[-1][1] == {"loss": 1.0 / 2000}
        assert store.get(f"writer-{i}").epochs_done == 2000


def test_processes_opening_a_new_index_at_once_all_get_it(tmp_path: Path) -> None:
    """Switching a new index to WAL does not wait on the busy timeout: three openers racing on
    a fresh home once saw "database is locked" in about one trial of twenty."""
    import threading

    for trial in range(40):
        home = tmp_path / f"home-{trial}"
        start, errors = threading.Barrier(3), []

        def open_store(home: Path = home, start: threading.Barrier = start,
                       errors: list = errors) -> None:
            start.wait()
            try:
                Store(home)
            except Exception as err:  # any failure is the finding
                errors.append(err)

        threads = [threading.Thread(target=open_store) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors[0]
