"""A run's heatmaps (attention weights, kernel weights, positional encodings), one at a time.

Drawn with Textual's Line API from the lines lab/heatmaps.py lays out, so the CLI and the TUI
show the same picture. Each (heatmap, size) is laid out once and kept as strips: a redraw, a
resize back, or browsing back to a heatmap costs a lookup; moving the cursor redraws only the
lines it touches.

Keys: ``[`` ``]`` the previous/next title in the group (layer, head), ``{`` ``}`` the
previous/next group (kind; the same title when it has one), the arrows (or the mouse) move a
cursor whose value the bottom line shows, ``escape`` hides it, ``z`` switches a matrix too large
for the pane between averaged-to-fit and full size (scrolling with the cursor).
"""

from __future__ import annotations

from collections import OrderedDict

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from lab.events import Event, Heatmap
from lab.heatmaps import HeatmapLayout, RunHeatmaps

EMPTY = "no heatmaps yet: attention experiments draw theirs here as they train"
KEPT_LAYOUTS = 16  # (heatmap, size) layouts kept, for browsing back and forth


class HeatmapView(Widget, can_focus=True):
    """One heatmap of a run, browsed by group and title, with a cursor that reads values."""

    DEFAULT_CSS = "HeatmapView { height: 1fr; min-height: 6; }"

    BINDINGS = [
        Binding("right_square_bracket", "browse(1)", "Next map", key_display="]"),
        Binding("left_square_bracket", "browse(-1)", "Prev map", key_display="[", show=False),
        Binding("right_curly_bracket", "group(1)", "Next group", key_display="}"),
        Binding("left_curly_bracket", "group(-1)", "Prev group", key_display="{", show=False),
        Binding("up", "move(-1, 0)", "Cursor", show=False),
        Binding("down", "move(1, 0)", "Cursor", show=False),
        Binding("left", "move(0, -1)", "Cursor", show=False),
        Binding("right", "move(0, 1)", "Cursor", show=False),
        Binding("z", "zoom", "Full size", show=False),
        Binding("escape", "hide_cursor", "Hide cursor", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.reset()

    def reset(self) -> None:
        """Forget every heatmap (a new run starts)."""
        self.data = RunHeatmaps()
        self.group: str | None = None
        self.title: str | None = None
        self.cursor: tuple[int, int] | None = None  # (row, column) of the values shown
        self._source_cursor: tuple[int, int] | None = None  # the same in the whole matrix
        self.full = False  # True: no averaging down the rows; the matrix scrolls instead
        self.top = 0  # the first matrix line shown, when it scrolls
        self._layouts: OrderedDict[tuple, tuple[HeatmapLayout, list[Strip]]] = OrderedDict()
        self._cursor_strips: dict[int, Strip] = {}
        self._shown: HeatmapLayout | None = None
        self.refresh()

    # -- data ---------------------------------------------------------------------------------

    def add(self, event: Event) -> None:
        """Take any event of a run; heatmaps are kept (a later one with the same group and
        title replaces the earlier) and the shown one is redrawn when it changed."""
        if not self.data.add(event):
            return
        assert isinstance(event, Heatmap)
        if self.group is None:
            self.group, self.title = event.group, event.title
        if (event.group, event.title) == (self.group, self.title):
            self._cursor_strips.clear()
            self.refresh()
        else:  # only the counts on the status line changed
            self.refresh(Region(0, max(self.size.height - 1, 0), self.size.width, 1))

    @property
    def current(self) -> Heatmap | None:
        if self.group is None or self.title is None:
            return None
        return self.data.get(self.group, self.title)

    def show(self, group: str, title: str | None = None) -> None:
        """Show ``title`` of ``group``: the same title as now when the group has it, else its
        first (so switching kinds keeps the layer and head)."""
        titles = self.data.titles(group)
        if not titles:
            return
        wanted = title if title is not None else self.title
        self.group, self.title = group, wanted if wanted in titles else titles[0]
        self._cursor_strips.clear()
        self.refresh()

    # -- keys and mouse -----------------------------------------------------------------------

    def action_browse(self, step: int) -> None:
        if self.group is not None:
            titles = self.data.titles(self.group)
            index = titles.index(self.title) if self.title in titles else -step
            self.show(self.group, titles[(index + step) % len(titles)])

    def action_group(self, step: int) -> None:
        groups = list(self.data.groups)
        if groups:
            index = groups.index(self.group) if self.group in groups else -step
            self.show(groups[(index + step) % len(groups)])

    def action_move(self, rows: int, cols: int) -> None:
        layout = self.layout()
        if layout is None or not layout.plan.rows:
            return
        if self.cursor is None:  # the first press shows the cursor, top left
            self._set_cursor((0, 0))
            return
        row, col = self.cursor
        self._set_cursor((min(max(row + rows, 0), layout.plan.rows - 1),
                          min(max(col + cols, 0), layout.plan.cols - 1)))

    def action_zoom(self) -> None:
        """Between the whole matrix averaged to fit and every row at full size, scrolled."""
        self.full = not self.full
        self.top = 0
        layout = self.layout()
        if layout is not None and self.cursor is not None:
            self._scroll_to(layout, self.cursor[0])
        self.refresh()

    def action_hide_cursor(self) -> None:
        self._set_cursor(None)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        layout, offset = self.layout(), event.get_content_offset(self)
        if layout is not None and offset is not None:
            line = self._layout_line(layout, offset.y)
            cell = layout.cell_at(offset.x, line) if line is not None else None
            if cell is not None and cell != self.cursor:
                self._set_cursor(cell)

    def _set_cursor(self, cursor: tuple[int, int] | None) -> None:
        layout, old = self.layout(), self.cursor
        self.cursor = cursor
        self._cursor_strips.clear()
        if layout is None:
            return
        self._source_cursor = (None if cursor is None else
                               (layout.row_spans[cursor[0]][0], layout.col_spans[cursor[1]][0]))
        if cursor is not None and self._scroll_to(layout, cursor[0]):
            self.refresh()
            return
        touched = {self.size.height - 1}
        for marked in (old, cursor):
            if marked is not None:
                touched.update(self._screen_line(layout, y) for y in layout.cursor_lines(marked[0]))
        for y in touched:
            self.refresh(Region(0, y, self.size.width, 1))

    # -- scrolling (full size) ------------------------------------------------------------

    def _window(self, layout: HeatmapLayout) -> int:
        """How many matrix lines fit between the title and the labels, caption and status."""
        return self.size.height - 1 - (layout.height - layout.matrix_lines)

    def _scroll_to(self, layout: HeatmapLayout, row: int) -> bool:
        """Scroll so that the cursor's ``row`` shows; says whether it scrolled."""
        window = self._window(layout)
        if layout.matrix_lines <= window:
            return False
        lines = [y - 1 for y in layout.cursor_lines(row) if y <= layout.matrix_lines]
        top = min(max(self.top, lines[-1] - window + 1), lines[0])
        top = min(max(top, 0), layout.matrix_lines - window)
        moved, self.top = top != self.top, top
        return moved

    def _layout_line(self, layout: HeatmapLayout, y: int) -> int | None:
        """Which line of the layout shows at ``y``: the title, the matrix (scrolled by
        ``top`` when it does not fit), then the column labels and the caption."""
        window = self._window(layout)
        if layout.matrix_lines <= window or y == 0:
            return y if y < layout.height else None
        if y <= window:
            return y + self.top
        y += layout.matrix_lines - window
        return y if y < layout.height else None

    def _screen_line(self, layout: HeatmapLayout, line: int) -> int:
        window = self._window(layout)
        if layout.matrix_lines <= window or line == 0:
            return line
        if line <= layout.matrix_lines:
            return line - self.top
        return line - (layout.matrix_lines - window)

    # -- drawing ------------------------------------------------------------------------------

    def layout(self) -> HeatmapLayout | None:
        """The shown heatmap laid out for the widget's size, less the status line."""
        entry = self._entry()
        return entry[0] if entry else None

    def _entry(self) -> tuple[HeatmapLayout, list[Strip]] | None:
        heatmap, (width, height) = self.current, self.size
        if heatmap is None or width <= 0 or height <= 1:
            return None
        key = (heatmap.group, heatmap.title, width, height, self.full)
        entry = self._layouts.get(key)
        if entry is None or entry[0].heatmap is not heatmap:
            layout = HeatmapLayout(heatmap, width, height - 1)
            if self.full and layout.resampled:
                layout = HeatmapLayout(heatmap, width, None, max_zoom=0)
            entry = self._layouts[key] = layout, [self._strip(line) for line in layout.lines()]
            while len(self._layouts) > KEPT_LAYOUTS:
                self._layouts.popitem(last=False)
        self._layouts.move_to_end(key)
        if entry[0] is not self._shown:
            self._show_layout(entry[0])
        return entry

    def _show_layout(self, layout: HeatmapLayout) -> None:
        """Another map, size or zoom: the cursor stays on the same value of the matrix (or on
        the averaged cell that holds it), and the scrolled part keeps it in sight."""
        self._shown = layout
        self._cursor_strips.clear()
        self.top = min(self.top, max(layout.matrix_lines - self._window(layout), 0))
        if self._source_cursor is not None and layout.plan.rows:
            self.cursor = layout.cell_of(*self._source_cursor)
            self._scroll_to(layout, self.cursor[0])

    def _strip(self, segments: list[Segment]) -> Strip:
        style = self.rich_style
        return Strip(segments).apply_style(style).crop_extend(0, self.size.width, style)

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if y == height - 1:
            return self._strip(self.status_segments())
        entry = self._entry()
        if entry is None:
            return self._strip([Segment(EMPTY, Style(dim=True))] if y == 0 else [])
        layout, strips = entry
        line = self._layout_line(layout, y)
        if line is None:
            return Strip.blank(width, self.rich_style)
        y = line
        if self.cursor is not None and y in layout.cursor_lines(self.cursor[0]):
            if y not in self._cursor_strips:
                self._cursor_strips[y] = self._strip(layout.line(y, self.cursor))
            return self._cursor_strips[y]
        return strips[y]

    # -- the status line ----------------------------------------------------------------------

    @property
    def status(self) -> str:
        """The bottom line as plain text: the value under the cursor, where we are, the keys."""
        return "".join(segment.text for segment in self.status_segments())

    def status_segments(self) -> list[Segment]:
        layout = self.layout()
        if layout is None or self.group is None:
            return []
        titles, groups = self.data.titles(self.group), list(self.data.groups)
        right = []
        if len(titles) > 1:
            right.append(f"[ ] {titles.index(self.title) + 1}/{len(titles)}")
        if len(groups) > 1:
            right.append(f"{{ }} group {groups.index(self.group) + 1}/{len(groups)}")
        if layout.resampled:
            right.append("z full size")
        elif layout.matrix_lines > self._window(layout):
            right.append("z fit")
        hint = "  ".join(right)
        if self.cursor is not None:
            left = Segment(layout.describe(*self.cursor), Style(bold=True))
        else:  # the longest help that leaves room for the hint
            room = self.size.width - len(hint) - 2
            help_ = next(h for h in ("arrows or mouse: read values", "arrows: values", "")
                         if len(h) <= room)
            left = Segment(help_, Style(dim=True))
        gap = self.size.width - cell_len(left.text) - len(hint)
        return [left] + ([Segment(" " * gap), Segment(hint, Style(dim=True))] if gap >= 2 else [])
