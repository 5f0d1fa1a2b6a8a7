"""Running a network the fast way its device allows, without changing the lesson.

channels_last memory format everywhere: the layout tensor-core convolutions want on CUDA, and
oneDNN's fastest on the CPU (LeNet: 13k -> 19k examples/s on 2 cores); it changes the layout,
not the arithmetic. On CUDA also bfloat16 autocast (bf16 keeps float32's range, so no loss
scaling; the logits go back to float32 for the loss) and ``cudnn.benchmark`` (each input shape's
fastest convolution algorithm, found once). On the CPU the network computes in float32, as in
the book, a convolution whose output is a single pixel is one matrix product (``Conv2d``), and
LeNet's 2×2 average pooling is the lab's compiled kernel (``cpu_ops.AvgPool2d``).
``torch.compile`` works on both.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from lab.models import cpu_ops


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same name, parameters and state) that, on the CPU, computes an output of a
    single pixel as one matrix product. Such a pixel's window holds the whole input and the
    zero padding around it; the kernel taps on the padding add nothing, so the output is the
    taps that fall on the input times the input, flattened: the same sum. ResNet-18 on 28×28
    images ends in such convolutions (3×3 of a 1×1 map, stride 2 of a 2×2 one), and oneDNN's
    backward pass through them took half of its training step on 2 cores."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        taps = self._taps_on(input)
        if taps is None:
            return super().forward(input)
        rows, cols = taps
        window = (slice(None), slice(None), slice(self.padding[0], self.padding[0] + rows),
                  slice(self.padding[1], self.padding[1] + cols))
        out = _TapProduct.apply(input[..., :rows, :cols].flatten(1), self.weight, self.bias,
                                window)
        return out[:, :, None, None]

    def _taps_on(self, input: torch.Tensor) -> tuple[int, int] | None:
        """The input rows and columns a one-pixel output sees, if this is such a case."""
        if (input.device.type != "cpu" or input.dim() != 4 or self.groups != 1
                or self.padding_mode != "zeros" or isinstance(self.padding, str)
                or self.dilation != (1, 1)):
            return None
        seen = []
        for size, k, s, p in zip(input.shape[-2:], self.kernel_size, self.stride, self.padding,
                                 strict=True):
            if (size + 2 * p - k) // s + 1 != 1 or k <= p:
                return None
            seen.append(min(size, k - p))  # input rows 0 … k-p-1 fall in the window
        return seen[0], seen[1]


class _TapProduct(torch.autograd.Function):
    """``x @ weight[window].flatten(1).T + bias``, whose backward pass writes the weight's
    gradient straight into a zero tensor of the weight's shape and layout (autograd's slicing
    would build it in three copies, a third of the gain)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                window: tuple[slice, ...]) -> torch.Tensor:
        w = weight[window].reshape(weight.shape[0], -1)
        ctx.save_for_backward(x, w)
        ctx.weight_like, ctx.window, ctx.has_bias = weight.detach(), window, bias is not None
        return F.linear(x, w, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, w = ctx.saved_tensors
        grad_weight = torch.zeros_like(ctx.weight_like)
        grad_weight[ctx.window] = (grad.t() @ x).view(grad_weight[ctx.window].shape)
        grad_bias = grad.sum(0) if ctx.has_bias else None
        return grad @ w, grad_weight, grad_bias, None


# torch's layers and the CPU versions that compute the same (same names, parameters and state).
CPU_LAYERS = {nn.Conv2d: Conv2d, nn.AvgPool2d: cpu_ops.AvgPool2d}


def cpu_layers(net: nn.Module) -> None:
    """Make every ``nn.Conv2d`` of ``net`` this module's ``Conv2d``, and every ``nn.AvgPool2d``
    cpu_ops' ``AvgPool2d``, in place."""
    for module in net.modules():
        if type(module) in CPU_LAYERS:
            module.__class__ = CPU_LAYERS[type(module)]


class Accelerated(nn.Module):
    """Calls ``net`` with the device's options; checkpoints should save ``net`` itself."""

    def __init__(self, net: nn.Module, device_type: str, *, bf16: bool = False,
                 channels_last: bool = False, compile: bool = False):
        super().__init__()
        self.net = torch.compile(net) if compile else net
        self.device_type, self.bf16 = device_type, bf16
        self.channels_last = channels_last

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            X = X.contiguous(memory_format=torch.channels_last)
        # No cast cache: each weight is cast once per step anyway, and a cache kept across a
        # CUDA graph's capture would hand the graph stale casts (PyTorch's graph notes).
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16,
                            cache_enabled=False):
            return self.net(X).float()


def accelerate(net: nn.Module, device: torch.device, *, bf16: bool,
               compile: bool) -> tuple[Accelerated, str]:
    """Move ``net`` to ``device`` and wrap it; also says in words what is in use."""
    cuda = device.type == "cuda"
    bf16 = bf16 and cuda and torch.cuda.is_bf16_supported()
    net.to(device, memory_format=torch.channels_last)
    if device.type == "cpu":
        cpu_layers(net)
    if cuda:
        torch.backends.cudnn.benchmark = True
    used = ["channels_last", "cudnn.benchmark"] if cuda else ["channels_last"]
    used += ["bf16 autocast"] if bf16 else ["float32"]
    used += ["torch.compile"] if compile else []
    fast = Accelerated(net, device.type, bf16=bf16, channels_last=True, compile=compile)
    return fast, ", ".join(used)
