"""Lecture 04's `tensors` demo: broadcasting two typed shapes, view against reshape, memory shared
with NumPy, and a float32 against a float64 matrix product.

Each step emits what it found and returns it, so tests can check the answers themselves; every
answer comes from torch itself (tests hold the broadcasting rule written out to
``torch.broadcast_shapes``), except the timing, which only this machine can say.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lab.experiments.preliminaries import BROADCAST, parse_new_shape
from lab.recipes.prelim_common import listed, say, table
from lab.shapes_text import Shape, parse_shape, shape_text
from lab.train.context import RunContext

SOURCE = (3, 4)  # view and reshape start from torch.arange(12).reshape(3, 4)
SHOWN_SUM = 60  # a + b is printed when it has at most this many elements
REPEATS = 5  # matrix products timed per dtype (the median is shown)


def tensors(ctx: RunContext) -> None:
    p = ctx.params
    a, b = parse_shape(p.shape_a, **BROADCAST), parse_shape(p.shape_b, **BROADCAST)
    result, _ = show_broadcast(ctx, a, b)
    views = show_view_and_reshape(ctx, parse_new_shape(p.new_shape))
    shared = show_numpy_memory(ctx)
    times = time_matmul(ctx, p.matmul_size)
    ctx.metrics = {
        "broadcasts": float(result is not None),
        "view_of_transpose_works": float(views["t.view"].works),
        "reshape_of_transpose_copies": float(not views["t.reshape"].shares),
        "from_numpy_shares": float(shared["torch.from_numpy(a)"]),
        "tensor_shares": float(shared["torch.tensor(a)"]),
        **{f"{name}_ms": ms for name, ms in times.items()},
    }


# -- broadcasting -----------------------------------------------------------------------------

def broadcast_rule(a: Shape, b: Shape) -> tuple[Shape | None, list[list[str]]]:
    """The broadcast shape of ``a`` and ``b`` (None: they do not broadcast) and one row per
    dimension, aligned from the right: its index, the two sizes, the result, the rule used."""
    n = max(len(a), len(b))
    a_sizes = (None,) * (n - len(a)) + a
    b_sizes = (None,) * (n - len(b)) + b
    rows: list[list[str]] = []
    sizes: list[int] = []
    for i, (x, y) in enumerate(zip(a_sizes, b_sizes, strict=True)):
        if x is None or y is None:
            size = y if x is None else x
            rule = f"{'a' if x is None else 'b'} has no such dimension: taken as 1, repeated"
        elif x == y:
            size, rule = x, "equal"
        elif 1 in (x, y):
            size = y if x == 1 else x
            rule = f"{'a' if x == 1 else 'b'} is 1: repeated {size} times"
        else:
            size, rule = None, "neither is 1: cannot broadcast"
        rows.append([str(i - n), "" if x is None else str(x), "" if y is None else str(y),
                     "✗" if size is None else str(size), rule])
        if size is not None:
            sizes.append(size)
    return (tuple(sizes) if len(sizes) == n else None), rows


def show_broadcast(ctx: RunContext, a: Shape, b: Shape) -> tuple[Shape | None, str]:
    """The rule, dimension by dimension, then torch's own answer; returns the result shape (None
    if they do not broadcast) and torch's message when it refuses."""
    result, rows = broadcast_rule(a, b)
    table(ctx, f"broadcasting a {shape_text(a)} with b {shape_text(b)}",
          ["dim", "a", "b", "result", "rule (sizes aligned from the right)"], rows)
    try:  # the rule written out is the lesson; torch's answer is the proof (tests compare them)
        torch.broadcast_shapes(a, b)
        refusal = ""
    except RuntimeError as err:
        refusal = str(err).strip().splitlines()[0]
    if result is None:
        clash = next(row for row in reversed(rows) if row[3] == "✗")  # the first from the right
        say(ctx, f"a {shape_text(a)} and b {shape_text(b)} cannot be broadcast: at dimension "
                 f"{clash[0]} the sizes are {clash[1]} and {clash[2]}, and neither is 1. torch "
                 f"says: {refusal}")
        return None, refusal
    say(ctx, f"a + b has shape {shape_text(result)}: torch.broadcast_shapes{(a, b)} = "
             f"{torch.Size(result)}")
    if 0 < math.prod(result) <= SHOWN_SUM:
        x = torch.arange(math.prod(a)).reshape(a)
        y = torch.arange(math.prod(b)).reshape(b)
        say(ctx, f"with a = torch.arange({x.numel()}).reshape({shape_text(a)}) and b = "
                 f"torch.arange({y.numel()}).reshape({shape_text(b)}):\na + b =\n{x + y}")
    return result, ""


# -- view and reshape -------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    works: bool
    shares: bool = False  # the result uses x's memory (no copy)
    is_view: bool = False  # torch's _is_view(): the result is a view of another tensor
    error: str = ""


