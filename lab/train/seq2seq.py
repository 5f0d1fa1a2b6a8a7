"""Training and using an encoder–decoder the way the book's lecture 62 does: ``sequence``-masked
cross-entropy (``MaskedSoftmaxCELoss``), ``train_seq2seq`` (xavier init, Adam, teacher forcing,
gradient clipping), ``predict_seq2seq`` (greedy, or beam search as lecture 63 describes it) and
``bleu``.

Nothing in the training loop waits for the device per batch: the clipping factor stays a tensor,
the loss sums stay on the device until the epoch ends, and the token counts come from a host
copy of the valid lengths (lab/data/nmt.py).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lab.data.nmt import BOS, EOS, PAD, NMTData, preprocess_nmt, truncate_pad
from lab.data.text import Vocab
from lab.models.attention import sequence_mask
from lab.models.seq2seq import EncoderDecoder
from lab.train.context import RunContext
from lab.train.language import clip_gradients
from lab.train.loop import end_epoch
from lab.train.monitor import EpochMonitor
from lab.train.updaters import fast_adam

THETA = 1.0  # the book's grad_clipping(net, 1)


class MaskedSoftmaxCELoss(nn.CrossEntropyLoss):
    """Per sequence: the mean over all ``num_steps`` positions of the token cross-entropy, with
    the positions past the valid length weighted 0. ``pred`` (batch, steps, vocab), ``label``
    (batch, steps), ``valid_len`` (batch,) → (batch,)."""

    def __init__(self) -> None:
        super().__init__(reduction="none")

    def forward(self, pred: torch.Tensor, label: torch.Tensor,  # type: ignore[override]
                valid_len: torch.Tensor) -> torch.Tensor:
        weights = sequence_mask(torch.ones_like(label), valid_len)
        # The book permutes pred to (batch, vocab, steps); the same losses from rows of
        # logits, whose log-softmax over contiguous memory is three times faster on a CPU.
        unweighted = super().forward(pred.reshape(-1, pred.shape[-1]), label.reshape(-1))
        return (unweighted.view(label.shape) * weights).mean(dim=1)


def xavier_init_weights(m: nn.Module) -> None:
    """The book's init: xavier_uniform on every Linear weight and every GRU weight matrix."""
    if type(m) is nn.Linear:
        nn.init.xavier_uniform_(m.weight)
    if isinstance(m, nn.GRU):
        for name in m._flat_weights_names:
            if "weight" in name:
                nn.init.xavier_uniform_(m._parameters[name])


EpochHook = Callable[[int], None]  # called after each epoch's end with its number


def train_seq2seq(ctx: RunContext, net: EncoderDecoder, data: NMTData,
                  after_epoch: EpochHook | None = None) -> None:
    """The book's ``train_seq2seq``; ``ctx.params`` gives lr and epochs. Reports per epoch
    ``loss`` = Σ batch losses / Σ valid target tokens (the book's plotted value); its throughput
    (``ctx.speed``) counts target tokens."""
    p = ctx.params
    net.apply(xavier_init_weights)
    net.to(ctx.device)
    optimizer = fast_adam(net.parameters(), p.lr)
    ctx.track(net=net, optimizer=optimizer)
    loss = MaskedSoftmaxCELoss()
    params = [q for q in net.parameters() if q.requires_grad]
    bos = data.tgt_vocab[BOS]
    total_tokens = int(data.host_tgt_valid_len.sum())
    for epoch in ctx.epochs(p.epochs):
        net.train()
        monitor = EpochMonitor(ctx, epoch, p.epochs, data.num_batches())
        loss_sum = torch.zeros((), device=ctx.device)
        for i, batch in enumerate(data.epoch()):
            optimizer.zero_grad()
            Y = batch.Y
            # Teacher forcing: the decoder reads <bos> and the true target, one step behind.
            dec_input = torch.cat([torch.full((Y.shape[0], 1), bos, device=Y.device),
                                   Y[:, :-1]], 1)
            Y_hat, _ = net(batch.X, dec_input, batch.X_valid_len)
            losses = loss(Y_hat, Y, batch.Y_valid_len)  # one per sequence
            losses.sum().backward()
            clip_gradients(params, THETA)
            optimizer.step()
            batch_loss = losses.detach().sum()
            loss_sum += batch_loss
            monitor.step(i, batch_loss / max(batch.tokens, 1), batch.tokens)
        monitor.finish()
        end_epoch(ctx, monitor, {"loss": loss_sum / total_tokens})
        if after_epoch is not None:
            after_epoch(epoch)


