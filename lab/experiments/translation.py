"""Lectures 60–68 on machine translation: the English–French dataset, the GRU encoder–decoder
with BLEU (and beam search, 63), Bahdanau attention and the Transformer."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lab.experiments.common import ATTENTION, MODERN_RNN, batch_size, epochs, probability
from lab.spec import Chapter, Experiment, Param, ParamError, Params

DATASET = "fra-eng"
ENTRY = "lab.recipes.translation:train_translation"
MAX_PAIRS = 167_130  # two-field lines of fra.txt


def _num_examples(default: int = 600) -> Param:
    return Param("num_examples", int, default, "read the first N pairs of fra.txt (the book's "
                 "loop reads N + 1, lines 0…N)", min=1, max=MAX_PAIRS)


def _num_steps(default: int) -> Param:
    return Param("num_steps", int, default, "tokens per sequence: longer ones are cut, shorter "
                 "ones padded with <pad>", min=1, max=100)


def _lr() -> Param:
    return Param("lr", float, 0.005, "learning rate of Adam", min=0, max=10, min_exclusive=True)


def _gru_sizes() -> tuple[Param, ...]:
    return (
        Param("embed_size", int, 32, "size of each token's embedding", min=1, max=4096),
        Param("num_hiddens", int, 32, "size of the GRU's hidden states", min=1, max=4096),
        Param("num_layers", int, 2, "GRU layers, in the encoder and in the decoder", min=1,
              max=16),
        probability("dropout", 0.1, "dropout rate between GRU layers (and, with attention, "
                    "on the attention weights)"),
    )


def _decoding() -> tuple[Param, ...]:
    return (
        Param("decoding", str, "greedy", "greedy: the most likely token at each step (the "
              "book); beam: keep the beam_size most likely sequences (lecture 63)",
              choices=("greedy", "beam")),
        Param("beam_size", int, 3, "hypotheses kept at each step of beam search (1 is "
              "greedy)", min=1, max=64),
        Param("alpha", float, 0.75, "beam search's length penalty: the final choice maximises "
              "log P / L^α (0: the most likely, whatever its length)", min=0, max=10),
    )


def _training(epochs_default: int) -> tuple[Param, ...]:
    return (_lr(), epochs(epochs_default), batch_size(64, 4096), _num_steps(10),
            _num_examples())


_SENTENCES = (
    " After training it translates the book's four sentences, go . / i lost . / he's calm . / "
    "i'm home ., and scores each with BLEU (k = 2): the n-gram precisions p₁ and p₂ weighted "
    "1/2 and 1/4, times a penalty exp(min(0, 1 − len_label/len_pred)) for short output; 1 is "
    "a perfect match."
)
_DECODING = (
    " Decoding is greedy by default: at every step the single most likely token. Set "
    "decoding=beam for lecture 63's beam search: it keeps the beam_size most likely "
    "sequences at every step and finally picks the one with the best log P / L^α, where α "
    "(default 0.75) keeps short sequences from winning just because every extra token "
    "lowers P. Greedy is beam search with beam_size 1; exhaustive search (every sequence) is "
    "out of reach (vocabulary^num_steps)."
)
_NOTES = (
    "Batches are slices of a per-epoch permutation of tensors kept on the device (no "
    "DataLoader), drawn from torch's seeded generator. The book's tokenize_nmt tests "
    "`if i > num_examples: break`, so it reads lines 0…num_examples: 601 pairs for 600; the "
    "lab keeps that. fra.txt is read straight from the zip (the book extracts it). Gradient "
    "clipping multiplies by min(1, θ/‖g‖) on the device (the book asks `if norm > θ` on the "
    "host: the same result without a wait per batch). The sentences are preprocessed like the "
    "training text before splitting (no change for the book's four). BLEU: where a prediction "
    "has fewer than k tokens the book's bleu divides by zero; here that p_n is 0. Beam search "
    "is the lab's: the book describes it and has no code."
)


NMT_DATA = Experiment(
    id="nmt-data",
    lecture=60,
    title_en="Machine translation and the dataset",
    title_zh="机器翻译与数据集",
    chapter=MODERN_RNN,
    dataset=DATASET,
    summary="Translation maps a sequence to a sequence of another length. The book's data are "
    "167130 English–French pairs from the Tatoeba project, one `English<TAB>French` pair a "
    "line (fra.txt). Preprocessing replaces non-breaking spaces, lower-cases, and puts a space "
    "before , . ! ? so punctuation becomes its own token; tokens are the words split at "
    "spaces. Each language gets its own vocabulary of the tokens seen at least twice: on the "
    "whole file 10012 English tokens, with <unk>=0, <pad>=1, <bos>=2, <eos>=3. For a minibatch "
    "every sentence gets <eos> and is cut or padded to num_steps tokens; its valid length "
    "counts the tokens that are not padding, so the loss and the attention can ignore the "
    "rest. The histogram shows why short num_steps suffice: most sentences have under 20 "
    "tokens.",
    try_this=(
        "Find the raw 'Run!\\tCours !' line: its space before '!' is a narrow no-break space "
        "(\\u202f) that preprocessing turns into a plain one.",
        "Set num_steps=4: longer sentences lose their <eos>, and valid lengths stop at 4.",
        "Set batch_size=8 and compare the valid lengths of X and Y: French sentences run "
        "longer.",
    ),
    params=(
        batch_size(2, 4096),
        _num_steps(8),
        _num_examples(),
    ),
    entry="lab.recipes.nmt_data:nmt_data",
    demo=True,
    book_result={"book": "the same output (exact)"},
    notes="fra.txt is read straight from the zip, at fra-eng/fra.txt (the book's archive) or at "
    "its root (manythings.org's). The histogram is one point per sentence length (the book "
    "draws 10 bars). The book's tokenize_nmt reads lines 0…num_examples (601 pairs for 600); "
    "the lab keeps that off-by-one, so vocabularies and indices match the book's.",
)


def heads_divide(p: Params) -> None:
    """The heads share num_hiddens evenly: each gets num_hiddens / num_heads of it."""
    if p.num_hiddens % p.num_heads:
        raise ParamError("num_heads", f"must divide num_hiddens ({p.num_hiddens}) so that the "
                         f"heads share it evenly (got {p.num_heads})")


def _translation(id: str, lecture: int, title_en: str, title_zh: str, chapter: Chapter,
                 summary: str, try_this: tuple[str, ...], params: tuple[Param, ...],
                 model: str, book_result: Mapping[str, str], notes: str = "",
                 quick: dict | None = None,
                 rules: tuple[Callable[[Params], None], ...] = ()) -> Experiment:
    return Experiment(
        id=id, lecture=lecture, title_en=title_en, title_zh=title_zh, chapter=chapter,
        dataset=DATASET, summary=summary, try_this=try_this, params=params, entry=ENTRY,
        options={"model": model}, presets={"quick": quick or {}},
        notes=" ".join(filter(None, (notes, _NOTES))), unit="tokens", rules=rules,
        book_result=book_result,
    )


SEQ2SEQ = _translation(
    "seq2seq", 62, "Sequence to sequence learning (seq2seq)", "序列到序列学习（seq2seq）",
    MODERN_RNN,
    "An encoder–decoder: a 2-layer GRU encoder reads the English sentence (embedding 32, hidden "
    "32) and its final state becomes the decoder's first state; its top layer is also the "
    "context the decoder reads next to every token's embedding. The decoder GRU predicts the "
    "French sentence token by token. Training uses teacher forcing: the decoder reads <bos> "
    "and the true translation shifted by one, not its own guesses. The loss is the cross-"
    "entropy of each token, with padding masked out (valid lengths), summed for the gradient, "
    "which is clipped to norm 1; Adam at lr 0.005, 300 epochs. The book reaches loss 0.019, "
    "yet translates only the easy sentences well: one vector carries the whole sentence." +
    _SENTENCES + _DECODING,
    (
        "Set decoding=beam and compare the translations with greedy's; then alpha=0: without "
        "the length penalty a short, likely sentence wins (he's calm . => <unk> .).",
        "Set num_hiddens=64 and embed_size=64: does more capacity fix he's calm . ?",
        "Set num_examples=2000: more pairs, a larger vocabulary; is the loss lower or higher?",
    ),
    (*_gru_sizes(), *_training(300), *_decoding()),
    "seq2seq",
    # The book's BLEU of its four sentences: 0.687, 0.447, 0.447, 0.497; here their mean.
    book_result={"book": "loss 0.019 · bleu 0.520"},
    notes="As in the book the decoder's context is the top layer of the state it is given: "
    "the encoder's final state for every step in training, but its own latest state when it "
    "predicts one token at a time.",
)

BAHDANAU = _translation(
    "bahdanau", 66, "Bahdanau attention", "Bahdanau 注意力", ATTENTION,
    "The seq2seq decoder squeezes the whole sentence into one context vector. Bahdanau "
    "attention gives it a new context at every step: the decoder's top hidden state is the "
    "query, the encoder's outputs at every source position are keys and values, additive "
    "attention scores them (w_vᵀ tanh(W_q q + W_k k)), masked past the source's valid length, "
    "and the softmax-weighted sum of the values is the context the GRU reads with the token's "
    "embedding. Same sizes as seq2seq, 250 epochs. The book: loss 0.020 and three of its four "
    "sentences translated exactly. The heatmaps show, for each sentence, which source token "
    "each output token looked at: a near-diagonal alignment (i'm → je suis, home → chez moi)." +
    _SENTENCES + _DECODING,
    (
        "Open the heatmaps and watch the alignments sharpen every 10 epochs.",
        "Compare the BLEU of the four sentences with the seq2seq experiment's.",
        "Set num_steps=20 and num_examples=2000: longer sentences are where attention helps.",
    ),
    (*_gru_sizes(), *_training(250), *_decoding()),
    "bahdanau",
    book_result={"book": "loss 0.020 · bleu 0.750"},  # 1, 1, 0, 1
)

TRANSFORMER = _translation(
    "transformer", 68, "Transformer", "Transformer", ATTENTION,
    "No recurrence: attention alone. Each encoder block is multi-head self-attention (every "
    "token attends to every token) and a position-wise FFN, each with a residual connection "
    "and layer normalisation (AddNorm); the embeddings, times √d, get sinusoidal positional "
    "encodings, since attention itself ignores order. Each decoder block has masked self-"
    "attention (a position sees only the positions before it), encoder–decoder attention (the "
    "queries from the decoder, keys and values from the encoder) and the FFN. The book: 2 + 2 "
    "blocks, d = 32, 4 heads, FFN 64, dropout 0.1, 200 epochs: loss 0.032 and all four "
    "sentences exact. The heatmaps show, for the sentence you give, every layer and head of "
    "the three attentions; heads specialise." + _SENTENCES + _DECODING,
    (
        "Type your own sentence (sentence=\"he's home .\") and read its attention heatmaps.",
        "Set num_heads=1: one head of 32 instead of four of 8. Do the BLEU or heatmaps change?",
        "Set num_layers=1 and compare the loss with the book's 0.032.",
    ),
    (
        Param("num_hiddens", int, 32, "size of every token's representation (d_model)",
              min=1, max=4096),
        Param("num_layers", int, 2, "encoder blocks and decoder blocks", min=1, max=16),
        probability("dropout", 0.1, "dropout rate"),
        Param("num_heads", int, 4, "attention heads (must divide num_hiddens)", min=1, max=64),
        Param("ffn_num_hiddens", int, 64, "hidden units of the position-wise FFN", min=1,
              max=16384),
        *_training(200),
        *_decoding(),
        Param("sentence", str, "i'm home .", "the English sentence whose attention the "
              "heatmaps show"),
    ),
    "transformer",
    book_result={"book": "loss 0.032 · bleu 1.000"},  # all four exact
    notes="When it predicts, the book's decoder reads one token per call and adds the "
    "positional encoding of position 0 to each (PositionalEncoding starts at 0 on every call); "
    "the lab continues at the position after the cached tokens, as in training. The heatmaps "
    "cut the padding of the source; the book plots the padded 10 × 10. On the CPU dropout "
    "draws its masks with the lab's compiled kernel, 20 times faster than torch's: the same "
    "rate, other masks, so a seed trains another network than the book's code would (seeds "
    "0–6: all four exact in 6 runs of 7 with torch's masks, 5 with the lab's).",
    rules=(heads_divide,),
)

EXPERIMENTS = (NMT_DATA, SEQ2SEQ, BAHDANAU, TRANSFORMER)
