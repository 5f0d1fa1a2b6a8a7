"""Lectures 04–07's demos: typed shapes and matrices, broadcasting as torch does it, view against
reshape, memory shared with NumPy, the book's house CSV through pandas, a Dataset and its
DataLoader's batches, norms and sums, and autograd's exact gradients and Jacobian."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from lab import catalog, runner
from lab.events import Event, Message, Table
from lab.recipes import prelim_autograd, prelim_tensors
from lab.shapes_text import TextError, parse_matrix, parse_shape, parse_vector
from lab.spec import ParamError
from tests.test_bad_input import invoke, no_runs

PRELIMINARIES = ("tensors", "preprocess", "dataset-loader", "linear-algebra", "autograd")


@pytest.fixture
def ctx() -> SimpleNamespace:
    """What a demo step needs of a RunContext: emit (recorded), check_cancel and a device."""
    events: list[Event] = []
    return SimpleNamespace(emit=events.append, check_cancel=lambda: None, events=events,
                           device=torch.device("cpu"))


def run(exp_id: str, **overrides: str) -> tuple[runner.RunResult, list[Event]]:
    exp = catalog.get(exp_id)
    events: list[Event] = []
    result = runner.run(exp, exp.resolve("book", overrides), sinks=[events.append])
    assert result.status == "finished", result.reason
    return result, events


def tables(events: list[Event]) -> dict[str, Table]:
    return {e.title: e for e in events if isinstance(e, Table)}


def texts(events: list[Event]) -> str:
    return "\n".join(e.text for e in events if isinstance(e, Message))


# -- typed shapes and matrices ----------------------------------------------------------------

def test_typed_shapes_and_matrices_parse_in_the_forms_a_learner_types() -> None:
    assert parse_shape("2,3,4,4") == parse_shape(" (2, 3, 4, 4) ") == (2, 3, 4, 4)
    assert parse_shape("(3,)") == parse_shape("[3]") == (3,)
    assert parse_shape("()", dims=(0, 6)) == ()
    assert parse_shape("2,0", least=0) == (2, 0)
    assert parse_matrix("1,2;3,4") == parse_matrix("[1, 2; 3, 4;]") == [[1, 2], [3, 4]]
    assert parse_vector("3,-4") == [3.0, -4.0]


@pytest.mark.parametrize(("parse", "text", "why"), [
    (parse_shape, "2,x", "must be sizes like 2,3,4"),
    (parse_shape, "2.5,3", "must be sizes like 2,3,4"),
    (parse_shape, "2,,3", "must be sizes like 2,3,4"),
    (parse_shape, "2,0", "every size must be at least 1"),
    (parse_shape, "()", "must have 1 to 6 dimensions"),
    (parse_shape, "1,1,1,1,1,1,1", "must have 1 to 6 dimensions"),
    (parse_shape, "9" * 5000, "must hold at most 1048576 elements"),
    (parse_shape, "2048,2048", "must hold at most 1048576 elements"),
    (parse_matrix, "1,2;3", "every row must have as many entries as the first (2)"),
    (parse_matrix, "1,x", "must be rows of numbers like 1,2;3,4"),
    (parse_matrix, "1,nan", "every entry must be a finite number"),
    (parse_matrix, ";".join(["1"] * 9), "must be at most 8×8"),
    (parse_vector, "1;2", "must be numbers like 1,2,3"),
])
def test_a_malformed_shape_or_matrix_says_what_is_wrong(parse, text: str, why: str) -> None:
    with pytest.raises(TextError) as refused:
        parse(text)
    assert str(refused.value) == why


@pytest.mark.parametrize(("exp_id", "name", "raw", "message"), [
    ("tensors", "shape_a", "2,x", "shape_a: must be sizes like 2,3,4 (got '2,x')"),
    ("tensors", "new_shape", "5,2", "new_shape: the sizes must multiply to 12, as arange(12) "
                                    "has 12 elements (got '5,2')"),
    ("linear-algebra", "matrix", "1,2;3", "matrix: every row must have as many entries as the "
                                          "first (2) (got '1,2;3')"),
    ("autograd", "a", "0", "a: must be at least 1e-6 away from 0: f doubles b until ‖b‖ ≥ "
                           "1000, which 0 never reaches (got 0.0)"),
])
def test_a_bad_typed_value_is_refused_inline_by_the_schema_and_the_cli(
        exp_id: str, name: str, raw: str, message: str, lab_home: Path) -> None:
    with pytest.raises(ParamError) as refused:
        catalog.get(exp_id).resolve("book", {name: raw})
    assert str(refused.value) == message
    assert invoke("run", exp_id, "--set", f"{name}={raw}")[::2] == (2, f"error: {message}\n")
    assert no_runs(lab_home)


def test_the_demos_are_in_the_catalog_under_their_lectures_with_both_titles() -> None:
    found = {e.id: e for e in catalog.experiments()}
    lectures = {exp_id: found[exp_id].lecture for exp_id in PRELIMINARIES}
    assert lectures == {"tensors": 4, "preprocess": 4, "dataset-loader": 4, "linear-algebra": 5,
                        "autograd": 7}
    assert [(found[i].title_zh, found[i].chapter.title_zh) for i in PRELIMINARIES] == [
        ("数据操作", "预备知识"), ("数据预处理", "预备知识"), ("Dataset 与 DataLoader", "预备知识"),
        ("线性代数", "预备知识"), ("矩阵计算 + 自动求导", "预备知识")]
    assert all(found[i].demo and found[i].book_result for i in PRELIMINARIES)


# -- tensors ----------------------------------------------------------------------------------

def small_shapes() -> list[tuple[int, ...]]:
    sizes = (0, 1, 2, 3)
    return [shape for n in range(3) for shape in itertools.product(sizes, repeat=n)]


def test_the_broadcasting_rule_written_out_is_torchs_for_every_pair_of_small_shapes() -> None:
    shapes = small_shapes() + [(3, 1, 2), (1, 3, 1), (2, 1, 1)]
    for a, b in itertools.product(shapes, repeat=2):
        result, rows = prelim_tensors.broadcast_rule(a, b)
        try:
            expected = tuple(torch.broadcast_shapes(a, b))
        except RuntimeError:
            expected = None
        assert result == expected, (a, b)
        assert len(rows) == max(len(a), len(b))


def test_broadcasting_the_books_shapes_and_a_pair_that_fails() -> None:
    _, events = run("tensors", matmul_size="8")
    rows = tables(events)["broadcasting a (3, 1) with b (1, 2)"].rows
    assert rows == [["-2", "3", "1", "3", "b is 1: repeated 3 times"],
                    ["-1", "1", "2", "2", "a is 1: repeated 2 times"]]
    assert str(torch.tensor([[0, 1], [1, 2], [2, 3]])) in texts(events)

    result, events = run("tensors", shape_a="2,3", shape_b="(3, 2)", matmul_size="8")
    assert result.metrics["broadcasts"] == 0
    assert ("a (2, 3) and b (3, 2) cannot be broadcast: at dimension -1 the sizes are 3 and 2, "
            "and neither is 1") in texts(events)
    result, events = run("tensors", shape_a="()", shape_b="4,1,3", matmul_size="8")
    assert result.metrics["broadcasts"] == 1 and "a + b has shape (4, 1, 3)" in texts(events)


def test_view_fails_on_a_transpose_where_reshape_copies_and_contiguous_helps(ctx) -> None:
    found = prelim_tensors.show_view_and_reshape(ctx, (2, 6))
    assert found["x.view"] == prelim_tensors.Outcome(True, shares=True, is_view=True)
    assert found["x.reshape"].shares and found["t = x.T"].shares and found["t = x.T"].is_view
    assert not found["t.view"].works and "view size is not compatible" in found["t.view"].error
    assert found["t.reshape"] == prelim_tensors.Outcome(True, shares=False, is_view=False)
    assert found["c = t.contiguous()"].works and not found["c = t.contiguous()"].shares
    assert found["c.view"].works and found["c.view"].is_view and not found["c.view"].shares
    rows = {row[0]: row[1:] for row in tables(ctx.events)["view and reshape"].rows}
    assert rows["t.view(2, 6)"] == ["no", "", ""]
    assert rows["t.reshape(2, 6)"] == ["yes", "yes", "False"]
    assert rows["x.view(2, 6)"] == ["yes", "no", "True"]
    assert "t.view(2, 6) fails: view size is not compatible" in texts(ctx.events)
    # Splitting only the transpose's first axis needs no copy: view works there.
    assert prelim_tensors.show_view_and_reshape(ctx, (2, 2, 3))["t.view"].shares


def test_from_numpy_shares_memory_and_torch_tensor_copies(ctx) -> None:
    shared = prelim_tensors.show_numpy_memory(ctx)
    assert shared == {"torch.tensor(a)": False, "torch.from_numpy(a)": True,
                      "n = z.numpy()": True}
    rows = tables(ctx.events)["NumPy and torch"].rows
    assert rows[:2] == [["torch.tensor(a)", "[0, 1, 2, 3]", "no: a copy"],
                        ["torch.from_numpy(a)", "[100, 1, 2, 3]", "yes"]]


def test_the_tensors_demo_reports_its_answers_and_times_without_asserting_them() -> None:
    result, events = run("tensors", matmul_size="32")
    metrics = result.metrics
    assert {k: metrics[k] for k in ("broadcasts", "view_of_transpose_works",
                                    "reshape_of_transpose_copies", "from_numpy_shares",
                                    "tensor_shares")} == {
        "broadcasts": 1, "view_of_transpose_works": 0, "reshape_of_transpose_copies": 1,
        "from_numpy_shares": 1, "tensor_shares": 0}
    timing = tables(events)["matrix product"]
    assert [row[0] for row in timing.rows] == ["float32", "float64"]
    assert metrics["float32_ms"] > 0 and metrics["float64_ms"] > 0  # values: this machine's


# -- preprocess -------------------------------------------------------------------------------

def test_the_books_house_csv_becomes_the_books_tensor() -> None:
    result, events = run("preprocess")
    assert (result.run_dir / "house_tiny.csv").read_text() == (
        "NumRooms,Alley,Price\nNA,Pave,127500\n2,NA,106000\n4,NA,178100\nNA,NA,140000\n")
    shown = tables(events)
    assert shown["data"].rows[0] == ["0", "NaN", "Pave", "127500"]
    assert [row[1] for row in shown["inputs, filled"].rows] == ["3", "2", "4", "3"]
    assert shown["inputs, one-hot"].columns == ["", "NumRooms", "Alley_Pave", "Alley_nan"]
    assert [row[1:] for row in shown["X"].rows] == [["3", "1", "0"], ["2", "0", "1"],
                                                     ["4", "0", "1"], ["3", "0", "1"]]
    assert shown["y"].rows == [["127500", "106000", "178100", "140000"]]
    assert result.metrics == {"examples": 4, "features": 3, "missing": 0, "NumRooms_fill": 3}
    assert "torch.float64" in texts(events)


def test_preprocess_without_a_missing_column_or_with_zeros() -> None:
    result, events = run("preprocess", dummy_na="false", fill="zero")
    assert tables(events)["X"].columns == ["row", "NumRooms", "Alley_Pave"]
    assert [row[1:] for row in tables(events)["X"].rows] == [["0", "1"], ["2", "0"], ["4", "0"],
                                                             ["0", "0"]]
    assert result.metrics["NumRooms_fill"] == 0


# -- Dataset and DataLoader -------------------------------------------------------------------

def batches(events: list[Event], epoch: int) -> list[list[int]]:
    return [json.loads(row[2]) for row in tables(events)[f"epoch {epoch}"].rows]


def test_an_unshuffled_loader_yields_the_examples_in_order_and_the_short_last_batch() -> None:
    result, events = run("dataset-loader", shuffle="false")
    assert batches(events, 1) == batches(events, 2) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [row[3] for row in tables(events)["epoch 1"].rows][-1] == "[17, 19]"  # y = 2x + 1
    assert result.metrics == {"examples": 10, "batches": 3, "last_batch": 2}
    result, events = run("dataset-loader", shuffle="false", drop_last="true")
    assert batches(events, 1) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert result.metrics["batches"] == 2


def test_a_shuffled_loader_draws_a_new_order_every_epoch() -> None:
    _, events = run("dataset-loader")
    first, second = batches(events, 1), batches(events, 2)
    assert sorted(sum(first, [])) == sorted(sum(second, [])) == list(range(10))
    assert first != second and [len(b) for b in first] == [4, 4, 2]


def test_drop_last_with_a_batch_larger_than_the_data_yields_nothing() -> None:
    result, events = run("dataset-loader", batch_size="20", drop_last="true")
    assert "epoch 1" not in tables(events)
    assert "epoch 1: no batch at all" in texts(events)
    assert result.metrics == {"examples": 10, "batches": 0, "last_batch": 0}


# -- linear algebra ---------------------------------------------------------------------------

def test_norms_sums_and_products_of_the_books_matrix() -> None:
    result, events = run("linear-algebra")
    assert result.metrics == pytest.approx({"l1": 7, "l2": 5, "frobenius": math.sqrt(2470),
                                            "sum": 190, "mean": 9.5})
    sums = {row[0]: row[1:] for row in tables(events)["sums and means"].rows}
    assert sums["A.sum(axis=0)"] == ["(4,)", "[40, 45, 50, 55]"]
    assert sums["A.sum(axis=1)"] == ["(5,)", "[6, 22, 38, 54, 70]"]
    assert sums["A.sum(axis=1, keepdims=True)"] == ["(5, 1)", "[[6], [22], [38], [54], [70]]"]
    assert tables(events)["A.cumsum(axis=0)"].rows[-1] == ["4", "40", "45", "50", "55"]
    assert tables(events)["A * B"].rows[1] == ["1", "16", "25", "36", "49"]
    product = tables(events)["A @ B.T"]
    assert len(product.rows) == 5 and product.rows[0][1:] == ["14", "38", "62", "86", "110"]
    assert "fails to broadcast" in texts(events)


def test_without_keepdims_a_square_matrix_divides_silently_by_the_wrong_sums() -> None:
    result, events = run("linear-algebra", matrix="1,2;3,4", vector="1,1,1,1")
    assert result.metrics["l1"] == 4 and result.metrics["l2"] == 2
    assert "dividing column j by row j's sum" in texts(events)
    assert tables(events)["A / A.sum(axis=1, keepdims=True)"].rows == [
        ["0", "0.333333", "0.666667"], ["1", "0.428571", "0.571429"]]


# -- autograd ---------------------------------------------------------------------------------

def test_the_gradient_of_2xtx_is_4x_and_a_second_backward_accumulates(ctx) -> None:
    grads = prelim_autograd.show_gradients(ctx, torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert grads["first"].tolist() == [4, 8, 12, 16]
    assert grads["second"].tolist() == [8, 16, 24, 32]
    assert grads["sum"].tolist() == [1, 1, 1, 1]  # zero_() cleared the accumulated 8x
    assert grads["square"].tolist() == [2, 4, 6, 8]
    assert grads["detached"].tolist() == [1, 4, 9, 16]  # u = x * x, a constant
    shown = tables(ctx.events)["x.grad"].rows
    assert shown[:2] == [["1", "[4, 8, 12, 16]", "4x"],
                         ["2", "[8, 16, 24, 32]", "4x + 4x: accumulated"]]
    assert "2. y.backward(retain_graph=True), again" in texts(ctx.events)


@pytest.mark.parametrize(("a", "k"), [(1.5, 1024), (-1.5, 102400), (0.001, 2 ** 20), (600, 2)])
def test_a_gradient_through_control_flow_is_f_of_a_over_a(ctx, a: float, k: float) -> None:
    assert prelim_autograd.show_control_flow(ctx, a) == k
    assert tables(ctx.events)["control flow"].rows[0][-1] == "True"


def test_the_jacobian_is_in_numerator_layout() -> None:
    result, events = run("autograd")
    J = tables(events)["Jacobian"]
    assert J.columns == ["y", "∂/∂x0", "∂/∂x1", "∂/∂x2", "∂/∂x3"]
    assert [row[1:] for row in J.rows] == [["2", "4", "6", "8"], ["1", "1", "1", "1"],
                                           ["4", "0", "0", "1"]]
    assert result.metrics == {"grad_is_4x": 1, "accumulates": 1, "control_flow_grad": 1024,
                              "jacobian_rows": 3, "jacobian_cols": 4}
    result, _ = run("autograd", x="2")
    assert (result.metrics["jacobian_rows"], result.metrics["jacobian_cols"]) == (3, 1)


def test_run_json_keeps_a_demos_tables_and_answers(lab_home: Path) -> None:
    code, stdout, _ = invoke("run", "autograd", "--json")
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert code == 0
    grads = next(line for line in lines if line["kind"] == "table" and line["title"] == "x.grad")
    assert grads["rows"][1][1] == "[8, 16, 24, 32]"
    assert lines[-1]["kind"] == "ended" and lines[-1]["metrics"]["control_flow_grad"] == 1024
