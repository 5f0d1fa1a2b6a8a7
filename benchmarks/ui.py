"""The lab's own interface in the suite: plot and heatmap redraws, start-up, and the TUI's cost.

Each figure comes from its own script (plot_speed.py, heatmap_speed.py, startup.py,
runs_screen.py with ``--json``), run in a fresh process as a user would run it; tui_cost.py
is called as it is and its printed table is kept verbatim.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Each UI case's script, and its arguments in a full run and with --quick.
SCRIPTS = {
    "plot": ("plot_speed.py", ["--rounds", "20"], ["--rounds", "3"]),
    "heatmap": ("heatmap_speed.py", ["--rounds", "50"], ["--rounds", "3"]),
    "startup": ("startup.py", ["--rounds", "5"], ["--rounds", "1"]),
    "runs": ("runs_screen.py", ["--rounds", "5"], ["--rounds", "1", "--runs", "100"]),
    "tui-cost": ("tui_cost.py", [], ["--cases", "softmax", "--rounds", "1"]),
}
UI_CASES = tuple(SCRIPTS)


@dataclass(frozen=True)
class Figure:
    what: str
    value: float
    unit: str  # "ms" or "s"
    goal: float
    spread: str = ""  # e.g. the max over the rounds

    @property
    def verdict(self) -> str:
        return "ok" if self.value <= self.goal else "over goal"


def _script(name: str, args: list[str], env: dict[str, str]) -> str:
    script = SCRIPTS[name][0]
    out = subprocess.run([sys.executable, str(HERE / script), *args], env=env,
                         capture_output=True, text=True, cwd=HERE.parent)
    if out.returncode != 0:
        raise RuntimeError(f"{script} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return out.stdout


def measure(name: str, quick: bool, env: dict[str, str]) -> list[Figure] | str:
    """The figures of one UI case; tui-cost's printed table instead."""
    _, full, small = SCRIPTS[name]
    args = small if quick else full
    if name == "tui-cost":
        return _script(name, args, env).strip()
    data = json.loads(_script(name, [*args, "--json"], env).strip().splitlines()[-1])
    if name == "plot":
        return [Figure(f"redraw of a {row['history']} history, {row['screen']}", row["ms"],
                       "ms", data["goal_ms"]) for row in data["rows"]]
    if name == "heatmap":
        return [Figure(f"redraw of a 64×64 heatmap, {row['screen']} (worst of layout, widget, "
                       "cli)", row["worst"], "ms", data["goal_ms"])
                for row in data["rows"] if row["matrix"] == "64×64"]
    return [Figure(what, statistics.median(times), "s", data["goals_s"][what],
                   f"max {max(times):.2f}") for what, times in data["times"].items()]
