"""Lectures 64, 65 and 67: attention pooling, scoring functions, multi-head self-attention and
positional encoding reproduce the book's exact values and draw their weights as heatmaps."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pytest
import torch
from rich.cells import cell_len

from lab import catalog, runner
from lab.events import Curve, EpochEnd, Event, Heatmap, Message
from lab.experiments.common import ATTENTION
from lab.heatmaps import RunHeatmaps, render_heatmap
from lab.models.attention import (
    masked_softmax,
    sequence_mask,
    transpose_output,
    transpose_qkv,
)
from lab.recipes import attention_demos, nadaraya_watson

BOOK_OUTPUT = torch.tensor([[[2.0, 3.0, 4.0, 5.0]], [[10.0, 11.0, 12.0, 13.0]]])


@pytest.fixture
def ctx() -> SimpleNamespace:
    """What a demo step needs of a RunContext: emit (recorded) and check_cancel."""
    events: list[Event] = []
    return SimpleNamespace(emit=events.append, check_cancel=lambda: None, events=events)


def texts(events: list[Event]) -> str:
    return "\n".join(e.text for e in events if isinstance(e, Message))


def heatmaps(events: list[Event]) -> list[Heatmap]:
    return [e for e in events if isinstance(e, Heatmap)]


def run(exp_id: str, **overrides: str) -> tuple[runner.RunResult, list[Event]]:
    exp = catalog.get(exp_id)
    events: list[Event] = []
    result = runner.run(exp, exp.resolve(overrides=overrides), sinks=[events.append])
    assert result.status == "finished", result.reason
    return result, events


def assert_rows_sum_to_one(matrix: list[list[float]]) -> None:
    assert all(min(row) >= 0 for row in matrix)
    assert [sum(row) for row in matrix] == pytest.approx([1.0] * len(matrix), abs=1e-5)


def test_the_chapter_lists_the_three_experiments() -> None:
    ids = [e.id for e in catalog.by_chapter()[ATTENTION] if e.lecture in (64, 65, 67)]
    assert ids == ["nadaraya-watson", "attention-scoring", "self-attention"]
    assert [catalog.get(i).lecture for i in ids] == [64, 65, 67]
    assert catalog.get("attention-scoring").demo and not catalog.get("nadaraya-watson").demo


# -- lecture 64 -------------------------------------------------------------------------------

def test_bmm_checks_of_lecture_64(ctx) -> None:
    values = nadaraya_watson.show_batch_matmul(ctx)
    assert values["shape"].tolist() == [2, 1, 6]
    assert values["averaged"].tolist() == [[[4.5]], [[14.5]]]
    assert "torch.Size([2, 1, 6])" in texts(ctx.events)
    assert str(values["averaged"]) in texts(ctx.events)  # printed as the book prints it


def test_the_show_heatmaps_demo_is_eye_10(ctx) -> None:
    nadaraya_watson.show_heatmap_demo(ctx)
    (heatmap,) = heatmaps(ctx.events)
    assert heatmap.matrix == torch.eye(10).tolist()
    assert heatmap.rows == heatmap.cols == [str(i) for i in range(10)]
    assert (heatmap.ylabel, heatmap.xlabel) == ("Queries", "Keys")


def test_the_data_is_the_books() -> None:
    torch.manual_seed(0)
    data = nadaraya_watson.make_data()
    x = data["x_train"]
    assert x.shape == (50,) and torch.all(x[1:] >= x[:-1]) and 0 <= x.min() and x.max() < 5
    assert torch.allclose(data["x_test"], torch.arange(50) / 10, atol=1e-5)
    expected = [2 * math.sin(v) + v**0.8 for v in data["x_test"].tolist()]
    assert data["y_truth"].tolist() == pytest.approx(expected, abs=1e-5)
    noise = data["y_train"] - nadaraya_watson.f(x)
    assert 0.3 < noise.std().item() < 0.7  # N(0, 0.5²)


def test_leave_one_out_drops_each_point_from_its_own_keys() -> None:
    x = torch.arange(5.0)
    keys = nadaraya_watson.leave_one_out(x)
    assert keys.tolist() == [[1, 2, 3, 4], [0, 2, 3, 4], [0, 1, 3, 4], [0, 1, 2, 4],
                             [0, 1, 2, 3]]


def test_gaussian_weights_peak_at_the_nearest_key() -> None:
    keys = torch.tensor([0.0, 1.0, 2.0, 4.0])
    weights = nadaraya_watson.gaussian_weights(torch.tensor([0.1, 1.9, 3.5]), keys)
    assert_rows_sum_to_one(weights.tolist())
    assert weights.argmax(dim=1).tolist() == [0, 2, 3]
    # softmax(−d²/2): the ratio of two weights is exp((d_b² − d_a²)/2)
    ratio = (weights[0, 0] / weights[0, 1]).item()
    assert ratio == pytest.approx(math.exp((0.9**2 - 0.1**2) / 2), rel=1e-5)


def test_the_parametric_model_is_the_gaussian_kernel_at_w_1() -> None:
    net = nadaraya_watson.NWKernelRegression()
    with torch.no_grad():
        net.w.fill_(1.0)
    x, y = torch.tensor([0.5, 2.5]), torch.tensor([1.0, 3.0, 2.0])
    keys = torch.tensor([0.0, 1.0, 3.0])
    y_hat = net(x, keys.repeat(2, 1), y.repeat(2, 1))
    weights = nadaraya_watson.gaussian_weights(x, keys)
    assert torch.allclose(net.attention_weights, weights)
    assert torch.allclose(y_hat, weights @ y)


def test_nadaraya_watson_learns_w_and_draws_its_weights() -> None:
    result, events = run("nadaraya-watson")
    losses = [e.metrics["loss"] for e in events if isinstance(e, EpochEnd)]
    assert len(losses) == 5
    assert all(a > b for a, b in zip(losses, losses[1:], strict=False))  # falls every epoch
    assert losses[-1] < 0.6 * losses[0]
    printed = [float(m) for m in re.findall(r"^epoch \d+, loss ([\d.]+)$", texts(events),
                                            re.MULTILINE)]
    assert printed == pytest.approx(losses, abs=1e-6)
    assert result.metrics["w"] > 1  # the learned kernel is narrower than (b)'s
    assert result.metrics["mse_gaussian"] < result.metrics["mse_average"]

    maps = [h for h in heatmaps(events) if h.group == nadaraya_watson.GROUP]
    assert [(h.title, h.epoch) for h in maps] == [
        (nadaraya_watson.GAUSSIAN, 0), *((nadaraya_watson.PARAMETRIC, n) for n in range(1, 6)),
        (nadaraya_watson.PARAMETRIC, 0)]
    x_test = [f"{i / 10:.1f}" for i in range(50)]
    for heatmap in maps:
        assert len(heatmap.matrix) == 50 and all(len(row) == 50 for row in heatmap.matrix)
        assert_rows_sum_to_one(heatmap.matrix)
        assert heatmap.rows == x_test
        cols = [float(c) for c in heatmap.cols]
        assert len(cols) == 50 and cols == sorted(cols) and 0 <= cols[0] and cols[-1] < 5
        assert all(re.fullmatch(r"\d\.\d\d", c) for c in heatmap.cols)
        assert (heatmap.ylabel, heatmap.xlabel) == ("sorted testing inputs",
                                                   "sorted training inputs")
    gaussian, first, final = maps[0], maps[1], maps[-1]
    assert final.matrix == maps[-2].matrix  # after training = after the last epoch
    assert first.matrix != final.matrix  # it changes as w trains

    def peak(heatmap: Heatmap) -> float:
        return sum(max(row) for row in heatmap.matrix) / 50

    assert peak(final) > peak(gaussian)  # w > 1: each query attends to fewer points

    curves = [e for e in events if isinstance(e, Curve)]
    for figure in nadaraya_watson.FIGURES.values():
        series = {c.series for c in curves if c.figure == figure}
        assert series == {"Truth", "Pred", "training data"}
    preds = [c for c in curves if c.figure == nadaraya_watson.FIGURES["parametric"]
             and c.series == "Pred"]
    # before training, then redrawn every epoch
    assert len(preds) == 6 and all(len(c.y) == 50 for c in preds)
    assert preds[0].y != preds[-1].y
    flat = next(c for c in curves if c.figure == nadaraya_watson.FIGURES["average"]
                and c.series == "Pred")
    assert max(flat.y) - min(flat.y) < 1e-5


def test_a_long_run_redraws_about_20_times() -> None:
    _, events = run("nadaraya-watson", epochs="100")
    maps = [h for h in heatmaps(events) if h.title == nadaraya_watson.PARAMETRIC]
    assert [h.epoch for h in maps] == [*range(5, 101, 5), 0]
    curves = [e for e in events if isinstance(e, Curve)
              and e.figure == nadaraya_watson.FIGURES["parametric"]]
    assert [c.series for c in curves[:3]] == ["Truth", "Pred", "training data"]
    assert len(curves) == 3 + 20


def test_a_smaller_learning_rate_moves_w_less() -> None:
    # The same seed: the same data and the same w to start from, which the lr 0.5 leaps from.
    big, _ = run("nadaraya-watson", epochs="1")
    small, events = run("nadaraya-watson", epochs="1", lr="0.05")
    start = float(re.search(r"w starts at ([\d.]+)", texts(events)).group(1))
    assert start < small.metrics["w"] < big.metrics["w"]
    assert big.metrics["w"] - start > 5 * (small.metrics["w"] - start)


# -- lecture 65 -------------------------------------------------------------------------------

def test_sequence_mask_matches_the_book(ctx) -> None:
    masked = attention_demos.show_sequence_mask(ctx)
    assert masked.tolist() == [[1, 0, 0], [4, 5, 0]]
    X = torch.ones(2, 3, 4)
    assert sequence_mask(X, torch.tensor([1, 2]), value=-1).tolist()[1] == [
        [1, 1, 1, 1], [1, 1, 1, 1], [-1, -1, -1, -1]]


def test_masked_softmax_gives_zero_past_the_valid_lengths(ctx) -> None:
    values = attention_demos.show_masked_softmax(ctx)
    per_example, per_query = values["per example"], values["per query"]
    for weights in (per_example, per_query):
        assert torch.allclose(weights.sum(-1), torch.ones(2, 2))
    assert torch.all(per_example[0, :, 2:] == 0) and torch.all(per_example[1, :, 3:] == 0)
    assert torch.all(per_example[0, :, :2] > 0) and torch.all(per_example[1, :, :3] > 0)
    assert per_query[0, 0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert torch.all(per_query[0, 1, 3:] == 0) and torch.all(per_query[1, 0, 2:] == 0)
    assert torch.all(per_query[1, 1] > 0)
    assert str(per_example) in texts(ctx.events)
    assert torch.equal(masked_softmax(torch.zeros(1, 1, 3), None), torch.full((1, 1, 3), 1 / 3))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", ["additive", "dot"])
def test_scoring_functions_give_the_books_exact_output(ctx, name: str, seed: int) -> None:
    torch.manual_seed(seed)  # the random queries do not matter: every key is the same
    values = attention_demos.show_scoring(ctx, name, attention_demos.scoring_inputs())
    assert torch.allclose(values["output"], BOOK_OUTPUT, atol=1e-5)
    weights = values["weights"]
    assert weights[0].tolist() == [0.5, 0.5] + [0.0] * 8
    assert weights[1, :6] == pytest.approx([1 / 6] * 6) and weights[1, 6:].sum() == 0
    printed = texts(ctx.events)
    assert "[[ 2.0000,  3.0000,  4.0000,  5.0000]]" in printed
    assert "[[10.0000, 11.0000, 12.0000, 13.0000]]" in printed
    (heatmap,) = heatmaps(ctx.events)
    assert heatmap.matrix == weights.tolist()
    assert heatmap.rows == ["len 2", "len 6"] and heatmap.cols == [str(i) for i in range(10)]


def test_the_knobs_change_what_the_book_fixes(ctx) -> None:
    torch.manual_seed(0)
    inputs = attention_demos.scoring_inputs(2, 10)
    output = attention_demos.show_scoring(ctx, "dot", inputs)["output"]
    assert torch.allclose(output[1], torch.tensor([[18.0, 19.0, 20.0, 21.0]]))
    inputs = attention_demos.scoring_inputs(2, 6, random_keys=True)
    weights = attention_demos.show_scoring(ctx, "additive", inputs)["weights"]
    assert weights[1, 0] != weights[1, 1] and weights[1, 6:].sum() == 0
    dropped = attention_demos.show_scoring(ctx, "dot", attention_demos.scoring_inputs(),
                                           train_mode=True)["output"]
    assert not torch.allclose(dropped, BOOK_OUTPUT)
    assert "training mode" in texts(ctx.events)


def test_the_attention_scoring_demo_runs() -> None:
    _, events = run("attention-scoring")
    maps = RunHeatmaps(events).groups[attention_demos.SCORING]
    assert list(maps) == ["additive attention", "scaled dot-product attention"]
    for heatmap in maps.values():
        assert_rows_sum_to_one(heatmap.matrix)
        assert heatmap.matrix[0][2:] == [0.0] * 8 and heatmap.matrix[1][6:] == [0.0] * 4
    assert texts(events).count("[[10.0000, 11.0000, 12.0000, 13.0000]]") == 2


# -- lecture 67 -------------------------------------------------------------------------------

def test_multihead_attention_shapes(ctx) -> None:
    shapes = attention_demos.show_multihead_shapes(ctx)
    assert shapes["attention"] == (2, 4, 100) and shapes["self-attention"] == (2, 4, 100)
    assert shapes["weights"] == (10, 4, 6)  # batch × heads, queries, keys
    assert "torch.Size([2, 4, 100])" in texts(ctx.events)
    X = torch.arange(2 * 3 * 10.0).reshape(2, 3, 10)
    heads = transpose_qkv(X, 5)
    assert heads.shape == (10, 3, 2)
    assert torch.equal(heads[1, 0], X[0, 0, 2:4])  # head 2 of example 1: features 2–3
    assert torch.equal(transpose_output(heads, 5), X)


def test_multihead_attention_masks_per_example() -> None:
    attention = attention_demos.multihead()
    X = torch.normal(0, 1, (2, 4, 100))
    attention(X, X, X, torch.tensor([3, 2]))
    weights = attention.attention_weights.reshape(2, 5, 4, 4)
    assert torch.all(weights[0, :, :, 3:] == 0) and torch.all(weights[1, :, :, 2:] == 0)
    assert torch.all(weights[0, :, :, :3] > 0)


def test_positional_encoding_follows_the_formula(ctx) -> None:
    P = attention_demos.show_positional_encoding(ctx, 32, 60)
    assert P.shape == (60, 32)
    for pos in (0, 1, 7, 59):
        for j in range(16):
            angle = pos / 10000 ** (2 * j / 32)
            assert P[pos, 2 * j].item() == pytest.approx(math.sin(angle), abs=1e-5)
            assert P[pos, 2 * j + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)
    curves = [e for e in ctx.events if isinstance(e, Curve)]
    assert [c.series for c in curves] == ["Col 6", "Col 7", "Col 8", "Col 9"]
    assert all(c.xlabel == "Row (position)" and c.x == list(range(60)) for c in curves)
    assert curves[0].y == P[:, 6].tolist()
    (heatmap,) = heatmaps(ctx.events)
    assert heatmap.matrix == P.tolist() and len(heatmap.rows) == 60 and len(heatmap.cols) == 32
    assert min(map(min, heatmap.matrix)) < 0 < max(map(max, heatmap.matrix))  # signed
    assert (heatmap.ylabel, heatmap.xlabel) == ("Row (position)", "Column (encoding dimension)")


def test_binary_representations(ctx) -> None:
    lines = attention_demos.show_binary(ctx)
    assert lines[0] == "0 in binary is 000" and lines[5] == "5 in binary is 101"
    assert len(lines) == 8 and lines[-1] in texts(ctx.events)


def test_heads_without_positions_cannot_tell_a_repeated_word_apart(ctx) -> None:
    torch.manual_seed(0)
    weights = attention_demos.show_heads(ctx, "the cat saw the dog")
    plain = weights[attention_demos.NO_POSITIONS]
    placed = weights[attention_demos.SELF_ATTENTION]
    assert plain.shape == placed.shape == (5, 5, 5)
    assert torch.allclose(plain[:, 0], plain[:, 3]) and torch.allclose(plain[:, :, 0],
                                                                       plain[:, :, 3])
    assert not torch.allclose(placed[:, 0], placed[:, 3], atol=1e-3)
    maps = heatmaps(ctx.events)
    assert [h.title for h in maps] == [f"head {i}" for i in range(1, 6)] * 2
    assert maps[0].rows == maps[0].cols == ["0 the", "1 cat", "2 saw", "3 the", "4 dog"]
    for heatmap in maps:
        assert_rows_sum_to_one(heatmap.matrix)


def test_a_long_sentence_is_cut(ctx) -> None:
    weights = attention_demos.show_heads(ctx, " ".join(f"w{i}" for i in range(30)))
    assert weights[attention_demos.SELF_ATTENTION].shape == (5, 16, 16)
    assert any(isinstance(e, Message) and e.level == "warning" for e in ctx.events)
    assert "no word repeats" in texts(ctx.events)


def test_the_self_attention_demo_runs() -> None:
    _, events = run("self-attention")
    groups = RunHeatmaps(events).groups
    assert set(groups) == {attention_demos.POSITIONS, attention_demos.SELF_ATTENTION,
                           attention_demos.NO_POSITIONS}
    assert list(groups[attention_demos.SELF_ATTENTION]) == [f"head {i}" for i in range(1, 6)]
    assert "7 in binary is 111" in texts(events)
    assert texts(events).count("torch.Size([2, 4, 100])") == 2


# -- drawing ----------------------------------------------------------------------------------

def test_every_heatmap_renders_at_80_columns() -> None:
    drawn = 0
    for exp_id in ("nadaraya-watson", "attention-scoring", "self-attention"):
        _, events = run(exp_id)
        for heatmap in heatmaps(events):
            text = render_heatmap(heatmap, 80)
            lines = text.plain.split("\n")
            assert max(map(cell_len, lines)) <= 80
            assert heatmap.title in lines[0]
            drawn += 1
    assert drawn == 1 + 7 + 2 + 1 + 10
