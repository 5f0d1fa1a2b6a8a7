"""How long a heatmap takes to redraw (issue 6: a 64×64 heatmap in under 20 ms).

    python benchmarks/heatmap_speed.py [--rounds 50] [--json]

Times, in milliseconds per redraw (the median of ``--rounds``):

* **layout**: lab/heatmaps.py laying a heatmap out and producing every line (what the CLI and
  the widget both start from);
* **new**: the TUI's HeatmapView drawing every line of a heatmap it has not seen (an
  epoch's update: layout, strips, then ``render_line`` for each line);
* **again**: every line again, unchanged (a repaint: the strips are cached);
* **cursor**: one cursor move and every line drawn again (only the cursor's lines are new);
* **cli**: ``render_heatmap`` to rich Text and printed at 256 colours into a string.

Matrices: 64×64 attention weights (positions), 10×10 token weights ("tok"), and a 60×32 positional
encoding ("±", signed).

The widget runs in a headless Textual app at 80×24 (a pane of 50×15) and at 120×40. Nothing is
asserted; the goal column says whether the 64×64 redraw is under 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import random
import statistics
import time
from collections.abc import Callable

from rich import box
from rich.console import Console
from rich.table import Table
from textual.app import App, ComposeResult

from lab.events import Heatmap
from lab.heatmaps import HeatmapLayout, render_heatmap
from tui.widgets.heatmap import HeatmapView

GOAL_MS = 20.0


def attention(n: int, m: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        scores = [math.exp(rng.gauss(0, 2)) for _ in range(m)]
        total = sum(scores)
        rows.append([s / total for s in scores])
    return rows


def cases(seed: int) -> dict[str, Heatmap]:
    positions = [str(i) for i in range(64)]
    tokens = ["i'm", "home", ".", "<eos>", "<pad>", "<pad>", "<pad>", "<pad>", "<pad>", "<pad>"]
    encoding = [[math.sin(i / 10000 ** (j / 32)) if j % 2 == 0
                 else math.cos(i / 10000 ** ((j - 1) / 32)) for j in range(32)]
                for i in range(60)]
    return {
        "64×64": Heatmap("attention", "64×64", attention(64, 64, seed), positions, positions),
        "10×10 tok": Heatmap("attention", "tokens", attention(10, 10, seed), tokens, tokens),
        "60×32 ±": Heatmap("positional encoding", "sin/cos", encoding, positions[:60],
                                positions[:32]),
    }


def median_ms(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


class Host(App):
    CSS = "#pane { width: 50; height: 15; }"

    def __init__(self, pane: bool) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield HeatmapView(id="pane" if self.pane else None)


async def widget_times(heatmap: Heatmap, size: tuple[int, int],
                       rounds: int) -> tuple[tuple[int, int], dict[str, float]]:
    """The widget's pane size, and its times per redraw."""
    app = Host(pane=size == (80, 24))
    async with app.run_test(size=size) as pilot:
        view = app.query_one(HeatmapView)
        view.add(heatmap)
        await pilot.pause()
        width, height = view.size
        fresh = [Heatmap(heatmap.group, heatmap.title, heatmap.matrix, heatmap.rows, heatmap.cols,
                         epoch=e) for e in range(rounds + 1)]  # equal matrices, new events
        moves = iter(range(10**9))

        def draw() -> None:
            for y in range(height):
                view.render_line(y)

        def new() -> None:
            view.add(fresh.pop())
            draw()

        def cursor() -> None:
            view.action_move(1 if next(moves) % 2 else -1, 1)  # zigzag down the diagonal
            draw()

        return (width, height), {"new": median_ms(new, rounds),
                                 "again": median_ms(draw, rounds),
                                 "cursor": median_ms(cursor, rounds)}


def cli_ms(heatmap: Heatmap, width: int, rounds: int) -> float:
    def draw() -> None:
        console = Console(file=io.StringIO(), width=width, color_system="256",
                          force_terminal=True)
        console.print(render_heatmap(heatmap, width))

    return median_ms(draw, rounds)


def measure(rounds: int, seed: int = 0) -> list[dict]:
    """One row per matrix and screen size: the pane's size and the times, in ms."""
    rows = []
    for name, heatmap in cases(seed).items():
        for size in ((80, 24), (120, 40)):
            (width, height), times = asyncio.run(widget_times(heatmap, size, rounds))
            layout = median_ms(lambda h=heatmap, w=width, ht=height: HeatmapLayout(
                h, w, ht - 1).lines(), rounds)
            cli = cli_ms(heatmap, size[0], rounds)
            rows.append({"matrix": name, "screen": f"{size[0]}x{size[1]}",
                         "pane": f"{width}x{height}", "layout": layout, **times, "cli": cli,
                         "worst": max(layout, times["new"], cli)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="the rows as one JSON line")
    args = parser.parse_args(argv)
    rows = measure(args.rounds, args.seed)
    if args.json:
        print(json.dumps({"goal_ms": GOAL_MS, "rows": rows}))
        return

    table = Table(title="heatmap redraw, ms (median)", box=box.SIMPLE_HEAD)
    for column in ("matrix", "screen", "pane", "layout", "new", "again", "cursor", "cli", "goal"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        goal = ("ok" if row["worst"] < GOAL_MS else "SLOW") if row["matrix"] == "64×64" else ""
        table.add_row(row["matrix"], row["screen"].replace("x", "×"),
                      row["pane"].replace("x", "×"), f"{row['layout']:.2f}",
                      f"{row['new']:.2f}", f"{row['again']:.3f}", f"{row['cursor']:.2f}",
                      f"{row['cli']:.2f}", goal)
    Console().print(table)
    print(f"goal: a 64×64 heatmap redrawn in under {GOAL_MS:.0f} ms (layout, widget, cli)")


if __name__ == "__main__":
    main()
