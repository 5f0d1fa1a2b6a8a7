"""What the lab writes to a terminal and how soon a key shows, through a real pseudo-terminal at
80x24, as over SSH (issue 8).

    python benchmarks/terminal_io.py [--seconds 5] [--presses 40]

For each terminal (TERM=xterm-256color without COLORTERM, with COLORTERM=truecolor, TERM=screen,
NO_COLOR=1), a fresh lab process at linreg-scratch:

* **idle B/s**: bytes per second once the first paint and the device probe are done, the
  catalog focused; **blink B/s**: the same with a field focused (its cursor blinks);
* **run B/s**: with a run on screen in steady state (batch_size=1, epochs=200, typed into the
  form; measured from 2 s after it starts);
* **key p50/p95 ms**: ctrl+t switching Setup/Train while that run's thread trains, from writing
  the key to the terminal receiving the other tab.

Goals: run under 10 KiB/s, idle near zero, key p95 under 100 ms (tests/tui/test_terminals.py
checks the bytes for xterm-256color, and that keys are answered, untimed). Nothing is asserted
here; a busy machine shows in the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ptyapp import (  # noqa: E402  (run as a script: benchmarks/ is sys.path[0])
    open_lab,
    start_long_run,
    stop_run,
    tab_switch_latencies,
)

TERMINALS = {
    "xterm-256color": {"TERM": "xterm-256color"},
    "xterm truecolor": {"TERM": "xterm-256color", "COLORTERM": "truecolor"},
    "screen": {"TERM": "screen"},
    "NO_COLOR": {"TERM": "xterm-256color", "NO_COLOR": "1"},
}


def measure(env: dict[str, str], seconds: float, presses: int) -> dict[str, float]:
    with open_lab(env) as app:
        app.wait_until(lambda: app.has_loaded("libtorch"), 30, "the device probe")
        app.wait_idle(30)
        app.settle(0.5)
        idle = app.read(seconds) / seconds
        app.type(*["tab"] * 5)  # the seed field: its cursor blinks
        app.settle(0.5)
        blink = app.read(seconds) / seconds
        app.type(*["shift+tab"] * 5)
        start_long_run(app)
        app.read(2.0)
        run = app.read(seconds) / seconds
        latencies = sorted(tab_switch_latencies(app, presses))
        stop_run(app)
        app.press("ctrl+q")
        app.wait_exit(10)
    p95 = latencies[max(round(0.95 * len(latencies)) - 1, 0)]
    return {"idle": idle, "blink": blink, "run": run,
            "p50": statistics.median(latencies) * 1000, "p95": p95 * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="each byte count's span")
    parser.add_argument("--presses", type=int, default=40, help="ctrl+t presses timed")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("| terminal | idle B/s | blink B/s | run B/s | key p50 ms | key p95 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, settings in TERMINALS.items():
        with tempfile.TemporaryDirectory() as home:
            env = {name: value for name, value in os.environ.items()
                   if name not in ("COLORTERM", "NO_COLOR", "TEXTUAL_COLOR_SYSTEM")}
            env.update(settings, D2L_LAB_HOME=home, D2L_LAB_OFFLINE="1", OMP_NUM_THREADS="1")
            r = measure(env, args.seconds, args.presses)
        print(f"| {name} | {r['idle']:.0f} | {r['blink']:.0f} | {r['run']:.0f} "
              f"| {r['p50']:.0f} | {r['p95']:.0f} |", flush=True)
    print(f"goals: run < {10 * 1024} B/s, idle ≈ 0, key p95 < 100 ms")


if __name__ == "__main__":
    main()
