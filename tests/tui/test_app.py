"""The lab console driven like a learner drives it: keys in, widgets and the run store checked."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static, TabbedContent

from lab import catalog
from lab.spec import ParamError
from tui.app import LabApp
from tui.screens.help import HelpScreen
from tui.widgets.catalog import CatalogTree
from tui.widgets.form import ParamForm
from tui.widgets.plot import LivePlot
from tui.widgets.runlog import RunLog
from tui.widgets.status import RunStatus

ROOT = Path(__file__).resolve().parents[2]
SIZE = (80, 24)


def screenshots(tmp_path: Path) -> Path:
    """Where a test saves the SVGs to look at: D2L_LAB_SCREENSHOTS=DIR keeps them."""
    out = Path(os.environ.get("D2L_LAB_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


async def wait_for(pilot: Pilot, predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.05)


async def choose(pilot: Pilot, exp_id: str) -> None:
    """Pick an experiment the way a learner does: ctrl+l to the catalog, arrows, Enter."""
    app = pilot.app
    await pilot.press("ctrl+l")
    tree = app.query_one(CatalogTree)
    ids = [e.id for e in catalog.experiments()]
    for _ in range(3 * len(ids)):
        node = tree.cursor_node
        if node is not None and node.data is not None and node.data.id == exp_id:
            break
        current = node.data.id if node is not None and node.data is not None else ids[0]
        await pilot.press("down" if ids.index(exp_id) >= ids.index(current) else "up")
    await pilot.press("enter")
    await pilot.pause()
    assert app.experiment is not None and app.experiment.id == exp_id


async def set_field(pilot: Pilot, name: str, text: str) -> None:
    """Focus a field (its text is selected on focus) and type over it, key by key."""
    field = pilot.app.query_one(f"#param-{name}", Input)
    field.focus()
    await pilot.pause()
    await pilot.press("end", *["backspace"] * len(field.value), *text)
    await pilot.pause()
    assert field.value == text


def form(app: LabApp) -> ParamForm:
    found = app.form
    assert found is not None
    return found


def error_text(app: LabApp, name: str) -> str:
    error = app.query_one(f"#field-{name} .field-error", Static)
    return str(error.render()) if error.display else ""


def run_button(app: LabApp) -> Button:
    return app.query_one("#run", Button)


def store_status(home: Path) -> list[str]:
    with sqlite3.connect(home / "runs.db") as db:
        return [row[0] for row in db.execute("SELECT status FROM runs")]


@pytest.mark.timeout(60)
def test_first_screen_paints_before_torch_is_imported() -> None:
    script = textwrap.dedent("""
        import asyncio, json, sys, time
        t0 = time.monotonic()
        torch_at = []

        class Watch:  # notes when anything starts importing torch
            def find_spec(self, name, path=None, target=None):
                if name == "torch" and not torch_at:
                    torch_at.append(time.monotonic() - t0)

        sys.meta_path.insert(0, Watch())
        import tui.app
        after_import = "torch" in sys.modules

        async def main():
            app = tui.app.LabApp()
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                svg = app.export_screenshot()
                painted = app.painted_at - t0
            return painted, svg

        painted, svg = asyncio.run(main())
        print(json.dumps({"after_import": after_import, "painted": painted,
                          "torch": torch_at[0] if torch_at else None,
                          "tree": "linreg-scratch" in svg and "Linear" in svg}))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=50, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["after_import"] is False
    assert result["tree"] is True
    # How fast it paints is measured in benchmarks/startup.py; here: torch only after the paint.
    assert result["torch"] is None or result["torch"] > result["painted"]


