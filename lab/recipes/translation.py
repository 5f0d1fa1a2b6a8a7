"""Lectures 62, 66 and 68: English → French translation on the first 600 (601, see
lab/data/nmt.py) pairs of fra-eng, with the GRU encoder–decoder, Bahdanau attention, or the
Transformer, trained as the book's ``train_seq2seq``.

After training, the book's lines: ``loss …, … tokens/sec on …`` and the four sentences with
their BLEU. Attention models draw where they look as heatmaps every ``HEATMAP_EVERY`` epochs and
at the end (each a decode of one sentence, so the cost stays small): Bahdanau the decoder's
attention over the source for each of the four sentences; the Transformer, for the sentence the
user gives, every layer and head of the encoder's self-attention, the decoder's self-attention
and the encoder–decoder attention.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from lab.data.nmt import NMTData, load_data_nmt
from lab.data.text import UNK
from lab.events import Heatmap, Message
from lab.models.seq2seq import EncoderDecoder, seq2seq
from lab.models.transformer import transformer
from lab.spec import Params
from lab.train.context import RunContext
from lab.train.seq2seq import Translation, bleu, source_tokens, train_seq2seq, translate

ENGLISH = ("go .", "i lost .", "he's calm .", "i'm home .")
FRENCH = ("va !", "j'ai perdu .", "il est calme .", "je suis chez moi .")
HEATMAP_EVERY = 10  # epochs
BLEU_K = 2
DIGITS = 4  # attention weights are kept to 4 decimals: a run's events stay small

DECODER_ATTENTION = "decoder attention"
ENCODER_SELF = "encoder self-attention"
DECODER_SELF = "decoder self-attention"
ENCODER_DECODER = "encoder-decoder attention"

Decode = Callable[[str], Translation]


def make_net(params: Params, model: str, src_vocab_size: int,
             tgt_vocab_size: int) -> EncoderDecoder:
    # Not lab.shapes' build_net: an encoder-decoder takes a source, a target and lengths, not the
    # one input that contract runs through the layers, so `show --shapes` says it has none.
    p = params
    if model == "transformer":
        return transformer(src_vocab_size, tgt_vocab_size, p.num_hiddens, p.num_layers,
                           p.dropout, p.ffn_num_hiddens, p.num_heads)
    return seq2seq(src_vocab_size, tgt_vocab_size, p.embed_size, p.num_hiddens, p.num_layers,
                   p.dropout, attention=model == "bahdanau")


def load_data(ctx: RunContext) -> NMTData:
    p = ctx.params
    return load_data_nmt(p.batch_size, p.num_steps, p.num_examples, ctx.device,
                         progress=ctx.download_note)


def train_translation(ctx: RunContext, model: str) -> None:
    """``model``: seq2seq | bahdanau | transformer."""
    p = ctx.params
    data = load_data(ctx)
    ctx.emit(Message(f"{len(data)} sentence pairs; vocabularies of {len(data.src_vocab)} "
                     f"English and {len(data.tgt_vocab)} French tokens"))
    net = make_net(p, model, len(data.src_vocab), len(data.tgt_vocab))
    beam_size = p.beam_size if p.decoding == "beam" else 1

    def decode(sentence: str) -> Translation:
        return translate(net, sentence, data.src_vocab, data.tgt_vocab, p.num_steps,
                         ctx.device, beam_size, p.alpha)

    def after_epoch(epoch: int) -> None:
        if epoch % HEATMAP_EVERY == 0 and epoch < p.epochs:
            emit_heatmaps(ctx, model, decode, epoch)

    train_seq2seq(ctx, net, data, after_epoch)
    speed = ctx.speed
    ctx.metrics["tokens_per_sec"] = speed
    ctx.emit(Message(f"loss {ctx.metrics['loss']:.3f}, {speed:.1f} tokens/sec on "
                     f"{ctx.device}"))
    report_bleu(ctx, decode)
    emit_heatmaps(ctx, model, decode, p.epochs, final=True)


def report_bleu(ctx: RunContext, decode: Decode) -> list[float]:
    """The book's four sentences, each ``eng => translation, bleu …``; metrics ``bleu`` (their
    mean) and ``exact`` (how many have BLEU 1)."""
    scores = []
    for eng, fra in zip(ENGLISH, FRENCH, strict=True):
        translation = decode(eng)
        scores.append(bleu(translation.text, fra, k=BLEU_K))
        ctx.emit(Message(f"{eng} => {translation.text}, bleu {scores[-1]:.3f}"))
    ctx.metrics["bleu"] = sum(scores) / len(scores)
    ctx.metrics["exact"] = float(sum(score == 1.0 for score in scores))
    return scores


def emit_heatmaps(ctx: RunContext, model: str, decode: Decode, epoch: int,
                  final: bool = False) -> None:
    if model == "bahdanau":
        for sentence in ENGLISH:
            for event in bahdanau_heatmaps(decode(sentence), sentence, epoch):
                ctx.emit(event)
    elif model == "transformer":
        sentence = ctx.params.sentence
        translation = decode(sentence)
        events = transformer_heatmaps(translation, epoch)
        for event in events:
            ctx.emit(event)
        if final:
            _say_what_was_drawn(ctx, sentence, translation, events)


def _say_what_was_drawn(ctx: RunContext, sentence: str, translation: Translation,
                        events: list[Heatmap]) -> None:
    unknown = [w for w, t in zip(source_tokens(sentence), translation.source, strict=False)
               if t == UNK]
    lines = [f"attention for {sentence!r} => {translation.text}"]
    if unknown:
        lines.append(f"not in the vocabulary, read as {UNK}: {', '.join(unknown)}")
    for group in (ENCODER_SELF, DECODER_SELF, ENCODER_DECODER):
        maps = [e for e in events if e.group == group]
        lines.append(f"{group}: {len(maps)} maps (layers × heads) of {len(maps[0].rows)} "
                     f"queries × {len(maps[0].cols)} keys")
    ctx.emit(Message("\n".join(lines)))


def _rounded(rows: Sequence[Sequence[float]]) -> list[list[float]]:
    return [[round(v, DIGITS) for v in row] for row in rows]


def bahdanau_heatmaps(t: Translation, sentence: str, epoch: int) -> list[Heatmap]:
    """One map: each step's weights over the source tokens (<eos> included, padding cut, as
    the book cuts its plot), a row per token written."""
    n = len(t.source)
    matrix = torch.cat([step[0].reshape(-1)[:n].unsqueeze(0) for step in t.steps]).tolist()
    return [Heatmap(DECODER_ATTENTION, sentence, _rounded(matrix), t.outputs, t.source,
                    ylabel="output tokens", xlabel="source tokens", epoch=epoch)]


def transformer_heatmaps(t: Translation, epoch: int) -> list[Heatmap]:
    """For every layer and head: the encoder's self-attention over the source (padding cut),
    the decoder's self-attention (a row per step, over the tokens read so far: zeros to the
    right of the diagonal) and the encoder–decoder attention (a row per token written)."""
    n, steps = len(t.source), len(t.steps)
    maps: list[Heatmap] = []
    assert t.encoder is not None
    layers = len(t.encoder)
    for group in (ENCODER_SELF, DECODER_SELF, ENCODER_DECODER):
        for layer in range(layers):
            if group == ENCODER_SELF:
                weights = t.encoder[layer][:, :n, :n]  # (heads, n, n)
            elif group == DECODER_SELF:
                weights = torch.zeros(t.encoder[layer].shape[0], steps, steps)
                for s, step in enumerate(t.steps):  # step s reads s + 1 tokens
                    weights[:, s, :s + 1] = step[0][layer][:, 0, :].cpu()
            else:
                weights = torch.cat([step[1][layer][:, :, :n] for step in t.steps], dim=1)
            rows, cols, ylabel, xlabel = _labels(group, t)
            for head, matrix in enumerate(weights.tolist(), start=1):
                maps.append(Heatmap(group, f"layer {layer + 1}, head {head}", _rounded(matrix),
                                    rows, cols, ylabel, xlabel, epoch))
    return maps


def _labels(group: str, t: Translation) -> tuple[list[str], list[str], str, str]:
    if group == ENCODER_SELF:
        return t.source, t.source, "source tokens", "source tokens"
    if group == DECODER_SELF:
        return t.inputs, t.inputs, "decoder input", "decoder input"
    return t.outputs, t.source, "output tokens", "source tokens"
