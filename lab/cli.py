"""The command line: every action of the lab as a typer subcommand; no subcommand opens the TUI.

Thin by design: parse, call the core, print. ``list``, ``show`` and ``--help`` never import torch,
so they answer at once; commands that train import the runner only when they run.
Exit codes: 0 done, 1 the run failed or diverged, 2 bad usage, 130 stopped by Ctrl+C.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lab import catalog, reference
from lab.cli_course import course_command
from lab.cli_heatmaps import heatmaps_command
from lab.cli_run import (
    EXIT_FAILED,
    PresetOption,
    SetOption,
    follow_command,
    run_command,
    stop_command,
)
from lab.cli_runs import compare_command, export_command, rm_command
from lab.cli_sweep import sweep_command
from lab.spec import Experiment, ParamError, Params, parse_assignments

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="d2l-lab: run the experiments of Dive into Deep Learning (动手学深度学习) in a terminal.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
data_app = typer.Typer(help="Datasets: where they are, fetching and importing them.")
app.add_typer(data_app, name="data")
runs_app = typer.Typer(help="Recorded runs: list, show, compare, export or delete them, show "
                       "one's heatmaps, let a language model write.")
app.add_typer(runs_app, name="runs")

out = Console()
err = Console(stderr=True)

EXIT_USAGE = 2


def usage_error(message: str) -> typer.Exit:
    """One line on stderr and exit code 2, for anything the user typed that cannot be run."""
    # Escaped: the message quotes what the user typed, and "[/]" typed must not be markup.
    err.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USAGE)


def _experiment(exp_id: str) -> Experiment:
    try:
        return catalog.get(exp_id)
    except catalog.UnknownExperiment as e:
        raise usage_error(str(e)) from None


@app.callback(invoke_without_command=True)
def main_callback(ctx: typer.Context) -> None:
    """With no command, open the lab's TUI."""
    if ctx.invoked_subcommand is None:
        _open_tui()


@app.command("open")
def open_lab(exp_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None) -> None:
    """Open the lab's TUI, at an experiment if one is named."""
    if exp_id is not None:
        _experiment(exp_id)  # an unknown id is a usage error here, before the screen opens
    _open_tui(exp_id)


DUMB_TERMINALS = ("dumb", "unknown")  # as rich counts them: no cursor moves, no colours


def _open_tui(exp_id: str | None = None) -> None:
    """Open the TUI, unless this terminal cannot show it: then say so and leave it untouched
    (the app would fill it with escape codes it does not understand)."""
    term = os.environ.get("TERM", "")
    if term in DUMB_TERMINALS:
        raise usage_error(f"this terminal (TERM={term}) cannot show the lab; use a terminal "
                          "such as xterm, or the CLI: d2l-lab run ID")
    from lab.store import Store

    Store()  # an unusable home is one line from main(), not a crash inside the app
    from tui.app import main as open_tui

    open_tui(exp_id)


