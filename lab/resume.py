"""Which runs can continue, and from where: the checks ``run --resume`` and the TUI's Resume
share, so both refuse the same runs with the same words before anything is changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lab import catalog
from lab.events import DIVERGED, FINISHED
from lab.spec import Experiment, ParamError, Params
from lab.store import CRASHED, RUNNING, Store

# A run that ended on its own terms has nothing left to do; a diverged one would diverge again.
RESUMABLE = ("stopped", "interrupted", CRASHED, "failed")


class ResumeError(ValueError):
    """Why a run cannot be resumed, in words for the user."""


@dataclass(frozen=True)
class ResumePlan:
    run_id: str
    experiment: Experiment
    params: Params
    device: str
    config: dict[str, Any]  # the run's config.json
    checkpoint: dict[str, Any] | None  # its last.pt; None: no epoch had ended, start again
    epoch: int  # the epoch it continues after


def plan_resume(store: Store, run_id: str, device: str | None = None) -> ResumePlan:
    """Check that ``run_id`` can continue and load its last checkpoint. ``device``: another
    device to continue on (validated by the caller), else the run's own."""
    record = store.get(run_id)
    if record is None:
        raise ResumeError(f"no run {run_id!r} (see `d2l-lab runs list`)")
    if record.status == RUNNING:
        pid = store.pid(run_id)  # None: on another machine sharing this folder
        where = f" (pid {pid})" if pid else ""
        raise ResumeError(f"run {run_id} is still running{where}; watch it with "
                          f"`d2l-lab runs follow {run_id}`")
    if record.status == FINISHED:
        raise ResumeError(f"run {run_id} finished: there is nothing left to resume")
    if record.status == DIVERGED:
        raise ResumeError(f"run {run_id} diverged ({record.reason}); resuming would diverge "
                          "again: start a new run with a smaller lr")
    if record.status not in RESUMABLE:
        raise ResumeError(f"run {run_id} is {record.status}; only {', '.join(RESUMABLE)} runs "
                          "can be resumed")
    try:
        experiment = catalog.get(record.experiment)
    except KeyError:
        raise ResumeError(f"run {run_id} is of {record.experiment!r}, which this version of "
                          "d2l-lab does not have") from None
    if not experiment.can_resume:
        why = "it is a demonstration" if experiment.demo else "it is more than one training loop"
        raise ResumeError(f"{experiment.id} runs cannot be resumed ({why}); they take little "
                          "time: start one again")
    folder = store.run_dir(run_id)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        params = experiment.resolve(config["preset"], config["params"])
    except (OSError, ValueError, KeyError) as err:
        if isinstance(err, ParamError):
            raise ResumeError(f"run {run_id}'s parameters are no longer valid: {err}") from None
        raise ResumeError(f"run {run_id}'s config cannot be read: {err}") from None

    from lab.train import checkpoint  # torch: only once the cheap checks have passed

    last = folder / checkpoint.LAST
    saved = None
    if last.exists():
        try:
            saved = checkpoint.load(last)
        except Exception as err:  # torn by a full disk, or from another torch: say so
            raise ResumeError(f"run {run_id}'s checkpoint {last} cannot be read: {err}") from None
    epoch = saved["epoch"] if saved else 0
    return ResumePlan(run_id, experiment, params, device or config["device"], config, saved,
                      epoch)
