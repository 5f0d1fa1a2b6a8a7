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
) -> RunResult:
    """Run ``experiment`` to its end (finished, stopped, diverged or failed); blocking.

    ``params`` must come from ``experiment.resolve`` and ``device`` from ``devices.validate``:
    input is checked before a run exists, so a refused value leaves no trace in the store.
    """
    store = store or Store()
    run_id = store.new_run_id(experiment.id)
    run_dir = store.run_dir(run_id)
    run_dir.mkdir(parents=True)
    config = {"experiment": experiment.id, "preset": preset, "params": dict(params),
              "device": device, "seed": seed}
    (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    log = EventLog(run_dir / "events.jsonl")
    outputs: list[Sink] = [log, lambda event: store.record(run_id, event), *sinks]

    def emit(event: Event) -> None:
        for sink in outputs:
            sink(event)

    torch.manual_seed(seed)
    ctx = RunContext(params, torch.device(device), emit, cancel or threading.Event(), run_dir)
    emit(Started(run_id, experiment.id, dict(params), device, seed, preset))
    status, reason = STOPPED, "interrupted"  # what a KeyboardInterrupt leaves on record
    try:
        status, reason = _train(experiment, ctx)
        if status in (FINISHED, STOPPED, INTERRUPTED) and ctx.state_is_finite():
            ctx.save_checkpoint()
    finally:
        ended = Ended(status, reason, ctx.metrics, ctx.elapsed)
        emit(ended)
        log.close()
    return RunResult(run_id, ended.status, ended.reason, ctx.metrics, run_dir)


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

