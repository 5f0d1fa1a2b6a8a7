"""Image classification the way the book's ``train_ch3`` reports it: per epoch the mean train loss
and accuracy accumulated while training, then the test accuracy."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lab.events import Message, Predictions
from lab.train import schedules
from lab.train.context import RunContext
from lab.train.graphs import DDP_WARMUP_STEPS, WARMUP_STEPS, GraphedStep
from lab.train.loop import end_epoch, run_epoch
from lab.train.updaters import Updater

# Evaluation batch size: it does not change the result, only the speed and the memory held
# (the CNNs at 224×224 pass their training batch size, known to fit).
EVAL_BATCH = 4096


def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W] -> float [B, 1, H, W] in [0, 1], as ``ToTensor`` gives, on the device."""
    return images.unsqueeze(1).float().div_(255)


Transform = Callable[[torch.Tensor], torch.Tensor]  # uint8 images -> the network's input


def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             transform: Transform = as_float_images, batch: int = EVAL_BATCH) -> torch.Tensor:
    """Fraction of correct predictions, as a tensor on the device (no host sync)."""
    return correct_count(net, images, labels, transform, batch) / len(labels)


@torch.no_grad()
def correct_count(net: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  transform: Transform = as_float_images,
                  batch: int = EVAL_BATCH) -> torch.Tensor:
    """How many predictions are correct, as a float tensor on the device."""
    net.eval()
    correct = torch.zeros((), device=labels.device)
    for x, y in zip(images.split(batch), labels.split(batch), strict=True):
        correct += (net(transform(x)).argmax(dim=1) == y).sum()
    return correct


@torch.no_grad()
def emit_predictions(ctx: RunContext, net: nn.Module, test: tuple[torch.Tensor, torch.Tensor],
                     classes: tuple[str, ...], transform: Transform = as_float_images,
                     n: int = 12) -> None:
    """The book's predict_ch3: the first test images, titled true / predicted."""
    net.eval()
    images, labels = test[0][:n], test[1][:n]
    predicted = net(transform(images)).argmax(dim=1).tolist()
    ctx.emit(Predictions(images.tolist(), [classes[i] for i in labels.tolist()],
                         [classes[i] for i in predicted]))


def fit_classifier(
    ctx: RunContext,
    net: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],  # per-example losses
    update: Updater,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    transform: Transform = as_float_images,
    eval_batch: int = EVAL_BATCH,
    cuda_graphs: bool = False,
) -> None:
    """``transform`` turns a batch of uint8 images into the network's input on the device
    (scaling to [0, 1], and resizing for the CNNs); ``eval_batch`` is the test batch size.
    ``cuda_graphs``: on CUDA, replay each full batch's step as one CUDA graph (lab.train.graphs).

    In a data-parallel run (``ctx.dist``) each rank trains ``net`` wrapped in
    DistributedDataParallel on its slice of every batch (on CUDA its steps are graphed too, the
    gradients' all-reduce inside the graph), and the metrics are summed over the ranks: they
    read as the one-process run's. The batch losses it reports are its slice's."""
    p = ctx.params
    images, labels = train
    n = len(labels)
    ranks = ctx.dist
    schedule = schedules.parse(p.get("lr_schedule", schedules.CONSTANT))
    if not schedule.constant:
        ctx.emit(schedule.curve(p.lr, p.epochs))
    # A graph keeps the learning rate it was captured with: a schedule trains eagerly.
    graphed = cuda_graphs and schedule.constant and ctx.device.type == "cuda"
    stream = torch.cuda.Stream(ctx.device) if graphed else None  # where graphs are captured
    model = net if ranks is None else ranks.wrap(ctx, net, stream)

    def batch(indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's input and the labels of these examples."""
        # index_select is ~6x faster than images[indices] for this gather on the CPU.
        return transform(images.index_select(0, indices)), labels.index_select(0, indices)

    def train_step(indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Train on these examples; their per-example losses and how many were right."""
        x, y = batch(indices)
        y_hat = model(x)
        losses = loss_fn(y_hat, y)
        update(losses)
        return losses.detach(), (y_hat.detach().argmax(dim=1) == y).sum()

    if graphed:
        size, warmup = ((p.batch_size, WARMUP_STEPS) if ranks is None
                        else (ranks.share(p.batch_size), DDP_WARMUP_STEPS))
        train_step = GraphedStep(train_step, size, lambda text: ctx.emit(Message(text)), warmup,
                                 stream)
    if ranks is not None:
        ranks.measure_alone(net, loss_fn, batch, p.batch_size, graphed)
    for epoch in ctx.epochs(p.epochs):
        if not schedule.constant:
            update.set_lr(schedule.lr(p.lr, epoch, p.epochs))
        net.train()
        loss_sum = torch.zeros((), device=ctx.device)
        correct = torch.zeros((), device=ctx.device)
        seen = 0  # examples this process trained on

        def step(indices: torch.Tensor) -> torch.Tensor:
            nonlocal loss_sum, correct, seen
            if ranks is not None:
                indices = ranks.shard(indices)
            losses, right = train_step(indices)
            loss_sum += losses.sum()  # now: a CUDA graph's outputs last until its next step
            correct += right
            seen += len(indices)
            return losses

        monitor = run_epoch(ctx, epoch, p.epochs, n, p.batch_size, step)
        if ranks is None:
            end_epoch(ctx, monitor, {
                "train_loss": loss_sum / n,
                "train_acc": correct / n,
                "test_acc": accuracy(net, *test, transform, eval_batch),
            })
            continue
        tested = correct_count(net, *ranks.split(test), transform, eval_batch)
        sums = ranks.sum(torch.stack([loss_sum, correct, tested,
                                      torch.tensor(float(seen), device=ctx.device)]))
        ranks.report_speed(ctx, epoch, seen, monitor.finished - monitor.started)
        end_epoch(ctx, monitor, {"train_loss": sums[0] / sums[3], "train_acc": sums[1] / sums[3],
                                 "test_acc": sums[2] / len(test[1])})
    if ranks is not None:
        ranks.report_scaling(ctx)
        ranks.check_weights(ctx, net)
