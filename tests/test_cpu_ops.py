"""The CPU shortcuts compute what torch's operations do: lab/models/cpu_ops.py (softmax over short
rows, the masked softmax, dropout, 2×2 average pooling), lab/train/updaters.fast_adam,
lab/train/device.Conv2d (one-pixel outputs as a matrix product) and lab/train/host_memory.py."""

from __future__ import annotations

import platform
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lab.models import cpu_ops, native
from lab.models.attention import MASKED, masked_softmax, sequence_mask
from lab.train.device import Conv2d, accelerate
from lab.train.updaters import fast_adam

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("shape", [(64, 10, 10), (5, 3), (2, 7, 40)])
def test_softmax_and_its_gradient_equal_torchs(shape) -> None:
    torch.manual_seed(0)
    x = (torch.randn(shape, dtype=torch.float64) * 4).requires_grad_(True)
    g = torch.randn(shape, dtype=torch.float64)
    ours = cpu_ops.softmax(x)
    theirs = F.softmax(x, dim=-1)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.autograd.grad(ours, x, g)[0],
                               torch.autograd.grad(theirs, x, g)[0], rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(cpu_ops.softmax, (x[..., :4].detach().requires_grad_(),))


def test_masked_keys_weigh_exactly_zero_and_a_fully_masked_row_is_uniform() -> None:
    """The book's mask (−10⁶) gives 0 after the softmax; so does any score 80 below its row's
    largest; a row with every key masked gets the book's uniform weights."""
    scores = torch.tensor([[[0.5, 1.0, -3.0, 2.0], [MASKED, MASKED, MASKED, MASKED],
                            [0.0, -85.0, -100.0, 1.0]]])
    weights = masked_softmax(scores[:, :1], torch.tensor([2]))
    assert weights[0, 0, 2:].tolist() == [0.0, 0.0]
    torch.testing.assert_close(weights[0, 0, :2], F.softmax(torch.tensor([0.5, 1.0]), dim=0))
    others = cpu_ops.softmax(scores[:, 1:])
    assert others[0, 0].tolist() == [0.25] * 4
    assert others[0, 1, 1:3].tolist() == [0.0, 0.0]
    torch.testing.assert_close(others, F.softmax(scores[:, 1:], dim=-1), rtol=0, atol=1e-30)


