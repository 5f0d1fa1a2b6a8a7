"""``d2l-lab runs compare|export|rm``: recorded runs side by side, written out, or deleted.

``compare`` shows one column per run: its config, then only the hyperparameters that differ (the
rest in one line below) and every final metric. ``export`` writes the runs' configs and final
metrics as CSV (one row per run) or JSON. ``rm`` deletes runs from the index and the disk.
Importing this module is cheap (typer only); the store and rich are imported when a command runs.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lab.compare import MISSING, differing_params, format_param, short_ids, union

if TYPE_CHECKING:
    from rich.console import Console

    from lab.store import RunRecord, Store

FIELDS = ("id", "experiment", "status", "reason", "preset", "device", "seed", "epochs_done",
          "started_at", "duration")
Runs = Annotated[list[str], typer.Argument(
    metavar="RUN", help="Run ids, as `d2l-lab runs` lists.", show_default=False)]


def _records(store: Store, run_ids: list[str]) -> list[RunRecord]:
    """The runs named, in the order given, each once; an unknown id is a usage error."""
    from lab.cli import usage_error

    records = []
    for run_id in dict.fromkeys(run_ids):
        record = store.get(run_id)
        if record is None:
            raise usage_error(f"no run {run_id!r}; `d2l-lab runs` lists them")
        records.append(record)
    return records


SweepOption = Annotated[str | None, typer.Option(
    metavar="SWEEP", help="Every run of this sweep (the id `d2l-lab sweep` prints).")]


def compare_command(
    run_ids: Annotated[list[str] | None, typer.Argument(
        metavar="RUN", help="Run ids, as `d2l-lab runs` lists.", show_default=False,
    )] = None,
    sweep: SweepOption = None,
) -> None:
    """Runs side by side: the hyperparameters that differ and the final metrics."""
    from lab.cli import usage_error
    from lab.store import Store

    if run_ids and sweep:
        raise usage_error("give run ids or --sweep, not both")
    store = Store()
    if sweep:
        records = sweep_records(store, sweep)
        if not records:
            raise usage_error(f"no runs in sweep {sweep!r}; `d2l-lab runs` lists runs")
    elif len(dict.fromkeys(run_ids or [])) < 2:
        raise usage_error("compare needs at least two different runs (or --sweep SWEEP)")
    else:
        records = _records(store, run_ids or [])
    print_compare(records)


def sweep_records(store: Store, sweep: str) -> list[RunRecord]:
    """A sweep's runs in the order they started (the grid's, unless spread over devices)."""
    return sorted(store.recent(None, sweep=sweep), key=lambda r: r.started_at)


def print_compare(records: list[RunRecord], out: Console | None = None) -> None:
    """One column per run: its config, the hyperparameters that differ and every final
    metric; the hyperparameters all share on one line below."""
    from rich.console import Console
    from rich.table import Table

    from lab.cli_progress import format_value

    params = [r.params for r in records]
    differing, same = differing_params(params)

    table = Table(box=None, header_style="bold")
    table.add_column("", style="bold", no_wrap=True)
    for short in short_ids(records):
        table.add_column(short, no_wrap=True)
    for field in ("experiment", "status", "preset", "device", "seed"):
        table.add_row(field, *(str(getattr(r, field)) for r in records))
    metrics = union([r.metrics for r in records])
    for group, cells in ((differing, lambda n: [format_param(p.get(n, MISSING))
                                                for p in params]),
                         (metrics, lambda n: [format_value(r.metrics[n]) if n in r.metrics
                                              else MISSING for r in records])):
        if group:
            table.add_row()  # a blank line between config, hyperparameters and metrics
        for name in group:
            table.add_row(name, *cells(name))
    out = out or Console()
    out.print(table, highlight=False)
    if same:
        out.print("same in all: " + " ".join(f"{n}={format_param(params[0][n])}" for n in same),
                  highlight=False, soft_wrap=True)


def export_command(
    run_ids: Annotated[list[str] | None, typer.Argument(
        metavar="RUN", help="Run ids; none: every run (or every run of --experiment or --sweep).",
        show_default=False)] = None,
    experiment: Annotated[str | None, typer.Option(help="Every run of this experiment.")] = None,
    sweep: SweepOption = None,
    fmt: Annotated[str, typer.Option(
        "--format", metavar="csv|json", help="CSV: a row per run; JSON: a list of runs.",
    )] = "csv",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write here instead of stdout.", dir_okay=False,
    )] = None,
    epochs: Annotated[bool, typer.Option(
        "--epochs", help="JSON only: also every epoch's metrics, from the run's events.")] = False,
) -> None:
    """The runs' configs and final metrics as CSV or JSON."""
    from lab.cli import usage_error
    from lab.store import Store

    if fmt not in ("csv", "json"):
        raise usage_error(f"--format must be csv or json, not {fmt!r}")
    if epochs and fmt != "json":
        raise usage_error("--epochs needs --format json: a CSV row cannot hold every epoch")
    if run_ids and (experiment or sweep):
        raise usage_error("give run ids or --experiment/--sweep, not both")
    store = Store()
    if run_ids:
        records = _records(store, run_ids)
    elif sweep:
        records = [r for r in sweep_records(store, sweep)
                   if experiment is None or r.experiment == experiment]
    else:
        records = store.recent(None, experiment)
    rows = [_row(r) for r in records]
    if fmt == "json":
        if epochs:
            for row in rows:
                row["epochs"] = _epochs(store, row["id"])
        text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    else:
        text = _csv(rows)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8", newline="")
        print(f"wrote {len(rows)} runs to {output}", file=sys.stderr)


