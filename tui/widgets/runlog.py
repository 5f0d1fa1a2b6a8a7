"""The run log: started, one line per epoch (as the book prints), messages, and how it ended."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import RichLog

from lab.events import Curve, Ended, EpochEnd, Event, Message, Sample, Started, Table
from lab.plotdata import shows_epoch
from lab.tables import plain_lines, rich_table
from tui.widgets.status import STATE_STYLES, clock

LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "bold red"}


def number(value: float) -> str:
    """3 decimals like the book, but keep tiny losses (5e-05) readable."""
    if value == 0 or 0.01 <= abs(value) < 1e4:
        return f"{value:.3f}"
    return f"{value:.3g}"


def metrics_text(metrics: dict[str, float]) -> str:
    return " ".join(f"{name} {number(value)}" for name, value in metrics.items())


class RunLog(RichLog):
    # Textual lays out the whole screen when a widget's virtual size changes, so each line
    # written cost a layout and a full repaint (a run of short epochs writes several a second,
    # and the training shares the cores). A longer log changes nothing around it, unless its
    # scrollbar comes or goes: otherwise only the scrollbar's thumb moves.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=2000, min_width=20, wrap=True, id=id)
        self.lines_text: list[str] = []  # plain text of what was written, for tests and copying
        self.plotted: set[tuple[str, str]] = set()

    def watch_virtual_size(self, old: Size, new: Size) -> None:
        height = self.scrollable_content_region.height
        if new.width != old.width or (new.height > height) != (old.height > height):
            self.refresh(layout=True)  # as Textual would
        elif self.show_vertical_scrollbar:
            self.vertical_scrollbar.window_virtual_size = new.height
            self.vertical_scrollbar.refresh()

    def note(self, text: str, style: str = "") -> None:
        self.lines_text.append(text)
        self.write(Text(text, style=style))

    def add(self, event: Event) -> None:
        if isinstance(event, Started) and event.resume_epoch is not None:
            self.note(f"▶ resumed after epoch {event.resume_epoch} on {event.device}", "bold")
        elif isinstance(event, Started):
            self.plotted.clear()
            params = " ".join(f"{k}={v}" for k, v in event.params.items())
            self.note(f"▶ {event.experiment} on {event.device} · preset {event.preset} · "
                      f"seed {event.seed} · {params}", "bold")
        elif isinstance(event, EpochEnd):
            if shows_epoch(event.epoch, event.epochs):  # the plot has every epoch
                self.note(f"epoch {event.epoch}: {metrics_text(event.metrics)}")
        elif isinstance(event, Message):
            self.note(event.text, LEVEL_STYLES.get(event.level, ""))
        elif isinstance(event, Table):
            self.lines_text.extend(plain_lines(event))
            self.write(rich_table(event))
        elif isinstance(event, Sample):
            self.note(f"epoch {event.epoch}: {event.text}" if event.epoch else event.text)
        elif isinstance(event, Curve):
            if (event.figure, event.series) not in self.plotted:  # live figures redraw often
                self.plotted.add((event.figure, event.series))
                self.note(f"plotted {event.series} ({len(event.x)} points)", "dim")
        elif isinstance(event, Ended):
            style = STATE_STYLES.get(event.status, ("", ""))[1]
            text = f"{event.status} after {clock(event.elapsed)}"
            if event.reason:
                text += f": {event.reason}"
            if event.metrics:
                text += f" · {metrics_text(event.metrics)}"
            self.note(text, style)
