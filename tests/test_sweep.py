"""Sweeps: the grid's rules (lab/sweep.py) and `d2l-lab sweep` over real runs, in turn and
spread over devices, with `runs compare --sweep` showing them side by side."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from lab import catalog
from lab.cli import app
from lab.spec import ParamError
from lab.store import Store
from lab.sweep import expand, listable, new_sweep_id, parse_grid, parse_values, split_values
from tests.test_runs_cli import row

cli = CliRunner()


def invoke(*args: str):
    return cli.invoke(app, list(args), env={"COLUMNS": "200"})


def sweep_line(stdout: str) -> dict:
    """The last JSON line of `sweep --json`: the sweep and its runs."""
    lines = stdout.splitlines()
    for line in lines[:-1]:
        assert json.loads(line)["kind"] != "sweep"  # events only, until the end
    last = json.loads(lines[-1])
    assert last["kind"] == "sweep"
    return last


# -- the grid -----------------------------------------------------------------------------------


def test_a_field_text_splits_on_commas_and_one_value_stays_one() -> None:
    assert split_values("0.1, 0.3,0.9") == ["0.1", "0.3", "0.9"]
    assert split_values(" 0.1 ") == ["0.1"]
    lr = catalog.get("softmax").param("lr")
    assert parse_values(lr, "0.1, 0.3") == [0.1, 0.3]
    assert listable(lr) and listable(catalog.get("softmax").param("epochs"))
    assert not listable(catalog.get("activations").param("activation"))  # one at a time


def test_the_grid_expands_in_the_order_given_with_a_label_per_point() -> None:
    exp = catalog.get("softmax")
    grid = parse_grid(["lr=0.1,0.3,0.9", "batch_size=128,256"])
    assert list(grid) == ["lr", "batch_size"]
    points = expand(exp, "quick", {"epochs": "2"}, grid, seed="7")
    assert [(p.params.lr, p.params.batch_size) for p in points] == [
        (0.1, 128), (0.1, 256), (0.3, 128), (0.3, 256), (0.9, 128), (0.9, 256)]
    assert [p.label for p in points[:2]] == ["lr=0.1 batch_size=128", "lr=0.1 batch_size=256"]
    assert {p.params.epochs for p in points} == {2} and {p.seed for p in points} == {7}


def test_the_seed_can_be_swept_like_a_parameter() -> None:
    points = expand(catalog.get("linreg"), "book", {}, parse_grid(["seed=0,1,2"]))
    assert [(p.seed, p.label) for p in points] == [(0, "seed=0"), (1, "seed=1"), (2, "seed=2")]
    assert all(dict(p.params) == dict(catalog.get("linreg").resolve()) for p in points)


def test_choices_and_switches_can_be_swept_from_the_command_line() -> None:
    grid = parse_grid(["activation=relu,tanh"])
    points = expand(catalog.get("activations"), "book", {}, grid)
    assert [p.params.activation for p in points] == ["relu", "tanh"]
    points = expand(catalog.get("lenet"), "quick", {}, parse_grid(["bf16=true,false"]))
    assert [(p.params.bf16, p.label) for p in points] == [(True, "bf16=true"),
                                                          (False, "bf16=false")]
    with pytest.raises(ParamError, match="activation: must be one of relu, sigmoid, tanh"):
        expand(catalog.get("activations"), "book", {}, parse_grid(["activation=relu,gelu"]))


@pytest.mark.parametrize("specs, overrides, message", [
    (["lr=0.1,-1"], {}, "lr: must be > 0, ≤ 1e6 (got -1)"),
    (["lr=0.1", "batch_size=10,abc"], {}, "batch_size: must be an integer (got 'abc')"),
    (["lr=0.1,,0.3"], {}, "lr: an empty value in the list"),
    (["lr=0.1,0.10"], {}, "lr: 0.1 is listed twice"),
    (["lr=0.1", "lr=0.3"], {}, "lr: given to --grid twice"),
    (["dropout=0.1,0.2"], {}, "dropout: unknown parameter for linreg"),
    (["lr"], {}, "lr: expected NAME=VALUE,VALUE"),
    (["lr=0.1,0.3"], {"lr": "0.2"}, "lr: given to both --set and --grid"),
    (["lr=0.1,0.3"], {"epochs": "0"}, "epochs: must be ≥ 1"),
    (["seed=0,-1"], {}, "seed: must be ≥ 0"),
])
def test_every_point_is_checked_before_anything_runs(specs, overrides, message) -> None:
    with pytest.raises(ParamError) as caught:
        expand(catalog.get("linreg"), "book", overrides, parse_grid(specs))
    assert str(caught.value).startswith(message)


def test_a_sweep_id_names_the_time_and_the_experiment() -> None:
    sweep = new_sweep_id("softmax", now=0)
    assert re.fullmatch(r"sweep-\d{8}-\d{6}-softmax-[0-9a-f]{4}", sweep)
    assert new_sweep_id("softmax", now=0) != sweep  # same second, still apart


# -- the command --------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_a_sweep_over_three_learning_rates_is_compared_side_by_side(one_thread) -> None:
    result = invoke("sweep", "linreg", "--grid", "lr=0.003,0.03,0.3", "--set", "epochs=1",
                    "--json")
    assert result.exit_code == 0, result.output
    summary = sweep_line(result.stdout)
    sweep = summary["sweep"]
    assert [(r["label"], r["status"]) for r in summary["runs"]] == [
        ("lr=0.003", "finished"), ("lr=0.03", "finished"), ("lr=0.3", "finished")]
    started = [json.loads(line) for line in result.stdout.splitlines()[:-1]]
    assert [e["sweep"] for e in started if e["kind"] == "started"] == [sweep] * 3
    assert "run 2/3 lr=0.03" in result.stderr  # the header of each run, beside the JSON

    records = Store().recent(None, sweep=sweep)
    assert len(records) == 3 and {r.sweep for r in records} == {sweep}
    compared = invoke("runs", "compare", "--sweep", sweep)
    assert compared.exit_code == 0, compared.output
    assert row(compared.output, "lr") == ["0.003", "0.03", "0.3"]  # the grid's order
    assert row(compared.output, "status") == ["finished"] * 3
    assert len(row(compared.output, "loss")) == 3
    assert "same in all: batch_size=10 epochs=1" in compared.output
    # A small lr has not got far in one epoch; a larger one has.
    losses = [r["metrics"]["loss"] for r in summary["runs"]]
    assert losses[0] > 10 * losses[1]

    listed = invoke("runs", "list", "--sweep", sweep)
    assert sorted(re.findall(r"\S+-linreg-\S+", listed.output)) == sorted(r.id for r in records)
    shown = invoke("runs", "show", records[0].id)
    assert row(shown.output, "sweep") == [sweep]
    exported = json.loads(invoke("runs", "export", "--sweep", sweep, "--format", "json").stdout)
    assert [r["params"]["lr"] for r in exported] == [0.003, 0.03, 0.3]


@pytest.mark.timeout(300)
def test_softmax_quick_over_three_learning_rates_on_fashion_mnist(small_fashion_mnist,
                                                                  one_thread) -> None:
    """The issue's case: `sweep softmax --preset quick --grid lr=0.03,0.1,0.3`; three runs
    that `runs compare` shows side by side (on a cut of the real data, for seconds)."""
    result = invoke("sweep", "softmax", "--preset", "quick", "--grid", "lr=0.03,0.1,0.3")
    assert result.exit_code == 0, result.output
    sweep = re.search(r"runs compare --sweep (\S+)`", result.output)[1]
    assert row(result.output, "lr") == ["0.03", "0.1", "0.3"]  # the closing table
    records = sorted(Store().recent(None, sweep=sweep), key=lambda r: r.started_at)
    assert [r.params["lr"] for r in records] == [0.03, 0.1, 0.3]
    assert all(r.status == "finished" and r.epochs_done == 3 for r in records)
    compared = invoke("runs", "compare", "--sweep", sweep)
    assert compared.exit_code == 0
    assert row(compared.output, "lr") == ["0.03", "0.1", "0.3"]
    train = [float(cell) for cell in row(compared.output, "train_acc")]
    test = [float(cell) for cell in row(compared.output, "test_acc")]
    assert min(train) > 0.6 and min(test) > 0.4  # each learned (chance is 0.1)
    assert train[0] < train[1] < train[2]  # in three epochs, a larger lr gets further


@pytest.mark.timeout(180)
def test_a_sweep_spread_over_two_devices_runs_each_in_its_own_process() -> None:
    result = invoke("sweep", "linreg", "--grid", "lr=0.01,0.03,0.1", "--set", "epochs=1",
                    "--device", "cpu", "--device", "cpu")
    assert result.exit_code == 0, result.output
    sweep = re.search(r"runs compare --sweep (\S+)`", result.output)[1]
    records = Store().recent(None, sweep=sweep)
    assert sorted(r.params["lr"] for r in records) == [0.01, 0.03, 0.1]
    assert {r.status for r in records} == {"finished"}
    for lr in ("0.01", "0.03", "0.1"):
        assert re.search(rf"run \d/3 lr={lr} finished", result.output)
    assert row(result.output, "lr") == ["0.01", "0.03", "0.1"]  # the grid's order


def test_a_diverged_run_does_not_end_the_sweep_but_sets_its_exit_code(one_thread) -> None:
    result = invoke("sweep", "linreg", "--grid", "lr=1000,0.03", "--set", "epochs=1", "--json")
    assert result.exit_code == 1, result.output
    assert [r["status"] for r in sweep_line(result.stdout)["runs"]] == ["diverged", "finished"]


@pytest.mark.parametrize("args, message", [
    (["--grid", "lr=0.1,-1"], "lr: must be > 0"),
    ([], "give at least one --grid"),
    (["--grid", "lr=0.1,0.3", "--device", "cpu", "--device", "cuda:7"], "cuda:7"),
    (["--grid", "seed=1,2", "--seed", "3"], "seed: given to both --seed and --grid"),
])
def test_bad_input_is_refused_before_any_run_exists(args, message) -> None:
    result = invoke("sweep", "linreg", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert Store().recent(None) == []


def test_compare_and_list_refuse_what_they_cannot_show() -> None:
    assert invoke("runs", "compare", "--sweep", "sweep-nope").exit_code == 2
    assert invoke("runs", "compare", "a", "b", "--sweep", "s").exit_code == 2
    refused = invoke("runs", "list", "--status", "done")
    assert refused.exit_code == 2 and "finished" in refused.stderr


@pytest.mark.timeout(90)
def test_ctrl_c_stops_the_run_under_way_and_starts_no_more(lab_home) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab", "sweep", "linreg-scratch", "--grid", "lr=0.01,0.03",
         "--set", "batch_size=1", "--set", "epochs=1000", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:  # wait until the first run really trains
        if json.loads(line)["kind"] == "progress":
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    assert proc.wait(timeout=30) == 130
    summary = sweep_line(rest)
    assert [(r["label"], r["status"]) for r in summary["runs"]] == [("lr=0.01", "stopped")]
    [record] = Store().recent(None)  # the second run was never created
    assert record.status == "stopped" and record.sweep == summary["sweep"]
    assert (lab_home / "runs" / record.id / "final.pt").exists()


@pytest.mark.timeout(120)
def test_ctrl_c_stops_a_spread_sweep_in_every_process(lab_home) -> None:
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "lab", "sweep", "linreg-scratch", "--grid", "lr=0.01,0.03,0.1",
         "--set", "batch_size=1", "--set", "epochs=1000", "--device", "cpu", "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while len(Store().recent(None, status="running")) < 2:  # both processes train
        assert time.monotonic() < deadline and proc.poll() is None, "the runs did not start"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 130, output
    records = Store().recent(None)
    assert sorted(r.params["lr"] for r in records) == [0.01, 0.03]  # the third never began
    assert {r.status for r in records} == {"stopped"}
    assert all((lab_home / "runs" / r.id / "final.pt").exists() for r in records)
    assert sorted(p.name for p in (lab_home / "runs").iterdir()) == sorted(r.id for r in records)
    assert "2 stopped, 1 not run" in output


def _wait_gone(pid: int, seconds: float) -> None:
    import time

    from tests.test_dist import alive

    deadline = time.monotonic() + seconds
    while alive(pid):
        assert time.monotonic() < deadline, f"the detached sweep (pid {pid}) is still running"
        time.sleep(0.2)


@pytest.mark.timeout(120)
def test_a_detached_sweep_runs_in_a_session_of_its_own_and_logs_its_end(lab_home) -> None:
    import os
    from pathlib import Path

    result = invoke("sweep", "linreg", "--grid", "lr=0.01,0.03", "--set", "epochs=1",
                    "--detach", "--json")
    assert result.exit_code == 0, result.output
    started = json.loads(result.stdout.splitlines()[-1])
    assert started["kind"] == "sweep" and started["detached"] and started["runs"] == 2
    pid = started["pid"]
    assert os.getsid(pid) == pid  # a session of its own: this terminal's hang-up misses it
    _wait_gone(pid, 90)
    records = Store().recent(None, sweep=started["sweep"])
    assert sorted(r.params["lr"] for r in records) == [0.01, 0.03]
    assert {r.status for r in records} == {"finished"}
    log = Path(started["log"])
    assert log.parent == lab_home / "sweeps"
    assert sweep_line(log.read_text().splitlines()[-1])["sweep"] == started["sweep"]


@pytest.mark.timeout(120)
def test_the_kill_a_detached_sweep_prints_stops_it(lab_home) -> None:
    import os
    import time

    result = invoke("sweep", "linreg-scratch", "--grid", "lr=0.01,0.03", "--set",
                    "batch_size=1", "--set", "epochs=1000", "--detach")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.split())
    pid = int(re.search(r"`kill -INT (\d+)` stops it", said)[1])
    assert "2 runs, running detached" in said
    deadline = time.monotonic() + 60
    while not Store().recent(None, status="running"):
        assert time.monotonic() < deadline, "the first run did not start"
        time.sleep(0.2)
    os.kill(pid, signal.SIGINT)
    _wait_gone(pid, 30)
    [record] = Store().recent(None)  # the second run was never created
    assert record.status == "stopped" and record.params["lr"] == 0.01
    assert (lab_home / "runs" / record.id / "final.pt").exists()


def test_a_detached_sweep_that_cannot_run_says_why_at_once(lab_home, tmp_path,
                                                         monkeypatch) -> None:
    """What only the detached process can hit (here: its interpreter fails) is reported by the
    command that started it, with that process's own words and exit code."""
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'cannot start: out of luck'\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(broken))
    result = invoke("sweep", "linreg", "--grid", "lr=0.01,0.03", "--detach")
    assert result.exit_code == 3
    said = " ".join(result.stderr.split())
    assert "the detached sweep ended at once (exit 3)" in said and "out of luck" in said
    assert Store().recent(None) == []
