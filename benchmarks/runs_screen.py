"""The Runs screen with a long history: opening it and filtering it, with 1000 recorded runs
against 10 (the baseline, in the same process).

    python benchmarks/runs_screen.py [--runs 1000] [--rounds 5] [--profile] [--json]

Goal (issue 7): each under 0.5 s with 1000 runs. Opening is pushing the screen until its table
is filled and painted; filtering is typing a filter's text until the table shows the runs that
pass. Each figure is the median of several rounds in one Textual app; nothing is asserted here
(the tests check what keeps it quick: one query, each run's cells built once, only the rows on
screen drawn).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EXPERIMENTS = ("mlp", "mlp-scratch", "softmax", "lenet", "linreg")
STATUSES = ("finished", "finished", "stopped", "diverged", "failed")
GOAL_S = 0.5  # each of opening and filtering, with 1000 runs


def fill_store(count: int, home: Path | None = None):
    """A store with ``count`` ended runs of five experiments (each fifth: 1 in 5 diverged), three
    epochs each, written in one transaction as a long-used lab would have them. Returns it."""
    from lab.store import RunRecord, Store

    store = Store(home)
    columns = [f.name for f in fields(RunRecord)]
    runs, epochs = [], []
    start = time.time() - 86400
    for i in range(count):
        exp = EXPERIMENTS[i % len(EXPERIMENTS)]
        metrics = {"train_loss": 1.0 / (i + 1), "train_acc": 0.5, "test_acc": 0.4 + i / count / 2}
        values = {"id": f"20260101-{i:06d}-{exp}-{i:04x}", "experiment": exp, "preset": "book",
                  "device": "cpu", "seed": i, "params": json.dumps({"lr": 0.1 * (i % 7 + 1),
                                                                      "epochs": 3}),
                  "status": STATUSES[i // 5 % 5], "reason": "", "epochs_done": 3,
                  "metrics": json.dumps(metrics), "started_at": start + 60 * i,
                  "ended_at": start + 60 * i + 30, "sweep": ""}
        runs.append(tuple(values[name] for name in columns))
        epochs += [(values["id"], e, json.dumps(metrics), float(e)) for e in (1, 2, 3)]
    with sqlite3.connect(store.db_path) as db:
        db.executemany(f"INSERT INTO runs ({', '.join(columns)}) "
                       f"VALUES ({', '.join('?' * len(columns))})", runs)
        db.executemany("INSERT INTO epochs VALUES (?, ?, ?, ?)", epochs)
    return store


async def measure(count: int, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds to open the screen and to filter it, each round, with ``count`` runs."""
    from textual.app import App
    from textual.widgets import Input

    from tui.app import LabApp
    from tui.screens.runs import RunsScreen
    from tui.widgets.runs_table import RunsTable

    class Bench(App[None]):
        CSS_PATH = LabApp.CSS_PATH

    with tempfile.TemporaryDirectory() as home:
        store = fill_store(count, Path(home))
        opened, filtered = [], []
        app = Bench()
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            for _ in range(rounds):
                began = time.perf_counter()
                await app.push_screen(RunsScreen(store))
                await pilot.pause()
                opened.append(time.perf_counter() - began)
                table = app.screen.query_one(RunsTable)
                assert table.row_count == count
                began = time.perf_counter()
                app.screen.query_one("#runs-filter", Input).value = "lenet"
                await pilot.pause()
                filtered.append(time.perf_counter() - began)
                assert table.row_count == count // len(EXPERIMENTS)
                app.pop_screen()
                await pilot.pause()
    return opened, filtered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="profile the long history")
    parser.add_argument("--json", action="store_true",
                        help="{figure: [seconds, ...]} and the goals as one JSON line")
    args = parser.parse_args()
    os.environ.setdefault("D2L_LAB_HOME", tempfile.mkdtemp(prefix="d2l-lab-bench-"))
    base_open, base_filter = asyncio.run(measure(args.baseline, args.rounds))
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
    long_open, long_filter = asyncio.run(measure(args.runs, args.rounds))
    if args.profile:
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    if args.json:
        times = {f"open the Runs screen, {args.runs} runs": long_open,
                 f"filter the Runs screen, {args.runs} runs": long_filter}
        print(json.dumps({"goals_s": dict.fromkeys(times, GOAL_S), "times": times}))
        return
    median = statistics.median
    print(f"{'':>10} {args.baseline:>8} runs {args.runs:>8} runs {'ratio':>7}  goal")
    for name, base, long in (("open", base_open, long_open),
                             ("filter", base_filter, long_filter)):
        print(f"{name:>10} {median(base):>10.3f} s {median(long):>10.3f} s "
              f"{median(long) / median(base):>6.1f}x  < {GOAL_S} s")


if __name__ == "__main__":
    main()
