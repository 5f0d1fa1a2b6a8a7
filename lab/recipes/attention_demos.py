"""Lectures 65 and 67's demos: attention scoring functions (masked softmax, additive and scaled
dot-product attention), then multi-head attention, self-attention and positional encoding.

Each step emits what the book prints (tensors as torch prints them), draws the attention weights
as heatmaps, and returns its values, so tests can check the numbers themselves.
"""

from __future__ import annotations

import torch

from lab.events import Curve, Heatmap, Message
from lab.models.attention import (
    AdditiveAttention,
    DotProductAttention,
    MultiHeadAttention,
    PositionalEncoding,
    masked_softmax,
    sequence_mask,
)
from lab.train.context import RunContext

Values = dict[str, torch.Tensor]
NUM_KEYS, VALUE_SIZE = 10, 4
SCORING, POSITIONS = "attention scoring", "positional encoding"
SELF_ATTENTION, NO_POSITIONS = "self-attention", "self-attention without positions"
SENTENCE = "the cat saw the dog"
MAX_TOKENS = 16
NUM_HIDDENS, NUM_HEADS = 100, 5  # the book's multi-head demo
PLOTTED_COLUMNS = range(6, 10)  # the columns of P the book plots


def _say(ctx: RunContext, text: str) -> None:
    ctx.emit(Message(text))
    ctx.check_cancel()


def _positions(n: int) -> list[str]:
    return [str(i) for i in range(n)]


# -- lecture 65 -------------------------------------------------------------------------------

def attention_scoring(ctx: RunContext) -> None:
    p = ctx.params
    show_sequence_mask(ctx)
    show_masked_softmax(ctx)
    inputs = scoring_inputs(p.valid_len_1, p.valid_len_2, p.random_keys)
    for name in ("additive", "dot"):
        show_scoring(ctx, name, inputs, train_mode=p.train_mode)


def show_sequence_mask(ctx: RunContext) -> torch.Tensor:
    X = torch.tensor([[1, 2, 3], [4, 5, 6]])
    masked = sequence_mask(X, torch.tensor([1, 2]))
    _say(ctx, f"sequence_mask(X = [[1, 2, 3], [4, 5, 6]], valid_len = [1, 2]) keeps the first "
              f"1 and 2 entries of the rows:\n{masked}")
    return masked


def show_masked_softmax(ctx: RunContext) -> Values:
    """The book's two demos on random scores: one valid length per example, then per query."""
    values = {}
    for name, lens in (("per example", torch.tensor([2, 3])),
                       ("per query", torch.tensor([[1, 3], [2, 4]]))):
        values[name] = masked_softmax(torch.rand(2, 2, 4), lens)
        _say(ctx, f"masked_softmax(torch.rand(2, 2, 4), {lens.tolist()}): the weights past each "
                  f"valid length are 0, the rest sum to 1:\n{values[name]}")
    return values


def scoring_inputs(valid_len_1: int = 2, valid_len_2: int = 6,
                   random_keys: bool = False) -> Values:
    """The book's keys (ones, 2 × 10 × 2: all keys alike), values (arange(40) as 10 × 4,
    twice) and valid lengths; random keys make the weights differ."""
    shape = (2, NUM_KEYS, 2)
    keys = torch.normal(0, 1, shape) if random_keys else torch.ones(shape)
    values = torch.arange(NUM_KEYS * VALUE_SIZE, dtype=torch.float32).reshape(
        1, NUM_KEYS, VALUE_SIZE).repeat(2, 1, 1)
    return {"keys": keys, "values": values,
            "valid_lens": torch.tensor([valid_len_1, valid_len_2])}


def show_scoring(ctx: RunContext, name: str, inputs: Values, *,
                 train_mode: bool = False) -> Values:
    """Additive attention (queries of 20 numbers, keys of 2) or scaled dot-product attention
    (queries and keys of 2) over the same keys and values, in eval mode as the book runs it."""
    if name == "additive":
        queries = torch.normal(0, 1, (2, 1, 20))
        attention = AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.1)
        title, call = "additive attention", ("AdditiveAttention(key_size=2, query_size=20, "
                                             "num_hiddens=8, dropout=0.1)")
    else:
        queries = torch.normal(0, 1, (2, 1, 2))
        attention = DotProductAttention(dropout=0.5)
        title, call = "scaled dot-product attention", "DotProductAttention(dropout=0.5)"
    attention.train(train_mode)
    output = attention(queries, inputs["keys"], inputs["values"], inputs["valid_lens"])
    mode = "training mode (dropout on)" if train_mode else "eval mode"
    _say(ctx, f"{call} in {mode}, queries of shape {tuple(queries.shape)}, valid_lens "
              f"{inputs['valid_lens'].tolist()}:\n{output}")
    weights = attention.attention_weights.detach().reshape(2, NUM_KEYS)
    lens = inputs["valid_lens"].tolist()
    ctx.emit(Heatmap(SCORING, title, weights.tolist(), [f"len {n}" for n in lens],
                     _positions(NUM_KEYS), ylabel="queries (valid length)", xlabel="Keys"))
    before = (" (before dropout, which zeroes some of them and scales the rest by 1/(1 − p))"
              if train_mode else "")
    _say(ctx, f"its attention weights, one row per example{before}:\n{weights}")
    return {"output": output.detach(), "weights": weights}


# -- lecture 67 -------------------------------------------------------------------------------

def self_attention(ctx: RunContext) -> None:
    p = ctx.params
    show_multihead_shapes(ctx)
    show_positional_encoding(ctx, p.encoding_dim, p.num_steps)
    show_binary(ctx)
    show_heads(ctx, p.sentence)


