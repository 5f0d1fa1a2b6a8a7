"""Lectures 54–59: a character language model on the time machine's first 10000 characters,
trained as the book's ``train_ch8``; and text generation from a finished (or stopped) run.

The checkpoint (``final.pt``) holds the network, the updater and a ``language_model`` card: the
vocabulary's tokens and the model's configuration, so ``load_generator`` rebuilds the model
without the data.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lab.data.text import Vocab, load_corpus_time_machine
from lab.events import Message
from lab.experiments.rnn import enough_tokens
from lab.models.rnn import VOCAB_SIZE, language_model
from lab.spec import Params
from lab.train.context import RunContext
from lab.train.language import BookSGD, fit_language_model, predict

CHECKPOINT = "final.pt"
CARD = "language_model"  # the checkpoint's entry that makes a run a language model run


class ModelCard:
    """What generation needs besides the weights; tracked, so it is saved with them."""

    def __init__(self, tokens: list[str], config: dict[str, Any]):
        self.tokens, self.config = list(tokens), dict(config)

    def state_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "config": self.config}


def _config(params: Params, cell: str, impl: str | None, bidirectional: bool) -> dict[str, Any]:
    """The arguments of ``language_model`` for an experiment's parameters and options."""
    return {"cell": cell, "impl": impl or params.impl, "num_hiddens": params.num_hiddens,
            "num_layers": params.get("num_layers", 1), "bidirectional": bidirectional}


def build_net(params: Params, cell: str, impl: str | None = None,
              bidirectional: bool = False) -> tuple[nn.Module, tuple[int, ...]]:
    """lab.shapes' contract: the network and one input, a sequence of num_steps token indices
    (zeros: the shapes do not depend on which characters)."""
    net = language_model(**_config(params, cell, impl, bidirectional), vocab_size=VOCAB_SIZE)
    return net, (1, params.num_steps)


def train_language_model(ctx: RunContext, cell: str, impl: str | None = None,
                         bidirectional: bool = False) -> None:
    """``cell`` rnn | gru | lstm; ``impl`` fixed by the experiment, or else its parameter."""
    p = ctx.params

    corpus, vocab = load_corpus_time_machine(p.max_tokens, ctx.download_note)
    _check_enough_tokens(len(corpus), p)
    config = _config(p, cell, impl, bidirectional)
    net = language_model(**config, vocab_size=len(vocab)).to(ctx.device)
    if config["impl"] == "scratch":
        updater = BookSGD(net.parameters(), p.lr)
    else:
        updater = torch.optim.SGD(net.parameters(), lr=p.lr)
    ctx.track(net=net, optimizer=updater, **{CARD: ModelCard(vocab.idx_to_token, config)})
    ctx.emit(Message(f"corpus: {len(corpus)} characters, vocabulary of {len(vocab)}"))
    fit_language_model(ctx, net, updater, torch.tensor(corpus, device=ctx.device), vocab)


def _check_enough_tokens(n: int, p: Params) -> None:
    """The schema's rule again, for a text shorter than max_tokens (a copy of one's own)."""
    enough_tokens(p, n)


def load_generator(run_dir: Path, device: str = "cpu") -> Callable[[str, int], str]:
    """``generate(prefix, num_chars)`` -> the prefix followed by ``num_chars`` characters the
    run's model writes (greedy, as the book's ``predict_ch8``). FileNotFoundError when the run
    has no checkpoint; ValueError when it is not a language model run. ``generate`` raises
    ValueError for characters the model does not know (the book's vocabulary is a–z and space:
    it lower-cases the text and turns everything else into spaces)."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"run {run_dir.name} has no checkpoint ({CHECKPOINT}): it is "
                                "still running, or it failed or diverged before saving one")
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    card = checkpoint.get(CARD) if isinstance(checkpoint, dict) else None
    if card is None:
        raise ValueError(f"run {run_dir.name} is not a language model run: it has no text "
                         "model to generate from")
    vocab = Vocab.from_tokens(card["tokens"])
    net = language_model(**card["config"], vocab_size=len(vocab)).to(device)
    net.load_state_dict(checkpoint["net"])
    net.eval()

    def generate(prefix: str, num_chars: int) -> str:
        unknown = dict.fromkeys(c for c in prefix if c not in vocab.token_to_idx)  # in order
        if unknown:
            known = "".join(sorted(t for t in vocab.idx_to_token if len(t) == 1))
            raise ValueError(f"the model does not know {''.join(unknown)!r}; it knows only "
                             f"{known!r} (lower-case letters and the space)")
        if not prefix:
            raise ValueError("the prefix must have at least one character")
        if num_chars < 0:
            raise ValueError("the number of characters must be ≥ 0")
        return predict(prefix, num_chars, net, vocab, device)

    return generate
