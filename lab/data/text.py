"""Text the way the book reads it: lines, tokens, a vocabulary, and the time machine corpus.

The recurrent chapter and the translation chapter share these. Everything follows the book's
``read_time_machine``, ``tokenize``, ``Vocab`` and ``load_corpus_time_machine`` exactly, down to
the order of tokens with equal counts (first seen first), so indices match the book's.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

from lab.data import hub

TIME_MACHINE = "time-machine"
UNK = "<unk>"


def clean_lines(text: str) -> list[str]:
    """The book's ``read_time_machine`` on a text: each line's runs of non-letters become one
    space, then the line is stripped and lower-cased (blank lines stay, as empty strings).
    Lines end where the book's ``readlines()`` ends them, at \\n, \\r\\n or \\r only
    (``str.splitlines`` would also split at form feeds and Unicode line separators)."""
    return [re.sub("[^A-Za-z]+", " ", line).strip().lower()
            for line in io.StringIO(text, newline=None)]


def read_time_machine(progress: hub.Progress | None = None) -> list[str]:
    """The time machine's cleaned lines; downloads the book's copy (sha1-checked) if missing."""
    path = hub.ensure(TIME_MACHINE, progress) / hub.get(TIME_MACHINE).files[0].name
    try:
        lines = clean_lines(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise hub.DataDamaged(hub.damaged_message(
            TIME_MACHINE, path, f"{path}: not UTF-8 text ({e.reason} at byte {e.start})")) from e
    if not any(lines):  # nothing would be left to count or learn from
        raise hub.DataDamaged(hub.damaged_message(
            TIME_MACHINE, path, f"{path}: holds no text (no letters a–z in it)"))
    return lines


def tokenize(lines: Iterable[str], token: str = "word") -> list[list[str]]:
    """Words (split on whitespace) or characters (the space included) of each line."""
    if token == "word":
        return [line.split() for line in lines]
    if token == "char":
        return [list(line) for line in lines]
    raise ValueError(f"token must be 'word' or 'char', not {token!r}")


def flatten(tokens: Iterable[Any]) -> list[Any]:
    """Lines of tokens -> one list (lines follow each other with no separator, as in the book)."""
    tokens = list(tokens)
    if tokens and isinstance(tokens[0], list):
        return [t for line in tokens for t in line]
    return tokens


class Vocab:
    """Tokens <-> indices: ``<unk>`` is 0, then the reserved tokens, then every token seen at
    least ``min_freq`` times, most frequent first (ties in order of first appearance)."""

    def __init__(self, tokens: Iterable[Any] = (), min_freq: int = 0,
                 reserved_tokens: Sequence[str] = ()):
        counts = Counter(flatten(tokens))
        # sorted() is stable and Counter keeps first-seen order: ties stay in text order.
        self.token_freqs: list[tuple[Hashable, int]] = sorted(
            counts.items(), key=lambda item: item[1], reverse=True)
        self.idx_to_token: list[Hashable] = [UNK, *reserved_tokens]
        self.token_to_idx = {token: i for i, token in enumerate(self.idx_to_token)}
        for token, freq in self.token_freqs:
            if freq < min_freq:
                break
            if token not in self.token_to_idx:
                self.token_to_idx[token] = len(self.idx_to_token)
                self.idx_to_token.append(token)

    @classmethod
    def from_tokens(cls, idx_to_token: Sequence[Hashable]) -> Vocab:
        """A vocabulary with exactly these tokens in this order (as saved with a model)."""
        vocab = cls()
        vocab.idx_to_token = list(idx_to_token)
        vocab.token_to_idx = {token: i for i, token in enumerate(vocab.idx_to_token)}
        return vocab

    def __len__(self) -> int:
        return len(self.idx_to_token)

    @property
    def unk(self) -> int:
        return 0

    def __getitem__(self, tokens: Any) -> Any:
        """Index of a token, or the indices of a list of tokens (unknown -> 0). A tuple is one
        token (an n-gram), unlike in the book, where only lists and tuples of tokens occur."""
        if isinstance(tokens, list):
            return [self[t] for t in tokens]
        return self.token_to_idx.get(tokens, self.unk)

    def to_tokens(self, indices: Any) -> Any:
        if isinstance(indices, list):
            return [self.idx_to_token[i] for i in indices]
        return self.idx_to_token[indices]


def load_corpus_time_machine(max_tokens: int = -1,
                             progress: hub.Progress | None = None) -> tuple[list[int], Vocab]:
    """Character indices of the whole book (or its first ``max_tokens``) and the vocabulary,
    which is built from the whole book either way (28 tokens: <unk>, space and a–z)."""
    return corpus_of(read_time_machine(progress), max_tokens)


def corpus_of(lines: list[str], max_tokens: int = -1) -> tuple[list[int], Vocab]:
    tokens = tokenize(lines, "char")
    vocab = Vocab(tokens)
    corpus = [vocab[t] for line in tokens for t in line]
    if max_tokens > 0:
        corpus = corpus[:max_tokens]
    return corpus, vocab


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """Consecutive n-word tuples of a corpus (crossing line boundaries, as the book's do)."""
    return list(zip(*(words[i:] for i in range(n)), strict=False))
