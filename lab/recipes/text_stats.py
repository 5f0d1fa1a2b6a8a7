"""Lectures 52–53's demos on the time machine: from raw text to tokens, a vocabulary and a corpus
of indices (text-preprocess); then word n-gram statistics, Zipf's law, and the two ways of
cutting one long sequence into minibatches (lm-stats).

Each step emits what the book prints and returns its values, so tests can check the numbers.
"""

from __future__ import annotations

from typing import Any

import torch

from lab.data.sequences import batches
from lab.data.text import (
    Vocab,
    corpus_of,
    flatten,
    ngrams,
    read_time_machine,
    tokenize,
)
from lab.events import Curve, Message
from lab.experiments.sequences import TOY_LENGTH
from lab.train.context import RunContext

SHOWN_LINES = (0, 10)  # the lines the book prints, and indexes
TOKENIZED_LINES = 11  # the book prints the tokens of lines 0..10
TOP = 10
NGRAM_NAMES = {1: "unigram", 2: "bigram", 3: "trigram"}


def _say(ctx: RunContext, text: str) -> None:
    ctx.emit(Message(text))
    ctx.check_cancel()


def load_lines(ctx: RunContext) -> list[str]:
    """The time machine's cleaned lines, downloaded first (with a note) when missing."""
    return read_time_machine(ctx.download_note)


# -- lecture 52 -------------------------------------------------------------------------------

def text_preprocess(ctx: RunContext) -> None:
    lines = load_lines(ctx)
    show_lines(ctx, lines)
    token = ctx.params.token
    show_vocab(ctx, show_tokens(ctx, lines, token), token)
    show_corpus(ctx, lines)


def show_lines(ctx: RunContext, lines: list[str]) -> None:
    _say(ctx, f"# text lines: {len(lines)}")
    for i in _shown(lines):
        _say(ctx, lines[i])


def _shown(lines: list) -> list[int]:
    return [i for i in SHOWN_LINES if i < len(lines)]  # a short text of one's own has fewer


def show_tokens(ctx: RunContext, lines: list[str], token: str) -> list[list[str]]:
    tokens = tokenize(lines, token)
    _say(ctx, f"the {token} tokens of lines 0–{TOKENIZED_LINES - 1}:\n"
         + "\n".join(str(line) for line in tokens[:TOKENIZED_LINES]))
    return tokens


def show_vocab(ctx: RunContext, tokens: list[list[str]], token: str = "word") -> Vocab:
    vocab = Vocab(tokens)
    head = list(vocab.token_to_idx.items())[:TOP]
    _say(ctx, f"{len(vocab)} tokens in the vocabulary, most frequent first: {head}")
    label = "words" if token == "word" else "tokens"
    for i in _shown(tokens):
        _say(ctx, f"{label}: {tokens[i]}\nindices: {vocab[tokens[i]]}")
    return vocab


def show_corpus(ctx: RunContext, lines: list[str]) -> tuple[list[int], Vocab]:
    """The book's ``load_corpus_time_machine()``: the whole book as character indices."""
    corpus, vocab = corpus_of(lines)
    _say(ctx, f"the character corpus and its vocabulary: len(corpus), len(vocab) = "
              f"{(len(corpus), len(vocab))}")
    return corpus, vocab


# -- lecture 53 -------------------------------------------------------------------------------

def lm_stats(ctx: RunContext) -> None:
    words = flatten(tokenize(load_lines(ctx)))
    vocabs = {n: show_ngrams(ctx, words, n) for n in NGRAM_NAMES}
    emit_zipf(ctx, vocabs)
    p = ctx.params
    toy = torch.arange(TOY_LENGTH)
    for sampling in ("random", "sequential"):
        show_batches(ctx, toy, p.batch_size, p.num_steps, sampling)


def show_ngrams(ctx: RunContext, words: list[str], n: int) -> Vocab:
    """The vocabulary of a corpus's n-grams (n-word tuples) and its top ten, as the book prints
    ``vocab.token_freqs[:10]``."""
    vocab = Vocab(words if n == 1 else ngrams(words, n))
    top = ", ".join(f"{_gram(token)} {count}" for token, count in vocab.token_freqs[:TOP])
    _say(ctx, f"{len(vocab.token_freqs)} distinct {NGRAM_NAMES[n]}s; the {TOP} most frequent: "
              f"{top}")
    return vocab


def _gram(token: Any) -> str:
    return f"({' '.join(token)})" if isinstance(token, tuple) else str(token)


def emit_zipf(ctx: RunContext, vocabs: dict[int, Vocab]) -> None:
    """Frequency against rank on log-log axes: for words a near-straight line (Zipf's law,
    n_i ∝ i^−α), and bigrams and trigrams follow their own lines, less steep."""
    for n, vocab in vocabs.items():
        ranks, freqs = plateau_ends([freq for _, freq in vocab.token_freqs])
        ctx.emit(Curve("Zipf's law: frequency against rank", NGRAM_NAMES[n], ranks, freqs,
                       xlabel="rank", log_x=True, log_y=True))


def plateau_ends(freqs: list[int]) -> tuple[list[int], list[int]]:
    """(rank, frequency) at both ends of each run of equal frequencies: the same line as every
    rank, in a few hundred points instead of tens of thousands (a run's events stay small)."""
    keep = [i for i, f in enumerate(freqs)
            if i in (0, len(freqs) - 1) or f != freqs[i - 1] or f != freqs[i + 1]]
    return [i + 1 for i in keep], [freqs[i] for i in keep]


def show_batches(ctx: RunContext, seq: torch.Tensor, batch_size: int, num_steps: int,
                 sampling: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Print each minibatch of ``seq`` (X and Y, the book's way) and return them."""
    got = list(batches(seq, batch_size, num_steps, sampling))
    _say(ctx, f"{sampling} partitioning of list(range({len(seq)})), batch_size {batch_size}, "
              f"num_steps {num_steps}: {_count(len(got))}")
    for X, Y in got:
        _say(ctx, f"X:  {X} \nY: {Y}")
    return got


def _count(n: int) -> str:
    if n == 0:
        return "no batch: the sequence is too short for batch_size × num_steps"
    return "1 batch" if n == 1 else f"{n} batches"
