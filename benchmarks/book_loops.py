"""The book's own way to train on Fashion-MNIST: softmax regression and the MLP (lectures
09–10, ``train_ch3``), LeNet and ResNet-18 (lectures 23 and 29, ``train_ch6``).

A faithful copy of d2l's ``load_data_fashion_mnist``, ``accuracy``, ``evaluate_accuracy``,
``evaluate_accuracy_gpu``, ``Accumulator``, ``train_epoch_ch3``, ``train_ch3``, ``train_ch6`` and
the lectures' networks, so the lab can be timed against what the book does. Only the Animator is
gone: ``train_ch3`` and ``train_ch6`` return what it would plot. It deliberately imports nothing
from ``lab``: anyone can check this baseline on its own.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torch.utils import data
from torchvision import transforms


def get_dataloader_workers() -> int:
    """The book hard-codes 4 worker processes."""
    return 4


def load_data_fashion_mnist(batch_size: int, root: Path, resize: int | None = None,
                            train_examples: int | None = None
                            ) -> tuple[data.DataLoader, data.DataLoader]:
    """The book's loader. ``root`` is new here (torchvision's layout, benchmarks/suite.py lays it
    out from Debian's files) and ``download`` is False: Debian's .gz files differ from the
    mirror's (gzip headers), so torchvision would reject and refetch them.
    ``train_examples`` is new too: train on the first N images (the lab's ``subset``), so a
    benchmark round stays short; the test set is always whole."""
    trans = [transforms.ToTensor()]
    if resize:
        trans.insert(0, transforms.Resize(resize))
    trans = transforms.Compose(trans)
    mnist_train = torchvision.datasets.FashionMNIST(
        root=str(root), train=True, transform=trans, download=False)
    mnist_test = torchvision.datasets.FashionMNIST(
        root=str(root), train=False, transform=trans, download=False)
    if train_examples is not None:
        mnist_train = data.Subset(mnist_train, range(min(train_examples, len(mnist_train))))
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
    """Lecture 23: LeNet with sigmoids and average pooling (train_ch6 initialises it)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


class Residual(nn.Module):
    """Lecture 29's residual block."""

    def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1,
                               stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
        else:
            self.conv3 = None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)


def resnet_block(input_channels, num_channels, num_residuals, first_block=False):
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
        else:
            blk.append(Residual(num_channels, num_channels))
    return blk


def resnet18_net() -> nn.Sequential:
    """Lecture 29: ResNet-18 (the book builds b1…b5 at module level)."""
    b1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3),
                       nn.BatchNorm2d(64), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(*resnet_block(64, 64, 2, first_block=True))
    b3 = nn.Sequential(*resnet_block(64, 128, 2))
    b4 = nn.Sequential(*resnet_block(128, 256, 2))
    b5 = nn.Sequential(*resnet_block(256, 512, 2))
    return nn.Sequential(b1, b2, b3, b4, b5, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                         nn.Linear(512, 10))


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


def evaluate_accuracy_gpu(net: nn.Module, data_iter: data.DataLoader, device=None) -> float:
    net.eval()
    if not device:
        device = next(iter(net.parameters())).device
    metric = Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
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


# What train_ch3 and train_ch6 would plot: per epoch, the training pass's examples/s (wall time
# of the whole pass, data loading included: what a learner waits for) and the test accuracy.
EpochStats = list[tuple[float, float]]


def train_ch3(net: nn.Module, train_iter: data.DataLoader, test_iter: data.DataLoader,
              loss: nn.Module, num_epochs: int, updater: torch.optim.Optimizer) -> EpochStats:
    """The book's loop (CPU only, as in the book). Its closing asserts (train loss < 0.5, …) are
    left out: a benchmark's few epochs need not reach them."""
    epochs = []
    for _ in range(num_epochs):
        started = time.perf_counter()
        train_epoch_ch3(net, train_iter, loss, updater)
        speed = len(train_iter.dataset) / (time.perf_counter() - started)
        epochs.append((speed, evaluate_accuracy(net, test_iter)))
    return epochs


def init_weights_ch6(m: nn.Module) -> None:
    if type(m) is nn.Linear or type(m) is nn.Conv2d:
        nn.init.xavier_uniform_(m.weight)


def train_ch6(net: nn.Module, train_iter: data.DataLoader, test_iter: data.DataLoader,
              num_epochs: int, lr: float, device) -> EpochStats:
    """The book's ``train_ch6``: a mean loss, and ``metric.add(l * X.shape[0], accuracy(y_hat,
    y), ...)`` syncing with the host every batch. (The book's own timer leaves the waits for
    the next batch out; the wall time here keeps them in.)"""
    net.apply(init_weights_ch6)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    epochs = []
    for _ in range(num_epochs):
        started = time.perf_counter()
        metric = Accumulator(3)
        net.train()
        for X, y in train_iter:
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)  # noqa: E741 -- the book's name
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], accuracy(y_hat, y), X.shape[0])
        speed = metric[2] / (time.perf_counter() - started)
        epochs.append((speed, evaluate_accuracy_gpu(net, test_iter)))
    return epochs


NETS = {"softmax": softmax_net, "mlp": mlp_net, "lenet": lenet_net, "resnet": resnet18_net}


def train(model: str, train_iter: data.DataLoader, test_iter: data.DataLoader, num_epochs: int,
          lr: float, device: str = "cpu") -> EpochStats:
    """What the lecture's notebook runs: 09–10 ``train_ch3`` with ``SGD(lr)`` and an unreduced
    cross-entropy (on the CPU: train_ch3 has no device), 23 and 29 ``train_ch6``."""
    net = NETS[model]()
    if model in ("softmax", "mlp"):
        loss = nn.CrossEntropyLoss(reduction="none")
        trainer = torch.optim.SGD(net.parameters(), lr=lr)
        return train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer)
    return train_ch6(net, train_iter, test_iter, num_epochs, lr, device)
