"""Lectures 23–29: the book's exact shapes, its resize, batch norm by hand, and every network
learning from real Fashion-MNIST images through the runner."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lab import catalog, runner
from lab.events import EpochEnd, Event, Message, Predictions
from lab.models.cnn import BatchNorm, flat_width, lenet, lenet_bn
from lab.models.cnn_modern import VGG11_ARCH, alexnet, googlenet, nin, small_conv_arch, vgg
from lab.models.cnn_residual import Residual, densenet, resnet18, resnet18_small_images
from lab.recipes.cnn import build_net, resized
from lab.train.classify import accuracy
from lab.train.device import Accelerated, accelerate


def shapes(net: nn.Sequential, side: int) -> list[tuple[int, ...]]:
    """The book's loop: each top-level layer's output shape for one image, batch dim dropped
    (in eval mode: nn.BatchNorm1d refuses to train on a batch of one)."""
    X = torch.rand(size=(1, 1, side, side))
    out = []
    with torch.no_grad():
        for layer in net.eval():
            X = layer(X)
            out.append(tuple(X.shape[1:]))
    return out


def test_lenet_shapes() -> None:
    assert shapes(lenet(), 28) == [
        (6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5),
        (400,), (120,), (120,), (84,), (84,), (10,)]
    assert lenet(32)[7].in_features == 16 * 6 * 6  # resized, the dense layer follows


def test_lenet_bn_shapes_and_both_implementations() -> None:
    scratch, concise = lenet_bn(scratch=True), lenet_bn(scratch=False)
    assert shapes(scratch, 28)[:9] == [(6, 24, 24), (6, 24, 24), (6, 24, 24), (6, 12, 12),
                                       (16, 8, 8), (16, 8, 8), (16, 8, 8), (16, 4, 4), (256,)]
    assert shapes(scratch, 28)[-1] == shapes(concise, 28)[-1] == (10,)
    assert isinstance(scratch[1], BatchNorm) and isinstance(scratch[10], BatchNorm)
    assert isinstance(concise[1], nn.BatchNorm2d) and isinstance(concise[10], nn.BatchNorm1d)


def test_alexnet_shapes_at_224() -> None:
    convs = [s for s in shapes(alexnet(), 224) if len(s) == 3]
    assert convs[::2] == [(96, 54, 54), (96, 26, 26), (256, 26, 26), (384, 12, 12),
                          (384, 12, 12), (256, 12, 12), (256, 5, 5)]
    dense = [s[0] for s in shapes(alexnet(), 224) if len(s) == 1]
    assert dense == [6400, 4096, 4096, 4096, 4096, 4096, 4096, 10]


def test_vgg_blocks_halve_the_image() -> None:
    arch = small_conv_arch(VGG11_ARCH, 4)
    assert arch == [(1, 16), (1, 32), (2, 64), (2, 128), (2, 128)]
    net = vgg(arch)
    assert shapes(net, 224)[:6] == [(16, 112, 112), (32, 56, 56), (64, 28, 28), (128, 14, 14),
                                    (128, 7, 7), (128 * 7 * 7,)]
    assert net[6].in_features == 6272 and net[-1].out_features == 10
    assert vgg(arch, side=32)[6].in_features == 128  # one pixel left after five pools


def test_nin_googlenet_densenet_end_in_ten_classes() -> None:
    assert shapes(nin(), 224)[-1] == (10,)
    assert shapes(googlenet(), 96) == [(64, 24, 24), (192, 12, 12), (480, 6, 6), (832, 3, 3),
                                       (1024,), (10,)]
    net = densenet()
    assert net[-1].in_features == 248  # 64 → 192 → 96 → 224 → 112 → 240 → 120 → 248
    assert shapes(net, 96)[-1] == (10,)


def test_residual_and_resnet_shapes() -> None:
    X = torch.rand(4, 3, 6, 6)
    assert Residual(3, 3)(X).shape == (4, 3, 6, 6)
    assert Residual(3, 6, use_1x1conv=True, strides=2)(X).shape == (4, 6, 3, 3)
    assert shapes(resnet18(), 224) == [(64, 56, 56), (64, 56, 56), (128, 28, 28),
                                       (256, 14, 14), (512, 7, 7), (512, 1, 1), (512,), (10,)]
    # Lecture 34's, for 28×28 images: no shrinking before the second stage.
    assert shapes(resnet18_small_images(), 28) == [
        (64, 28, 28), (64, 28, 28), (128, 14, 14), (256, 7, 7), (512, 4, 4), (512, 1, 1),
        (512,), (10,)]


def test_flat_width_asks_the_layers_without_touching_them() -> None:
    net = lenet_bn(scratch=False)
    assert flat_width(list(net)[:8], 28) == 256
    assert net[1].num_batches_tracked == 0  # the probe ran on a copy
    assert torch.equal(net[1].running_mean, torch.zeros(6))


def test_scratch_batch_norm_normalises_and_tracks_moving_averages() -> None:
    torch.manual_seed(0)
    X = torch.randn(8, 3, 5, 5) * 4 + 2
    bn, reference = BatchNorm(3, num_dims=4), nn.BatchNorm2d(3)
    Y = bn(X)
    assert torch.allclose(Y, reference(X), atol=1e-5)  # training: the batch's statistics
    assert torch.allclose(Y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    mean = X.mean(dim=(0, 2, 3)).reshape(1, 3, 1, 1)
    assert torch.allclose(bn.moving_mean, 0.1 * mean, atol=1e-6)  # 0.9 · 0 + 0.1 · mean
    with torch.no_grad():  # the book's test for prediction: no gradient
        predicted = bn(X)
    assert torch.allclose(bn.moving_mean, 0.1 * mean, atol=1e-6)  # not updated by prediction
    assert torch.allclose(predicted, (X - bn.moving_mean) / torch.sqrt(bn.moving_var + 1e-5))
    assert set(bn.state_dict()) == {"gamma", "beta", "moving_mean", "moving_var"}
    features = BatchNorm(4, num_dims=2)(torch.randn(16, 4) * 3 + 1)  # per feature
    assert torch.allclose(features.std(dim=0, unbiased=False), torch.ones(4), atol=1e-3)


def test_resize_matches_torchvision_on_real_images(fashion_mnist) -> None:
    """The book resizes PIL images (``Resize`` then ``ToTensor``); ours is batched on tensors."""
    from PIL import Image
    from torchvision import transforms

    from lab.data import fashion_mnist as fm

    images = fm.load()[1].images[:32]
    for side in (32, 96, 224):
        book = torch.stack([transforms.ToTensor()(transforms.Resize(side)(
            Image.fromarray(image.numpy(), mode="L"))) for image in images])
        ours = resized(side)(images)
        assert ours.shape == book.shape == (32, 1, side, side)
        diff = (ours - book).abs()
        assert diff.mean() < 0.002 and diff.max() <= 1 / 255 + 1e-6  # PIL rounds to uint8
        on_tensors = transforms.Resize(side)(images.unsqueeze(1).float() / 255)
        assert torch.allclose(ours, on_tensors, atol=1e-5)
    assert torch.equal(resized(28)(images), images.unsqueeze(1).float() / 255)


def test_accelerated_autocasts_and_evaluation_batches_agree() -> None:
    torch.manual_seed(0)
    net = lenet()
    X = torch.rand(50, 1, 28, 28)
    whole = net(X)
    images, labels = (X.squeeze(1) * 255).to(torch.uint8), torch.randint(0, 10, (50,))
    # The evaluation batch size changes the speed and the memory, never the accuracy.
    assert accuracy(net, images, labels, batch=16) == accuracy(net, images, labels, batch=4096)
    fast = Accelerated(net, "cpu", channels_last=True)
    with torch.no_grad():
        assert torch.allclose(fast(X), whole, atol=1e-5)
    bf16 = Accelerated(net, "cpu", bf16=True, channels_last=True)
    logits = bf16(X)
    assert logits.dtype == torch.float32 and torch.allclose(logits, whole, atol=0.05)
    cpu, used = accelerate(net, torch.device("cpu"), bf16=True, compile=False)
    # CPU: the book's float32 arithmetic; only the memory layout is oneDNN's fastest.
    assert not cpu.bf16 and cpu.channels_last and used == "channels_last, float32"


# For each network, a learning rate at which its loss clearly falls within a dozen steps on one
# batch: at the book's rates AlexNet, VGG and NiN sit near log(10) for many batches at first.
LEARNS = {"lenet": 0.3, "batchnorm": 1.0, "alexnet": 0.05, "vgg": 0.1, "nin": 0.3,
          "googlenet": 0.3, "resnet": 0.05, "densenet": 0.1}


@pytest.fixture
def tiny_fashion_mnist(small_fashion_mnist, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real Fashion-MNIST cut further, to 64 training and 64 test images."""
    from lab.data import fashion_mnist as fm

    small = fm.load
    monkeypatch.setattr(fm, "load", lambda device="cpu", progress=None: tuple(
        fm.Split(split.images[:64], split.labels[:64]) for split in small(device, progress)))


