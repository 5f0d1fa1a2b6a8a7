"""Grey images as half-block text: two pixels a cell, 256-colour greys, and a captioned grid."""

from __future__ import annotations

from rich.console import Console
from rich.style import Style
from rich.text import Text

from lab.images import (
    WRONG,
    downscale,
    fit_scale,
    grey,
    grid_height,
    image_lines,
    prediction_grid,
    predictions_summary,
    render_image,
)

console = Console()


def cells(line: Text) -> list[tuple[str, Style]]:
    """Each character of a line with the style it is drawn in."""
    return [(char, line.get_style_at_offset(console, i)) for i, char in enumerate(line.plain)]


def colours(line: Text) -> list[tuple[int | None, int | None]]:
    """(foreground, background) palette numbers of each cell."""
    return [(s.color.number if s.color else None, s.bgcolor.number if s.bgcolor else None)
            for _, s in cells(line)]


def test_greys_are_the_nearest_of_the_256_colour_palette() -> None:
    assert grey(0) == 16 and grey(255) == 231  # black and white
    assert grey(128) == 244  # the ramp's 8 + 10 × 12
    assert grey(8) == 232 and grey(238) == 255
    assert grey(95) == 59  # the colour cube's grey beats the ramp's 98
    assert grey(-5) == 16 and grey(300) == 231


def test_a_4x4_image_is_2_rows_of_4_cells_top_pixel_on_bottom_pixel() -> None:
    image = [[0, 255, 128, 0],
             [255, 0, 128, 8],
             [238, 238, 0, 0],
             [0, 128, 255, 255]]
    lines = image_lines(image)
    assert [line.plain for line in lines] == ["▀▀▀▀", "▀▀▀▀"]
    assert colours(lines[0]) == [(16, 231), (231, 16), (244, 244), (16, 232)]
    assert colours(lines[1]) == [(255, 16), (255, 244), (16, 231), (16, 231)]
    assert render_image(image).plain == "▀▀▀▀\n▀▀▀▀"


def test_an_odd_last_row_keeps_the_terminal_background() -> None:
    lines = image_lines([[255, 0], [0, 255], [128, 255]])
    assert len(lines) == 2
    assert colours(lines[1]) == [(244, None), (231, None)]


def test_halving_averages_each_2x2_block() -> None:
    image = [[0, 255, 10, 20],
             [255, 0, 30, 41],
             [100, 100, 7, 7],
             [100, 101, 7, 8]]
    assert downscale(image) == [[128, 25], [100, 7]]  # rounded: (510 + 2) // 4, (101 + 2) // 4
    assert downscale([[1, 2, 3], [4, 5, 6], [7, 8, 9]]) == [[3, 5], [8, 9]]  # ragged edges
    assert render_image([[0] * 28] * 28, scale=2).plain.splitlines() == ["▀" * 14] * 7


def test_a_grid_captions_each_image_and_marks_the_wrong_predictions() -> None:
    images = [[[0] * 4] * 4, [[255] * 4] * 4, [[128] * 4] * 4]
    grid = prediction_grid(images, ["bag", "coat", "ankle boot"], ["bag", "shirt", "ankle boot"],
                           width=11, scale=1)
    lines = grid.split("\n")
    assert [line.plain.rstrip() for line in lines] == [
        "▀▀▀▀  ▀▀▀▀", "▀▀▀▀  ▀▀▀▀",  # two images across 11 columns (4 + 2 + 4)
        "bag   coat", "bag   ✗ s…",
        "",
        "▀▀▀▀", "▀▀▀▀",
        "ank…", "ank…",  # captions cut to the image's width
    ]
    assert colours(lines[0])[:4] == [(16, 16)] * 4 and colours(lines[0])[6:] == [(231, 231)] * 4
    caption_styles = [style for _, style in cells(lines[3])]
    assert all(style.color is None for style in caption_styles[:3])  # right: plain
    assert all(style == WRONG for style in caption_styles[6:])  # wrong: red, true label too
    assert all(style == WRONG for _, style in cells(lines[2])[6:])


def test_a_grid_is_full_size_when_it_fits_else_halved() -> None:
    images = [[[0] * 28] * 28] * 12
    labels = ["bag"] * 12
    assert grid_height(images, 80, 2) == 3 * (7 + 2) + 2  # five across, three rows
    assert fit_scale(images, 80, 24) == 2
    assert fit_scale(images, 200, 60) == 1  # six across, two rows of 14 + 2
    assert fit_scale(images, 20, 500) == 2  # a full image is wider than the screen
    small = prediction_grid(images, labels, labels, width=80, height=24)
    assert max(len(line) for line in small.plain.splitlines()) == 5 * 14 + 4 * 2
    full = prediction_grid(images, labels, labels, width=200, height=60)
    assert full.plain.splitlines()[0] == "  ".join(["▀" * 28] * 6)


def test_the_summary_counts_the_right_ones() -> None:
    assert predictions_summary(["a", "b", "c"], ["a", "x", "c"]).plain.startswith("2/3 ")
