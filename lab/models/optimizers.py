"""The optimisers of lecture 72 written by hand, the book's update rules one coordinate (or one
tensor) at a time, and their torch.optim counterparts.

A rule takes a value ``x``, its gradient ``g``, its state and the hyperparameters, and returns
the new value and state. The arithmetic is written in the order of the book's ``*_2d`` trainers,
on plain Python floats there (so the printed trajectories come out to the last decimal) and on
tensors for the airfoil regression: the same code serves both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

Value = Any  # a float, or a tensor
State = tuple
Hyper = Mapping[str, Any]
Rule = Callable[[Value, Value, State, Hyper], tuple[Value, State]]


def _sqrt(x: Value) -> Value:
    return torch.sqrt(x) if torch.is_tensor(x) else math.sqrt(x)


def _sign(x: Value) -> Value:
    return torch.sign(x) if torch.is_tensor(x) else float((x > 0) - (x < 0))


def sgd(x: Value, g: Value, state: State, hp: Hyper) -> tuple[Value, State]:
    """x ← x − η g."""
    return x - hp["lr"] * g, state


def momentum(x: Value, g: Value, state: State, hp: Hyper) -> tuple[Value, State]:
    """v ← β v + g; x ← x − η v (the book's ``momentum_2d`` and ``sgd_momentum``)."""
    (v,) = state
    v = hp["beta"] * v + g
    return x - hp["lr"] * v, (v,)


def nesterov(x: Value, g: Value, state: State, hp: Hyper) -> tuple[Value, State]:
    """Momentum that looks ahead: v ← β v + g; x ← x − η (g + β v), as torch's
    ``SGD(nesterov=True)`` writes it (the gradient at x only, not at x − ηβv)."""
    (v,) = state
    v = hp["beta"] * v + g
    return x - hp["lr"] * (g + hp["beta"] * v), (v,)


def adagrad(x: Value, g: Value, state: State, hp: Hyper) -> tuple[Value, State]:
    """s ← s + g²; x ← x − η / √(s + ε) · g."""
    (s,) = state
    s = s + g * g
    return x - hp["lr"] / _sqrt(s + hp["eps"]) * g, (s,)


def rmsprop(x: Value, g: Value, state: State, hp: Hyper) -> tuple[Value, State]:
    """s ← γ s + (1 − γ) g²; x ← x − η / √(s + ε) · g."""
    (s,) = state
    s = hp["gamma"] * s + (1 - hp["gamma"]) * g * g
    return x - hp["lr"] / _sqrt(s + hp["eps"]) * g, (s,)


def adadelta(x: Value, g: Value, state: State, hp: Hyper) -> tuple[Value, State]:
    """s ← ρ s + (1 − ρ) g²; g' ← √(Δx + ε) / √(s + ε) · g; x ← x − g';
    Δx ← ρ Δx + (1 − ρ) g'². The book has no learning rate (torch's lr, 1 by default, scales g')."""
    s, delta = state
    rho, eps = hp["rho"], hp["eps"]
    s = rho * s + (1 - rho) * g * g
    step = (_sqrt(delta + eps) / _sqrt(s + eps)) * g
    delta = rho * delta + (1 - rho) * step * step
    return x - hp.get("lr", 1.0) * step, (s, delta)


def adam(x: Value, g: Value, state: State, hp: Hyper) -> tuple[Value, State]:
    """v ← β1 v + (1 − β1) g; s ← β2 s + (1 − β2) g²; both corrected by 1 − β^t (t from 1);
    x ← x − η v̂ / (√ŝ + ε)."""
    v, s, t = state
    b1, b2 = hp["beta1"], hp["beta2"]
    v = b1 * v + (1 - b1) * g
    s = b2 * s + (1 - b2) * g * g
    return _corrected(x, v, s, t, hp), (v, s, t + 1)


def yogi(x: Value, g: Value, state: State, hp: Hyper) -> tuple[Value, State]:
    """Adam with s ← s + (1 − β2) sign(g² − s) g²: s moves towards g² by at most (1 − β2) g²."""
    v, s, t = state
    b1, b2 = hp["beta1"], hp["beta2"]
    v = b1 * v + (1 - b1) * g
    s = s + (1 - b2) * _sign(g * g - s) * g * g
    return _corrected(x, v, s, t, hp), (v, s, t + 1)


def _corrected(x: Value, v: Value, s: Value, t: int, hp: Hyper) -> Value:
    v_hat = v / (1 - hp["beta1"] ** t)
    s_hat = s / (1 - hp["beta2"] ** t)
    return x - hp["lr"] * v_hat / (_sqrt(s_hat) + hp["eps"])


RULES: dict[str, Rule] = {
    "gd": sgd, "sgd": sgd, "momentum": momentum, "nesterov": nesterov, "adagrad": adagrad,
    "rmsprop": rmsprop, "adadelta": adadelta, "adam": adam, "yogi": yogi,
}
_STATE_SIZE = {momentum: 1, nesterov: 1, adagrad: 1, rmsprop: 1, adadelta: 2}


def init_state(name: str, like: Value = 0.0) -> State:
    """Zeros shaped like ``like`` (a float or a tensor); Adam's and Yogi's step count t from 1."""
    rule = RULES[name]
    zero = torch.zeros_like(like) if torch.is_tensor(like) else 0.0
    if rule in (adam, yogi):
        return (zero, zero.clone() if torch.is_tensor(like) else 0.0, 1)
    return tuple(zero.clone() if torch.is_tensor(like) else 0.0
                 for _ in range(_STATE_SIZE.get(rule, 0)))


class Scratch:
    """The book's ``trainer_fn(params, states, hyperparams)`` for ``train_ch11``: one rule applied
    to every parameter, with its gradient, in place; then the gradients are zeroed."""

    def __init__(self, name: str, params: Iterable[torch.Tensor], hyper: Hyper):
        self.rule, self.hyper = RULES[name], dict(hyper)
        self.params = list(params)
        self.states = [init_state(name, p.detach()) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            value, self.states[i] = self.rule(p, p.grad, self.states[i], self.hyper)
            p.copy_(value)
            p.grad.zero_()

    def zero_grad(self) -> None:
        """Nothing to do: ``step`` leaves the gradients zeroed, as the book's trainers do."""


# torch.optim's version of each, with the book's names for its arguments: the concise runs pass
# only these (lr, β, γ, ρ, β1 and β2), leaving torch's defaults for the rest as the book does,
# and eps only where the run sets it.
_TORCH: dict[str, tuple[type[torch.optim.Optimizer], dict[str, str]]] = {
    "gd": (torch.optim.SGD, {}),
    "sgd": (torch.optim.SGD, {}),
    "momentum": (torch.optim.SGD, {"beta": "momentum"}),
    "nesterov": (torch.optim.SGD, {"beta": "momentum"}),
    "adagrad": (torch.optim.Adagrad, {}),
    "rmsprop": (torch.optim.RMSprop, {"gamma": "alpha"}),
    "adadelta": (torch.optim.Adadelta, {"rho": "rho"}),
    "adam": (torch.optim.Adam, {}),
}
CONCISE = frozenset(_TORCH)  # Yogi is not in torch.optim


def concise(name: str, params: Iterable[torch.Tensor], hyper: Hyper,
            eps: float | None = None) -> torch.optim.Optimizer:
    """The torch.optim optimiser for ``name`` with the book's concise arguments."""
    cls, names = _TORCH[name]
    kwargs: dict[str, Any] = {torch_name: hyper[key] for key, torch_name in names.items()}
    kwargs["lr"] = hyper.get("lr", 1.0)
    if name == "nesterov":
        kwargs["nesterov"] = True
    if name == "adam":
        kwargs["betas"] = (hyper["beta1"], hyper["beta2"])
    if eps is not None:
        kwargs["eps"] = eps
    return cls(params, **kwargs)
