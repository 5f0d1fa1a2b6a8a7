"""Lectures 52–53: the time machine as lines, tokens, a vocabulary, a corpus and n-grams, checked
against the book's exact outputs when its file is here, and against independent counts when the
tests make do with a generated story."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from lab import catalog, runner
from lab.data import hub
from lab.data.text import (
    UNK,
    Vocab,
    clean_lines,
    corpus_of,
    flatten,
    load_corpus_time_machine,
    ngrams,
    read_time_machine,
    tokenize,
)
from lab.events import Curve, Event, Message
from lab.recipes import text_stats

BOOK_UNIGRAMS = [("the", 2261), ("i", 1267), ("and", 1245), ("of", 1155), ("a", 816),
                 ("to", 695), ("was", 552), ("in", 541), ("that", 443), ("my", 440)]
BOOK_BIGRAMS = [(("of", "the"), 309), (("in", "the"), 169), (("i", "had"), 130),
                (("i", "was"), 112), (("and", "the"), 109), (("the", "time"), 102),
                (("it", "was"), 99), (("to", "the"), 85), (("as", "i"), 78), (("of", "a"), 73)]
BOOK_TRIGRAMS = [(("the", "time", "traveller"), 59), (("the", "time", "machine"), 30),
                 (("the", "medical", "man"), 24), (("it", "seemed", "to"), 16),
                 (("it", "was", "a"), 15), (("here", "and", "there"), 15),
                 (("seemed", "to", "me"), 14), (("i", "did", "not"), 14),
                 (("i", "saw", "the"), 13), (("i", "began", "to"), 13)]


def raw_text() -> str:
    return Path(hub.file_path("time-machine", "timemachine.txt")).read_text(encoding="utf-8")


def expected_lines(text: str) -> list[str]:
    """Cleaning written another way: keep ASCII letters, every other run becomes one space."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    kept = ("".join(c if c.isascii() and c.isalpha() else " " for c in line) for line in lines)
    return [" ".join(line.split()).lower() for line in kept]


def by_count(items: list) -> list[tuple[object, int]]:
    """Counts, most frequent first and ties in order of first appearance, without Vocab."""
    first = {}
    for i, item in enumerate(items):
        first.setdefault(item, i)
    return sorted(Counter(items).items(), key=lambda kv: (-kv[1], first[kv[0]]))


def fake_ctx(**params) -> SimpleNamespace:
    events: list[Event] = []
    return SimpleNamespace(emit=events.append, check_cancel=lambda: None, events=events,
                           params=SimpleNamespace(**params))


def texts(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Message)]


def run(exp_id: str, seed: int = 0, **overrides) -> tuple[runner.RunResult, list[Event]]:
    exp = catalog.get(exp_id)
    events: list[Event] = []
    params = exp.resolve("book", {k: str(v) for k, v in overrides.items()})
    return runner.run(exp, params, seed=seed, sinks=[events.append]), events


# -- lab.data.text ----------------------------------------------------------------------------

def test_lines_are_cleaned_and_broken_as_the_books_readlines() -> None:
    text = "The Time Machine, by H. G. Wells [1898]\n\n\nI\r\nit's\rform\x0cfeed\u2028x\n"
    assert clean_lines(text) == ["the time machine by h g wells", "", "", "i", "it s",
                                 "form feed x"]
    assert clean_lines("no newline at the end") == ["no newline at the end"]
    assert clean_lines("") == []


def test_tokens_are_words_or_characters() -> None:
    lines = ["the time", "", "a"]
    assert tokenize(lines) == [["the", "time"], [], ["a"]]
    assert tokenize(lines, "char") == [list("the time"), [], ["a"]]
    assert flatten(tokenize(lines)) == ["the", "time", "a"]
    with pytest.raises(ValueError, match="word.*char"):
        tokenize(lines, "byte")


def test_the_vocabulary_orders_by_count_then_first_appearance() -> None:
    tokens = [["b", "a", "c"], ["a", "d", "c", "b", "a"]]  # a 3, b 2, c 2, d 1
    vocab = Vocab(tokens)
    assert vocab.idx_to_token == [UNK, "a", "b", "c", "d"]
    assert vocab.token_freqs == [("a", 3), ("b", 2), ("c", 2), ("d", 1)]
    assert vocab[["d", "a", "zebra"]] == [4, 1, 0]
    assert vocab.to_tokens([4, 1, 0]) == ["d", "a", UNK]
    reserved = Vocab(tokens, min_freq=2, reserved_tokens=["<pad>", "<eos>"])
    assert reserved.idx_to_token == [UNK, "<pad>", "<eos>", "a", "b", "c"]
    assert reserved["d"] == reserved.unk == 0
    assert Vocab.from_tokens(vocab.idx_to_token)["c"] == 3


def test_ngrams_cross_line_boundaries_and_a_tuple_is_one_token() -> None:
    words = flatten(tokenize(["a b", "c", "a b"]))
    assert ngrams(words, 2) == [("a", "b"), ("b", "c"), ("c", "a"), ("a", "b")]
    assert ngrams(words, 3) == [("a", "b", "c"), ("b", "c", "a"), ("c", "a", "b")]
    vocab = Vocab(ngrams(words, 2))
    assert vocab.token_freqs[0] == (("a", "b"), 2)
    assert vocab[("a", "b")] == 1 and vocab[["a", "b"]] == [0, 0]  # a list is many tokens


