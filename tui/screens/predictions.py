"""The last run's predictions in a panel over the lab, redrawn to fit when the terminal resizes."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult

from lab.events import Predictions
from tui.screens.panel import PanelScreen
from tui.widgets.predictions import PredictionsView


class PredictionsScreen(PanelScreen):
    def __init__(self, predictions: Predictions, run: str = "") -> None:
        super().__init__(f"Predictions · {run}" if run else "Predictions")
        self.predictions = predictions

    def body(self) -> ComposeResult:
        yield PredictionsView(self.predictions, id="predictions")

    def on_resize(self, event: events.Resize) -> None:
        self.query_one(PredictionsView).fit(*self.room)