def _try(make: Callable[[], torch.Tensor], x: torch.Tensor) -> Outcome:
    try:
        y = make()
    except RuntimeError as err:
        return Outcome(False, error=str(err).strip().splitlines()[0])
    shares = y.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    return Outcome(True, shares, y._is_view())


def show_view_and_reshape(ctx: RunContext, shape: Shape) -> dict[str, Outcome]:
    """view and reshape of a contiguous tensor x and of its transpose t, and what
    .contiguous() changes: which works, which copies x's memory, which is a view (keys: the
    calls with ``shape`` left out: 'x.view', 't.reshape', 'c.view' for c = t.contiguous(), …)."""
    x = torch.arange(12).reshape(SOURCE)
    t = x.T
    made = {
        "t = x.T": lambda: t,
        "x.view": lambda: x.view(shape),
        "x.reshape": lambda: x.reshape(shape),
        "t.view": lambda: t.view(shape),
        "t.reshape": lambda: t.reshape(shape),
        "c = t.contiguous()": lambda: t.contiguous(),
        "c.view": lambda: t.contiguous().view(shape),
    }
    outcomes = {name: _try(make, x) for name, make in made.items()}
    calls = {name: name if "=" in name else f"{name}{shape_text(shape)}" for name in made}
    rows = [[calls[name], "yes" if o.works else "no",
             ("no" if o.shares else "yes") if o.works else "", o.is_view if o.works else ""]
            for name, o in outcomes.items()]
    say(ctx, f"x = torch.arange(12).reshape{SOURCE}: x.is_contiguous() = {x.is_contiguous()}; "
             f"its transpose t = x.T: t.is_contiguous() = {t.is_contiguous()}")
    table(ctx, "view and reshape", ["call", "works", "copies x", "_is_view()"], rows)
    for name, o in outcomes.items():
        if not o.works:
            say(ctx, f"{calls[name]} fails: {o.error}")
    say(ctx, "view never copies: it only reinterprets x's memory with new strides, which a "
             "transposed tensor may not allow. reshape returns a view when it can and a copy "
             "when it must; .contiguous() copies a non-contiguous tensor into row-major order, "
             "after which view works (on the copy).")
    return outcomes


# -- memory shared with NumPy -----------------------------------------------------------------

def show_numpy_memory(ctx: RunContext) -> dict[str, bool]:
    """torch.tensor copies an ndarray, torch.from_numpy shares it, and .numpy() shares a
    tensor's memory: shown by changing one side and reading the other. Returns, for each, whether
    it saw the change (shares the memory)."""
    a = np.arange(4, dtype=np.float32)
    copied, shared = torch.tensor(a), torch.from_numpy(a)
    a[0] = 100
    z = torch.zeros(4)
    n = z.numpy()
    z[1] = -1
    seen = {"torch.tensor(a)": (copied, bool(copied[0] == 100)),
            "torch.from_numpy(a)": (shared, bool(shared[0] == 100)),
            "n = z.numpy()": (n, bool(n[1] == -1))}
    say(ctx, "a = np.arange(4, dtype=np.float32), then a[0] = 100; and n = z.numpy() for z = "
             "torch.zeros(4), then z[1] = -1: what each one sees")
    table(ctx, "NumPy and torch", ["made by", "sees", "shares memory"],
          [[made, listed(values.tolist()), "yes" if shares else "no: a copy"]
           for made, (values, shares) in seen.items()])
    return {made: shares for made, (_, shares) in seen.items()}


# -- float32 and float64 ----------------------------------------------------------------------

def time_matmul(ctx: RunContext, n: int) -> dict[str, float]:
    """Milliseconds per n×n matrix product in float32 and float64 on the run's device (the
    median of a few): deep learning computes in float32, and this shows why."""
    device = ctx.device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: dict[str, float] = {}
    for dtype in (torch.float32, torch.float64):
        A = torch.rand(n, n, dtype=dtype, device=device)
        A @ A  # the first call pays for setting up
        sync()
        runs = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            A @ A
            sync()
            runs.append(time.perf_counter() - start)
        # A clock tick as the least: a 1×1 product can take less than the clock can tell.
        times[str(dtype).removeprefix("torch.")] = 1e3 * max(statistics.median(runs), 1e-9)
    flops = 2 * n ** 3
    say(ctx, f"A @ A for an {n}×{n} A on {device}, the median of {REPEATS} (this machine's own)")
    table(ctx, "matrix product",
          ["dtype", "bytes per number", "ms", "GFLOP/s"],
          [[name, 4 if name == "float32" else 8, f"{ms:.3f}", f"{flops / ms / 1e6:.1f}"]
           for name, ms in times.items()])
    say(ctx, f"here float64 took {times['float64'] / times['float32']:.1f}× the time of float32. "
             "It stores twice the bytes per number, and most GPUs compute it many times more "
             "slowly: deep learning computes in float32. (On a busy CPU timings vary.)")
    return times
