"""What a recipe gets from the runner: parameters, device, the event stream, cancellation, state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lab.events import Event, Message
from lab.spec import Params


class Stopped(Exception):
    """The user asked the run to stop (Stop, Ctrl+C, quitting the app)."""


class Diverged(Exception):
    """A loss became NaN or infinite; training cannot recover from that."""

    def __init__(self, epoch: int, step: int, value: float):
        self.epoch, self.step, self.value = epoch, step, value
        super().__init__(
            f"loss became {value} at epoch {epoch}, step {step}; "
            "the learning rate is probably too large (try a smaller lr)"
        )


class RunContext:
    def __init__(
        self,
        params: Params,
        device: torch.device,
        emit: Callable[[Event], None],
        cancel: threading.Event,
        run_dir: Path,
    ):
        self.params = params
        self.device = device
        self.emit = emit
        self.cancel = cancel
        self.run_dir = run_dir
        self.started = time.perf_counter()
        self.metrics: dict[str, float] = {}  # the latest epoch's
        self._state: dict[str, Any] = {}

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def download_note(self, name: str, done: int, total: int | None) -> None:
        """A data hub progress callback: says in the log when a file starts downloading."""
        if done == 0:
            self.emit(Message(f"downloading {name}…"))

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Stopped

    def track(self, **objects: Any) -> None:
        """Register what the checkpoint holds (modules, optimizers: anything with state_dict)."""
        self._state.update(objects)

    def save_checkpoint(self, name: str = "final.pt") -> Path | None:
        """Write the tracked state atomically (temp file, then rename); None if none tracked."""
        if not self._state:
            return None
        path = self.run_dir / name
        tmp = path.with_suffix(".tmp")
        torch.save({key: obj.state_dict() for key, obj in self._state.items()}, tmp)
        tmp.replace(path)
        return path

    def state_is_finite(self) -> bool:
        """False when the tracked model holds NaN/inf (a diverged model is not worth saving)."""
        for obj in self._state.values():
            for value in obj.state_dict().values():
                if torch.is_tensor(value) and value.is_floating_point():
                    if not torch.isfinite(value).all():
                        return False
        return True
