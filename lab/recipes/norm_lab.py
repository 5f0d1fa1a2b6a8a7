"""Lecture 28's normalisation lab: what BatchNorm, LayerNorm, GroupNorm and InstanceNorm compute
for a given shape, checked against a normalisation by hand, and BatchNorm's running statistics.

``describe`` says it from the shape alone (which axes, how many statistics, γ and β); the run
then computes it with torch, by the module and by hand, so each claim is shown to hold.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from lab.experiments.norm_lab import SHAPE, check_fits
from lab.recipes.prelim_common import say, table
from lab.shapes_text import Shape, parse_shape, shape_text
from lab.train.context import RunContext

LAYOUTS = {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"}
MEAN, STD = 5.0, 2.0  # the training batches are drawn from N(MEAN, STD²)
SHOWN = 8  # channels whose running statistics are listed


@dataclass(frozen=True)
class Plan:
    norm: str  # one of lab.experiments.norm_lab.NORMS
    module: str  # how it is made, e.g. nn.BatchNorm2d(3)
    reduced: tuple[int, ...]  # the axes each statistic is computed over
    kept: str  # what one statistic belongs to, e.g. "each channel C"
    statistics: int  # how many means (and as many variances)
    per_statistic: int  # how many values each is computed from
    affine: Shape  # the shape of γ and of β


def describe(norm: str, shape: Shape, last_dims: int = 1, groups: int = 1) -> Plan:
    """What a normalisation of an input of ``shape`` computes, from the shape alone."""
    d, total = len(shape), math.prod(shape)
    spatial = tuple(range(2, d))
    if norm == "batchnorm":
        kind = {2: "1d", 3: "1d", 4: "2d", 5: "3d"}[d]
        reduced, kept, affine = (0, *spatial), "each channel C", (shape[1],)
        module = f"nn.BatchNorm{kind}({shape[1]})"
    elif norm == "layernorm":
        reduced = tuple(range(d - last_dims, d))
        affine = shape[d - last_dims:]
        kept = ("each index of the first dimensions " + shape_text(shape[:d - last_dims])
                if last_dims < d else "the whole tensor")
        module = f"nn.LayerNorm({list(affine)})"
    elif norm == "groupnorm":
        reduced, affine = (1, *spatial), (shape[1],)
        kept = f"each sample N and each of {groups} groups of {shape[1] // groups} channels"
        module = f"nn.GroupNorm({groups}, {shape[1]})"
        return Plan(norm, module, reduced, kept, shape[0] * groups,
                    total // (shape[0] * groups), affine)
    else:
        reduced, kept, affine = spatial, "each sample N and channel C", (shape[1],)
        module = f"nn.InstanceNorm{d - 2}d({shape[1]}, affine=True)"
    per = math.prod(shape[i] for i in reduced)
    return Plan(norm, module, reduced, kept, total // per, per, affine)


def build(norm: str, shape: Shape, last_dims: int, groups: int, momentum: float) -> nn.Module:
    d = len(shape)
    if norm == "batchnorm":
        kind = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[d]
        return kind(shape[1], momentum=momentum)
    if norm == "layernorm":
        return nn.LayerNorm(shape[d - last_dims:])
    if norm == "groupnorm":
        return nn.GroupNorm(groups, shape[1])
    kind = {3: nn.InstanceNorm1d, 4: nn.InstanceNorm2d, 5: nn.InstanceNorm3d}[d]
    return kind(shape[1], affine=True)


def by_hand(x: torch.Tensor, plan: Plan, groups: int, eps: float) -> tuple[torch.Tensor, int]:
    """x normalised over the plan's axes (γ = 1, β = 0, the variance biased, as in training),
    and how many means that took."""
    if plan.norm == "groupnorm":  # a group spans channels: gather it first
        grouped = x.reshape(x.shape[0], groups, -1)
        mean = grouped.mean(-1, keepdim=True)
        var = grouped.var(-1, unbiased=False, keepdim=True)
        return ((grouped - mean) / torch.sqrt(var + eps)).reshape(x.shape), mean.numel()
    mean = x.mean(dim=plan.reduced, keepdim=True)
    var = x.var(dim=plan.reduced, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps), mean.numel()


def norm_lab(ctx: RunContext) -> None:
    p = ctx.params
    check_fits(p)  # a config that skipped resolve ends as one line, not a traceback
    shape = parse_shape(p.shape, **SHAPE)
    plan = describe(p.norm, shape, p.last_dims, p.groups)
    show_plan(ctx, shape, plan)
    module = build(p.norm, shape, p.last_dims, p.groups, p.momentum).to(ctx.device)
    x = batch(shape, ctx.device)
    with torch.no_grad():
        y = in_training(module, x)
        expected, means = by_hand(x, plan, p.groups, module.eps)
    error = float((y - expected).abs().max())
    counted = f"{means} mean{'s' if means > 1 else ''}"
    say(ctx, f"normalised by hand over axes {list(plan.reduced)} ({counted}): max |by hand − "
             f"{plan.module}| = {error:.2g}")
    ctx.metrics = {"statistics": float(plan.statistics), "per_statistic": float(plan.per_statistic),
                   "gamma_numel": float(math.prod(plan.affine)), "by_hand_error": error}
    if p.norm == "batchnorm":
        ctx.metrics["running_error"] = train_steps(ctx, module, shape, p.steps, p.momentum)
    ctx.metrics["train_eval_gap"] = compare_modes(ctx, module, shape,
                                                  p.norm == "batchnorm")


def in_training(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The module's output in train mode, computed by a copy: its running statistics (if any)
    stay as they were."""
    return copy.deepcopy(module).train()(x)


