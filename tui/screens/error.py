"""Why a run failed, in a panel over the lab: the error, where its traceback is kept, and that
nothing recorded before it was lost. Esc closes it; the lab goes on as it was."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from tui.screens.panel import PanelScreen


class ErrorScreen(PanelScreen):
    DEFAULT_CSS = """
    ErrorScreen > #panel { width: 76; border: round $error; }
    ErrorScreen > #panel > #error-body { width: 1fr; }  /* a long error wraps in the box */
    """

    def __init__(self, error: str, run_id: str = "", traceback: Path | None = None) -> None:
        super().__init__(f"Run failed · {run_id}" if run_id else "Run failed")
        self.error, self.run_id, self.traceback = error, run_id, traceback

    def body(self) -> ComposeResult:
        yield Static(self.text(), id="error-body")

    def text(self) -> Text:
        text = Text()
        text.append(self.error, style="bold red")
        if self.traceback is not None:
            text.append("\n\nThe traceback is saved in\n")
            text.append(str(self.traceback), style="bold")
        if self.run_id:
            text.append("\n\nWhat the run recorded before is kept: ctrl+y lists it, and from "
                        "there it can be replayed or resumed.", style="dim")
        return text
