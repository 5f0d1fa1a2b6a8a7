"""Parameters and chapters that many experiments share, so each declares only what is its own."""

from __future__ import annotations

from lab.spec import Chapter, Param
from lab.train import schedules

LINEAR = Chapter("linear-networks", "Linear neural networks", "线性神经网络")
MLP = Chapter("multilayer-perceptrons", "Multilayer perceptrons", "多层感知机")
CNN = Chapter("convolutional-networks", "Convolutional neural networks", "卷积神经网络")
RNN = Chapter("recurrent-networks", "Recurrent neural networks", "循环神经网络")
MODERN_RNN = Chapter("modern-recurrent-networks", "Modern recurrent neural networks",
                     "现代循环神经网络")
ATTENTION = Chapter("attention-mechanisms", "Attention mechanisms", "注意力机制")

FASHION_MNIST_TRAIN = 60_000
MAX_EPOCHS = 1000


def lr(default: float) -> Param:
    return Param("lr", float, default, "learning rate of minibatch SGD", min=0, max=1e6,
                 min_exclusive=True)


def lr_schedule() -> Param:
    """How the learning rate changes from epoch to epoch (the book's lr-scheduler section)."""
    return Param("lr_schedule", str, schedules.CONSTANT,
                 f"lr per epoch: {schedules.SYNTAX}", check=schedules.check)


def batch_size(default: int, n_train: int) -> Param:
    return Param("batch_size", int, default, "examples per minibatch", min=1, max=n_train)


def epochs(default: int, most: int = MAX_EPOCHS) -> Param:
    return Param("epochs", int, default, "passes over the training set", min=1, max=most)


def impl(default: str = "scratch") -> Param:
    return Param("impl", str, default, "written by hand (scratch) or with torch.nn (concise)",
                 choices=("scratch", "concise"))


def probability(name: str, default: float, help: str) -> Param:
    return Param(name, float, default, help, min=0, max=1)


def resize(default: int, least: int = 28) -> Param:
    """The side images are resized to, as the book's ``load_data_fashion_mnist(resize=…)``;
    ``least`` is the smallest image the network's strides and pools leave a pixel of."""
    return Param("resize", int, default, "side of the square images the network sees (28: as "
                 "stored)", min=max(least, 28), max=224)


def subset(n_train: int) -> Param:
    return Param("subset", int, n_train, "train on the first N training images (all by default)",
                 min=1, max=n_train)


def accelerator_params() -> tuple[Param, ...]:
    """What a CUDA device offers without changing the lesson; on the CPU bf16 is ignored."""
    return (
        Param("bf16", bool, True, "bfloat16 autocast on CUDA (ignored on the CPU)"),
        Param("compile", bool, False, "torch.compile the network (slow first batches)"),
        Param("cuda_graphs", bool, True, "replay each training step as one CUDA graph (CUDA "
              "only; ignored on the CPU)"),
    )


PRELIMINARIES = Chapter("preliminaries", "Preliminaries", "预备知识")
OPTIMIZATION = Chapter("optimization", "Optimization algorithms", "优化算法")
