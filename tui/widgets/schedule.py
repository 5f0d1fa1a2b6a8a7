"""The learning-rate schedule a run will follow, drawn under the form before the run starts
(experiments with an ``lr_schedule`` parameter; hidden while the schedule is constant)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from lab.charts import figure_chart
from lab.spec import Params
from lab.train import schedules

HEIGHT = 7  # rows of the chart: enough for three ticks, small beside the form
MIN_WIDTH = 30


class SchedulePreview(Static):
    DEFAULT_CSS = "SchedulePreview { height: auto; display: none; }"
    params: Params | None = None

    def on_resize(self) -> None:
        self.show(self.params)

    def show(self, params: Params | None) -> None:
        """Draw the schedule of these params (None: the form is invalid or holds a sweep)."""
        self.params = params
        schedule = schedules.parse(params["lr_schedule"]) if params is not None else None
        if schedule is None or schedule.constant:
            self.display = False
            return
        curve = schedule.curve(params["lr"], params["epochs"])
        width = max(self.size.width, MIN_WIDTH)
        chart = Text.from_ansi(figure_chart([curve], width, HEIGHT))
        self.update(Text.assemble(("learning rate per epoch ", "bold"),
                                  (params["lr_schedule"], "dim"), "\n", chart))
        self.display = True
