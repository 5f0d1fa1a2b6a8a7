"""The one way to run an experiment: the TUI worker, the CLI and (later) every distributed rank
call ``run``. It records the run, feeds the event stream to the sinks, and turns every way a run
can end into an ``Ended`` event, so nothing a user did is lost and no traceback reaches them."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import signal
import sqlite3
import threading
import traceback
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lab import drift
from lab.data.hub import DataMissing
from lab.events import (
    DIVERGED,
    FAILED,
    FINISHED,
    INTERRUPTED,
    STOPPED,
    Ended,
    Event,
    Message,
    Sink,
    Started,
)
from lab.resume import ResumePlan
from lab.spec import Experiment, ParamError, Params
from lab.store import EventLog, Store, StoreError
from lab.train.context import Diverged, RunContext, SaveFailed, Stopped
from lab.train.host_memory import keep_freed_memory

if TYPE_CHECKING:
    from lab.dist_worker import Ranks


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str
    reason: str
    metrics: dict[str, float]
    run_dir: Path
    traceback: Path | None = None  # where a failure's traceback was saved, if this run saved one


def run(
    experiment: Experiment,
    params: Params,
    *,
    device: str = "cpu",
    seed: int = 0,
    preset: str = "book",
    sinks: Sequence[Sink] = (),
    cancel: threading.Event | None = None,
    store: Store | None = None,
    run_id: str | None = None,
    sweep: str = "",
    dist: Ranks | None = None,
) -> RunResult:
    """Run ``experiment`` to its end (finished, stopped, diverged or failed); blocking.

    ``params`` must come from ``experiment.resolve`` and ``device`` from ``devices.validate``:
    input is checked before a run exists, so a refused value leaves no trace in the store.
    Raises StoreError, recording nothing, if the run's folder cannot be written.
    ``run_id``: one chosen beforehand (a detached run's parent names it); ``sweep``: the sweep
    the run belongs to; ``dist``: this process's rank of a data-parallel run (lab.dist_worker):
    a rank that does not record the run writes neither its folder nor the index.
    """
    if dist is not None and not dist.records:
        started = Started(run_id or "", experiment.id, dict(params), device, seed, preset, sweep)
        return _execute(experiment, params, started, dist.scratch, None, sinks, cancel,
                        dist=dist)
    store = store or Store()
    named = run_id is not None  # its folder may exist already (a detached run's parent made it)
    run_id = run_id or store.new_run_id(experiment.id)
    run_dir = store.run_dir(run_id)
    config = {"experiment": experiment.id, "preset": preset, "params": dict(params),
              "device": device, "seed": seed, "sweep": sweep}
    if dist is not None:
        config["distributed"] = dist.describe()
    _make_folder(run_dir, named, json.dumps(config, indent=2) + "\n")
    started = Started(run_id, experiment.id, dict(params), device, seed, preset, sweep)
    return _execute(experiment, params, started, run_dir, store, sinks, cancel, dist=dist)


def resume(
    plan: ResumePlan,
    *,
    sinks: Sequence[Sink] = (),
    cancel: threading.Event | None = None,
    store: Store | None = None,
) -> RunResult:
    """Continue a run from its last checkpoint (``plan`` from ``plan_resume``); blocking. The
    run keeps its id and folder; its events file gets a second ``Started`` with
    ``resume_epoch``, and a fixed seed on the same device ends bitwise as an uninterrupted run."""
    store = store or Store()
    config = plan.config
    started = Started(plan.run_id, plan.experiment.id, dict(plan.params), plan.device,
                      config["seed"], config["preset"], config.get("sweep", ""),
                      resume_epoch=plan.epoch)
    return _execute(plan.experiment, plan.params, started, store.run_dir(plan.run_id), store,
                    sinks, cancel, plan.checkpoint)


def _make_folder(run_dir: Path, exist_ok: bool, config: str) -> None:
    """The run's folder with its config.json; a StoreError (and no half-made folder) if the
    disk is full or read-only: the run does not exist yet, so nothing else is recorded."""
    made = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=exist_ok)
        (run_dir / "config.json").write_text(config, encoding="utf-8")
    except FileExistsError:
        raise  # an id taken twice is a bug, not the disk
    except OSError as err:
        if made:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise StoreError(run_dir, err, "the run's folder") from err


class _Record:
    """A sink that keeps the run's record: its events file, or its row in the index. The first
    write that fails (a full disk, a read-only folder) raises SaveFailed, which ends the run;
    from then on it writes nothing (but the index tries once more to record the end: a row
    left "running" would look live as long as this process is), and the other sinks still hear
    how the run ended."""

    def __init__(self, path: Path, write: Sink, *, retry_end: bool = False) -> None:
        self.path, self.write, self.retry_end = path, write, retry_end
        self.failed = False

    def __call__(self, event: Event) -> None:
        if self.failed and not (self.retry_end and isinstance(event, Ended)):
            return
        try:
            self.write(event)
        except (OSError, sqlite3.Error) as err:
            self.failed = True
            raise SaveFailed(self.path, err) from err


def _execute(experiment: Experiment, params: Params, started: Started, run_dir: Path,
             store: Store | None, sinks: Sequence[Sink], cancel: threading.Event | None,
             checkpoint: dict[str, Any] | None = None, dist: Ranks | None = None) -> RunResult:
    """``store`` None: a rank that does not record the run (only ``sinks`` hear it)."""
    log: EventLog | None = None
    outputs: list[Sink] = [*sinks]
    if store is not None:
        try:
            log = EventLog(run_dir / "events.jsonl")
        except OSError as err:  # before Started: the run (or a resumed one's record) is as it was
            raise StoreError(run_dir, err, "the run's folder") from err
        records = [_Record(run_dir / "events.jsonl", log),
                   _Record(store.db_path, lambda event: store.record(started.run_id, event),
                           retry_end=True)]
        outputs = [*records, *sinks]

    def emit(event: Event) -> None:
        """Every sink gets the event; then a record that could not be written ends the run."""
        failed: SaveFailed | None = None
        for sink in outputs:
            try:
                sink(event)
            except SaveFailed as err:
                failed = failed or err
        if failed is not None:
            raise failed

    if store is not None:  # the rank that records the run: the book's notes are told once
        emit = drift.watch(experiment, params, emit)
    torch.manual_seed(started.seed)
    ctx = RunContext(params, torch.device(started.device), emit, cancel or threading.Event(),
                     run_dir, resume=checkpoint, main_metric=experiment.main_metric, dist=dist)
    # What a KeyboardInterrupt (the CLI's second Ctrl+C) leaves on record; last.pt is whole.
    status, reason = STOPPED, "stopped at once by Ctrl+C (its last epoch's checkpoint is kept)"
    try:
        emit(started)
        status, reason = _train(experiment, ctx)
        if status in (FINISHED, STOPPED, INTERRUPTED) and ctx.state_is_finite():
            ctx.save_checkpoint()
    except SaveFailed as err:  # recording the run itself failed (outside the recipe)
        status, reason = FAILED, _save_failed(err, ctx, experiment)
    except Exception as err:  # a bug outside the recipe (a sink, saving final.pt)
        status, reason = _crashed(ctx, err)
    finally:
        if dist is not None:  # another rank's failure may be the cause of this one's
            status, reason = dist.outcome(ctx, status, reason)
        ended = Ended(status, reason, ctx.metrics, ctx.elapsed)
        with suppress(SaveFailed):  # already the reason it ended; the other sinks have it
            emit(ended)
        if log is not None:
            with suppress(OSError):  # a full disk fails the flush of what is left, again
                log.close()
    return RunResult(started.run_id, ended.status, ended.reason, ctx.metrics, run_dir,
                     ctx.traceback)


def _train(experiment: Experiment, ctx: RunContext) -> tuple[str, str]:
    """Call the recipe; map each way it can end to a status and a one-line reason."""
    module_name, _, function_name = experiment.entry.partition(":")
    recipe = getattr(importlib.import_module(module_name), function_name)
    keep_freed_memory()
    try:
        recipe(ctx, **experiment.options)
    except Stopped:
        if signum := getattr(ctx.cancel, "signum", 0):
            name = signal.Signals(signum).name
            return INTERRUPTED, f"interrupted by {name} (the terminal closed, or the system asked)"
        return STOPPED, "stopped by the user"
    except Diverged as err:
        return DIVERGED, str(err)
    except SaveFailed as err:
        return FAILED, _save_failed(err, ctx, experiment)
    except (DataMissing, ParamError) as err:  # missing or damaged data, a text too short
        _tell(ctx, str(err))
        return FAILED, str(err).splitlines()[0]
    except Exception as err:
        if _out_of_memory(err):
            return FAILED, _out_of_memory_reason(err, ctx)
        return _crashed(ctx, err)
    return FINISHED, ""


def _crashed(ctx: RunContext, err: Exception) -> tuple[str, str]:
    """A bug or a bad environment: the traceback is kept with the run (unless the disk is what
    failed: then a second error must not hide the first), and the log says where."""
    path = ctx.run_dir / "traceback.txt"
    try:
        path.write_text(traceback.format_exc(), encoding="utf-8")
    except OSError:
        pass
    else:
        ctx.traceback = path
        _tell(ctx, f"the traceback is saved in {path}", "info")
    return FAILED, f"{type(err).__name__}: {err}"


def _tell(ctx: RunContext, text: str, level: str = "error") -> None:
    """A message while the run is ending: the record may be what failed, so never raise."""
    with suppress(SaveFailed):
        ctx.emit(Message(text, level=level))


def _save_failed(err: SaveFailed, ctx: RunContext, experiment: Experiment) -> str:
    fix = "free some space" if err.disk_full else f"make {err.path.parent} writable"
    if not experiment.can_resume:
        return f"{err}; {fix}, then run it again"
    return (f"{err}; {fix}, then `d2l-lab run --resume {ctx.run_dir.name}` continues from "
            "its last saved epoch")


def _out_of_memory(err: Exception) -> bool:
    """CUDA's OutOfMemoryError; the CPU's and MPS's allocators raise a plain RuntimeError."""
    text = str(err)
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError)
        and any(words in text for words in ("can't allocate memory", "not enough memory",
                                             "MPS backend out of memory")))


def _out_of_memory_reason(err: Exception, ctx: RunContext) -> str:
    asked = re.search(r"[Tt]ried to allocate ([\d.]+ ?[KMGT]?i?B|\d+ bytes)", str(err))
    reason = f"out of memory on {ctx.device}"
    if asked:
        reason += f" while allocating {asked.group(1)}"
    batch_size = ctx.params.get("batch_size")
    if batch_size:
        return f"{reason}; try a smaller batch_size (this run's is {batch_size})"
    return f"{reason}; try smaller sizes, or another device"
