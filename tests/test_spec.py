"""The one set of parameter rules that the form, --set and saved configs share."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab import catalog
from lab.spec import Param, ParamError, parse_assignments

SOFTMAX = catalog.get("softmax")


@pytest.mark.parametrize(
    ("name", "raw", "rule"),
    [
        ("lr", "-1", "must be > 0"),
        ("lr", "0", "must be > 0"),
        ("lr", "abc", "must be a number"),
        ("lr", "nan", "finite"),
        ("lr", "inf", "finite"),
        ("lr", "", "required"),
        ("batch_size", "0", "must be ≥ 1"),
        ("batch_size", "2.5", "integer"),
        ("batch_size", "60001", "≤ 60000"),  # larger than the training set
        ("epochs", "1e9", "≤ 1000"),
        ("epochs", "ten", "integer"),
    ],
)
def test_bad_values_are_refused_with_the_field_and_rule(name: str, raw: str, rule: str) -> None:
    with pytest.raises(ParamError) as info:
        SOFTMAX.resolve("book", {name: raw})
    assert info.value.name == name
    assert rule in str(info.value)
    assert str(info.value).startswith(f"{name}: ")
    assert "\n" not in str(info.value)


def test_values_are_typed_and_presets_apply() -> None:
    params = SOFTMAX.resolve("quick", {"lr": "0.5", "batch_size": "1e2"})
    assert params.lr == 0.5 and isinstance(params.lr, float)
    assert params.batch_size == 100 and isinstance(params.batch_size, int)
    assert params.epochs == SOFTMAX.presets["quick"]["epochs"]
    assert SOFTMAX.resolve().epochs == 10  # book default


def test_json_values_from_a_saved_config_pass_the_same_rules() -> None:
    assert SOFTMAX.resolve("book", {"lr": 0.3, "epochs": 2}).epochs == 2
    with pytest.raises(ParamError, match="batch_size"):
        SOFTMAX.resolve("book", {"batch_size": -4})


def test_unknown_key_and_unknown_preset() -> None:
    with pytest.raises(ParamError,
                       match="unknown parameter.*known: lr, lr_schedule, batch_size, epochs"):
        SOFTMAX.resolve("book", {"momentum": "0.9"})
    with pytest.raises(ParamError, match="preset: must be one of book, quick"):
        SOFTMAX.resolve("fast")


def test_choices() -> None:
    activations = catalog.get("activations")
    assert activations.resolve("book", {"activation": "tanh"}).activation == "tanh"
    with pytest.raises(ParamError, match="one of relu, sigmoid, tanh"):
        activations.resolve("book", {"activation": "gelu"})


def test_assignments_need_an_equals_sign() -> None:
    assert parse_assignments(["lr=0.1", "epochs = 3"]) == {"lr": "0.1", "epochs": " 3"}
    with pytest.raises(ParamError, match="expected key=value"):
        parse_assignments(["lr"])
    with pytest.raises(ParamError, match="expected key=value"):
        parse_assignments(["=3"])


def test_bool_param() -> None:
    flag = Param("shuffle", bool, True, "shuffle")
    assert flag.parse("off") is False and flag.parse(True) is True
    with pytest.raises(ParamError, match="true or false"):
        flag.parse("maybe")


@given(st.one_of(st.text(), st.floats(allow_nan=True), st.integers(), st.booleans(), st.none()))
def test_any_input_is_a_value_or_a_param_error(raw: object) -> None:
    for param in SOFTMAX.params:
        try:
            value = param.parse(raw)
        except ParamError:
            continue
        assert isinstance(value, param.type)
        if isinstance(value, float):
            assert math.isfinite(value)
        assert param.min is None or value >= param.min
        assert param.max is None or value <= param.max


def test_every_experiment_is_well_formed() -> None:
    for exp in catalog.experiments():
        assert exp.title_zh and exp.title_en and exp.summary and exp.try_this
        assert "book" in exp.presets
        for preset in exp.presets:
            exp.resolve(preset)  # every preset is valid
        module, _, function = exp.entry.partition(":")
        assert module.startswith("lab.recipes.") and function


def test_a_param_with_its_own_check_refuses_with_its_message() -> None:
    def shape(value: object) -> str | None:
        parts = str(value).split(",")
        return None if all(p.strip().isdigit() for p in parts) else "must be sizes like 2,3,4"

    param = Param("shape", str, "2,3", "a tensor's shape", check=shape)
    assert param.parse(" 2,3,4 ") == "2,3,4"
    with pytest.raises(ParamError) as refused:
        param.parse("2,x")
    assert str(refused.value) == "shape: must be sizes like 2,3,4 (got '2,x')"
