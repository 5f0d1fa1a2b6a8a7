"""The English–French sentence pairs of lecture 60, read and prepared exactly as the book's
``read_data_nmt``, ``preprocess_nmt``, ``tokenize_nmt``, ``truncate_pad``, ``build_array_nmt``
and ``load_data_nmt`` do, so vocabularies and indices match the book's.

The text is read straight from the zip (the book's ``fra-eng/fra.txt``, or manythings.org's
``fra.txt`` at the archive's root): nothing is extracted. Batches are slices of a per-epoch
permutation of tensors that live on the device, not a DataLoader.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from lab.data import hub
from lab.data.text import Vocab

FRA_ENG = "fra-eng"
PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
RESERVED = (PAD, BOS, EOS)  # after <unk>: <pad> = 1, <bos> = 2, <eos> = 3
MIN_FREQ = 2


def read_data_nmt(progress: hub.Progress | None = None) -> str:
    """The whole ``fra.txt``: one ``English\\tFrench`` pair a line. Downloads the book's archive
    (sha1-checked) when it is missing. Line ends are read as the book's text-mode ``open``
    reads them (\\r\\n and \\r become \\n)."""
    path = hub.ensure(FRA_ENG, progress) / hub.get(FRA_ENG).files[0].name
    try:
        with zipfile.ZipFile(path) as archive:
            member = hub.fra_member(archive.namelist())
            if member is None:
                raise hub.DataDamaged(hub.damaged_message(FRA_ENG, path,
                                                          f"{path}: holds no fra.txt"))
            text = archive.read(member).decode("utf-8")
    except (zipfile.BadZipFile, EOFError, zlib.error, UnicodeDecodeError) as e:  # cut short
        raise hub.DataDamaged(hub.damaged_message(FRA_ENG, path, f"{path}: {e}")) from e
    if "\t" not in text:  # not one English\tFrench pair: nothing to train on
        raise hub.DataDamaged(hub.damaged_message(
            FRA_ENG, path, f"{path}: its {member} holds no tab-separated sentence pairs"))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def preprocess_nmt(text: str) -> str:
    """Non-breaking spaces become spaces, everything is lower-cased, and each of ``,.!?`` gets a
    space before it unless it already has one (or starts the text)."""
    text = text.replace("\u202f", " ").replace("\xa0", " ").lower()
    # The book's loop, ' ' + char if i > 0 and char in ',.!?' and text[i - 1] != ' ', as one
    # regular expression (the same string on the whole file, in a fraction of the time).
    return _NO_SPACE.sub(r" \1", text)


_NO_SPACE = re.compile(r"(?<=[^ ])([,.!?])")


def tokenize_nmt(text: str, num_examples: int | None = None
                 ) -> tuple[list[list[str]], list[list[str]]]:
    """Source and target tokens (split at single spaces) of each line with two tab-separated
    fields. As in the book, ``if i > num_examples: break`` reads lines 0…num_examples: one line
    more than asked (601 pairs for 600)."""
    source, target = [], []
    for i, line in enumerate(text.split("\n")):
        if num_examples and i > num_examples:
            break
        parts = line.split("\t")
        if len(parts) == 2:
            source.append(parts[0].split(" "))
            target.append(parts[1].split(" "))
    return source, target


def nmt_vocab(lines: Sequence[Sequence[str]]) -> Vocab:
    """The book's vocabulary of one side: tokens seen at least twice; <unk> <pad> <bos> <eos>."""
    return Vocab(lines, min_freq=MIN_FREQ, reserved_tokens=list(RESERVED))


def truncate_pad(line: Sequence[int], num_steps: int, padding_token: int) -> list[int]:
    """Cut ``line`` to ``num_steps`` tokens, or fill it up with ``padding_token``."""
    if len(line) > num_steps:
        return list(line[:num_steps])
    return list(line) + [padding_token] * (num_steps - len(line))


def build_array_nmt(lines: Sequence[Sequence[str]], vocab: Vocab, num_steps: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each line's indices with <eos> appended, cut or padded to ``num_steps``; and each line's
    valid length (its tokens that are not <pad>)."""
    pad, eos = vocab[PAD], vocab[EOS]
    array = torch.tensor([truncate_pad(vocab[list(line)] + [eos], num_steps, pad)
                          for line in lines], dtype=torch.long)
    valid_len = (array != pad).type(torch.int32).sum(1)
    return array, valid_len


@dataclass
class NMTData:
    """The pairs as tensors on one device: ``src``/``tgt`` (N, num_steps) indices and their
    valid lengths (N,); ``tgt_tokens`` is Σ tgt_valid_len, known on the host."""

    src: torch.Tensor
    src_valid_len: torch.Tensor
    tgt: torch.Tensor
    tgt_valid_len: torch.Tensor
    src_vocab: Vocab
    tgt_vocab: Vocab
    batch_size: int
    host_tgt_valid_len: torch.Tensor  # on the CPU: token counts per batch without a device sync

    def __len__(self) -> int:
        return len(self.src)

    def epoch(self, generator: torch.Generator | None = None) -> Iterator[Batch]:
        """One pass in a fresh random order (drawn on the CPU, one copy to the device)."""
        order = torch.randperm(len(self), generator=generator)
        on_device = order.to(self.src.device)
        for host, indices in zip(order.split(self.batch_size),
                                 on_device.split(self.batch_size), strict=True):
            yield Batch(self.src.index_select(0, indices),
                        self.src_valid_len.index_select(0, indices),
                        self.tgt.index_select(0, indices),
                        self.tgt_valid_len.index_select(0, indices),
                        int(self.host_tgt_valid_len.index_select(0, host).sum()))

    def num_batches(self) -> int:
        return -(-len(self) // self.batch_size)


@dataclass
class Batch:
    X: torch.Tensor
    X_valid_len: torch.Tensor
    Y: torch.Tensor
    Y_valid_len: torch.Tensor
    tokens: int  # Σ Y_valid_len, counted on the host


def load_data_nmt(batch_size: int, num_steps: int, num_examples: int = 600,
                  device: torch.device | str = "cpu", text: str | None = None,
                  progress: hub.Progress | None = None) -> NMTData:
    """The book's ``load_data_nmt``: the first ``num_examples`` + 1 pairs (see tokenize_nmt),
    vocabularies built from them, and the arrays on ``device``. ``text`` is the preprocessed
    file when the caller has already read it."""
    if text is None:
        raw = read_data_nmt(progress)
        if num_examples:  # the lines tokenize_nmt reads; preprocessing works line by line
            raw = "\n".join(raw.split("\n", num_examples + 1)[:num_examples + 1])
        text = preprocess_nmt(raw)
    source, target = tokenize_nmt(text, num_examples)
    src_vocab, tgt_vocab = nmt_vocab(source), nmt_vocab(target)
    src, src_valid_len = build_array_nmt(source, src_vocab, num_steps)
    tgt, tgt_valid_len = build_array_nmt(target, tgt_vocab, num_steps)
    return NMTData(src.to(device), src_valid_len.to(device), tgt.to(device),
                   tgt_valid_len.to(device), src_vocab, tgt_vocab, batch_size, tgt_valid_len)
