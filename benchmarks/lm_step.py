"""One training step of a character language model, the book's against the lab's, in one process.

    python benchmarks/lm_step.py [--cases rnn,gru] [--rounds 40]

What the suite's ``rnn`` and ``gru`` cases time per epoch, without the processes and epochs
around it, so that a few percent can be told from the machine's noise: the book's step
(benchmarks/book_rnn.py's model on one-hot inputs, cross-entropy, backward, ``grad_clipping``
with its host sync, SGD) and the lab's (lab/models/rnn.py's model on token ids, the same loss,
``clip_gradients``, SGD), 8 steps of each in turn per round, on a random batch of the book
preset's shape (32 sequences of 35 of the time machine's 28 characters). Both run with the
lab's ``keep_freed_memory``, which the lab's runner turns on (in their own processes the book's
side runs without it, a little slower).

Also timed: the matrix products alone that any implementation of the step computes, the
recurrence forward and back (35 steps each) and the weight gradient over all steps: the floor
both sides stand on. Prints medians, and the quartiles of the rounds' ratios.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, sys.path[0] is benchmarks/ itself
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from benchmarks import book_rnn, steps  # noqa: E402
from lab.models.rnn import language_model  # noqa: E402
from lab.train.language import clip_gradients  # noqa: E402

VOCAB, HIDDEN, BATCH, STEPS, LR = 28, 256, 32, 35, 1.0
GATES = {"rnn": 1, "gru": 3}  # weight matrices stacked in W_hh
LAYERS = {"rnn": nn.RNN, "gru": nn.GRU}
STEPS_PER_ROUND = 8


def book_step(cell: str, X: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    net = book_rnn.RNNModel(LAYERS[cell](VOCAB, HIDDEN), VOCAB)
    updater = torch.optim.SGD(net.parameters(), lr=LR)
    state = net.begin_state("cpu", BATCH)

    def step() -> None:
        y_hat, _ = net(X, state)
        loss = F.cross_entropy(y_hat, y)
        updater.zero_grad()
        loss.backward()
        book_rnn.grad_clipping(net, 1)
        updater.step()
        float(loss.detach())  # the book's metric.add(l * y.numel(), …)

    return step


def lab_step(cell: str, X: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    net = language_model(cell, "concise", VOCAB, HIDDEN)
    updater = torch.optim.SGD(net.parameters(), lr=LR)
    params = list(net.parameters())
    state = net.begin_state(BATCH, "cpu")

    def step() -> None:
        y_hat, _ = net(X, state)
        loss = F.cross_entropy(y_hat, y)
        updater.zero_grad()
        loss.backward()
        clip_gradients(params, 1.0)
        updater.step()

    return step


def products(cell: str) -> Callable[[], None]:
    """The step's matrix products alone, at its shapes."""
    n = GATES[cell] * HIDDEN
    w, H = torch.randn(n, HIDDEN), torch.randn(STEPS + 1, BATCH, HIDDEN)
    G, M, dH = torch.randn(STEPS, BATCH, n), torch.randn(STEPS, BATCH, n), torch.randn_like(H)

    def step() -> None:
        for t in range(STEPS):
            G[t].addmm_(H[t], w.t())
        for t in range(STEPS - 1, 0, -1):
            dH[t - 1].addmm_(M[t], w)
        M.view(-1, n).t() @ H[:-1].reshape(-1, HIDDEN)

    return step


def measure(cell: str, rounds: int) -> dict[str, list[float]]:
    torch.manual_seed(0)
    X = torch.randint(0, VOCAB, (BATCH, STEPS))
    y = torch.randint(0, VOCAB, (BATCH, STEPS)).T.reshape(-1)  # time-major, as the outputs
    return steps.alternate({"book": book_step(cell, X, y), "lab": lab_step(cell, X, y),
                            "products": products(cell)}, rounds, STEPS_PER_ROUND)


def main(argv: list[str] | None = None) -> int:
    return steps.main(__doc__, "rnn,gru", STEPS_PER_ROUND, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
