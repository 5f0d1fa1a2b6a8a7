"""Character language models trained the way the book's ``train_ch8`` does, and its
``predict_ch8``.

Per epoch: minibatches of subsequences (sequential partitioning carries the state from one batch
to the next, detached; random sampling starts each batch from the zero state), the mean token
cross-entropy, backward, gradient clipping by the global norm, an SGD step. The metric is the
perplexity, exp(mean token cross-entropy over the epoch). Every 10 epochs the model writes 50
characters after "time traveller"; at the end the book's last line and two samples.

Nothing here waits for the device per batch: the clipping factor stays a tensor, and the losses
go to the host at progress ticks (lab/train/monitor.py).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F

from lab.data.sequences import batches
from lab.data.text import Vocab
from lab.events import Message, Sample
from lab.models.rnn import detach
from lab.train.context import RunContext
from lab.train.loop import end_epoch
from lab.train.monitor import EpochMonitor

SAMPLE_EVERY = 10  # epochs, as the book prints
SAMPLE_CHARS = 50
PREFIXES = ("time traveller", "traveller")  # the book's final predictions


def clip_gradients(params: Iterable[torch.Tensor], theta: float) -> None:
    """The book's ``grad_clipping``: when the gradients' global norm ‖g‖ exceeds θ, scale them
    all by θ/‖g‖. The book asks ``if norm > theta`` on the host, a sync per batch; multiplying
    by min(1, θ/‖g‖) computed on the device is the same and needs none. Multi-tensor (foreach)
    kernels do it in a few calls rather than three per parameter: small models' time is calls."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.nn.utils.get_total_norm(grads, foreach=True)
    torch._foreach_mul_(grads, (theta / norm).clamp(max=1.0))


class BookSGD:
    """The book's ``d2l.sgd(params, lr, batch_size)``, with batch_size 1 (the loss is a mean)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, batch_size: int = 1):
        self.params, self.lr, self.batch_size = list(params), lr, batch_size

    def zero_grad(self) -> None:
        pass  # step() zeroes the gradients after using them, as the book's sgd does

    @torch.no_grad()
    def step(self) -> None:
        for param in self.params:
            param -= self.lr * param.grad / self.batch_size
            param.grad.zero_()

    def state_dict(self) -> dict:
        return {"lr": self.lr, "batch_size": self.batch_size}


Updater = torch.optim.Optimizer | BookSGD


@torch.no_grad()
def predict(prefix: str, num_preds: int, net: nn.Module, vocab: Vocab,
            device: torch.device | str) -> str:
    """The book's ``predict_ch8``: warm the state up on the prefix, then take the most likely
    next character ``num_preds`` times. The warm-up runs the prefix as one sequence (the same
    steps as the book's loop over it), and the choices stay on the device until the end."""
    indices = vocab[list(prefix)]
    state = net.begin_state(1, device)
    if len(indices) > 1:
        _, state = net(torch.tensor([indices[:-1]], device=device), state)
    x = torch.tensor([indices[-1:]], device=device)
    chosen = []
    for _ in range(num_preds):
        y, state = net(x, state)
        x = y.argmax(dim=1).reshape(1, 1)
        chosen.append(x)
    generated = torch.cat(chosen).flatten().tolist() if chosen else []
    return "".join(vocab.to_tokens(indices + generated))


def fit_language_model(ctx: RunContext, net: nn.Module, updater: Updater,
                       corpus: torch.Tensor, vocab: Vocab) -> None:
    """``train_ch8``: ``ctx.params`` gives epochs, batch_size, num_steps, sampling and theta."""
    p = ctx.params
    params = [q for q in net.parameters() if q.requires_grad]

    def generate(prefix: str) -> str:
        return predict(prefix, SAMPLE_CHARS, net, vocab, ctx.device)

    for epoch in ctx.epochs(p.epochs):
        monitor = _train_epoch(ctx, epoch, net, updater, params, corpus)
        end_epoch(ctx, monitor, {"perplexity": monitor.losses.mean().exp()})
        if epoch % SAMPLE_EVERY == 0:
            ctx.emit(Sample(epoch, PREFIXES[0], generate(PREFIXES[0])))
    speed = ctx.speed
    ctx.metrics["tokens_per_sec"] = speed
    ctx.emit(Message(f"perplexity {ctx.metrics['perplexity']:.1f}, {speed:.1f} tokens/sec on "
                     f"{ctx.device}"))
    for prefix in PREFIXES:
        ctx.emit(Sample(p.epochs, prefix, generate(prefix)))


def _train_epoch(ctx: RunContext, epoch: int, net: nn.Module, updater: Updater,
                 params: list[torch.Tensor], corpus: torch.Tensor) -> EpochMonitor:
    p = ctx.params
    epoch_batches = list(batches(corpus, p.batch_size, p.num_steps, p.sampling))
    monitor = EpochMonitor(ctx, epoch, p.epochs, len(epoch_batches))
    net.train()
    state = None
    for i, (X, Y) in enumerate(epoch_batches):
        if state is None or p.sampling == "random":
            state = net.begin_state(X.shape[0], ctx.device)
        else:
            state = detach(state)
        y = Y.T.reshape(-1)  # time-major, as the model's outputs
        y_hat, state = net(X, state)
        loss = F.cross_entropy(y_hat, y)  # the mean over the batch's tokens
        updater.zero_grad()
        loss.backward()
        clip_gradients(params, p.theta)
        updater.step()
        monitor.step(i, loss, y.numel())
    monitor.finish()
    return monitor
