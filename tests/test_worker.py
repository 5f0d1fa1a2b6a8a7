"""The lab's worker processes (lab/detach.py's ``standby``/``hand``): the TUI trains there, not
in its own process. A worker trains the run it is handed; it belongs to the lab, so when the
lab's end of the pipe closes mid-run the run is interrupted with its checkpoint, and an idle
worker just exits."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lab import catalog, detach
from lab.store import Store


def hand_new(store: Store, worker, exp_id: str, **values) -> str:
    exp = catalog.get(exp_id)
    run_id = detach.prepare(store, exp, exp.resolve("book", values), device="cpu", seed=0,
                            preset="book")
    detach.hand(worker, run_id)
    return run_id


@pytest.mark.timeout(60)
def test_a_worker_trains_the_run_it_is_handed_then_exits(lab_home: Path) -> None:
    store = Store()
    worker = detach.standby(store)
    run_id = hand_new(store, worker, "linreg-scratch", epochs=2)
    assert worker.wait(45) == 0
    record = store.get(run_id)
    assert record is not None and record.status == "finished" and record.epochs_done == 2
    assert (store.run_dir(run_id) / "last.pt").exists()
    assert detach.output_path(store, run_id).exists()  # its output went to the run's folder


@pytest.mark.timeout(60)
def test_a_worker_whose_lab_is_gone_interrupts_its_run_and_keeps_the_checkpoint(
        lab_home: Path) -> None:
    store = Store()
    worker = detach.standby(store)
    run_id = hand_new(store, worker, "linreg-scratch", epochs=1000, batch_size=1)
    detach.wait_started(store, run_id, worker)
    assert store.pid(run_id) == worker.pid != os.getpid()
    deadline = time.monotonic() + 30
    while not (store.run_dir(run_id) / "last.pt").exists():  # one epoch done
        assert time.monotonic() < deadline, "no epoch ended"
        time.sleep(0.05)
    assert worker.stdin is not None
    worker.stdin.close()  # what the lab's exit (or SIGKILL) does to the pipe
    assert worker.wait(20) == 1
    record = store.get(run_id)
    assert record is not None and record.status == "interrupted", record
    assert record.epochs_done >= 1 and (store.run_dir(run_id) / "final.pt").exists()


@pytest.mark.timeout(60)
def test_an_idle_worker_exits_when_the_lab_closes_without_a_run(lab_home: Path) -> None:
    store = Store()
    worker = detach.standby(store)
    assert worker.stdin is not None
    worker.stdin.close()
    assert worker.wait(45) == 0
    assert store.recent(None) == []
