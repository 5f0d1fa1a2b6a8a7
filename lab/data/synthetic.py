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
