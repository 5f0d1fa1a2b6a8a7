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


def dropout_layer(X: torch.Tensor, p: float) -> torch.Tensor:
    """Zero each element with probability p and scale the rest by 1/(1 − p): the expectation of
    every unit stays what it was without dropout."""
    assert 0 <= p <= 1
    if p == 1:
        return torch.zeros_like(X)
    if p == 0:
        return X
    mask = (torch.rand(X.shape, device=X.device) > p).float()
    return mask * X / (1.0 - p)


class DropoutMLPScratch(nn.Module):
    """Lecture 13's Net: 784 → 256 → 256 → 10 with ReLU, dropout after each hidden layer while
    training; torch's default Linear init, as the book leaves it."""

    def __init__(self, dropout1: float, dropout2: float, num_inputs: int = 784,
                 num_hiddens1: int = 256, num_hiddens2: int = 256, num_outputs: int = 10):
        super().__init__()
        self.dropout1, self.dropout2 = dropout1, dropout2
        self.lin1 = nn.Linear(num_inputs, num_hiddens1)
        self.lin2 = nn.Linear(num_hiddens1, num_hiddens2)
        self.lin3 = nn.Linear(num_hiddens2, num_outputs)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        H1 = relu(self.lin1(X.reshape(-1, self.lin1.in_features)))
        if self.training:
            H1 = dropout_layer(H1, self.dropout1)
        H2 = relu(self.lin2(H1))
        if self.training:
            H2 = dropout_layer(H2, self.dropout2)
        return self.lin3(H2)


def dropout_mlp(dropout1: float, dropout2: float) -> nn.Sequential:
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(dropout1),
                        nn.Linear(256, 256), nn.ReLU(), nn.Dropout(dropout2), nn.Linear(256, 10))
    net.apply(init_normal)
    return net


ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def deep_mlp(depth: int, width: int, activation: str, init: str, std: float) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units; weights N(0, std²) or Xavier-uniform, zero
    biases: lecture 14's knobs for making gradients vanish or explode."""
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = 784
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), ACTIVATIONS[activation]()]
        fan_in = width
    layers.append(nn.Linear(fan_in, 10))
    net = nn.Sequential(*layers)
    for layer in linear_layers(net):
        if init == "xavier":
            nn.init.xavier_uniform_(layer.weight)
        else:
            nn.init.normal_(layer.weight, std=std)
        nn.init.zeros_(layer.bias)
    return net


def linear_layers(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]
