"""The Transformer of lecture 68, block by block as the book writes it: ``PositionWiseFFN``,
``AddNorm``, ``EncoderBlock``, ``TransformerEncoder``, ``DecoderBlock`` and
``TransformerDecoder``, with the book's arguments and shapes.

The encoder keeps each layer's self-attention weights in ``attention_weights`` (a list by layer,
each (batch·heads, queries, keys)); the decoder keeps ``attention_weights`` as
``[self-attention by layer, encoder–decoder attention by layer]``. When predicting, the decoder
reads one token per call and each block keeps the representations of the tokens so far (the
key/value cache in ``state[2]``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from lab.models import cpu_ops
from lab.models.attention import MultiHeadAttention, PositionalEncoding
from lab.models.seq2seq import Decoder, Encoder, EncoderDecoder


class PositionWiseFFN(nn.Module):
    """The same two-layer MLP at every position: Linear → ReLU → Linear."""

    def __init__(self, ffn_num_input: int, ffn_num_hiddens: int, ffn_num_outputs: int,
                 **_: object):
        super().__init__()
        self.dense1 = nn.Linear(ffn_num_input, ffn_num_hiddens)
        self.relu = nn.ReLU()
        self.dense2 = nn.Linear(ffn_num_hiddens, ffn_num_outputs)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.dense2(self.relu(self.dense1(X)))


class AddNorm(nn.Module):
    """The residual connection followed by layer normalisation: LayerNorm(X + dropout(Y))."""

    def __init__(self, normalized_shape: Any, dropout: float, **_: object):
        super().__init__()
        self.dropout = cpu_ops.Dropout(dropout)
        self.ln = nn.LayerNorm(normalized_shape)

    def forward(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        return self.ln(self.dropout(Y) + X)


class EncoderBlock(nn.Module):
    """Multi-head self-attention and the position-wise FFN, each followed by AddNorm."""

    def __init__(self, key_size: int, query_size: int, value_size: int, num_hiddens: int,
                 norm_shape: Any, ffn_num_input: int, ffn_num_hiddens: int, num_heads: int,
                 dropout: float, use_bias: bool = False, **_: object):
        super().__init__()
        self.attention = MultiHeadAttention(key_size, query_size, value_size, num_hiddens,
                                            num_heads, dropout, use_bias)
        self.addnorm1 = AddNorm(norm_shape, dropout)
        self.ffn = PositionWiseFFN(ffn_num_input, ffn_num_hiddens, num_hiddens)
        self.addnorm2 = AddNorm(norm_shape, dropout)

    def forward(self, X: torch.Tensor, valid_lens: torch.Tensor | None) -> torch.Tensor:
        Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))
        return self.addnorm2(Y, self.ffn(Y))


def _scaled_embedding(embedding: nn.Embedding, X: torch.Tensor,
                      num_hiddens: int) -> torch.Tensor:
    """Embeddings times √d, so they are on the scale of the positional encoding (±1)."""
    return embedding(X) * math.sqrt(num_hiddens)


class TransformerEncoder(Encoder):
    def __init__(self, vocab_size: int, key_size: int, query_size: int, value_size: int,
                 num_hiddens: int, norm_shape: Any, ffn_num_input: int, ffn_num_hiddens: int,
                 num_heads: int, num_layers: int, dropout: float, use_bias: bool = False,
                 **_: object):
        super().__init__()
        self.num_hiddens = num_hiddens
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = PositionalEncoding(num_hiddens, dropout)
        self.blks = nn.Sequential()
        for i in range(num_layers):
            self.blks.add_module(f"block{i}", EncoderBlock(
                key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input,
                ffn_num_hiddens, num_heads, dropout, use_bias))
        self.attention_weights: list[torch.Tensor] = []

    def forward(self, X: torch.Tensor, valid_lens: torch.Tensor | None,
                *args: Any) -> torch.Tensor:
        X = self.pos_encoding(_scaled_embedding(self.embedding, X, self.num_hiddens))
        self.attention_weights = []
        for blk in self.blks:
            X = blk(X, valid_lens)
            self.attention_weights.append(blk.attention.attention_weights)
        return X


class DecoderBlock(nn.Module):
    """The ``i``-th decoder block: masked self-attention, encoder–decoder attention and the FFN,
    each followed by AddNorm. In training every position attends to itself and the positions
    before it (``dec_valid_lens`` 1, 2, …, num_steps); when predicting, the block's input so far
    is cached in ``state[2][i]`` and the new token attends to all of it."""

    def __init__(self, key_size: int, query_size: int, value_size: int, num_hiddens: int,
                 norm_shape: Any, ffn_num_input: int, ffn_num_hiddens: int, num_heads: int,
                 dropout: float, i: int, **_: object):
        super().__init__()
        self.i = i
        self.attention1 = MultiHeadAttention(key_size, query_size, value_size, num_hiddens,
                                             num_heads, dropout)
        self.addnorm1 = AddNorm(norm_shape, dropout)
        self.attention2 = MultiHeadAttention(key_size, query_size, value_size, num_hiddens,
                                             num_heads, dropout)
        self.addnorm2 = AddNorm(norm_shape, dropout)
        self.ffn = PositionWiseFFN(ffn_num_input, ffn_num_hiddens, num_hiddens)
        self.addnorm3 = AddNorm(norm_shape, dropout)

    def forward(self, X: torch.Tensor, state: list) -> tuple[torch.Tensor, list]:
        enc_outputs, enc_valid_lens = state[0], state[1]
        if state[2][self.i] is None:
            key_values = X
        else:
            key_values = torch.cat((state[2][self.i], X), dim=1)
        state[2][self.i] = key_values
        if self.training:
            batch_size, num_steps, _ = X.shape
            dec_valid_lens = torch.arange(1, num_steps + 1, device=X.device).repeat(
                batch_size, 1)
        else:
            dec_valid_lens = None
        Y = self.addnorm1(X, self.attention1(X, key_values, key_values, dec_valid_lens))
        Z = self.addnorm2(Y, self.attention2(Y, enc_outputs, enc_outputs, enc_valid_lens))
        return self.addnorm3(Z, self.ffn(Z)), state


class TransformerDecoder(Decoder):
    def __init__(self, vocab_size: int, key_size: int, query_size: int, value_size: int,
                 num_hiddens: int, norm_shape: Any, ffn_num_input: int, ffn_num_hiddens: int,
                 num_heads: int, num_layers: int, dropout: float, **_: object):
        super().__init__()
        self.num_hiddens, self.num_layers = num_hiddens, num_layers
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = PositionalEncoding(num_hiddens, dropout)
        self.blks = nn.Sequential()
        for i in range(num_layers):
            self.blks.add_module(f"block{i}", DecoderBlock(
                key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input,
                ffn_num_hiddens, num_heads, dropout, i))
        self.dense = nn.Linear(num_hiddens, vocab_size)
        self._attention_weights: list[list[torch.Tensor]] = [[], []]

    def init_state(self, enc_outputs: torch.Tensor, enc_valid_lens: torch.Tensor | None,
                   *args: Any) -> list:
        return [enc_outputs, enc_valid_lens, [None] * self.num_layers]

    def forward(self, X: torch.Tensor, state: list) -> tuple[torch.Tensor, list]:
        X = _scaled_embedding(self.embedding, X, self.num_hiddens)
        # Tokens fed one at a time (prediction) continue at the position after the cached
        # ones. The book adds position 0's encoding to every such token; see the notes.
        cached = state[2][0]
        start = 0 if cached is None else cached.shape[1]
        P = self.pos_encoding.P[:, start:start + X.shape[1], :]
        X = self.pos_encoding.dropout(X + P)
        self._attention_weights = [[], []]
        for blk in self.blks:
            X, state = blk(X, state)
            self._attention_weights[0].append(blk.attention1.attention_weights)
            self._attention_weights[1].append(blk.attention2.attention_weights)
        return self.dense(X), state

    @property
    def attention_weights(self) -> list[list[torch.Tensor]]:
        return self._attention_weights

    def select_state(self, state: list, indices: torch.Tensor) -> list:
        enc_outputs, enc_valid_lens, cache = state
        return [enc_outputs.index_select(0, indices),
                None if enc_valid_lens is None else enc_valid_lens.index_select(0, indices),
                [None if kv is None else kv.index_select(0, indices) for kv in cache]]


def transformer(src_vocab_size: int, tgt_vocab_size: int, num_hiddens: int, num_layers: int,
                dropout: float, ffn_num_hiddens: int, num_heads: int) -> EncoderDecoder:
    """The book's lecture-68 network: keys, queries and values of size num_hiddens, the FFN's
    input num_hiddens, layer norm over [num_hiddens]."""
    sizes = dict(key_size=num_hiddens, query_size=num_hiddens, value_size=num_hiddens,
                 num_hiddens=num_hiddens, norm_shape=[num_hiddens], ffn_num_input=num_hiddens,
                 ffn_num_hiddens=ffn_num_hiddens, num_heads=num_heads, num_layers=num_layers,
                 dropout=dropout)
    return EncoderDecoder(TransformerEncoder(src_vocab_size, **sizes),
                          TransformerDecoder(tgt_vocab_size, **sizes))
