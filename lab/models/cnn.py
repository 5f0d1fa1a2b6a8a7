"""Lectures 23 and 28: LeNet, and LeNet with batch normalization (by hand and with nn)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn


def flat_width(layers: Sequence[nn.Module], side: int) -> int:
    """How many numbers ``layers`` turn one 1×side×side image into.

    The book writes this width down for its one input size (LeNet's 16 * 5 * 5 at 28×28,
    AlexNet's 6400 at 224×224); the lab lets the images be resized, so it asks the layers. A copy
    on the meta device computes only shapes: no arithmetic, and no moving average is touched.
    """
    probe = copy.deepcopy(nn.Sequential(*layers)).to("meta")
    return probe(torch.empty(1, 1, side, side, device="meta")).numel()


def lenet(side: int = 28) -> nn.Sequential:
    """LeNet-5 as the book has it: sigmoid activations and average pooling."""
    features = [
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
    ]
    return nn.Sequential(
        *features, nn.Flatten(),
        nn.Linear(flat_width(features, side), 120), nn.Sigmoid(),  # 16 * 5 * 5 at 28×28
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


def batch_norm(X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
               moving_mean: torch.Tensor, moving_var: torch.Tensor, eps: float,
               momentum: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The book's batch_norm: returns Y and the updated moving mean and variance."""
    # The book's trick: no gradient means prediction, so use the moving averages. (A module's
    # ``self.training`` flag, set by net.train() and net.eval(), says the same more explicitly.)
    if not torch.is_grad_enabled():
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            # Fully connected layer: statistics per feature.
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            # Convolutional layer: statistics per channel, over the batch, height and width.
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var
    Y = gamma * X_hat + beta  # scale and shift
    return Y, moving_mean.data, moving_var.data


class BatchNorm(nn.Module):
    """γ and β are learned; the moving averages are buffers, so that ``.to(device)`` moves them
    and checkpoints keep them (the book keeps plain tensors and moves them in ``forward``)."""

    def __init__(self, num_features: int, num_dims: int):
        super().__init__()
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.register_buffer("moving_mean", torch.zeros(shape))
        self.register_buffer("moving_var", torch.ones(shape))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        Y, moving_mean, moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var, eps=1e-5, momentum=0.9)
        # Written into the buffers rather than rebinding them, as the book does: a training step
        # captured as a CUDA graph (lab.train.graphs) keeps using the tensors it captured.
        self.moving_mean.copy_(moving_mean)
        self.moving_var.copy_(moving_var)
        return Y


def lenet_bn(scratch: bool, side: int = 28) -> nn.Sequential:
    """LeNet with batch normalization after every convolution and hidden linear layer, before the
    sigmoid; without padding, hence 16 * 4 * 4 = 256 inputs to the first linear layer at 28×28."""
    norm4d: Callable[[int], nn.Module] = (
        (lambda n: BatchNorm(n, num_dims=4)) if scratch else nn.BatchNorm2d)
    norm2d: Callable[[int], nn.Module] = (
        (lambda n: BatchNorm(n, num_dims=2)) if scratch else nn.BatchNorm1d)
    features = [
        nn.Conv2d(1, 6, kernel_size=5), norm4d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), norm4d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
    ]
    return nn.Sequential(
        *features, nn.Flatten(),
        nn.Linear(flat_width(features, side), 120), norm2d(120), nn.Sigmoid(),
        nn.Linear(120, 84), norm2d(84), nn.Sigmoid(),
        nn.Linear(84, 10))


def first_norm_affine(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """γ and β of the first batch-normalization layer, flattened (the book prints them)."""
    for layer in net.modules():
        if isinstance(layer, BatchNorm):
            return layer.gamma.detach().reshape(-1), layer.beta.detach().reshape(-1)
        if isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d):
            return layer.weight.detach().reshape(-1), layer.bias.detach().reshape(-1)
    raise ValueError("the network has no batch normalization layer")
