"""Lecture 33: data parallelism written by hand, as the book's ``multiple-gpus`` chapter does it,
with torch.distributed's primitives in place of its copies between GPUs: one process per device
(``--nproc N`` or ``--devices``), each holding a copy of the parameters.

Every step: the first rank holds the batch and scatters a slice to each rank (``split_batch``);
each computes the loss of its slice and its gradients; the gradients are summed over the ranks
(``allreduce``); then every rank takes the same SGD step with the whole batch's size, so the
copies stay equal. In one process it is plain minibatch SGD.
"""

from __future__ import annotations

import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from lab.data import fashion_mnist
from lab.events import Message
from lab.train.classify import as_float_images, correct_count, emit_predictions
from lab.train.context import RunContext
from lab.train.loop import end_epoch, run_epoch


class LeNetReLU(nn.Module):
    """The lecture's LeNet as functions of its eight tensors (weights ~ N(0, 0.01²), biases 0):
    conv 1→20 (3×3), ReLU, avg-pool 2; conv 20→50 (5×5), ReLU, avg-pool 2; 800→128, ReLU;
    128→10."""

    def __init__(self, scale: float = 0.01):
        super().__init__()
        self.W1 = nn.Parameter(torch.randn(20, 1, 3, 3) * scale)
        self.b1 = nn.Parameter(torch.zeros(20))
        self.W2 = nn.Parameter(torch.randn(50, 20, 5, 5) * scale)
        self.b2 = nn.Parameter(torch.zeros(50))
        self.W3 = nn.Parameter(torch.randn(800, 128) * scale)
        self.b3 = nn.Parameter(torch.zeros(128))
        self.W4 = nn.Parameter(torch.randn(128, 10) * scale)
        self.b4 = nn.Parameter(torch.zeros(10))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        h1 = F.avg_pool2d(F.relu(F.conv2d(X, self.W1, self.b1)), kernel_size=2, stride=2)
        h2 = F.avg_pool2d(F.relu(F.conv2d(h1, self.W2, self.b2)), kernel_size=2, stride=2)
        h3 = F.relu(h2.reshape(h2.shape[0], -1) @ self.W3 + self.b3)
        return h3 @ self.W4 + self.b4


def build_net(params, **_: object) -> tuple[nn.Module, tuple[int, ...]]:
    return LeNetReLU(), (1, 1, 28, 28)


def split_batch(X: torch.Tensor | None, y: torch.Tensor | None, n: int, world: int,
                device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The book's ``split_batch``: rank 0 holds the ``n`` examples (``X``, ``y``; None on the
    other ranks) and sends each rank its n / world of them (``dist.scatter``)."""
    if world == 1:
        assert X is not None and y is not None
        return X, y
    size = n // world
    X_part = torch.empty((size, 28, 28), dtype=torch.uint8, device=device)
    y_part = torch.empty(size, dtype=torch.int64, device=device)
    dist.scatter(X_part, list(X.chunk(world)) if X is not None else None, src=0)
    dist.scatter(y_part, list(y.chunk(world)) if y is not None else None, src=0)
    return X_part, y_part


def allreduce(grads: list[torch.Tensor]) -> None:
    """The book's ``allreduce``: every rank ends with the sum of every rank's gradients."""
    for grad in grads:
        dist.all_reduce(grad)


def sgd(params: list[torch.Tensor], lr: float, batch_size: int) -> None:
    """``d2l.sgd``: the summed gradient over the whole batch, divided by its size."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


def train_batch(net: LeNetReLU, X: torch.Tensor | None, y: torch.Tensor | None, n: int,
                lr: float, world: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of the lecture's ``train_batch`` on every rank: scatter, forward and backward
    on the slice, all-reduce, SGD. Returns the slice's labels, logits and per-example losses."""
    X_part, y_part = split_batch(X, y, n, world, next(net.parameters()).device)
    y_hat = net(as_float_images(X_part))
    losses = F.cross_entropy(y_hat, y_part, reduction="none")
    losses.sum().backward()
    params = list(net.parameters())
    if world > 1:
        allreduce([param.grad for param in params])
    sgd(params, lr, n)
    return y_part, y_hat.detach(), losses.detach()


class LearningRate:
    """The checkpoint's record of the hand-written SGD (it holds no state but its lr)."""

    def __init__(self, lr: float):
        self.lr = lr

    def state_dict(self) -> dict:
        return {"lr": self.lr}


def train_lenet_by_hand(ctx: RunContext) -> None:
    p = ctx.params
    ranks = ctx.dist
    rank, world = (ranks.rank, ranks.world_size) if ranks is not None else (0, 1)
    train, test = fashion_mnist.load(ctx.device, progress=ctx.download_note)
    net = LeNetReLU().to(ctx.device)
    if world > 1:  # the book's get_params: every device starts from the same copy
        for param in net.parameters():
            dist.broadcast(param.detach(), src=0)
    ctx.track(net=net, optimizer=LearningRate(p.lr))
    images, labels = train.images, train.labels
    seconds: list[float] = []
    sums = torch.zeros(3, device=ctx.device)  # an epoch's loss, correct, examples on this rank

    def step(indices: torch.Tensor) -> torch.Tensor:
        size = -(-len(indices) // world) * world  # a last batch padded to split evenly
        X = y = None
        if rank == 0:
            padded = indices.repeat(-(-size // len(indices)))[:size]
            X, y = images.index_select(0, padded), labels.index_select(0, padded)
        y_part, y_hat, losses = train_batch(net, X, y, size, p.lr, world)
        correct = (y_hat.argmax(dim=1) == y_part).sum()
        sums.add_(torch.stack([losses.sum(), correct.float(),
                               torch.tensor(float(len(y_part)), device=ctx.device)]))
        return losses

    if ranks is not None:
        ranks.measure_alone(net, lambda y_hat, y: F.cross_entropy(y_hat, y, reduction="none"),
                            lambda i: (as_float_images(images.index_select(0, i)),
                                       labels.index_select(0, i)), p.batch_size)
    for epoch in ctx.epochs(p.epochs):
        net.train()
        sums.zero_()
        started = time.perf_counter()
        monitor = run_epoch(ctx, epoch, p.epochs, len(labels), p.batch_size, step)
        seconds.append(time.perf_counter() - started)
        test_part = (test.images, test.labels)
        if ranks is not None:  # each rank tests its share; the counts are summed
            test_part = ranks.split(test_part)
        totals = torch.cat([sums, correct_count(net, *test_part).reshape(1)])
        if ranks is not None:
            totals = ranks.sum(totals)
            ranks.report_speed(ctx, epoch, int(sums[2]), seconds[-1])
        end_epoch(ctx, monitor, {"train_loss": totals[0] / totals[2],
                                 "train_acc": totals[1] / totals[2],
                                 "test_acc": totals[3] / len(test.labels)})
    devices = ranks.plan.devices if ranks is not None else (str(ctx.device),)
    if seconds:  # the book's last line
        ctx.emit(Message(f"test acc: {ctx.metrics['test_acc']:.2f}, "
                         f"{sum(seconds) / len(seconds):.1f} sec/epoch on {', '.join(devices)}"))
    if ranks is not None:
        ranks.report_scaling(ctx)
        ranks.check_weights(ctx, net)
    emit_predictions(ctx, net, (test.images, test.labels), fashion_mnist.CLASSES)
