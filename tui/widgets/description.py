"""What an experiment is about: the lecture, its summary, things to try, notes and the data."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from lab import dist, reference
from lab.spec import Experiment


def heading(exp: Experiment) -> Text:
    return Text.assemble((f"{exp.lecture:02d} {exp.title_en}", "bold"), "  ", exp.title_zh)


def describe(exp: Experiment) -> Text:
    data = exp.dataset or "synthetic, generated as the book does"
    kind = " · a demo: curves, no training" if exp.demo else ""
    text = Text.assemble(
        (f"{exp.chapter.title_en} {exp.chapter.title_zh} · data: {data}{kind}", "dim"), "\n",
        exp.summary,
    )
    if exp.try_this:
        text.append("\n\nTry:", style="bold")
        for hint in exp.try_this:
            text.append(f"\n • {hint}")
    if exp.notes:
        text.append("\n\nNote: ", style="bold")
        text.append(exp.notes)
    if book := reference.summary_lines(exp.id):
        text.append("\n\nThe book's results: ", style="bold")
        text.append("; ".join(book) + ". ")
        text.append(f"{reference.PROVENANCE} ctrl+b shows or hides its curves beneath a run's.",
                    style="dim")
    if exp.entry in dist.DATA_PARALLEL:
        text.append("\n\nSeveral devices: ", style="bold")
        text.append(f"choose '2 cpu processes' (or all GPUs) as the device. {dist.SEMANTICS}.")
    return text


class Heading(Static):
    def show(self, exp: Experiment) -> None:
        self.update(heading(exp))


class Description(Static):
    def show(self, exp: Experiment) -> None:
        self.update(describe(exp))
