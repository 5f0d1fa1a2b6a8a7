"""How long a learner waits: `d2l-lab list` and `--help`, the TUI's first paint, and quitting the
TUI while an experiment trains (through a real pseudo-terminal, as over SSH).

    python benchmarks/startup.py [--rounds 5] [--json]

Goals (issue 2): list and --help under 0.5 s, first paint under 1.5 s, quit under 2 s. Each
figure is the median of several fresh processes; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
D2L_LAB = shutil.which("d2l-lab") or str(Path(sys.executable).with_name("d2l-lab"))

FIRST_PAINT = textwrap.dedent("""
    import asyncio, json, time
    from tui.app import LabApp

    async def main():
        app = LabApp(probe=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            return app.painted_at

    print(json.dumps({"painted": asyncio.run(main())}))
""")


def wall(command: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.monotonic() - started


def first_paint(env: dict[str, str]) -> float:
    """From spawning the interpreter to the app's first paint (CLOCK_MONOTONIC is system-wide)."""
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", FIRST_PAINT], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["painted"] - started


def quit_while_training(env: dict[str, str], home: Path) -> float:
    """Open the lab at softmax-scratch in a pty, press ctrl+r, and once it trains press ctrl+q;
    the time from the key to the shell getting its prompt back (the process gone)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the lab on the pty's slave side
        os.execve(D2L_LAB, [D2L_LAB, "open", "softmax-scratch"], {**env, "TERM": "xterm-256color",
                                                                 "COLUMNS": "80", "LINES": "24"})
    try:
        _drain(fd, 3.0)  # let it paint
        os.write(fd, b"\x12")  # ctrl+r
        deadline = time.monotonic() + 60
        while not _training(home) and time.monotonic() < deadline:
            _drain(fd, 0.2)
        _drain(fd, 1.0)  # well inside an epoch
        pressed = time.monotonic()
        os.write(fd, b"\x11")  # ctrl+q
        while True:
            _drain(fd, 0.01)
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                return time.monotonic() - pressed
    finally:
        os.close(fd)


def _drain(fd: int, seconds: float) -> None:
    """Read (and drop) what the app writes, so it never blocks on a full pty."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                os.read(fd, 65536)
            except OSError:
                return


def _training(home: Path) -> bool:
    try:
        with sqlite3.connect(home / "runs.db") as db:
            return db.execute("SELECT 1 FROM runs WHERE status = 'running'").fetchone() is not None
    except sqlite3.Error:
        return False


GOALS = {"d2l-lab list": 0.5, "d2l-lab --help": 0.5, "TUI first paint (80x24)": 1.5,
         "quit while training": 2.0}


def measure(rounds: int, report: Callable[[str, list[float]], None] = lambda *_: None
            ) -> dict[str, list[float]]:
    """Each figure's times in seconds, ``rounds`` fresh processes each; ``report`` hears each
    figure as soon as it is measured."""
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {**os.environ, "D2L_LAB_HOME": str(home), "PYTHONPATH": str(ROOT)}
        cases = {
            "d2l-lab list": lambda: wall([D2L_LAB, "list"], env),
            "d2l-lab --help": lambda: wall([D2L_LAB, "--help"], env),
            "TUI first paint (80x24)": lambda: first_paint(env),
            "quit while training": lambda: quit_while_training(env, home),
        }
        for name, once in cases.items():
            times[name] = [once() for _ in range(rounds)]
            report(name, times[name])
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true",
                        help="{figure: [seconds, ...]} and the goals as one JSON line")
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps({"goals_s": GOALS, "times": measure(args.rounds)}))
        return

    def row(name: str, times: list[float]) -> None:
        print(f"| {name} | {statistics.median(times):.2f} | {max(times):.2f} "
              f"| {GOALS[name]} |", flush=True)

    print("| what | median s | max s | goal s |\n|---|---:|---:|---:|")
    measure(args.rounds, row)


if __name__ == "__main__":
    main()
