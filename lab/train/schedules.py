"""Learning-rate schedules (the book's ``lr-scheduler`` section), set once per epoch as the
book's ``train`` does, written as one short line a form field and ``--set`` both take:

    constant                          the book's default: lr throughout
    step every=10 factor=0.5          lr × factor after every ``every`` epochs (StepLR)
    multifactor at=15,30 factor=0.5   lr × factor after each of those epochs (MultiStepLR)
    cosine final=0.01 warmup=5        linear warm-up from 0 over ``warmup`` epochs, then half a
                                      cosine from lr down to ``final`` at the last epoch

Keys may be left out (their defaults are the book's examples). Torch-free: the form checks
and draws a schedule before anything is imported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from lab.events import Curve
from lab.shapes_text import checker

CONSTANT = "constant"
# name -> {key: default}; "at" is a list of epochs, the rest numbers.
KEYS: dict[str, dict[str, object]] = {
    CONSTANT: {},
    "step": {"every": 10, "factor": 0.5},
    "multifactor": {"at": (15, 30), "factor": 0.5},
    "cosine": {"final": 0.0, "warmup": 0},
}
SYNTAX = "constant | step every=E factor=F | multifactor at=E,E factor=F | cosine final=LR warmup=E"


class ScheduleError(ValueError):
    """What is wrong with a schedule's text, in a few words."""


@dataclass(frozen=True)
class Schedule:
    name: str
    settings: dict[str, object]

    def lr(self, base: float, epoch: int, epochs: int) -> float:
        """The learning rate of ``epoch`` (1-based) of ``epochs``, from the base ``lr``."""
        s = self.settings
        if self.name == "step":
            return base * s["factor"] ** ((epoch - 1) // s["every"])
        if self.name == "multifactor":
            return base * s["factor"] ** sum(epoch > at for at in s["at"])
        if self.name == "cosine":
            warmup, final = s["warmup"], s["final"]
            if epoch <= warmup:
                return base * epoch / (warmup + 1)  # from 0 (not reached) up to lr
            span = max(epochs - warmup - 1, 1)
            done = (epoch - warmup - 1) / span
            return final + (base - final) * (1 + math.cos(math.pi * done)) / 2
        return base

    def lrs(self, base: float, epochs: int) -> list[float]:
        return [self.lr(base, epoch, epochs) for epoch in range(1, epochs + 1)]

    def curve(self, base: float, epochs: int) -> Curve:
        """The schedule as a run draws it (and the form, before the run)."""
        return Curve("learning rate", "lr", [float(e) for e in range(1, epochs + 1)],
                     self.lrs(base, epochs), xlabel="epoch")

    @property
    def constant(self) -> bool:
        return self.name == CONSTANT


def parse(text: str) -> Schedule:
    """``text`` as a Schedule, or ScheduleError saying what is wrong."""
    name, *pairs = text.split() or [""]
    if name not in KEYS:
        raise ScheduleError(f"unknown schedule {name!r}: one of {', '.join(KEYS)}")
    settings = dict(KEYS[name])
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if key not in settings or not sep:
            known = ", ".join(f"{k}=" for k in settings) or "no settings"
            raise ScheduleError(f"{name} takes {known}, not {pair!r}")
        settings[key] = _value(name, key, value)
    return Schedule(name, settings)


check = checker(parse, refuses=ScheduleError)  # Param(check=...): None, or what is wrong


def _value(name: str, key: str, text: str) -> object:
    number: Callable[[str], float] = float
    try:
        if key == "at":
            epochs = tuple(int(part) for part in text.split(","))
            if any(e < 1 for e in epochs) or list(epochs) != sorted(set(epochs)):
                raise ValueError
            return epochs
        if key in ("every", "warmup"):
            number = int
        value = number(text)
    except ValueError:
        rule = "rising epochs like 15,30" if key == "at" else (
            "a whole number of epochs" if number is int else "a number")
        raise ScheduleError(f"{name}: {key} must be {rule}") from None
    if key == "every" and value < 1 or key == "warmup" and value < 0:
        raise ScheduleError(f"{name}: {key} must be at least {1 if key == 'every' else 0}")
    if key == "factor" and not 0 < value <= 1:
        raise ScheduleError(f"{name}: factor must be in (0, 1]")
    if key == "final" and not (value >= 0 and math.isfinite(value)):
        raise ScheduleError(f"{name}: final must be a learning rate ≥ 0")
    return value
