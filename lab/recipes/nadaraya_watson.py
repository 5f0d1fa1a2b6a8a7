"""Lecture 64: attention pooling as Nadaraya–Watson kernel regression, the book's way.

Fifty noisy training points of f(x) = 2 sin x + x^0.8 are the keys (x) and values (y); each test
input is a query. Three estimators predict f at the 50 test inputs: (a) the average of all values,
(b) a weighted average whose weights are a softmax of −(query − key)²/2, a Gaussian kernel, and
(c) the same with the distance scaled by a learned w. The weights of (b) and (c) are 50×50
heatmaps (test inputs × training inputs); (c)'s is redrawn after every epoch of training.

Each step emits what the book prints and returns its values, so tests can check the numbers.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.events import Curve, Heatmap, Message
from lab.train.context import RunContext
from lab.train.loop import end_epoch
from lab.train.monitor import EpochMonitor

N_TRAIN = 50
NOISE = 0.5
GROUP = "Nadaraya-Watson"
GAUSSIAN, PARAMETRIC = "(b) Gaussian kernel", "(c) parametric, learned w"
FIGURES = {"average": "(a) average pooling", "gaussian": "(b) Gaussian kernel attention",
           "parametric": "(c) parametric attention"}
REDRAWS = 20  # (c)'s prediction and weights are redrawn about this often in a long run
TEST_AXIS, TRAIN_AXIS = "sorted testing inputs", "sorted training inputs"

Values = dict[str, torch.Tensor]


def _say(ctx: RunContext, text: str) -> None:
    ctx.emit(Message(text))
    ctx.check_cancel()


def f(x: torch.Tensor) -> torch.Tensor:
    return 2 * torch.sin(x) + x**0.8


def make_data() -> Values:
    """The book's data, drawn on the CPU so that a seed gives the same points on any device:
    ``x_train`` sorted uniform in [0, 5), ``y_train = f(x_train) + N(0, 0.5²)``, and
    ``x_test = arange(0, 5, 0.1)`` with ``y_truth = f(x_test)``."""
    x_train, _ = torch.sort(torch.rand(N_TRAIN) * 5)
    y_train = f(x_train) + torch.normal(0.0, NOISE, (N_TRAIN,))
    x_test = torch.arange(0, 5, 0.1)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_truth": f(x_test)}


def nadaraya_watson(ctx: RunContext) -> None:
    p = ctx.params
    show_heatmap_demo(ctx)
    show_batch_matmul(ctx)
    data = {k: v.to(ctx.device) for k, v in make_data().items()}
    _say(ctx, f"{N_TRAIN} training points (x_train sorted, y_train = f(x) + noise of std "
              f"{NOISE}) and {len(data['x_test'])} test inputs x_test = arange(0, 5, 0.1)")
    errors = {
        "average": average_pooling(ctx, data),
        "gaussian": gaussian_attention(ctx, data),
        "parametric": parametric_attention(ctx, data, p.epochs, p.lr)["mse"],
    }
    _say(ctx, "mean squared error of the predictions against the truth f(x_test): "
         + ", ".join(f"{FIGURES[k]} {float(v):.4f}" for k, v in errors.items()))
    ctx.metrics |= {f"mse_{k}": float(v) for k, v in errors.items()}


def show_heatmap_demo(ctx: RunContext) -> torch.Tensor:
    """The book's ``show_heatmaps`` demo: eye(10), each query attends only to its own key."""
    weights = torch.eye(10)
    labels = [str(i) for i in range(10)]
    ctx.emit(Heatmap("show_heatmaps", "eye(10)", weights.tolist(), labels, labels,
                     ylabel="Queries", xlabel="Keys"))
    _say(ctx, "attention weights as a heatmap (`d2l-lab runs heatmaps RUN`): torch.eye(10), "
              "each of 10 queries puts all its weight on its own key")
    return weights


def show_batch_matmul(ctx: RunContext) -> Values:
    """``torch.bmm``: a batch of matrix products, how a minibatch of weighted averages is taken."""
    shape = torch.bmm(torch.ones((2, 1, 4)), torch.ones((2, 4, 6))).shape
    _say(ctx, f"torch.bmm of (2, 1, 4) and (2, 4, 6) ones: {shape}")
    weights = torch.ones((2, 10)) * 0.1
    values = torch.arange(20.0).reshape((2, 10))
    averaged = torch.bmm(weights.unsqueeze(1), values.unsqueeze(-1))
    _say(ctx, f"weights of 0.1 on each of arange(20) as 2 × 10 values, averaged with bmm:\n"
              f"{averaged}")
    return {"shape": torch.tensor(shape), "averaged": averaged}


def _labels(x: torch.Tensor, digits: int) -> list[str]:
    return [f"{v:.{digits}f}" for v in x.tolist()]


def _matrix(weights: torch.Tensor) -> list[list[float]]:
    """Six significant digits: enough for any colour, and a run's events stay small."""
    return [[float(f"{v:.6g}") for v in row] for row in weights.detach().cpu().tolist()]


def emit_weights(ctx: RunContext, title: str, weights: torch.Tensor, data: Values,
                 epoch: int = 0) -> None:
    ctx.emit(Heatmap(GROUP, title, _matrix(weights), _labels(data["x_test"], 1),
                     _labels(data["x_train"], 2), ylabel=TEST_AXIS, xlabel=TRAIN_AXIS,
                     epoch=epoch))


