"""A box over the lab for something to read (a network's shapes, a run's predictions): a title,
a body that scrolls, and Esc to close."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen


class PanelScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    PanelScreen { align: center middle; }
    PanelScreen > #panel {
        width: auto;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $accent;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        background: $surface;
        scrollbar-size-vertical: 1;
    }
    PanelScreen > #panel > * { width: auto; }  /* the box is as wide as what it shows */
    """
    BINDINGS = [Binding("escape,q", "dismiss", "Close", show=False)]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.panel_title = title

    def body(self) -> ComposeResult:
        """The panel's content; subclasses yield their widgets."""
        yield from ()

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="panel") as panel:
            panel.border_title = self.panel_title
            panel.border_subtitle = "Esc closes"
            yield from self.body()

    def on_mount(self) -> None:
        self.query_one("#panel").focus()  # so ↑ ↓ PgUp PgDn scroll a long body at once

    @property
    def room(self) -> tuple[int, int]:
        """Width and height a body can take in the box at this screen size (less the border,
        padding and scrollbar)."""
        return max(self.size.width - 5, 1), max(self.size.height - 2, 1)
