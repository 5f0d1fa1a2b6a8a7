"""The attention layers of lectures 65–68, with the book's names, arguments and shapes.

Every layer keeps the weights of its last forward pass in ``attention_weights`` (batch, queries,
keys; for multi-head attention batch·heads first), which is what the heatmaps draw.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lab.models import cpu_ops

MASKED = -1e6  # the book's fill value: exp() of it underflows to 0 in the softmax


def sequence_mask(X: torch.Tensor, valid_len: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """Set the entries of each row of X past its valid length to ``value`` (a copy):
    ``sequence_mask([[1,2,3],[4,5,6]], [1,2])`` → ``[[1,0,0],[4,5,0]]``. Along axis 1: in a
    (batch, steps, features) X the steps past the length are masked whole."""
    maxlen = X.size(1)
    keep = torch.arange(maxlen, device=X.device)[None, :] < valid_len[:, None]
    keep = keep.reshape(*keep.shape, *(1,) * (X.dim() - 2))
    return X.masked_fill(~keep, value)


def masked_softmax(X: torch.Tensor, valid_lens: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last axis of X (batch, queries, keys), ignoring the keys past each
    valid length. ``valid_lens`` is (batch,) — one length for all queries of an example — or
    (batch, queries). On the CPU the lab's compiled kernel does the same in one pass."""
    if valid_lens is None:
        return cpu_ops.softmax(X)
    if (fused := cpu_ops.masked_softmax(X, valid_lens)) is not None:
        return fused
    shape = X.shape
    if valid_lens.dim() == 1:
        valid_lens = torch.repeat_interleave(valid_lens, shape[1])
    else:
        valid_lens = valid_lens.reshape(-1)
    X = sequence_mask(X.reshape(-1, shape[-1]), valid_lens, value=MASKED)
    return cpu_ops.softmax(X.reshape(shape))


class AdditiveAttention(nn.Module):
    """score(q, k) = w_vᵀ tanh(W_q q + W_k k): queries and keys of different sizes."""

    def __init__(self, key_size: int, query_size: int, num_hiddens: int, dropout: float,
                 **_: object):
        super().__init__()
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = cpu_ops.Dropout(dropout)
        self.attention_weights = torch.empty(0)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                valid_lens: torch.Tensor | None) -> torch.Tensor:
        queries, keys = self.W_q(queries), self.W_k(keys)
        # (batch, queries, 1, h) + (batch, 1, keys, h): every query against every key.
        features = torch.tanh(queries.unsqueeze(2) + keys.unsqueeze(1))
        scores = self.w_v(features).squeeze(-1)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


class DotProductAttention(nn.Module):
    """score(q, k) = qᵀk / √d: queries and keys of the same size d."""

    def __init__(self, dropout: float, **_: object):
        super().__init__()
        self.dropout = cpu_ops.Dropout(dropout)
        self.attention_weights = torch.empty(0)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                valid_lens: torch.Tensor | None = None) -> torch.Tensor:
        d = queries.shape[-1]
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


def transpose_qkv(X: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(batch, n, num_hiddens) → (batch·num_heads, n, num_hiddens/num_heads): the heads side by
    side in the batch axis, so one batched product computes them all."""
    X = X.reshape(X.shape[0], X.shape[1], num_heads, -1).permute(0, 2, 1, 3)
    return X.reshape(-1, X.shape[2], X.shape[3])


def transpose_output(X: torch.Tensor, num_heads: int) -> torch.Tensor:
    """The inverse of ``transpose_qkv``."""
    X = X.reshape(-1, num_heads, X.shape[1], X.shape[2]).permute(0, 2, 1, 3)
    return X.reshape(X.shape[0], X.shape[1], -1)


class MultiHeadAttention(nn.Module):
    """``num_heads`` scaled dot-product attentions on learned projections, concatenated and
    projected by W_o."""

    def __init__(self, key_size: int, query_size: int, value_size: int, num_hiddens: int,
                 num_heads: int, dropout: float, bias: bool = False, **_: object):
        super().__init__()
        self.num_heads = num_heads
        self.attention = DotProductAttention(dropout)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=bias)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=bias)
        self.W_v = nn.Linear(value_size, num_hiddens, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

    @property
    def attention_weights(self) -> torch.Tensor:
        """(batch·num_heads, queries, keys), heads of an example next to each other."""
        return self.attention.attention_weights

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                valid_lens: torch.Tensor | None) -> torch.Tensor:
        queries = transpose_qkv(self.W_q(queries), self.num_heads)
        keys = transpose_qkv(self.W_k(keys), self.num_heads)
        values = transpose_qkv(self.W_v(values), self.num_heads)
        if valid_lens is not None:  # the same lengths for every head of an example
            valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
        output = self.attention(queries, keys, values, valid_lens)
        return self.W_o(transpose_output(output, self.num_heads))


def positional_encoding(max_len: int, num_hiddens: int) -> torch.Tensor:
    """P[pos, 2j] = sin(pos / 10000^(2j/d)), P[pos, 2j+1] = cos(same): (max_len, num_hiddens)."""
    P = torch.zeros((max_len, num_hiddens))
    angles = torch.arange(max_len, dtype=torch.float32).reshape(-1, 1) / torch.pow(
        10000, torch.arange(0, num_hiddens, 2, dtype=torch.float32) / num_hiddens)
    P[:, 0::2] = torch.sin(angles)
    P[:, 1::2] = torch.cos(angles[:, :num_hiddens // 2])
    return P


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal positions to X (batch, steps, num_hiddens), then dropout."""

    def __init__(self, num_hiddens: int, dropout: float, max_len: int = 1000):
        super().__init__()
        self.dropout = cpu_ops.Dropout(dropout)
        self.register_buffer("P", positional_encoding(max_len, num_hiddens).unsqueeze(0),
                             persistent=False)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.dropout(X + self.P[:, :X.shape[1], :])