def multihead(dropout: float = 0.5) -> MultiHeadAttention:
    """The book's demo layer: 100 hidden units in 5 heads of 20, in eval mode."""
    attention = MultiHeadAttention(NUM_HIDDENS, NUM_HIDDENS, NUM_HIDDENS, NUM_HIDDENS, NUM_HEADS,
                                   dropout)
    return attention.eval()


def show_multihead_shapes(ctx: RunContext) -> dict[str, torch.Size]:
    attention = multihead()
    valid_lens = torch.tensor([3, 2])
    X = torch.ones((2, 4, NUM_HIDDENS))
    Y = torch.ones((2, 6, NUM_HIDDENS))
    shapes = {"attention": attention(X, Y, Y, valid_lens).shape,
              "weights": attention.attention_weights.shape,
              "self-attention": attention(X, X, X, valid_lens).shape}
    _say(ctx, f"{attention}\n{NUM_HEADS} heads of {NUM_HIDDENS // NUM_HEADS} numbers each")
    _say(ctx, f"queries X {tuple(X.shape)}, keys and values Y {tuple(Y.shape)}, valid_lens "
              f"{valid_lens.tolist()}: attention(X, Y, Y, valid_lens).shape = "
              f"{shapes['attention']}; its weights, the heads side by side in the batch axis: "
              f"{shapes['weights']}")
    _say(ctx, f"self-attention, queries, keys and values all X: attention(X, X, X, "
              f"valid_lens).shape = {shapes['self-attention']}")
    return shapes


def encoding_of(encoding_dim: int, num_steps: int) -> torch.Tensor:
    """The book's way: a PositionalEncoding (no dropout) added to zeros leaves P, (steps, dim)."""
    encoding = PositionalEncoding(encoding_dim, 0).eval()
    X = encoding(torch.zeros((1, num_steps, encoding_dim)))
    return X[0]


def show_positional_encoding(ctx: RunContext, encoding_dim: int = 32,
                             num_steps: int = 60) -> torch.Tensor:
    """Columns 6–9 of P as curves (lower frequency further right), and P as a heatmap."""
    P = encoding_of(encoding_dim, num_steps)
    steps = list(range(num_steps))
    for col in PLOTTED_COLUMNS:
        ctx.emit(Curve(f"{POSITIONS}: columns 6–9", f"Col {col}", steps, P[:, col].tolist(),
                       xlabel="Row (position)"))
    ctx.emit(Heatmap(POSITIONS, f"P ({num_steps} positions × {encoding_dim} dimensions)",
                     P.tolist(), _positions(num_steps), _positions(encoding_dim),
                     ylabel="Row (position)", xlabel="Column (encoding dimension)"))
    _say(ctx, f"positional encoding P for {num_steps} positions and encoding dimension "
              f"{encoding_dim}: P[i, 2j] = sin(i / 10000^(2j/d)), P[i, 2j+1] = cos(the same); "
              f"its first 3 rows and 6 columns:\n{P[:3, :6]}")
    return P


def show_binary(ctx: RunContext) -> list[str]:
    """Binary numbers: the lower a bit, the faster it flips, like P's columns."""
    lines = [f"{i} in binary is {i:>03b}" for i in range(8)]
    _say(ctx, "\n".join(lines))
    return lines


def show_heads(ctx: RunContext, sentence: str = SENTENCE) -> Values:
    """Self-attention of one untrained 5-head layer over a short sentence (random word
    embeddings), with and without the positional encoding added: one heatmap per head. Without
    it a repeated word is one and the same query and key, so its rows (and its columns) match:
    attention alone ignores order."""
    tokens = sentence.split()[:MAX_TOKENS]
    if len(sentence.split()) > MAX_TOKENS:
        ctx.emit(Message(f"the sentence is cut to its first {MAX_TOKENS} words",
                         level="warning"))
    words = sorted(set(tokens))
    embedding = torch.normal(0, 1, (len(words), NUM_HIDDENS))
    E = embedding[[words.index(t) for t in tokens]].unsqueeze(0)
    attention = multihead()
    labels = [f"{i} {t}" for i, t in enumerate(tokens)]
    weights = {}
    for group, X in ((SELF_ATTENTION, E + encoding_of(NUM_HIDDENS, len(tokens))),
                     (NO_POSITIONS, E)):
        with torch.no_grad():
            attention(X, X, X, None)
        weights[group] = attention.attention_weights  # (heads, queries, keys): one example
        for head in range(NUM_HEADS):
            ctx.emit(Heatmap(group, f"head {head + 1}", weights[group][head].tolist(), labels,
                             labels, ylabel="queries", xlabel="keys"))
    _say(ctx, f"self-attention of an untrained {NUM_HEADS}-head layer on {tokens} (random word "
              "embeddings), with the positional encoding added and without: one heatmap per "
              "head; untrained, so what each head attends to is random, but each has its own "
              "pattern")
    repeated = next((t for t in tokens if tokens.count(t) > 1), None)
    if repeated is None:
        _say(ctx, "no word repeats: try a sentence where one does")
        return weights
    i, j = [k for k, t in enumerate(tokens) if t == repeated][:2]
    for group, w in weights.items():
        rows, cols = (w[:, i] - w[:, j]).abs().max(), (w[:, :, i] - w[:, :, j]).abs().max()
        _say(ctx, f"{group}: the rows of '{repeated}' at positions {i} and {j} differ by at "
                  f"most {rows.item():.4f}, their columns by {cols.item():.4f}")
    return weights