@pytest.mark.parametrize("fused", [True, False])
def test_fast_adam_is_torchs_adam(fused, monkeypatch) -> None:
    """Fused where the device has the kernel; multi-tensor where asking for it fails."""
    torch.manual_seed(2)
    net, ref = nn.Linear(5, 3), nn.Linear(5, 3)
    ref.load_state_dict(net.state_dict())
    if not fused:
        original = torch.optim.Adam.__init__

        def refuse(self, params, *a, fused=None, **kw):  # as on a device without the kernel
            if fused:
                raise RuntimeError("`fused=True` requires all the params to be ...")
            original(self, params, *a, **kw)

        monkeypatch.setattr(torch.optim.Adam, "__init__", refuse)
    ours = fast_adam(net.parameters(), 0.01)
    assert ours.defaults["fused"] is (True if fused else None)
    theirs = torch.optim.Adam(ref.parameters(), lr=0.01)
    x = torch.randn(8, 5)
    for _ in range(5):
        for model, optimizer in ((net, ours), (ref, theirs)):
            optimizer.zero_grad()
            model(x).square().sum().backward()
            optimizer.step()
    for mine, other in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(mine, other, rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_keep_freed_memory_stops_the_page_faults_of_every_batch() -> None:
    """In a fresh process: once keep_freed_memory has run, training steps of a small
    convolutional network on 256 images (activations of 1–5 MiB, some 4,000 pages a step) reuse
    their memory: after 10 steps, 20 more fault in under 150 pages a step (here about 60). With
    glibc's defaults it varies from run to run, as its threads' frees interleave: from 60 to
    1,900 a step here, most runs over 300 (each step's big blocks unmapped, then faulted in
    again)."""
    script = (
        "import resource, torch\n"
        "from torch import nn\n"
        "from lab.train.host_memory import keep_freed_memory\n"
        "assert keep_freed_memory()\n"
        "torch.manual_seed(0)\n"
        "net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2),\n"
        "                    nn.Flatten(), nn.Linear(6 * 14 * 14, 10))\n"
        "x = torch.randn(256, 1, 28, 28)\n"
        "def step():\n"
        "    net.zero_grad()\n"
        "    net(x).square().sum().backward()\n"
        "def faults(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(10): step()\n"
        "before = faults()\n"
        "for _ in range(20): step()\n"
        "print(faults() - before)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert int(out.stdout.split()[-1]) < 20 * 150


# kernel, stride, padding, input side, bias: one-pixel outputs of every kind, and one that is not
ONE_PIXEL = [(3, 1, 1, 1, True), (3, 2, 1, 2, False), (1, 2, 0, 2, True), (3, 1, 0, 3, True),
             (3, 2, 0, 4, True), ((3, 1), 1, (1, 0), 1, True), (3, 1, 1, 3, True)]


@pytest.mark.parametrize(("kernel", "stride", "padding", "side", "bias"), ONE_PIXEL)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_a_one_pixel_convolution_is_the_convolution(kernel, stride, padding, side, bias,
                                                    layout) -> None:
    """Output and every gradient as nn.Conv2d's, the weight's gradient in its own layout."""
    torch.manual_seed(3)
    ref = nn.Conv2d(6, 5, kernel, stride, padding, bias=bias).double().to(memory_format=layout)
    ours = nn.Conv2d(6, 5, kernel, stride, padding, bias=bias).double()
    ours.load_state_dict(ref.state_dict())
    ours.to(memory_format=layout).__class__ = Conv2d
    x = torch.randn(4, 6, side, side, dtype=torch.float64).contiguous(memory_format=layout)
    x.requires_grad_(True)
    one_pixel = ours._taps_on(x) is not None
    assert one_pixel == (ref(x).shape[-2:] == (1, 1))
    y, y_ref = ours(x), ref(x)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    g = torch.randn_like(y_ref)

    def inputs(m):
        return (x, m.weight, m.bias) if bias else (x, m.weight)

    grads = torch.autograd.grad(y, inputs(ours), g)
    for mine, theirs in zip(grads, torch.autograd.grad(y_ref, inputs(ref), g), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-12)
    assert grads[1].stride() == ours.weight.stride()


def test_the_cpu_takes_its_own_convolutions_and_pooling() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AvgPool2d(2, 2), nn.Flatten())
    accelerate(net, torch.device("cpu"), bf16=False, compile=False)
    assert type(net[0]) is Conv2d and type(net[0]).__name__ == "Conv2d"
    assert type(net[1]) is cpu_ops.AvgPool2d and type(net[1]).__name__ == "AvgPool2d"
    assert list(net.state_dict()) == ["0.weight", "0.bias"]
    assert Conv2d(1, 4, 3)._taps_on(torch.zeros(2, 1, 3, 3, device="meta")) is None


@pytest.fixture
def compiled() -> None:
    if native.kernels() is None:
        pytest.skip("the compiled CPU kernels are not built here (python -m lab.models.native)")


# -- the masked softmax -------------------------------------------------------------------------

def book_masked_softmax(X: torch.Tensor, valid_lens: torch.Tensor) -> torch.Tensor:
    """The book's: sequence_mask with −10⁶, then torch's softmax."""
    shape = X.shape
    lens = (torch.repeat_interleave(valid_lens, shape[1]) if valid_lens.dim() == 1
            else valid_lens.reshape(-1))
    masked = sequence_mask(X.reshape(-1, shape[-1]), lens, value=MASKED)
    return F.softmax(masked.reshape(shape), dim=-1)


LENGTHS = {  # scores' shape -> valid lengths: per example, per query, none kept, more than K
    (4, 5, 10): torch.tensor([3, 10, 0, 1]),
    (7, 6, 10): torch.randint(0, 11, (7, 6)),
    (37, 1, 4): torch.randint(-1, 7, (37,)),  # rows not a whole number of blocks; −1 as 0
    (3, 2, 15): torch.tensor([15, 7, 2]),
}


@pytest.mark.parametrize("shape", list(LENGTHS))
def test_the_compiled_masked_softmax_is_the_books(compiled, shape) -> None:
    """Weights and gradients as the book's sequence_mask and softmax give them: 0 past each
    length, uniform over a row with none kept (and no gradient there)."""
    torch.manual_seed(0)
    lens = LENGTHS[shape]
    x = (torch.randn(shape) * 3).requires_grad_(True)
    g = torch.randn(shape)
    ours = cpu_ops.masked_softmax(x, lens)
    theirs = book_masked_softmax(x, lens)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
    assert torch.equal(ours == 0, theirs == 0)
    torch.testing.assert_close(torch.autograd.grad(ours, x, g)[0],
                               torch.autograd.grad(theirs, x, g)[0], rtol=1e-5, atol=1e-6)


def test_the_compiled_masked_softmax_shows_a_nan_and_splits_over_threads(compiled) -> None:
    """A NaN among the kept scores makes its row NaN (a diverging run still shows); the
    rows split over two threads give what one thread gives."""
    x = torch.randn(3, 4, 10)
    x[1, 2, 3] = float("nan")
    weights = cpu_ops.masked_softmax(x, torch.tensor([10, 5, 6]))
    assert weights[1, 2].isnan().all() and not weights[[0, 2]].isnan().any()
    assert not weights[1, [0, 1, 3]].isnan().any()
    x, lens = torch.randn(512, 10, 10), torch.randint(0, 11, (512,))
    one = cpu_ops.masked_softmax(x, lens)
    torch.set_num_threads(2)
    assert torch.equal(cpu_ops.masked_softmax(x, lens), one)


def test_the_masked_softmax_is_the_books_way_where_the_kernel_does_not_apply(
        monkeypatch) -> None:
    """Rows of 16 keys or more, float64, or no build: cpu_ops gives None and attention's
    masked_softmax computes it the book's way."""
    lens = torch.tensor([3, 16])
    for x in (torch.randn(2, 3, 16), torch.randn(2, 3, 8, dtype=torch.float64)):
        assert cpu_ops.masked_softmax(x, lens) is None
        torch.testing.assert_close(masked_softmax(x, lens), book_masked_softmax(x, lens))
    monkeypatch.setattr(native, "kernels", lambda: None)
    x = torch.randn(2, 3, 8)
    assert cpu_ops.masked_softmax(x, lens) is None
    torch.testing.assert_close(masked_softmax(x, lens), book_masked_softmax(x, lens))


# -- 2×2 average pooling ------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(8, 6, 28, 28), (3, 16, 10, 10), (2, 5, 7, 9), (1, 1, 2, 3)])
def test_the_compiled_pooling_is_torchs(compiled, monkeypatch, shape) -> None:
    """Means of 2×2 windows and their gradients as nn.AvgPool2d(2, 2) gives them, channels_last
    in and out, an odd last row or column left out (no gradient); the kernel does run."""
    calls = []
    kernel = native.kernels().avg_pool_2x2
    monkeypatch.setattr(native, "kernels", lambda: SimpleNamespace(
        avg_pool_2x2=lambda x: calls.append(x.shape) or kernel(x)))
    torch.manual_seed(0)
    x = torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    ours, theirs = cpu_ops.AvgPool2d(2, 2)(x), nn.AvgPool2d(2, 2)(x)
    assert calls == [x.shape]
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)
    assert ours.is_contiguous(memory_format=torch.channels_last)
    g = torch.randn_like(theirs)
    (grad,) = torch.autograd.grad(ours, x, g)
    assert grad.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(grad, torch.autograd.grad(theirs, x, g)[0], rtol=0, atol=1e-7)


