"""Colours of the xterm 256-colour palette for drawing values: lightness, two colour scales, and
the styles of a character cell that shows one value or two.

Only the fixed colours 16..255 are used (the 6×6×6 cube and the grey ramp): 0..15 follow the
terminal's theme. Indices rather than RGB read the same over plain SSH and in terminals without
true colour. Pure rich, for the CLI and the TUI alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from rich.color import Color
from rich.style import Style

from lab.images import HALF_BLOCK

LOWER_BLOCK = "▄"
CURSOR = 201  # bright magenta: in neither scale


@cache
def lightness(colour: int) -> float:
    """CIE L* (0 black .. 100 white) of a palette colour (16..255)."""
    def linear(c: int) -> float:
        return c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4

    r, g, b = map(linear, Color.from_ansi(colour).get_truecolor())
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 116 * y ** (1 / 3) - 16 if y > 216 / 24389 else 24389 / 27 * y


@dataclass(frozen=True)
class ColourScale:
    name: str
    colours: tuple[int, ...]  # palette indices, low to high
    diverging: bool  # white in the middle, for data centred on zero

    def colour(self, t: float) -> int:
        """The colour of ``t`` in [0, 1] (clamped), in equal bins, one per colour."""
        n = len(self.colours)
        return self.colours[min(n - 1, max(0, int(t * n)))]


# Picked from the palette's cube so that lightness (L*) rises all along the scale, as in
# viridis (matplotlib's perceptual default): purple 53 → blue → teal → green → yellow 220.
VIRIDIS = ColourScale("viridis", (53, 54, 24, 31, 36, 71, 77, 113, 148, 184, 220),
                      diverging=False)
# For signed data (RdBu reversed): navy 18 → light grey 255 at zero → dark red 52, each side
# getting darker the further from zero, about as fast.
BLUE_RED = ColourScale("blue-red", (18, 25, 32, 74, 153, 255, 224, 216, 167, 124, 52),
                       diverging=True)


@cache
def cell_style(colour: int | None) -> Style:
    """A whole cell of one colour, its text black or white, whichever reads better on it."""
    if colour is None:
        return Style(dim=True)
    ink = 16 if lightness(colour) > 60 else 231
    return Style(color=Color.from_ansi(ink), bgcolor=Color.from_ansi(colour))


@cache
def half_cell(top: int | None, bottom: int | None) -> tuple[str, Style]:
    """One character showing two values: the upper as "▀"'s colour, the lower as background."""
    if top is None and bottom is None:
        return " ", Style()
    if top is None:
        return LOWER_BLOCK, Style(color=Color.from_ansi(bottom))  # type: ignore[arg-type]
    return HALF_BLOCK, Style(color=Color.from_ansi(top),
                             bgcolor=Color.from_ansi(bottom) if bottom is not None else None)


@cache
def edge_style(colour: int | None) -> Style:
    """The cursor's brackets ("▌ ▐") drawn over a cell's colour."""
    return Style(color=Color.from_ansi(CURSOR),
                 bgcolor=Color.from_ansi(colour) if colour is not None else None)
