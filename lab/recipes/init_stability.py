"""Lecture 14: why gradients vanish or explode, and what initialisation does about it."""

from __future__ import annotations

import time

import torch
from torch import nn

from lab.data import fashion_mnist
from lab.events import Curve, Message
from lab.models.mlp import deep_mlp, linear_layers
from lab.recipes.activations import activation_curves
from lab.train.classify import fit_classifier
from lab.train.context import RunContext
from lab.train.updaters import TorchUpdater

REDRAW_SECONDS = 0.25
NORMS_FIGURE = "gradient norm per layer"


def train_init_stability(ctx: RunContext) -> None:
    activation_curves(ctx, "sigmoid")
    matrix_product(ctx)

    p = ctx.params
    train, test = fashion_mnist.load(ctx.device)
    net = deep_mlp(p.depth, p.width, p.activation, p.init, p.std).to(ctx.device)
    update = GradientWatch(ctx, net, TorchUpdater(torch.optim.SGD(net.parameters(), lr=p.lr)))
    ctx.track(net=net, optimizer=update.updater)
    fit_classifier(ctx, net, nn.CrossEntropyLoss(reduction="none"), update,
                   (train.images, train.labels), (test.images, test.labels))
    ctx.metrics |= update.ratios()


def matrix_product(ctx: RunContext, n: int = 100) -> None:
    """The book's exploding product of 100 random 4×4 matrices, and how its entries grow."""
    M = torch.normal(0, 1, size=(4, 4))
    ctx.emit(Message(f"a single matrix\n{M}"))
    largest = [M.abs().max().item()]
    for _ in range(n):
        M = M @ torch.normal(0, 1, size=(4, 4))
        largest.append(M.abs().max().item())
    ctx.emit(Message(f"after multiplying {n} matrices\n{M}"))
    ctx.emit(Curve(f"product of {n} random 4×4 matrices", "largest |entry|",
                   list(range(n + 1)), largest, xlabel="matrices multiplied", log_y=True))


class GradientWatch:
    """An updater that also reports each layer's weight-gradient norm a few times a second
    (one host sync per report, not per batch); the first report is the initialisation's."""

    def __init__(self, ctx: RunContext, net: nn.Module, updater: TorchUpdater):
        self.ctx, self.updater = ctx, updater
        self.layers = linear_layers(net)
        self.first: list[float] | None = None
        self.latest: list[float] = []
        self.last_report = 0.0

    def __call__(self, losses: torch.Tensor) -> None:
        self.updater(losses)
        if self.first is None or time.perf_counter() - self.last_report >= REDRAW_SECONDS:
            self.report()

    def set_lr(self, lr: float) -> None:
        self.updater.set_lr(lr)

    def report(self) -> None:
        self.latest = torch.stack([layer.weight.grad.norm() for layer in self.layers]).tolist()
        layers = list(range(1, len(self.latest) + 1))
        if self.first is None:
            self.first = self.latest
            self.ctx.emit(Curve(NORMS_FIGURE, "first batch", layers, self.first,
                                xlabel="layer", log_y=True))
        self.ctx.emit(Curve(NORMS_FIGURE, "now", layers, self.latest, xlabel="layer",
                            log_y=True))
        self.last_report = time.perf_counter()

    def ratios(self) -> dict[str, float]:
        """First layer's gradient norm over the last layer's, at the start and at the end."""
        if self.first is None:
            return {}
        return {"grad_ratio_first_batch": self.first[0] / self.first[-1],
                "grad_ratio_end": self.latest[0] / self.latest[-1]}
