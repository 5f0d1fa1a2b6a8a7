"""``d2l-lab course``: every experiment of the course (or of one chapter) in lecture order, one
after another in this process, each shown as one line, then a table of what each gave beside
what the book shows.

Everything is checked first (chapter, preset, device, seed), so a typo costs no run. The runs
are recorded as usual, grouped under the course's id as their sweep (``runs list --sweep ID``).
A failed or diverged experiment does not end the course; Ctrl+C stops the run under way (it
keeps its checkpoint), skips the rest and still prints the table. Importing this module is cheap
(typer); torch comes with the device check.
"""

from __future__ import annotations

import json
import signal
import time
from typing import TYPE_CHECKING, Annotated

import typer

from lab.cli_run import DeviceOption, exit_code, stop_on_signals, validate_device
from lab.cli_sweep import SEVERITY
from lab.course import (
    NOT_RUN,
    SKIPPED,
    CourseError,
    Outcome,
    book_result,
    chapters,
    counts,
    shown_metrics,
)
from lab.spec import SEED, ParamError

if TYPE_CHECKING:
    from rich.console import Console

    from lab.cancel import Cancel
    from lab.events import Event
    from lab.spec import Experiment
    from lab.store import Store

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # what stop_on_signals takes over


def course_command(
    preset: Annotated[str, typer.Option(
        help="quick (the default: minutes per experiment on a laptop CPU) or book (the "
        "book's values: GPU work for the CNNs).")] = "quick",
    chapter: Annotated[str | None, typer.Option(
        metavar="CHAPTER", help="Only this chapter's experiments: one of "
        f"{', '.join(c.id for c in chapters())} (or its start: linear, attention…).")] = None,
    device: DeviceOption = None,
    seed: Annotated[str | None, typer.Option(
        help="Random seed of every run, an integer ≥ 0 (default 0).")] = None,
    skip_missing_data: Annotated[bool, typer.Option(
        "--skip-missing-data", help="Skip the experiments whose dataset is not on this machine "
        "(by default their runs download it first).")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON line as each experiment ends, then one for the course.")] = False,
) -> None:
    """Run every experiment of the course (or of a chapter) in lecture order; a table of the
    results beside the book's at the end."""
    from lab import course
    from lab.cli import err, out, usage_error

    try:
        experiments = course.select(chapter, preset)
        scope = course.find_chapter(chapter) if chapter is not None else None
        seed_value = SEED.parse(seed if seed is not None else 0)
    except (CourseError, ParamError) as e:
        raise usage_error(str(e)) from None
    device = validate_device(device or "cpu")

    from lab.cancel import Cancel
    from lab.store import Store

    store = Store()
    course_id = course.new_course_id(preset, scope)
    console = err if as_json else out  # with --json, stdout holds only JSON lines

    def say(text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True)

    what = f"the {scope.title_en.lower()} chapter" if scope else "the whole course"
    say(f"[bold]course {course_id}[/]: {len(experiments)} experiments of {what}, preset "
        f"{preset}, on {device}, seed {seed_value}")
    missing = _missing_data(experiments)
    for dataset, users in missing.items():
        need = "1 experiment needs" if len(users) == 1 else f"{len(users)} experiments need"
        then = "skipped" if skip_missing_data else "the first run that needs it downloads it"
        say(f"[yellow]{dataset} is not here[/]: {need} it; {then} (`d2l-lab data fetch "
            f"{dataset}` gets it)")

    cancel = Cancel()
    saved = {sig: signal.getsignal(sig) for sig in SIGNALS}
    stop_on_signals(cancel)
    started = time.monotonic()
    try:
        outcomes = _run_all(store, experiments, course_id, device, seed_value, preset,
                            missing if skip_missing_data else {}, cancel, console, as_json)
    finally:  # in-process callers (tests) get their own handlers back
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    total = time.monotonic() - started
    _summary(console, outcomes, preset, total)
    say(f"[dim]`d2l-lab runs list --sweep {course_id} --limit {len(outcomes)}` lists its runs[/]")
    if as_json:
        print(json.dumps({"kind": "course", "course": course_id, "preset": preset,
                          "chapter": scope.id if scope else None, "device": device,
                          "seed": seed_value, "seconds": round(total, 3),
                          "counts": counts(outcomes),
                          "runs": [_row_dict(o, preset) for o in outcomes]},
                         ensure_ascii=False), flush=True)
    raise typer.Exit(_exit_code(outcomes, cancel))


def _missing_data(experiments: list[Experiment]) -> dict[str, list[Experiment]]:
    """Datasets not on this machine, each with the experiments that need it."""
    from lab.data import hub

    missing: dict[str, list[Experiment]] = {}
    for exp in experiments:
        if exp.dataset is not None and not hub.is_available(exp.dataset):
            missing.setdefault(exp.dataset, []).append(exp)
    return missing


def _run_all(store: Store, experiments: list[Experiment], course_id: str, device: str,
             seed: int, preset: str, skip: dict[str, list[Experiment]], cancel: Cancel,
             console: Console, as_json: bool) -> list[Outcome]:
    """Each experiment in turn; a stop (Ctrl+C, SIGTERM, SIGHUP) ends the one under way and
    leaves the rest not run, and so does a lab home that cannot be written (no run can be)."""
    from lab.store import StoreError

    outcomes: list[Outcome] = []
    width = len(str(len(experiments)))
    halted = False
    try:
        for index, exp in enumerate(experiments, 1):
            label = f"[{index:>{width}}/{len(experiments)}] {exp.lecture:02d} {exp.id}"
            if cancel.is_set() or halted:
                outcome = Outcome(exp, NOT_RUN)
            elif exp.dataset in skip:
                outcome = Outcome(exp, SKIPPED, f"{exp.dataset} is not here")
            else:
                try:
                    outcome = _run_one(store, exp, course_id, device, seed, preset, cancel,
                                       CourseSink(console, label))
                except StoreError as e:
                    outcome, halted = Outcome(exp, "failed", str(e)), True
            outcomes.append(outcome)
            if outcome.status != NOT_RUN:
                _tell(console, label, outcome, preset)
            if as_json:
                print(json.dumps({"kind": "course-run", "course": course_id,
                                  **_row_dict(outcome, preset)},
                                 ensure_ascii=False), flush=True)
    except KeyboardInterrupt:  # a second Ctrl+C between two runs: the table still comes
        cancel.set()
    return outcomes + [Outcome(exp, NOT_RUN) for exp in experiments[len(outcomes):]]


def _run_one(store: Store, exp: Experiment, course_id: str, device: str, seed: int,
             preset: str, cancel: Cancel, sink: CourseSink) -> Outcome:
    from lab import runner  # torch

    params = exp.resolve(preset)  # checked when declared: every preset is valid
    begun = time.monotonic()
    try:
        with sink:
            result = runner.run(exp, params, device=device, seed=seed, preset=preset,
                                sinks=[sink], cancel=cancel, store=store, sweep=course_id)
    except KeyboardInterrupt:  # a second Ctrl+C: the runner recorded the run as stopped
        cancel.set()
        return Outcome(exp, "stopped", "stopped at once by a second Ctrl+C",
                       time.monotonic() - begun, sink.run_id)
    return Outcome(exp, result.status, result.reason, time.monotonic() - begun, result.run_id,
                   result.metrics)


class CourseSink:
    """One experiment's run as one transient line: its label, a bar over all its epochs, the
    epoch and the latest loss (the result line replaces it when the run ends)."""

    def __init__(self, console: Console, label: str):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.run_id = ""
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.fields[where]}"), TimeElapsedColumn(),
                            console=console, transient=True, disable=not console.is_terminal)
        self.task = self.bar.add_task(label, total=None, where="starting")

    def __enter__(self) -> CourseSink:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, event: Event) -> None:
        from lab.cli_progress import format_value
        from lab.events import Progress, Started

        if isinstance(event, Started):
            self.run_id = event.run_id
        elif isinstance(event, Progress):
            loss = f" loss {format_value(event.losses[-1])}" if event.losses else ""
            self.bar.update(self.task, total=event.epochs * event.steps,
                            completed=(event.epoch - 1) * event.steps + event.step,
                            where=f"epoch {event.epoch}/{event.epochs}{loss}")


