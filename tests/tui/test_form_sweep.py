"""A form field holding a list makes the form a sweep; SweepHandle runs its points in turn."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Label, Static

from lab import catalog
from lab.events import Ended, Progress, Started
from lab.spec import ParamError
from lab.store import Store
from lab.sweep import expand
from tests.tui.test_app import set_field
from tui.messages import RunEvents, RunFinished, SweepFinished, SweepStep
from tui.run import RunWorkers
from tui.sweep import SweepHandle
from tui.widgets.form import ParamForm


class FormApp(App):
    def __init__(self, exp_id: str) -> None:
        super().__init__()
        self.experiment = catalog.get(exp_id)
        self.validity: list[bool] = []

    def compose(self) -> ComposeResult:
        yield ParamForm(self.experiment, devices=[("cpu", "cpu")])

    def on_param_form_validity(self, event: ParamForm.Validity) -> None:
        self.validity.append(event.valid)


def shown(app: App, name: str, part: str) -> str:
    widget = app.query_one(f"#field-{name} .{part}", Static)
    return str(widget.render()) if widget.display else ""


async def test_a_list_in_a_field_makes_a_sweep_of_validated_points() -> None:
    app = FormApp("linreg")
    async with app.run_test() as pilot:
        form = app.query_one(ParamForm)
        assert not form.is_sweep and len(form.sweep_points()) == 1
        await set_field(pilot, "lr", "0.1, 0.3")
        assert form.valid and form.is_sweep and form.runs == 2
        assert shown(app, "lr", "field-range").endswith("2 values: sweep")
        assert form.grid() == {"lr": ["0.1", "0.3"]}
        points = form.sweep_points()
        assert [(p.params.lr, p.params.epochs, p.seed, p.label) for p in points] == [
            (0.1, 3, 0, "lr=0.1"), (0.3, 3, 0, "lr=0.3")]
        with pytest.raises(ParamError, match="lr: holds 2 values"):
            form.resolve()  # one run's values: a list is not one
        told = len(app.validity)
        form.field("lr").set_text("0.1, 0.3, 0.9")  # still valid, one run more: the app hears
        await pilot.pause()
        assert form.runs == 3 and app.validity[told:] == [True]

        await set_field(pilot, "lr", "0.1, x")  # one bad item: the field says which rule
        assert not form.valid and app.validity[-1] is False and form.runs == 0
        assert shown(app, "lr", "field-error") == "✗ must be a number (got 'x')"
        assert not shown(app, "lr", "field-range").endswith("sweep")

        await set_field(pilot, "lr", "0.03")  # back to one value: one run, as before
        assert form.valid and not form.is_sweep and form.runs == 1
        assert form.resolve()[0].lr == 0.03
        assert str(app.query_one("#field-lr .field-range", Label).render()) == "> 0, ≤ 1e6"


async def test_two_lists_and_the_seed_make_a_grid() -> None:
    app = FormApp("linreg")
    async with app.run_test() as pilot:
        form = app.query_one(ParamForm)
        await set_field(pilot, "batch_size", "10, 20")
        await set_field(pilot, "seed", "0,1")
        assert form.valid and form.runs == 4
        points = form.sweep_points()
        assert [p.label for p in points] == ["seed=0 batch_size=10", "seed=0 batch_size=20",
                                             "seed=1 batch_size=10", "seed=1 batch_size=20"]
        assert [p.seed for p in points] == [0, 0, 1, 1]
        await set_field(pilot, "epochs", "0")  # a fixed field still checks, for every point
        assert not form.valid and shown(app, "epochs", "field-error").startswith("✗ must be ≥ 1")


async def test_choices_stay_single_values() -> None:
    app = FormApp("activations")
    async with app.run_test() as pilot:
        form = app.query_one(ParamForm)
        await pilot.pause()
        field = form.field("activation")
        assert field.values == [field.text] and not field.is_list
        assert form.valid and not form.is_sweep
        assert form.resolve()[0].activation == field.text


def run_sweep(handle: SweepHandle, timeout: float = 60) -> None:
    handle.start()
    assert handle.done.wait(timeout), "the sweep did not end"
    handle._thread.join(5)  # SweepFinished comes right after done


@pytest.mark.timeout(90)
def test_a_sweep_handle_runs_its_points_in_turn_posting_each_run(one_thread) -> None:
    exp = catalog.get("linreg")
    points = expand(exp, "book", {"epochs": "1"}, {"lr": ["0.01", "0.03"]})
    posted: list = []
    handle = SweepHandle(posted.append, exp, points, device="cpu", preset="book",
                         workers=RunWorkers(ahead=False))
    assert not handle.follows
    run_sweep(handle)
    assert not handle.running

    kinds = [type(m).__name__ for m in posted]
    assert kinds[0] == "SweepStep" and kinds[-2:] == ["RunFinished", "SweepFinished"]
    steps = [m for m in posted if isinstance(m, SweepStep)]
    assert [(s.index, s.total, s.label) for s in steps] == [(1, 2, "lr=0.01"), (2, 2, "lr=0.03")]
    assert all(m.handle is handle for m in posted)
    # Each run's events come after its step and end before the next step.
    second = posted.index(steps[1])
    events = [[e for m in part if isinstance(m, RunEvents) for e in m.events]
              for part in (posted[:second], posted[second:])]
    for run, lr in zip(events, (0.01, 0.03), strict=True):
        assert isinstance(run[0], Started) and run[0].params["lr"] == lr
        assert run[0].sweep == handle.sweep_id
        assert isinstance(run[-1], Ended) and run[-1].status == "finished"

    finished = posted[-2]
    assert isinstance(finished, RunFinished) and not finished.error
    assert finished.result is handle.result is handle.results[-1]
    done = posted[-1]
    assert isinstance(done, SweepFinished) and done.sweep == handle.sweep_id
    assert [r.status for r in done.results] == ["finished", "finished"] and done.total == 2
    records = Store().recent(None, sweep=handle.sweep_id)
    assert sorted(r.params["lr"] for r in records) == [0.01, 0.03]


@pytest.mark.timeout(90)
def test_stopping_a_sweep_stops_its_run_and_starts_no_more(one_thread) -> None:
    exp = catalog.get("linreg")
    points = expand(exp, "book", {"epochs": "1000", "batch_size": "1"}, {"lr": ["0.01", "0.03"]})
    posted: list = []

    def post(message) -> None:
        posted.append(message)
        if isinstance(message, RunEvents) and any(isinstance(e, Progress)
                                                  for e in message.events):
            handle.stop()  # from the run thread, as soon as the first run trains

    handle = SweepHandle(post, exp, points, device="cpu", preset="book",
                         workers=RunWorkers(ahead=False))
    run_sweep(handle)
    assert [m.index for m in posted if isinstance(m, SweepStep)] == [1]
    assert [r.status for r in posted[-1].results] == ["stopped"]
    [record] = Store().recent(None)
    assert record.status == "stopped" and record.sweep == handle.sweep_id


def test_a_device_that_is_not_here_ends_the_sweep_with_a_message() -> None:
    exp = catalog.get("linreg")
    points = expand(exp, "book", {}, {"lr": ["0.01", "0.03"]})
    posted: list = []
    handle = SweepHandle(posted.append, exp, points, device="cuda:7", preset="book",
                         workers=RunWorkers(ahead=False))
    run_sweep(handle)
    assert [type(m).__name__ for m in posted] == ["RunFinished", "SweepFinished"]
    assert "cuda:7" in posted[0].error and posted[1].results == []
    assert Store().recent(None) == []
