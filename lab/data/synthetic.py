"""Datasets the book generates itself, with the book's constants."""

from __future__ import annotations

import torch

TRUE_W = (2.0, -3.4)
TRUE_B = 4.2


def linear_data(w: torch.Tensor, b: float, n: int, noise: float = 0.01,
                device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The book's ``synthetic_data``: X ~ N(0, 1), y = Xw + b + N(0, noise²); y is n×1."""
    X = torch.normal(0, 1, (n, len(w)), device=device)
    y = X @ w.to(device) + b
    y += torch.normal(0, noise, y.shape, device=device)
    return X, y.reshape(-1, 1)


POLY_TRUE_W = (5.0, 1.2, -3.4, 5.6)  # the leading weights; the other 16 of 20 are zero
POLY_MAX_DEGREE = 20


def polynomial_data(n: int, noise: float = 0.1,
                    device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Lecture 11's data: x ~ N(0, 1), features x^i / i! for i < 20 (the factorial keeps large
    powers from dominating), y = features · true_w + N(0, noise²); y is n×1."""
    x = torch.normal(0, 1, (n, 1))
    powers = torch.arange(POLY_MAX_DEGREE)
    features = x.pow(powers) / torch.lgamma(powers + 1.0).exp()
    true_w = torch.zeros(POLY_MAX_DEGREE)
    true_w[: len(POLY_TRUE_W)] = torch.tensor(POLY_TRUE_W)
    labels = features @ true_w + torch.normal(0, noise, (n,))
    return features.to(device), labels.reshape(-1, 1).to(device)
