"""Lecture 51: an autoregressive MLP on the book's noisy sine, and how its errors pile up when it
feeds on its own predictions.

The model sees the last ``tau`` values and predicts the next one. Trained on the first 600
windows, it predicts one step ahead well everywhere; fed back its own output from time 604 on
(the multistep prediction), it soon drifts to a constant; k steps ahead, the further the worse.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.events import Curve, Message
from lab.experiments.sequences import SEQUENCE_TRAIN as N_TRAIN  # windows the model trains on
from lab.models.linear import mse
from lab.spec import Params
from lab.train.context import RunContext
from lab.train.regress import fit_regressor
from lab.train.updaters import TorchUpdater

T = 1000  # time steps 1..T
NOISE = 0.2
MAX_STEPS = 64
STEPS = (1, 4, 16, 64)  # the k of the k-step predictions the book plots

Data = tuple[torch.Tensor, torch.Tensor]


def sine_data(device: torch.device | str = "cpu") -> Data:
    """The book's ``time = 1..T`` and ``x = sin(0.01·time) + N(0, 0.2²)``."""
    time = torch.arange(1, T + 1, dtype=torch.float32, device=device)
    x = torch.sin(0.01 * time) + torch.normal(0, NOISE, (T,), device=device)
    return time, x


def lagged(x: torch.Tensor, tau: int) -> Data:
    """Windows of ``tau`` values as features (row i is x[i : i+tau]) and the next value as the
    label (x[i+tau]): (T−tau)×tau and (T−tau)×1."""
    n = len(x) - tau
    features = torch.stack([x[i:n + i] for i in range(tau)], dim=1)
    return features, x[tau:].reshape(-1, 1)


def get_net(tau: int) -> nn.Sequential:
    """Linear(tau, 10), ReLU, Linear(10, 1), weights xavier_uniform (biases as torch sets them)."""
    net = nn.Sequential(nn.Linear(tau, 10), nn.ReLU(), nn.Linear(10, 1))
    for layer in net:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
    return net


def build_net(params: Params, **_: object) -> tuple[nn.Module, tuple[int, ...]]:
    """For ``d2l-lab show sequence --shapes``: one window of tau values in."""
    return get_net(params.tau), (1, params.tau)


@torch.no_grad()
def multistep(net: nn.Module, x: torch.Tensor, start: int, tau: int) -> torch.Tensor:
    """x up to ``start``, then each value predicted from the tau before it, which are the
    model's own predictions once it is past start + tau."""
    preds = x.clone()
    for i in range(start, len(x)):
        preds[i] = net(preds[i - tau:i].reshape(1, -1)).reshape(())
    return preds


@torch.no_grad()
def k_step(net: nn.Module, x: torch.Tensor, tau: int,
           max_steps: int = MAX_STEPS) -> torch.Tensor:
    """The book's k-step table: row i holds x[i : i+tau], then the 1-, 2-, …, max_steps-step
    predictions after it, so column tau+k−1 predicts x[i+tau+k−1] from data that ends k steps
    earlier. (T−tau−max_steps+1) × (tau+max_steps)."""
    rows = len(x) - tau - max_steps + 1
    table = torch.zeros((rows, tau + max_steps), device=x.device)
    for i in range(tau):
        table[:, i] = x[i:i + rows]
    for i in range(tau, tau + max_steps):
        table[:, i] = net(table[:, i - tau:i]).reshape(-1)
    return table


def train_sequence(ctx: RunContext) -> None:
    p = ctx.params
    tau = p.tau
    time, x = sine_data(ctx.device)
    features, labels = lagged(x, tau)
    train = features[:N_TRAIN], labels[:N_TRAIN]
    net = get_net(tau).to(ctx.device)
    update = TorchUpdater(torch.optim.Adam(net.parameters(), lr=p.lr))
    ctx.track(net=net, optimizer=update)
    ctx.emit(Message(f"features {tuple(features.shape)}: windows of {tau} values; labels "
                     f"{tuple(labels.shape)}: the value after each; the first {N_TRAIN} rows "
                     "train"))

    fit_regressor(ctx, net, mse, update, train)

    net.eval()
    with torch.no_grad():
        onestep = net(features).reshape(-1)
    start = N_TRAIN + tau
    fed_back = multistep(net, x, start, tau)
    table = k_step(net, x, tau)
    emit_figures(ctx, time, x, onestep, fed_back, table, tau)
    report_errors(ctx, x, onestep, fed_back, table, tau)


def _points(t: torch.Tensor) -> list[float]:
    return t.detach().cpu().tolist()


def emit_figures(ctx: RunContext, time: torch.Tensor, x: torch.Tensor, onestep: torch.Tensor,
                 fed_back: torch.Tensor, table: torch.Tensor, tau: int) -> None:
    """The book's four plots of the section, in its order."""
    start = N_TRAIN + tau

    def curve(figure: str, series: str, t: torch.Tensor, y: torch.Tensor) -> None:
        ctx.emit(Curve(figure, series, _points(t), _points(y), xlabel="time"))

    curve("data", "x", time, x)
    for figure in ("1-step predictions", "multistep predictions"):
        curve(figure, "data", time, x)
        curve(figure, "1-step preds", time[tau:], onestep)
    curve("multistep predictions", "multistep preds", time[start:], fed_back[start:])
    rows = len(table)
    for k in STEPS:
        curve("k-step predictions", f"{k}-step preds", time[tau + k - 1:tau + k - 1 + rows],
              table[:, tau + k - 1])


def report_errors(ctx: RunContext, x: torch.Tensor, onestep: torch.Tensor,
                  fed_back: torch.Tensor, table: torch.Tensor, tau: int) -> None:
    """Mean squared errors against x (whose noise alone is 0.2² = 0.04): small one step ahead,
    growing with k, and large for the multistep prediction fed on itself."""
    start = N_TRAIN + tau
    rows = len(table)
    errors = {f"mse_{k}_step": table[:, tau + k - 1] - x[tau + k - 1:tau + k - 1 + rows]
              for k in STEPS}
    test_1 = onestep[N_TRAIN:] - x[start:]
    test_fed = fed_back[start:] - x[start:]
    values = torch.stack([e.pow(2).mean() for e in (*errors.values(), test_1, test_fed)])
    *k_mse, mse_1_test, mse_fed_test = values.tolist()
    ctx.metrics |= dict(zip(errors, k_mse, strict=True))
    ctx.emit(Message(
        f"mean squared error against x (its noise alone: {NOISE ** 2:g}), k steps ahead: "
        + ", ".join(f"{k}-step {v:.4f}" for k, v in zip(STEPS, k_mse, strict=True))))
    ctx.emit(Message(
        f"after time {start}: 1-step preds {mse_1_test:.4f}, multistep preds fed on their own "
        f"output {mse_fed_test:.4f}"))
