"""Parameters and chapters that many experiments share, so each declares only what is its own."""

from __future__ import annotations

from lab.spec import Chapter, Param

LINEAR = Chapter("linear-networks", "Linear neural networks", "线性神经网络")
MLP = Chapter("multilayer-perceptrons", "Multilayer perceptrons", "多层感知机")

FASHION_MNIST_TRAIN = 60_000
MAX_EPOCHS = 1000


def lr(default: float) -> Param:
    return Param("lr", float, default, "learning rate of minibatch SGD", min=0, max=1e6,
                 min_exclusive=True)


def batch_size(default: int, n_train: int) -> Param:
    return Param("batch_size", int, default, "examples per minibatch", min=1, max=n_train)


def epochs(default: int, most: int = MAX_EPOCHS) -> Param:
    return Param("epochs", int, default, "passes over the training set", min=1, max=most)


def impl(default: str = "scratch") -> Param:
    return Param("impl", str, default, "written by hand (scratch) or with torch.nn (concise)",
                 choices=("scratch", "concise"))


def probability(name: str, default: float, help: str) -> Param:
    return Param(name, float, default, help, min=0, max=1)
