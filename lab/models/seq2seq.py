"""The encoder–decoder networks of lectures 61, 62 and 66, written as the book writes them:
``Encoder``/``Decoder``/``EncoderDecoder``, the GRU ``Seq2SeqEncoder`` and ``Seq2SeqDecoder``,
and ``Seq2SeqAttentionDecoder`` with Bahdanau (additive) attention.

Besides the book's API every decoder has ``select_state(state, indices)``: the state of the
batch's examples ``indices`` (repeated or reordered), which is what beam search needs to follow
its hypotheses. The recurrent networks are time-major inside, as in the book. The plain encoder
and decoder run their GRUs through ``fused_rnn`` (the same ``nn.GRU``, a whole sequence per
operation on the CPU).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lab.models import fused_rnn
from lab.models.attention import AdditiveAttention

State = Any  # a decoder's state: a tensor or a list of tensors, as each decoder defines it


class Encoder(nn.Module):
    """The encoder interface: a variable-length sequence in, an encoded state out."""

    def forward(self, X: torch.Tensor, *args: Any) -> Any:
        raise NotImplementedError


class Decoder(nn.Module):
    """The decoder interface: ``init_state`` turns the encoder's outputs into the first state;
    ``forward(X, state)`` gives the outputs and the next state."""

    def init_state(self, enc_outputs: Any, *args: Any) -> State:
        raise NotImplementedError

    def forward(self, X: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def select_state(self, state: State, indices: torch.Tensor) -> State:
        """The state of the examples ``indices`` of the batch (for beam search)."""
        raise NotImplementedError


class EncoderDecoder(nn.Module):
    def __init__(self, encoder: Encoder, decoder: Decoder, **_: object):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, enc_X: torch.Tensor, dec_X: torch.Tensor,
                *args: Any) -> tuple[torch.Tensor, State]:
        enc_outputs = self.encoder(enc_X, *args)
        dec_state = self.decoder.init_state(enc_outputs, *args)
        return self.decoder(dec_X, dec_state)


class Seq2SeqEncoder(Encoder):
    """Embedding → a multi-layer GRU. Input (batch, steps) indices; outputs (steps, batch,
    num_hiddens) and the final state (num_layers, batch, num_hiddens)."""

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int,
                 dropout: float = 0.0, **_: object):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = fused_rnn.GRU(embed_size, num_hiddens, num_layers, dropout=dropout)

    def forward(self, X: torch.Tensor, *args: Any) -> tuple[torch.Tensor, torch.Tensor]:
        X = self.embedding(X).permute(1, 0, 2)  # time-major: (steps, batch, embed_size)
        output, state = self.rnn(X)
        return output, state


class Seq2SeqDecoder(Decoder):
    """Embedding; the GRU reads each embedding next to the context, the top layer of the state
    it is given (the encoder's final state in training); Linear → vocabulary."""

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int,
                 dropout: float = 0.0, **_: object):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = fused_rnn.GRU(embed_size + num_hiddens, num_hiddens, num_layers,
                                 dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs: Any, *args: Any) -> torch.Tensor:
        return enc_outputs[1]

    def forward(self, X: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        X = self.embedding(X).permute(1, 0, 2)
        # As in the book: the context is the top layer of the state passed in, repeated over
        # the steps: the encoder's in training, the decoder's latest when predicting.
        context = state[-1].repeat(X.shape[0], 1, 1)
        output, state = self.rnn(torch.cat((X, context), 2), state)
        return self.dense(output).permute(1, 0, 2), state  # (batch, steps, vocab)

    def select_state(self, state: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return state.index_select(1, indices)


class Seq2SeqAttentionDecoder(Decoder):
    """Bahdanau attention: at every step the query is the top layer of the decoder's hidden
    state, the keys and values the encoder's outputs (masked past the source's valid length);
    the GRU reads [context ; embedding]. ``attention_weights`` holds each step's weights
    (batch, 1, source steps) of the last forward pass."""

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int,
                 dropout: float = 0.0, **_: object):
        super().__init__()
        self.attention = AdditiveAttention(num_hiddens, num_hiddens, num_hiddens, dropout)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        # The torch layer: it runs one step per call here, where fused_rnn's gain (a whole
        # sequence's recurrence in one call) does not exist and its set-up costs more.
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)
        self._attention_weights: list[torch.Tensor] = []

    def init_state(self, enc_outputs: Any, enc_valid_lens: torch.Tensor | None,
                   *args: Any) -> list:
        outputs, hidden_state = enc_outputs
        # Batch-major encoder outputs: (batch, steps, num_hiddens), the attention's layout.
        return [outputs.permute(1, 0, 2), hidden_state, enc_valid_lens]

    def forward(self, X: torch.Tensor, state: list) -> tuple[torch.Tensor, list]:
        enc_outputs, hidden_state, enc_valid_lens = state
        X = self.embedding(X).permute(1, 0, 2)
        outputs, self._attention_weights = [], []
        for x in X:  # one step at a time: each query is the state the last step left
            query = torch.unsqueeze(hidden_state[-1], dim=1)  # (batch, 1, num_hiddens)
            context = self.attention(query, enc_outputs, enc_outputs, enc_valid_lens)
            x = torch.cat((context, torch.unsqueeze(x, dim=1)), dim=-1)
            out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)
            outputs.append(out)
            self._attention_weights.append(self.attention.attention_weights)
        outputs = self.dense(torch.cat(outputs, dim=0))
        return outputs.permute(1, 0, 2), [enc_outputs, hidden_state, enc_valid_lens]

    @property
    def attention_weights(self) -> list[torch.Tensor]:
        return self._attention_weights

    def select_state(self, state: list, indices: torch.Tensor) -> list:
        enc_outputs, hidden_state, enc_valid_lens = state
        return [enc_outputs.index_select(0, indices), hidden_state.index_select(1, indices),
                None if enc_valid_lens is None else enc_valid_lens.index_select(0, indices)]


def seq2seq(src_vocab_size: int, tgt_vocab_size: int, embed_size: int, num_hiddens: int,
            num_layers: int, dropout: float, attention: bool = False) -> EncoderDecoder:
    """The book's lecture-62 network, or lecture 66's with ``attention``."""
    encoder = Seq2SeqEncoder(src_vocab_size, embed_size, num_hiddens, num_layers, dropout)
    decoder_class = Seq2SeqAttentionDecoder if attention else Seq2SeqDecoder
    decoder = decoder_class(tgt_vocab_size, embed_size, num_hiddens, num_layers, dropout)
    return EncoderDecoder(encoder, decoder)
