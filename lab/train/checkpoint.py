"""Checkpoints a run can continue from: ``last.pt`` after every epoch, ``best.pt`` for the best
epoch by the main metric, and the random state that makes a resumed run end bitwise equal to an
uninterrupted one.

``last.pt`` holds ``state`` (every tracked object's ``state_dict``), ``epoch``, ``metrics``,
``elapsed``, ``best`` and ``rng`` (torch's generators, and the device's). Both files are written
atomically: a temp file, then a rename, so a kill or a full disk mid-write leaves the previous one
whole and no temp file behind.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import torch

LAST, BEST, FINAL = "last.pt", "best.pt", "final.pt"
# Metrics a higher value of which is better; every other metric (losses, perplexity, rmse) is
# better lower. The first of PREFERRED a run reports is its main metric.
PREFERRED = ("test_acc", "valid_acc", "bleu", "test_loss", "valid_loss", "loss", "perplexity")


def higher_is_better(name: str) -> bool:
    return "acc" in name or name.startswith("bleu")


def main_metric(metrics: dict[str, float], chosen: str = "") -> str | None:
    """The metric that picks the best epoch: the experiment's choice, else the first of
    PREFERRED present, else the first an accuracy, else the first reported."""
    if chosen and chosen in metrics:
        return chosen
    for name in PREFERRED:
        if name in metrics:
            return name
    accuracies = [name for name in metrics if higher_is_better(name)]
    return accuracies[0] if accuracies else next(iter(metrics), None)


def improves(value: float, best: float | None, name: str) -> bool:
    if best is None:
        return True
    return value > best if higher_is_better(name) else value < best


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    """Restore what ``rng_state`` saved; a run resumed on another kind of device keeps the CPU
    generator (its data order) and starts the device's from the seed."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    elif device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"])


def write_atomic(payload: Any, path: Path) -> None:
    def save(tmp: Path) -> None:
        # Through a Python file: a full disk is then an OSError (ENOSPC), where torch's own
        # writer would say "unexpected pos".
        with tmp.open("wb") as file:
            torch.save(payload, file)

    _replace(path, path.with_suffix(".tmp"), save)


def keep_as_best(last: Path) -> None:
    """Make ``best.pt`` the checkpoint just written as ``last.pt``: a hard link costs no copy
    (the next ``last.pt`` is a new file, the link keeps this one); a copy where links fail."""

    def link(tmp: Path) -> None:
        tmp.unlink(missing_ok=True)  # a link is not made over a file
        try:
            os.link(last, tmp)
        except OSError:
            shutil.copyfile(last, tmp)

    _replace(last.with_name(BEST), last.with_name("best.tmp"), link)


def _replace(path: Path, tmp: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)``, then rename it to ``path``. If anything fails (a full disk, a read-only
    folder, Ctrl+C), ``path`` stays as it was and no temp file is left."""
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def load(path: Path) -> dict[str, Any]:
    """On the CPU: generator states must live there, and ``load_state_dict`` moves the rest."""
    return torch.load(path, map_location="cpu", weights_only=True)