@pytest.mark.parametrize("exp_id,impl", [(e, None) for e in LEARNS if e != "batchnorm"]
                         + [("batchnorm", "scratch"), ("batchnorm", "concise")])
def test_every_network_learns(exp_id: str, impl: str | None, tiny_fashion_mnist) -> None:
    """12 steps on the same 64 real images, at the network's smallest valid resize."""
    exp = catalog.get(exp_id)
    overrides = {"lr": LEARNS[exp_id], "batch_size": 64, "subset": 64, "epochs": 12,
                 "resize": exp.param("resize").min, **({"impl": impl} if impl else {})}
    events: list[Event] = []
    params = exp.resolve("book", {k: str(v) for k, v in overrides.items()})
    result = runner.run(exp, params, sinks=[events.append])
    assert result.status == "finished", result.reason
    losses = [e.metrics["train_loss"] for e in events if isinstance(e, EpochEnd)]
    assert len(losses) == 12 and losses[-1] < losses[0] - 0.02
    predictions = next(e for e in events if isinstance(e, Predictions))
    assert len(predictions.images) == 12 and len(predictions.images[0]) == 28
    messages = [e.text for e in events if isinstance(e, Message)]
    assert "training on cpu (channels_last, float32)" in messages
    if exp_id == "batchnorm":
        assert any(m.startswith("first batch-norm layer: γ [") for m in messages)
    assert set(torch.load(result.run_dir / "final.pt")) == {"net", "optimizer"}


def test_build_net_follows_the_params() -> None:
    exp = catalog.get("vgg")
    net, shape = build_net(exp.resolve("book", {"ratio": "8", "resize": "64"}), "vgg")
    assert shape == (1, 1, 64, 64) and net[0][0].out_channels == 8
    assert net(torch.zeros(shape)).shape == (1, 10)
    assert exp.param("resize").min == 32 and catalog.get("alexnet").param("resize").min == 65
