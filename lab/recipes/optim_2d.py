"""Lecture 72's toy problems: optimisers stepping over x², x·cos(cπx), cosh(cx) and the bowls
a1·x1² + a2·x2², as the book's ``train_2d``/``show_trace_2d`` and ``gd``/``show_trace`` do.

The arithmetic is the book's, on Python floats, one coordinate at a time (its trainers are
functions of (x1, x2, s1, s2)), so the printed end points agree with the book's to the last
decimal. The trajectories are drawn over the function's contour lines (its curve in 1-D), which
frame the view (lab/charts.py cuts a path that leaves it at the edge).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lab.charts import Box, clip_polyline, nice_ceil
from lab.events import Curve, Message
from lab.experiments.optimization import TABLE_2D, Entry, hyper, parse_entries
from lab.models.optimizers import RULES, init_state
from lab.spec import Params
from lab.train.context import RunContext

Point = tuple[float, ...]
# The book's view around its start (−5, −2) and the minimum (0, 0): x1 ∈ [−5.5, 1), x2 ∈ [−3, 1).
BELOW, ABOVE = (0.5, 1.0), (1.0, 1.0)
CONTOUR_SAMPLES = 240  # points on each contour ellipse
CURVE_SAMPLES = 401  # points on a 1-D function's curve


@dataclass(frozen=True)
class Problem:
    formula: str
    f: Callable[[Point], float]
    grad: Callable[[Point], Point]
    hess: Callable[[Point], Point]  # the diagonal of the Hessian (Newton's method)
    coefficients: tuple[float, ...] = ()  # a1, a2 of a bowl (its contours are ellipses)

    @property
    def dims(self) -> int:
        return max(len(self.coefficients), 1)


def _times(a: float, name: str) -> str:
    return name if a == 1 else f"{a:g}·{name}"


def problem(p: Params) -> Problem:
    """The book's functions with its gradients written out as it writes them."""
    if p.problem in ("quadratic-2d", "quadratic-1d"):
        a = (p.a1, p.a2) if p.problem == "quadratic-2d" else (p.a1,)
        names = ("x1", "x2") if len(a) == 2 else ("x",)
        return Problem(" + ".join(_times(ai, f"{n}²") for ai, n in zip(a, names, strict=True)),
                       lambda x: sum(ai * xi * xi for ai, xi in zip(a, x, strict=True)),
                       lambda x: tuple(2 * ai * xi for ai, xi in zip(a, x, strict=True)),
                       lambda x: tuple(2 * ai for ai in a), a)
    if p.problem == "nonconvex-1d":
        c = p.c * math.pi
        return Problem(f"x·cos({p.c:g}πx)", lambda x: x[0] * math.cos(c * x[0]),
                       lambda x: (math.cos(c * x[0]) - c * x[0] * math.sin(c * x[0]),),
                       lambda x: (-2 * c * math.sin(c * x[0])
                                  - x[0] * c ** 2 * math.cos(c * x[0]),))
    c = p.cosh_c
    return Problem(f"cosh({_times(c, 'x')})", lambda x: math.cosh(c * x[0]),
                   lambda x: (c * math.sinh(c * x[0]),),
                   lambda x: (c ** 2 * math.cosh(c * x[0]),))


def _schedule(hp: dict, t: int) -> float:
    """The book's constant_lr, exponential_lr and polynomial_lr at step count t."""
    if hp["schedule"] == "exponential":
        return math.exp(-hp["decay"] * t)
    if hp["schedule"] == "polynomial":
        return (1 + hp["decay"] * t) ** (-hp["power"])
    return 1.0


def trajectory(name: str, hp: dict, prob: Problem, start: Point, steps: int) -> list[Point]:
    """The points visited from ``start``, start included; it stops early where a value
    overflows (a diverging run), so it may hold fewer than ``steps`` + 1 points."""
    x = list(start)
    states = [init_state(name) for _ in x] if name in RULES else []
    path = [tuple(x)]
    for t in range(2, steps + 2):  # the book's SGD counts t from 1 and adds 1 before each use
        try:
            g = prob.grad(tuple(x))
            if name == "newton":
                x = [xi - hp["lr"] * gi / hi for xi, gi, hi in zip(x, g, prob.hess(tuple(x)),
                                                                    strict=True)]
            else:
                now = hp
                if name == "sgd":  # a noisy gradient and a learning rate η·s(t)
                    g = [gi + torch.normal(0.0, hp["noise"], (1,)).item() for gi in g]
                    now = {**hp, "lr": hp["lr"] * _schedule(hp, t)}
                for i, gi in enumerate(g):
                    x[i], states[i] = RULES[name](x[i], gi, states[i], now)
        except (OverflowError, ZeroDivisionError, ValueError):  # ValueError: cos(inf)
            break
        if not all(map(math.isfinite, x)):
            break
        path.append(tuple(x))
    return path