@pytest.mark.parametrize("case", ["contiguous", "float64", "3x3", "stride 1", "ceil", "no build"])
def test_pooling_is_torchs_where_the_kernel_does_not_apply(monkeypatch, case) -> None:
    options = {"3x3": {"kernel_size": 3}, "stride 1": {"stride": 1}, "ceil": {"ceil_mode": True}}
    pool = cpu_ops.AvgPool2d(**{"kernel_size": 2, "stride": 2, **options.get(case, {})})
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64 if case == "float64" else torch.float32)
    if case != "contiguous":
        x = x.contiguous(memory_format=torch.channels_last)
    monkeypatch.setattr(native, "kernels", lambda: pytest.fail("the kernel was asked for")
                        if case != "no build" else None)
    reference = nn.AvgPool2d(pool.kernel_size, pool.stride, ceil_mode=pool.ceil_mode)
    assert torch.equal(pool(x), reference(x))


# -- dropout ----------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_zeroes_a_fraction_p_scales_the_rest_and_its_gradient_takes_the_same_mask(
        compiled, p) -> None:
    n = 1_000_000
    x = (torch.rand(n) + 0.5).requires_grad_(True)  # no zeros of its own
    y = cpu_ops.Dropout(p)(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * (p * (1 - p) / n) ** 0.5
    torch.testing.assert_close(y[kept], x[kept] / (1 - p), rtol=1e-6, atol=0)
    # Neighbours are kept independently: both of a pair about (1 − p)² of the time.
    both = (kept[:-1] & kept[1:]).float().mean().item()
    assert abs(both - (1 - p) ** 2) < 5 * ((1 - p) ** 2 / n) ** 0.5
    w = torch.randn(n)
    (y * w).sum().backward()
    torch.testing.assert_close(x.grad, w * kept / (1 - p), rtol=1e-6, atol=0)


def test_dropout_repeats_with_torchs_seed_whatever_the_threads(compiled) -> None:
    """Seeded by torch's CPU generator (one draw a call): the same seed gives the same masks,
    with one thread or two; each call a new one; and torch's next number moves on, as after
    torch's dropout."""
    x, drop = torch.ones(300_000), cpu_ops.Dropout(0.5)
    torch.manual_seed(3)
    first, second, after = drop(x), drop(x), torch.rand(1)
    assert not torch.equal(first, second)
    torch.manual_seed(3)
    assert not torch.equal(torch.rand(1), after)
    torch.set_num_threads(2)
    torch.manual_seed(3)
    assert torch.equal(drop(x), first) and torch.equal(drop(x), second)


def test_dropout_is_torchs_where_the_kernel_does_not_apply(monkeypatch) -> None:
    """In eval mode, for float64, in place, or without a build: nn.Dropout's own results."""
    drop = cpu_ops.Dropout(0.3)
    assert isinstance(drop, nn.Dropout) and not list(drop.state_dict())
    x = torch.randn(1000)
    assert torch.equal(drop.eval()(x), x)
    drop.train()
    for tensor in (x.double(), x):
        if tensor.dtype == torch.float32:
            monkeypatch.setattr(native, "kernels", lambda: None)
        torch.manual_seed(1)
        ours = drop(tensor)
        torch.manual_seed(1)
        assert torch.equal(ours, F.dropout(tensor, 0.3, training=True))
