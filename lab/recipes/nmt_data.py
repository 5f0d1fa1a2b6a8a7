"""Lecture 60's demo: the English–French pairs from raw text to padded index arrays, printing
what the book prints (the raw and preprocessed text, the first tokens, the vocabulary's size, a
padded line, one minibatch) and drawing its histogram of tokens per sequence.

Each step emits its lines and returns its values, so tests can check the numbers.
"""

from __future__ import annotations

from collections import Counter

from lab.data.nmt import (
    PAD,
    load_data_nmt,
    nmt_vocab,
    preprocess_nmt,
    read_data_nmt,
    tokenize_nmt,
    truncate_pad,
)
from lab.data.text import Vocab
from lab.events import Curve, Message
from lab.train.context import RunContext

RAW_CHARS, PREPROCESSED_CHARS = 75, 80  # the book prints raw_text[:75] and text[:80]
SHOWN_PAIRS = 6
PAD_STEPS = 10  # truncate_pad(src_vocab[source[0]], 10, ...)
HISTOGRAM = "# tokens per sequence"


def _say(ctx: RunContext, text: str) -> None:
    ctx.emit(Message(text))
    ctx.check_cancel()


def read_text(ctx: RunContext) -> str:
    """The raw fra.txt, downloaded first (with a note) when missing."""
    return read_data_nmt(ctx.download_note)


def nmt_data(ctx: RunContext) -> None:
    raw = read_text(ctx)
    _say(ctx, f"raw text[:{RAW_CHARS}]:\n{raw[:RAW_CHARS]}")
    text = preprocess_nmt(raw)
    _say(ctx, f"preprocessed[:{PREPROCESSED_CHARS}]:\n{text[:PREPROCESSED_CHARS]}")
    source, target = show_tokens(ctx, text)
    emit_length_histogram(ctx, source, target)
    src_vocab = show_vocab(ctx, source)
    show_padding(ctx, source, src_vocab)
    show_batch(ctx, text)


def show_tokens(ctx: RunContext, text: str) -> tuple[list[list[str]], list[list[str]]]:
    source, target = tokenize_nmt(text)
    _say(ctx, f"{len(source)} sentence pairs. source[:{SHOWN_PAIRS}] = {source[:SHOWN_PAIRS]}")
    _say(ctx, f"target[:{SHOWN_PAIRS}] = {target[:SHOWN_PAIRS]}")
    return source, target


def length_counts(lines: list[list[str]]) -> tuple[list[int], list[int]]:
    """(length, number of lines of that length) for every length from 1 to the longest."""
    counts = Counter(len(line) for line in lines)
    lengths = list(range(1, max(counts, default=0) + 1))
    return lengths, [counts[n] for n in lengths]


def emit_length_histogram(ctx: RunContext, source: list[list[str]],
                          target: list[list[str]]) -> None:
    """The book's ``show_list_len_pair_hist``: how many sequences have each number of tokens
    (one point per length instead of the book's ten bars)."""
    for name, lines in (("source", source), ("target", target)):
        lengths, counts = length_counts(lines)
        ctx.emit(Curve(HISTOGRAM, name, lengths, counts, xlabel="tokens per sequence"))
        most = max(range(len(counts)), key=counts.__getitem__) if counts else 0
        _say(ctx, f"{name}: most sequences have {lengths[most] if counts else 0} tokens; the "
                  f"longest has {lengths[-1] if lengths else 0}")


def show_vocab(ctx: RunContext, source: list[list[str]]) -> Vocab:
    vocab = nmt_vocab(source)
    _say(ctx, f"len(src_vocab) = {len(vocab)} (tokens seen at least twice, with <unk> <pad> "
              "<bos> <eos> first)")
    return vocab


def show_padding(ctx: RunContext, source: list[list[str]], vocab: Vocab) -> list[int]:
    padded = truncate_pad(vocab[source[0]], PAD_STEPS, vocab[PAD]) if source else []
    _say(ctx, f"truncate_pad(src_vocab[source[0]], {PAD_STEPS}, src_vocab['<pad>']) = {padded}")
    return padded


def show_batch(ctx: RunContext, text: str) -> None:
    """One random minibatch of ``load_data_nmt(batch_size, num_steps)``, as the book prints."""
    p = ctx.params
    data = load_data_nmt(p.batch_size, p.num_steps, p.num_examples, text=text)
    batch = next(data.epoch())
    _say(ctx, f"one minibatch of load_data_nmt(batch_size={p.batch_size}, "
              f"num_steps={p.num_steps}) ({len(data)} pairs, source vocabulary "
              f"{len(data.src_vocab)}, target vocabulary {len(data.tgt_vocab)}):\n"
              f"X: {batch.X}\nvalid lengths for X: {batch.X_valid_len}\n"
              f"Y: {batch.Y}\nvalid lengths for Y: {batch.Y_valid_len}")
