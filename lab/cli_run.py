"""``d2l-lab run`` (new, resumed or detached) and ``runs follow|stop``: starting runs, watching
one another process runs, and stopping it.

Importing this module is cheap (typer and rich); torch is imported once a run is about to start.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lab import catalog
from lab.spec import SEED, Experiment, ParamError, parse_assignments

if TYPE_CHECKING:
    from subprocess import Popen

    from lab.cancel import Cancel
    from lab.events import Sink
    from lab.runner import RunResult
    from lab.store import Store

EXIT_FAILED, EXIT_STOPPED = 1, 130

PresetOption = Annotated[str | None, typer.Option(
    help="book (the default: the book's values) or quick.")]
SetOption = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE", help="Override a parameter; repeatable.")]
DeviceOption = Annotated[str | None, typer.Option(
    help="cpu (the default), cuda, cuda:N or mps.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print events as JSON lines.")]
MANY = "Many devices"  # the help panel of the data-parallel options (lab/dist.py)
RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="A run id, as `runs` lists.")]


def run_command(
    exp_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
    preset: PresetOption = None,
    assignments: SetOption = None,
    config: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Start from a saved config.json (each run's folder has one).",
    )] = None,
    device: DeviceOption = None,
    seed: Annotated[str | None, typer.Option(
        help="Random seed, an integer ≥ 0 (default 0).")] = None,
    resume: Annotated[str | None, typer.Option(
        metavar="RUN", help="Continue a stopped, interrupted or crashed run from its last "
        "epoch (its own parameters; --device may move it).")] = None,
    detach: Annotated[bool, typer.Option(
        "--detach", help="Run in a process of its own that outlives this terminal; print its "
        "id and return (watch it with `runs follow RUN`).")] = False,
    as_json: JsonOption = False,
    nproc: Annotated[int | None, typer.Option(
        "--nproc", metavar="N", rich_help_panel=MANY,
        help="Train data-parallel in N processes on this machine, one per device (N cpu "
        "processes with gloo, or cuda:0..N-1 with NCCL, after --device), under torchrun. "
        "batch_size stays the global batch: each process trains on batch_size/N examples of "
        "every batch, the gradients are averaged and lr is unchanged. Image classification "
        "experiments only.")] = None,
    devices: Annotated[str | None, typer.Option(
        "--devices", metavar="D1,D2,…", rich_help_panel=MANY,
        help="Train data-parallel on these devices, one process each (cuda:0,cuda:1).")] = None,
    nnodes: Annotated[int | None, typer.Option(
        "--nnodes", metavar="N", rich_help_panel=MANY,
        help="Machines taking part (run the same command on each, with its --node-rank).",
    )] = None,
    node_rank: Annotated[int | None, typer.Option(
        "--node-rank", metavar="R", rich_help_panel=MANY,
        help="This machine's number, 0..N-1; 0 records the run and shows it.")] = None,
    rdzv_endpoint: Annotated[str | None, typer.Option(
        "--rdzv-endpoint", metavar="HOST:PORT", rich_help_panel=MANY,
        help="Where the machines meet (torchrun's c10d rendezvous): a port on the machine "
        "named HOST, the same on every machine.")] = None,
) -> None:
    """Run an experiment; every run is recorded (see `runs`)."""
    from lab.cli import usage_error

    spread = {"--nproc": nproc, "--devices": devices, "--nnodes": nnodes,
              "--node-rank": node_rank, "--rdzv-endpoint": rdzv_endpoint}
    if resume is not None:
        given = [name for name, value in (("--preset", preset), ("--set", assignments),
                                          ("--config", config), ("--seed", seed)) if value]
        if given:
            raise usage_error(f"a resumed run keeps its own parameters: drop {', '.join(given)}")
        if spreading := [name for name, value in spread.items() if value is not None]:
            raise usage_error(f"a run resumes in one process: drop {', '.join(spreading)}")
        _resume(resume, exp_id, device, detach, as_json)
        return
    if exp_id is None:
        raise usage_error("name an experiment (`d2l-lab list` shows them), or --resume RUN")
    exp = _experiment(exp_id)
    # A saved config is the base; options given here override it. Its values pass the same
    # rules as --set, so an edited or outdated file is refused, not half-used.
    saved = _read_config(config, exp) if config else {}
    preset = preset or saved.get("preset", "book")
    try:
        params = exp.resolve(preset, {**saved.get("params", {}),
                                      **parse_assignments(assignments or [])})
        seed_value = SEED.parse(seed if seed is not None else saved.get("seed", 0))
    except ParamError as e:
        raise usage_error(str(e)) from None
    if any(value is not None for value in spread.values()):
        from lab import dist_cli

        if device is None and devices is None:
            device = saved.get("device")
        dist_cli.run(exp, params, seed=seed_value, preset=preset, detach=detach,
                     as_json=as_json, device=device, nproc=nproc, devices=devices,
                     nnodes=nnodes, node_rank=node_rank, rdzv_endpoint=rdzv_endpoint)
        return
    device = validate_device(device if device is not None else saved.get("device", "cpu"))

    from lab.store import Store

    store = Store()
    if detach:
        from lab import detach as detached

        run_id, proc = detached.spawn(store, exp, params, device=device, seed=seed_value,
                                      preset=preset)
        _report_detached(store, run_id, proc)
        return
    from lab import runner

    execute(exp, as_json, lambda sinks, cancel: runner.run(
        exp, params, device=device, seed=seed_value, preset=preset, sinks=sinks, cancel=cancel,
        store=store))


def _resume(run_id: str, exp_id: str | None, device: str | None, detach: bool,
            as_json: bool) -> None:
    from lab.cli import usage_error
    from lab.resume import ResumeError, plan_resume
    from lab.store import Store

    store = Store()  # marks runs whose process is gone as crashed: those can resume
    record = store.get(run_id)
    if exp_id is not None and record is not None and record.experiment != exp_id:
        raise usage_error(f"run {run_id} is of {record.experiment}, not of {exp_id}")
    if device is not None:
        device = validate_device(device)
    try:
        plan = plan_resume(store, run_id, device)
    except ResumeError as e:
        raise usage_error(str(e)) from None
    validate_device(plan.device)  # the run's own device may not be here (a GPU run, no GPU)
    if detach:
        from lab import detach as detached

        _report_detached(store, run_id, detached.spawn_resume(store, run_id, device))
        return
    from lab import runner

    execute(plan.experiment, as_json, lambda sinks, cancel: runner.resume(
        plan, sinks=sinks, cancel=cancel, store=store))


def _report_detached(store: Store, run_id: str, proc: Popen) -> None:
    from lab import detach as detached
    from lab.cli import err, out

    try:
        detached.wait_started(store, run_id, proc)
    except detached.DetachError as e:
        err.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    out.print(run_id, highlight=False, soft_wrap=True)
    err.print(f"[dim]running detached (pid {proc.pid}); `d2l-lab runs follow {run_id}` "
              f"watches it, `d2l-lab runs stop {run_id}` stops it[/]", highlight=False,
              soft_wrap=True)


Start = Callable[["Sequence[Sink]", "Cancel"], "RunResult"]


def execute(exp: Experiment, as_json: bool, start: Start) -> None:
    """Run ``start(sinks, cancel)`` with the CLI's display and signal handling; exit with the
    run's status (0 finished, 1 failed or diverged, 130 stopped, 128 + N interrupted by N)."""
    from lab.cancel import Cancel

    cancel = Cancel()
    stop_on_signals(cancel)
    result = show_run(exp, as_json, start, cancel)
    raise typer.Exit(exit_code(result.status, cancel.signum))


