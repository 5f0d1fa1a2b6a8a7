"""Lecture 23–29's GPU path: a training step replayed as a CUDA graph trains exactly as the eager
step (lab.train.graphs), a data-parallel one (DDP on NCCL, lecture 34) too. The graph tests need
a CUDA device and skip without one; what makes a step capturable (buffers updated in place) is
checked everywhere."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

from lab.models.cnn import BatchNorm, lenet_bn
from lab.recipes.cnn import init_weights, resized
from lab.train.device import accelerate
from lab.train.graphs import DDP_WARMUP_STEPS, WARMUP_STEPS, GraphedStep
from lab.train.updaters import ScratchSGD, TorchUpdater

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_scratch_batch_norm_updates_its_buffers_in_place() -> None:
    """A captured graph keeps the tensors it captured: rebinding the moving averages (as the
    book does) would leave the graph updating tensors the module no longer holds."""
    bn = BatchNorm(3, num_dims=4)
    mean, var = bn.moving_mean, bn.moving_var
    bn(torch.randn(8, 3, 5, 5) + 2)
    assert bn.moving_mean is mean and bn.moving_var is var
    assert float(mean.abs().sum()) > 0  # and they did move


def _train(graphs: bool, scratch: bool, steps: int, device: str = "cuda",
           ddp: bool = False) -> nn.Module:
    """LeNet with batch norm (the book's or torch's) trained ``steps`` full batches of random
    images, eagerly or through GraphedStep; float32, so both take the same arithmetic. ``ddp``:
    in DistributedDataParallel as lab.dist_worker builds it (the process group is set up)."""
    torch.manual_seed(0)
    net = lenet_bn(scratch=scratch)
    net.apply(init_weights)
    fast, _ = accelerate(net, torch.device(device), bf16=False, compile=False)
    stream = torch.cuda.Stream() if graphs else None
    if ddp:
        with torch.cuda.stream(stream):
            fast = nn.parallel.DistributedDataParallel(
                fast, broadcast_buffers=False, gradient_as_bucket_view=True, static_graph=True)
    images = torch.randint(0, 256, (512, 28, 28), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 10, (512,), device=device)
    params = list(net.parameters())
    update = ScratchSGD(params, lr=0.5) if scratch else TorchUpdater(torch.optim.SGD(params, 0.5))
    transform, loss_fn = resized(28), nn.CrossEntropyLoss(reduction="none")

    def step(indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y_hat = fast(transform(images.index_select(0, indices)))
        y = labels.index_select(0, indices)
        losses = loss_fn(y_hat, y)
        update(losses)
        return losses.detach(), (y_hat.detach().argmax(dim=1) == y).sum()

    notes: list[str] = []
    warmup = DDP_WARMUP_STEPS if ddp else WARMUP_STEPS
    run = GraphedStep(step, 64, notes.append, warmup, stream) if graphs else step
    order = torch.Generator().manual_seed(1)
    for _ in range(steps):
        run(torch.randperm(512, generator=order)[:64].to(device))
    if graphs:
        assert run.graph is not None, notes
    return net


@cuda
@pytest.mark.parametrize("scratch", [True, False], ids=["book's batch norm", "nn.BatchNorm2d"])
def test_a_graphed_step_trains_as_the_eager_one(scratch: bool) -> None:
    torch.backends.cudnn.deterministic = True  # the same convolution algorithms on both sides
    steps = WARMUP_STEPS + 5  # warm-up, capture, then replays
    eager, graphed = _train(False, scratch, steps), _train(True, scratch, steps)
    for (name, a), b in zip(eager.state_dict().items(), graphed.state_dict().values(),
                            strict=True):
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), name


@contextlib.contextmanager
def _nccl_alone(folder: Path) -> Iterator[None]:
    """This process as a group of one on NCCL, as a 1-process torchrun run has it."""
    dist.init_process_group("nccl", init_method=f"file://{folder / 'rendezvous'}", rank=0,
                            world_size=1, device_id=torch.device("cuda:0"))
    try:
        yield
    finally:
        dist.destroy_process_group()


@cuda
def test_a_graphed_data_parallel_step_trains_as_the_eager_one(tmp_path: Path) -> None:
    """DDP's all-reduce captured in the graph: after warm-up, capture and replays, the weights
    are the eager DDP step's (a graph that missed the all-reduce, or replayed stale gradients,
    would differ)."""
    torch.backends.cudnn.deterministic = True
    steps = DDP_WARMUP_STEPS + 5
    with _nccl_alone(tmp_path):
        eager = _train(False, False, steps, ddp=True)
        graphed = _train(True, False, steps, ddp=True)
    for (name, a), b in zip(eager.state_dict().items(), graphed.state_dict().values(),
                            strict=True):
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), name


@cuda
def test_a_step_that_syncs_runs_eagerly_and_says_so() -> None:
    x = torch.zeros(4, device="cuda")

    def step(indices: torch.Tensor) -> tuple[torch.Tensor]:
        x.add_(1)
        if float(x.sum()) < 0:  # a host sync: not allowed while capturing
            pass
        return (x.clone(),)

    notes: list[str] = []
    run = GraphedStep(step, 2, notes.append)
    for _ in range(WARMUP_STEPS + 2):
        run(torch.arange(2, device="cuda"))
    assert run.eager and run.graph is None and "CUDA graphs off" in notes[0]
    assert float(x[0]) == WARMUP_STEPS + 2  # every step ran, the failed capture's too
