"""Lecture 10's demo: an activation function and its gradient, computed by autograd."""

from __future__ import annotations

import torch

from lab.events import Curve, Message
from lab.train.context import RunContext

FUNCTIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def activation_curves(ctx: RunContext, name: str) -> float:
    """Emit f(x) and f'(x) over [-8, 8) as one figure; returns the largest gradient."""
    x = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)
    y = FUNCTIONS[name](x)
    y.backward(torch.ones_like(x))
    xs = x.detach().tolist()
    ctx.emit(Curve(name, f"{name}(x)", xs, y.detach().tolist(), xlabel="x"))
    ctx.emit(Curve(name, f"grad of {name}", xs, x.grad.tolist(), xlabel="x"))
    peak = int(x.grad.argmax())  # the first x where the gradient is largest
    ctx.emit(Message(f"the gradient of {name} is at most {x.grad[peak]:.4f}, "
                     f"first reached at x = {xs[peak]:.1f}"))
    return float(x.grad[peak])


def plot_activation(ctx: RunContext) -> None:
    ctx.metrics = {"max_grad": activation_curves(ctx, ctx.params.activation)}
