"""``d2l-lab run ID --nproc N`` (``--devices``, ``--nnodes``, ``--node-rank``,
``--rdzv-endpoint``): check the plan, start the supervisor (lab/dist.py), and show the run as
``runs follow`` does, by its events file, until the supervisor has ended.

Ctrl+C (and SIGTERM, SIGHUP) is passed on once to the supervisor, whose torchrun passes it to
every rank; the ranks agree to stop at the same batch and the recording rank keeps its
checkpoint. More Ctrl+C only say so: a second signal would cut torchrun's shutdown short.
"""

from __future__ import annotations

import signal
import subprocess
import time

import typer

from lab import dist
from lab.cancel import Cancel
from lab.spec import Experiment, Params

START_TIMEOUT = 120.0  # seconds --detach waits for the ranks to record the run (imports, data)


def run(exp: Experiment, params: Params, *, seed: int, preset: str, detach: bool,
        as_json: bool, device: str | None, nproc: int | None, devices: str | None,
        nnodes: int | None, node_rank: int | None, rdzv_endpoint: str | None) -> None:
    from lab import devices as known
    from lab.cli import usage_error

    try:
        chosen = dist.plan(nproc=nproc, devices=devices, device=device, nnodes=nnodes,
                           node_rank=node_rank, rdzv_endpoint=rdzv_endpoint,
                           validate=known.validate)
        assert chosen is not None  # some option was given
        dist.check(exp, params, chosen)
    except (dist.PlanError, known.DeviceError) as e:
        raise usage_error(str(e)) from None
    if chosen.node_rank != 0:
        _join(exp, params, chosen, seed=seed, preset=preset, detach=detach)
        return
    from lab.store import Store

    store = Store()
    run_id, proc = dist.spawn(store, exp, params, chosen, seed=seed, preset=preset)
    if detach:
        _report_detached(store, run_id, proc)
    else:
        _show(store, run_id, proc, exp, as_json)


def _forward_signals(proc: subprocess.Popen, cancel: Cancel) -> None:
    """The first Ctrl+C (or SIGTERM, SIGHUP) goes on to the supervisor; later ones do not."""
    from lab.cli import err

    def forward(signum: int, _frame: object) -> None:
        if cancel.is_set():
            err.print("[dim]stopping: every process ends at its next batch[/]")
            return
        if signum == signal.SIGINT:
            cancel.set()
        else:
            cancel.interrupt(signum)
        if proc.poll() is None:
            proc.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)


def _show(store, run_id: str, proc: subprocess.Popen, exp: Experiment, as_json: bool) -> None:
    from lab.cli import err
    from lab.cli_run import exit_code, show_run
    from lab.follow import follow
    from lab.runner import RunResult

    cancel = Cancel()
    _forward_signals(proc, cancel)
    run_dir = store.run_dir(run_id)

    def start(sinks, _cancel) -> RunResult:
        for events in follow(run_dir, lambda: proc.poll() is None):
            for event in events:
                for sink in sinks:
                    sink(event)
        proc.wait()
        record = store.get(run_id)
        if record is None:  # the supervisor itself failed before it could record the run
            return RunResult(run_id, "failed", "", {}, run_dir)
        return RunResult(run_id, record.status, record.reason, record.metrics, run_dir)

    result = show_run(exp, as_json, start, cancel)
    if result.status == "failed":
        err.print(f"[dim]its processes' output: {run_dir / dist.LAUNCHER_LOG} and "
                  f"{run_dir / dist.RANK_LOGS}/[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code(result.status, cancel.signum))


def _report_detached(store, run_id: str, proc: subprocess.Popen) -> None:
    """Return once the ranks have recorded the run (or it ended), printing its id."""
    from lab.cli import err, out

    deadline = time.monotonic() + START_TIMEOUT
    while store.get(run_id) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    record = store.get(run_id)
    if record is None or record.status == "failed":
        why = record.reason if record else f"see {store.run_dir(run_id) / dist.LAUNCHER_LOG}"
        err.print(f"[red]error:[/] the run did not start: {why}", highlight=False,
                  soft_wrap=True)
        raise typer.Exit(1)
    out.print(run_id, highlight=False, soft_wrap=True)
    err.print(f"[dim]running detached under torchrun (pid {proc.pid}); `d2l-lab runs follow "
              f"{run_id}` watches it, `d2l-lab runs stop {run_id}` stops it[/]",
              highlight=False, soft_wrap=True)


def _join(exp: Experiment, params: Params, chosen: dist.Plan, *, seed: int, preset: str,
          detach: bool) -> None:
    """Another machine's share: its processes join the rendezvous; node 0 records the run."""
    from lab.cli import err, out

    proc = dist.join(exp, params, chosen, seed=seed, preset=preset)
    out.print(f"machine {chosen.node_rank} of {chosen.nnodes} joins the run at "
              f"{chosen.rdzv_endpoint} with {dist.processes(len(chosen.devices))} "
              f"({', '.join(chosen.devices)}); machine 0 records it", highlight=False)
    if detach:
        err.print(f"[dim]running detached (pid {proc.pid})[/]", highlight=False)
        return
    cancel = Cancel()
    _forward_signals(proc, cancel)
    raise typer.Exit(0 if proc.wait() == 0 else 1)