@app.command("list")
def list_experiments(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """List every experiment by lecture, with its dataset and whether the data is here."""
    from lab.data import hub

    rows = [(exp, exp.dataset is None or hub.is_available(exp.dataset))
            for exp in catalog.experiments()]
    if as_json:
        for exp, ready in rows:
            print(json.dumps({"id": exp.id, "lecture": exp.lecture, "title_en": exp.title_en,
                              "title_zh": exp.title_zh, "chapter": exp.chapter.title_en,
                              "dataset": exp.dataset or "synthetic", "data_ready": ready},
                             ensure_ascii=False))
        return
    table = Table("lecture", "id", "title · 标题", "dataset", "data", box=None, pad_edge=False)
    for exp, ready in rows:
        status = "[green]ready[/]" if ready else "[yellow]missing[/]"
        table.add_row(f"{exp.lecture:02d}", exp.id, f"{exp.title_en}\n[dim]{exp.title_zh}[/]",
                      exp.dataset or "synthetic", status)
    out.print(table)


@app.command()
def show(
    exp_id: Annotated[str, typer.Argument(metavar="ID")],
    shapes: Annotated[bool, typer.Option(
        "--shapes", help="Also print each layer's output shape for one input (loads torch).",
    )] = False,
    preset: PresetOption = None,
    assignments: SetOption = None,
) -> None:
    """Describe an experiment: what it teaches, its parameters, presets and what to try."""
    exp = _experiment(exp_id)
    try:  # checked even without --shapes: a typo should not pass silently
        params = exp.resolve(preset or "book", parse_assignments(assignments or []))
    except ParamError as e:
        raise usage_error(str(e)) from None
    out.print(f"[bold]{exp.title}[/]  {exp.title_zh}   [dim]({exp.id}, {exp.chapter.title_en} · "
              f"{exp.chapter.title_zh})[/]")
    out.print(f"dataset: {exp.dataset or 'synthetic'}\n")
    out.print(exp.summary)
    if exp.notes:
        out.print(f"\n[italic]Note:[/] {exp.notes}")
    presets = [name for name in exp.presets if name != "book"]
    table = Table("parameter", "type", "book", *presets, "allowed", "help", box=None)
    for p in exp.params:
        table.add_row(p.name, p.type.__name__, str(p.default),
                      *(str(exp.defaults(name)[p.name]) for name in presets),
                      p.describe_range(), p.help)
    out.print()
    out.print(table)
    out.print("\n[bold]Try:[/]")
    for hint in exp.try_this:
        out.print(f"  • {hint}")
    if book := reference.summary_lines(exp.id):
        out.print("\n[bold]The book's results:[/]")
        for line in book:
            out.print(f"  • {line}", markup=False, highlight=False)
        out.print(reference.PROVENANCE, style="dim", markup=False, highlight=False)
    if shapes:
        _print_shapes(exp, params)


def _print_shapes(exp: Experiment, params: Params) -> None:
    from lab.shapes import NoNetwork, experiment_shapes, shapes_text  # computing imports torch

    try:
        input_shape, rows = experiment_shapes(exp, params)
    except NoNetwork as e:
        out.print(f"\n{e}")
        return
    except RuntimeError as e:  # a parameter the network cannot take (an input too small)
        err.print(f"[red]error:[/] the network cannot take this input: {escape(str(e))}",
                  highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    out.print("\n[bold]Shapes[/] (one input through the network, layer by layer):")
    out.print(shapes_text(input_shape, rows))


@app.command("devices")
def list_devices() -> None:
    """List the devices a run can use here."""
    from lab import devices
    from lab.models import native

    for info in devices.available():
        out.print(info.label)
        if info.name == "cpu":
            for line in textwrap.wrap(native.status(), max(out.width - 2, 40)):
                out.print(f"  {line}", markup=False)


Limit = Annotated[int, typer.Option(help="How many to show.")]
OfExperiment = Annotated[str | None, typer.Option(help="Only runs of this experiment.")]
OfSweep = Annotated[str | None, typer.Option(
    metavar="SWEEP", help="Only runs of this sweep (the id `d2l-lab sweep` prints).")]
OfStatus = Annotated[str | None, typer.Option(
    metavar="STATUS", help="Only runs that are running, finished, stopped, interrupted, "
    "diverged, failed or crashed.")]


@runs_app.callback(invoke_without_command=True)
def runs(ctx: typer.Context, limit: Limit = 20, experiment: OfExperiment = None,
         sweep: OfSweep = None, status: OfStatus = None) -> None:
    """Recent runs, newest first (the same as `runs list`)."""
    if ctx.invoked_subcommand is None:
        _list_runs(limit, experiment, sweep, status)


@runs_app.command("list")
def runs_list(limit: Limit = 20, experiment: OfExperiment = None, sweep: OfSweep = None,
              status: OfStatus = None) -> None:
    """Recent runs, newest first."""
    _list_runs(limit, experiment, sweep, status)


def _list_runs(limit: int, experiment: str | None, sweep: str | None = None,
               status: str | None = None) -> None:
    from lab.cli_progress import format_metrics
    from lab.events import END_STATES
    from lab.store import CRASHED, RUNNING, Store

    statuses = (RUNNING, *END_STATES, CRASHED)
    if status is not None and status not in statuses:
        raise usage_error(f"--status must be one of {', '.join(statuses)} (got {status!r})")
    records = Store().recent(limit, experiment, status, sweep)
    if not records:
        filtered = experiment or sweep or status
        out.print("no runs match" if filtered else "no runs yet: try `d2l-lab run linreg-scratch`")
        return
    table = Table(box=None)
    table.add_column("run", no_wrap=True)  # ids are copied into other commands: never cut them
    for column in ("status", "device", "epochs", "result"):
        table.add_column(column)
    for r in records:
        table.add_row(r.id, _status(r.status), r.device, str(r.epochs_done),
                      format_metrics(r.metrics))
    out.print(table)


def _status(status: str) -> str:
    from lab.cli_progress import STATUS_STYLE

    return f"[{STATUS_STYLE.get(status, 'cyan')}]{status}[/]"


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    predictions: Annotated[bool, typer.Option(
        "--predictions", help="Also draw the test images with their true and predicted labels.",
    )] = False,
) -> None:
    """One run: its config, how it ended, its final metrics (and its predictions)."""
    from lab.cli_progress import format_metrics
    from lab.store import Store

    store = Store()
    record = store.get(run_id)
    if record is None:
        raise usage_error(f"no run {run_id!r}; `d2l-lab runs` lists them")
    try:
        title = f"{record.experiment} · {catalog.get(record.experiment).title}"
    except catalog.UnknownExperiment:  # a run of an experiment this version no longer has
        title = record.experiment
    status = _status(record.status) + (f": {record.reason}" if record.reason else "")
    took = f" · took {record.ended_at - record.started_at:.1f}s" if record.ended_at else ""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, value in (
        ("run", record.id),
        ("experiment", title),
        ("status", status),
        ("config", f"preset {record.preset} · device {record.device} · seed {record.seed}"),
        *((("sweep", record.sweep),) if record.sweep else ()),
        ("params", " ".join(f"{k}={v}" for k, v in record.params.items())),
        ("epochs", str(record.epochs_done)),
        ("result", format_metrics(record.metrics) or "-"),
        ("started", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started_at)) + took),
        ("folder", str(store.run_dir(record.id))),
    ):
        table.add_row(name, value)
    out.print(table, highlight=False)
    if predictions:
        _print_predictions(store.run_dir(record.id))


