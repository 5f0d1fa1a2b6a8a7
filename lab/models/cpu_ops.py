"""torch's softmax and dropout, and the book's masked softmax, computed the same way in cheaper
calls on the CPU, where the attention chapters' short rows and small tensors make torch's
kernels slow; elsewhere (CUDA) torch's own.

``softmax`` over a short last axis: torch's CPU softmax takes several times as long for a row
of 10 (the book's attention over 10 steps) as for one of 28 (its kernel is vectorised along
rows of 16 or more). Written as exp(x − max) / Σ with its textbook gradient y ⊙ (g − Σ g ⊙ y),
it is one autograd node. Where x − max < −80 the weight is set to 0 rather than computed: exp()
of the masked scores (−10⁶) and results below 10⁻³⁵ (denormal numbers on the way) are up to 20
times slower than of ordinary ones, for a weight that differs from 0 by less than 2·10⁻³⁵.

``masked_softmax``: where the lab's kernels are built (lab/models/native.py), the book's
sequence_mask-then-softmax as one compiled node (masked_softmax.cpp), for float32 scores on the
CPU in short rows; None elsewhere, and the caller computes it the book's way. For the book's
(256, 10, 10) scores it takes a third of the time, forward and backward.

``AvgPool2d`` is ``nn.AvgPool2d``; LeNet's 2×2 pooling with stride 2 of a float32
channels_last tensor (as lab/train/device.py lays images out) runs avg_pool.cpp, where torch's
kernel does one channel at a time when there are few (LeNet's first pooling has 6).

``Dropout`` is ``nn.Dropout``; training on the CPU in float32, where the lab's kernels are built
(lab/models/native.py), dropout.cpp draws and applies its mask in one pass (torch's
``bernoulli_`` draws it one element at a time: a fifth of the Transformer's training step). Its
masks come from the same seed (torch.manual_seed) on every run, but are not torch's masks.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from lab.models import native

SHORT_ROW = 16  # torch's CPU softmax is fast from rows of this length on
NEGLIGIBLE = -80.0  # exp(-80) ≈ 1.8e-35: a weight of 0 to float precision


class _Softmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        z = torch.sub(x, x.amax(-1, keepdim=True))
        y = F.threshold_(z, NEGLIGIBLE, float("-inf")).exp_()  # exp(-inf) = 0, fast
        y /= y.sum(-1, keepdim=True)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        gy = g * y
        return gy.sub_(y * gy.sum(-1, keepdim=True))


def softmax(x: torch.Tensor) -> torch.Tensor:
    """``F.softmax(x, dim=-1)``."""
    if x.device.type == "cpu" and x.shape[-1] < SHORT_ROW and x.dtype != torch.bfloat16:
        return _Softmax.apply(x)
    return F.softmax(x, dim=-1)


def masked_softmax(x: torch.Tensor, valid_lens: torch.Tensor) -> torch.Tensor | None:
    """Softmax over the last axis of x (N, Q, K) over each row's first ``valid_lens`` keys
    ((N,) or (N, Q)), by the compiled kernel; None where it does not apply (from rows of
    SHORT_ROW keys on, torch's softmax is the faster)."""
    if (x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 3
            and x.shape[-1] < SHORT_ROW):
        kernels = native.kernels()
        if kernels is not None:
            return kernels.masked_softmax(x, valid_lens)
    return None


class Dropout(nn.Dropout):
    """``nn.Dropout``, its mask drawn by the compiled kernel where it applies."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (self.training and 0 < self.p < 1 and x.device.type == "cpu"
                and x.dtype == torch.float32 and not self.inplace):
            kernels = native.kernels()
            if kernels is not None:
                return kernels.dropout(x, self.p)
        return super().forward(x)


class AvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d``, by the compiled kernel for a 2×2 window with stride 2 where it applies."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (self._pairs() == ((2, 2), (2, 2), (0, 0)) and not self.ceil_mode
                and self.divisor_override is None and x.device.type == "cpu"
                and x.dtype == torch.float32 and x.dim() == 4
                and x.is_contiguous(memory_format=torch.channels_last)
                and min(x.shape[-2:]) >= 2):
            kernels = native.kernels()
            if kernels is not None:
                return kernels.avg_pool_2x2(x)
        return super().forward(x)

    def _pairs(self) -> tuple[tuple[int, int], ...]:
        """kernel_size, stride and padding, each as (rows, columns)."""
        return tuple(v if isinstance(v, tuple) else (v, v)
                     for v in (self.kernel_size, self.stride, self.padding))