def test_read_time_machine(time_machine: bool) -> None:
    lines = read_time_machine()
    if time_machine:
        assert len(lines) == 3221
        assert lines[0] == "the time machine by h g wells"
        assert lines[10] == "twinkled and his usually pale face was flushed and animated the"
    assert lines == expected_lines(raw_text())


def test_word_vocabulary_and_indices(time_machine: bool) -> None:
    tokens = tokenize(read_time_machine())
    vocab = Vocab(tokens)
    words = flatten(tokens)
    ranked = [word for word, _ in by_count(words)]
    assert vocab.idx_to_token == [UNK, *ranked]
    assert vocab.to_tokens(vocab[tokens[0]]) == tokens[0]
    if time_machine:
        assert list(vocab.token_to_idx.items())[:10] == [
            ("<unk>", 0), ("the", 1), ("i", 2), ("and", 3), ("of", 4), ("a", 5), ("to", 6),
            ("was", 7), ("in", 8), ("that", 9)]
        assert vocab[tokens[0]] == [1, 19, 50, 40, 2183, 2184, 400]


def test_character_corpus(time_machine: bool) -> None:
    corpus, vocab = load_corpus_time_machine()
    lines = read_time_machine()
    chars = [c for line in lines for c in line]
    if time_machine:
        assert (len(corpus), len(vocab)) == (170580, 28)
    assert len(corpus) == len(chars) and len(vocab) == len(set(chars)) + 1
    assert "".join(vocab.to_tokens(corpus[:200])) == "".join(chars[:200])
    first, short_vocab = load_corpus_time_machine(max_tokens=10000)
    assert first == corpus[:10000] and short_vocab.idx_to_token == vocab.idx_to_token
    assert corpus_of(["ab", "ba"])[0] == [1, 2, 2, 1]  # ties: first seen first


@pytest.mark.parametrize(("n", "book"), [(1, BOOK_UNIGRAMS), (2, BOOK_BIGRAMS),
                                         (3, BOOK_TRIGRAMS)])
def test_top_ngrams(time_machine: bool, n: int, book: list) -> None:
    words = flatten(tokenize(read_time_machine()))
    grams = words if n == 1 else ngrams(words, n)
    vocab = Vocab(grams)
    if time_machine:
        assert vocab.token_freqs[:10] == book
    independent = Counter(zip(*(words[i:] for i in range(n)), strict=False))
    if n == 1:
        independent = Counter(words)
    assert vocab.token_freqs == by_count(grams)
    assert dict(vocab.token_freqs) == dict(independent)


def test_missing_text_is_a_clear_message_on_how_to_get_it() -> None:
    with pytest.raises(hub.DataMissing) as info:
        read_time_machine()
    assert "d2l-lab data fetch time-machine" in str(info.value)
    result, events = run("lm-stats")
    assert result.status == "failed" and "D2L_LAB_OFFLINE" in result.reason
    error = next(e for e in events if isinstance(e, Message) and e.level == "error")
    assert "d2l-lab data import time-machine FILE" in error.text
    assert not (result.run_dir / "traceback.txt").exists()


# -- text-preprocess ----------------------------------------------------------------------------

def test_text_preprocess_prints_what_the_book_prints(time_machine: bool) -> None:
    result, events = run("text-preprocess")
    assert result.status == "finished", result.reason
    printed = texts(events)
    lines = expected_lines(raw_text())
    assert printed[:3] == [f"# text lines: {len(lines)}", lines[0], lines[10]]
    tokens = [line.split() for line in lines]
    assert printed[3].splitlines()[1:] == [str(t) for t in tokens[:11]]
    vocab = Vocab(tokens)
    assert f"{list(vocab.token_to_idx.items())[:10]}" in printed[4]
    assert printed[5] == f"words: {tokens[0]}\nindices: {vocab[tokens[0]]}"
    assert printed[6] == f"words: {tokens[10]}\nindices: {vocab[tokens[10]]}"
    chars = "".join(lines)
    assert printed[7].endswith(f"{(len(chars), len(set(chars)) + 1)}")
    if time_machine:
        assert printed[:3] == ["# text lines: 3221", "the time machine by h g wells",
                               "twinkled and his usually pale face was flushed and animated the"]
        assert printed[4].endswith("[('<unk>', 0), ('the', 1), ('i', 2), ('and', 3), "
                                   "('of', 4), ('a', 5), ('to', 6), ('was', 7), ('in', 8), "
                                   "('that', 9)]")
        assert "indices: [1, 19, 50, 40, 2183, 2184, 400]" in printed[5]
        assert printed[7].endswith("(170580, 28)")


def test_text_preprocess_with_characters(time_machine: bool) -> None:
    result, events = run("text-preprocess", token="char")
    assert result.status == "finished", result.reason
    printed = texts(events)
    line0 = expected_lines(raw_text())[0]
    assert printed[3].splitlines()[1] == str(list(line0))
    assert printed[4].startswith("28 tokens" if time_machine else "")
    assert "('<unk>', 0), (' ', 1)" in printed[4]  # the space is the most frequent character
    assert printed[5].startswith(f"tokens: {list(line0)}\nindices: [")


