"""The one way to run an experiment: the TUI worker, the CLI and (later) every distributed rank
call ``run``. It records the run, feeds the event stream to the sinks, and turns every way a run
can end into an ``Ended`` event, so nothing a user did is lost and no traceback reaches them."""

from __future__ import annotations

import importlib
import json
import signal
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

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
from lab.spec import Experiment, Params
from lab.store import EventLog, Store
from lab.train.context import Diverged, RunContext, Stopped


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str
    reason: str
    metrics: dict[str, float]
    run_dir: Path


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
) -> RunResult:
    """Run ``experiment`` to its end (finished, stopped, diverged or failed); blocking.

    ``params`` must come from ``experiment.resolve`` and ``device`` from ``devices.validate``:
    input is checked before a run exists, so a refused value leaves no trace in the store.
    ``run_id``: one chosen beforehand (a detached run's parent names it); ``sweep``: the sweep
    the run belongs to.
    """
    store = store or Store()
    named = run_id is not None  # its folder may exist already (a detached run's parent made it)
    run_id = run_id or store.new_run_id(experiment.id)
    run_dir = store.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=named)
    config = {"experiment": experiment.id, "preset": preset, "params": dict(params),
              "device": device, "seed": seed, "sweep": sweep}
    (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    started = Started(run_id, experiment.id, dict(params), device, seed, preset, sweep)
    return _execute(experiment, params, started, run_dir, store, sinks, cancel)


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


def _execute(experiment: Experiment, params: Params, started: Started, run_dir: Path,
             store: Store, sinks: Sequence[Sink], cancel: threading.Event | None,
             checkpoint: dict[str, Any] | None = None) -> RunResult:
    log = EventLog(run_dir / "events.jsonl")
    outputs: list[Sink] = [log, lambda event: store.record(started.run_id, event), *sinks]

    def emit(event: Event) -> None:
        for sink in outputs:
            sink(event)

    torch.manual_seed(started.seed)
    ctx = RunContext(params, torch.device(started.device), emit, cancel or threading.Event(),
                     run_dir, resume=checkpoint, main_metric=experiment.main_metric)
    emit(started)
    status, reason = STOPPED, "interrupted"  # what a KeyboardInterrupt leaves on record
    try:
        status, reason = _train(experiment, ctx)
        if status in (FINISHED, STOPPED, INTERRUPTED) and ctx.state_is_finite():
            ctx.save_checkpoint()
    finally:
        ended = Ended(status, reason, ctx.metrics, ctx.elapsed)
        emit(ended)
        log.close()
    return RunResult(started.run_id, ended.status, ended.reason, ctx.metrics, run_dir)


def _train(experiment: Experiment, ctx: RunContext) -> tuple[str, str]:
    """Call the recipe; map each way it can end to a status and a one-line reason."""
    module_name, _, function_name = experiment.entry.partition(":")
    recipe = getattr(importlib.import_module(module_name), function_name)
    try:
        recipe(ctx, **experiment.options)
    except Stopped:
        if signum := getattr(ctx.cancel, "signum", 0):
            name = signal.Signals(signum).name
            return INTERRUPTED, f"interrupted by {name} (the terminal closed, or the system asked)"
        return STOPPED, "stopped by the user"
    except Diverged as err:
        return DIVERGED, str(err)
    except DataMissing as err:
        ctx.emit(Message(str(err), level="error"))
        return FAILED, str(err).splitlines()[0]
    except torch.OutOfMemoryError:
        reason = f"out of memory on {ctx.device}; try a smaller batch_size"
        ctx.emit(Message(reason, level="error"))
        return FAILED, reason
    except Exception as err:  # a bug or a bad environment: keep the traceback with the run
        (ctx.run_dir / "traceback.txt").write_text(traceback.format_exc(), encoding="utf-8")
        reason = f"{type(err).__name__}: {err}"
        ctx.emit(Message(reason, level="error"))
        return FAILED, reason
    return FINISHED, ""

