"""Lecture 05's `linear-algebra` demo: norms, sums and means with and without keepdims, cumsum,
and the Hadamard against the matrix product, on a vector and a matrix the learner types."""

from __future__ import annotations

import torch

from lab.recipes.prelim_common import listed, say, table, tensor_table
from lab.shapes_text import parse_matrix, parse_vector, shape_text
from lab.train.context import RunContext


def linear_algebra(ctx: RunContext) -> None:
    u = torch.tensor(parse_vector(ctx.params.vector))
    A = torch.tensor(parse_matrix(ctx.params.matrix))
    norms = show_norms(ctx, u, A)
    sums = show_sums(ctx, A)
    show_products(ctx, A)
    ctx.metrics = {**norms, "sum": float(sums["A.sum()"]), "mean": float(sums["A.mean()"])}


def show_norms(ctx: RunContext, u: torch.Tensor, A: torch.Tensor) -> dict[str, float]:
    values = {"l1": torch.abs(u).sum(), "l2": torch.norm(u), "frobenius": torch.norm(A)}
    say(ctx, f"u = {listed(u)}; A is the {A.shape[0]}×{A.shape[1]} matrix below")
    table(ctx, "norms", ["norm", "torch", "value"],
          [["L1 of u: Σ|uᵢ|", "torch.abs(u).sum()", values["l1"]],
           ["L2 of u: √(Σuᵢ²)", "torch.norm(u)", values["l2"]],
           ["Frobenius of A", "torch.norm(A)", values["frobenius"]]])
    return {name: float(value) for name, value in values.items()}


def show_sums(ctx: RunContext, A: torch.Tensor) -> dict[str, torch.Tensor]:
    """Reductions along an axis drop it, unless keepdims keeps it as size 1, which is what lets
    the result broadcast back against A."""
    results = {
        "A.sum()": A.sum(), "A.sum(axis=0)": A.sum(axis=0), "A.sum(axis=1)": A.sum(axis=1),
        "A.sum(axis=1, keepdims=True)": A.sum(axis=1, keepdims=True),
        "A.mean()": A.mean(), "A.mean(axis=0)": A.mean(axis=0),
        "A.sum() / A.numel()": A.sum() / A.numel(),
    }
    tensor_table(ctx, "A", A)
    say(ctx, "summing (or averaging) over an axis removes it, unless keepdims=True keeps it as "
             "size 1")
    table(ctx, "sums and means", ["call", "shape", "values"],
          [[call, shape_text(value.shape), listed(value)] for call, value in results.items()])
    kept = results["A.sum(axis=1, keepdims=True)"]
    say(ctx, f"A / A.sum(axis=1, keepdims=True): {shape_text(A.shape)} by "
             f"{shape_text(kept.shape)} broadcasts, each row divided by its own sum")
    tensor_table(ctx, "A / A.sum(axis=1, keepdims=True)", A / kept)
    show_without_keepdims(ctx, A, results["A.sum(axis=1)"])
    results["A.cumsum(axis=0)"] = A.cumsum(axis=0)
    say(ctx, "A.cumsum(axis=0): running sums down each column; the shape is kept")
    tensor_table(ctx, "A.cumsum(axis=0)", results["A.cumsum(axis=0)"])
    return results


def show_without_keepdims(ctx: RunContext, A: torch.Tensor, flat: torch.Tensor) -> str:
    """What A / A.sum(axis=1) does without keepdims: fails, or silently divides the wrong way;
    returns which ('fails', 'wrong', 'bigger' or 'same')."""
    call = f"without keepdims, A / A.sum(axis=1) pairs {shape_text(A.shape)} with " \
        f"{shape_text(flat.shape)}"
    try:
        divided = A / flat
    except RuntimeError:
        say(ctx, f"{call}: the last sizes {A.shape[1]} and {flat.shape[0]} differ and neither "
                 "is 1, so it fails to broadcast.")
        return "fails"
    if divided.shape != A.shape:
        say(ctx, f"{call}: it broadcasts to {shape_text(divided.shape)}, a bigger matrix than A "
                 "— not what was meant.", "warning")
        return "bigger"
    if A.shape[0] > 1:
        say(ctx, f"{call}: on a square A it broadcasts silently, dividing column j by row j's "
                 "sum — not what was meant.", "warning")
        return "wrong"
    return "same"  # one row: its sum divides it either way


def show_products(ctx: RunContext, A: torch.Tensor) -> dict[str, torch.Tensor]:
    B = A.clone()
    products = {"A * B": A * B, "A @ B.T": A @ B.T}
    say(ctx, f"B = A.clone(); A * B is the Hadamard product ⊙, entry by entry: shape "
             f"{shape_text(A.shape)}")
    tensor_table(ctx, "A * B", products["A * B"])
    say(ctx, f"A @ B.T is the matrix product, {shape_text(A.shape)} @ {shape_text(B.T.shape)} "
             f"→ {shape_text(products['A @ B.T'].shape)}: entry (i, j) is row i of A · row j "
             "of B")
    tensor_table(ctx, "A @ B.T", products["A @ B.T"])
    return products