# -- lm-stats -----------------------------------------------------------------------------------

def test_lm_stats_prints_the_top_ngrams_and_draws_zipf(time_machine: bool) -> None:
    result, events = run("lm-stats")
    assert result.status == "finished", result.reason
    printed = texts(events)
    words = flatten(tokenize(expected_lines(raw_text())))
    for n, line in zip((1, 2, 3), printed[:3], strict=True):
        top = by_count(words if n == 1 else list(zip(*(words[i:] for i in range(n)),
                                                     strict=False)))
        shown = ", ".join(f"{w if n == 1 else '(' + ' '.join(w) + ')'} {c}" for w, c in top[:10])
        assert line.endswith(f"the 10 most frequent: {shown}"), line
        assert line.startswith(f"{len(top)} distinct")
    if time_machine:
        assert printed[0].endswith("the 2261, i 1267, and 1245, of 1155, a 816, to 695, "
                                   "was 552, in 541, that 443, my 440")
        assert "(of the) 309, (in the) 169" in printed[1]
        assert "(the time traveller) 59, (the time machine) 30" in printed[2]

    curves = [e for e in events if isinstance(e, Curve)]
    assert {c.figure for c in curves} == {"Zipf's law: frequency against rank"}
    assert [c.series for c in curves] == ["unigram", "bigram", "trigram"]
    for n, curve in enumerate(curves, 1):
        assert curve.log_x and curve.log_y
        counts = sorted(Counter(zip(*(words[i:] for i in range(n)), strict=False)).values(),
                        reverse=True)
        # Every rank's frequency is on the curve: at a kept rank, or on a flat run between two.
        assert curve.x[0] == 1 and curve.x[-1] == len(counts)
        assert len(curve.x) < len(counts) / 10 or len(counts) < 1000
        points = list(zip(curve.x, curve.y, strict=True))
        for (r0, f0), (r1, f1) in itertools.pairwise(points):
            assert counts[r0 - 1] == f0 and counts[r1 - 1] == f1
            assert r1 == r0 + 1 or f0 == f1 == counts[r0] == counts[r1 - 2]


def test_lm_stats_partitions_the_books_toy_sequence(time_machine: bool) -> None:
    result, events = run("lm-stats", seed=1)
    assert result.status == "finished", result.reason
    printed = texts(events)
    heads = [i for i, t in enumerate(printed) if "partitioning of list(range(35))" in t]
    assert len(heads) == 2 and "random" in printed[heads[0]]
    assert printed[heads[0]].endswith("batch_size 2, num_steps 5: 3 batches")
    random_xy, sequential_xy = printed[heads[0] + 1:heads[1]], printed[heads[1] + 1:]
    assert len(random_xy) == 3 and len(sequential_xy) in (2, 3)
    for text in random_xy + sequential_xy:
        x, y = text.split("\nY: ")
        assert x.startswith("X:  tensor([[")
        X = [[int(v) for v in re.findall(r"\d+", row)] for row in x.split("],")]
        Y = [[int(v) for v in re.findall(r"\d+", row)] for row in y.split("],")]
        assert [len(row) for row in X] == [5, 5]
        assert Y == [[v + 1 for v in row] for row in X]


def test_show_batches_returns_what_it_prints() -> None:
    ctx = fake_ctx()
    torch.manual_seed(0)
    batches = text_stats.show_batches(ctx, torch.arange(35), 3, 4, "sequential")
    assert len(ctx.events) == 1 + len(batches)
    assert all(X.shape == (3, 4) for X, _ in batches)
    assert texts(ctx.events)[1] == f"X:  {batches[0][0]} \nY: {batches[0][1]}"
    none = text_stats.show_batches(fake_ctx(), torch.arange(35), 20, 5, "random")
    assert none == []


def test_lm_stats_says_when_no_batch_fits(time_machine: bool) -> None:
    result, events = run("lm-stats", batch_size=10, num_steps=5)
    assert result.status == "finished", result.reason
    assert any("random partitioning" in t and t.endswith("no batch: the sequence is too short "
                                                         "for batch_size × num_steps")
               for t in texts(events))


def test_a_short_text_of_ones_own_is_shown_as_far_as_it_goes(tmp_path: Path,
                                                              monkeypatch) -> None:
    (tmp_path / "timemachine.txt").write_text("The Time Machine\n\nby H. G. Wells\n")
    monkeypatch.setenv("D2L_LAB_DATA", str(tmp_path))
    result, events = run("text-preprocess")
    assert result.status == "finished", result.reason
    printed = texts(events)
    assert printed[:2] == ["# text lines: 3", "the time machine"]
    assert "words: ['the', 'time', 'machine']\nindices: [1, 2, 3]" in printed
    assert printed[-1].endswith("(28, 16)")  # 28 characters: 14 letters, the space; <unk>
    result, _ = run("lm-stats")
    assert result.status == "finished", result.reason
