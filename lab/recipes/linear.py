"""Lecture 08: linear regression on the book's synthetic data."""

from __future__ import annotations

import torch

from lab.data.synthetic import TRUE_B, TRUE_W, linear_data
from lab.events import Message
from lab.models.linear import LinearRegressionScratch, linear_regression, mse, squared_loss
from lab.train.context import RunContext
from lab.train.regress import fit_regressor
from lab.train.updaters import ScratchSGD, TorchUpdater

NUM_EXAMPLES = 1000


def train_linreg(ctx: RunContext, impl: str) -> None:
    p = ctx.params
    true_w = torch.tensor(TRUE_W)
    features, labels = linear_data(true_w, TRUE_B, NUM_EXAMPLES, device=ctx.device)
    if impl == "scratch":
        net = LinearRegressionScratch(len(TRUE_W)).to(ctx.device)
        loss_fn, update = squared_loss, ScratchSGD(net.parameters(), p.lr)
        w, b = net.w, net.b
    else:
        net = linear_regression(len(TRUE_W)).to(ctx.device)
        loss_fn = mse
        update = TorchUpdater(torch.optim.SGD(net.parameters(), lr=p.lr))
        w, b = net[0].weight, net[0].bias
    ctx.track(net=net, optimizer=update)

    fit_regressor(ctx, net, loss_fn, update, (features, labels))

    w_error = (true_w - w.detach().cpu().reshape(true_w.shape)).tolist()
    b_error = TRUE_B - b.item()
    ctx.metrics |= {"w_error": max(map(abs, w_error)), "b_error": abs(b_error)}
    ctx.emit(Message(f"error in estimating w: [{w_error[0]:.6f}, {w_error[1]:.6f}]"))
    ctx.emit(Message(f"error in estimating b: {b_error:.6f}"))
