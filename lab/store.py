"""Run history: an SQLite index (WAL) and one folder per run with config, events and checkpoint.

The index answers "which runs, how did they end" quickly; the folder holds everything needed to
replay a run (``events.jsonl``) or continue from it (``final.pt``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import sqlite3
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lab import paths
from lab.events import Ended, EpochEnd, Event, Started

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT PRIMARY KEY,
    experiment  TEXT NOT NULL,
    preset      TEXT NOT NULL,
    device      TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    params      TEXT NOT NULL,          -- JSON
    status      TEXT NOT NULL,   -- running | finished | stopped | diverged | failed | crashed
    reason      TEXT NOT NULL DEFAULT '',
    epochs_done INTEGER NOT NULL DEFAULT 0,
    metrics     TEXT NOT NULL DEFAULT '{}',  -- JSON: the latest epoch's metrics
    started_at  REAL NOT NULL,
    ended_at    REAL,
    pid         INTEGER,                -- the process running it, while it runs
    host        TEXT,
    sweep       TEXT NOT NULL DEFAULT ''  -- the sweep it belongs to, if any
);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at);
CREATE TABLE IF NOT EXISTS epochs (         -- every epoch's metrics, for comparing runs
    run_id   TEXT NOT NULL,
    epoch    INTEGER NOT NULL,
    metrics  TEXT NOT NULL,                 -- JSON
    elapsed  REAL NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
"""
# Columns added after the first release: an older index gets them on open.
_ADDED_COLUMNS = {"pid": "INTEGER", "host": "TEXT", "sweep": "TEXT NOT NULL DEFAULT ''"}
RUNNING, CRASHED = "running", "crashed"
CRASH_REASON = "its process ended without recording an end (killed, or the machine went down)"


@dataclass(frozen=True)
class RunRecord:
    id: str
    experiment: str
    preset: str
    device: str
    seed: int
    params: dict[str, Any]
    status: str
    reason: str
    epochs_done: int
    metrics: dict[str, float]
    started_at: float
    ended_at: float | None
    sweep: str = ""


class StoreError(Exception):
    """The lab's home, or a run's folder in it, cannot be written (a read-only or full disk, a
    file where a folder should be): one line naming the folder and how to choose another."""

    def __init__(self, folder: Path, error: Exception, what: str = "the lab's home"):
        why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        super().__init__(f"cannot write {what} {folder}: {why}; make it writable (or free some "
                         "space), or set D2L_LAB_HOME to a folder you can write")


