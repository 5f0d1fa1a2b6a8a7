"""Running a network the fast way its device allows, without changing the lesson.

channels_last memory format everywhere: the layout tensor-core convolutions want on CUDA, and
oneDNN's fastest on the CPU (LeNet: 13k -> 19k examples/s on 2 cores); it changes the layout,
not the arithmetic. On CUDA also bfloat16 autocast (bf16 keeps float32's range, so no loss
scaling; the logits go back to float32 for the loss) and ``cudnn.benchmark`` (each input shape's
fastest convolution algorithm, found once). On the CPU the network computes in float32, as in
the book. ``torch.compile`` works on both.
"""

from __future__ import annotations

import torch
from torch import nn


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
    if cuda:
        torch.backends.cudnn.benchmark = True
    used = ["channels_last", "cudnn.benchmark"] if cuda else ["channels_last"]
    used += ["bf16 autocast"] if bf16 else ["float32"]
    used += ["torch.compile"] if compile else []
    fast = Accelerated(net, device.type, bf16=bf16, channels_last=True, compile=compile)
    return fast, ", ".join(used)