def show_run(exp: Experiment, as_json: bool, start: Start, cancel: Cancel) -> RunResult:
    """Run ``start(sinks, cancel)`` shown as ``run`` shows it (a live table, or JSON lines)."""
    from lab.cli import out
    from lab.cli_progress import JsonSink, RichSink

    if as_json:
        return start([JsonSink()], cancel)
    with RichSink(out, exp) as sink:
        return start([sink], cancel)


def exit_code(status: str, signum: int = 0) -> int:
    if status == "finished":
        return 0
    if status == "stopped":
        return EXIT_STOPPED
    if status == "interrupted":  # the shell's convention: 128 + the signal
        return 128 + (signum or signal.SIGTERM)
    return EXIT_FAILED


def stop_on_signals(cancel: Cancel) -> None:
    """Ctrl+C stops the run cleanly (stopped), SIGTERM and SIGHUP (an SSH drop) too, recorded as
    interrupted; either way it keeps its checkpoint. A second Ctrl+C interrupts at once."""

    def handle(signum: int, _frame: object) -> None:
        if cancel.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if signum == signal.SIGINT:
            cancel.set()
        else:
            cancel.interrupt(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handle)


def follow_command(run_id: RunArgument, as_json: JsonOption = False) -> None:
    """Watch a run another process runs (detached, another terminal): its events so far, then
    live until it ends. Ctrl+C stops watching, not the run."""
    from lab.cli import out, usage_error
    from lab.cli_progress import JsonSink, RichSink
    from lab.follow import follow
    from lab.store import Store

    store = Store()
    record = store.get(run_id)
    if record is None:
        raise usage_error(f"no run {run_id!r}; `d2l-lab runs` lists them")
    try:
        exp = catalog.get(record.experiment)
    except catalog.UnknownExperiment as e:
        raise usage_error(str(e)) from None
    sink = JsonSink() if as_json else RichSink(out, exp)
    watch = follow(store.run_dir(run_id), lambda: store.is_live(run_id))
    try:
        with sink if isinstance(sink, RichSink) else nullcontext():
            for events in watch:
                for event in events:
                    sink(event)
    except KeyboardInterrupt:
        out.print(f"stopped watching; the run goes on (`d2l-lab runs stop {run_id}` stops it)")
        raise typer.Exit(0) from None
    final = store.get(run_id)
    status = final.status if final is not None else "failed"
    if status == "running":  # its process is gone without a word: the next look says crashed
        store.mark_crashed()
        status = "crashed"
        out.print(f"[red]crashed[/]: {run_id}'s process ended without recording an end")
    raise typer.Exit(exit_code(status))


