"""What a language model writes: the latest sample while it trains, and a prefix box that lets
the finished run's model write after any prefix (the book's ``predict_ch8``)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from lab.events import Ended, Event, Sample, Started

CHARS = 100  # how much the model writes after a prefix typed in the box
WAITING = "once the run ends, type a prefix here: the model goes on"
READY = "type a prefix, Enter: the model writes 100 characters on"


def sample_text(prefix: str, text: str, label: str) -> Text:
    """``label`` dim, the prefix bold, what the model wrote after it in the accent colour."""
    written = text.removeprefix(prefix)
    return Text.assemble((label + " ", "dim"), (prefix, "bold"), (written, "cyan"))


class SampleView(Vertical):
    """Shown for experiments that write text; hidden (display: none) for the others."""

    class Write(Message):
        """The user asked the model to write after ``prefix``."""

        def __init__(self, prefix: str) -> None:
            super().__init__()
            self.prefix = prefix

    busy = False  # a prefix is being written after; Enter waits for it

    def compose(self) -> ComposeResult:
        yield Static("", id="sample-text")
        yield Input(placeholder=WAITING, compact=True, disabled=True, id="prefix")

    @property
    def prefix_box(self) -> Input:
        return self.query_one("#prefix", Input)

    def show(self, text: Text | str) -> None:
        self.query_one("#sample-text", Static).update(text)

    def add(self, event: Event) -> None:
        if isinstance(event, Started):
            self.show(Text("the model's text appears here every 10 epochs", style="dim"))
            self.set_ready(False)
        elif isinstance(event, Sample):
            label = f"epoch {event.epoch}" if event.epoch else "model"
            self.show(sample_text(event.prefix, event.text, label))
        elif isinstance(event, Ended):
            self.set_ready(event.status in ("finished", "stopped"))

    def set_ready(self, ready: bool) -> None:
        """Whether a finished run's checkpoint is there to write with."""
        box = self.prefix_box
        box.disabled = not ready
        box.placeholder = READY if ready else WAITING

    def written(self, prefix: str, text: str, error: str) -> None:
        if error:
            self.show(Text(error, style="bold red"))
        else:
            self.show(sample_text(prefix, text, "you asked:"))
        self.busy = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value and not self.busy:
            self.busy = True
            self.show(Text(f"writing after {event.value!r}…", style="dim"))
            self.post_message(self.Write(event.value))