def optim_2d(ctx: RunContext) -> None:
    p = ctx.params
    prob = problem(p)
    start = (p.x1, p.x2)[:prob.dims]
    paths: dict[str, list[Point]] = {}
    entries = parse_entries(p.optimizers, TABLE_2D, len(TABLE_2D))
    for entry in entries:
        path = trajectory(entry.name, hyper(entry, TABLE_2D, p), prob, start, p.steps)
        paths[entry.label] = path
        _report(ctx, entry, path, p.steps)
        ctx.check_cancel()
    if prob.dims == 2:
        _draw_2d(ctx, prob, start, paths)
    else:
        _draw_1d(ctx, prob, start, paths)
    _draw_weights(ctx, {entry.name for entry in entries})


@dataclass(frozen=True)
class WeightPlot:
    """One of the book's plots of how a rule weighs the past: a curve per setting, over the
    steps t = 0, 1, …, steps − 1. The labels are the book's in Greek letters ("β = 0.95" for
    "beta = 0.95"): four fit a legend line at 80 columns."""

    figure: str
    curves: dict[str, Callable[[int], float]]
    steps: int


MOMENTUM_PLOTS = (
    WeightPlot("momentum: weight β^t of the gradient t steps back",
               {f"β = {b:.2f}": (lambda t, b=b: b ** t) for b in (0.95, 0.9, 0.6, 0.0)}, 40),
    # Gradient descent on λ/2·x² with η = 0.1 multiplies x by 1 − ηλ at every step.
    WeightPlot("(1 − ηλ)^t: gradient descent on λ/2·x², η = 0.1",
               {f"λ = {lam:g}": (lambda t, lam=lam: (1 - 0.1 * lam) ** t)
                for lam in (0.1, 1.0, 10.0, 19.0)}, 20),
)
WEIGHT_PLOTS = {
    "momentum": MOMENTUM_PLOTS,
    "nesterov": MOMENTUM_PLOTS,
    "rmsprop": (WeightPlot("RMSProp: weight (1 − γ)γ^t of g² t steps back",
                           {f"γ = {g:.2f}": (lambda t, g=g: (1 - g) * g ** t)
                            for g in (0.95, 0.9, 0.8, 0.7)}, 40),),
}


def _draw_weights(ctx: RunContext, names: set[str]) -> None:
    """The weight plots of the rules among ``names``, each once, after the trajectories."""
    plots = {plot.figure: plot for name in sorted(names) for plot in WEIGHT_PLOTS.get(name, ())}
    for plot in plots.values():
        ts = range(plot.steps)
        for label, weight in plot.curves.items():
            ctx.emit(Curve(plot.figure, label, [float(t) for t in ts], [weight(t) for t in ts],
                           xlabel="time"))


def _report(ctx: RunContext, entry: Entry, path: list[Point], steps: int) -> None:
    """The book's line, ``epoch 20, x1: -0.057646, x2: -0.000073``, and the metrics."""
    end = path[-1]
    names = ("x1", "x2") if len(end) == 2 else ("x",)
    where = ", ".join(f"{n}: {v:f}" for n, v in zip(names, end, strict=True))
    if len(path) <= steps:
        ctx.emit(Message(f"{entry.label}: diverged after step {len(path) - 1} of {steps} (a "
                         f"value overflowed), last at {where}", "warning"))
        return
    ctx.emit(Message(f"{entry.label}: epoch {steps}, {where}"))
    ctx.metrics |= {f"{entry.key}_{n}": v for n, v in zip(names, end, strict=True)}