def stop_command(run_id: RunArgument) -> None:
    """Stop a run another process on this machine runs (as Ctrl+C there would: it keeps its
    checkpoint and can be resumed)."""
    from lab import detach
    from lab.cli import out, usage_error
    from lab.store import Store

    store = Store()
    record = store.get(run_id)
    if record is None:
        raise usage_error(f"no run {run_id!r}; `d2l-lab runs` lists them")
    if not detach.stop(store, run_id):
        raise usage_error(f"run {run_id} is not running here (it is {record.status})")
    out.print(f"asked {run_id} to stop; it records itself as stopped at the end of its batch")


def validate_device(name: str) -> str:
    from lab import devices  # imports torch
    from lab.cli import usage_error

    try:
        return devices.validate(name)
    except devices.DeviceError as e:
        raise usage_error(str(e)) from None


def _experiment(exp_id: str) -> Experiment:
    from lab.cli import usage_error

    try:
        return catalog.get(exp_id)
    except catalog.UnknownExperiment as e:
        raise usage_error(str(e)) from None


def _read_config(path: Path, exp: Experiment) -> dict:
    from lab.cli import usage_error

    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise usage_error(f"cannot read config {path}: {e}") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("params", {}), dict):
        raise usage_error(f"{path} is not a d2l-lab config (expected {{\"params\": {{...}}}})")
    if saved.get("experiment", exp.id) != exp.id:
        raise usage_error(f"{path} is a config of {saved['experiment']}, not of {exp.id}")
    return saved