def result_text(outcome: Outcome, preset: str) -> str:
    """The metrics set beside the book's result (``test_acc 0.8331``), or ``-``."""
    from lab.cli_progress import format_value

    names = shown_metrics(outcome.experiment, outcome.metrics, preset)
    return " · ".join(f"{n} {format_value(outcome.metrics[n])}" for n in names) or "-"


def _tell(console: Console, label: str, outcome: Outcome, preset: str) -> None:
    from rich.markup import escape

    from lab.cli_progress import STATUS_STYLE

    style = STATUS_STYLE.get(outcome.status, "dim")
    line = f"{label} [{style}]{outcome.status}[/]"
    if outcome.status != SKIPPED:
        line += f" in {outcome.seconds:.1f}s"
    if outcome.reason and outcome.status != "finished":
        line += f": {escape(outcome.reason.splitlines()[0])}"  # it may quote a path
    if outcome.metrics:
        line += f"  {result_text(outcome, preset)}"
    if book := book_result(outcome.experiment, preset):
        line += f"  [dim](book {escape(book)})[/]"
    console.print(line, highlight=False, soft_wrap=True)


def _row_dict(outcome: Outcome, preset: str) -> dict:
    exp = outcome.experiment
    return {"lecture": exp.lecture, "experiment": exp.id, "run": outcome.run_id or None,
            "status": outcome.status, "reason": outcome.reason,
            "seconds": round(outcome.seconds, 3), "metrics": outcome.metrics,
            "result": result_text(outcome, preset), "book": book_result(exp, preset)}