def _row(r: RunRecord) -> dict[str, Any]:
    started = datetime.fromtimestamp(r.started_at).astimezone().isoformat(timespec="seconds")
    duration = None if r.ended_at is None else round(r.ended_at - r.started_at, 3)
    return {"id": r.id, "experiment": r.experiment, "status": r.status, "reason": r.reason,
            "preset": r.preset, "device": r.device, "seed": r.seed, "epochs_done": r.epochs_done,
            "started_at": started, "duration": duration, "params": r.params, "metrics": r.metrics}


def _epochs(store: Store, run_id: str) -> list[dict[str, Any]]:
    from lab.events import EpochEnd
    from lab.store import read_events

    run_dir = store.run_dir(run_id)
    if not (run_dir / "events.jsonl").exists():
        return []
    return [{"epoch": e.epoch, **e.metrics} for e in read_events(run_dir)
            if isinstance(e, EpochEnd)]


def _csv(rows: list[dict[str, Any]]) -> str:
    params = union([row["params"] for row in rows])
    metrics = union([row["metrics"] for row in rows])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*FIELDS, *(f"param.{n}" for n in params), *(f"metric.{n}" for n in metrics)])
    for row in rows:
        writer.writerow([*("" if row[f] is None else row[f] for f in FIELDS),
                         *(_cell(row["params"].get(n, "")) for n in params),
                         *(row["metrics"].get(n, "") for n in metrics)])
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    """A param as the CSV shows it: numbers and text as they are, lists and the like as JSON."""
    return value if isinstance(value, (str, int, float)) else json.dumps(value)


def rm_command(
    run_ids: Runs,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
) -> None:
    """Delete runs: their index entries and their folders (config, events, checkpoint)."""
    from lab.cli import EXIT_FAILED, err, usage_error
    from lab.store import Store

    store = Store()
    records = _records(store, run_ids)
    running = [r.id for r in records if r.status == "running"]
    if running:
        which = f"run {running[0]} is" if len(running) == 1 else f"runs {', '.join(running)} are"
        raise usage_error(f"{which} still running: stop it first; nothing was deleted")
    if not yes:
        for r in records:
            err.print(f"  {r.id}  {r.status}  {store.run_dir(r.id)}", highlight=False,
                      soft_wrap=True)
        if not typer.confirm(f"Delete {len(records)} run(s) and their folders?", default=False,
                             err=True):
            err.print("nothing deleted")
            raise typer.Exit(EXIT_FAILED)
    for r in records:
        store.delete(r.id)
    err.print(f"deleted {len(records)} run(s)")
