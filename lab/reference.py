"""The book beside every run: its curves and final numbers for an experiment and variant.

The reference ships with the lab (lab/book_reference.json, built by lab/book_runs.py): for each
experiment the book trains, and each *variant* (the parameters that pick one of the book's runs,
like dropout's impl), the book's value of every metric at each plotted epoch and its final
numbers. It is one unseeded run of the English edition on V100 GPUs (torch 1.8): a run here with
the book's settings lands near it, not on it. Loaded on first use; never imports torch.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lab.spec import Experiment, Params, Value

REFERENCE_FILE = Path(__file__).with_name("book_reference.json")
# What a learner should know before comparing, said wherever the book's numbers are shown.
PROVENANCE = ("The book's numbers are one unseeded run of the English edition (d2l 0.17.0, "
              "torch 1.8.1) on Tesla V100 GPUs: a run here lands near them, not on them.")
# Short names for the status line: "book: loss 0.469 · train 0.824 · test 0.776".
SHORT = {"train_loss": "loss", "train_acc": "train", "test_acc": "test"}

Points = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Reference:
    """The book's run of one experiment and variant."""

    experiment: str
    variant: Mapping[str, Value]  # the parameters that pick this run among the book's
    preset: str  # the catalog preset holding the rest of the book's settings
    book: tuple[str, ...]  # the book's runs (sections) it comes from
    series: Mapping[str, Points]  # metric -> (epoch, value) at the epochs the book plots
    final: Mapping[str, float]  # metric -> the book's last value (printed where it prints one)
    printed: frozenset[str]  # the metrics whose final the book prints (else read off its plot)
    epochs: float  # how many epochs the book trains
    drift: bool = True  # whether a run should follow its curves (not where data is drawn anew)

    def matches(self, params: Mapping[str, Any]) -> bool:
        return all(name in params and params[name] == value
                   for name, value in self.variant.items())

    def at(self, metric: str, epoch: float) -> float | None:
        """The book's value of ``metric`` at ``epoch``, if it has one there."""
        for x, y in self.series.get(metric, ()):
            if abs(x - epoch) < 1e-6:
                return y
        if abs(epoch - self.epochs) < 1e-6:
            return self.final.get(metric)
        return None

    def around(self, metric: str, epoch: float) -> list[float]:
        """The book's values at ``epoch`` and at the points it plots just before and after (a
        run a step ahead of the book or behind it is still a normal run: LeNet leaves chance in
        the second epoch, or the first, or the third); empty where the book has no value at
        ``epoch``."""
        points = self.series.get(metric, ())
        xs = [x for x, _ in points]
        i = bisect.bisect_left(xs, epoch - 1e-6)
        if i == len(xs) or abs(xs[i] - epoch) > 1e-6:
            value = self.at(metric, epoch)
            return [] if value is None else [value]
        return [y for _, y in points[max(i - 1, 0):i + 2]]

    def settings(self, experiment: Experiment) -> Params:
        """The book's hyperparameters for this run, as the catalog declares them."""
        return experiment.resolve(self.preset, dict(self.variant))

    def differences(self, experiment: Experiment,
                    params: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        """The parameters a run sets otherwise than the book: name -> (the run's, the book's).
        Epochs are left out: up to its last epoch a longer or shorter run is the same."""
        book = self.settings(experiment)
        return {name: (params[name], value) for name, value in book.items()
                if name != "epochs" and name in params and params[name] != value}

    def finals_text(self) -> str:
        """The book's final numbers, as the status line shows them."""
        short = "test_acc" in self.final  # a classifier's: its one loss is the train loss
        return " · ".join(f"{label(name, short)} {number(value, name in self.printed)}"
                          for name, value in self.final.items())


@cache
def _load() -> tuple[str, dict[str, tuple[Reference, ...]]]:
    data = json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))
    found: dict[str, list[Reference]] = {}
    for item in data["references"]:
        reference = Reference(
            experiment=item["experiment"], variant=item["variant"],
            preset=item.get("preset") or "book", book=tuple(item["book"]),
            series={m: tuple((float(x), float(y)) for x, y in points)
                    for m, points in item["series"].items()},
            final=item["final"], printed=frozenset(item["printed"]),
            epochs=float(item.get("epochs") or 0), drift=item.get("drift", True))
        found.setdefault(reference.experiment, []).append(reference)
    return data["source"], {exp_id: tuple(refs) for exp_id, refs in found.items()}


def source() -> str:
    """Where the numbers come from (the provenance line kept from the book's figures)."""
    return _load()[0]


def all_references() -> tuple[Reference, ...]:
    return tuple(ref for refs in _load()[1].values() for ref in refs)


def references(exp_id: str) -> tuple[Reference, ...]:
    """Every book run of an experiment (one per variant); none for one the book does not run."""
    return _load()[1].get(exp_id, ())


def find(exp_id: str, params: Mapping[str, Any]) -> Reference | None:
    """The book's run of this experiment whose variant these parameters pick, if any (of two
    that both match, the one that says more: optim-airfoil's batch-sizes over its defaults)."""
    matches = [ref for ref in references(exp_id) if ref.matches(params)]
    return max(matches, key=lambda ref: len(ref.variant), default=None)


def label(metric: str, short: bool = False) -> str:
    return (SHORT.get(metric) if short else None) or metric.replace("_", " ")


def number(value: float, printed: bool = False) -> str:
    """A book value to 4 digits where the book prints it (0.469, 12.96, 1.0), to the 3 its plot
    can be read to otherwise (0.448, 98.4, 3.28e-05)."""
    text = f"{value:.{4 if printed else 3}g}"
    return text if not printed or any(c in text for c in ".einf") else f"{text}.0"


def param_text(value: Any) -> str:
    """A parameter's value as a user types it: 0.01, 20, concise."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def summary_lines(exp_id: str) -> list[str]:
    """The book's results for an experiment, a line per variant: "impl=concise: loss 0.349 ·
    train 0.872 · test 0.839 (read off its plot)"; none for one the book does not run."""
    lines = []
    for ref in references(exp_id):
        which = " ".join(f"{name}={param_text(value)}" for name, value in ref.variant.items())
        if ref.preset != "book":
            which += f" (preset {ref.preset})"
        how = ("printed" if set(ref.final) <= ref.printed else
               "read off its plot" if not ref.printed else "printed or read off its plot")
        lines.append(f"{which + ': ' if which else ''}{ref.finals_text()} ({how})")
    return lines
