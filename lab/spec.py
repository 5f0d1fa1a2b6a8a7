"""Experiments and their hyperparameter schema.

One set of rules (``Param.parse``) validates every value a user can give: the TUI form's text,
the CLI's ``--set key=value`` and a saved ``config.json``. It is plain Python so that listing the
catalog and ``--help`` never pay for torch (or pydantic) imports, and so that every error is one
readable line.
This module must not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Context
from typing import Any

Value = int | float | str | bool


class ParamError(ValueError):
    """A value the schema refuses; ``str()`` is one line naming the field and the rule."""

    def __init__(self, name: str, rule: str):
        self.name, self.rule = name, rule
        # A name typed by the user (``--set 'a<newline>b=1'``) must not break the one line.
        super().__init__(f"{name if name.isprintable() else repr(name)}: {rule}")


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its type, default (the book's), allowed range or choices, and help."""

    name: str
    type: type  # int, float, str or bool
    default: Value
    help: str
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False  # e.g. lr > 0
    choices: tuple[str, ...] = ()
    # A rule of the value's own (a shape like "2,3,4", a list of optimisers): returns what is
    # wrong with it, in a few words, or None. The form and the CLI both show it inline.
    check: Callable[[Value], str | None] | None = None

    def parse(self, raw: Any) -> Value:
        """Turn user input (text from a form or the CLI, or a JSON value) into a valid value."""
        value = self._coerce(raw)
        self._check(value)
        return value

    def describe_range(self) -> str:
        if self.choices:
            return " | ".join(self.choices)
        if self.type is bool:
            return "true | false"
        bounds = []
        if self.min is not None:
            bounds.append(f"{'>' if self.min_exclusive else '≥'} {self._fmt(self.min)}")
        if self.max is not None:
            bounds.append(f"≤ {self._fmt(self.max)}")
        return ", ".join(bounds)

    def _fmt(self, x: float) -> str:
        """Integers in full (seed ≤ 4294967295), floats short (lr ≤ 1e6, not 1e+06); Decimal
        formats integers too large for a float (a pasted 400-digit number) the same way."""
        if self.type is int and abs(x) < 1e15:
            return str(int(x))
        try:
            text = f"{x:g}"
        except OverflowError:
            text = f"{Context(prec=6).create_decimal(x).normalize():g}".lower()
        return text.replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")

    def _coerce(self, raw: Any) -> Value:
        text = raw.strip() if isinstance(raw, str) else raw
        if text == "" or text is None:
            raise ParamError(self.name, "a value is required")
        if self.type is bool:
            if isinstance(text, bool):
                return text
            lowered = str(text).lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ParamError(self.name, f"must be true or false (got {_shown(raw)})")
        if self.type is str:
            # One printable line: the text is echoed in logs, titles and the terminal.
            if not isinstance(text, str) or not text.isprintable():
                raise ParamError(self.name, f"must be one line of text (got {_shown(raw)})")
            return text
        number = _to_number(text)
        if number is None:
            kind = "an integer" if self.type is int else "a number"
            raise ParamError(self.name, f"must be {kind} (got {_shown(raw)})")
        if isinstance(number, float) and not math.isfinite(number):
            raise ParamError(self.name, f"must be a finite number (got {_shown(raw)})")
        if self.type is int:
            if isinstance(number, float) and not number.is_integer():
                raise ParamError(self.name, f"must be an integer (got {_shown(raw)})")
            return int(number)
        try:
            return float(number)
        except OverflowError:  # an integer beyond any float: beyond the range too
            rule = f"must be {self.describe_range()}" if self.max is not None else (
                "must be a finite number")
            raise ParamError(self.name, f"{rule} (got {_shown(raw)})") from None

    def _check(self, value: Value) -> None:
        if self.choices and value not in self.choices:
            raise ParamError(self.name,
                             f"must be one of {', '.join(self.choices)} (got {_shown(value)})")
        if self.type in (int, float):
            too_low = self.min is not None and (
                value < self.min or (self.min_exclusive and value == self.min))
            too_high = self.max is not None and value > self.max
            if too_low or too_high:
                rule = f"must be {self.describe_range()} (got {self._fmt(value)})"
                raise ParamError(self.name, rule)
        if self.check is not None and (fault := self.check(value)) is not None:
            raise ParamError(self.name, f"{fault} (got {_shown(value)})")


def _shown(raw: Any, most: int = 40) -> str:
    """The value as the user gave it, quoted, and cut short so the message stays one line."""
    try:
        text = repr(raw)
    except ValueError:  # an integer of more digits than Python will print
        return "a number of too many digits"
    return text if len(text) <= most else text[:most - 1] + "…"


