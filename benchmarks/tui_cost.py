"""What watching costs: the same run headless and inside the lab, plots on screen (issue 9: the
lab at 95% or more of the headless speed).

    python benchmarks/tui_cost.py [--cases softmax,rnn,transformer] [--rounds 3]

Each measurement is a fresh process, as a learner starts one: `headless` runs the experiment
through the runner alone (what `d2l-lab run` does, without its terminal output), `lab` opens
the real app headless at 100x30, presses ctrl+r (the lab hands the run to its worker process)
and waits for the end with the loss plot on screen. The figure is the
median over the run's epochs of the runner's own examples/s (tokens/s for text); the two sides
alternate, and the ratio is the median of the rounds' ratios (adjacent runs share the machine's
load, as in the suite), printed with their quartiles and with the share of a core the lab's own
process (the interface, not the worker that trains) used while the run went on.

On a shared machine whose speed changes from one run to the next, each round also measures
`paired`: one run in the lab whose interface is stopped (SIGSTOP) and continued every 4
epochs, the worker training on; the ratio of the epochs it watched to those it did not, within
the run. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRA_ZIP = ROOT.parent / "shared" / "data" / "sha1_mismatch" / "fra-eng.zip"
TIME_MACHINE = ROOT.parent / "shared" / "data"
# Each about 5–15 s of training on 2 cores: long enough to be steady, short enough to repeat.
CASES: dict[str, tuple[str, str, dict[str, str]]] = {
    "softmax": ("softmax", "quick", {"epochs": "40"}),  # 0.2 s an epoch: 3 were all start-up
    "mlp": ("mlp", "quick", {"epochs": "2"}),
    "lenet": ("lenet", "quick", {"epochs": "1"}),
    "rnn": ("rnn", "quick", {"epochs": "60"}),
    "transformer": ("transformer", "book", {"epochs": "40"}),
}
PHASE = 4  # epochs watched, then as many with the interface stopped (paired)


def speeds(run_dir: Path) -> list[float]:
    from lab.events import EpochEnd
    from lab.store import read_events

    return [e.examples_per_sec for e in read_events(run_dir) if isinstance(e, EpochEnd)]


def headless(case: str) -> float:
    from lab import catalog, runner

    exp_id, preset, overrides = CASES[case]
    exp = catalog.get(exp_id)
    result = runner.run(exp, exp.resolve(preset, overrides), preset=preset)
    assert result.status == "finished", result.reason
    return statistics.median(speeds(result.run_dir))


async def in_the_lab(case: str) -> tuple[float, float]:
    from textual.widgets import Input, Select

    from tui.app import LabApp

    exp_id, preset, overrides = CASES[case]
    app = LabApp(exp_id, probe=False)
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one("#preset", Select).value = preset
        await pilot.pause()
        for name, value in overrides.items():
            app.query_one(f"#param-{name}", Input).value = value
        await pilot.pause()
        await pilot.press("ctrl+r")
        cpu, wall = time.process_time(), time.perf_counter()
        while app.handle is None or not app.handle.done.is_set():
            await asyncio.sleep(0.2)  # not pilot.pause: it would force a repaint each time
        share = (time.process_time() - cpu) / (time.perf_counter() - wall)
        await pilot.pause(0.1)
        result = app.handle.result
        assert result is not None and result.status == "finished", "the run failed"
        return statistics.median(speeds(result.run_dir)), share


def child(mode: str, case: str) -> None:
    sys.path.insert(0, str(ROOT))
    speed, share = (headless(case), 0.0) if mode == "headless" else asyncio.run(in_the_lab(case))
    print(json.dumps({"speed": speed, "ui_share": share}))


def measure(mode: str, case: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", mode, case], env=env,
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def paired(case: str, env: dict[str, str]) -> float | None:
    """The lab's speed with its interface watching over that with the interface stopped, in one
    run: the app (a child process) is stopped (SIGSTOP) and continued every PHASE epochs, while
    its worker trains on; an epoch counts if the whole of it ran in one state (not the first of
    its phase, when the state changed, nor the catching up after it). None for a case of too
    few epochs."""
    epochs = int(CASES[case][2].get("epochs", "0"))
    if epochs < 4 * PHASE:
        return None
    runs = Path(env["D2L_LAB_HOME"]) / "runs"
    before = set(runs.glob("*")) if runs.exists() else set()
    app = subprocess.Popen([sys.executable, __file__, "--child", "lab", case], env=env,
                           stdout=subprocess.DEVNULL, cwd=ROOT)
    watched: dict[bool, list[float]] = {True: [], False: []}
    events, read = None, 0
    try:
        while app.poll() is None:
            time.sleep(0.05)
            if events is None:
                new = set(runs.glob("*/events.jsonl")) - {d / "events.jsonl" for d in before}
                events = next(iter(new), None)
                continue
            with events.open(encoding="utf-8") as f:
                f.seek(read)
                lines = f.read()
            complete = lines[:lines.rfind("\n") + 1]  # a line still being written: next time
            read += len(complete.encode())
            for line in complete.splitlines():
                event = json.loads(line)
                if event.get("kind") != "epoch":
                    continue
                done = event["epoch"]  # 1, 2, …: the next one runs watched or not
                if (done - 1) % PHASE:
                    watched[_watching(done)].append(event["examples_per_sec"])
                last = done >= event["epochs"]  # the app must see the run end
                app.send_signal(signal.SIGCONT if last or _watching(done + 1) else signal.SIGSTOP)
    finally:
        app.send_signal(signal.SIGCONT)
        app.wait()
    return statistics.median(watched[True]) / statistics.median(watched[False])


def _spread(ratios: list[float]) -> str:
    """The median of the rounds' ratios and their quartiles, as columns."""
    low, high = statistics.quantiles(ratios, n=4)[::2] if len(ratios) > 1 else ratios * 2
    return f"{statistics.median(ratios):>7.2f}{f'{low:.2f}–{high:.2f}':>12}"


def _watching(epoch: int) -> bool:
    return (epoch - 1) // PHASE % 2 == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="softmax,rnn,transformer",
                        help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--rounds", type=int, default=5, help="runs per side, alternating")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    home = tempfile.mkdtemp(prefix="d2l-lab-bench-")
    env = {**os.environ, "D2L_LAB_HOME": home, "D2L_LAB_DATA": str(TIME_MACHINE)}
    sys.path.insert(0, str(ROOT))
    os.environ.update(env)
    from lab.data import hub

    if FRA_ZIP.exists():
        hub.import_dir("fra-eng", FRA_ZIP, accept_checksum=True)
    print(f"{'case':<13}{'headless':>10}{'in the lab':>12}{'ratio':>7}{'rounds':>12}"
          f"{'paired':>8}{'rounds':>12}{'UI core':>9}")
    for case in args.cases.split(","):
        results: dict[str, list[dict[str, float]]] = {"headless": [], "lab": []}
        pairs = []
        for _ in range(args.rounds):
            for mode in results:
                results[mode].append(measure(mode, case, env))
            pairs.append(paired(case, env))
        h, t = (statistics.median(r["speed"] for r in results[mode]) for mode in results)
        ratio = _spread([lab["speed"] / alone["speed"] for alone, lab in
                         zip(results["headless"], results["lab"], strict=True)])
        pair = _spread(pairs) if None not in pairs else "-".rjust(20)
        share = statistics.median(r["ui_share"] for r in results["lab"])
        print(f"{case:<13}{h:>10,.0f}{t:>12,.0f}{ratio}{pair}{share:>9.0%}", flush=True)
    print("(median ex/s or tok/s of the runs; ratios: their median over the rounds and quartiles)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
