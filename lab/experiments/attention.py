"""Lectures 64–67: attention pooling (Nadaraya–Watson), attention scoring functions, multi-head
self-attention and positional encoding; every experiment draws its attention weights."""

from __future__ import annotations

from lab.experiments.common import ATTENTION, epochs
from lab.spec import Experiment, Param

NADARAYA_WATSON = Experiment(
    id="nadaraya-watson",
    lecture=64,
    title_en="Attention pooling: Nadaraya-Watson kernel regression",
    title_zh="注意力汇聚：Nadaraya-Watson 核回归",
    chapter=ATTENTION,
    dataset=None,
    summary="Attention pooling is a weighted average of values, the weights set by how well "
    "each key matches the query. Nadaraya-Watson kernel regression is its oldest form. 50 noisy "
    "points of f(x) = 2 sin x + x^0.8 are the keys (x) and values (y); each test input x is a "
    "query. (a) Average pooling ignores the query: a flat line. (b) Gaussian-kernel attention "
    "weighs each training point by softmax(−(x − xᵢ)²/2): nearby points count most, and the "
    "prediction follows f smoothly. (c) A learned w scales the distance, "
    "softmax(−((x − xᵢ)·w)²/2), trained on the training points themselves (each one's keys are "
    "the other 49). The heatmaps show the weights, test inputs × training inputs: a band along "
    "the diagonal. Training makes w larger than (b)'s 1, so (c)'s band is narrower: each query "
    "attends to fewer points, and the prediction is less smooth. The book's plot of half the "
    "summed loss falls from 26.7 to 9.8 in 5 epochs.",
    try_this=(
        "Compare the heatmaps of (b) and (c): which band is narrower, and how does (c)'s "
        "prediction look where the training points are noisy?",
        "Set lr=0.05: w climbs step by step instead of leaping in the first epoch, and the "
        "heatmap narrows epoch by epoch.",
        "Set epochs=20 and read the learned w: after its first leap at lr 0.5 it slowly "
        "shrinks back, the leap overshot.",
    ),
    params=(
        Param("lr", float, 0.5, "learning rate of SGD on w (full batch)", min=0, max=100,
              min_exclusive=True),
        epochs(5),
    ),
    entry="lab.recipes.nadaraya_watson:nadaraya_watson",
    resumable=False,  # one run computes three estimators in turn; it takes seconds
    book_result={"book": "loss 19.7"},  # twice its plot's 9.83: it plots half the sum
    notes="The loss is the book's Chinese code's: squared errors summed, not halved (the English "
    "edition halves them and so takes half-size steps; its plot reads 26.71 → 9.83). The "
    "training points are drawn joined by a line. After every epoch (about 20 times in a long "
    "run) (c)'s prediction and weights are redrawn; the last heatmap, labelled as after "
    "training, is the book's figure. Besides "
    "the book's output the lab prints w and each estimator's error against the truth f.",
)

ATTENTION_SCORING = Experiment(
    id="attention-scoring",
    lecture=65,
    title_en="Attention scoring functions",
    title_zh="注意力评分函数",
    chapter=ATTENTION,
    dataset=None,
    summary="A scoring function a(q, k) says how well a key matches a query; a softmax over the "
    "keys turns the scores into weights. masked_softmax gives the keys past a sequence's valid "
    "length weight 0, so padding is never attended to. Additive attention, "
    "w_vᵀ tanh(W_q q + W_k k), works for queries and keys of different sizes; scaled dot-product "
    "attention, qᵀk/√d, is cheaper and needs them of one size d (dividing by √d keeps the "
    "scores' variance at 1). With the book's keys all alike, every valid key scores the same, "
    "so both give exactly the mean of the first 2 (resp. 6) values: [[2, 3, 4, 5]] and "
    "[[10, 11, 12, 13]], whatever the random queries.",
    try_this=(
        "Set valid_len_2=10: the second output becomes the mean of all ten values, "
        "[[18, 19, 20, 21]].",
        "Set random_keys=true: the keys differ, so do their weights; the masked keys still get "
        "exactly 0.",
        "Set train_mode=true: dropout now zeroes some weights and scales the rest, and the "
        "outputs are no longer the exact means.",
    ),
    params=(
        Param("valid_len_1", int, 2, "valid keys of the first example (of 10)", min=1,
              max=10),
        Param("valid_len_2", int, 6, "valid keys of the second example (of 10)", min=1,
              max=10),
        Param("random_keys", bool, False, "draw the keys from N(0, 1) instead of ones"),
        Param("train_mode", bool, False, "run the layers in training mode, with dropout"),
    ),
    entry="lab.recipes.attention_demos:attention_scoring",
    demo=True,
    book_result={"book": "the same output (exact)"},
    notes="Besides the book's outputs the lab prints sequence_mask's demo (from the seq2seq "
    "lecture) and each layer's weights; the heatmaps draw those weights, one row per example. "
    "The valid lengths, random keys and training mode are the lab's knobs; their defaults are "
    "the book's.",
)

SELF_ATTENTION = Experiment(
    id="self-attention",
    lecture=67,
    title_en="Multi-head attention, self-attention and positional encoding",
    title_zh="自注意力和位置编码",
    chapter=ATTENTION,
    dataset=None,
    summary="Multi-head attention runs h scaled dot-product attentions side by side, each on its "
    "own learned projections of the queries, keys and values, and joins them with W_o: 100 "
    "hidden units in 5 heads of 20, and the output keeps the queries' shape [2, 4, 100]. In "
    "self-attention the queries, keys and values are the same sequence, so every position "
    "sees every other in one step. Attention ignores order, so a positional encoding is added "
    "to the input: P[i, 2j] = sin(i/10000^(2j/d)), P[i, 2j+1] = cos(i/10000^(2j/d)). Like the "
    "bits of binary numbers, low columns oscillate fast and high columns slowly, and a fixed "
    "offset between positions is a linear map of P, so relative positions are easy to learn. "
    "The heatmaps show P, and each head's weights on a short sentence, with and without P: "
    "without it, the two 'the' of 'the cat saw the dog' are one and the same query and key.",
    try_this=(
        "Read the P heatmap: where do the columns stop changing over 60 positions?",
        "Set encoding_dim=16: columns 6–9 now oscillate far more slowly (a column's "
        "frequency falls with its index over d); at 64, faster.",
        "Compare the rows of the two 'the' in 'self-attention without positions' and in "
        "'self-attention', then set sentence to words of your own.",
    ),
    params=(
        Param("encoding_dim", int, 32, "columns of the positional encoding P", min=10,
              max=512),
        Param("num_steps", int, 60, "rows (positions) of P", min=1, max=1000),
        Param("sentence", str, "the cat saw the dog", "the words whose self-attention "
              "is drawn (at most 16)"),
    ),
    entry="lab.recipes.attention_demos:self_attention",
    demo=True,
    book_result={"book": "the same output (exact)"},
    notes="The per-head heatmaps are the lab's: an untrained MultiHeadAttention(100 hidden, 5 "
    "heads) in eval mode on random word embeddings, with and without the positional encoding; "
    "the book draws trained heads only in the transformer lecture. P is drawn on a "
    "blue-white-red scale, signed values around 0 (the book: Blues).",
)

EXPERIMENTS = (NADARAYA_WATSON, ATTENTION_SCORING, SELF_ATTENTION)
