"""Minibatches of subsequences from one long token sequence, as the book partitions it.

Random sampling (``seq_data_iter_random``): drop a random 0..num_steps−1 tokens at the start,
cut the rest into num_steps-long pieces, shuffle them, and batch them; neighbouring batches are
unrelated. Sequential partitioning (``seq_data_iter_sequential``): drop 0..num_steps tokens, lay
the rest out as batch_size rows, and walk along the rows, so that row i of a batch continues row i
of the previous batch — the reason a model may carry its hidden state from one batch to the next.

The corpus lives on the device as one tensor and batches are gathers or slices of it, so nothing
crosses from the host per batch. The random offsets come from torch's generator (seeded per run).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

Batch = tuple[torch.Tensor, torch.Tensor]  # X, Y: [batch_size, num_steps]; Y is X shifted by one


def _randint(high: int) -> int:
    """A random integer in [0, high], from torch's (seeded) CPU generator."""
    return int(torch.randint(high + 1, ()))


def random_batches(corpus: torch.Tensor, batch_size: int, num_steps: int) -> Iterator[Batch]:
    corpus = corpus[_randint(num_steps - 1):]
    num_subseqs = (len(corpus) - 1) // num_steps
    starts = torch.randperm(num_subseqs, device=corpus.device) * num_steps
    offsets = torch.arange(num_steps, device=corpus.device)
    for i in range(num_subseqs // batch_size):
        positions = starts[i * batch_size:(i + 1) * batch_size, None] + offsets
        yield corpus[positions], corpus[positions + 1]


def sequential_batches(corpus: torch.Tensor, batch_size: int, num_steps: int) -> Iterator[Batch]:
    offset = _randint(num_steps)
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = corpus[offset:offset + num_tokens].reshape(batch_size, -1)
    Ys = corpus[offset + 1:offset + 1 + num_tokens].reshape(batch_size, -1)
    for i in range(0, Xs.shape[1] // num_steps * num_steps, num_steps):
        yield Xs[:, i:i + num_steps], Ys[:, i:i + num_steps]


def batches(corpus: torch.Tensor, batch_size: int, num_steps: int,
            sampling: str = "sequential") -> Iterator[Batch]:
    """One epoch of batches, by ``sampling`` = "random" or "sequential"."""
    if sampling == "random":
        return random_batches(corpus, batch_size, num_steps)
    if sampling == "sequential":
        return sequential_batches(corpus, batch_size, num_steps)
    raise ValueError(f"sampling must be 'random' or 'sequential', not {sampling!r}")

