"""``d2l-lab sweep``: one experiment over a grid of values, the runs grouped for ``runs compare``.

Everything is checked first (every point of the grid, every device), so a typo costs no run.
With one device the runs go one after another in this process, each shown as ``run`` shows
it; with several, each runs in a process of its own (as ``run --detach`` does), at most one
per device at a time. Ctrl+C stops the runs under way (they keep their checkpoints) and starts
no more. ``--detach`` hands the whole sweep, once checked, to ``d2l-lab sweep`` in a session of
its own, which outlives the terminal. Importing this module is cheap (typer); torch comes with the
first run.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from lab.cli_run import (
    EXIT_STOPPED,
    JsonOption,
    PresetOption,
    SetOption,
    exit_code,
    show_run,
    stop_on_signals,
    validate_device,
)
from lab.spec import SEED, ParamError, parse_assignments
from lab.sweep import SweepPoint, expand, new_sweep_id, parse_grid

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from subprocess import Popen

    from lab.cancel import Cancel
    from lab.spec import Experiment
    from lab.store import Store

POLL = 0.2  # seconds between looks at the runs a spread sweep waits for
SWEEP_LOGS = "sweeps"  # a detached sweep's output: <store>/sweeps/<sweep>.log
DETACH_GRACE = 1.0  # seconds a detached sweep is watched for failing at once
# Which status decides the exit code when the runs ended differently: a stop by the user or the
# system first (a script must see that the sweep was cut short), then a failure.
SEVERITY = ("finished", "diverged", "failed", "crashed", "stopped", "interrupted")


Running = tuple[int, SweepPoint, str, "Popen[bytes]"]  # index, point, run id, its process


@dataclass(frozen=True)
class Outcome:
    index: int  # 1-based, in the grid's order
    point: SweepPoint
    run_id: str
    status: str


def sweep_command(
    exp_id: Annotated[str, typer.Argument(metavar="ID")],
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", metavar="NAME=V1,V2,...", help="Values of one parameter (or the seed) to "
        "run; repeat for a grid: every combination runs.", show_default=False)] = None,
    preset: PresetOption = None,
    assignments: SetOption = None,
    seed: Annotated[str | None, typer.Option(
        help="Random seed of every run, an integer ≥ 0 (default 0).")] = None,
    devices: Annotated[list[str] | None, typer.Option(
        "--device", metavar="DEVICE", help="cpu (the default), cuda, cuda:N or mps. Repeat to "
        "spread the runs over several devices, one at a time on each (a device named twice "
        "runs two at once).",
        show_default=False)] = None,
    as_json: JsonOption = False,
    detach: Annotated[bool, typer.Option(
        "--detach", help="Run the sweep in a process of its own that outlives this terminal; "
        "print its id, pid and log, and return at once.")] = False,
    sweep_id: Annotated[str | None, typer.Option(
        "--sweep-id", hidden=True, help="The id a detached sweep was given.")] = None,
) -> None:
    """Run an experiment over a grid of values, e.g. --grid lr=0.03,0.1,0.3; the runs are
    grouped as one sweep (see `runs compare --sweep`)."""
    from lab import catalog
    from lab.cli import usage_error

    try:
        exp = catalog.get(exp_id)
    except catalog.UnknownExperiment as e:
        raise usage_error(str(e)) from None
    if not grid:
        raise usage_error("give at least one --grid NAME=V1,V2,... (e.g. --grid lr=0.03,0.1,0.3)")
    preset = preset or "book"
    try:
        axes = parse_grid(grid)
        if seed is not None and SEED.name in axes:
            raise ParamError(SEED.name, "given to both --seed and --grid: choose one")
        points = expand(exp, preset, parse_assignments(assignments or []), axes,
                        0 if seed is None else seed)
    except ParamError as e:
        raise usage_error(str(e)) from None
    slots = [validate_device(name) for name in devices or ["cpu"]]

    from lab.cancel import Cancel
    from lab.cli import err, out
    from lab.store import Store

    store = Store()
    sweep_id = sweep_id or new_sweep_id(exp.id)
    console = err if as_json else out  # with --json, stdout holds only JSON lines
    if detach:
        argv = [exp.id, *(f"--grid={g}" for g in grid), f"--preset={preset}",
                *(f"--set={a}" for a in assignments or []),
                *([f"--seed={seed}"] if seed is not None else []),
                *(f"--device={d}" for d in devices or []), *(["--json"] if as_json else [])]
        _start_detached(store, sweep_id, argv, len(points), as_json)
        return

    def say(text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True)

    cancel = Cancel()
    stop_on_signals(cancel)
    if len(slots) == 1:
        outcomes = _in_turn(store, exp, points, sweep_id, slots[0], preset, as_json, cancel, say)
    else:
        outcomes = _spread(store, exp, points, sweep_id, slots, preset, cancel, say)
    _summary(store, sweep_id, points, outcomes, as_json, say)
    statuses = [o.status for o in outcomes]
    if cancel.is_set() and len(outcomes) < len(points):  # stopped between two runs
        statuses.append("interrupted" if cancel.signum else "stopped")
    # No status at all: every process was ended from outside before its run began.
    worst = max(statuses, key=lambda s: SEVERITY.index(s) if s in SEVERITY else 2,
                default="failed")
    raise typer.Exit(exit_code(worst, cancel.signum))


def _start_detached(store: Store, sweep_id: str, argv: list[str], total: int,
                    as_json: bool) -> None:
    """``d2l-lab sweep ARGV --sweep-id SWEEP`` in a session of its own (a hang-up does not
    reach it), its output in the store's ``sweeps/SWEEP.log``; says where, or why it ended at
    once."""
    import os
    import subprocess
    import sys

    from lab.cli import err, out

    log_path = store.home / SWEEP_LOGS / f"{sweep_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lab", "sweep", *argv, "--sweep-id", sweep_id],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, "D2L_LAB_HOME": str(store.home)})
    try:  # everything was checked here: it can only fail on what this process cannot see
        proc.wait(timeout=DETACH_GRACE)
    except subprocess.TimeoutExpired:
        pass
    if proc.returncode:  # it ended at once, not well: what it said
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:].strip()
        err.print(f"[red]error:[/] the detached sweep ended at once (exit {proc.returncode}):")
        err.print(tail, highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(proc.returncode)
    if as_json:
        print(json.dumps({"kind": "sweep", "sweep": sweep_id, "detached": True,
                          "pid": proc.pid, "log": str(log_path), "runs": total}), flush=True)
        return
    out.print(f"[bold]sweep {sweep_id}[/]: {total} runs, running detached (pid {proc.pid}); "
              f"`d2l-lab runs compare --sweep {sweep_id}` shows those that have ended, "
              f"`kill -INT {proc.pid}` stops it (the run under way keeps its checkpoint). Its "
              f"output: {log_path}", highlight=False, soft_wrap=True)


def _in_turn(store: Store, exp: Experiment, points: list[SweepPoint], sweep_id: str,
             device: str, preset: str, as_json: bool, cancel: Cancel,
             say: Callable[[str], None]) -> list[Outcome]:
    from lab import runner  # torch

    outcomes: list[Outcome] = []
    for index, point in enumerate(points, 1):
        if cancel.is_set():  # Ctrl+C between two runs: the rest are never created
            break
        say(f"[bold]sweep {sweep_id}[/]: run {index}/{len(points)} {point.label}")
        result = show_run(exp, as_json, lambda sinks, c, point=point: runner.run(
            exp, point.params, device=device, seed=point.seed, preset=preset, sinks=sinks,
            cancel=c, store=store, sweep=sweep_id), cancel)
        outcomes.append(Outcome(index, point, result.run_id, result.status))
    return outcomes


def _spread(store: Store, exp: Experiment, points: list[SweepPoint], sweep_id: str,
            slots: list[str], preset: str, cancel: Cancel,
            say: Callable[[str], None]) -> list[Outcome]:
    """Each run in a process of its own, at most one per slot at a time; each records itself,
    this process only starts them, forwards a stop and reports how each ended."""
    from lab import detach

    waiting = list(enumerate(points, 1))
    active: dict[int, Running] = {}  # slot -> the run on it
    told: set[str] = set()  # runs the stop was forwarded to
    outcomes: list[Outcome] = []
    try:
        while waiting or active:
            for slot, device in enumerate(slots):
                if slot in active or not waiting or cancel.is_set():
                    continue
                index, point = waiting.pop(0)
                run_id, proc = detach.spawn(store, exp, point.params, device=device,
                                            seed=point.seed, preset=preset, sweep=sweep_id)
                active[slot] = (index, point, run_id, proc)
                say(f"[bold]sweep {sweep_id}[/]: run {index}/{len(points)} {point.label} on "
                    f"{device}: {run_id}")
            if cancel.is_set():
                waiting.clear()  # never started, never created
                _forward_stop(store, active.values(), told, cancel.signum)
            for slot, (index, point, run_id, proc) in list(active.items()):
                if proc.poll() is None:
                    continue
                del active[slot]
                status = _ended(store, run_id, proc)
                if status:
                    outcomes.append(Outcome(index, point, run_id, status))
                    say(_end_line(store, sweep_id, index, len(points), point, run_id, status))
            time.sleep(POLL)
    except KeyboardInterrupt:  # a second Ctrl+C: stop waiting; the runs still record themselves
        say(f"stopped waiting; still stopping: {', '.join(a[2] for a in active.values())}")
        raise typer.Exit(EXIT_STOPPED) from None
    return sorted(outcomes, key=lambda o: o.index)


def _forward_stop(store: Store, active: Iterable[Running], told: set[str], signum: int) -> None:
    """Pass Ctrl+C (or SIGTERM, SIGHUP) on to the runs: each lives in a session of its own, so
    the terminal's signal does not reach it. One still starting (importing torch, its handler not
    yet set) is ended instead: its run never existed."""
    for _index, _point, run_id, proc in active:
        if run_id in told:
            continue
        told.add(run_id)
        if store.pid(run_id) == proc.pid:
            proc.send_signal(signum or signal.SIGINT)
        else:
            proc.terminate()


def _ended(store: Store, run_id: str, proc: Popen[bytes]) -> str:
    """How a run's process ended: its recorded status; "" for one ended before it began (by a
    stop: its folder goes), "failed" with its output for one that could not start."""
    from lab import detach
    from lab.cli import err

    record = store.get(run_id)
    if record is None:
        if proc.returncode == -signal.SIGTERM:
            store.delete(run_id)
            return ""
        output = detach.output_tail(store, run_id)
        err.print(f"[red]error:[/] run {run_id} ended before it began"
                  + (f":\n{output}" if output else ""), highlight=False, soft_wrap=True)
        return "failed"
    if record.status == "running":  # its process is gone without a word
        store.mark_crashed()
        return "crashed"
    return record.status


def _end_line(store: Store, sweep_id: str, index: int, total: int, point: SweepPoint,
              run_id: str, status: str) -> str:
    from lab.cli_progress import STATUS_STYLE, format_metrics

    record = store.get(run_id)
    took = f" in {record.ended_at - record.started_at:.1f}s" if record and record.ended_at else ""
    result = f" · {format_metrics(record.metrics)}" if record and record.metrics else ""
    style = STATUS_STYLE.get(status, "red")
    return (f"[bold]sweep {sweep_id}[/]: run {index}/{total} {point.label} "
            f"[{style}]{status}[/]{took}{result}")


def _summary(store: Store, sweep_id: str, points: list[SweepPoint], outcomes: list[Outcome],
             as_json: bool, say: Callable[[str], None]) -> None:
    """The sweep's runs side by side, and its id; with --json also one last JSON line."""
    from lab.cli import err, out
    from lab.cli_runs import print_compare, sweep_records

    order = {o.run_id: o.index for o in outcomes}  # the grid's, even where spread
    records = sorted(sweep_records(store, sweep_id), key=lambda r: order.get(r.id, 0))
    if records:
        say("")
        print_compare(records, err if as_json else out)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    ended = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no run"
    left = len(points) - len(outcomes)
    say(f"\n[bold]sweep {sweep_id}[/]: {ended}" + (f", {left} not run" if left else ""))
    if records:
        say(f"[dim]`d2l-lab runs compare --sweep {sweep_id}` shows them again[/]")
    if as_json:
        runs = [{"id": o.run_id, "label": o.point.label, "status": o.status, "seed": o.point.seed,
                 "params": dict(o.point.params),
                 "metrics": next((r.metrics for r in records if r.id == o.run_id), {})}
                for o in outcomes]
        print(json.dumps({"kind": "sweep", "sweep": sweep_id, "runs": runs}), flush=True)