def _summary(console: Console, outcomes: list[Outcome], preset: str, total: float) -> None:
    """The table: lecture, experiment, status, time, result and the book's; then the total."""
    from rich.markup import escape
    from rich.table import Table

    from lab.cli_progress import STATUS_STYLE

    table = Table("lecture", "experiment", "status", "time (s)", "result", "book", box=None,
                  pad_edge=False)
    for o in outcomes:
        style = STATUS_STYLE.get(o.status, "dim")
        took = f"{o.seconds:.1f}" if o.status not in (SKIPPED, NOT_RUN) else "-"
        table.add_row(f"{o.experiment.lecture:02d}", o.experiment.id, f"[{style}]{o.status}[/]",
                      took, escape(result_text(o, preset)),
                      escape(book_result(o.experiment, preset)) or "-")
    console.print()
    console.print(table, highlight=False)
    ended = ", ".join(f"{n} {status}" for status, n in counts(outcomes).items())
    console.print(f"\ntotal {total:.1f}s: {ended}", highlight=False)
    if preset != "book" and any(o.experiment.presets[preset] for o in outcomes):
        console.print("[dim]book: what the book shows for its own values; a preset that "
                      "changes them (fewer epochs, smaller images) ends elsewhere[/]",
                      highlight=False)


def _exit_code(outcomes: list[Outcome], cancel: Cancel) -> int:
    """0 when every experiment run finished (skipped ones were asked for); a stop first (the
    course was cut short), then a failure."""
    statuses = [o.status for o in outcomes if o.status not in (SKIPPED, NOT_RUN)]
    if cancel.is_set() and any(o.status == NOT_RUN for o in outcomes):
        statuses.append("interrupted" if cancel.signum else "stopped")
    worst = max(statuses, key=lambda s: SEVERITY.index(s) if s in SEVERITY else 2,
                default="finished")
    return exit_code(worst, cancel.signum)

