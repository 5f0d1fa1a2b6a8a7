"""The key list, opened with ? or F1: everything in the lab works from the keyboard."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("ctrl+r  F5", "run the form's values (a list in a field: a sweep)"),
    ("ctrl+x  F6", "stop the run within one batch (it is kept, as stopped)"),
    ("ctrl+d", "run detached: in its own process, which outlives the lab"),
    ("ctrl+y", "the recorded runs: overlay, replay, resume, attach"),
    ("ctrl+t", "switch between the Setup and Train tabs"),
    ("ctrl+l", "go to the catalog of experiments"),
    ("ctrl+f", "next view: the metrics, each figure, the heatmaps"),
    ("ctrl+b", "show / hide the book's curves beneath the run's"),
    ("ctrl+o", "the network's output shape after each layer"),
    ("ctrl+g", "the last run's test images, true and predicted labels"),
    ("↑ ↓  Enter", "in the catalog: move, and choose an experiment"),
    ("Tab  shift+Tab", "next / previous field"),
    ("Enter  ↑ ↓", "on a drop-down: open it, pick, confirm"),
    ("? F1", "this help (Esc or q closes it)"),
    ("ctrl+q", "quit (a running run is stopped and recorded first)"),
)
NOTES = (
    "Every field is checked as you type, by the same rules as `d2l-lab run --set`; "
    "a field in error says which rule it breaks, and Run stays off until all are valid. "
    "Changing the preset refills the fields. ctrl+x is Stop everywhere, so it does not "
    "cut text in the fields. "
    "The book's curves, final numbers and drift notes come from one unseeded run of the "
    "English edition (d2l 0.17.0, torch 1.8.1) on Tesla V100 GPUs: a run here lands near them, "
    "not on them; a note appears only when a metric leaves the band a normal run stays in."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for keys, what in KEYS:
            table.add_row(keys, what)
        with VerticalScroll(id="help"):
            yield Static("[b]d2l-lab · keys[/b]", id="help-title")
            yield Static(table)
            yield Static(NOTES, id="help-notes")