# --- prediction --------------------------------------------------------------------------------

@dataclass
class Translation:
    """One decoded sentence: what the model read, what it wrote, and where it looked.

    ``source``: the source tokens the encoder read (unknown words as <unk>), <eos> last and cut
    to num_steps; ``tokens``: the output without <eos>; ``ended``: whether it wrote <eos> (else
    it stopped at num_steps). ``steps`` holds the decoder's ``attention_weights`` of each
    decoding step (one per output token, <eos> included; empty for a decoder without
    attention), ``encoder`` the encoder's (a list by layer) when it has any."""

    source: list[str]
    tokens: list[str]
    ended: bool
    steps: list[Any] = field(default_factory=list)
    encoder: list[torch.Tensor] | None = None
    log_prob: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    @property
    def outputs(self) -> list[str]:
        """The token each decoding step wrote, <eos> included when it was written."""
        return self.tokens + ([EOS] if self.ended else [])

    @property
    def inputs(self) -> list[str]:
        """The token each decoding step read: <bos>, then the previous step's output."""
        return [BOS, *self.outputs[:-1]]


def source_tokens(sentence: str) -> list[str]:
    """The book lower-cases the sentence and splits it at spaces; preprocessing it as the
    training text first changes nothing for the book's sentences and lets a user type
    ``I'm home.`` for ``i'm home .``."""
    return preprocess_nmt(sentence).split()


@torch.no_grad()
def translate(net: EncoderDecoder, sentence: str, src_vocab: Vocab, tgt_vocab: Vocab,
              num_steps: int, device: torch.device | str, beam_size: int = 1,
              alpha: float = 0.75) -> Translation:
    """Greedy decoding (``beam_size`` 1, the book's ``predict_seq2seq``) or beam search. Leaves
    the network in eval mode."""
    net.eval()
    words = source_tokens(sentence)
    src = src_vocab[words] + [src_vocab[EOS]]
    enc_valid_len = torch.tensor([len(src)], device=device)
    src = truncate_pad(src, num_steps, src_vocab[PAD])
    enc_X = torch.tensor([src], dtype=torch.long, device=device)
    source = src_vocab.to_tokens(src[:min(int(enc_valid_len), num_steps)])

    def start() -> tuple[Any, list[torch.Tensor] | None]:
        enc_outputs = net.encoder(enc_X, enc_valid_len)
        weights = getattr(net.encoder, "attention_weights", None)
        return net.decoder.init_state(enc_outputs, enc_valid_len), weights

    state, encoder_weights = start()
    bos, eos = tgt_vocab[BOS], tgt_vocab[EOS]
    if beam_size > 1:
        chosen, ended, log_prob = beam_search(net, state, bos, eos, num_steps, beam_size, alpha)
        state, encoder_weights = start()  # replay the choice to record where it looked
        indices, steps, ended, _ = _decode(net, state, bos, eos, num_steps,
                                           chosen + ([eos] if ended else []))
    else:
        indices, steps, ended, log_prob = _decode(net, state, bos, eos, num_steps)
    return Translation(source, tgt_vocab.to_tokens(indices), ended, steps, encoder_weights,
                       log_prob)


def predict_seq2seq(net: EncoderDecoder, src_sentence: str, src_vocab: Vocab,
                    tgt_vocab: Vocab, num_steps: int, device: torch.device | str,
                    save_attention_weights: bool = False, beam_size: int = 1,
                    alpha: float = 0.75) -> tuple[str, list[Any]]:
    """The book's signature: the translation and, if asked, each step's attention weights."""
    t = translate(net, src_sentence, src_vocab, tgt_vocab, num_steps, device, beam_size, alpha)
    return t.text, t.steps if save_attention_weights else []


