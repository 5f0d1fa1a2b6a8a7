"""One training step of an encoder–decoder, the book's against the lab's, in one process.

    python benchmarks/nmt_step.py [--cases transformer,seq2seq] [--rounds 40]

What the suite's ``seq2seq`` and ``transformer`` cases time per epoch, without the processes
and epochs around it, so that a few percent can be told from the machine's noise: the book's
step (benchmarks/book_transformer.py's or book_seq2seq.py's network, its
``MaskedSoftmaxCELoss``, backward, ``grad_clipping`` with its host sync, torch's Adam, and
``metric.add(l.sum(), num_tokens)``, another) and the lab's (lab/models/'s network, the lab's
loss, ``clip_gradients``, ``fast_adam``, the loss summed on the device), 8 steps of each in turn
per round, on a random batch of the book's shape (64 pairs of 10 tokens, the vocabularies of
its 600 fra-eng pairs). Both run with the lab's ``keep_freed_memory``, which the lab's runner
turns on. Prints medians, and the quartiles of the rounds' ratios.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, sys.path[0] is benchmarks/ itself
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks import book_rnn, book_seq2seq, book_transformer, steps  # noqa: E402
from lab.models.seq2seq import seq2seq  # noqa: E402
from lab.models.transformer import transformer  # noqa: E402
from lab.train.language import clip_gradients  # noqa: E402
from lab.train.seq2seq import MaskedSoftmaxCELoss, xavier_init_weights  # noqa: E402
from lab.train.updaters import fast_adam  # noqa: E402

SRC_VOCAB, TGT_VOCAB, BATCH, STEPS, LR, BOS = 184, 201, 64, 10, 0.005, 1
STEPS_PER_ROUND = 8
BOOK_NETS = {"transformer": book_transformer.transformer_net, "seq2seq": book_seq2seq.seq2seq_net}


def lab_net(case: str) -> nn.Module:
    if case == "transformer":
        return transformer(SRC_VOCAB, TGT_VOCAB, num_hiddens=32, num_layers=2, dropout=0.1,
                           ffn_num_hiddens=64, num_heads=4)
    return seq2seq(SRC_VOCAB, TGT_VOCAB, embed_size=32, num_hiddens=32, num_layers=2,
                   dropout=0.1)


def book_step(case: str, batch: tuple[torch.Tensor, ...]) -> steps.Step:
    X, X_valid_len, Y, Y_valid_len = batch
    net = BOOK_NETS[case](SRC_VOCAB, TGT_VOCAB)
    net.apply(xavier_init_weights)
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    loss, metric = book_seq2seq.MaskedSoftmaxCELoss(), book_rnn.Accumulator(2)

    def step() -> None:
        optimizer.zero_grad()
        bos = torch.tensor([BOS] * Y.shape[0]).reshape(-1, 1)
        Y_hat, _ = net(X, torch.cat([bos, Y[:, :-1]], 1), X_valid_len)
        l = loss(Y_hat, Y, Y_valid_len)  # noqa: E741 (the book's name)
        l.sum().backward()
        book_rnn.grad_clipping(net, 1)
        num_tokens = Y_valid_len.sum()
        optimizer.step()
        with torch.no_grad():
            metric.add(l.sum(), num_tokens)

    return step


def lab_step(case: str, batch: tuple[torch.Tensor, ...]) -> steps.Step:
    X, X_valid_len, Y, Y_valid_len = batch
    net = lab_net(case)
    net.apply(xavier_init_weights)
    net.train()
    optimizer = fast_adam(net.parameters(), LR)
    loss, params = MaskedSoftmaxCELoss(), list(net.parameters())
    loss_sum = torch.zeros(())
    dec_input = torch.cat([torch.full((Y.shape[0], 1), BOS), Y[:, :-1]], 1)

    def step() -> None:
        nonlocal loss_sum
        optimizer.zero_grad()
        losses = loss(net(X, dec_input, X_valid_len)[0], Y, Y_valid_len)
        losses.sum().backward()
        clip_gradients(params, 1.0)
        optimizer.step()
        loss_sum += losses.detach().sum()

    return step


def measure(case: str, rounds: int) -> dict[str, list[float]]:
    torch.manual_seed(0)
    lengths = torch.randint(3, STEPS + 1, (2, BATCH))
    batch = (torch.randint(3, SRC_VOCAB, (BATCH, STEPS)), lengths[0],
             torch.randint(3, TGT_VOCAB, (BATCH, STEPS)), lengths[1])
    return steps.alternate({"book": book_step(case, batch), "lab": lab_step(case, batch)},
                           rounds, STEPS_PER_ROUND)


def main(argv: list[str] | None = None) -> int:
    return steps.main(__doc__, "transformer,seq2seq", STEPS_PER_ROUND, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
