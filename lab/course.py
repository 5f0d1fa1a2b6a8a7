"""A course: every experiment of the book (or of one chapter) in lecture order, each beside what
the book shows for it. Torch-free, so ``d2l-lab course`` checks what it was asked before anything
loads; only ``shown_metrics``' fallback reads the checkpoint's main metric (after a run: torch is
there by then)."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field

from lab import catalog
from lab.spec import Chapter, Experiment

SKIPPED, NOT_RUN = "skipped", "not run"  # besides the run statuses of lab.events


class CourseError(ValueError):
    """What was asked cannot make a course; ``str()`` is one line for the user."""


def chapters() -> list[Chapter]:
    """The book's chapters in course order."""
    return list(catalog.by_chapter(catalog.experiments()))


def find_chapter(name: str) -> Chapter:
    """A chapter by its id or an unambiguous start of it (``linear`` for linear-networks)."""
    known = chapters()
    for chapter in known:
        if chapter.id == name:
            return chapter
    starting = [c for c in known if name and c.id.startswith(name)]
    if len(starting) == 1:
        return starting[0]
    ids = ", ".join(c.id for c in known)
    if starting:
        matches = ", ".join(c.id for c in starting)
        raise CourseError(f"--chapter {name!r} could be {matches}; the chapters are: {ids}")
    raise CourseError(f"no chapter {name!r}; the chapters are: {ids}")


def select(chapter: str | None = None, preset: str = "quick") -> list[Experiment]:
    """The experiments a course runs, in lecture order: all of them, or one chapter's. Every one
    must have ``preset``."""
    chosen = catalog.experiments()
    if chapter is not None:
        wanted = find_chapter(chapter)
        chosen = tuple(exp for exp in chosen if exp.chapter == wanted)
    lacking = [exp.id for exp in chosen if preset not in exp.presets]
    if lacking:
        common = [name for name in chosen[0].presets
                  if all(name in exp.presets for exp in chosen)]
        raise CourseError(f"--preset must be one that every experiment has: {', '.join(common)} "
                          f"(got {preset!r}, which {', '.join(lacking[:3])}"
                          f"{' …' if len(lacking) > 3 else ''} lack)")
    return list(chosen)


def book_result(exp: Experiment, preset: str) -> str:
    """What the book shows for this preset's values, else for its own (the book preset)."""
    return exp.book_result.get(preset) or exp.book_result.get("book", "")


def shown_metrics(exp: Experiment, metrics: dict[str, float], preset: str) -> list[str]:
    """The run's metrics to set beside the book's result: those the book's result names, in its
    order; where it names none, the run's main metric (the one that picks best.pt)."""
    words = re.findall(r"[A-Za-z_]\w*", book_result(exp, preset))
    named = [w for w in dict.fromkeys(words) if w in metrics]
    if named or not metrics:
        return named
    from lab.train.checkpoint import main_metric  # torch: a run has loaded it already

    name = main_metric(metrics, exp.main_metric)
    return [name] if name else []


def new_course_id(preset: str, chapter: Chapter | None = None, now: float | None = None) -> str:
    """``course-20261126-143000-linear-networks-quick-ab12``: sorts by time, says what ran; the
    tail keeps two courses started in the same second apart. Its runs carry it as their sweep."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    scope = f"{chapter.id}-" if chapter else ""
    return f"course-{stamp}-{scope}{preset}-{secrets.token_hex(2)}"


@dataclass
class Outcome:
    """How one experiment of a course went."""

    experiment: Experiment
    status: str  # a run's end status, or SKIPPED, or NOT_RUN
    reason: str = ""
    seconds: float = 0.0  # wall time, data loading included
    run_id: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    """How many ended each way, in the order first met."""
    found: dict[str, int] = {}
    for o in outcomes:
        found[o.status] = found.get(o.status, 0) + 1
    return found
