"""Does drawing attention slow training down? (issue 6: within 5%.)

    python benchmarks/heatmap_training.py [--rounds 3] [--epochs 30] [--fra-zip PATH]

Trains the `transformer` (book sizes) in the real TUI, headless at 80×24, with its attention
heatmaps on screen (they redraw each time the run sends them: every 10 epochs and at the end) and
with the loss plot on screen instead, alternating the two, and compares the runs' tokens/s (the
median over the run's epochs of the runner's own per-epoch measure) and wall times. The fra-eng
text is imported into a temporary lab home from ``--fra-zip`` (not the book's archive, hence the
override).
Nothing is asserted; the ratio is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRA_ZIP = ROOT.parent / "shared" / "data" / "sha1_mismatch" / "fra-eng.zip"


async def one_run(epochs: int, heatmaps_on_screen: bool) -> tuple[float, float]:
    """(median tokens/s of the epochs, wall seconds) of one transformer run in the TUI."""
    from textual.widgets import Input

    from lab.events import EpochEnd
    from lab.store import read_events
    from tui.app import LabApp
    from tui.widgets.heatmap import HeatmapView

    app = LabApp("transformer", probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        field = app.query_one("#param-epochs", Input)
        field.value = str(epochs)
        await pilot.pause()
        started = time.perf_counter()
        await pilot.press("ctrl+r")
        maps = app.query_one(HeatmapView)
        while app.handle is None or not app.handle.done.is_set():
            if heatmaps_on_screen and maps.data and not maps.display:
                await pilot.press("ctrl+f")  # metrics → heatmaps (the run has no figures)
            await pilot.pause(0.05)
        wall = time.perf_counter() - started
        await pilot.pause(0.1)
        result = app.handle.result
        assert result is not None and result.status == "finished", "the run failed"
        assert maps.display == heatmaps_on_screen
        speeds = [e.examples_per_sec for e in read_events(result.run_dir)
                  if isinstance(e, EpochEnd)]
        return statistics.median(speeds), wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per side, alternating")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run")
    parser.add_argument("--fra-zip", type=Path, default=FRA_ZIP, help="the fra-eng archive")
    args = parser.parse_args(argv)

    os.environ["D2L_LAB_HOME"] = tempfile.mkdtemp(prefix="d2l-lab-bench-")
    sys.path.insert(0, str(ROOT))
    from lab.data import hub

    hub.import_dir("fra-eng", args.fra_zip, accept_checksum=True)
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(args.rounds):
        for on_screen in (False, True):
            results[on_screen].append(asyncio.run(one_run(args.epochs, on_screen)))
    print(f"transformer, {args.epochs} epochs, {args.rounds} rounds, medians:")
    print(f"{'on screen':<12}{'tokens/s':>12}{'wall s':>10}")
    for on_screen, label in ((False, "loss plot"), (True, "heatmaps")):
        speeds, walls = zip(*results[on_screen], strict=True)
        print(f"{label:<12}{statistics.median(speeds):>12,.0f}{statistics.median(walls):>10.1f}")
    ratio = (statistics.median(s for s, _ in results[True])
             / statistics.median(s for s, _ in results[False]))
    print(f"heatmaps / plot tokens/s: {ratio:.3f} (goal: at least 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
