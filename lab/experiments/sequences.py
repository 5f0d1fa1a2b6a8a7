"""Lectures 51–53: a sequence model on a noisy sine, and the time machine as text and as n-grams."""

from __future__ import annotations

from lab.experiments.common import RNN, batch_size, epochs
from lab.spec import Experiment, Param

SEQUENCE_TRAIN = 600  # windows the sequence model trains on
TOY_LENGTH = 35  # lm-stats partitions the book's list(range(35))

SEQUENCE = Experiment(
    id="sequence",
    lecture=51,
    title_en="Sequence models",
    title_zh="序列模型",
    chapter=RNN,
    dataset=None,
    summary="An autoregressive model predicts the next value of a sequence from the last tau. "
    "The data is the book's noisy sine: x = sin(0.01·t) + N(0, 0.2²) for t = 1..1000. An MLP "
    "Linear(4, 10)–ReLU–Linear(10, 1) trains with Adam on the first 600 windows of 4 values; "
    "the book's train loss is 0.0538 after 5 epochs (the noise alone is 0.04). One step ahead "
    "the predictions follow the sine everywhere. Fed its own predictions from t = 604 on, the "
    "model drifts to a constant within a few dozen steps: each prediction's error becomes part "
    "of the next input, so errors pile up. The k-step figure shows it for k = 1, 4, 16, 64.",
    try_this=(
        "Read the mean squared errors printed at the end: how much worse is 64 steps ahead "
        "than 1?",
        "Set tau=1: one past value cannot tell a rising sine from a falling one. Which "
        "errors grow?",
        "Set tau=16: more past values help 1 step ahead; do they help 64 steps ahead?",
    ),
    params=(
        Param("tau", int, 4, "how many past values the model sees", min=1, max=64),
        Param("lr", float, 0.01, "learning rate of Adam", min=0, max=10, min_exclusive=True),
        batch_size(16, SEQUENCE_TRAIN),
        epochs(5),
    ),
    entry="lab.recipes.sequence:train_sequence",
    book_result={"book": "loss 0.0538"},
    notes="The lab steps Adam on the batch's mean loss where the book backpropagates its sum: "
    "Adam divides each gradient by its own running scale, so the two differ only through "
    "Adam's eps (1e-8). Besides the book's plots the lab prints the k-step errors.",
)

TEXT_PREPROCESS = Experiment(
    id="text-preprocess",
    lecture=52,
    title_en="Text preprocessing",
    title_zh="文本预处理",
    chapter=RNN,
    dataset="time-machine",
    summary="Before a model can read text, the text becomes numbers, as the book does it for "
    "H. G. Wells' The Time Machine: each line keeps only its letters, lower-cased (3221 "
    "lines); lines are split into tokens, words or characters; the vocabulary gives every "
    "token an index, the most frequent first, with 0 for the unknown token <unk>; and the "
    "book becomes one long list of indices, its corpus. At the character level that is "
    "170580 indices over 28 tokens (<unk>, the space and a–z), what lectures 54–59 train on.",
    try_this=(
        "Set token=char: the vocabulary shrinks to 28 tokens, and a line becomes many more "
        "indices.",
        "Find 'the' in the word vocabulary: the most frequent word gets index 1.",
        "Count the empty lists among the tokens of lines 0–10: blank lines stay in the text.",
    ),
    params=(
        Param("token", str, "word", "tokenize the lines into words or characters for the "
              "vocabulary", choices=("word", "char")),
    ),
    entry="lab.recipes.text_stats:text_preprocess",
    demo=True,
    book_result={"book": "the same output (exact)"},
    notes="The book builds its vocabulary demo on words; here token=char shows it on characters "
    "too. The last line is always the book's character corpus.",
)

LM_STATS = Experiment(
    id="lm-stats",
    lecture=53,
    title_en="Language models and the dataset",
    title_zh="语言模型和数据集",
    chapter=RNN,
    dataset="time-machine",
    summary="A language model estimates how likely a sequence of words is, from counts of "
    "words and their n-grams. In The Time Machine the top words are stop words ('the' 2261 "
    "times, 'i' 1267, 'and' 1245, …), and frequency falls with rank as a power law, a straight "
    "line on log-log axes: Zipf's law. Bigrams and trigrams follow their own, flatter lines; "
    "most of them occur once, which is why counting alone cannot model language. Then the "
    "two ways of cutting one long sequence into minibatches of X and Y (X shifted by one): "
    "random sampling, where neighbouring batches are unrelated, and sequential partitioning, "
    "where row i of a batch continues row i of the batch before it.",
    try_this=(
        "Read the Zipf plot: how many trigrams occur only once (the flat tail at 1e0)?",
        "Compare the random and sequential batches: in which does a batch's row continue "
        "the previous batch's row?",
        "Set num_steps=3 and batch_size=3: how many batches fit in 35 tokens now?",
    ),
    params=(
        Param("batch_size", int, 2, "subsequences per minibatch in the partitioning demo",
              min=1, max=TOY_LENGTH - 1),
        Param("num_steps", int, 5, "tokens per subsequence in the partitioning demo", min=1,
              max=TOY_LENGTH - 1),
    ),
    entry="lab.recipes.text_stats:lm_stats",
    demo=True,
    book_result={"book": "the same tables (exact)"},
    notes="The Zipf figure shows unigrams, bigrams and trigrams in one log-log plot (the book "
    "first plots the unigrams alone). The random offsets of the partitioning come from the "
    "run's seed.",
)

EXPERIMENTS = (SEQUENCE, TEXT_PREPROCESS, LM_STATS)
