"""How a batch's per-example losses become a parameter update, the book's two ways."""

from __future__ import annotations

from collections.abc import Iterable

import torch


class TorchUpdater:
    """The concise chapters: ``l.mean().backward()`` and a torch optimizer."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer

    def __call__(self, losses: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        losses.mean().backward()
        self.optimizer.step()

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)


class ScratchSGD:
    """The book's ``d2l.sgd``: backward on the summed loss, then ``p -= lr * p.grad / batch``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float):
        self.params, self.lr = list(params), lr

    def __call__(self, losses: torch.Tensor) -> None:
        losses.sum().backward()
        with torch.no_grad():
            for p in self.params:
                p -= self.lr * p.grad / losses.shape[0]
                p.grad.zero_()

    def state_dict(self) -> dict:
        return {"lr": self.lr}
