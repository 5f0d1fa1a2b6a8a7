"""How a batch's per-example losses become a parameter update, the book's two ways."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import torch


class Updater(Protocol):
    """What a training loop asks of an update: apply it to a batch's losses, and take a new
    learning rate (a schedule's, at an epoch's start)."""

    def __call__(self, losses: torch.Tensor) -> None: ...

    def set_lr(self, lr: float) -> None: ...


def fast_adam(params: Iterable[torch.Tensor], lr: float, **kw: object) -> torch.optim.Adam:
    """``torch.optim.Adam``, fused (one kernel for all parameters: torch has it for the CPU and
    CUDA) where the parameters' device allows it, else multi-tensor (foreach). The same update;
    for the small models of the sequence chapters a third of the per-parameter loop's time."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True, **kw)
    except RuntimeError:  # a device without the fused kernel
        return torch.optim.Adam(params, lr=lr, foreach=True, **kw)


class TorchUpdater:
    """The concise chapters: ``l.mean().backward()`` and a torch optimizer."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer

    def __call__(self, losses: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        losses.mean().backward()
        self.optimizer.step()

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

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

    def set_lr(self, lr: float) -> None:
        self.lr = lr

    def state_dict(self) -> dict:
        return {"lr": self.lr}
