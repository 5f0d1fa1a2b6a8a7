"""Lecture 10's demo: an activation function and its gradient, computed by autograd."""

from __future__ import annotations

import torch

from lab.events import Curve, Message
from lab.train.context import RunContext

FUNCTIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def plot_activation(ctx: RunContext) -> None:
    name = ctx.params.activation
    x = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)
    y = FUNCTIONS[name](x)
    y.backward(torch.ones_like(x))
    xs = x.detach().tolist()
    ctx.emit(Curve(name, f"{name}(x)", xs, y.detach().tolist()))
    ctx.emit(Curve(name, f"grad of {name}", xs, x.grad.tolist()))
    peak = int(x.grad.argmax())  # the first x where the gradient is largest
    ctx.emit(Message(f"the gradient of {name} is at most {x.grad[peak]:.4f}, "
                     f"first reached at x = {xs[peak]:.1f}"))
    ctx.metrics = {"max_grad": float(x.grad.max())}