@runs_app.command("predict")
def runs_predict(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    prefix: Annotated[str, typer.Option(help="The text the model continues.")] = "time traveller",
    chars: Annotated[int, typer.Option(min=0, max=100_000, help="How many to write.")] = 50,
) -> None:
    """Let a language model run (rnn-scratch … bi-rnn) continue a prefix, as predict_ch8."""
    from lab.store import Store

    store = Store()
    if store.get(run_id) is None:
        raise usage_error(f"no run {run_id!r}; `d2l-lab runs` lists them")
    from lab.recipes.language_model import load_generator  # imports torch

    try:
        text = load_generator(store.run_dir(run_id))(prefix, chars)
    except FileNotFoundError as e:  # the run left no checkpoint: it failed, or still runs
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    except ValueError as e:  # not a language model, or a prefix it cannot read
        raise usage_error(str(e)) from None
    print(text)  # exactly the text: no markup, no wrapping


# typer and pathlib only: registering it costs no import time.
runs_app.command("heatmaps")(heatmaps_command)
runs_app.command("compare")(compare_command)
runs_app.command("export")(export_command)
runs_app.command("rm")(rm_command)
runs_app.command("follow")(follow_command)
runs_app.command("stop")(stop_command)
app.command("run")(run_command)
app.command("sweep")(sweep_command)
app.command("course")(course_command)


def _print_predictions(run_dir: Path) -> None:
    from lab.events import Predictions
    from lab.images import prediction_grid, predictions_summary
    from lab.store import read_events

    events = read_events(run_dir) if (run_dir / "events.jsonl").exists() else []
    found = [e for e in events if isinstance(e, Predictions)]
    if not found:
        out.print("\nthis run has no predictions: Fashion-MNIST classifiers draw them when "
                  "their training ends")
        return
    shown = found[-1]
    out.print()
    out.print(predictions_summary(shown.true, shown.predicted))
    out.print(prediction_grid(shown.images, shown.true, shown.predicted, width=out.width,
                              height=out.height))


@data_app.command("list")
def data_list() -> None:
    """Every dataset the lab knows, and where it was found."""
    from lab.data import hub

    table = Table("dataset", "title", "where", box=None)
    for ds in hub.DATASETS.values():
        where = hub.locate(ds.id)
        table.add_row(ds.id, ds.title, str(where) if where else "[yellow]missing[/]")
    out.print(table)


@data_app.command("fetch")
def data_fetch(
    dataset: Annotated[str, typer.Argument(metavar="ID")],
    force: Annotated[bool, typer.Option(
        "--force", help="Download every file again, replacing the cached copies (a damaged "
        "one); each is checked before it replaces anything.")] = False,
) -> None:
    """Download a dataset into the cache, checking its checksum."""
    from lab.cli_progress import download_progress
    from lab.data import hub

    _known_dataset(dataset)
    try:
        with download_progress(out) as progress:
            path = hub.fetch(dataset, progress=progress, force=force)
    except hub.DataMissing as e:
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    out.print(f"{dataset}: ready in {path}")


@data_app.command("import")
def data_import(
    dataset: Annotated[str, typer.Argument(metavar="ID")],
    directory: Annotated[str, typer.Argument(metavar="DIR")],
    accept_checksum: Annotated[bool, typer.Option(
        "--accept-checksum",
        help="Import files whose checksum differs from the book's (another archive of the "
        "same data).")] = False,
) -> None:
    """Copy a dataset's files from a local folder into the cache (checked first)."""
    from lab.data import hub

    _known_dataset(dataset)
    try:
        path = hub.import_dir(dataset, Path(directory), accept_checksum=accept_checksum)
    except hub.DataMissing as e:  # soft wrap: the command it suggests stays one line
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    out.print(f"{dataset}: imported into {path}")


def _known_dataset(dataset: str) -> None:
    from lab.data import hub

    if dataset not in hub.DATASETS:
        raise usage_error(f"no dataset {dataset!r}; known: {', '.join(hub.DATASETS)}")


def main() -> None:
    from lab.store import StoreError  # no torch: the fast paths stay fast

    try:
        app(prog_name="d2l-lab")
    except StoreError as e:  # the lab's home cannot be written: where, and how to choose another
        err.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