@pytest.mark.timeout(60)
async def test_choose_an_experiment_and_edit_a_field_by_keyboard() -> None:
    app = LabApp(probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await choose(pilot, "mlp")
        assert app.query_one(TabbedContent).active == "setup"
        assert app.focused is not None and app.focused.id == "param-lr"  # first parameter
        assert [f.param.name for f in form(app).fields] == [
            "seed", "lr", "lr_schedule", "batch_size", "epochs", "num_hiddens"]
        await pilot.press(*"0.5")  # the value was selected on focus: typing replaces it
        assert form(app).overrides()["lr"] == "0.5"
        assert error_text(app, "lr") == ""
        assert not run_button(app).disabled
        params, seed = form(app).resolve()
        assert params.lr == 0.5 and params.num_hiddens == 256 and seed == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "text"), [
    ("lr", "-1"), ("lr", "abc"), ("batch_size", "0"), ("epochs", "1e9"),
])
async def test_an_invalid_value_shows_its_rule_and_disables_run(name: str, text: str) -> None:
    exp = catalog.get("linreg-scratch")
    with pytest.raises(ParamError) as refused:
        exp.param(name).parse(text)
    app = LabApp("linreg-scratch", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        good = form(app).field(name).text
        await set_field(pilot, name, text)
        assert refused.value.rule in error_text(app, name)
        assert run_button(app).disabled
        assert "fix the fields" in str(app.query_one("#form-note", Static).render())
        await pilot.press("ctrl+r")
        assert app.handle is None  # nothing started
        await set_field(pilot, name, good)
        assert error_text(app, name) == ""
        assert not run_button(app).disabled


@pytest.mark.timeout(60)
async def test_changing_the_preset_refills_the_fields() -> None:
    app = LabApp("softmax", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await set_field(pilot, "epochs", "7")
        preset = app.query_one("#preset", Select)
        preset.focus()
        await pilot.press("enter", "down", "enter")  # open, move to "quick", pick it
        await pilot.pause()
        assert preset.value == "quick"
        assert form(app).field("epochs").text == "3"  # quick's value, the edit is replaced
        preset.value = "book"
        await pilot.pause()
        assert form(app).field("epochs").text == "10"


@pytest.mark.timeout(90)
async def test_a_tiny_linreg_run_finishes_and_is_plotted(lab_home: Path) -> None:
    app = LabApp(probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await choose(pilot, "linreg-scratch")
        await set_field(pilot, "epochs", "2")
        await pilot.press("ctrl+r")
        assert app.query_one(TabbedContent).active == "train"
        await wait_for(pilot, lambda: app.handle is not None and app.handle.done.is_set(), 60,
                       "the run to end")
        await pilot.pause(0.1)
        log = "\n".join(app.query_one(RunLog).lines_text)
        assert "finished" in log and "epoch 2: loss" in log
        plot = app.query_one(LivePlot)
        assert len(plot.series["loss"]) == 2
        assert [x for x, _ in plot.series["loss"]] == [1.0, 2.0]
        assert len(plot.batch) == 2 * 100  # every batch of both epochs (1000 examples / 10)
        plot.redraw()
        assert "loss" in plot.rendered.plain and "┤" in plot.rendered.plain
        assert app.query_one(RunStatus).state == "finished"
        assert not run_button(app).disabled
    assert store_status(lab_home) == ["finished"]


async def start_a_long_run(app: LabApp, pilot: Pilot) -> RunStatus:
    """linreg-scratch one example per batch for 1000 epochs, once it is really training."""
    await set_field(pilot, "batch_size", "1")
    await set_field(pilot, "epochs", "1000")
    await pilot.press("ctrl+r")
    status = app.query_one(RunStatus)
    await wait_for(pilot, lambda: status.state == "running" and status.step > 0, 60,
                   "the first progress tick")
    return status


@pytest.mark.timeout(90)
async def test_stop_halts_a_long_run_and_it_is_recorded_as_stopped(lab_home: Path) -> None:
    app = LabApp("linreg-scratch", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        status = await start_a_long_run(app, pilot)
        app.query_one(TabbedContent).active = "setup"
        app.query_one("#param-lr", Input).focus()  # ctrl+x must stop, not cut, in a field
        await pilot.pause()
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: status.state == "stopped" and app.handle.done.is_set(), 20,
                       "the run to stop")
        await pilot.pause(0.1)  # its RunFinished
        assert app.query_one("#param-lr", Input).value == "0.03"
        assert status.epoch < 1000
        assert "stopped" in app.query_one(RunLog).lines_text[-2]
        assert not run_button(app).disabled and app.query_one("#stop", Button).disabled
    assert store_status(lab_home) == ["stopped"]


@pytest.mark.timeout(90)
async def test_quitting_while_training_stops_and_records_the_run(lab_home: Path) -> None:
    app = LabApp("linreg-scratch", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await start_a_long_run(app, pilot)
        await pilot.press("ctrl+q")  # how fast: benchmarks/startup.py
        await wait_for(pilot, lambda: not app.is_running, 20, "the app to exit")
    assert store_status(lab_home) == ["stopped"]


@pytest.mark.timeout(90)
async def test_sigterm_while_training_interrupts_the_run_and_keeps_its_checkpoint(
        lab_home: Path) -> None:
    """What the app's SIGTERM handler does (SIGHUP does the same, then leaves at once)."""
    import signal

    app = LabApp("linreg-scratch", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await start_a_long_run(app, pilot)
        await app._quit_on_signal(signal.SIGTERM)
        await wait_for(pilot, lambda: not app.is_running, 20, "the app to exit")
    assert store_status(lab_home) == ["interrupted"]
    assert list((lab_home / "runs").glob("*/final.pt"))


@pytest.mark.timeout(60)
async def test_a_diverging_run_ends_as_diverged_with_its_reason(lab_home: Path) -> None:
    app = LabApp("linreg-scratch", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await set_field(pilot, "lr", "100")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.handle is not None and app.handle.done.is_set(), 60,
                       "the run to end")
        await pilot.pause(0.1)
        assert app.query_one(RunStatus).state == "diverged"
        ended = [line for line in app.query_one(RunLog).lines_text if line.startswith("diverged")]
        assert ended and "learning rate" in ended[0]
    assert store_status(lab_home) == ["diverged"]


@pytest.mark.timeout(60)
async def test_a_demo_plots_its_curves() -> None:
    app = LabApp("activations", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        select = app.query_one("#param-activation", Select)
        select.value = "sigmoid"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.handle is not None and app.handle.done.is_set(), 60,
                       "the demo to end")
        await pilot.pause(0.1)
        plot = app.query_one(LivePlot)
        assert set(plot.curves) == {"sigmoid(x)", "grad of sigmoid"}
        assert max(plot.curves["grad of sigmoid"][1]) == pytest.approx(0.25, abs=1e-3)
        plot.redraw()
        assert "grad of sigmoid" in plot.rendered.plain
        assert "finished" in "\n".join(app.query_one(RunLog).lines_text)


@pytest.mark.timeout(60)
async def test_help_lists_the_keys_and_closes() -> None:
    app = LabApp(probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = app.export_screenshot()
        for key in ("ctrl+r", "ctrl+x", "ctrl+q", "ctrl+t"):
            assert key in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")  # the catalog has focus: ? is not typed anywhere
        assert isinstance(app.screen, HelpScreen)


@pytest.mark.timeout(60)
async def test_devices_are_listed_in_the_background() -> None:
    app = LabApp(probe=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.devices != [("cpu", "cpu")], 30, "the device probe")
        device = app.query_one("#device", Select)
        assert device.value == "cpu"
        assert app.devices[0][0] == "cpu" and "threads" in app.devices[0][1]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_screenshots_during_and_after_a_run(tmp_path: Path, size: tuple[int, int]) -> None:
    """Saves SVGs to look at (set D2L_LAB_SCREENSHOTS=DIR to keep them)."""
    out = screenshots(tmp_path)
    app = LabApp("linreg-scratch", probe=False)
    async with app.run_test(size=size) as pilot:
        app.save_screenshot(f"setup-{size[0]}x{size[1]}.svg", str(out))
        await set_field(pilot, "batch_size", "1")
        await set_field(pilot, "epochs", "20")
        await pilot.press("ctrl+r")
        status = app.query_one(RunStatus)
        await wait_for(pilot, lambda: status.epoch >= 2, 60, "two epochs")
        app.query_one(LivePlot).redraw()
        await pilot.pause()
        app.save_screenshot(f"train-{size[0]}x{size[1]}.svg", str(out))
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: status.state == "stopped", 5, "the run to stop")
        app.query_one(LivePlot).redraw()
        await pilot.pause()
        app.save_screenshot(f"stopped-{size[0]}x{size[1]}.svg", str(out))
    for name in ("setup", "train", "stopped"):
        assert "linreg" in (out / f"{name}-{size[0]}x{size[1]}.svg").read_text()


NORMS, WEIGHTS = "gradient norm per layer", "learned vs true weights"


def run_with_figures() -> list:
    """A training run's events as the UI receives them: metrics, and two figures, one of them
    redrawn (the later curve of a series replaces the earlier)."""
    from lab.events import Curve, EpochEnd, Progress, Started

    return [
        Started("r1", "mlp", {"epochs": 3}, "cpu", 0),
        Progress(1, 3, 4, 4, [2.3, 1.9, 1.2, 0.9], 1000.0, 0.1),
        EpochEnd(1, 3, {"train_loss": 0.9, "train_acc": 0.6, "test_acc": 0.62}, 1000.0, 0.2),
        Curve(NORMS, "now", [1, 2, 3], [10.0, 1.0, 0.1], xlabel="layer", log_y=True),
        Curve(WEIGHTS, "true", [0, 1, 2], [5.0, 1.2, -3.4], xlabel="power i"),
        Curve(WEIGHTS, "learned", [0, 1, 2], [4.9, 1.1, -3.2], xlabel="power i"),
        Curve(NORMS, "now", [1, 2, 3], [1e-4, 1e-5, 1e-6], xlabel="layer", log_y=True),
    ]


async def run_to_end(pilot: Pilot) -> None:
    """Press Run and wait until the run has ended and its last events are shown."""
    app = pilot.app
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: app.handle is not None and app.handle.done.is_set(), 60,
                   "the run to end")
    await pilot.pause(0.1)


def footer_keys(app: LabApp) -> set[str]:
    """The descriptions the footer shows (hidden bindings are left out)."""
    return {b.description for _, b, enabled, _ in app.active_bindings.values() if b.show}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_ctrl_f_cycles_the_metrics_and_each_figure(tmp_path: Path,
                                                         size: tuple[int, int]) -> None:
    """Saves an SVG of each view to look at (set D2L_LAB_SCREENSHOTS=DIR to keep them)."""
    from tui.messages import RunEvents

    out = screenshots(tmp_path)
    app = LabApp("mlp", probe=False)
    async with app.run_test(size=size) as pilot:
        plot = app.query_one(LivePlot)
        assert "Figure" not in footer_keys(app)
        app.post_message(RunEvents(run_with_figures()))
        await pilot.pause()
        assert plot.views == [None, NORMS, WEIGHTS]
        assert "Figure" in footer_keys(app)
        await pilot.press("ctrl+f")  # from Setup: the plot first, as it was
        assert app.query_one(TabbedContent).active == "train" and plot.current is None
        shown = []
        for _ in range(4):
            plot.redraw()
            await pilot.pause()
            legend, *body = plot.rendered.plain.splitlines()
            shown.append((plot.current, legend, "\n".join(body)))
            app.save_screenshot(f"views-{len(shown)}-{size[0]}x{size[1]}.svg", str(out))
            await pilot.press("ctrl+f")
        assert [view for view, _, _ in shown] == [None, NORMS, WEIGHTS, None]
        metrics, norms, weights, again = shown
        assert metrics[1].startswith("metrics (ctrl+f: 1/3)") and "train loss" in metrics[1]
        assert "┤" in metrics[2] and "epoch" in metrics[2]
        assert norms[1].startswith(f"{NORMS} (ctrl+f: 2/3)")
        assert "1e-5┤" in norms[2] and "1e0" not in norms[2]  # only the redrawn curve
        assert "layer" in norms[2]
        assert weights[1].startswith(f"{WEIGHTS} (ctrl+f: 3/3)")
        assert "power i" in weights[2]
        assert again == metrics

        await pilot.press("ctrl+f", "ctrl+f")  # on the second figure, then a new run starts
        app.post_message(RunEvents(run_with_figures()[:1]))
        await pilot.pause()
        assert plot.views == [None] and plot.current is None and plot.view is None
        assert "Figure" not in footer_keys(app)
        await pilot.press("f1")
        assert "ctrl+f" in app.export_screenshot()  # the help lists the key (the plot does not now)


@pytest.mark.timeout(60)
async def test_the_activations_demo_opens_on_its_figure() -> None:
    app = LabApp("activations", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(pilot)
        plot = app.query_one(LivePlot)
        name = app.form.resolve()[0].activation if app.form else ""
        assert plot.views == [name] and plot.current == name
        plot.redraw()
        legend = plot.rendered.plain.splitlines()[0]
        assert legend.startswith(f"{name}  ━ {name}(x)") and "ctrl+f" not in legend
        assert "Figure" not in footer_keys(app)  # one view: nothing to cycle


@pytest.mark.timeout(90)
async def test_an_experiment_asking_for_a_log_loss_axis_gets_it(lab_home: Path) -> None:
    exp = next(e for e in catalog.experiments() if e.log_loss and not e.dataset)
    app = LabApp(exp.id, probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await set_field(pilot, "epochs", "2")
        await run_to_end(pilot)
        plot = app.query_one(LivePlot)
        assert plot.log_loss and plot.current is None  # a training run opens on its metrics
        plot.redraw()
        labels = [line.split("┤")[0].strip() for line in plot.rendered.plain.splitlines()
                  if "┤" in line]
        assert labels and all("e" in label for label in labels), labels


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_ctrl_o_shows_the_network_shapes_for_the_form_values(tmp_path: Path,
                                                                   size: tuple[int, int]) -> None:
    """Saves an SVG of the panel to look at (see ``screenshots``)."""
    from tui.screens.shapes import ShapesScreen

    out = screenshots(tmp_path)
    app = LabApp("mlp", probe=False)
    async with app.run_test(size=size) as pilot:
        shapes = app.query_one("#shapes", Button)
        await set_field(pilot, "num_hiddens", "0")
        assert not shapes.display  # invalid values have no shapes: the note says what to fix
        await pilot.press("ctrl+o")
        assert not isinstance(app.screen, ShapesScreen)
        await set_field(pilot, "num_hiddens", "64")
        assert shapes.display
        await pilot.click("#shapes")
        screen = app.screen
        assert isinstance(screen, ShapesScreen)
        await wait_for(pilot, lambda: screen.rows is not None, 30, "the shapes")
        assert screen.rows == [("Flatten", (1, 784)), ("Linear", (1, 64)), ("ReLU", (1, 64)),
                               ("Linear", (1, 10))]
        await pilot.pause()
        text = app.export_screenshot()
        assert "Flatten" in text and "784]" in text and "Shapes" in text
        app.save_screenshot(f"shapes-{size[0]}x{size[1]}.svg", str(out))
        await pilot.press("escape")
        assert not isinstance(app.screen, ShapesScreen)
        assert app.query_one("#param-num_hiddens", Input).value == "64"

        await pilot.press("ctrl+o")  # its key toggles it too
        assert isinstance(app.screen, ShapesScreen)
        await pilot.press("ctrl+o")
        assert not isinstance(app.screen, ShapesScreen)

        await choose(pilot, "activations")
        await pilot.press("ctrl+o")
        screen = app.screen
        assert isinstance(screen, ShapesScreen)
        await wait_for(pilot, lambda: screen.rows is not None, 30, "the answer")
        assert screen.rows == [] and screen.error == "no network to show for activations"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_after_a_softmax_run_ctrl_g_shows_its_predictions(
        small_fashion_mnist, tmp_path: Path, size: tuple[int, int]) -> None:
    """Saves an SVG of the panel to look at (see ``screenshots``)."""
    from lab.events import Started
    from tui.messages import RunEvents
    from tui.screens.predictions import PredictionsScreen
    from tui.widgets.predictions import PredictionsView

    out = screenshots(tmp_path)
    app = LabApp("softmax", probe=False)
    async with app.run_test(size=size) as pilot:
        assert "Predictions" not in footer_keys(app)
        await pilot.press("ctrl+g")  # nothing to show yet: nothing happens
        assert not isinstance(app.screen, PredictionsScreen)
        await set_field(pilot, "epochs", "1")
        await run_to_end(pilot)
        shown = app.predictions
        assert shown is not None and len(shown.true) == len(shown.images) == 12
        assert "Predictions" in footer_keys(app)
        assert any("ctrl+g" in line for line in app.query_one(RunLog).lines_text)
        app.save_screenshot(f"predictions-key-{size[0]}x{size[1]}.svg", str(out))

        await pilot.press("ctrl+g")
        assert isinstance(app.screen, PredictionsScreen)
        await pilot.pause()
        view = app.screen.query_one(PredictionsView)
        assert view.scale == 2  # twelve full-size images do not fit either screen
        app.save_screenshot(f"predictions-{size[0]}x{size[1]}.svg", str(out))
        wrong = [(t, p) for t, p in zip(shown.true, shown.predicted, strict=True) if t != p]
        assert f"{12 - len(wrong)}/12" in app.export_screenshot()
        plain = view.grid.plain
        assert plain.splitlines()[7].startswith(shown.true[0])  # under the first image
        assert plain.count("✗") == len(wrong)
        for t, p in wrong:
            assert t in plain and f"✗ {p}"[:14] in plain  # at half size, 14 columns a caption
        await pilot.press("escape")
        assert not isinstance(app.screen, PredictionsScreen)

        app.post_message(RunEvents([Started("r2", "softmax", {"epochs": 1}, "cpu", 0)]))
        await pilot.pause()
        assert app.predictions is None and "Predictions" not in footer_keys(app)  # a new run


@pytest.mark.timeout(90)
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_heatmaps_of_a_demo_show_at_once_and_browse(tmp_path: Path,
                                                           size: tuple[int, int]) -> None:
    """attention-scoring draws only heatmaps: they take the plot's place when they come."""
    from tui.widgets.heatmap import HeatmapView

    out = screenshots(tmp_path)
    app = LabApp("attention-scoring", probe=False)
    async with app.run_test(size=size) as pilot:
        await run_to_end(pilot)
        maps, plot = app.query_one(HeatmapView), app.query_one(LivePlot)
        assert maps.display and not plot.display and app.focused is maps
        first = maps.current
        assert first is not None and len(first.matrix[0]) == 10
        app.save_screenshot(f"heatmaps-{size[0]}x{size[1]}.svg", str(out))
        await pilot.press("right_square_bracket")  # the next map: the other scoring function
        assert maps.current is not None and maps.current.title != first.title
        await pilot.press("down")  # the cursor reads a value
        assert "→" in maps.status
        await pilot.press("ctrl+f")  # round to the plot, then back
        assert plot.display and not maps.display
        await pilot.press("ctrl+f")
        assert maps.display
        assert any("heatmaps (" in line for line in app.query_one(RunLog).lines_text)


@pytest.mark.timeout(90)
async def test_heatmaps_come_after_the_figures_in_the_ctrl_f_cycle() -> None:
    from tui.widgets.heatmap import HeatmapView

    app = LabApp("nadaraya-watson", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(pilot)
        maps, plot = app.query_one(HeatmapView), app.query_one(LivePlot)
        assert plot.display and not maps.display  # it has curves: they stay in view
        assert len(maps.data) >= 3 and "Figure" in footer_keys(app)
        for _ in plot.views[:-1]:
            await pilot.press("ctrl+f")
            assert plot.display
        await pilot.press("ctrl+f")
        assert maps.display and maps.current is not None
        await pilot.press("ctrl+f")
        assert plot.display and plot.current == plot.views[0]


@pytest.mark.timeout(120)
async def test_a_language_model_shows_its_samples_and_writes_after_a_prefix(
        time_machine: bool, tmp_path: Path) -> None:
    from tui.widgets.samples import SampleView

    app = LabApp("rnn", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        samples = app.query_one(SampleView)
        assert samples.display and samples.prefix_box.disabled  # nothing to write with yet
        await set_field(pilot, "epochs", "20")
        await set_field(pilot, "num_hiddens", "32")
        await run_to_end(pilot)
        shown = str(app.query_one("#sample-text", Static).render())
        assert shown.startswith("epoch 20 ") and "traveller" in shown
        assert "tok/s" in str(app.query_one(RunStatus).render())
        assert not samples.prefix_box.disabled
        app.save_screenshot("samples-80x24.svg", str(screenshots(tmp_path)))
        samples.prefix_box.focus()
        await pilot.press(*"the time", "enter")
        await wait_for(pilot, lambda: any(line.startswith("you asked: the time")
                                          for line in app.query_one(RunLog).lines_text),
                       30, "the model to write")
        shown = str(app.query_one("#sample-text", Static).render())
        assert shown.startswith("you asked: the time") and len(shown) > len("you asked: ") + 50
        await pilot.press(*"!", "enter")  # a character the model does not know: it says so
        await wait_for(pilot, lambda: "does not know" in str(
            app.query_one("#sample-text", Static).render()), 30, "the refusal")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_transformers_attention_is_browsable_by_kind_layer_and_head(
        fra_eng: Path, tmp_path: Path, size: tuple[int, int]) -> None:
    """2 layers × 4 heads of each of the three attentions for `i'm home .`, token-labelled;
    saves an SVG of the view (D2L_LAB_SCREENSHOTS=DIR keeps them)."""
    from tui.widgets.heatmap import HeatmapView

    out = screenshots(tmp_path)
    app = LabApp("transformer", probe=False)
    async with app.run_test(size=size) as pilot:
        await set_field(pilot, "epochs", "2")
        await run_to_end(pilot)
        maps = app.query_one(HeatmapView)
        kinds = ["encoder self-attention", "decoder self-attention", "encoder-decoder attention"]
        assert list(maps.data.groups) == kinds
        heads = [f"layer {layer}, head {head}" for layer in (1, 2) for head in (1, 2, 3, 4)]
        assert all(maps.data.titles(kind) == heads for kind in kinds)
        while not maps.display:  # the loss curve first, then the heatmaps
            await pilot.press("ctrl+f")
        assert maps.current is not None and maps.current.group == kinds[0]
        assert maps.current.rows == ["i'm", "home", ".", "<eos>"]
        await pilot.press("right_square_bracket", "right_curly_bracket", "right_curly_bracket")
        shown = maps.current
        assert (shown.group, shown.title) == (kinds[2], heads[1])  # same head, other kind
        assert shown.cols == ["i'm", "home", ".", "<eos>"] and shown.rows[-1] == "<eos>"
        await pilot.pause()
        drawn = [maps.render_line(y).text for y in range(maps.size.height)]
        assert "encoder-decoder attention" in drawn[0] and "layer 1, head 2" in drawn[0]
        assert any("home" in line for line in drawn[1:])  # a column's token label
        app.save_screenshot(f"transformer-{size[0]}x{size[1]}.svg", str(out))
