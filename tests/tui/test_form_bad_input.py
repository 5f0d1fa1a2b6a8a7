"""The form refuses what the CLI refuses: each bad value typed shows the CLI's rule on its field,
Run is off (ctrl+r starts nothing), and fixing the value turns it back on."""

from __future__ import annotations

import dataclasses

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select
from textual.widgets.select import InvalidSelectValueError

from lab import catalog
from lab.spec import SEED, ParamError, Params
from lab.store import Store
from lab.sweep import parse_values
from tests.test_bad_input import invoke
from tests.tui.test_app import SIZE, error_text, form, run_button, set_field
from tests.tui.test_form_sweep import FormApp
from tui.app import LabApp
from tui.widgets.form import ParamForm

CASES = {
    "softmax": [("lr", "abc"), ("lr", "nan"), ("lr", "-1"), ("lr", "0"), ("lr", "inf"),
                ("lr", "[/]"), ("epochs", "1e9"), ("batch_size", "0"), ("batch_size", "60001"),
                ("batch_size", "2.5"), ("batch_size", ""), ("seed", "-1"), ("lr", "0.1, nan"),
                ("epochs", "3, 3"), ("lr_schedule", "sometimes"),
                ("lr_schedule", "step every=0")],
    "rnn": [("max_tokens", "99"), ("num_steps", "0"), ("theta", "0"), ("lr", "1e400")],
    "weight-decay": [("lambda", "-1"), ("batch_size", "21"), ("epochs", "1e12")],
}


def cli_line(exp_id: str, name: str, text: str) -> str:
    """What the CLI says of the same text: `run --set`, or `sweep --grid` for a list."""
    if "," in text:
        args = ["sweep", exp_id, "--grid", f"{name}={text}"]
    elif name == SEED.name:
        args = ["run", exp_id, "--seed", text]
    else:
        args = ["run", exp_id, "--set", f"{name}={text}"]
    code, _, stderr = invoke(*args)
    assert code == 2
    return stderr


async def enter(pilot: Pilot, name: str, text: str, typed: bool) -> None:
    """Type the text key by key, or (faster, for the rest) set it as a paste would."""
    if typed:
        await set_field(pilot, name, text)
        return
    pilot.app.query_one(f"#param-{name}", Input).value = text
    await pilot.pause()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("exp_id", list(CASES))
async def test_each_bad_value_shows_the_clis_rule_and_run_is_off(exp_id: str) -> None:
    exp = catalog.get(exp_id)
    app = LabApp(exp_id, probe=False)
    async with app.run_test(size=SIZE) as pilot:
        for name, text in CASES[exp_id]:
            param = SEED if name == SEED.name else exp.param(name)
            with pytest.raises(ParamError) as refused:
                parse_values(param, text)
            rule = refused.value.rule
            if "[/]" not in text:  # the CLI's markup fault: see test_markup_in_a_value_is_shown…
                assert cli_line(exp_id, name, text) == f"error: {name}: {rule}\n"
            good = form(app).field(name).text
            await enter(pilot, name, text, typed=(name, text) == CASES[exp_id][0])
            assert error_text(app, name) == f"✗ {rule}", (name, text)
            assert run_button(app).disabled and not form(app).valid
            await pilot.press("ctrl+r")
            assert app.handle is None, f"{name}={text!r} started a run"
            await enter(pilot, name, good, typed=False)
            assert error_text(app, name) == "" and not run_button(app).disabled, (name, good)
    assert Store().recent(None) == []


def offers(select: Select, good: list[str], bad: list[str]) -> None:
    for value in good:
        select.value = value
    for value in bad:  # no free text: nothing else can be chosen
        with pytest.raises(InvalidSelectValueError):
            select.value = value


@pytest.mark.timeout(60)
async def test_choices_switches_and_devices_offer_only_what_is_valid() -> None:
    app = LabApp("weight-decay", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        offers(app.query_one("#param-impl", Select), ["concise", "scratch"], ["gelu", ""])
        offers(app.query_one("#device", Select), ["cpu"], ["cuda:7", "gpu", "tpu", ""])
        await pilot.pause()
        assert form(app).valid and not run_button(app).disabled
    app = LabApp("lenet", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        for name in ("bf16", "compile"):
            offers(app.query_one(f"#param-{name}", Select), ["false", "true"], ["maybe", "1"])
        await pilot.pause()
        assert form(app).valid and not run_button(app).disabled


def epochs_within_batch_size(p: Params) -> None:
    if p.epochs > p.batch_size:
        raise ParamError("epochs", f"must be ≤ batch_size ({p.batch_size})")


class RuleFormApp(FormApp):
    """linreg's form with a rule across two fields, like a transformer's num_heads'."""

    def __init__(self) -> None:
        super().__init__("linreg")
        self.experiment = dataclasses.replace(self.experiment, rules=(epochs_within_batch_size,))


async def test_a_rule_across_fields_marks_the_field_it_names() -> None:
    app = RuleFormApp()
    async with app.run_test() as pilot:
        form = app.query_one(ParamForm)
        assert form.valid  # the book's values: 3 epochs, batches of 10
        await set_field(pilot, "batch_size", "2")
        assert not form.valid and app.validity[-1] is False
        assert error_text(app, "epochs") == "✗ must be ≤ batch_size (2)"
        assert error_text(app, "batch_size") == ""
        await set_field(pilot, "epochs", "2")
        assert form.valid and app.validity[-1] is True and error_text(app, "epochs") == ""


@pytest.mark.timeout(60)
async def test_num_heads_that_do_not_divide_num_hiddens_turn_run_off() -> None:
    app = LabApp("transformer", probe=False)
    async with app.run_test(size=SIZE) as pilot:
        await set_field(pilot, "num_heads", "3")
        assert error_text(app, "num_heads").startswith("✗ must divide num_hiddens (32)")
        assert run_button(app).disabled


@pytest.mark.timeout(60)
async def test_text_that_looks_like_markup_is_shown_as_typed() -> None:
    """An unknown experiment named like Rich markup (``[/x]``) is quoted in the notice as it
    was typed: the lab neither fails to parse it nor swallows the brackets."""
    app = LabApp("[/x][b]", probe=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        [notice] = list(app._notifications)
        assert "[/x][b]" in notice.message and not notice.markup
        assert app.experiment is not None  # it opened at the first experiment instead
