"""Regression as the linear-regression lectures train it: minibatch steps, then the loss over the
whole training set at each epoch's end (what the book prints as ``epoch n, loss ...``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lab.train.context import RunContext
from lab.train.loop import end_epoch, run_epoch


def fit_regressor(
    ctx: RunContext,
    net: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],  # per-example losses
    update: Callable[[torch.Tensor], None],
    features: torch.Tensor,
    labels: torch.Tensor,
) -> None:
    p = ctx.params

    def step(indices: torch.Tensor) -> torch.Tensor:
        losses = loss_fn(net(features.index_select(0, indices)), labels.index_select(0, indices))
        update(losses)
        return losses.detach()

    for epoch in range(1, p.epochs + 1):
        monitor = run_epoch(ctx, epoch, p.epochs, len(labels), p.batch_size, step)
        with torch.no_grad():
            end_epoch(ctx, monitor, {"loss": loss_fn(net(features), labels).mean()})
