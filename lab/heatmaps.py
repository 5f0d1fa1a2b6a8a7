"""Heatmaps as terminal text: attention weights, kernel weights, positional encodings.

A heatmap is laid out for a box of ``width`` × ``height`` character cells, as large as fits:

* zoom k ≥ 1: a value is 2k columns × k lines (square on a terminal's 1:2 cells), so every row
  carries its label and, from k = 2, the value is written in the cell;
* zoom 0: half blocks, "▀" with the upper value as foreground and the lower as background, so a
  cell shows two values, one column × half a line each;
* else the matrix is averaged down (area-weighted, so the mean is kept) and the caption says so.

The colours are lab/palette.py's scales: viridis for weights, blue-white-red for signed data.
Pure rich, so the CLI and the TUI draw the same lines.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from lab.events import Event, Heatmap
from lab.palette import BLUE_RED, CURSOR, VIRIDIS, cell_style, edge_style, half_cell

Scale = Literal["auto", "sequential", "diverging"]
Line = list[Segment]

PLAIN, HIGHLIGHT, TITLE = Style(), Style(reverse=True), Style(bold=True)
MAX_ZOOM = 4

# -- numbers and labels -----------------------------------------------------------------------

def number(value: float) -> str:
    """A value for the cursor and the colour bar: four significant digits."""
    return "nan" if math.isnan(value) else f"{value:.4g}"


def _short(value: float, width: int) -> str | None:
    """A value in at most ``width`` characters, leading zero dropped (".42"), or None."""
    for digits in (2, 1):
        text = re.sub(r"^(-?)0\.", r"\1.", f"{value:.{digits}f}")
        if len(text) <= width:
            return text
    return None


def _fit(label: str, width: int) -> str:
    """``label`` cut to ``width`` cells, an ellipsis marking the cut."""
    if cell_len(label) <= width:
        return label
    return set_cell_size(label, width - 1) + "…" if width > 1 else set_cell_size(label, width)


def numeric_labels(labels: Sequence[str]) -> bool:
    """Whether the labels are positions (numbers), which an axis can show as ticks."""
    return all(re.fullmatch(r"-?\d+", label) for label in labels)


def axis_labels(labels: Sequence[str], n: int) -> list[str]:
    """``n`` labels: those given, cut or completed with positions (a heatmap may lack some)."""
    return [*labels[:n], *map(str, range(len(labels), n))]


def heatmap_title(heatmap: Heatmap, *, with_group: bool = True) -> str:
    parts = [heatmap.group] * with_group + [heatmap.title]
    return " · ".join(parts + [f"epoch {heatmap.epoch}"] * (heatmap.epoch > 0))


# -- averaging down ---------------------------------------------------------------------------

def _cover(n: int, m: int) -> list[list[tuple[int, float]]]:
    """For each of ``m`` equal parts of ``n`` cells: the cells it covers and by how much."""
    size = n / m if m else 0
    parts = []
    for i in range(m):
        lo, hi = i * size, (i + 1) * size
        cells = ((j, min(hi, j + 1) - max(lo, j)) for j in range(int(lo), min(n, math.ceil(hi))))
        parts.append([(j, w) for j, w in cells if w > 1e-9])
    return parts


def downsample(matrix: Sequence[Sequence[float]], rows: int, cols: int) -> list[list[float]]:
    """``matrix`` averaged down to ``rows`` × ``cols``: each value is the mean of the area it
    covers (fractions of cells at the edges), so the mean of the whole is kept."""
    by_row, by_col = _cover(len(matrix), rows), _cover(len(matrix[0]), cols)
    narrow = [[sum(row[j] * w for j, w in part) / sum(w for _, w in part) for part in by_col]
              for row in matrix]
    return [[sum(narrow[i][c] * w for i, w in part) / sum(w for _, w in part)
             for c in range(cols)] for part in by_row]


# -- layout -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    zoom: int  # k ≥ 1: a value is 2k columns × k lines; 0: half blocks
    labels: str  # column labels: across | stagger | down | ticks
    rows: int  # values shown down and across (fewer than the matrix's: averaged)
    cols: int


class HeatmapLayout:
    """A heatmap laid out for ``width`` × ``height`` cells (``height`` None: any): its lines as
    rich segments, and which value each cell shows. Lines: the title, the matrix with the row
    labels on its left, the column labels, then a caption with the colour bar. A cursor (row,
    column of the values shown) marks its cell and its labels."""

    def __init__(self, heatmap: Heatmap, width: int, height: int | None = None, *,
                 scale: Scale = "auto", with_group: bool = True, max_zoom: int = MAX_ZOOM,
                 max_label: int = 6) -> None:
        self.heatmap, self.width = heatmap, max(width, 8)
        self.title = _fit(heatmap_title(heatmap, with_group=with_group), self.width)
        source = [[v if math.isfinite(v) else math.nan for v in map(float, row)]
                  for row in heatmap.matrix]
        if not source or not source[0]:
            source = []  # nothing to draw but the title and the caption
        n, m = len(source), len(source[0]) if source else 0
        self.shape = n, m
        self.row_labels = axis_labels(heatmap.rows, n)
        self.col_labels = axis_labels(heatmap.cols, m)
        finite = [v for row in source for v in row if not math.isnan(v)]
        self.lo, self.hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
        diverging = scale == "diverging" or (scale == "auto" and self.lo < 0 < self.hi)
        self.scale = BLUE_RED if diverging else VIRIDIS
        if diverging:
            self.lo, self.hi = -max(-self.lo, self.hi), max(-self.lo, self.hi)
        self.label_width = min(max(map(cell_len, self.row_labels), default=1), max_label,
                               self.width // 4)
        self.x0 = self.label_width + 1  # where the matrix starts
        self.plan = self._plan(n, m, height, max_zoom) if m else Plan(1, "across", 0, 0)
        k, rows, cols = self.plan.zoom, self.plan.rows, self.plan.cols
        self.values = downsample(source, rows, cols) if (rows, cols) != (n, m) else source
        self.row_spans = [(p[0][0], p[-1][0]) for p in _cover(n, rows)]
        self.col_spans = [(p[0][0], p[-1][0]) for p in _cover(m, cols)]
        self.colours = [[self._colour(v) for v in row] for row in self.values]
        self.cell_width = 2 * k or 1
        self.matrix_lines = k * rows if k else (rows + 1) // 2
        self.label_lines = self._label_lines(self.plan.labels)
        self.height = 2 + self.matrix_lines + self.label_lines
        self.annotations = self._annotations() if k >= 2 else None
        self.row_ticks = self._row_ticks()  # matrix line -> the source row labelling it

    # -- choosing the size --------------------------------------------------------------------

    def _label_lines(self, mode: str) -> int:
        longest = max(map(cell_len, self.col_labels), default=1)
        return {"across": 1, "stagger": 2, "down": min(longest, 6), "ticks": 1}[mode]

    def _modes(self, cell_width: int) -> list[str]:
        """Ways to write the column labels at this cell width, best first."""
        if numeric_labels(self.col_labels):
            return ["ticks"]
        longest = max(map(cell_len, self.col_labels), default=1)
        modes = ["across"] * (longest < cell_width) + ["stagger"] * (longest < 2 * cell_width)
        return modes + ["down"] + ["ticks"] * (cell_width == 1)

    def _plan(self, n: int, m: int, height: int | None, max_zoom: int) -> Plan:
        across = self.width - self.x0
        down = height - 2 if height is not None else 10**6
        for k in range(max_zoom, -1, -1):
            lines = k * n if k else (n + 1) // 2
            if (2 * k or 1) * m <= across:
                for mode in self._modes(2 * k or 1):
                    if lines + self._label_lines(mode) <= down:
                        return Plan(k, mode, n, m)
        # Average down to fit, both ways by the same factor so the pixels stay square.
        factor = max(m / max(across, 1), n / max(2 * (down - 1), 1), 1.0)
        rows, cols = (max(1, min(size, int(size / factor + 1e-9))) for size in (n, m))
        return Plan(0, "ticks", rows, cols)

    def _colour(self, value: float) -> int | None:
        if math.isnan(value):
            return None
        span = self.hi - self.lo
        return self.scale.colour((value - self.lo) / span if span > 0 else 0.5)

    def _annotations(self) -> list[list[str]] | None:
        texts = [[_short(v, self.cell_width - 1) if not math.isnan(v) else "" for v in row]
                 for row in self.values]
        return None if any(t is None for row in texts for t in row) else texts  # type: ignore

    def _row_ticks(self) -> dict[int, int]:
        k, n = self.plan.zoom, self.shape[0]
        if k:
            return {k * row + (k - 1) // 2: row for row in range(n)}
        if not numeric_labels(self.row_labels):
            return {y: self.row_spans[2 * y][0] for y in range(self.matrix_lines)}
        per_line = self.plan.rows / 2 / n  # lines per source row
        ticks: dict[int, int] = {}
        for row in range(0, n, _step(per_line, 1)):
            ticks.setdefault(int(row * per_line), row)
        return ticks

    # -- lines --------------------------------------------------------------------------------

    @property
    def resampled(self) -> bool:
        return (self.plan.rows, self.plan.cols) != self.shape

    def lines(self, cursor: tuple[int, int] | None = None) -> list[Line]:
        return [self.line(y, cursor) for y in range(self.height)]

    def line(self, y: int, cursor: tuple[int, int] | None = None) -> Line:
        """Line ``y`` of the layout, with ``cursor`` (row, column of the values) marked."""
        if y == 0:
            return [Segment(self.title, TITLE)]
        if y <= self.matrix_lines:
            return self._matrix_line(y - 1, cursor)
        if y <= self.matrix_lines + self.label_lines:
            return self._labels_line(y - 1 - self.matrix_lines, cursor and cursor[1])
        return self._caption()

    def cursor_lines(self, row: int) -> list[int]:
        """The lines a cursor on ``row`` changes: its matrix lines (its cell, its row's label)
        and the column labels (its column's)."""
        k = self.plan.zoom
        first, count = (1 + k * row, k) if k else (1 + row // 2, 1)
        return [*range(first, first + count),
                *range(1 + self.matrix_lines, 1 + self.matrix_lines + self.label_lines)]

    def cell_at(self, x: int, y: int) -> tuple[int, int] | None:
        """The value (row, column) drawn at ``x``, ``y``; in half blocks, the upper one."""
        col, line = (x - self.x0) // self.cell_width, y - 1
        if x < self.x0 or not 0 <= line < self.matrix_lines or col >= self.plan.cols:
            return None
        k = self.plan.zoom
        return (line // k if k else 2 * line), col

    def cell_of(self, row: int, col: int) -> tuple[int, int]:
        """Where the matrix's value (``row``, ``col``) is shown: its averaged cell, if any."""
        (n, m), (rows, cols) = self.shape, (self.plan.rows, self.plan.cols)
        return min(max(row, 0) * rows // n, rows - 1), min(max(col, 0) * cols // m, cols - 1)

    def describe(self, row: int, col: int) -> str:
        """What the cursor shows: ``query → key: value``; averaged cells name their ranges."""
        (r0, r1), (c0, c1) = self.row_spans[row], self.col_spans[col]
        value = number(self.values[row][col])
        if not self.resampled:
            return f"{self.row_labels[r0]} → {self.col_labels[c0]}: {value}"

        def span(labels: list[str], a: int, b: int) -> str:
            return labels[a] if a == b else f"{labels[a]}–{labels[b]}"

        return (f"{span(self.row_labels, r0, r1)} → {span(self.col_labels, c0, c1)}: "
                f"mean {value}")

    def _row_label(self, y: int, marked: int | None) -> Line:
        """The label left of matrix line ``y``; the cursor's row (``marked``) shows its own."""
        row = self.row_spans[marked][0] if marked is not None else self.row_ticks.get(y)
        label = "" if row is None else _fit(self.row_labels[row], self.label_width)
        return [Segment(" " * (self.label_width - cell_len(label))),
                Segment(label, HIGHLIGHT if marked is not None else PLAIN), Segment(" ")]

    def _matrix_line(self, y: int, cursor: tuple[int, int] | None) -> Line:
        k, (row_c, col_c) = self.plan.zoom, cursor or (-1, -1)
        if not k:
            return self._half_line(y, row_c, col_c)
        row, labelled = y // k, y % k == (k - 1) // 2
        out = self._row_label(y, row_c if labelled and row == row_c else None)
        for col, colour in enumerate(self.colours[row]):
            text = self.annotations[row][col] if self.annotations and labelled else ""
            if (row, col) == (row_c, col_c):
                inner = text if cell_len(text) <= self.cell_width - 2 else ""
                out += [Segment("▌", edge_style(colour)),
                        Segment(inner.center(self.cell_width - 2), cell_style(colour)),
                        Segment("▐", edge_style(colour))]
            else:
                text = text or ("·" if colour is None else "")
                out.append(Segment(text.center(self.cell_width), cell_style(colour)))
        return _merge(out)

    def _half_line(self, y: int, row_c: int, col_c: int) -> Line:
        top, bottom = 2 * y, 2 * y + 1
        out = self._row_label(y, row_c if row_c in (top, bottom) else None)
        lower = self.colours[bottom] if bottom < self.plan.rows else [None] * self.plan.cols
        for col, (t, b) in enumerate(zip(self.colours[top], lower, strict=True)):
            if col == col_c:
                t, b = CURSOR if row_c == top else t, CURSOR if row_c == bottom else b
            out.append(Segment(*half_cell(t, b)))
        return _merge(out)

    def _labels_line(self, y: int, marked: int | None) -> Line:
        """Line ``y`` of the column labels: across, staggered on two lines, written down, or
        ticks (numbers every few columns); the cursor's column (``marked``) is highlighted."""
        mode, w, x0 = self.plan.labels, self.cell_width, self.x0
        labels = [self.col_labels[a] for a, _ in self.col_spans]
        placed: list[tuple[int, str, int]] = []  # (x, text, column)
        if mode in ("across", "stagger"):
            room = w - 1 if mode == "across" else 2 * w - 1
            for col in range(y, len(labels), 1 if mode == "across" else 2):
                text = _fit(labels[col], room)
                placed.append((max(x0, x0 + col * w + (w - cell_len(text)) // 2), text, col))
        elif mode == "down":
            for col, label in enumerate(labels):
                text = _fit(label, self.label_lines)
                if y < len(text):
                    placed.append((x0 + col * w + (w - 1) // 2, text[y], col))
        else:
            m = self.shape[1]
            per_col = w * self.plan.cols / m  # cells per source column
            longest = max(cell_len(_fit(label, 6)) for label in self.col_labels)
            placed = [(x0 + int(j * per_col), _fit(self.col_labels[j], 6), int(j * per_col) // w)
                      for j in range(0, m, _step(per_col, longest + 1))]
            if marked is not None:  # the cursor's own label, in place of the ticks it covers
                text = _fit(labels[marked], 6)
                x = x0 + marked * w
                placed = sorted([(x, text, marked)] + [
                    p for p in placed if p[0] + cell_len(p[1]) < x or p[0] > x + cell_len(text)])
        out: Line = []
        x, gap = 0, 0 if mode == "down" else 1  # letters written down may touch
        for start, text, col in placed:
            start = max(start, x + gap if x else 0)
            if start + cell_len(text) > self.width:
                break
            style = HIGHLIGHT if col == marked else PLAIN
            out += [Segment(" " * (start - x)), Segment(text, style)]
            x = start + cell_len(text)
        return _merge(out)

    def _caption(self) -> Line:
        """The colour bar between the lowest and highest value, then notes as they fit."""
        span = self.hi - self.lo  # both ends with as many decimals as the range needs
        digits = max(0, 2 - math.floor(math.log10(span))) if span > 0 else 3
        lo, hi = (f"{v:.{digits}f}" if span > 0 else f"{v:.3g}" for v in (self.lo, self.hi))
        lo, hi, colours = lo + " ", " " + hi, self.scale.colours
        room = self.width - len(lo) - len(hi)
        if room < 3:
            lo, hi, room = "", "", self.width
        if room < len(colours):  # fewer, evenly picked, colours
            colours = tuple(colours[i * (len(colours) - 1) // max(room - 1, 1)]
                            for i in range(room))
        bar = [Segment(lo), *(Segment(" ", cell_style(c)) for c in colours), Segment(hi)]
        out, x = _merge(bar), sum(cell_len(s.text) for s in bar)
        (n, m), shown = self.shape, (self.plan.rows, self.plan.cols)
        notes = [(f"{n}×{m} averaged to {shown[0]}×{shown[1]}", f"{n}×{m} averaged")
                 ] * self.resampled + [(f"↓ {self.heatmap.ylabel} → {self.heatmap.xlabel}",)]
        for forms in notes:  # the longest form that fits
            note = next((f for f in forms if x + 3 + cell_len(f) <= self.width), None)
            if note is not None:
                out.append(Segment("   " + note, Style(dim=True)))
                x += 3 + cell_len(note)
        return out

    def text(self, cursor: tuple[int, int] | None = None) -> Text:
        text = Text("\n").join(Text.assemble(*((s.text, s.style) for s in line))
                               for line in self.lines(cursor))
        text.no_wrap, text.overflow = True, "crop"
        return text


def _step(per: float, room: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, … source cells whose span is at least ``room``, when one
    source cell takes ``per`` cells on screen."""
    return next(s for s in (m * 10**e for e in range(12) for m in (1, 2, 5)) if s * per >= room)


def _merge(segments: Line) -> Line:
    """Neighbouring segments of one style joined: a run of equal cells is one segment."""
    out: Line = []
    for segment in segments:
        if out and out[-1].style == segment.style:
            out[-1] = Segment(out[-1].text + segment.text, segment.style)
        elif segment.text:
            out.append(segment)
    return out


def render_heatmap(heatmap: Heatmap, width: int, height: int | None = None, **options) -> Text:
    """``heatmap`` as rich Text at most ``width`` × ``height`` cells (see ``HeatmapLayout``)."""
    return HeatmapLayout(heatmap, width, height, **options).text()


# -- a run's heatmaps -------------------------------------------------------------------------

class RunHeatmaps:
    """A run's heatmaps by group, then title, in order of first appearance; a later heatmap
    with the same group and title replaces the earlier one (a running model's attention)."""

    def __init__(self, events: Sequence[Event] = ()) -> None:
        self.groups: dict[str, dict[str, Heatmap]] = {}
        for event in events:
            self.add(event)

    def add(self, event: Event) -> bool:
        """Take an event; says whether it was a heatmap."""
        if not isinstance(event, Heatmap):
            return False
        self.groups.setdefault(event.group, {})[event.title] = event
        return True

    def titles(self, group: str) -> list[str]:
        return list(self.groups.get(group, {}))

    def get(self, group: str, title: str) -> Heatmap | None:
        return self.groups.get(group, {}).get(title)

    def __iter__(self) -> Iterator[Heatmap]:
        return (heatmap for titles in self.groups.values() for heatmap in titles.values())

    def __len__(self) -> int:
        return sum(map(len, self.groups.values()))
