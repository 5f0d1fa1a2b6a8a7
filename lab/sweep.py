"""Sweeps: one experiment run over a grid of values, e.g. three learning rates × two batch sizes.

The grid comes from ``--grid lr=0.1,0.3,0.9`` on the command line or from form fields holding
"0.1, 0.3, 0.9". Every point is validated by ``Param.parse`` (the rules of ``--set`` and the
form) before any run starts, so a typo in the last value cannot leave half a sweep behind.
The seed may be swept like a parameter: the same config over several seeds shows the noise.
This module must not import torch.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lab.spec import SEED, Experiment, Param, ParamError, Params, Value


@dataclass(frozen=True)
class SweepPoint:
    params: Params
    seed: int
    label: str  # the grid's values at this point: "lr=0.3 batch_size=128"


def split_values(text: str) -> list[str]:
    """``"0.1, 0.3, 0.9"`` -> ``["0.1", "0.3", "0.9"]``; text without a comma is one value."""
    return [item.strip() for item in text.split(",")]


def listable(param: Param) -> bool:
    """Whether a form field may hold a list: numbers only, since free text (a sentence to
    translate) may itself contain commas, and choices are picked one at a time."""
    return param.type in (int, float) and not param.choices


def parse_values(param: Param, text: str | Sequence[str]) -> list[Value]:
    """Every value of a list (text to split, or already split), each checked by
    ``param.parse``; an empty item or a value given twice is refused too."""
    items = split_values(text) if isinstance(text, str) else list(text)
    values: list[Value] = []
    for item in items:
        if len(items) > 1 and not item.strip():  # alone, it is Param.parse's to refuse
            raise ParamError(param.name, f"an empty value in the list {', '.join(items)!r}")
        value = param.parse(item)
        if value in values:  # two identical runs would only look like a comparison
            raise ParamError(param.name, f"{format_value(value)} is listed twice")
        values.append(value)
    return values


def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
    """``["lr=0.1,0.3", "batch_size=128,256"]`` -> ``{"lr": ["0.1", "0.3"], ...}``, in the
    order given; the values stay text (``expand`` checks them against the experiment)."""
    grid: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, text = (part.strip() for part in spec.partition("="))
        if not sep or not name or not text:
            raise ParamError(spec, "expected NAME=VALUE,VALUE,... (e.g. lr=0.1,0.3)")
        if name in grid:
            raise ParamError(name, "given to --grid twice: list all its values in one")
        grid[name] = split_values(text)
    return grid


def expand(experiment: Experiment, preset: str, overrides: Mapping[str, Any],
           grid: Mapping[str, Sequence[str]], seed: Any = 0) -> list[SweepPoint]:
    """Every point of the grid (a cartesian product; the first name varies slowest), each with
    the preset and the fixed ``overrides`` applied and every value validated. ``grid`` may name
    ``seed``; ``seed`` is used otherwise. Raises ParamError naming the field and the value."""
    axes: dict[str, list[Value]] = {}
    for name, texts in grid.items():
        if name in overrides:
            raise ParamError(name, "given to both --set and --grid: choose one")
        param = SEED if name == SEED.name else experiment.param(name)
        axes[name] = parse_values(param, texts)
    if SEED.name not in axes:
        seed = SEED.parse(seed)
    experiment.resolve(preset, overrides)  # the fixed values, named once rather than per point
    points = []
    for combo in itertools.product(*axes.values()):
        chosen = dict(zip(axes, combo, strict=True))
        point_seed = int(chosen.pop(SEED.name, seed))
        params = experiment.resolve(preset, {**overrides, **chosen})
        label = " ".join(f"{name}={format_value(value)}" for name, value in zip(axes, combo,
                                                                                 strict=True))
        points.append(SweepPoint(params, point_seed, label))
    return points


def format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def new_sweep_id(experiment_id: str, now: float | None = None) -> str:
    """``sweep-20261126-143000-softmax-ab12``: sorts by time, names the experiment, and the
    random tail keeps two sweeps started in the same second apart."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"sweep-{stamp}-{experiment_id}-{secrets.token_hex(2)}"
