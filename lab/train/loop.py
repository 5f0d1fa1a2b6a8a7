"""The epoch skeleton every training loop shares: shuffled index batches, monitoring, epoch end."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lab.events import EpochEnd
from lab.train.context import Diverged, RunContext
from lab.train.monitor import EpochMonitor

# step(indices) trains on those examples and returns their per-example losses (detached).
Step = Callable[[torch.Tensor], torch.Tensor]


def run_epoch(ctx: RunContext, epoch: int, epochs: int, n: int, batch_size: int,
              step: Step) -> EpochMonitor:
    """One pass in a fresh random order; batches are slices of a permutation on the device."""
    batches = torch.randperm(n, device=ctx.device).split(batch_size)
    monitor = EpochMonitor(ctx, epoch, epochs, len(batches))
    for i, indices in enumerate(batches):
        losses = step(indices)
        monitor.step(i, losses.mean(), len(indices))
    monitor.finish()
    return monitor


def end_epoch(ctx: RunContext, monitor: EpochMonitor, metrics: dict[str, torch.Tensor]) -> None:
    """Bring the epoch's metrics to the host (one sync), guard against NaN, and report them."""
    values = dict(zip(metrics, torch.stack([m.float() for m in metrics.values()]).tolist(),
                      strict=True))
    for name, value in values.items():
        if not math.isfinite(value):
            raise Diverged(monitor.epoch, 0, value, name)
    ctx.metrics = dict(values)  # a recipe may add final metrics; the event keeps its own
    ctx.speed = monitor.examples_per_sec
    ctx.emit(EpochEnd(monitor.epoch, monitor.epochs, values, monitor.examples_per_sec,
                      ctx.elapsed))