class Store:
    def __init__(self, home: Path | None = None):
        self.home = home or paths.home()
        self.runs_dir = self.home / "runs"
        self.db_path = self.home / "runs.db"
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            self._use_wal()
            with self._connect() as db:
                db.executescript(_SCHEMA)
                have = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
                for name, kind in _ADDED_COLUMNS.items():
                    if name not in have:
                        db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
            self.mark_crashed()
        except (OSError, sqlite3.Error) as err:
            raise StoreError(self.home, err) from err

    def _use_wal(self, seconds: float = 10.0) -> None:
        """Put the index in WAL mode (it stays so, in the file). SQLite does not wait on its busy
        timeout for this change, so two processes opening a new index at once would see
        "database is locked": retry for a while instead."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                with contextlib.closing(sqlite3.connect(self.db_path, timeout=seconds)) as db:
                    db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _connect(self) -> sqlite3.Connection:
        # A connection per operation: the TUI, its worker thread and CLI processes all write here.
        db = sqlite3.connect(self.db_path, timeout=10)
        # In WAL mode NORMAL cannot corrupt the index; it only skips an fsync per epoch row,
        # which polyfit's 1500 epochs would otherwise pay for.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def new_run_id(self, experiment: str) -> str:
        return f"{time.strftime('%Y%m%d-%H%M%S')}-{experiment}-{secrets.token_hex(2)}"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def record(self, run_id: str, event: Event) -> None:
        """Index the events that change a run's row; every event is also kept by ``EventLog``."""
        with self._connect() as db:
            if isinstance(event, Started) and event.resume_epoch is not None:
                # Continued by this process: running again; epochs past its checkpoint are
                # superseded by the ones it will record.
                db.execute("UPDATE runs SET status = 'running', reason = '', ended_at = NULL,"
                           " device = ?, epochs_done = ?, pid = ?, host = ? WHERE id = ?",
                           (event.device, event.resume_epoch, os.getpid(),
                            socket.gethostname(), run_id))
                db.execute("DELETE FROM epochs WHERE run_id = ? AND epoch > ?",
                           (run_id, event.resume_epoch))
            elif isinstance(event, Started):
                db.execute(
                    "INSERT INTO runs (id, experiment, preset, device, seed, params, status,"
                    " started_at, pid, host, sweep)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                    (event.run_id, event.experiment, event.preset, event.device, event.seed,
                     json.dumps(event.params), event.t, os.getpid(), socket.gethostname(),
                     event.sweep),
                )
            elif isinstance(event, EpochEnd):
                metrics = json.dumps(event.metrics)
                db.execute("UPDATE runs SET epochs_done = ?, metrics = ? WHERE id = ?",
                           (event.epoch, metrics, run_id))
                # REPLACE: house prices restarts its epochs for each fold; the last one stays.
                db.execute("INSERT OR REPLACE INTO epochs VALUES (?, ?, ?, ?)",
                           (run_id, event.epoch, metrics, event.elapsed))
            elif isinstance(event, Ended):
                db.execute(
                    "UPDATE runs SET status = ?, reason = ?, ended_at = ?,"
                    " metrics = CASE WHEN ? = '{}' THEN metrics ELSE ? END WHERE id = ?",
                    (event.status, event.reason, event.t, json.dumps(event.metrics),
                     json.dumps(event.metrics), run_id),
                )

    def epochs(self, run_id: str) -> list[tuple[int, dict[str, float]]]:
        """Every recorded epoch of a run, in order: (epoch, metrics)."""
        with self._connect() as db:
            rows = db.execute("SELECT epoch, metrics FROM epochs WHERE run_id = ? ORDER BY epoch",
                              (run_id,)).fetchall()
        return [(epoch, json.loads(metrics)) for epoch, metrics in rows]

    def mark_crashed(self) -> list[str]:
        """Runs recorded as running on this machine whose process is gone (SIGKILL, a power
        cut) become ``crashed``, ended when their events file last changed; their stray
        half-written checkpoints (``*.tmp``) are removed. Returns their ids."""
        with self._connect() as db:
            rows = db.execute("SELECT id, pid FROM runs WHERE status = 'running' AND host = ?",
                              (socket.gethostname(),)).fetchall()
        gone = [run_id for run_id, pid in rows if pid is not None and not _alive(pid)]
        for run_id in gone:
            folder = self.run_dir(run_id)
            events = folder / "events.jsonl"
            ended = events.stat().st_mtime if events.exists() else time.time()
            with self._connect() as db:
                db.execute("UPDATE runs SET status = ?, reason = ?, ended_at = ? "
                           "WHERE id = ? AND status = 'running'",
                           (CRASHED, CRASH_REASON, ended, run_id))
            for tmp in folder.glob("*.tmp"):
                tmp.unlink(missing_ok=True)
        return gone

    def recent(self, limit: int | None = 20, experiment: str | None = None,
               status: str | None = None, sweep: str | None = None) -> list[RunRecord]:
        """Runs newest first, those of an experiment, a status or a sweep if given; all of them
        when ``limit`` is None."""
        filters = {"experiment": experiment, "status": status, "sweep": sweep}
        chosen = {column: value for column, value in filters.items() if value}
        query = f"SELECT {_RECORD_COLUMNS} FROM runs"
        if chosen:
            query += " WHERE " + " AND ".join(f"{column} = ?" for column in chosen)
        query += " ORDER BY started_at DESC LIMIT ?"
        with self._connect() as db:
            rows = db.execute(query, (*chosen.values(), -1 if limit is None else limit))
            return [_to_record(row) for row in rows.fetchall()]

    def pid(self, run_id: str) -> int | None:
        """The process running ``run_id`` on this machine, while it runs (None for a run on
        another host sharing this folder: its pid means nothing here)."""
        with self._connect() as db:
            row = db.execute("SELECT pid FROM runs WHERE id = ? AND status = 'running' AND "
                             "host = ?", (run_id, socket.gethostname())).fetchone()
        return row[0] if row else None

    def is_live(self, run_id: str) -> bool:
        """Whether ``run_id`` runs now: recorded as running by a process that still exists (one
        on another machine sharing this folder is taken at its word)."""
        with self._connect() as db:
            row = db.execute("SELECT pid, host FROM runs WHERE id = ? AND status = 'running'",
                             (run_id,)).fetchone()
        if row is None:
            return False
        pid, host = row
        return host != socket.gethostname() or pid is None or _alive(pid)

    def get(self, run_id: str) -> RunRecord | None:
        with self._connect() as db:
            row = db.execute(f"SELECT {_RECORD_COLUMNS} FROM runs WHERE id = ?",
                             (run_id,)).fetchone()
        return _to_record(row) if row else None

    def delete(self, run_id: str) -> bool:
        """Forget a run: its index row (one transaction), then its folder; False if unknown.
        Refusing a run that still runs is the caller's business: this deletes what it is told."""
        with self._connect() as db:
            deleted = db.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount > 0
            db.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
        folder = self.run_dir(run_id)
        # Never a path out of runs/: an id is one plain name, not "", "." or "..".
        plain = run_id not in ("", ".", "..") and folder.parent == self.runs_dir
        if plain and folder.name == run_id and folder.is_dir():
            shutil.rmtree(folder)
            deleted = True
        return deleted


# A record's fields are the index's columns of the same names (not pid and host).
_RECORD_COLUMNS = ", ".join(f.name for f in fields(RunRecord))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _to_record(row: tuple) -> RunRecord:
    (id_, experiment, preset, device, seed, params, status, reason, epochs_done, metrics,
     started_at, ended_at, sweep) = row
    return RunRecord(id_, experiment, preset, device, seed, json.loads(params), status, reason,
                     epochs_done, json.loads(metrics), started_at, ended_at, sweep or "")


class EventLog:
    """Appends each event as one JSON line; a line is whole before the next begins."""

    def __init__(self, path: Path):
        _drop_torn_line(path)  # a resumed run appends after what a killed process left
        self._file = path.open("a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        self._file.write(json.dumps(event.to_dict()) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _drop_torn_line(path: Path) -> None:
    """Cut a last line left without its newline by a process killed mid-write."""
    if not path.exists():
        return
    with path.open("rb+") as file:
        data = file.read()
        if data and not data.endswith(b"\n"):
            file.truncate(data.rfind(b"\n") + 1)


def read_events(run_dir: Path) -> list[Event]:
    """A run's events, for replay; a torn last line (a crash mid-write) is skipped."""
    from lab.events import from_dict

    events = []
    for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            events.append(from_dict(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return events
