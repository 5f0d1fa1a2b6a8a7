"""Lecture 72 on real data: the book's ``train_ch11`` and ``train_concise_ch11`` — linear
regression on the airfoil self-noise data, its loss on all 1500 rows every 200 examples — run
by each optimiser in turn, and the same losses against the training time (``minibatch-sgd``'s
comparison of gradient descent, SGD and minibatches)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lab.data import hub
from lab.events import Curve, Message
from lab.experiments.optimization import (
    AIRFOIL_MOST,
    AIRFOIL_ROWS,
    TABLE_AIRFOIL,
    Entry,
    hyper,
    parse_entries,
)
from lab.models.linear import LinearRegressionScratch, init_normal, mse, squared_loss
from lab.models.optimizers import Scratch, concise
from lab.train.context import Diverged, RunContext

DATASET, FILE = "airfoil", "airfoil_self_noise.dat"
COLUMNS = 6  # 5 features, then the sound pressure level to predict
EVERY = 200  # examples between two evaluations of the loss, as train_ch11 does
LOSS, AGAINST_TIME = "loss", "loss against time"


def load(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The book's get_data_ch11: every column standardised over the whole file (numpy's std,
    ddof 0), then the first 1500 rows as (features [1500, 5], labels [1500])."""
    path = hub.file_path(DATASET, FILE)
    try:
        data = np.genfromtxt(path, dtype=np.float32, delimiter="\t")
    except ValueError as err:  # rows of different lengths
        raise hub.DataDamaged(hub.damaged_message(DATASET, path, f"{path}: {err}")) from err
    if data.ndim != 2 or data.shape[1] != COLUMNS or len(data) < AIRFOIL_ROWS or not (
            np.isfinite(data).all()):
        raise hub.DataDamaged(hub.damaged_message(
            DATASET, path, f"{path}: not {AIRFOIL_ROWS}+ rows of {COLUMNS} tab-separated "
            "numbers: not the book's airfoil_self_noise.dat"))
    data = (data - data.mean(axis=0)) / data.std(axis=0)
    rows = torch.from_numpy(data[:AIRFOIL_ROWS]).to(device)
    return rows[:, :-1], rows[:, -1]


@dataclass
class Curves:
    """What train_ch11's Animator and Timer keep: the loss at each evaluation, where it was
    taken (in epochs) and the training time spent before it (evaluations not counted)."""

    epochs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


def train(ctx: RunContext, entry: Entry, impl: str, data: tuple[torch.Tensor, torch.Tensor],
          curves: Curves) -> Curves:
    """One optimiser's run; the curves fill as it goes (a stopped run keeps what it drew)."""
    features, labels = data
    hp = hyper(entry, TABLE_AIRFOIL, ctx.params)
    if impl == "scratch":  # w ~ N(0, 0.01), b = 0, and ½(ŷ − y)²
        net: nn.Module = LinearRegressionScratch(features.shape[1]).to(features.device)
        loss_fn, half = squared_loss, 1.0
        update = Scratch(entry.name, net.parameters(), hp)
    else:  # nn.Linear with weights ~ N(0, 0.01) (torch's bias), and (ŷ − y)² shown halved
        net = nn.Linear(features.shape[1], 1).to(features.device)
        init_normal(net)
        loss_fn, half = mse, 0.5
        update = concise(entry.name, net.parameters(), hp, entry.given.get("eps"))
    n, total = 0, len(labels)
    batch, epochs = hp["batch_size"], hp["epochs"]
    spent, began = 0.0, time.perf_counter()

    def evaluate() -> None:
        nonlocal spent, began
        spent += time.perf_counter() - began
        with torch.no_grad():
            loss = float(loss_fn(net(features), labels).mean()) * half
        curves.epochs.append(n / total)
        curves.losses.append(loss)
        curves.times.append(spent)
        if not math.isfinite(loss):
            raise Diverged(math.ceil(n / total), 0, loss)
        began = time.perf_counter()

    for _ in range(epochs):
        order = torch.randperm(total, device=features.device)
        for start in range(0, total, batch):
            rows = order[start:start + batch]
            update.zero_grad()
            loss_fn(net(features[rows]), labels[rows]).mean().backward()
            update.step()
            n += len(rows)
            if n % EVERY == 0:
                evaluate()
            ctx.check_cancel()
        ctx.emit(Curve(LOSS, entry.label, curves.epochs, curves.losses, xlabel="epoch"))
    if n % EVERY:  # the book's last loss is where the last 200 ended; the end is taken too
        evaluate()
        ctx.emit(Curve(LOSS, entry.label, curves.epochs, curves.losses, xlabel="epoch"))
    ctx.emit(Curve(AGAINST_TIME, entry.label, curves.times, curves.losses, xlabel="time (sec)",
                   log_x=True))
    return curves


def _warm_up(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    """A throwaway step, so that the first optimiser's time does not include what torch does
    once per process (the book's notebook was warm from its earlier cells)."""
    features, labels = data
    net = LinearRegressionScratch(features.shape[1]).to(features.device)
    squared_loss(net(features[:10]), labels[:10]).mean().backward()


def optim_airfoil(ctx: RunContext) -> None:
    p = ctx.params
    hub.ensure(DATASET, ctx.download_note)
    data = load(ctx.device)
    entries = parse_entries(p.optimizers, TABLE_AIRFOIL, AIRFOIL_MOST)
    _warm_up(data)
    diverged: list[Diverged] = []
    for entry in entries:
        curves = Curves()
        try:
            train(ctx, entry, p.impl, data, curves)
        except Diverged as err:  # the others still run: one lr too large is a lesson
            diverged.append(err)
            ctx.emit(Message(f"{entry.label}: {err}", "warning"))
            continue
        epochs = hyper(entry, TABLE_AIRFOIL, p)["epochs"]
        loss, per_epoch = curves.losses[-1], curves.times[-1] / epochs
        ctx.emit(Message(f"{entry.label}: loss: {loss:.3f}, {per_epoch:.3f} sec/epoch"))
        ctx.metrics[f"{entry.key}_loss"] = loss
    if len(diverged) == len(entries):
        raise diverged[-1]
