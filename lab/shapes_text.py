"""Shapes and matrices as a learner types them: ``2,3,4,4`` or ``(2, 3, 4, 4)``, and ``1,2;3,4``.

The demos' parameters check their text with these parsers (``Param(check=checker(...))``) and
their recipes parse it with the same ones, so the form, the CLI and the run agree on what a
value means. Not ``lab.shapes``, which shows a network's layer shapes. Never imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from lab.spec import Value

Shape = tuple[int, ...]
Matrix = list[list[float]]


class TextError(ValueError):
    """What is wrong with a typed shape or matrix, in a few words (Param adds the value)."""


def parse_shape(text: str, *, least: int = 1, dims: tuple[int, int] = (1, 6),
                most_elements: int = 1 << 20) -> Shape:
    """``"(2, 3, 4, 4)"`` -> ``(2, 3, 4, 4)``; ``"()"`` is a scalar's shape where ``dims``
    allows 0. ``least``: the smallest size (0 lets a dimension be empty); ``most_elements``
    bounds the tensor a demo makes of it (empty dimensions count as 1)."""
    body = _unwrap(text, "()[]")
    parts = [part.strip() for part in body.split(",")] if body else []
    if len(parts) > 1 and parts[-1] == "":  # Python's one-element tuple: (3,)
        parts.pop()
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise TextError("must be sizes like 2,3,4")
    if any(len(part.lstrip("0")) > 15 for part in parts):  # int() refuses 4300 digits
        raise TextError(f"must hold at most {most_elements} elements")
    sizes = tuple(int(part) for part in parts)
    fewest, most = dims
    if not fewest <= len(sizes) <= most:
        many = f"{fewest}" if fewest == most else f"{fewest} to {most}"
        raise TextError(f"must have {many} dimensions")
    if any(size < least for size in sizes):
        raise TextError(f"every size must be at least {least}")
    if math.prod(max(size, 1) for size in sizes) > most_elements:
        raise TextError(f"must hold at most {most_elements} elements")
    return sizes


def parse_matrix(text: str, *, most: int = 8) -> Matrix:
    """``"1,2;3,4"`` -> ``[[1.0, 2.0], [3.0, 4.0]]``: rows split by ``;``, entries by ``,``;
    at most ``most`` rows and columns, every entry a finite number."""
    body = _unwrap(text, "[]").rstrip(";").strip()
    matrix = [_numbers(row, "rows of numbers like 1,2;3,4") for row in body.split(";")]
    if len({len(row) for row in matrix}) > 1:
        raise TextError(f"every row must have as many entries as the first ({len(matrix[0])})")
    if len(matrix) > most or len(matrix[0]) > most:
        raise TextError(f"must be at most {most}×{most}")
    return matrix


def parse_vector(text: str, *, most: int = 8) -> list[float]:
    """``"3,-4"`` -> ``[3.0, -4.0]``: at most ``most`` finite numbers."""
    vector = _numbers(_unwrap(text, "()[]"), "numbers like 1,2,3")
    if len(vector) > most:
        raise TextError(f"must have at most {most} entries")
    return vector


def _numbers(text: str, example: str) -> list[float]:
    try:
        numbers = [float(entry) for entry in text.split(",")]
    except ValueError:
        raise TextError(f"must be {example}") from None
    if not all(math.isfinite(x) for x in numbers):
        raise TextError("every entry must be a finite number")
    return numbers


def checker(parse: Callable[..., object], *, refuses: type[ValueError] = TextError,
            **options: object) -> Callable[[Value], str | None]:
    """A ``Param.check`` that refuses what ``parse(text, **options)`` refuses (by raising
    ``refuses``), in its words."""
    parse_text = partial(parse, **options)

    def check(value: Value) -> str | None:
        try:
            parse_text(str(value))
        except refuses as err:
            return str(err)
        return None

    return check


def shape_text(shape: Shape) -> str:
    """How torch prints a shape's sizes: ``(2, 3)``, ``(3,)``, ``()``."""
    return str(tuple(shape))


def _unwrap(text: str, brackets: str) -> str:
    """The text without one pair of outer brackets (any of ``brackets``' pairs) and spaces."""
    body = text.strip()
    pairs = [brackets[i:i + 2] for i in range(0, len(brackets), 2)]
    if len(body) >= 2 and body[0] + body[-1] in pairs:
        body = body[1:-1].strip()
    return body
