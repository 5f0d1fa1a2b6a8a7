"""Lecture 28's normalisation lab: which axes BatchNorm, LayerNorm, GroupNorm and InstanceNorm
reduce over for a shape the learner types, how many statistics each computes, the shapes of γ
and β, and BatchNorm's running statistics and its train/eval difference."""

from __future__ import annotations

import math

from lab.experiments.common import CNN
from lab.shapes_text import checker, parse_shape, shape_text
from lab.spec import Experiment, Param, ParamError, Params

NORMS = ("batchnorm", "layernorm", "groupnorm", "instancenorm")
SHAPE = {"dims": (1, 5), "most_elements": 1 << 18}  # what a typed shape may be


def check_fits(p: Params) -> None:
    """The shape, the normalisation and its own field agree; else a ParamError naming the field
    to change. The form and the CLI check it before a run, and the recipe again at its start."""
    shape = parse_shape(p.shape, **SHAPE)
    d, shown = len(shape), shape_text(shape)
    after_c = math.prod(shape[2:])  # the sizes after (N, C): 1 for (N, C)
    if p.norm == "batchnorm":
        if d < 2:
            raise ParamError("shape", f"BatchNorm takes (N, C, …): 2 to 5 dimensions (got {shown})")
        if shape[0] * after_c < 2:
            raise ParamError("shape", "BatchNorm in training needs more than one value per "
                             f"channel: N × the sizes after C must be ≥ 2 (got {shown})")
    elif p.norm == "layernorm" and p.last_dims > d:
        raise ParamError("last_dims", f"must be at most {d}, the dimensions of shape {shown} "
                         f"(got {p.last_dims})")
    elif p.norm == "groupnorm":
        if d < 2:
            raise ParamError("shape", f"GroupNorm takes (N, C, …): 2 to 5 dimensions (got {shown})")
        if shape[1] % p.groups:
            raise ParamError("groups", f"must divide the channels C = {shape[1]} of shape {shown} "
                             f"(got {p.groups})")
    elif p.norm == "instancenorm":
        if d < 3:
            raise ParamError("shape", "InstanceNorm takes (N, C, L), (N, C, H, W) or (N, C, D, H, "
                             f"W): 3 to 5 dimensions (got {shown})")
        if after_c < 2:
            raise ParamError("shape", "InstanceNorm in training needs more than one value per "
                             f"channel of a sample: the sizes after C must multiply to ≥ 2 (got "
                             f"{shown})")


NORM_LAB = Experiment(
    id="norm-lab",
    lecture=28,
    title_en="Normalization lab: BatchNorm, LayerNorm, GroupNorm, InstanceNorm",
    title_zh="批量归一化 + 层归一化",
    chapter=CNN,
    dataset=None,
    summary="Pick a tensor shape and a normalisation, and see what it computes: the axes it "
    "reduces over, how many means and variances, from how many values each, and the shapes of "
    "γ and β. BatchNorm keeps one statistic per channel (C), reduced over the batch and the "
    "positions: on (2, 3, 4, 4) that is 3 means and 3 variances and γ, β of shape [3]. "
    "LayerNorm reduces each sample over its last dimensions: over the last one of (2, 3, 4) that "
    "is 6 statistics and γ, β of shape [4]. GroupNorm reduces each sample over groups of "
    "channels, InstanceNorm each sample's channel over its positions. A normalisation computed "
    "by hand over those axes matches torch's. For BatchNorm, a few training steps on batches "
    "drawn from N(5, 2²) move the running mean and variance by running = (1 − momentum)·running "
    "+ momentum·batch (the variance unbiased), and eval mode, which uses them, gives other "
    "outputs than train mode; the other three use each sample's own statistics in both modes.",
    try_this=(
        "Switch norm to layernorm with shape 2,3,4: 6 statistics, γ and β of shape [4].",
        "Set steps=50: the running mean approaches 5 and the train/eval gap shrinks.",
        "Set momentum=1: the running statistics are just the last batch's.",
        "GroupNorm with groups=1 is LayerNorm over (C, H, W); with groups=C it is "
        "InstanceNorm: compare the counts.",
    ),
    params=(
        Param("shape", str, "2,3,4,4", "the input's shape, e.g. 2,3,4,4 for (N, C, H, W)",
              check=checker(parse_shape, **SHAPE)),
        Param("norm", str, "batchnorm", "the normalisation: BatchNorm1d/2d/3d by the shape, "
              "LayerNorm, GroupNorm or InstanceNorm", choices=NORMS),
        Param("last_dims", int, 1, "LayerNorm: normalise over this many last dimensions", min=1,
              max=5),
        Param("groups", int, 1, "GroupNorm: groups of channels (must divide C)", min=1,
              max=1024),
        Param("momentum", float, 0.1, "BatchNorm: weight of each batch in the running "
              "statistics (torch's default 0.1; the book's 0.9 weighs the old value)", min=0,
              max=1),
        Param("steps", int, 3, "BatchNorm: training steps before eval mode", min=1, max=100),
    ),
    entry="lab.recipes.norm_lab:norm_lab",
    presets={"layernorm": {"shape": "2,3,4", "norm": "layernorm", "last_dims": 1}},
    rules=(check_fits,),
    demo=True,
    book_result={"book": "statistics 3 · γ, β shape [3]",
                 "layernorm": "statistics 6 · γ, β shape [4]"},
    notes="The lecture's questions, not a run of the book's code. The book's own BatchNorm "
    "writes its momentum the other way round (moving = 0.9·moving + 0.1·batch), which is "
    "torch's momentum 0.1. InstanceNorm is made with affine=True so that it has a γ and β to "
    "show (torch's default is without).",
)

EXPERIMENTS = (NORM_LAB,)