def view(start: Point, paths: Sequence[Sequence[Point]]) -> tuple[Box, bool]:
    """The book's box around the start and the minimum, widened to take in the paths by at most
    its own size again on each side; and whether a path goes further (and is cut)."""
    box, cut = [], False
    for i, s in enumerate(start):
        lo, hi = min(s, 0.0) - BELOW[i], max(s, 0.0) + ABOVE[i]
        values = [pt[i] for path in paths for pt in path]
        span = hi - lo
        wide = (max(min(values, default=lo), lo - span), min(max(values, default=hi), hi + span))
        box.append((min(lo, wide[0]), max(hi, wide[1])))
        cut = cut or any(not box[-1][0] <= v <= box[-1][1] for v in values)
    return tuple(box), cut


def _draw_2d(ctx: RunContext, prob: Problem, start: Point,
             paths: dict[str, list[Point]]) -> None:
    box, cut = view(start, list(paths.values()))
    figure = f"f(x1, x2) = {prob.formula}"
    # Two corners, a dot each, make the contours' extent the box even where no contour reaches
    # one of its edges.
    corners = [(f"corner {i + 1}", [(box[0][i], box[1][i])]) for i in range(2)]
    for series, arc in [*contours(prob.coefficients, box), *corners]:
        ctx.emit(Curve(figure, series, [x for x, _ in arc], [y for _, y in arc], xlabel="x1",
                       style="contour"))
    for label, path in paths.items():
        ctx.emit(Curve(figure, label, [x for x, _ in path], [y for _, y in path], xlabel="x1",
                       style="points"))
    if cut:
        shown = " × ".join(f"[{lo:g}, {hi:g}]" for lo, hi in box)
        ctx.emit(Message(f"a trajectory leaves the view: it is cut at the edge of {shown}",
                         "warning"))


def _draw_1d(ctx: RunContext, prob: Problem, start: Point,
             paths: dict[str, list[Point]]) -> None:
    """The book's show_trace: f over [−n, n], n the farthest point reached (here at most 10
    times the start's distance), and each path's points on it."""
    reach = max(abs(pt[0]) for path in paths.values() for pt in path)
    n = min(max(reach, 1e-3), 10 * max(abs(start[0]), 1.0))
    xs = [-n + 2 * n * i / (CURVE_SAMPLES - 1) for i in range(CURVE_SAMPLES)]
    figure = f"f(x) = {prob.formula}"
    curves = {"f(x)": ("contour", xs), **{label: ("points", [pt[0] for pt in path])
                                           for label, path in paths.items()}}
    for series, (style, at) in curves.items():
        points = [(x, y) for x in at if math.isfinite(y := _value(prob, x))]
        ctx.emit(Curve(figure, series, [x for x, _ in points], [y for _, y in points],
                       xlabel="x", style=style))
    if reach > n:
        ctx.emit(Message(f"a trajectory leaves the view: it is cut at x = ±{n:g}", "warning"))


def _value(prob: Problem, x: float) -> float:
    """f(x), or infinity where it overflows (cosh far from 0)."""
    try:
        return prob.f((x,))
    except (OverflowError, ValueError):
        return math.inf


def contours(coefficients: Sequence[float], box: Box) -> list[tuple[str, list[tuple[float,
                                                                                      float]]]]:
    """The ellipses a1·x1² + a2·x2² = level inside ``box``, at round levels up to the value at
    its farthest corner, each cut into the arcs the box leaves: (series name, points)."""
    a1, a2 = coefficients
    top = max(a1 * x * x + a2 * y * y for x in box[0] for y in box[1])
    step = nice_ceil(top / 10)
    arcs = []
    for k in range(1, int(top / step) + 1):
        level = k * step
        r1, r2 = math.sqrt(level / a1), math.sqrt(level / a2)
        ring = [(r1 * math.cos(2 * math.pi * i / CONTOUR_SAMPLES),
                 r2 * math.sin(2 * math.pi * i / CONTOUR_SAMPLES))
                for i in range(CONTOUR_SAMPLES)]
        for j, arc in enumerate(_arcs(ring, box)):
            arcs.append((f"f = {level:g}" + (f" ({j + 1})" if j else ""), arc))
    return arcs


def _arcs(ring: list[tuple[float, float]], box: Box) -> list[list[tuple[float, float]]]:
    """The pieces of a closed ring inside ``box``; where its seam (its first point) is inside,
    the two pieces that meet there are one arc."""
    arcs = clip_polyline([*ring, ring[0]], box)
    if len(arcs) > 1 and arcs[-1][-1] == arcs[0][0]:
        arcs[0] = arcs.pop() + arcs[0][1:]
    return arcs
