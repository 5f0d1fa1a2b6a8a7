"""Lectures 23–29: the convolutional networks on Fashion-MNIST, trained the way ``train_ch6`` does:
Xavier-uniform weights, minibatch SGD and the cross-entropy loss."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from lab.data import fashion_mnist
from lab.events import Message
from lab.models.cnn import first_norm_affine, lenet, lenet_bn
from lab.models.cnn_modern import VGG11_ARCH, alexnet, googlenet, nin, small_conv_arch, vgg
from lab.models.cnn_residual import densenet, resnet18, resnet18_small_images
from lab.spec import Params
from lab.train.classify import Transform, as_float_images, emit_predictions, fit_classifier
from lab.train.context import RunContext
from lab.train.device import accelerate
from lab.train.updaters import TorchUpdater

BUILDERS: dict[str, Callable[[Params], nn.Module]] = {
    "lenet": lambda p: lenet(p.resize),
    "alexnet": lambda p: alexnet(p.resize),
    "vgg": lambda p: vgg(small_conv_arch(VGG11_ARCH, p.ratio), p.resize),
    "nin": lambda p: nin(),
    "googlenet": lambda p: googlenet(),
    "batchnorm": lambda p: lenet_bn(scratch=p.impl == "scratch", side=p.resize),
    "resnet": lambda p: resnet18(),
    "densenet": lambda p: densenet(),
    "resnet18-small": lambda p: resnet18_small_images(),  # lecture 34's, data-parallel
}


def init_weights(module: nn.Module) -> None:
    """train_ch6's initialisation: Xavier-uniform weights for every linear and conv layer."""
    if type(module) in (nn.Linear, nn.Conv2d):
        nn.init.xavier_uniform_(module.weight)


def init_normal(module: nn.Module) -> None:
    """Lecture 34's initialisation (multiple-gpus-concise): weights ~ N(0, 0.01²)."""
    if type(module) in (nn.Linear, nn.Conv2d):
        nn.init.normal_(module.weight, std=0.01)


INITS = {"xavier": init_weights, "normal": init_normal}


def resized(side: int) -> Transform:
    """uint8 [B, 28, 28] -> float [B, 1, side, side] in [0, 1], batched on the device.

    The book resizes each PIL image before ToTensor; PIL's bilinear filter, when it enlarges,
    weighs the same pixels as half-pixel bilinear interpolation, so this matches it up to PIL's
    rounding to whole grey levels (at most 1/255). Antialiasing only matters when shrinking, and
    images here only grow.
    """
    def transform(images: torch.Tensor) -> torch.Tensor:
        X = as_float_images(images)
        if side == X.shape[-1]:
            return X
        return F.interpolate(X, size=(side, side), mode="bilinear", align_corners=False,
                             antialias=False)
    return transform


def build_net(params: Params, model: str, init: str = "xavier",
              **_: object) -> tuple[nn.Module, tuple[int, ...]]:
    """The network ``train_cnn`` trains, on the CPU, and one input's shape (lab.shapes)."""
    net = BUILDERS[model](params)
    net.apply(INITS[init])
    return net, (1, 1, params.resize, params.resize)


def train_cnn(ctx: RunContext, model: str, init: str = "xavier") -> None:
    p = ctx.params

    train, test = fashion_mnist.load(ctx.device, progress=ctx.download_note)
    net, _ = build_net(p, model, init)
    fast, used = accelerate(net, ctx.device, bf16=p.bf16, compile=p.compile)
    update = TorchUpdater(torch.optim.SGD(net.parameters(), lr=p.lr))
    ctx.track(net=net, optimizer=update)
    ctx.emit(Message(f"training on {ctx.device} ({used})"))
    transform = resized(p.resize)
    n = min(p.subset, len(train.labels))
    test_set = (test.images, test.labels)
    fit_classifier(ctx, fast, nn.CrossEntropyLoss(reduction="none"), update,
                   (train.images[:n], train.labels[:n]), test_set, transform,
                   eval_batch=p.batch_size,  # at 224×224, 4096 test images would need tens of GB
                   cuda_graphs=p.cuda_graphs)
    emit_predictions(ctx, fast, test_set, fashion_mnist.CLASSES, transform)
    if model == "batchnorm":
        gamma, beta = first_norm_affine(net)
        ctx.emit(Message(f"first batch-norm layer: γ {_fmt(gamma)}, β {_fmt(beta)}"))


def _fmt(values: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in values.tolist()) + "]"
