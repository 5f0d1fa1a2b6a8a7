"""What a recipe gets from the runner: parameters, device, the event stream, cancellation, state."""

from __future__ import annotations

import errno
import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lab.events import Event, Message
from lab.spec import Params
from lab.train import checkpoint

if TYPE_CHECKING:
    from lab.dist_worker import Ranks


class Stopped(Exception):
    """The user asked the run to stop (Stop, Ctrl+C, quitting the app)."""


class Diverged(Exception):
    """A loss (or a metric, or the weights) became NaN or infinite; training cannot recover."""

    def __init__(self, epoch: int, step: int, value: float, what: str = "loss"):
        """``step``: the batch (1-based) whose loss was not finite; 0: found at the epoch's end
        (in ``what``: a metric, or the model's weights)."""
        self.epoch, self.step, self.value = epoch, step, value
        where = f"at epoch {epoch}, step {step}" if step else f"at the end of epoch {epoch}"
        super().__init__(
            f"{what} became {value} {where}; "
            "the learning rate is probably too large (try a smaller lr)"
        )


class SaveFailed(Exception):
    """Part of a run's record (a checkpoint, its events, the index) could not be written: a full
    disk, a read-only folder. Ends the run as failed; what was saved before stays whole."""

    def __init__(self, path: Path, error: Exception):
        self.path, self.error = path, error
        why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        super().__init__(f"cannot write {path}: {why}")

    @property
    def disk_full(self) -> bool:
        if isinstance(self.error, OSError):
            return self.error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        return "full" in str(self.error)  # SQLite: "database or disk is full"


class RunContext:
    def __init__(
        self,
        params: Params,
        device: torch.device,
        emit: Callable[[Event], None],
        cancel: threading.Event,
        run_dir: Path,
        *,
        resume: dict[str, Any] | None = None,
        main_metric: str = "",
        dist: Ranks | None = None,
    ):
        """``resume``: a ``last.pt`` to continue from, restored when the training loop starts;
        ``main_metric``: the experiment's choice of the metric that picks ``best.pt``;
        ``dist``: this process's rank of a data-parallel run (None: the run's only process)."""
        self.params = params
        self.dist = dist
        # Only the rank that records a data-parallel run writes its checkpoints.
        self._writes = dist is None or dist.records
        self.device = device
        self.emit = emit
        self.cancel = cancel
        self.run_dir = run_dir
        self.started = time.perf_counter()
        self.metrics: dict[str, float] = {}  # the latest epoch's
        self.speed = 0.0  # the latest epoch's training throughput (examples or tokens per second)
        self._state: dict[str, Any] = {}
        self._resume = resume
        self._main_metric = main_metric
        self._best: tuple[str, float] | None = None  # (metric, value) of best.pt
        self._earlier = 0.0  # seconds spent by the processes before a resume
        self.traceback: Path | None = None  # where the runner saved a failure's traceback
        if resume is not None:
            self.metrics = dict(resume["metrics"])
            self.speed = resume["speed"]
            self._earlier = resume["elapsed"]
            self._best = resume["best"]

    @property
    def elapsed(self) -> float:
        return self._earlier + time.perf_counter() - self.started

    def epochs(self, total: int) -> Iterator[int]:
        """The epochs a training loop runs, 1..total, or those after a resumed checkpoint's
        epoch (whose model, optimizer and random state are restored first). Every epoch the
        loop completes is saved as ``last.pt``, and as ``best.pt`` when its main metric is the
        best yet."""
        start = 1
        if self._resume is not None:
            saved, self._resume = self._resume, None
            self._restore(saved)
            start = saved["epoch"] + 1
        for epoch in range(start, total + 1):
            yield epoch
            self._save_epoch(epoch)

    def download_note(self, name: str, done: int, total: int | None) -> None:
        """A data hub progress callback: says in the log when a file starts downloading."""
        if done == 0:
            self.emit(Message(f"downloading {name}…"))

    def check_cancel(self) -> None:
        if self.dist is not None:  # the ranks agree, so that all stop at the same batch
            if self.dist.agree_to_stop(self.cancel):
                raise Stopped
        elif self.cancel.is_set():
            raise Stopped

    def track(self, **objects: Any) -> None:
        """Register what the checkpoint holds (modules, optimizers: anything with state_dict)."""
        self._state.update(objects)

    def save_checkpoint(self, name: str = checkpoint.FINAL) -> Path | None:
        """Write the tracked state atomically (temp file, then rename); None if none tracked
        (or not this rank's to write)."""
        if not self._state or not self._writes:
            return None
        path = self.run_dir / name
        _write(path, lambda: checkpoint.write_atomic(self._state_dicts(), path))
        return path

    def _state_dicts(self) -> dict[str, Any]:
        return {key: obj.state_dict() for key, obj in self._state.items()}

    def _save_epoch(self, epoch: int) -> None:
        if not self._state:
            return
        # Weights can turn NaN on an epoch's last step while its metrics stay finite (the
        # accuracy of a NaN model is a number): such a model must not replace last.pt.
        if not self.state_is_finite():
            raise Diverged(epoch, 0, math.nan, "the model's weights")
        if not self._writes:
            return
        name = checkpoint.main_metric(self.metrics, self._main_metric)
        better = name is not None and checkpoint.improves(
            self.metrics[name], self._best[1] if self._best else None, name)
        if better:
            self._best = (name, self.metrics[name])
        last = self.run_dir / checkpoint.LAST
        state = {
            "state": self._state_dicts(), "epoch": epoch, "metrics": dict(self.metrics),
            "elapsed": self.elapsed, "speed": self.speed, "best": self._best,
            "rng": checkpoint.rng_state(self.device),
        }
        _write(last, lambda: checkpoint.write_atomic(state, last))
        if better:
            _write(last.with_name(checkpoint.BEST), lambda: checkpoint.keep_as_best(last))

    def _restore(self, saved: dict[str, Any]) -> None:
        missing = set(self._state) - set(saved["state"])
        if missing:
            raise ValueError(f"the checkpoint lacks {', '.join(sorted(missing))}: it was written "
                             "by another version of this experiment")
        for key, obj in self._state.items():
            if hasattr(obj, "load_state_dict"):  # the book's SGD holds only its lr
                obj.load_state_dict(saved["state"][key])
        checkpoint.set_rng_state(saved["rng"], self.device)

    def state_is_finite(self) -> bool:
        """False when the tracked model holds NaN/inf (a diverged model is not worth saving)."""
        checks = [torch.isfinite(value).all().to(self.device)
                  for obj in self._state.values() for value in obj.state_dict().values()
                  if torch.is_tensor(value) and value.is_floating_point()]
        # One host sync for the whole model: this runs after every epoch.
        return not checks or bool(torch.stack(checks).all())


def _write(path: Path, write: Callable[[], None]) -> None:
    """Run ``write`` (which writes ``path``); an OSError (a full disk, a read-only folder) is a
    SaveFailed naming the file."""
    try:
        write()
    except OSError as err:
        raise SaveFailed(path, err) from err
