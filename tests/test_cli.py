"""The command line through typer's runner, and its fast paths in a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from lab.cli import app
from lab.models import native

cli = CliRunner()


def invoke(*args: str):
    return cli.invoke(app, list(args))


def test_list_shows_every_experiment_with_data_status() -> None:
    result = invoke("list", "--json")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    ids = [row["id"] for row in rows]
    assert ids[:2] == ["tensors", "preprocess"]  # lecture 04 first
    assert {"softmax", "softmax-scratch", "mlp", "mlp-scratch", "activations"} <= set(ids)
    linreg = rows[ids.index("linreg-scratch")]
    assert linreg["lecture"] == 8 and linreg["title_zh"] == "线性回归的从零开始实现"
    assert linreg["data_ready"] is True  # synthetic


def test_show_lists_parameters_presets_and_hints() -> None:
    result = invoke("show", "softmax")
    assert result.exit_code == 0
    for text in ("batch_size", "256", "quick", "> 0", "Try:", "softmax回归"):
        assert text in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "softmax", "--set", "lr=-1"], "lr: must be > 0"),
        (["run", "softmax", "--set", "lr=abc"], "lr: must be a number"),
        (["run", "softmax", "--set", "batch_size=0"], "batch_size: must be ≥ 1"),
        (["run", "softmax", "--set", "epochs=1e9"], "epochs: must be ≥ 1, ≤ 1000"),
        (["run", "softmax", "--set", "momentum=0.9"], "momentum: unknown parameter"),
        (["run", "softmax", "--set", "lr"], "expected key=value"),
        (["run", "softmax", "--preset", "fast"], "preset: must be one of book, quick"),
        (["run", "softmax", "--device", "cuda:7"], "'cuda:7' is not available here; devices: cpu"),
        (["run", "softmax", "--device", "tpu"], "devices: cpu"),
        (["run", "softmax", "--seed", "-1"], "seed: must be ≥ 0"),
        (["run", "sofmax"], "did you mean softmax"),
        (["show", "nope"], "no experiment 'nope'"),
    ],
)
def test_bad_usage_exits_2_with_one_line(args, message, lab_home) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert len(result.stderr.strip().splitlines()) <= 2  # one line (wrapped at most once)
    assert not (lab_home / "runs").exists() or not any((lab_home / "runs").iterdir())


def test_run_prints_epochs_and_records_the_run() -> None:
    result = invoke("run", "linreg-scratch", "--set", "epochs=2")
    assert result.exit_code == 0, result.output
    assert "finished" in result.stdout
    assert "error in estimating w" in result.stdout
    runs = invoke("runs")
    assert "linreg-scratch" in runs.stdout and "finished" in runs.stdout


def test_run_json_is_one_event_per_line() -> None:
    result = invoke("run", "linreg", "--set", "epochs=2", "--json", "--seed", "1")
    assert result.exit_code == 0
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "ended"
    assert kinds.count("epoch") == 2
    assert events[0]["seed"] == 1 and events[-1]["status"] == "finished"


def test_diverged_run_exits_1() -> None:
    result = invoke("run", "linreg", "--set", "lr=1e6", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout.splitlines()[-1])["status"] == "diverged"


def test_devices_and_data_list() -> None:
    devices = invoke("devices").stdout
    assert devices.startswith("cpu")
    # Compiled here, or how to compile them.
    assert f"CPU kernels ({native.KERNELS})" in devices.splitlines()[1]
    data = invoke("data", "list")
    assert data.exit_code == 0 and "fashion-mnist" in data.stdout


def test_data_fetch_offline_says_how_to_get_it(tmp_path, monkeypatch) -> None:
    from lab.data import hub

    monkeypatch.setattr(hub, "search_dirs", lambda dataset_id: [tmp_path / "nowhere"])
    result = invoke("data", "fetch", "fashion-mnist")
    assert result.exit_code == 1
    text = " ".join(result.stderr.split())
    assert "d2l-lab data import fashion-mnist" in text and "apt install" in text


def test_data_import_then_available(tmp_path) -> None:
    result = invoke("data", "import", "fashion-mnist", str(tmp_path / "empty"))
    assert result.exit_code == 1


@pytest.mark.parametrize("args", [["--help"], ["list"], ["show", "mlp"], ["data", "list"],
                                  ["runs", "list"]])
def test_fast_paths_do_not_import_torch(args) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['d2l-lab', *{args!r}]\n"
        "import lab.cli\n"
        "try:\n    lab.cli.main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'textual' not in sys.modules, 'textual imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("sig", "status", "code"), [
    ("SIGINT", "stopped", 130), ("SIGTERM", "interrupted", 143), ("SIGHUP", "interrupted", 129)])
def test_a_signal_stops_the_run_and_keeps_its_checkpoint(sig, status, code, lab_home) -> None:
    """Ctrl+C mid-run stops it (exit 130); SIGTERM or an SSH drop (SIGHUP) interrupt it (exit
    128 + the signal); either way nothing is lost."""
    import signal

    from lab.store import Store

    proc = subprocess.Popen(
        [sys.executable, "-m", "lab", "run", "linreg-scratch", "--set", "batch_size=1",
         "--set", "epochs=1000", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    for line in proc.stdout:  # wait until it is really training
        if json.loads(line)["kind"] == "progress":
            break
    proc.send_signal(getattr(signal, sig))
    rest = proc.stdout.read()
    assert proc.wait(timeout=20) == code
    ended = json.loads(rest.splitlines()[-1])
    assert ended["kind"] == "ended" and ended["status"] == status
    assert (sig in ended["reason"]) == (status == "interrupted")
    record = Store().recent(1)[0]
    assert record.status == status
    assert (lab_home / "runs" / record.id / "final.pt").exists()


def test_a_saved_config_reruns_with_the_same_rules(tmp_path) -> None:
    first = invoke("run", "linreg-scratch", "--set", "epochs=1", "--set", "lr=0.05", "--json")
    run_id = json.loads(first.stdout.splitlines()[0])["run_id"]
    from lab.store import Store

    config = Store().run_dir(run_id) / "config.json"
    again = invoke("run", "linreg-scratch", "--config", str(config), "--set", "epochs=2", "--json")
    started = json.loads(again.stdout.splitlines()[0])
    assert again.exit_code == 0
    assert started["params"] == {"lr": 0.05, "batch_size": 10, "epochs": 2}

    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({"experiment": "linreg-scratch", "params": {"batch_size": 0}}))
    refused = invoke("run", "linreg-scratch", "--config", str(edited))
    assert refused.exit_code == 2 and "batch_size: must be ≥ 1" in refused.stderr
    other = invoke("run", "softmax", "--config", str(config))
    assert other.exit_code == 2 and "a config of linreg-scratch" in " ".join(other.stderr.split())


BRAILLE_OR_BOX = set(map(chr, range(0x2801, 0x2900))) | set("┤├└┬─│")


def test_run_activations_prints_its_figure_as_a_chart() -> None:
    result = invoke("run", "activations", "--set", "activation=tanh")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    legend = next(i for i, line in enumerate(lines) if line.startswith("tanh  "))
    assert "tanh(x)" in lines[legend] and "grad of tanh" in lines[legend]
    chart = lines[legend + 1:legend + 19]
    assert sum(bool(BRAILLE_OR_BOX & set(line)) for line in chart) >= 16
    assert chart[-1].strip() == "x"  # the figure's x label, under its axis
    assert max(len(line) for line in chart) <= 80
    assert any(line.startswith("finished") for line in lines[legend + 19:])


def test_a_training_run_ends_with_its_curves() -> None:
    import re

    result = invoke("run", "linreg-scratch", "--set", "epochs=2")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "┄ batch loss  ━ loss" in text
    assert re.search(r"^ ?1e-\d┤", text, re.MULTILINE)  # the loss falls over decades: log axis
    assert text.index("batch loss") < text.index("finished")


def test_a_figure_redrawn_during_the_run_is_printed_once_as_last_drawn() -> None:
    from io import StringIO

    from rich.console import Console

    from lab import catalog
    from lab.cli_progress import RichSink
    from lab.events import Curve, Ended

    out = StringIO()
    with RichSink(Console(file=out, width=80), catalog.get("activations")) as sink:
        for top in (100.0, 1.0, 3.0):  # each tick redraws the norms
            sink(Curve("gradient norms", "now", [1, 2, 3], [top, 2.0, 1.0], xlabel="layer"))
        sink(Ended("finished", elapsed=1.0))
    text = out.getvalue()
    assert text.count("gradient norms") == 1
    labels = [line.split("┤")[0].strip() for line in text.splitlines() if "┤" in line]
    assert labels[0] == "3" and "100" not in labels


def shapes_printed(output: str) -> list[tuple[str, str]]:
    """The (layer, output shape) rows of `show --shapes`, after its "Shapes" heading."""
    rows = output.split("Shapes", 1)[1].splitlines()[2:]
    return [(row.split(None, 1)[0], row.split(None, 1)[1].strip()) for row in rows if row.strip()]


def test_show_shapes_prints_each_layers_output_shape() -> None:
    result = invoke("show", "softmax", "--shapes")
    assert result.exit_code == 0, result.output
    assert result.stdout.index("Try:") < result.stdout.index("Shapes")  # after the description
    assert "input    [1, 1, 28, 28]" in result.stdout
    assert shapes_printed(result.stdout) == [("input", "[1, 1, 28, 28]"), ("Flatten", "[1, 784]"),
                                             ("Linear", "[1, 10]")]


def test_show_shapes_follows_the_preset_and_set_values() -> None:
    result = invoke("show", "mlp", "--shapes", "--preset", "quick", "--set", "num_hiddens=32")
    assert result.exit_code == 0, result.output
    assert shapes_printed(result.stdout)[1:] == [("Flatten", "[1, 784]"), ("Linear", "[1, 32]"),
                                                 ("ReLU", "[1, 32]"), ("Linear", "[1, 10]")]
    bad = invoke("show", "mlp", "--shapes", "--set", "num_hiddens=0")
    assert bad.exit_code == 2 and "num_hiddens: must be ≥ 1" in bad.stderr


def test_show_shapes_of_an_experiment_without_a_network_says_so() -> None:
    result = invoke("show", "activations", "--shapes")
    assert result.exit_code == 0
    assert "no network to show for activations" in result.stdout


def latest_run_id() -> str:
    from lab.store import Store

    return Store().recent(1)[0].id


def test_runs_show_prints_a_runs_config_status_and_metrics() -> None:
    assert invoke("run", "linreg", "--set", "epochs=2", "--seed", "3").exit_code == 0
    run_id = latest_run_id()
    assert run_id in invoke("runs", "list").stdout
    result = invoke("runs", "show", run_id)
    assert result.exit_code == 0, result.output
    text = result.stdout
    for expected in (run_id, "08 Linear regression, concise", "finished", "seed 3", "epochs=2",
                     "loss "):
        assert expected in text
    none = invoke("runs", "show", run_id, "--predictions")
    assert "this run has no predictions" in none.stdout
    unknown = invoke("runs", "show", "20990101-000000-nope")
    assert unknown.exit_code == 2 and "no run '20990101-000000-nope'" in unknown.stderr


@pytest.mark.timeout(120)
def test_runs_show_predictions_draws_the_test_images_with_their_labels(
        small_fashion_mnist) -> None:
    assert invoke("run", "softmax", "--set", "epochs=1").exit_code == 0
    result = invoke("runs", "show", latest_run_id(), "--predictions")
    assert result.exit_code == 0, result.output
    from lab.events import Predictions
    from lab.store import Store, read_events

    shown = next(e for e in read_events(Store().run_dir(latest_run_id()))
                 if isinstance(e, Predictions))
    wrong = sum(t != p for t, p in zip(shown.true, shown.predicted, strict=True))
    assert f"{12 - wrong}/12 test images right" in result.stdout
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    # CliRunner's 80 columns: halved images (14 × 7), five across, true then predicted labels.
    assert lines.count("  ".join(["▀" * 14] * 5)) == 2 * 7
    marked = [p if p == t else f"✗ {p}" for t, p in zip(shown.true, shown.predicted, strict=True)]
    for start in (0, 5, 10):
        assert "  ".join(label.ljust(14) for label in shown.true[start:start + 5]).rstrip() in lines
        assert "  ".join(label.ljust(14) for label in marked[start:start + 5]).rstrip() in lines
    assert result.stdout.count("✗") == wrong + 1  # and once in the summary's key
