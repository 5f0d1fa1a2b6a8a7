"""How long the live plot takes to redraw a long history (issue 9: 10,000 points in under 20 ms).

    python benchmarks/plot_speed.py [--rounds 20] [--points 10000] [--json]

A LivePlot (tui/widgets/plot.py) in a headless Textual app, filling a screen of 100x30 and of
80x24, is fed one of two histories of ``--points`` points:

* **epochs**: that many EpochEnd events, each with train_loss, train_acc and test_acc (the
  per-epoch series, the book's Animator curves, as a long run of a small model leaves them);
* **batches**: that many per-batch losses in Progress events (10 epochs, a tick every 50
  batches) with the 10 epochs' metrics: the faint per-batch line under them.

One redraw is what the plot's timer does after new data: ``redraw()`` (the chart built by
plotext, parsed into rich Text, the changed rows marked) and then every row rendered
(``render_line``, what the compositor asks for next). Each round first adds one more point, so
every redraw has new data. The figure is the median over ``--rounds``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import time

from textual.app import App, ComposeResult

from lab.events import EpochEnd, Event, Progress
from tui.widgets.plot import LivePlot

GOAL_MS = 20.0
SIZES = ((100, 30), (80, 24))
BATCH_EPOCHS, TICK = 10, 50


def loss_at(t: float, rng: random.Random) -> float:
    """A falling, noisy loss (t in [0, 1])."""
    return 0.3 + 2.0 * math.exp(-5 * t) + rng.gauss(0, 0.05)


def epoch_history(points: int, seed: int = 0) -> list[Event]:
    rng = random.Random(seed)
    events: list[Event] = []
    for e in range(1, points + 1):
        loss = loss_at(e / points, rng)
        events.append(EpochEnd(e, points, {"train_loss": loss, "train_acc": 1 - loss / 3,
                                           "test_acc": 0.95 - loss / 3}, 1000.0, float(e)))
    return events


def batch_history(points: int, seed: int = 0) -> list[Event]:
    rng = random.Random(seed)
    steps = max(points // BATCH_EPOCHS, 1)
    events: list[Event] = []
    for e in range(1, BATCH_EPOCHS + 1):
        losses = [loss_at(((e - 1) * steps + s) / points, rng) for s in range(steps)]
        for done in range(TICK, steps + TICK, TICK):
            done = min(done, steps)
            events.append(Progress(e, BATCH_EPOCHS, done, steps, losses[done - TICK:done],
                                   1000.0, float(e)))
        mean = sum(losses) / len(losses)
        events.append(EpochEnd(e, BATCH_EPOCHS, {"train_loss": mean, "test_acc": 1 - mean / 3},
                               1000.0, float(e)))
    return events


HISTORIES = {"epochs": epoch_history, "batches": batch_history}


class Host(App):
    def compose(self) -> ComposeResult:
        yield LivePlot()


async def redraw_ms(history: str, points: int, size: tuple[int, int], rounds: int) -> float:
    app = Host()
    async with app.run_test(size=size) as pilot:
        plot = app.query_one(LivePlot)
        events = HISTORIES[history](points)
        for event in events:
            plot.add(event)
        plot.redraw()
        await pilot.pause()
        extra = HISTORIES[history](points + rounds, seed=1)[-rounds:]  # one new point a round
        height = plot.size.height
        times = []
        for event in extra:
            plot.add(event)
            start = time.perf_counter()
            plot.redraw()
            for y in range(height):
                plot.render_line(y)
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)


def measure(points: int, rounds: int) -> list[dict]:
    rows = []
    for history in HISTORIES:
        for size in SIZES:
            ms = asyncio.run(redraw_ms(history, points, size, rounds))
            rows.append({"history": f"{points:,} {history}", "screen": f"{size[0]}x{size[1]}",
                         "ms": ms})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="redraws timed per figure")
    parser.add_argument("--points", type=int, default=10_000, help="points in the history")
    parser.add_argument("--json", action="store_true", help="the rows as one JSON line")
    args = parser.parse_args(argv)
    rows = measure(args.points, args.rounds)
    if args.json:
        print(json.dumps({"goal_ms": GOAL_MS, "rows": rows}))
        return 0
    print(f"{'history':<18}{'screen':>8}{'redraw ms':>12}   (median of {args.rounds})")
    for row in rows:
        verdict = "ok" if row["ms"] <= GOAL_MS else "SLOW"
        print(f"{row['history']:<18}{row['screen']:>8}{row['ms']:>12.2f}   {verdict}")
    print(f"goal: a {args.points:,}-point history redrawn in under {GOAL_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
