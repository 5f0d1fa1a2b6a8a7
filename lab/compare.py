"""What sets runs apart: the hyperparameters that differ between them, and names built from those.

Shared by ``d2l-lab runs compare`` and the TUI's Runs screen; plain data only (no torch, no
store), so either can call it on records it already holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.store import RunRecord

MISSING = "-"  # a hyperparameter a run does not have (runs of different experiments)
_STORE_ID = re.compile(r"\d{8}-\d{6}-(?P<experiment>.+)-(?P<token>[0-9a-f]+)")  # Store.new_run_id


def union(dicts: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key of the dicts, in order of first appearance."""
    return list(dict.fromkeys(key for d in dicts for key in d))


def differing_params(params: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """The names whose values differ between the runs' params (a name some runs lack differs),
    and those the same in all; each in order of first appearance."""
    differing, same = [], []
    for name in union(params):
        values = [p.get(name, MISSING) for p in params]
        (same if all(v == values[0] for v in values) else differing).append(name)
    return differing, same


def format_param(value: Any) -> str:
    """A hyperparameter as a user would type it: text as it is, numbers and lists as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def short_ids(records: Sequence[RunRecord]) -> list[str]:
    """Ids without their experiment (shown beside them): 20250101-120000-ab12; whole ids where
    that would make two alike."""
    short = [r.id.replace(f"-{r.experiment}-", "-", 1) for r in records]
    return short if len(set(short)) == len(short) else [r.id for r in records]


def short_id(record: RunRecord) -> str:
    """The random end of a run's id, where its date and experiment are shown beside it: ab12;
    the whole id when it was not made by the store."""
    match = _STORE_ID.fullmatch(record.id)
    ok = match is not None and match["experiment"] == record.experiment
    return match["token"] if ok else record.id


def run_labels(records: Sequence[RunRecord]) -> list[str]:
    """A name per run for a legend, from what sets it apart: "lr=0.3" for a sweep, with the
    experiment when they differ and the seed when it differs; runs alike in all of that are
    told apart by their ``short_id``."""
    differing, _ = differing_params([r.params for r in records])
    experiments = len({r.experiment for r in records}) > 1
    seeds = len({r.seed for r in records}) > 1
    labels = []
    for r in records:
        parts = [r.experiment] if experiments else []
        parts += [f"{n}={format_param(r.params[n])}" for n in differing if n in r.params]
        parts += [f"seed={r.seed}"] if seeds else []
        labels.append(" ".join(parts))
    if len(records) > 1 and all(labels) and len(set(labels)) == len(labels):
        return labels
    ids = [short_id(r) for r in records]  # as the Runs screen's list shows them
    ids = ids if len(set(ids)) == len(ids) else short_ids(records)
    return [f"{label} {i}" if label else i for label, i in zip(labels, ids, strict=True)]


Epochs = Sequence[tuple[int, Mapping[str, float]]]  # (epoch, metrics), as Store.epochs gives


def metric_names(runs: Iterable[Epochs]) -> list[str]:
    """The metrics recorded at some epoch of some run, in order of first appearance."""
    return union(metrics for epochs in runs for _, metrics in epochs)


def metric_curves(runs: Mapping[str, Epochs], metric: str) -> dict[str, list[tuple[float, float]]]:
    """Each run's ``metric`` against the epoch (empty for a run that never recorded it)."""
    return {name: [(float(epoch), float(m[metric])) for epoch, m in epochs if metric in m]
            for name, epochs in runs.items()}