def plot_kernel_reg(ctx: RunContext, figure: str, data: Values, y_hat: torch.Tensor,
                    *, with_data: bool = True) -> None:
    """The book's ``plot_kernel_reg``: truth and prediction over the test inputs, with the
    training points (joined by a line here: the lab's figures draw lines)."""
    def curve(series: str, x: torch.Tensor, y: torch.Tensor) -> None:
        ctx.emit(Curve(figure, series, x.cpu().tolist(), y.detach().cpu().tolist(),
                       xlabel="x"))

    if with_data:
        curve("Truth", data["x_test"], data["y_truth"])
    curve("Pred", data["x_test"], y_hat)
    if with_data:
        curve("training data", data["x_train"], data["y_train"])


def _mse(y_hat: torch.Tensor, data: Values) -> torch.Tensor:
    return ((y_hat.detach() - data["y_truth"]) ** 2).mean()


def average_pooling(ctx: RunContext, data: Values) -> torch.Tensor:
    """(a) Every test input gets the mean of all training values: a flat line."""
    y_hat = torch.repeat_interleave(data["y_train"].mean(), len(data["x_test"]))
    plot_kernel_reg(ctx, FIGURES["average"], data, y_hat)
    return _mse(y_hat, data)


def gaussian_weights(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """softmax over the keys of −(query − key)²/2: (queries, keys), each row summing to 1."""
    distances = queries.reshape(-1, 1) - keys.reshape(1, -1)
    return nn.functional.softmax(-distances**2 / 2, dim=1)


def gaussian_attention(ctx: RunContext, data: Values) -> torch.Tensor:
    """(b) Nonparametric attention pooling: the closer a training input, the larger its weight."""
    weights = gaussian_weights(data["x_test"], data["x_train"])
    y_hat = torch.matmul(weights, data["y_train"])
    plot_kernel_reg(ctx, FIGURES["gaussian"], data, y_hat)
    emit_weights(ctx, GAUSSIAN, weights, data)
    return _mse(y_hat, data)


class NWKernelRegression(nn.Module):
    """Attention pooling with one learned parameter: softmax(−((query − key)·w)²/2). A larger w
    makes the kernel narrower, the weights more concentrated on the nearest keys."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.rand((1,)))
        self.attention_weights = torch.empty(0)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor,
                values: torch.Tensor) -> torch.Tensor:
        # queries (n,), keys and values (n, pairs): each query against its row of pairs.
        queries = queries.repeat_interleave(keys.shape[1]).reshape((-1, keys.shape[1]))
        self.attention_weights = nn.functional.softmax(-((queries - keys) * self.w)**2 / 2,
                                                       dim=1)
        return torch.bmm(self.attention_weights.unsqueeze(1), values.unsqueeze(-1)).reshape(-1)


def leave_one_out(x: torch.Tensor) -> torch.Tensor:
    """Row i holds every entry of x but x[i]: (n, n − 1). Training input i is a query whose
    keys are the other training inputs, so it cannot just look up its own value."""
    n = len(x)
    others = ~torch.eye(n, dtype=torch.bool, device=x.device)
    return x.repeat((n, 1))[others].reshape((n, -1))


def parametric_attention(ctx: RunContext, data: Values, epochs: int, lr: float) -> Values:
    """(c) Train w on the leave-one-out pairs as the book does: full batch, squared errors
    summed, SGD. Each epoch prints the summed loss of the forward pass that its step follows;
    after each step (in a long run, about REDRAWS times) the test predictions and their
    weights are redrawn."""
    x_train, y_train = data["x_train"], data["y_train"]
    keys, values = leave_one_out(x_train), leave_one_out(y_train)
    net = NWKernelRegression().to(ctx.device)
    loss = nn.MSELoss(reduction="none")
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    ctx.track(net=net, optimizer=trainer)
    test_keys = x_train.repeat((len(data["x_test"]), 1))
    test_values = y_train.repeat((len(data["x_test"]), 1))
    _say(ctx, f"(c) w starts at {net.w.item():.4f}; the keys and values of training input i "
              f"are the other {keys.shape[1]} training points")
    with torch.no_grad():  # the prediction before training, redrawn as w trains
        plot_kernel_reg(ctx, FIGURES["parametric"], data,
                        net(data["x_test"], test_keys, test_values))
    losses = []
    for epoch in range(1, epochs + 1):
        monitor = EpochMonitor(ctx, epoch, epochs, 1)
        trainer.zero_grad()
        total = loss(net(x_train, keys, values), y_train).sum()
        total.backward()
        trainer.step()
        monitor.step(0, total.detach(), N_TRAIN)
        monitor.finish()
        end_epoch(ctx, monitor, {"loss": total.detach()})
        losses.append(ctx.metrics["loss"])
        _say(ctx, f"epoch {epoch}, loss {losses[-1]:.6f}")
        with torch.no_grad():
            y_hat = net(data["x_test"], test_keys, test_values)
        if epoch == epochs or epoch % max(1, epochs // REDRAWS) == 0:
            plot_kernel_reg(ctx, FIGURES["parametric"], data, y_hat, with_data=False)
            emit_weights(ctx, PARAMETRIC, net.attention_weights, data, epoch)
    emit_weights(ctx, PARAMETRIC, net.attention_weights, data)  # the book's figure: after training
    w = net.w.item()
    ctx.metrics["w"] = w
    width = f"1/|w| = {1 / abs(w):.3f}" if w else "infinite"
    _say(ctx, f"(c) learned w = {w:.4f}: the kernel's width is {width} (the Gaussian kernel "
              "of (b) has w = 1)")
    return {"losses": torch.tensor(losses), "w": net.w.detach(), "y_hat": y_hat,
            "weights": net.attention_weights, "mse": _mse(y_hat, data)}
