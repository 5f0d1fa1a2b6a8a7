"""Per-batch bookkeeping that never forces a host sync per batch.

Each batch's loss is written into a tensor on the device; only at a progress tick (a few times a
second) are the new values copied to the host, checked for NaN/inf and sent as one Progress event.
The cancel flag is a host-side threading.Event, so it is checked every batch for free. On the CPU
a sync costs nothing, so there every batch is checked and divergence stops the very step it happens.
"""

from __future__ import annotations

import math
import time

import torch

from lab.events import Progress
from lab.train.context import Diverged, RunContext

TICK_SECONDS = 0.25


class EpochMonitor:
    def __init__(self, ctx: RunContext, epoch: int, epochs: int, steps: int):
        self.ctx, self.epoch, self.epochs, self.steps = ctx, epoch, epochs, steps
        self.losses = torch.empty(steps, device=ctx.device)
        self.examples = 0
        self.reported = 0  # batches already sent in a Progress event
        self.started = self.last_tick = time.perf_counter()
        self.finished: float | None = None  # when the last batch was done (evaluation excluded)
        self.check_every_batch = ctx.device.type == "cpu"

    def step(self, index: int, loss: torch.Tensor, examples: int) -> None:
        """Record batch ``index`` (0-based) with its mean loss; stop if the run was cancelled."""
        self.losses[index] = loss.detach()
        self.examples += examples
        self.ctx.check_cancel()
        if self.check_every_batch and not math.isfinite(value := loss.item()):
            self._diverged(index, value)
        if time.perf_counter() - self.last_tick >= TICK_SECONDS:
            self.tick(index + 1)

    def tick(self, done: int) -> None:
        new = self.losses[self.reported:done].tolist()  # the one host sync of a tick
        for offset, value in enumerate(new):
            if not math.isfinite(value):
                self._diverged(self.reported + offset, value)
        self.reported = done
        self.last_tick = time.perf_counter()
        self.ctx.emit(Progress(self.epoch, self.epochs, done, self.steps, new,
                               self.examples_per_sec, self.ctx.elapsed))

    def _diverged(self, index: int, value: float) -> None:
        """Batch ``index`` (0-based) had a loss of ``value``: report the batches before it, so
        the plot shows the loss climbing to where it broke, and stop the run."""
        if index > self.reported:
            self.tick(index)
        raise Diverged(self.epoch, index + 1, value)

    def finish(self) -> None:
        """Report the batches since the last tick (the epoch's end is always a tick)."""
        if self.reported < self.steps:
            self.tick(self.steps)
        self.finished = time.perf_counter()

    @property
    def examples_per_sec(self) -> float:
        """Training throughput of this epoch so far (evaluation after it is not counted)."""
        end = self.finished or time.perf_counter()
        return self.examples / max(end - self.started, 1e-9)
