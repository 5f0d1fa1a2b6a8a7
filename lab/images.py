"""Grey images as terminal text: each character cell shows two pixels, one above the other.

A cell is "▀" with the upper pixel as its foreground colour and the lower one as its background,
so a 28×28 Fashion-MNIST image takes 28 columns × 14 rows (or 14 × 7 halved). Colours are indices
of the xterm 256-colour palette, not RGB: they look the same over plain SSH and in terminals
without true colour. Pure rich, so the CLI and the TUI draw the same thing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache

from rich.color import Color
from rich.style import Style
from rich.text import Text

Image = Sequence[Sequence[int]]  # rows of grey levels, 0 (black) .. 255 (white)

HALF_BLOCK = "▀"
GAP = 2  # columns between images in a grid
CAPTION_LINES = 2  # true label, then predicted (the book's titles: true + "\n" + pred)
WRONG = Style(color="red", bold=True)

# The palette's greys: 16 and 231 (black, white), the colour cube's diagonal, and the 24-step
# grey ramp 232..255. Using all of them gives 30 levels instead of the ramp's 24.
_GREYS = {16: 0, 59: 95, 102: 135, 145: 175, 188: 215, 231: 255,
          **{232 + i: 8 + 10 * i for i in range(24)}}
_NEAREST = tuple(min(_GREYS, key=lambda index: abs(_GREYS[index] - level)) for level in range(256))


def grey(level: int) -> int:
    """The 256-colour palette index of the grey nearest to ``level`` (clamped to 0..255)."""
    return _NEAREST[min(max(int(level), 0), 255)]


@cache
def _cell_style(top: int, bottom: int | None) -> Style:
    return Style(color=Color.from_ansi(top),
                 bgcolor=Color.from_ansi(bottom) if bottom is not None else None)


def downscale(image: Image, factor: int = 2) -> list[list[int]]:
    """Each ``factor``×``factor`` block averaged (rounded) into one pixel; a ragged edge block
    averages the pixels it has."""
    height, width = len(image), len(image[0]) if image else 0
    out = []
    for top in range(0, height, factor):
        rows = image[top:top + factor]
        row = []
        for left in range(0, width, factor):
            block = [v for r in rows for v in r[left:left + factor]]
            row.append((sum(block) + len(block) // 2) // len(block))
        out.append(row)
    return out


def image_lines(image: Image) -> list[Text]:
    """One Text per pair of pixel rows, one cell per pixel column. An odd last row has no
    lower pixel: its cells keep the terminal's background."""
    lines = []
    for y in range(0, len(image), 2):
        top = [grey(v) for v in image[y]]
        bottom = [grey(v) for v in image[y + 1]] if y + 1 < len(image) else [None] * len(top)
        line = Text()
        # Runs of equal cells share one span: a black background is most of an image.
        for (t, b), run in itertools.groupby(zip(top, bottom, strict=True)):
            line.append(HALF_BLOCK * len(list(run)), _cell_style(t, b))
        lines.append(line)
    return lines


def render_image(image: Image, scale: int = 1) -> Text:
    """An image as text, halved first when ``scale`` is 2."""
    return Text("\n").join(_scaled_lines(image, scale))


def _scaled_lines(image: Image, scale: int) -> list[Text]:
    return image_lines(downscale(image, scale) if scale > 1 else image)


def _cell_height(image: Image, scale: int) -> int:
    return (-(-len(image) // scale) + 1) // 2  # ceil(rows / scale) pixel rows, two a line


def _cell_width(image: Image, scale: int) -> int:
    return -(-len(image[0]) // scale)


def _per_row(cell_width: int, width: int) -> int:
    return max(1, (width + GAP) // (cell_width + GAP))


def grid_height(images: Sequence[Image], width: int, scale: int) -> int:
    """Lines a grid takes: each row of images, its captions, a blank line between rows."""
    if not images:
        return 0
    rows = -(-len(images) // _per_row(_cell_width(images[0], scale), width))
    return rows * (_cell_height(images[0], scale) + CAPTION_LINES) + rows - 1


def fit_scale(images: Sequence[Image], width: int, height: int) -> int:
    """1 (full size) when the whole grid fits ``width`` × ``height``, else 2 (halved)."""
    if not images:
        return 1
    fits_across = _cell_width(images[0], 1) <= width
    return 1 if fits_across and grid_height(images, width, 1) <= height else 2


def prediction_grid(images: Sequence[Image], true: Sequence[str], predicted: Sequence[str],
                    width: int, height: int | None = None, scale: int | None = None) -> Text:
    """Images side by side as many as fit ``width``, each above its true and predicted label
    (the book's ``show_images`` titles), the labels red and the prediction marked ✗ where it is
    wrong.

    ``scale`` 1 draws full size, 2 halves; by default full size when the whole grid fits
    ``height`` lines (or when ``height`` is None), else halved. Every image has the first's size.
    """
    if not images:
        return Text()
    if scale is None:
        scale = 1 if height is None else fit_scale(images, width, height)
    cell = _cell_width(images[0], scale)
    per_row = _per_row(cell, width)
    blank = Text(" " * cell)
    lines: list[Text] = []
    for start in range(0, len(images), per_row):
        if start:
            lines.append(Text())
        cells = []
        for image, t, p in zip(images[start:start + per_row], true[start:start + per_row],
                               predicted[start:start + per_row], strict=True):
            # Red for the eye, ✗ for a terminal without colour (or a learner who cannot tell).
            wrong = t != p
            style = WRONG if wrong else ""
            captions = [_caption(t, cell, style), _caption(f"✗ {p}" if wrong else p, cell, style)]
            cells.append(_scaled_lines(image, scale) + captions)
        for row in itertools.zip_longest(*cells, fillvalue=blank):
            lines.append(Text(" " * GAP).join(row))
    result = Text("\n").join(lines)
    result.no_wrap = True
    result.overflow = "crop"
    return result


def _caption(label: str, width: int, style: Style | str) -> Text:
    text = Text(label, style=style)
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


def predictions_summary(true: Sequence[str], predicted: Sequence[str],
                        width: int | None = None) -> Text:
    """How to read a grid and how many are right: one line, or a few that fit ``width``."""
    right = sum(t == p for t, p in zip(true, predicted, strict=True))
    parts = [Text(f"{right}/{len(true)} test images right"),
             Text("under each: true label, then predicted"),
             Text.assemble(("✗ red", WRONG), ": wrong")]
    text = parts[0]
    line = text.cell_len
    for part in parts[1:]:
        if width is not None and line + 3 + part.cell_len > width:
            text.append("\n")
            line = 0
        else:
            text.append(" · ")
            line += 3
        text.append_text(part)
        line += part.cell_len
    return text
