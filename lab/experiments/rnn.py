"""Lectures 54–59: character language models on the time machine, from a scratch RNN to deep and
bidirectional LSTMs, trained the way the book's ``train_ch8`` does."""

from __future__ import annotations

from collections.abc import Mapping

from lab.experiments.common import MODERN_RNN, RNN, epochs, impl, lr
from lab.spec import Chapter, Experiment, Param, ParamError, Params, Value

ENTRY = "lab.recipes.language_model:train_language_model"


def _params(rate: float, num_hiddens: int, extra: tuple[Param, ...] = ()) -> tuple[Param, ...]:
    """The book's ``train_ch8`` arguments and ``load_data_time_machine``'s, in that order."""
    return (
        *extra,
        lr(rate),
        epochs(500),
        Param("batch_size", int, 32, "subsequences per minibatch", min=1, max=4096),
        Param("num_steps", int, 35, "characters per subsequence: how far back through time "
              "the gradient flows", min=1, max=1000),
        Param("num_hiddens", int, num_hiddens, "units of the hidden state", min=1, max=4096),
        Param("theta", float, 1.0, "gradient clipping: gradients whose global norm exceeds θ "
              "are scaled down to norm θ", min=0, max=1e6, min_exclusive=True),
        Param("sampling", str, "sequential", "sequential: each batch continues the last one, "
              "the state carries over; random: unrelated batches, the state restarts",
              choices=("sequential", "random")),
        Param("max_tokens", int, 10000, "train on the book's first N characters (it has "
              "170580)", min=100, max=1_000_000),
    )


def enough_tokens(p: Params, n: int | None = None) -> None:
    """Both samplings drop up to num_steps characters at the start, then need batch_size
    subsequences of num_steps + 1 characters for one batch: of the first max_tokens characters,
    or of the ``n`` the text has, where it is shorter."""
    n = p.max_tokens if n is None else n
    least = (p.batch_size + 1) * p.num_steps + 1
    if n < least:
        raise ParamError("max_tokens", f"{n} characters make no batch of {p.batch_size} × "
                         f"{p.num_steps}; need at least {least} (or a smaller batch_size)")


def _num_layers(default: int) -> Param:
    return Param("num_layers", int, default, "recurrent layers stacked on each other", min=1,
                 max=16)


_PERPLEXITY = (
    " Perplexity, exp of the mean cross-entropy per character, is how many characters the "
    "model hesitates between: 28 at chance, 1 when it is sure."
)
_NOTES = (
    "Batches are drawn on the device from torch's seeded generator (the book uses Python's "
    "random), so runs differ from the book's in detail, not in kind. Generation warms the state "
    "up on the whole prefix in one call, the same steps as the book's loop; `d2l-lab runs "
    "predict RUN` generates from a finished or stopped run."
)
_SCRATCH_NOTES = (
    "The book multiplies one-hot vectors by W_xh; the scratch model takes the same rows, "
    "W_xh[X], for every time step before the loop, computes the gates that read H in one "
    "product, and the output layer once after the loop: the book's equations and numbers, "
    "fewer operations."
)


def _lm(id: str, lecture: int, title_en: str, title_zh: str, chapter: Chapter, summary: str,
        try_this: tuple[str, ...], params: tuple[Param, ...], options: Mapping[str, Value],
        quick: Mapping[str, Value], book_result: Mapping[str, str],
        notes: str = "") -> Experiment:
    return Experiment(
        id=id, lecture=lecture, title_en=title_en, title_zh=title_zh, chapter=chapter,
        dataset="time-machine", summary=summary, try_this=try_this, params=params, entry=ENTRY,
        options=options, presets={"quick": quick}, notes=" ".join(filter(None, (notes, _NOTES))),
        unit="tokens", writes_text=True, rules=(enough_tokens,), book_result=book_result,
    )


