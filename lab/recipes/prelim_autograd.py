"""Lectures 06–07's `autograd` demo: the gradient of 2·xᵀx is 4x, gradients accumulate across
backward calls until zero_(), detach() cuts the graph, a gradient flows through Python control
flow, and torch's Jacobian is in numerator layout (rows = outputs, columns = inputs)."""

from __future__ import annotations

import math

import torch
from torch.autograd.functional import jacobian

from lab.recipes.prelim_common import listed, say, table
from lab.shapes_text import parse_vector
from lab.train.context import RunContext

NORM_TO_REACH = 1000  # f's loop doubles b until its norm reaches this (the book's)
OUTPUTS = ("xᵀx", "Σ xᵢ", "x₀·xₙ₋₁")  # the vector function whose Jacobian is shown


def autograd(ctx: RunContext) -> None:
    x = torch.tensor(parse_vector(ctx.params.x))
    grads = show_gradients(ctx, x)
    k = show_control_flow(ctx, ctx.params.a)
    J = show_jacobian(ctx, x)
    ctx.metrics = {
        "grad_is_4x": float(torch.equal(grads["first"], 4 * x)),
        "accumulates": float(torch.equal(grads["second"], 2 * grads["first"])),
        "control_flow_grad": k,
        "jacobian_rows": float(J.shape[0]),
        "jacobian_cols": float(J.shape[1]),
    }


def show_gradients(ctx: RunContext, values: torch.Tensor) -> dict[str, torch.Tensor]:
    """x.grad after each step of the book's sequence (keys: first, second, sum, square,
    detached)."""
    x = values.clone().requires_grad_(True)
    grads: dict[str, torch.Tensor] = {}
    rows, steps = [], []

    def note(key: str, code: str, expected: str) -> None:
        grads[key] = x.grad.clone()
        steps.append(f"{len(steps) + 1}. {code}")
        rows.append([len(rows) + 1, listed(x.grad), expected])

    y = 2 * torch.dot(x, x)
    y.backward(retain_graph=True)  # keep the graph: the next call goes through it again
    note("first", "y.backward(retain_graph=True)", "4x")
    y.backward(retain_graph=True)
    note("second", "y.backward(retain_graph=True), again", "4x + 4x: accumulated")
    x.grad.zero_()
    x.sum().backward()
    note("sum", "x.grad.zero_(); x.sum().backward()", "ones")
    x.grad.zero_()
    (x * x).sum().backward()  # a vector y: backward needs a scalar, so its sum
    note("square", "x.grad.zero_(); (x * x).sum().backward()", "2x")
    x.grad.zero_()
    u = (x * x).detach()
    (u * x).sum().backward()
    note("detached", "x.grad.zero_(); u = (x * x).detach(); (u * x).sum().backward()",
         "u = x * x: a constant")
    say(ctx, f"x = torch.tensor({listed(values)}, requires_grad=True); y = 2 * torch.dot(x, "
             "x); then, step by step:\n" + "\n".join(steps))
    table(ctx, "x.grad", ["step", "x.grad", "is"], rows)
    return grads


def f(a: torch.Tensor) -> torch.Tensor:
    """The book's function with Python control flow: how many doublings, and which branch,
    depends on a."""
    b = a * 2
    while b.norm() < NORM_TO_REACH:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


def show_control_flow(ctx: RunContext, value: float) -> float:
    """f(a) = k·a for a k that depends on a; autograd follows the path taken, so a.grad = k =
    f(a) / a. Returns a.grad."""
    a = torch.tensor(float(value), requires_grad=True)
    d = f(a)
    d.backward()
    k, ratio = a.grad.item(), (d / a).item()
    say(ctx, f"d = f(a): b = 2a, doubled while ‖b‖ < {NORM_TO_REACH}, then d = b if "
             "b.sum() > 0 else 100 * b; so d = k·a, and a.grad is that k")
    # float32 rounds 100 * b, so d / a can miss k in its last bit: compare to the rounding
    table(ctx, "control flow", ["a", "d = f(a)", "a.grad", "d / a", "a.grad ≈ d / a"],
          [[value, d.item(), k, ratio, math.isclose(k, ratio, rel_tol=1e-6)]])
    return k


def vector_function(x: torch.Tensor) -> torch.Tensor:
    return torch.stack((torch.dot(x, x), x.sum(), x[0] * x[-1]))


def show_jacobian(ctx: RunContext, x: torch.Tensor) -> torch.Tensor:
    """torch.autograd.functional.jacobian of a function ℝⁿ → ℝ³: one row per output."""
    J = jacobian(vector_function, x)
    n = len(x)
    columns = [f"∂/∂x{i}" for i in range(n)]
    say(ctx, f"J = torch.autograd.functional.jacobian(f, x) for f(x) = ({', '.join(OUTPUTS)}) "
             f"at x = {listed(x)}: {J.shape[0]}×{J.shape[1]}")
    table(ctx, "Jacobian", ["y", *columns],
          [[name, *row] for name, row in zip(OUTPUTS, J.tolist(), strict=True)])
    say(ctx, f"numerator layout: a row per output ({J.shape[0]}), a column per input ({n}); "
             "row i is the gradient of yᵢ (row 0 is 2x). The denominator layout is its "
             "transpose.")
    return J
