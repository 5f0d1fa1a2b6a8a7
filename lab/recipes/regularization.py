"""Lectures 11–12: polynomial fitting (under- and overfitting) and weight decay."""

from __future__ import annotations

import torch
from torch import nn

from lab.data.synthetic import POLY_MAX_DEGREE, POLY_TRUE_W, linear_data, polynomial_data
from lab.events import Curve, Message
from lab.models.linear import LinearRegressionScratch, l2_penalty, mse, squared_loss
from lab.train.context import RunContext
from lab.train.regress import fit_regressor
from lab.train.updaters import ScratchSGD, TorchUpdater

POLY_N_TRAIN = POLY_N_TEST = 100
WD_N_TRAIN, WD_N_TEST, WD_INPUTS = 20, 100, 200


def train_polyfit(ctx: RunContext) -> None:
    p = ctx.params
    features, labels = polynomial_data(POLY_N_TRAIN + POLY_N_TEST, device=ctx.device)
    features = features[:, : p.degree]  # a degree-d model sees the first d features
    train = features[:POLY_N_TRAIN], labels[:POLY_N_TRAIN]
    test = features[POLY_N_TRAIN:], labels[POLY_N_TRAIN:]
    net = nn.Sequential(nn.Linear(p.degree, 1, bias=False)).to(ctx.device)
    update = TorchUpdater(torch.optim.SGD(net.parameters(), lr=p.lr))
    ctx.track(net=net, optimizer=update)

    fit_regressor(ctx, net, mse, update, train, {"train_loss": train, "test_loss": test})

    learned = net[0].weight.detach().reshape(-1).cpu().tolist()
    true_w = [*POLY_TRUE_W, *[0.0] * (POLY_MAX_DEGREE - len(POLY_TRUE_W))]
    ctx.emit(Message("weight: [" + " ".join(f"{w:.4f}" for w in learned) + "]"))
    ctx.emit(Message("true:   [" + " ".join(f"{w:g}" for w in true_w[: p.degree]) + "]"))
    shown = range(max(p.degree, len(POLY_TRUE_W)))
    figure = "weights: learned and true"
    ctx.emit(Curve(figure, "true", list(shown), [true_w[i] for i in shown], xlabel="power i"))
    ctx.emit(Curve(figure, "learned", list(range(p.degree)), learned, xlabel="power i"))
    ctx.metrics |= {"w_error": max(abs(w - t) for w, t in zip(learned, true_w, strict=False))}


def train_weight_decay(ctx: RunContext) -> None:
    p = ctx.params
    lambd = p["lambda"]
    true_w = torch.full((WD_INPUTS,), 0.01)
    train = linear_data(true_w, 0.05, WD_N_TRAIN, device=ctx.device)
    test = linear_data(true_w, 0.05, WD_N_TEST, device=ctx.device)
    if p.impl == "scratch":
        net = LinearRegressionScratch(WD_INPUTS, std=1.0).to(ctx.device)
        w = net.w

        def loss_fn(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return squared_loss(y_hat, y) + lambd * l2_penalty(w)

        update, eval_loss = ScratchSGD(net.parameters(), p.lr), squared_loss
    else:
        net = nn.Sequential(nn.Linear(WD_INPUTS, 1)).to(ctx.device)
        for param in net.parameters():
            param.data.normal_()
        w = net[0].weight
        # The book decays the weight only: the bias is a separate group without weight_decay.
        optimizer = torch.optim.SGD([{"params": w, "weight_decay": lambd},
                                     {"params": net[0].bias}], lr=p.lr)
        loss_fn, update, eval_loss = mse, TorchUpdater(optimizer), mse
    ctx.track(net=net, optimizer=update)

    fit_regressor(ctx, net, loss_fn, update, train, {"train_loss": train, "test_loss": test},
                  eval_loss=eval_loss)

    norm = w.detach().norm().item()
    ctx.emit(Message(f"L2 norm of w: {norm:.6f}"))
    ctx.metrics |= {"w_norm": norm}
