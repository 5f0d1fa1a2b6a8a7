"""Lectures 19–22: the conv-edge demo reproduces the book's exact numbers and learns [1, −1]."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch
from torch.nn import functional as F

from lab import catalog, runner
from lab.events import Curve, Event, Message
from lab.models.cnn_basics import corr2d, pool2d
from lab.recipes import conv_basics


@pytest.fixture
def ctx() -> SimpleNamespace:
    """What a demo step needs of a RunContext: emit (recorded) and check_cancel."""
    events: list[Event] = []
    return SimpleNamespace(emit=events.append, check_cancel=lambda: None, events=events)


def texts(ctx: SimpleNamespace) -> str:
    return "\n".join(e.text for e in ctx.events if isinstance(e, Message))


def test_corr2d_matches_the_book(ctx) -> None:
    Y = conv_basics.show_corr2d(ctx)["Y"]
    assert torch.equal(Y, torch.tensor([[19.0, 25.0], [37.0, 43.0]]))
    assert str(Y) in texts(ctx)  # printed as the book prints it


def test_edge_detection(ctx) -> None:
    values = conv_basics.show_edges(ctx)
    row = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0])
    assert torch.equal(values["Y"], row.repeat(6, 1))
    assert values["X"].shape == (6, 8) and values["X"][:, 2:6].sum() == 0
    assert torch.equal(values["transposed"], torch.zeros(8, 5))
    assert str(values["X"]) in texts(ctx) and str(values["Y"]) in texts(ctx)


def test_padding_and_stride_shapes(ctx) -> None:
    shapes = conv_basics.show_padding_and_stride(ctx)
    assert [tuple(s) for s in shapes.values()] == [(8, 8), (8, 8), (4, 4), (2, 2)]
    assert "kernel (3, 5), padding (0, 1), stride (3, 4): torch.Size([2, 2])" in texts(ctx)


def test_channels_and_1x1_convolution(ctx) -> None:
    values = conv_basics.show_channels(ctx)
    assert torch.equal(values["multi_in"], torch.tensor([[56.0, 72.0], [104.0, 120.0]]))
    assert values["K3"].shape == (3, 2, 2, 2)
    expected = torch.tensor([[[56.0, 72.0], [104.0, 120.0]], [[76.0, 100.0], [148.0, 172.0]],
                             [[96.0, 128.0], [192.0, 224.0]]])
    assert torch.equal(values["multi_out"], expected)
    assert float(values["gap_1x1"]) < 1e-6
    assert str(values["multi_out"]) in texts(ctx)


def test_pooling(ctx) -> None:
    values = conv_basics.show_pooling(ctx)
    assert torch.equal(values["max"], torch.tensor([[4.0, 5.0], [7.0, 8.0]]))
    assert torch.equal(values["avg"], torch.tensor([[2.0, 3.0], [5.0, 6.0]]))
    assert values["MaxPool2d(3)"].tolist() == [[[[10.0]]]]
    stride2 = [[5.0, 7.0], [13.0, 15.0]]
    assert values["MaxPool2d(3, padding=1, stride=2)"].tolist() == [[stride2]]
    assert values["MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1))"].tolist() == [[stride2]]
    assert values["two channels"].tolist() == [[stride2, [[6.0, 8.0], [14.0, 16.0]]]]
    assert str(values["two channels"]) in texts(ctx)


def test_pool2d_by_hand_agrees_with_torch() -> None:
    X = torch.rand(5, 6)
    assert torch.equal(pool2d(X, (2, 2)), F.max_pool2d(X[None, None], 2, stride=1)[0, 0])
    K = torch.rand(2, 3)
    assert torch.allclose(corr2d(X, K), F.conv2d(X[None, None], K[None, None])[0, 0])


def test_the_demo_learns_the_edge_kernel() -> None:
    exp = catalog.get("conv-edge")
    events: list[Event] = []
    result = runner.run(exp, exp.resolve(), sinks=[events.append])
    assert result.status == "finished", result.reason
    assert result.metrics["kernel_error"] < 0.05  # within 0.05 of [1, -1] in 10 steps

    curve = [e for e in events if isinstance(e, Curve)][-1]
    assert curve.figure == "learning the edge kernel" and curve.log_y
    assert curve.x == list(range(1, 11))
    assert all(a > b for a, b in zip(curve.y, curve.y[1:], strict=False))  # falls every step
    assert curve.y[-1] < curve.y[0] / 100
    printed = [float(m) for e in events if isinstance(e, Message)
               for m in re.findall(r"^epoch \d+, loss ([\d.]+)$", e.text)]
    assert printed == pytest.approx(curve.y[1::2], abs=5e-4)  # every 2nd loss, to 3 decimals
    kernel = next(e.text for e in events if isinstance(e, Message) and "learned kernel" in e.text)
    k = [float(v) for v in re.findall(r"-?\d+\.\d+", kernel.split("\n")[1])]
    assert k == pytest.approx([1.0, -1.0], abs=0.05)
    assert max(abs(k[0] - 1), abs(k[1] + 1)) == pytest.approx(result.metrics["kernel_error"],
                                                              abs=1e-4)


def test_more_iterations_fit_better() -> None:
    exp = catalog.get("conv-edge")
    short = runner.run(exp, exp.resolve(overrides={"iterations": "4"}))
    long = runner.run(exp, exp.resolve(overrides={"iterations": "30"}))
    assert long.metrics["kernel_error"] < 1e-3 < short.metrics["kernel_error"]
