"""The network of the experiment on the form, layer by layer: the book's "output shape" printout.

Building the network imports torch, so the shapes are computed in a daemon thread (as runs are,
see tui/run.py) and the panel says "computing…" until they come back.
"""

from __future__ import annotations

import threading

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Static

from lab.shapes import NoNetwork, Shape, ShapeRow, experiment_shapes, shapes_text
from lab.spec import Experiment, Params
from tui.screens.panel import PanelScreen


class ShapesScreen(PanelScreen):
    class Computed(Message):
        def __init__(self, input_shape: Shape, rows: list[ShapeRow], error: str) -> None:
            super().__init__()
            self.input_shape, self.rows, self.error = input_shape, rows, error

    def __init__(self, experiment: Experiment, params: Params) -> None:
        super().__init__(f"Shapes · {experiment.id}")
        self.experiment, self.params = experiment, params
        self.rows: list[ShapeRow] | None = None  # None until computed
        self.error = ""

    def body(self) -> ComposeResult:
        yield Static(Text("computing… (the first time loads torch)", style="dim"),
                     id="shapes-body")

    def on_mount(self) -> None:
        threading.Thread(target=self._compute, name="d2l-lab-shapes", daemon=True).start()

    def _compute(self) -> None:
        input_shape: Shape = ()
        rows: list[ShapeRow] = []
        error = ""
        try:
            input_shape, rows = experiment_shapes(self.experiment, self.params)
        except NoNetwork as err:
            error = str(err)
        except RuntimeError as err:  # a parameter the network cannot take (an input too small)
            error = f"the network cannot take this input: {err}"
        except Exception as err:  # a bug in a build_net must not take the lab down
            error = f"{type(err).__name__}: {err}"
        self.post_message(self.Computed(input_shape, rows, error))

    def on_shapes_screen_computed(self, message: Computed) -> None:
        self.rows, self.error = message.rows, message.error
        body = self.query_one("#shapes-body", Static)
        if message.error:
            body.update(Text(message.error, style="yellow"))
            return
        note = Text("one input of zeros through the network,\nwith the form's values\n",
                    style="dim")
        body.update(note + shapes_text(message.input_shape, message.rows))