def _decode(net: EncoderDecoder, state: Any, bos: int, eos: int, num_steps: int,
            forced: list[int] | None = None) -> tuple[list[int], list[Any], bool, float]:
    """Up to num_steps steps from <bos>, each feeding the most likely token (or the next of
    ``forced``) back in, until <eos>. Returns the tokens without <eos>, each step's attention
    weights, whether <eos> came, and the sequence's log-probability."""
    device = next(net.parameters()).device
    dec_X = torch.tensor([[bos]], dtype=torch.long, device=device)
    output, steps, log_prob = [], [], 0.0
    for step in range(num_steps if forced is None else min(num_steps, len(forced))):
        Y, state = net.decoder(dec_X, state)
        scores = Y[0, -1]
        token = int(scores.argmax()) if forced is None else forced[step]
        log_prob += float(F.log_softmax(scores, dim=-1)[token])
        steps.append(getattr(net.decoder, "attention_weights", None))
        if token == eos:
            return output, _present(steps), True, log_prob
        output.append(token)
        dec_X = torch.tensor([[token]], dtype=torch.long, device=device)
    return output, _present(steps), False, log_prob


def _present(steps: list[Any]) -> list[Any]:
    return [] if all(s is None for s in steps) else steps


def beam_search(net: EncoderDecoder, state: Any, bos: int, eos: int, num_steps: int,
                beam_size: int, alpha: float) -> tuple[list[int], bool, float]:
    """Lecture 63's beam search on one sentence (``state`` for a batch of one). Each step
    extends every live hypothesis by every token and keeps the ``beam_size`` most likely of all
    extensions; one that ends in <eos> is complete and leaves the beam. Of the completed ones
    and those still live after num_steps, the result maximises log P / L^α, where L counts the
    tokens written (<eos> included). With beam_size 1 this is greedy decoding."""
    device = next(net.parameters()).device
    decoder = net.decoder
    state = decoder.select_state(state, torch.zeros(1, dtype=torch.long, device=device))
    dec_X = torch.tensor([[bos]], dtype=torch.long, device=device)
    scores = torch.zeros(1, device=device)  # the log-probability of each live hypothesis
    live: list[list[int]] = [[]]
    complete: list[tuple[list[int], bool, float]] = []
    for _ in range(num_steps):
        Y, state = decoder(dec_X, state)
        total = scores[:, None] + F.log_softmax(Y[:, -1], dim=-1)  # (live, vocab)
        vocab = total.shape[1]
        best, flat = total.flatten().topk(min(beam_size, total.numel()))
        keep_beams, keep_tokens, keep_scores, next_live = [], [], [], []
        for score, index in zip(best.tolist(), flat.tolist(), strict=True):
            beam, token = divmod(index, vocab)
            if token == eos:
                complete.append((live[beam], True, score))
            else:
                keep_beams.append(beam)
                keep_tokens.append(token)
                keep_scores.append(score)
                next_live.append(live[beam] + [token])
        if not next_live:
            break
        beams = torch.tensor(keep_beams, dtype=torch.long, device=device)
        state = decoder.select_state(state, beams)
        dec_X = torch.tensor(keep_tokens, dtype=torch.long, device=device).reshape(-1, 1)
        scores = torch.tensor(keep_scores, device=device)
        live = next_live
    else:  # num_steps reached: the live hypotheses are candidates too
        complete += [(tokens, False, score) for tokens, score in zip(live, scores.tolist(),
                                                                     strict=True)]

    def normalised(candidate: tuple[list[int], bool, float]) -> float:
        tokens, ended, score = candidate
        return score / (len(tokens) + ended) ** alpha

    return max(complete, key=normalised)


def bleu(pred_seq: str, label_seq: str, k: int = 2) -> float:
    """The book's BLEU: exp(min(0, 1 − len_label/len_pred)) · Π_{n≤k} p_n^(1/2^n), where p_n is
    the share of the prediction's n-grams found in the label (each label n-gram matched once).
    Where the prediction has no n-grams of some n ≤ k (it is shorter), p_n is 0 (the book's
    code divides by zero there)."""
    pred_tokens, label_tokens = pred_seq.split(" "), label_seq.split(" ")
    len_pred, len_label = len(pred_tokens), len(label_tokens)
    score = math.exp(min(0, 1 - len_label / len_pred))
    for n in range(1, k + 1):
        num_matches, label_subs = 0, collections.defaultdict(int)
        for i in range(len_label - n + 1):
            label_subs[" ".join(label_tokens[i:i + n])] += 1
        for i in range(len_pred - n + 1):
            if label_subs[" ".join(pred_tokens[i:i + n])] > 0:
                num_matches += 1
                label_subs[" ".join(pred_tokens[i:i + n])] -= 1
        if len_pred - n + 1 <= 0:
            return 0.0
        score *= math.pow(num_matches / (len_pred - n + 1), math.pow(0.5, n))
    return score
