"""What the preliminaries demos (lectures 04–07) and the normalisation lab share: a line or a
table for the log, with numbers written short and exact (3, not 3.0000)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from lab.events import Message, Table
from lab.train.context import RunContext


def cell(value: Any) -> str:
    """A value as a table cell: ``3`` for 3.0, six significant digits, True/False as words."""
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def listed(values: Any) -> str:
    """A tensor's (or a list's) values as cells in brackets: ``[4, 8, 12, 16]``, nested by
    rows; a single number as its cell."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().tolist()
    if not isinstance(values, list):
        return cell(values)
    return "[" + ", ".join(listed(v) for v in values) + "]"


def say(ctx: RunContext, text: str, level: str = "info") -> None:
    ctx.emit(Message(text, level=level))
    ctx.check_cancel()


def table(ctx: RunContext, title: str, columns: Sequence[str],
          rows: Iterable[Sequence[Any]]) -> Table:
    shown = Table(title, list(columns), [[cell(value) for value in row] for row in rows])
    ctx.emit(shown)
    ctx.check_cancel()
    return shown


def tensor_table(ctx: RunContext, title: str, values: torch.Tensor,
                 columns: Sequence[str] | None = None) -> Table:
    """A vector as one row, a matrix as its rows (each led by its index); columns named
    ``columns`` or numbered from 0."""
    values = values.detach().cpu()
    width = values.shape[-1] if values.dim() else 1
    names = list(columns) if columns is not None else [str(j) for j in range(width)]
    if values.dim() <= 1:
        return table(ctx, title, names, [values.reshape(-1).tolist()])
    rows = [[i, *row] for i, row in enumerate(values.reshape(-1, width).tolist())]
    return table(ctx, title, ["row", *names], rows)
