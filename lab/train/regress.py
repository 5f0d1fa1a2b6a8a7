"""Regression as the linear-regression lectures train it: minibatch steps, then the loss over
whole sets at each epoch's end (what the book prints as ``epoch n, loss ...`` or plots as train
and test loss)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lab.train.context import RunContext
from lab.train.loop import end_epoch, run_epoch

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # per-example losses
Data = tuple[torch.Tensor, torch.Tensor]


def fit_regressor(
    ctx: RunContext,
    net: nn.Module,
    loss_fn: Loss,
    update: Callable[[torch.Tensor], None],
    train: Data,
    evaluate: dict[str, Data] | None = None,
    eval_loss: Loss | None = None,
) -> None:
    """Train on ``train``; after each epoch report the mean ``eval_loss`` (default: the training
    loss, e.g. without a weight penalty) over each named set (default: {"loss": train})."""
    p = ctx.params
    features, labels = train
    evaluate = evaluate or {"loss": train}
    eval_loss = eval_loss or loss_fn

    def step(indices: torch.Tensor) -> torch.Tensor:
        X, y = features.index_select(0, indices), labels.index_select(0, indices)
        losses = loss_fn(net(X), y)
        update(losses)
        return losses.detach()

    for epoch in ctx.epochs(p.epochs):
        monitor = run_epoch(ctx, epoch, p.epochs, len(labels), p.batch_size, step)
        with torch.no_grad():
            end_epoch(ctx, monitor, {name: eval_loss(net(X), y).mean()
                                     for name, (X, y) in evaluate.items()})