RNN_SCRATCH = _lm(
    "rnn-scratch", 54, "Recurrent neural networks from scratch", "循环神经网络的从零开始实现", RNN,
    "A recurrent network reads the text one character at a time and keeps a hidden state that "
    "sums up what it has read: H_t = tanh(X_t W_xh + H_{t−1} W_hh + b_h), and it predicts the "
    "next character from it, O_t = H_t W_hq + b_q. It trains on 35-character pieces of the time "
    "machine's first 10000 characters, the gradient flowing back through all 35 steps; "
    "clipping the gradient's norm to θ = 1 keeps it from exploding." + _PERPLEXITY + " The book "
    "reaches perplexity 1.0 after 500 epochs: 512 hidden units have learned its 10000 "
    "characters by heart ('time travelleryou can show black is white by argument said filby').",
    ("Set sampling=random: the state restarts at every batch; the book ends near 1.5, not 1.0.",
     "Set theta=1000 (no clipping in effect) and watch the perplexity jump about or diverge.",
     "Read the samples every 10 epochs: first 'the the the', then words, then whole sentences."),
    _params(1.0, 512), {"cell": "rnn", "impl": "scratch"}, {"epochs": 300},
    {"book": "perplexity 1.0"},
    notes="The book then trains a second model with use_random_iter=True: here that is "
    "sampling=random. " + _SCRATCH_NOTES,
)

RNN_CONCISE = _lm(
    "rnn", 55, "Recurrent neural networks, concise", "循环神经网络的简洁实现", RNN,
    "The same language model with torch: nn.RNN(28, 256) runs the recurrence (cuDNN on a GPU; "
    "on the CPU the lab computes the same layer as one operation, lab/models/fused_rnn.py, "
    "faster than torch's step-by-step autograd), and the book's RNNModel adds a Linear(256, 28) "
    "on every step's output. Its state has a layer dimension: (1, batch, 256)." + _PERPLEXITY
    + " The book reaches perplexity 1.3 after 500 epochs with samples that look like English "
    "but are not ('time traveller prise dimensions they coulonk').",
    ("Compare the tokens/s with rnn-scratch's.",
     "Set num_hiddens=512, as rnn-scratch: does it reach perplexity 1.0 as well?",
     "Set num_steps=5: the model sees only 5 characters of context per step of training."),
    _params(1.0, 256), {"cell": "rnn", "impl": "concise"}, {"epochs": 200},
    {"book": "perplexity 1.3"},
)

GRU = _lm(
    "gru", 56, "Gated recurrent units (GRU)", "门控循环单元（GRU）", MODERN_RNN,
    "A GRU adds two gates computed from X_t and H_{t−1}: the reset gate R decides how much of "
    "the old state enters the candidate H̃_t = tanh(X_t W_xh + (R ⊙ H_{t−1}) W_hh + b_h), and "
    "the update gate Z mixes old and new, H_t = Z ⊙ H_{t−1} + (1 − Z) ⊙ H̃_t. With Z near 1 the "
    "state passes through unchanged, so gradients survive long sequences. impl=scratch writes "
    "the gates by hand (randn·0.01 weights), concise uses nn.GRU(28, 256)." + _PERPLEXITY +
    " The book: perplexity 1.1 (scratch) and 1.0 (concise) after 500 epochs.",
    ("Compare the perplexity after 100 epochs with the rnn experiment's.",
     "Set impl=scratch and compare the tokens/s with concise.",
     "Set num_steps=100: gates help a model use a longer past."),
    _params(1.0, 256, (impl(),)), {"cell": "gru"}, {"epochs": 300, "impl": "concise"},
    {"book": "perplexity 1.1", "quick": "perplexity 1.0 (concise)"},
    notes=_SCRATCH_NOTES,
)

