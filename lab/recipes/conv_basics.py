"""Lectures 19–22's demo: the book's exact checks of convolution, padding, channels and pooling,
and a convolution that learns the edge-detecting kernel [1, −1] from examples.

Each step emits what the book prints (tensors as torch prints them) and returns its values, so
that tests can check the numbers themselves.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.events import Curve, Message
from lab.models.cnn_basics import (
    comp_conv2d,
    corr2d,
    corr2d_multi_in,
    corr2d_multi_in_out,
    corr2d_multi_in_out_1x1,
    pool2d,
)
from lab.train.context import RunContext

Values = dict[str, torch.Tensor]
EDGE_KERNEL = torch.tensor([[1.0, -1.0]])


def conv_edge(ctx: RunContext) -> None:
    show_corr2d(ctx)
    edges = show_edges(ctx)
    kernel = learn_kernel(ctx, edges["X"], edges["Y"], ctx.params.iterations, ctx.params.lr)
    show_padding_and_stride(ctx)
    show_channels(ctx)
    show_pooling(ctx)
    ctx.metrics = {"kernel_error": float((kernel - EDGE_KERNEL).abs().max())}


def _say(ctx: RunContext, text: str) -> None:
    ctx.emit(Message(text))
    ctx.check_cancel()


def show_corr2d(ctx: RunContext) -> Values:
    X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    Y = corr2d(X, K)
    _say(ctx, f"corr2d(X, K) with X = arange(9) as 3×3 and K = [[0, 1], [2, 3]]:\n{Y}")
    return {"Y": Y}


def show_edges(ctx: RunContext) -> Values:
    """A 6×8 image, white (1) but for a black (0) band; K = [1, −1] marks where it changes."""
    X = torch.ones((6, 8))
    X[:, 2:6] = 0
    Y = corr2d(X, EDGE_KERNEL)
    transposed = corr2d(X.t(), EDGE_KERNEL)
    _say(ctx, f"the image X:\n{X}")
    _say(ctx, f"Y = corr2d(X, [[1, -1]]): 1 where white turns black, -1 where black turns "
              f"white:\n{Y}")
    _say(ctx, f"on X transposed the kernel sees no vertical edge, only zeros:\n{transposed}")
    return {"X": X, "Y": Y, "transposed": transposed}


def learn_kernel(ctx: RunContext, X: torch.Tensor, Y: torch.Tensor, iterations: int,
                 lr: float) -> torch.Tensor:
    """Learn a 1×2 kernel that maps X to Y: loss sum((Ŷ − Y)²), plain gradient descent."""
    # One output channel, a (1, 2) kernel and no bias, as the book has it.
    conv2d = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False)
    # Conv2d takes (batch size, channels, height, width); here both are 1.
    X = X.reshape((1, 1, 6, 8))
    Y = Y.reshape((1, 1, 6, 7))
    losses = []
    for i in range(iterations):
        Y_hat = conv2d(X)
        loss = ((Y_hat - Y) ** 2).sum()
        conv2d.zero_grad()
        loss.backward()
        with torch.no_grad():
            conv2d.weight -= lr * conv2d.weight.grad
        losses.append(loss.item())
        if (i + 1) % 2 == 0 or i + 1 == iterations:
            if (i + 1) % 2 == 0:
                _say(ctx, f"epoch {i + 1}, loss {loss.item():.3f}")
            ctx.emit(Curve("learning the edge kernel", "loss", list(range(1, i + 2)),
                           list(losses), xlabel="iteration", log_y=True))
    kernel = conv2d.weight.detach().reshape((1, 2))
    _say(ctx, f"the learned kernel (the truth is [[1, -1]]):\n{kernel}")
    return kernel


def show_padding_and_stride(ctx: RunContext) -> dict[str, torch.Size]:
    """Output shapes for an 8×8 input: padding can keep the size, stride divides it."""
    X = torch.rand(size=(8, 8))
    convs = {
        "kernel 3, padding 1": nn.Conv2d(1, 1, kernel_size=3, padding=1),
        "kernel (5, 3), padding (2, 1)": nn.Conv2d(1, 1, kernel_size=(5, 3), padding=(2, 1)),
        "kernel 3, padding 1, stride 2": nn.Conv2d(1, 1, kernel_size=3, padding=1, stride=2),
        "kernel (3, 5), padding (0, 1), stride (3, 4)":
            nn.Conv2d(1, 1, kernel_size=(3, 5), padding=(0, 1), stride=(3, 4)),
    }
    shapes = {name: comp_conv2d(conv, X) for name, conv in convs.items()}
    _say(ctx, "output shapes for an 8×8 input:\n"
         + "\n".join(f"  {name}: {shape}" for name, shape in shapes.items()))
    return shapes


def show_channels(ctx: RunContext) -> Values:
    X = torch.tensor([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                      [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
    K = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    multi_in = corr2d_multi_in(X, K)
    _say(ctx, f"two input channels, correlated one by one and added:\n{multi_in}")
    K3 = torch.stack((K, K + 1, K + 2), 0)
    multi_out = corr2d_multi_in_out(X, K3)
    _say(ctx, f"kernels K, K + 1, K + 2 stacked: shape {K3.shape}, three output "
              f"channels:\n{multi_out}")
    X = torch.normal(0, 1, (3, 3, 3))
    K = torch.normal(0, 1, (2, 3, 1, 1))
    Y1 = corr2d_multi_in_out_1x1(X, K)
    Y2 = corr2d_multi_in_out(X, K)
    gap = (Y1 - Y2).abs().sum()
    _say(ctx, f"a 1×1 convolution is a matrix product: |Y1 − Y2|.sum() = {float(gap):.2e} "
              f"(< 1e-6: {bool(gap < 1e-6)})")
    return {"multi_in": multi_in, "K3": K3, "multi_out": multi_out, "gap_1x1": gap}


def show_pooling(ctx: RunContext) -> Values:
    X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    values = {"max": pool2d(X, (2, 2)), "avg": pool2d(X, (2, 2), "avg")}
    _say(ctx, f"2×2 max pooling:\n{values['max']}\n2×2 average pooling:\n{values['avg']}")
    X = torch.arange(16, dtype=torch.float32).reshape((1, 1, 4, 4))
    pools = {
        "MaxPool2d(3)": nn.MaxPool2d(3),
        "MaxPool2d(3, padding=1, stride=2)": nn.MaxPool2d(3, padding=1, stride=2),
        "MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1))":
            nn.MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1)),
    }
    for name, pool in pools.items():
        values[name] = pool(X)
        _say(ctx, f"{name} on arange(16) as 1×1×4×4:\n{values[name]}")
    X = torch.cat((X, X + 1), 1)
    values["two channels"] = nn.MaxPool2d(3, padding=1, stride=2)(X)
    _say(ctx, "channels X and X + 1 are pooled separately, so two channels come out:\n"
              f"{values['two channels']}")
    return values
