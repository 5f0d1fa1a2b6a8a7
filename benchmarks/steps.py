"""Training steps timed against each other in one process (lm_step.py, nmt_step.py): rounds of a
few steps of each side in turn, the order reversed every other round, so that the machine's
drift falls on both sides alike."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from lab.train.host_memory import keep_freed_memory

Step = Callable[[], None]


def per_step_ms(step: Step, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1e3


def alternate(sides: dict[str, Step], rounds: int, steps: int) -> dict[str, list[float]]:
    """Each side's ms per step, one figure per round."""
    for step in sides.values():  # oneDNN's kernels, the allocator: once
        per_step_ms(step, steps)
    times: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(rounds):
        for name in list(sides) if r % 2 == 0 else list(reversed(sides)):
            times[name].append(per_step_ms(sides[name], steps))
    return times


def main(doc: str, cases: str, steps: int, measure: Callable[[str, int], dict[str, list[float]]],
         argv: list[str] | None) -> int:
    """Time each case's sides (``measure(case, rounds)``: book, lab, and any other), printing a
    row per case: the median ms per step of each side, and the median of the rounds' book/lab
    ratios with their quartiles."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--cases", default=cases,
                        help=f"comma-separated: {cases.replace(',', ', ')}")
    parser.add_argument("--rounds", type=int, default=40,
                        help=f"rounds of {steps} steps per side")
    args = parser.parse_args(argv)
    keep_freed_memory()
    header = True
    for case in args.cases.split(","):
        times = measure(case, args.rounds)
        if header:
            print(f"{'case':<13}" + "".join(f"{side + ' ms':>{len(side) + 5}}" for side in times)
                  + f"{'lab/book':>10}{'quartiles':>14}   (torch {torch.__version__}, "
                  f"{torch.get_num_threads()} threads)")
            header = False
        ratios = [b / lab for b, lab in zip(times["book"], times["lab"], strict=True)]
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        print(f"{case:<13}" + "".join(f"{statistics.median(t):>{len(side) + 5}.2f}"
                                      for side, t in times.items())
              + f"{statistics.median(ratios):>9.2f}×{f'{q1:.2f}–{q3:.2f}':>14}", flush=True)
    return 0