LSTM = _lm(
    "lstm", 57, "Long short-term memory (LSTM)", "长短期记忆网络（LSTM）", MODERN_RNN,
    "An LSTM keeps a memory cell C beside the hidden state. The forget gate F keeps or erases "
    "it, the input gate I lets in the candidate C̃_t = tanh(X_t W_xc + H_{t−1} W_hc + b_c), and "
    "the output gate O decides what the hidden state shows: C_t = F ⊙ C_{t−1} + I ⊙ C̃_t, "
    "H_t = O ⊙ tanh(C_t). The memory is updated by a sum, not a chain of products, so "
    "information and gradients travel far. The state is the pair (H, C)." + _PERPLEXITY +
    " The book: perplexity 1.2 (scratch) and 1.1 (concise) after 500 epochs.",
    ("Set impl=scratch: four gates by hand, in the book's equations.",
     "Compare the samples with gru's at the same epoch.",
     "Set num_hiddens=64: how much of the text can a small memory hold?"),
    _params(1.0, 256, (impl(),)), {"cell": "lstm"}, {"epochs": 300, "impl": "concise"},
    {"book": "perplexity 1.2", "quick": "perplexity 1.1 (concise)"},
    notes=_SCRATCH_NOTES,
)

DEEP_RNN = _lm(
    "deep-rnn", 58, "Deep recurrent neural networks", "深度循环神经网络", MODERN_RNN,
    "Recurrent layers stack: at each time step the hidden state of layer l is the input of "
    "layer l + 1, and the output layer reads the top one. Here nn.LSTM(28, 256, num_layers=2) in "
    "the book's RNNModel, at lr 2. More layers give more capacity and cost time per "
    "step." + _PERPLEXITY + " The book: perplexity 1.0 after 500 epochs.",
    ("Set num_layers=1: the lstm experiment's concise network, at lr 2.",
     "Set num_layers=4: slower, and does it learn faster per epoch?",
     "Set lr=1, the lstm experiment's rate, and compare the curves."),
    _params(2.0, 256, (_num_layers(2),)), {"cell": "lstm", "impl": "concise"}, {"epochs": 200},
    {"book": "perplexity 1.0"},
)

BI_RNN = _lm(
    "bi-rnn", 59, "Bidirectional recurrent neural networks", "双向循环神经网络", MODERN_RNN,
    "A bidirectional layer runs one RNN forward through the sequence and one backward, and "
    "joins their states, so every output sees the characters before it and after it: right for "
    "tagging or encoding a whole sentence, wrong for a language model. In training the backward "
    "half reads the very characters the model must predict, so the training perplexity falls "
    "low (the book: 1.1); at generation time there is no future to read, and the model writes "
    "nonsense ('time travellererererer…'). That failure is the lesson. The network: "
    "nn.LSTM(28, 256, num_layers=2, bidirectional=True) and Linear(512, 28).",
    ("Compare the perplexity with deep-rnn's, then compare the samples.",
     "Set num_layers=1: still low perplexity, still no text.",
     "Ask a finished run to write: d2l-lab runs predict RUN --prefix 'the time'."),
    _params(1.0, 256, (_num_layers(2),)),
    {"cell": "lstm", "impl": "concise", "bidirectional": True}, {"epochs": 80},
    {"book": "perplexity 1.1"},
)

# The quick presets, measured with the book's seed 0 on 2 CPU cores (wall time of the training;
# the floor each reaches): rnn 200 epochs, 12 s, perplexity 1.60; rnn-scratch 300 epochs, 54 s,
# 1.29; gru 300 epochs concise, 35 s, 1.13; lstm 300 epochs concise, 42 s, 1.38 (the scratch gated
# cells start slower: 3.0 and 4.4 after 300 epochs); deep-rnn 200 epochs, 67 s, 1.97; bi-rnn 80
# epochs, 60 s, 1.41 with the book's nonsense samples. Each writes words by its last epoch.
EXPERIMENTS = (RNN_SCRATCH, RNN_CONCISE, GRU, LSTM, DEEP_RNN, BI_RNN)