def _to_number(text: Any) -> float | int | None:
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        return None  # bytes, lists, dicts from a hand-edited config are not numbers
    if isinstance(text, int | float):
        return text
    try:
        return int(text)
    except (TypeError, ValueError):
        pass
    try:
        return float(text)
    except (TypeError, ValueError):
        return None




class Params(Mapping[str, Value]):
    """Validated hyperparameters, read as ``p.lr`` or ``p["lr"]``."""

    def __init__(self, values: Mapping[str, Value]):
        self._values = dict(values)

    def __getattr__(self, name: str) -> Value:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Value:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Params({self._values})"


@dataclass(frozen=True)
class Chapter:
    id: str
    title_en: str
    title_zh: str


@dataclass(frozen=True)
class Experiment:
    """A lecture's experiment, declared without torch; ``entry`` names the recipe that runs it."""

    id: str
    lecture: int
    title_en: str
    title_zh: str
    chapter: Chapter
    dataset: str | None  # a data hub id, or None for synthetic data
    summary: str  # what the lecture teaches
    try_this: tuple[str, ...]  # things to try, shown in the TUI and `show`
    params: tuple[Param, ...]
    entry: str  # "module:function" of the recipe, imported only when the experiment runs
    options: Mapping[str, Value] = field(default_factory=dict)  # fixed arguments for the recipe
    presets: Mapping[str, Mapping[str, Value]] = field(default_factory=dict)  # name -> overrides
    notes: str = ""  # where the lab differs from the book's code, and why
    demo: bool = False  # a demonstration: no training loop, no checkpoint
    log_loss: bool = False  # plot losses on a log axis, as the book does (yscale='log')
    unit: str = "examples"  # what the throughput counts: examples/s, or tokens/s for text
    # A language model: it emits Sample events while training, and its recipe module offers
    # load_generator(run_dir) to write text after any prefix from a finished run's checkpoint.
    writes_text: bool = False
    # Whether a stopped run can continue from its last epoch: not where one run trains several
    # models in turn (k-fold), nor a demonstration.
    resumable: bool = True
    main_metric: str = ""  # the metric that picks best.pt; "" lets checkpoint.main_metric choose
    # What the book shows for a preset's values (preset -> "test_acc 0.834"), naming metrics as
    # this run reports them, so `d2l-lab course` can set the two side by side.
    book_result: Mapping[str, str] = field(default_factory=dict)
    # Rules across fields (num_heads divides num_hiddens), checked by resolve like each field's
    # own, so the form and the CLI refuse them before a run exists; each raises ParamError
    # naming the field to change.
    rules: tuple[Callable[[Params], None], ...] = ()

    def __post_init__(self) -> None:
        # "book" is always the defaults themselves, and "quick" too where the book's run already
        # takes seconds on a laptop CPU; every preset must itself be valid.
        presets = {"book": {}, "quick": {}, **self.presets}
        object.__setattr__(self, "presets", presets)
        for name, overrides in presets.items():
            try:
                self.resolve(name, overrides)
            except ParamError as err:  # a bug in a declaration, not user input
                raise ValueError(f"{self.id}: preset {name!r} is invalid: {err}") from None
        if unknown := set(self.book_result) - set(presets):
            raise ValueError(f"{self.id}: book_result names no preset {sorted(unknown)}")

    @property
    def can_resume(self) -> bool:
        return self.resumable and not self.demo

    @property
    def title(self) -> str:
        return f"{self.lecture:02d} {self.title_en}"

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params)
        raise ParamError(name, f"unknown parameter for {self.id} (known: {known})")

    def defaults(self, preset: str = "book") -> dict[str, Value]:
        """The values of a preset, before any user overrides."""
        if preset not in self.presets:
            raise ParamError("preset",
                             f"must be one of {', '.join(self.presets)} (got {_shown(preset)})")
        values = {p.name: p.default for p in self.params}
        values.update(self.presets[preset])
        return values

    def resolve(self, preset: str = "book", overrides: Mapping[str, Any] | None = None) -> Params:
        """Preset values with user overrides applied, every value validated by the same rules."""
        values = self.defaults(preset)
        for name, raw in (overrides or {}).items():
            values[name] = self.param(name).parse(raw)
        for p in self.params:  # presets and defaults too, and typed: lr=5 declared is 5.0
            values[p.name] = p.parse(values[p.name])
        params = Params(values)
        for rule in self.rules:
            rule(params)
        return params


# Every run takes a seed besides its experiment's parameters; the form and --seed check it alike.
SEED = Param("seed", int, 0, "random seed: the same seed gives the same run", min=0,
             max=2**32 - 1)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["lr=0.1", "epochs=3"]`` -> ``{"lr": "0.1", "epochs": "3"}``; the values stay text."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParamError("--set", f"expected key=value (got {_shown(pair)})")
        result[name.strip()] = value
    return result
