"""Lectures 09–10: softmax regression and the MLP on Fashion-MNIST."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from lab.data import fashion_mnist
from lab.models.linear import SoftmaxRegressionScratch, cross_entropy, softmax_regression
from lab.models.mlp import DropoutMLPScratch, MLPScratch, dropout_mlp, mlp
from lab.spec import Params
from lab.train.classify import emit_predictions, fit_classifier
from lab.train.context import RunContext
from lab.train.updaters import ScratchSGD, TorchUpdater


def _build(ctx: RunContext, model: str, impl: str):
    """The network, its per-example loss and its updater, as each lecture writes them."""
    p = ctx.params
    if model == "softmax" and impl == "scratch":
        net = SoftmaxRegressionScratch().to(ctx.device)
        return net, cross_entropy, ScratchSGD(net.parameters(), p.lr)
    if model == "softmax":
        net = softmax_regression()
    elif model == "dropout":
        build = DropoutMLPScratch if impl == "scratch" else dropout_mlp
        net = build(p.dropout1, p.dropout2)
    elif impl == "scratch":
        net = MLPScratch(num_hiddens=p.num_hiddens)
    else:
        net = mlp(num_hiddens=p.num_hiddens)
    net = net.to(ctx.device)
    optimizer = torch.optim.SGD(net.parameters(), lr=p.lr)
    return net, nn.CrossEntropyLoss(reduction="none"), TorchUpdater(optimizer)


def build_net(params: Params, model: str, impl: str | None = None) -> tuple[nn.Module, tuple]:
    """The network train_fashion_mnist trains, and one image's shape (lab.shapes' contract)."""
    cpu = SimpleNamespace(params=params, device="cpu")  # all _build reads of a RunContext
    return _build(cpu, model, impl or params.impl)[0], (1, 1, 28, 28)


def train_fashion_mnist(ctx: RunContext, model: str, impl: str | None = None) -> None:
    """``impl`` is fixed by the experiment, or else its ``impl`` parameter (scratch | concise)."""
    impl = impl or ctx.params.impl
    train, test = fashion_mnist.load(ctx.device, progress=ctx.download_note)
    net, loss_fn, update = _build(ctx, model, impl)
    ctx.track(net=net, optimizer=update)
    test_set = (test.images, test.labels)
    fit_classifier(ctx, net, loss_fn, update, (train.images, train.labels), test_set)
    emit_predictions(ctx, net, test_set, fashion_mnist.CLASSES)
