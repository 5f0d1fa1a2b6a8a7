"""A run's test images with their true and predicted labels (the book's ``predict_ch3``), drawn
by lab/images.py at the size that fits."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from lab.events import Predictions
from lab.images import fit_scale, prediction_grid, predictions_summary


class PredictionsView(Static):
    def __init__(self, predictions: Predictions, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.predictions = predictions
        self.scale = 1
        self.grid = Text()  # as last drawn

    def fit(self, width: int, height: int) -> None:
        """Redraw for ``width`` columns; full size if every image fits ``height`` lines."""
        p = self.predictions
        summary = predictions_summary(p.true, p.predicted, width)
        self.scale = fit_scale(p.images, width, height - len(summary.plain.splitlines()))
        self.grid = prediction_grid(p.images, p.true, p.predicted, width, scale=self.scale)
        # One Text: Textual sizes an auto-width box to Text, not to a rich Group.
        self.update(Text("\n").join([summary, self.grid]))
