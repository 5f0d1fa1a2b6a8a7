"""The book's own way to train softmax regression and the MLP on Fashion-MNIST (lectures 09–10).

A faithful copy of d2l's ``load_data_fashion_mnist``, ``accuracy``, ``evaluate_accuracy``,
``Accumulator`` and ``train_epoch_ch3``, so the lab can be timed against what the book does.
It deliberately imports nothing from ``lab``: anyone can check this baseline on its own.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.utils import data
from torchvision import transforms

SYSTEM_DATA = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def prepare_root(root: Path, source: Path = SYSTEM_DATA) -> Path:
    """Lay out ``root/FashionMNIST/raw/`` with the four files gunzipped, as torchvision expects.

    With ``download=False`` torchvision only checks that the raw files exist. Debian's .gz files
    differ from the mirror's (gzip headers), so ``download=True`` would reject and refetch them.
    """
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in RAW_FILES:
        target = raw / name
        if not target.exists():
            with gzip.open(source / f"{name}.gz", "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return root


def get_dataloader_workers() -> int:
    """The book hard-codes 4 worker processes."""
    return 4


def load_data_fashion_mnist(batch_size: int, root: Path,
                            resize: int | None = None) -> tuple[data.DataLoader, data.DataLoader]:
    """The book's loader; ``root`` is new here and ``download`` is False (see above)."""
    trans = [transforms.ToTensor()]
    if resize:
        trans.insert(0, transforms.Resize(resize))
    trans = transforms.Compose(trans)
    mnist_train = torchvision.datasets.FashionMNIST(
        root=str(root), train=True, transform=trans, download=False)
    mnist_test = torchvision.datasets.FashionMNIST(
        root=str(root), train=False, transform=trans, download=False)
    return (data.DataLoader(mnist_train, batch_size, shuffle=True,
                            num_workers=get_dataloader_workers()),
            data.DataLoader(mnist_test, batch_size, shuffle=False,
                            num_workers=get_dataloader_workers()))


def init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=0.01)


def softmax_net() -> nn.Sequential:
    """Lecture 09, concise: Flatten + Linear(784, 10), weights ~ N(0, 0.01)."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    net.apply(init_weights)
    return net


def mlp_net(num_hiddens: int = 256) -> nn.Sequential:
    """Lecture 10, concise: Flatten, Linear(784, 256), ReLU, Linear(256, 10)."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, num_hiddens), nn.ReLU(),
                        nn.Linear(num_hiddens, 10))
    net.apply(init_weights)
    return net


def lenet_net() -> nn.Sequential:
    """Lecture 23: LeNet with sigmoids and average pooling, xavier-initialised by train_ch6."""
    net = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))
    net.apply(init_weights_ch6)
    return net


def init_weights_ch6(m: nn.Module) -> None:
    if type(m) is nn.Linear or type(m) is nn.Conv2d:
        nn.init.xavier_uniform_(m.weight)


class Accumulator:
    """Sums over n variables."""

    def __init__(self, n: int):
        self.data = [0.0] * n

    def add(self, *args: float) -> None:
        self.data = [a + float(b) for a, b in zip(self.data, args, strict=True)]

    def __getitem__(self, idx: int) -> float:
        return self.data[idx]


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Number of correct predictions (a host sync: ``float`` of a tensor)."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def evaluate_accuracy(net: nn.Module, data_iter: data.DataLoader) -> float:
    net.eval()
    metric = Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def train_epoch_ch3(net: nn.Module, train_iter: data.DataLoader, loss: nn.Module,
                    updater: torch.optim.Optimizer) -> tuple[float, float]:
    """One epoch exactly as the book's concise chapters run it (the torch-optimizer branch)."""
    net.train()
    metric = Accumulator(3)
    for X, y in train_iter:
        y_hat = net(X)
        l = loss(y_hat, y)  # noqa: E741 -- the book's name
        updater.zero_grad()
        l.mean().backward()
        updater.step()
        metric.add(float(l.sum()), accuracy(y_hat, y), y.numel())
    return metric[0] / metric[2], metric[1] / metric[2]


def train_epoch_ch6(net: nn.Module, train_iter: data.DataLoader, loss: nn.Module,
                    optimizer: torch.optim.Optimizer) -> tuple[float, float]:
    """One epoch of the book's ``train_ch6`` (lectures 23–29) on the CPU: a mean loss, and
    ``metric.add(l * X.shape[0], accuracy(y_hat, y), ...)`` syncing with the host every batch."""
    net.train()
    metric = Accumulator(3)
    for X, y in train_iter:
        optimizer.zero_grad()
        y_hat = net(X)
        l = loss(y_hat, y)  # noqa: E741 -- the book's name
        l.backward()
        optimizer.step()
        with torch.no_grad():
            metric.add(l * X.shape[0], accuracy(y_hat, y), X.shape[0])
    return metric[0] / metric[2], metric[1] / metric[2]


# model -> (net, loss, epoch loop): lectures 09–10 train with train_ch3, 23 with train_ch6.
BOOK = {
    "softmax": (softmax_net, nn.CrossEntropyLoss(reduction="none"), train_epoch_ch3),
    "mlp": (mlp_net, nn.CrossEntropyLoss(reduction="none"), train_epoch_ch3),
    "lenet": (lenet_net, nn.CrossEntropyLoss(), train_epoch_ch6),
}


def book_setup(model: str, lr: float):
    """The net, its loss, ``SGD(lr)`` and the book's epoch function for that lecture."""
    build, loss, train_epoch = BOOK[model]
    net = build()
    return net, loss, torch.optim.SGD(net.parameters(), lr=lr), train_epoch