def batch(shape: Shape, device: torch.device) -> torch.Tensor:
    return MEAN + STD * torch.randn(shape, device=device)


def axis_names(shape: Shape, plan: Plan) -> str:
    """``0 (N=2), 2 (H=4)``: each reduced axis with its size, named by its role where the
    layout (N, C, H, W, …) applies: not to LayerNorm, which takes any shape."""
    names = LAYOUTS.get(len(shape), "") if plan.norm != "layernorm" else ""
    shown = [f"{i} ({names[i]}={shape[i]})" if names else f"{i} (size {shape[i]})"
             for i in plan.reduced]
    if plan.norm == "groupnorm":  # only the channels of one group: N·G statistics
        shown[0] = f"1 (C: {shape[0] * shape[1] // plan.statistics} channels of a group)"
    return ", ".join(shown) or "none"


def show_plan(ctx: RunContext, shape: Shape, plan: Plan) -> None:
    table(ctx, f"{plan.module} on an input of shape {shape_text(shape)}", ["", "value"], [
        ["reduces over axes", axis_names(shape, plan)],
        ["one mean and one variance for", plan.kept],
        ["means", plan.statistics],
        ["variances", plan.statistics],
        ["values per statistic", plan.per_statistic],
        ["γ (weight) shape", list(plan.affine)],
        ["β (bias) shape", list(plan.affine)],
    ])


def _short(value: float) -> str:
    return f"{value:.4g}"


def train_steps(ctx: RunContext, module: nn.Module, shape: Shape, steps: int,
                momentum: float) -> float:
    """``steps`` training batches through a BatchNorm, its running statistics beside the same
    update done by hand; returns their largest difference."""
    axes = (0, *range(2, len(shape)))
    mean_by_hand = torch.zeros(shape[1], device=ctx.device)
    var_by_hand = torch.ones(shape[1], device=ctx.device)
    rows = [[0, "", "", _short(module.running_mean[0]), _short(module.running_var[0])]]
    module.train()
    for step in range(1, steps + 1):
        x = batch(shape, ctx.device)
        with torch.no_grad():
            module(x)
        mean, var = x.mean(dim=axes), x.var(dim=axes, unbiased=True)
        mean_by_hand = (1 - momentum) * mean_by_hand + momentum * mean
        var_by_hand = (1 - momentum) * var_by_hand + momentum * var
        rows.append([step, *(_short(v[0]) for v in (mean, var, module.running_mean,
                                                    module.running_var))])
    say(ctx, f"{steps} training steps on batches drawn from N({MEAN:g}, {STD:g}²), momentum "
             f"{momentum:g}: running = (1 − momentum)·running + momentum·batch, starting from "
             "mean 0 and variance 1; the batch variance is the unbiased one")
    table(ctx, "channel 0, step by step",
          ["step", "batch mean", "batch var", "running mean", "running var"], rows)
    table(ctx, "after the last step", ["channel", "running mean", "mean by hand",
                                       "running var", "var by hand"],
          [[c, *(_short(v[c]) for v in (module.running_mean, mean_by_hand, module.running_var,
                                        var_by_hand))] for c in range(min(shape[1], SHOWN))])
    return max(float((module.running_mean - mean_by_hand).abs().max()),
               float((module.running_var - var_by_hand).abs().max()))


def _moments(y: torch.Tensor) -> list[str]:
    """The mean and the standard deviation of an output, as 4 decimals (never "-0.0000")."""
    return [f"{float(v):.4f}".replace("-0.0000", "0.0000") for v in (y.mean(), y.std())]


def compare_modes(ctx: RunContext, module: nn.Module, shape: Shape, running: bool) -> float:
    """A new batch through the module in train mode and in eval mode; returns the largest
    difference. Train mode runs on a copy, so that the batch does not move the module's own
    running statistics before eval mode uses them."""
    x = batch(shape, ctx.device)
    with torch.no_grad():
        train = in_training(module, x)
        evaluated = module.eval()(x)
    gap = float((train - evaluated).abs().max())
    table(ctx, "a new batch in train mode and in eval mode",
          ["mode", "uses", "output mean", "output std"],
          [["module.train()", "this batch's statistics" if running else "each sample's own",
            *_moments(train)],
           ["module.eval()", "running_mean, running_var" if running else "each sample's own",
            *_moments(evaluated)]])
    say(ctx, f"max |train − eval| = {gap:.4g}" + (
        ": eval mode does not use the batch's statistics, so a prediction does not depend on "
        "the other examples in its batch" if running else
        ": without running statistics both modes compute the same"))
    return gap
