"""`runs compare`, `runs export` and `runs rm` over real recorded runs."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from datetime import datetime

import pytest
from typer.testing import CliRunner

from lab import catalog, runner
from lab.cli import app
from lab.cli_progress import format_value
from lab.store import Store

cli = CliRunner()


def invoke(*args: str, stdin: str | None = None):
    return cli.invoke(app, list(args), input=stdin, env={"COLUMNS": "200"})


def record(exp_id: str, seed: int = 0, **overrides) -> str:
    exp = catalog.get(exp_id)
    params = exp.resolve("book", {k: str(v) for k, v in overrides.items()})
    return runner.run(exp, params, seed=seed).run_id


@pytest.fixture
def two_runs(one_thread) -> tuple[str, str]:
    """linreg-scratch, one epoch each: lr and seed differ, batch_size and epochs do not."""
    return (record("linreg-scratch", seed=0, epochs=1, lr=0.03),
            record("linreg-scratch", seed=1, epochs=1, lr=0.1))


def row(output: str, name: str) -> list[str]:
    """The cells of the table row whose first cell is ``name``."""
    for line in output.splitlines():
        cells = line.split()
        if cells and cells[0] == name:
            return cells[1:]
    raise AssertionError(f"no row {name!r} in:\n{output}")


def test_compare_shows_differing_params_and_metrics_and_summarises_the_rest(two_runs) -> None:
    a, b = (Store().get(run_id) for run_id in two_runs)
    result = invoke("runs", "compare", a.id, b.id)
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split()
    assert header == [a.id.replace("-linreg-scratch-", "-"), b.id.replace("-linreg-scratch-", "-")]
    assert row(result.output, "experiment") == ["linreg-scratch", "linreg-scratch"]
    assert row(result.output, "seed") == ["0", "1"]
    assert row(result.output, "lr") == ["0.03", "0.1"]
    assert "same in all: batch_size=10 epochs=1" in result.output
    assert not any(line.split()[:1] in (["batch_size"], ["epochs"])
                   for line in result.output.splitlines())
    assert set(a.metrics) == {"loss", "w_error", "b_error"}
    for name in a.metrics:
        assert row(result.output, name) == [format_value(a.metrics[name]),
                                            format_value(b.metrics[name])]


def test_compare_across_experiments_marks_what_a_run_lacks(two_runs) -> None:
    other = record("activations", activation="tanh")
    result = invoke("runs", "compare", two_runs[0], other)
    assert result.exit_code == 0, result.output
    assert row(result.output, "experiment") == ["linreg-scratch", "activations"]
    assert row(result.output, "lr") == ["0.03", "-"]
    assert row(result.output, "activation") == ["-", "tanh"]
    assert row(result.output, "loss")[1] == "-"
    assert "same in all" not in result.output


@pytest.mark.parametrize("args, message", [
    (["nope"], "at least two"),
    (["FIRST", "FIRST"], "at least two"),
    (["FIRST", "nope"], "no run 'nope'"),
])
def test_compare_refuses_unknown_runs_and_fewer_than_two(two_runs, args, message) -> None:
    args = [two_runs[0] if a == "FIRST" else a for a in args]
    result = invoke("runs", "compare", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_export_csv_round_trips_the_store(two_runs) -> None:
    result = invoke("runs", "export", *two_runs)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["id"] for r in rows] == list(two_runs)
    for r in rows:
        stored = Store().get(r["id"])
        assert (r["experiment"], r["status"], r["preset"], r["device"], int(r["seed"])) == (
            stored.experiment, stored.status, stored.preset, stored.device, stored.seed)
        started = datetime.fromisoformat(r["started_at"]).timestamp()
        assert started == pytest.approx(stored.started_at, abs=1)
        assert float(r["duration"]) == pytest.approx(stored.ended_at - stored.started_at,
                                                     abs=1e-3)
        assert {k[6:]: float(v) for k, v in r.items() if k.startswith("param.")} == stored.params
        assert {k[7:]: float(v) for k, v in r.items() if k.startswith("metric.")} == \
            stored.metrics  # exactly: CSV keeps every digit


def test_export_json_to_a_file_with_every_epoch(two_runs, tmp_path) -> None:
    first = record("linreg-scratch", epochs=2)
    out = tmp_path / "runs.json"
    result = invoke("runs", "export", "--experiment", "linreg-scratch", "--format", "json",
                    "--epochs", "--output", str(out))
    assert result.exit_code == 0, result.output
    runs = json.loads(out.read_text())
    assert [r["id"] for r in runs] == [first, two_runs[1], two_runs[0]]  # newest first
    for r in runs:
        stored = Store().get(r["id"])
        assert r["params"] == stored.params and r["metrics"] == stored.metrics
        assert [e["epoch"] for e in r["epochs"]] == list(range(1, stored.epochs_done + 1))
    assert runs[0]["epochs"][0]["loss"] > runs[0]["epochs"][1]["loss"]


def test_export_filters_by_experiment_and_refuses_epochs_in_csv(two_runs) -> None:
    record("activations")
    only = invoke("runs", "export", "--experiment", "activations", "--format", "json")
    assert [r["experiment"] for r in json.loads(only.stdout)] == ["activations"]
    everything = list(csv.DictReader(io.StringIO(invoke("runs", "export").stdout)))
    assert len(everything) == 3 and everything[0]["param.lr"] == ""  # activations has no lr
    refused = invoke("runs", "export", "--epochs")
    assert refused.exit_code == 2 and "--format json" in refused.output


def test_rm_asks_first_and_a_no_keeps_the_runs(two_runs) -> None:
    result = invoke("runs", "rm", *two_runs, stdin="n\n")
    assert result.exit_code == 1
    assert two_runs[0] in result.output and "nothing deleted" in result.output
    listed = invoke("runs", "list").output
    assert all(run_id in listed and Store().run_dir(run_id).is_dir() for run_id in two_runs)


@pytest.mark.parametrize("confirm", [["--yes"], []])
def test_rm_deletes_from_the_index_and_the_disk(two_runs, confirm) -> None:
    gone, kept = two_runs
    result = invoke("runs", "rm", gone, *confirm, stdin=None if confirm else "y\n")
    assert result.exit_code == 0, result.output
    listed = invoke("runs", "list").output
    assert gone not in listed and kept in listed
    assert not Store().run_dir(gone).exists() and Store().run_dir(kept).is_dir()
    assert Store().get(gone) is None


def test_rm_refuses_a_running_run_and_deletes_nothing(two_runs, lab_home) -> None:
    running, other = two_runs
    with sqlite3.connect(lab_home / "runs.db") as db:
        db.execute("UPDATE runs SET status = 'running' WHERE id = ?", (running,))
    result = invoke("runs", "rm", other, running, "--yes")
    assert result.exit_code == 2
    assert f"run {running} is still running" in result.output
    assert Store().get(running) and Store().get(other) and Store().run_dir(other).is_dir()


def test_rm_refuses_an_unknown_run(two_runs) -> None:
    result = invoke("runs", "rm", two_runs[0], "nope", "--yes")
    assert result.exit_code == 2 and "no run 'nope'" in result.output
    assert Store().get(two_runs[0]) is not None


def test_store_delete_stays_inside_its_runs_folder(lab_home) -> None:
    store = Store()
    assert store.delete("nope") is False
    for name in ("..", ".", ""):
        assert store.delete(name) is False
    assert store.runs_dir.is_dir() and (lab_home / "runs.db").exists()


@pytest.mark.parametrize("args", [["compare", "a", "b"], ["export", "--format", "json", "--epochs"],
                                  ["rm", "a", "--yes"]])
def test_compare_export_and_rm_do_not_import_torch(args) -> None:
    code = ("import sys\n"
            f"sys.argv = ['d2l-lab', 'runs', *{args!r}]\n"
            "import lab.cli\n"
            "try:\n    lab.cli.main()\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
