"""Linear models of lectures 08–09, by hand and with nn, initialised as the book does."""

from __future__ import annotations

import torch
from torch import nn


def init_normal(module: nn.Module, std: float = 0.01) -> None:
    """The book's ``init_weights``: every nn.Linear weight ~ N(0, std); biases keep torch's init."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=std)


class LinearRegressionScratch(nn.Module):
    """ŷ = Xw + b with w ~ N(0, std) and b = 0 (a Module only so that it can be checkpointed)."""

    def __init__(self, num_inputs: int, std: float = 0.01):
        super().__init__()
        self.w = nn.Parameter(torch.normal(0, std, (num_inputs, 1)))
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X @ self.w + self.b


def linear_regression(num_inputs: int) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(num_inputs, 1))
    net[0].weight.data.normal_(0, 0.01)
    net[0].bias.data.fill_(0)
    return net


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The scratch chapter's (ŷ − y)²/2, one value per example."""
    return ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).reshape(-1)


def mse(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``nn.MSELoss(reduction='none')`` flattened: one (ŷ − y)² per example, no ½."""
    return nn.functional.mse_loss(y_hat, y.reshape(y_hat.shape), reduction="none").reshape(-1)


def l2_penalty(w: torch.Tensor) -> torch.Tensor:
    """Lecture 12's ‖w‖²/2."""
    return torch.sum(w.pow(2)) / 2


def softmax(X: torch.Tensor) -> torch.Tensor:
    """The book's softmax: exp, then divide by the row sums (no max subtraction, as taught)."""
    X_exp = torch.exp(X)
    return X_exp / X_exp.sum(1, keepdim=True)


class SoftmaxRegressionScratch(nn.Module):
    """softmax(XW + b) with W ~ N(0, 0.01) (784×10) and b = 0; outputs probabilities."""

    def __init__(self, num_inputs: int = 784, num_outputs: int = 10):
        super().__init__()
        self.W = nn.Parameter(torch.normal(0, 0.01, (num_inputs, num_outputs)))
        self.b = nn.Parameter(torch.zeros(num_outputs))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return softmax(X.reshape(-1, self.W.shape[0]) @ self.W + self.b)


def cross_entropy(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The scratch chapter's −log ŷ[y], from probabilities, one value per example."""
    return -torch.log(y_hat[range(len(y_hat)), y])


def softmax_regression(num_inputs: int = 784, num_outputs: int = 10) -> nn.Sequential:
    net = nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_outputs))
    net.apply(init_normal)
    return net
