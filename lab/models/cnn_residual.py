"""Lecture 29: ResNet-18 and DenseNet (the Chinese v2 code), for 1-channel images."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Residual(nn.Module):
    """Two 3×3 convolutions with batch normalization, plus the input added back (through a 1×1
    convolution where the channels or the size change)."""

    def __init__(self, input_channels: int, num_channels: int, use_1x1conv: bool = False,
                 strides: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1,
                               stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = (nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
                      if use_1x1conv else None)
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)


def stem() -> nn.Sequential:
    """ResNet's and DenseNet's first stage b1: GoogLeNet's, with batch normalization."""
    return nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3),
                         nn.BatchNorm2d(64), nn.ReLU(),
                         nn.MaxPool2d(kernel_size=3, stride=2, padding=1))


def resnet_block(input_channels: int, num_channels: int, num_residuals: int,
                 first_block: bool = False) -> list[nn.Module]:
    """The first residual of a stage halves height and width, except in the first stage (b1
    already shrank the image)."""
    blk: list[nn.Module] = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
        else:
            blk.append(Residual(num_channels, num_channels))
    return blk


def resnet18(first: nn.Module | None = None) -> nn.Sequential:
    """Lecture 29's ResNet-18; ``first``: another first stage in place of ``stem()``."""
    b2 = nn.Sequential(*resnet_block(64, 64, 2, first_block=True))
    b3 = nn.Sequential(*resnet_block(64, 128, 2))
    b4 = nn.Sequential(*resnet_block(128, 256, 2))
    b5 = nn.Sequential(*resnet_block(256, 512, 2))
    return nn.Sequential(first or stem(), b2, b3, b4, b5,
                         nn.AdaptiveAvgPool2d((1, 1)),
                         nn.Flatten(), nn.Linear(512, 10))


def resnet18_small_images() -> nn.Sequential:
    """``d2l.resnet18(10, in_channels=1)`` of lectures 34 and 36, for 28×28 images: a 3×3
    stride-1 first convolution and no max-pool, so the image is not shrunk before stage 2."""
    return resnet18(nn.Sequential(nn.Conv2d(1, 64, kernel_size=3, stride=1, padding=1),
                                  nn.BatchNorm2d(64), nn.ReLU()))


def conv_block(input_channels: int, num_channels: int) -> nn.Sequential:
    """ResNet's later "pre-activation" order: batch norm, ReLU, then the 3×3 convolution."""
    return nn.Sequential(
        nn.BatchNorm2d(input_channels), nn.ReLU(),
        nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    """Each conv_block sees all the channels before it, and adds num_channels of its own."""

    def __init__(self, num_convs: int, input_channels: int, num_channels: int):
        super().__init__()
        layer = []
        for i in range(num_convs):
            layer.append(conv_block(num_channels * i + input_channels, num_channels))
        self.net = nn.Sequential(*layer)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        for blk in self.net:
            Y = blk(X)
            X = torch.cat((X, Y), dim=1)  # concatenate on the channel dimension
        return X


def transition_block(input_channels: int, num_channels: int) -> nn.Sequential:
    """Keeps the model small: a 1×1 convolution cuts the channels, average pooling halves the
    height and width."""
    return nn.Sequential(
        nn.BatchNorm2d(input_channels), nn.ReLU(),
        nn.Conv2d(input_channels, num_channels, kernel_size=1),
        nn.AvgPool2d(kernel_size=2, stride=2))


def densenet(num_convs_in_dense_blocks: tuple[int, ...] = (4, 4, 4, 4),
             growth_rate: int = 32) -> nn.Sequential:
    num_channels = 64  # the channels b1 leaves
    blks: list[nn.Module] = []
    for i, num_convs in enumerate(num_convs_in_dense_blocks):
        blks.append(DenseBlock(num_convs, num_channels, growth_rate))
        num_channels += num_convs * growth_rate  # the channels this dense block leaves
        if i != len(num_convs_in_dense_blocks) - 1:  # halve the channels between blocks
            blks.append(transition_block(num_channels, num_channels // 2))
            num_channels = num_channels // 2
    return nn.Sequential(
        stem(), *blks,
        nn.BatchNorm2d(num_channels), nn.ReLU(),
        nn.AdaptiveAvgPool2d((1, 1)),  # the English edition has AdaptiveMaxPool2d here
        nn.Flatten(),
        nn.Linear(num_channels, 10))
