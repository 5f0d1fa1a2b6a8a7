"""The registry of experiments: by id, by lecture and by chapter. Never imports torch."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from lab.experiments import ALL
from lab.spec import Chapter, Experiment

_BY_ID = {exp.id: exp for exp in ALL}
assert len(_BY_ID) == len(ALL), "experiment ids must be unique"


class UnknownExperiment(KeyError):
    def __str__(self) -> str:
        return self.args[0]


def experiments() -> tuple[Experiment, ...]:
    """All experiments in lecture order."""
    return tuple(sorted(ALL, key=lambda e: e.lecture))


def get(exp_id: str) -> Experiment:
    try:
        return _BY_ID[exp_id]
    except KeyError:
        close = difflib.get_close_matches(exp_id, _BY_ID, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `d2l-lab list` shows them all"
        raise UnknownExperiment(f"no experiment {exp_id!r}{hint}") from None


def by_chapter(items: Iterable[Experiment] | None = None) -> dict[Chapter, list[Experiment]]:
    """Chapters in course order, each with its experiments in lecture order."""
    groups: dict[Chapter, list[Experiment]] = {}
    for exp in sorted(items if items is not None else ALL, key=lambda e: e.lecture):
        groups.setdefault(exp.chapter, []).append(exp)
    return groups
