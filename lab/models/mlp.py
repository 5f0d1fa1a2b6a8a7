"""Lecture 10's multilayer perceptron, by hand and with nn."""

from __future__ import annotations

import torch
from torch import nn

from lab.models.linear import init_normal


def relu(X: torch.Tensor) -> torch.Tensor:
    return torch.max(X, torch.zeros_like(X))


class MLPScratch(nn.Module):
    """784 → num_hiddens (ReLU) → 10 with W = randn × 0.01 and zero biases; outputs logits."""

    def __init__(self, num_inputs: int = 784, num_hiddens: int = 256, num_outputs: int = 10):
        super().__init__()
        self.W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens) * 0.01)
        self.b1 = nn.Parameter(torch.zeros(num_hiddens))
        self.W2 = nn.Parameter(torch.randn(num_hiddens, num_outputs) * 0.01)
        self.b2 = nn.Parameter(torch.zeros(num_outputs))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        H = relu(X.reshape(-1, self.W1.shape[0]) @ self.W1 + self.b1)
        return H @ self.W2 + self.b2


def mlp(num_inputs: int = 784, num_hiddens: int = 256, num_outputs: int = 10) -> nn.Sequential:
    net = nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_hiddens), nn.ReLU(),
                        nn.Linear(num_hiddens, num_outputs))
    net.apply(init_normal)
    return net
