"""Lectures 60–68 on translation: the fra-eng data (and the hub's checksum override for a copy
that is not the book's archive), the book's exact values, the encoder–decoders, beam search, and
tiny trainings through the runner with their BLEU lines and attention heatmaps."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from lab import catalog, runner
from lab.cli import app
from lab.data import hub, nmt
from lab.data.hub import DataMissing
from lab.data.text import Vocab
from lab.events import Event, Heatmap, Message
from lab.heatmaps import RunHeatmaps
from lab.models.attention import sequence_mask
from lab.models.seq2seq import Seq2SeqAttentionDecoder, Seq2SeqDecoder, Seq2SeqEncoder
from lab.models.transformer import (
    DecoderBlock,
    EncoderBlock,
    TransformerEncoder,
    transformer,
)
from lab.recipes import translation
from lab.spec import ParamError
from lab.store import read_events
from lab.train.seq2seq import (
    MaskedSoftmaxCELoss,
    _decode,
    beam_search,
    bleu,
    translate,
)

FRA_SHA1 = "28b153bf28b7ec6066f0920d0a7d3c4319d0b842"
BOOK_SHA1 = "94646ad1522d915e7b0f9296181140edcf86a4f5"
# A few seconds of training on the book's 601 pairs, book sizes.
TINY = {"epochs": 3}

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def run(exp_id: str, sinks=(), **overrides):
    exp = catalog.get(exp_id)
    params = exp.resolve("book", {k: str(v) for k, v in overrides.items()})
    return runner.run(exp, params, sinks=sinks)


def texts(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Message)]


# --- the data hub: a copy that is not the book's archive -------------------------------------

def test_import_refuses_a_zip_that_differs_from_the_books(fra_zip: Path) -> None:
    with pytest.raises(DataMissing) as refused:
        hub.import_dir("fra-eng", fra_zip)
    text = str(refused.value)
    assert FRA_SHA1 in text and BOOK_SHA1 in text
    assert f"d2l-lab data import fra-eng {fra_zip} --accept-checksum" in text
    assert not hub.is_available("fra-eng")  # nothing landed
    dest = hub.import_dir("fra-eng", fra_zip, accept_checksum=True)
    assert hub.locate("fra-eng") == dest and (dest / "fra-eng.zip").is_file()


def test_cli_import_asks_for_the_override_then_takes_it(fra_zip: Path) -> None:
    cli = CliRunner()
    refused = cli.invoke(app, ["data", "import", "fra-eng", str(fra_zip)])
    assert refused.exit_code == 1
    said = " ".join(refused.stderr.split())
    assert FRA_SHA1 in said and BOOK_SHA1 in said and "--accept-checksum" in said
    assert not hub.is_available("fra-eng")
    accepted = cli.invoke(app, ["data", "import", "fra-eng", str(fra_zip), "--accept-checksum"])
    assert accepted.exit_code == 0, accepted.output
    assert hub.is_available("fra-eng")


def test_import_refuses_an_archive_without_fra_txt(tmp_path: Path) -> None:
    bad = tmp_path / "fra-eng.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("_about.txt", "no sentences here")
    with pytest.raises(DataMissing, match="holds no fra-eng/fra.txt or fra.txt"):
        hub.import_dir("fra-eng", bad, accept_checksum=True)


def test_missing_data_fails_with_how_to_get_it() -> None:
    events: list[Event] = []
    result = run("seq2seq", sinks=[events.append], epochs=1)
    assert result.status == "failed"
    assert "d2l-lab data import fra-eng FILE" in " ".join(texts(events))


# --- lecture 60: the book's exact values ------------------------------------------------------

def test_pipeline_gives_the_books_values(fra_eng: Path) -> None:
    raw = nmt.read_data_nmt()
    assert raw.startswith("Go.\tVa !\nHi.\tSalut !\nRun!\tCours\u202f!\n")
    text = nmt.preprocess_nmt(raw)
    assert text[:80].startswith("go .\tva !\nhi .\tsalut !\nrun !\tcours !\nrun !\tcourez !")
    source, target = nmt.tokenize_nmt(text)
    assert source[:6] == [["go", "."], ["hi", "."], ["run", "!"], ["run", "!"], ["who", "?"],
                          ["wow", "!"]]
    assert target[:6] == [["va", "!"], ["salut", "!"], ["cours", "!"], ["courez", "!"],
                          ["qui", "?"], ["ça", "alors", "!"]]
    src_vocab = nmt.nmt_vocab(source)
    assert len(src_vocab) == 10012
    assert src_vocab.idx_to_token[:4] == ["<unk>", "<pad>", "<bos>", "<eos>"]
    assert nmt.truncate_pad(src_vocab[source[0]], 10, src_vocab["<pad>"]) == [47, 4, 1, 1, 1,
                                                                              1, 1, 1, 1, 1]


def test_preprocessing_puts_a_space_before_punctuation_as_the_books_loop() -> None:
    assert nmt.preprocess_nmt("Hi!\u202fOK,\xa0ça va?\n.x") == "hi ! ok , ça va ?\n .x"
    assert nmt.preprocess_nmt("!a") == "!a"  # nothing to put a space after at the start


def test_tokenize_reads_lines_0_to_num_examples_as_the_book() -> None:
    text = "\n".join(f"w{i} .\tm{i} !" for i in range(10)) + "\nnot a pair\n"
    source, target = nmt.tokenize_nmt(text, num_examples=3)
    assert source == [["w0", "."], ["w1", "."], ["w2", "."], ["w3", "."]]  # 4 for 3
    assert target[3] == ["m3", "!"]
    assert len(nmt.tokenize_nmt(text)[0]) == 10  # the line without a tab is skipped


def test_arrays_end_in_eos_are_padded_and_count_their_valid_tokens() -> None:
    vocab = Vocab([["a", "b"], ["a", "b"]], min_freq=2, reserved_tokens=list(nmt.RESERVED))
    array, valid = nmt.build_array_nmt([["a", "b"], ["b", "z", "a", "b"]], vocab, 4)
    a, b = vocab["a"], vocab["b"]
    assert array.tolist() == [[a, b, 3, 1], [b, 0, a, b]]  # <unk> is 0; cut before <eos>
    assert valid.tolist() == [3, 4]


def test_load_data_is_601_pairs_in_shuffled_batches_on_the_device(fra_eng: Path) -> None:
    data = nmt.load_data_nmt(64, 10)
    assert len(data) == 601 and data.num_batches() == 10
    assert (len(data.src_vocab), len(data.tgt_vocab)) == (184, 201)
    first = [b.X for b in data.epoch()]
    again = [b.X for b in data.epoch()]
    assert not torch.equal(first[0], again[0])  # a fresh order every epoch
    batches = list(data.epoch())
    assert sum(len(b.X) for b in batches) == 601
    for b in batches:
        assert b.X.shape[1] == b.Y.shape[1] == 10
        assert b.tokens == int(b.Y_valid_len.sum())
        assert ((b.Y != 1).sum(1) == b.Y_valid_len).all()


def test_nmt_data_demo_prints_the_books_values(fra_eng: Path) -> None:
    events: list[Event] = []
    result = run("nmt-data", sinks=[events.append])
    assert result.status == "finished", result.reason
    printed = "\n".join(texts(events))
    assert "source[:6] = [['go', '.'], ['hi', '.'], ['run', '!']" in printed
    assert "len(src_vocab) = 10012" in printed
    assert "= [47, 4, 1, 1, 1, 1, 1, 1, 1, 1]" in printed
    assert "valid lengths for X" in printed and "valid lengths for Y" in printed
    curves = {e.series: e for e in events if getattr(e, "kind", "") == "curve"}
    assert set(curves) == {"source", "target"}
    assert sum(curves["source"].y) == 167130


# --- lecture 62: the book's exact checks ------------------------------------------------------

def test_the_books_seq2seq_shapes() -> None:
    encoder = Seq2SeqEncoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2).eval()
    X = torch.zeros((4, 7), dtype=torch.long)
    output, state = encoder(X)
    assert output.shape == (7, 4, 16) and state.shape == (2, 4, 16)
    decoder = Seq2SeqDecoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2).eval()
    output, state = decoder(X, decoder.init_state(encoder(X)))
    assert output.shape == (4, 7, 10) and state.shape == (2, 4, 16)


def test_sequence_mask_and_the_masked_loss() -> None:
    X = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert sequence_mask(X, torch.tensor([1, 2])).tolist() == [[1, 0, 0], [4, 5, 0]]
    loss = MaskedSoftmaxCELoss()
    values = loss(torch.ones(3, 4, 10), torch.ones((3, 4), dtype=torch.long),
                  torch.tensor([4, 2, 0]))
    assert values.tolist() == pytest.approx([2.3026, 1.1513, 0.0], abs=1e-4)


@pytest.mark.parametrize(("pred", "label", "book"), [
    ("va ! feu", "va !", 0.687),
    ("j'ai perdu gagné aller ?", "j'ai perdu .", 0.447),
    ("il est riche bon ?", "il est calme .", 0.447),
    ("je suis chez en suis <unk> !", "je suis chez moi .", 0.497),
    ("je suis chez moi .", "je suis chez moi .", 1.0),
])
def test_bleu_of_the_books_translations(pred: str, label: str, book: float) -> None:
    assert round(bleu(pred, label, k=2), 3) == book


def test_bleu_of_a_prediction_shorter_than_k_is_zero() -> None:
    assert bleu("va", "va !", k=2) == 0.0  # the book's code divides by zero here


# --- lectures 66 and 68: the book's shapes ----------------------------------------------------

def test_the_books_attention_decoder_shapes() -> None:
    encoder = Seq2SeqEncoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2).eval()
    decoder = Seq2SeqAttentionDecoder(vocab_size=10, embed_size=8, num_hiddens=16,
                                      num_layers=2).eval()
    X = torch.zeros((4, 7), dtype=torch.long)
    output, state = decoder(X, decoder.init_state(encoder(X), None))
    assert (output.shape, len(state), state[0].shape, len(state[1]), state[1][0].shape) == (
        (4, 7, 10), 3, (4, 7, 16), 2, (4, 16))
    assert len(decoder.attention_weights) == 7
    assert decoder.attention_weights[0].shape == (4, 1, 7)


def test_the_books_transformer_shapes() -> None:
    X = torch.ones((2, 100, 24))
    valid_lens = torch.tensor([3, 2])
    block = EncoderBlock(24, 24, 24, 24, [100, 24], 24, 48, 8, 0.5).eval()
    assert block(X, valid_lens).shape == (2, 100, 24)
    encoder = TransformerEncoder(200, 24, 24, 24, 24, [100, 24], 24, 48, 8, 2, 0.5).eval()
    assert encoder(torch.ones((2, 100), dtype=torch.long), valid_lens).shape == (2, 100, 24)
    decoder_block = DecoderBlock(24, 24, 24, 24, [100, 24], 24, 48, 8, 0.5, 0).eval()
    state = [block(X, valid_lens), valid_lens, [None]]
    assert decoder_block(X, state)[0].shape == (2, 100, 24)
    rows = torch.tensor([[1, 2], [2, 3]], dtype=torch.float32)
    layer_norm = nn.LayerNorm(2)(rows).detach()
    batch_norm = nn.BatchNorm1d(2)(rows).detach()
    assert torch.allclose(layer_norm, torch.tensor([[-1.0, 1.0], [-1.0, 1.0]]), atol=1e-3)
    assert torch.allclose(batch_norm, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]), atol=1e-3)


def test_decoding_one_token_at_a_time_equals_the_causal_pass() -> None:
    """The key/value cache and the positions of tokens fed one by one give what the whole
    sequence gives in training (with its mask), so prediction sees what training saw."""
    torch.manual_seed(0)
    net = transformer(12, 11, num_hiddens=16, num_layers=2, dropout=0.0, ffn_num_hiddens=32,
                      num_heads=4)
    src = torch.tensor([[4, 5, 6, 3, 1]])
    src_len = torch.tensor([4])
    tgt = torch.tensor([[2, 7, 8, 9]])
    net.train()  # the causal mask; dropout is 0
    whole, _ = net(src, tgt, src_len)
    net.eval()
    state = net.decoder.init_state(net.encoder(src, src_len), src_len)
    steps = []
    for t in range(tgt.shape[1]):
        y, state = net.decoder(tgt[:, t:t + 1], state)
        steps.append(y)
    assert torch.allclose(torch.cat(steps, dim=1), whole, atol=1e-5)


# --- lecture 63: beam search ------------------------------------------------------------------

TOKENS = ["<unk>", "<pad>", "<bos>", "<eos>", "A", "B", "C"]
# The book's example: after each prefix, P(A), P(B), P(C), P(<eos>).
BOOK_TREE = {"": (0.5, 0.15, 0.25, 0.1), "A": (0.1, 0.4, 0.3, 0.2),
             "C": (0.3, 0.3, 0.3, 0.1), "AB": (0.2, 0.2, 0.4, 0.2),
             "AC": (0.1, 0.6, 0.2, 0.1), "ABC": (0.2, 0.1, 0.1, 0.6),
             "ACB": (0.2, 0.1, 0.1, 0.6)}


class TreeDecoder(nn.Module):
    """Next-token probabilities looked up by the prefix written so far (the state)."""

    def forward(self, X: torch.Tensor, state: list[str]):
        prefixes = [p + TOKENS[t] if t > 3 else p for p, t in zip(state, X[:, -1].tolist(),
                                                                   strict=True)]
        probs = torch.full((len(prefixes), len(TOKENS)), 1e-9)
        for row, prefix in enumerate(prefixes):
            a, b, c, eos = BOOK_TREE.get(prefix, (0.1, 0.1, 0.1, 0.7))
            probs[row, 3:] = torch.tensor([eos, a, b, c])
        return probs.log().unsqueeze(1), prefixes

    def select_state(self, state: list[str], indices: torch.Tensor) -> list[str]:
        return [state[i] for i in indices.tolist()]


class TreeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.decoder = TreeDecoder()
        self.anchor = nn.Parameter(torch.zeros(1))  # where the tensors go


def test_beam_search_finds_the_books_better_sequence_and_greedy_does_not() -> None:
    net = TreeNet()
    greedy, _, ended, log_p = _decode(net, [""], 2, 3, 10)
    assert ([TOKENS[t] for t in greedy], ended) == (["A", "B", "C"], True)
    assert math.exp(log_p) == pytest.approx(0.048, rel=1e-4)
    tokens, ended, log_p = beam_search(net, [""], 2, 3, 10, beam_size=2, alpha=0.75)
    assert ([TOKENS[t] for t in tokens], ended) == (["A", "C", "B"], True)
    assert math.exp(log_p) == pytest.approx(0.054, rel=1e-4)
    one = beam_search(net, [""], 2, 3, 10, beam_size=1, alpha=0.75)
    assert one[0] == greedy


@pytest.mark.parametrize("model", ["seq2seq", "bahdanau", "transformer"])
def test_beam_size_1_is_greedy(model: str) -> None:
    torch.manual_seed(1)
    vocab = Vocab([list("abcdefgh")] * 2, min_freq=2, reserved_tokens=list(nmt.RESERVED))
    p = catalog.get(model).resolve("book")
    net = translation.make_net(p, model, len(vocab), len(vocab))
    for sentence in ("a b c", "h g", "d d d d e"):
        greedy = translate(net, sentence, vocab, vocab, 10, "cpu")
        beam = translate(net, sentence, vocab, vocab, 10, "cpu", beam_size=1, alpha=0.75)
        assert (beam.tokens, beam.ended) == (greedy.tokens, greedy.ended)
        assert beam.log_prob == pytest.approx(greedy.log_prob)


# --- training through the runner --------------------------------------------------------------

def losses(events: list[Event]) -> list[float]:
    return [e.metrics["loss"] for e in events if getattr(e, "kind", "") == "epoch"]


@pytest.mark.parametrize("model", ["seq2seq", "bahdanau", "transformer"])
def test_training_lowers_the_loss_and_prints_the_books_lines(fra_eng: Path,
                                                              model: str) -> None:
    events: list[Event] = []
    result = run(model, sinks=[events.append], **TINY)
    assert result.status == "finished", result.reason
    curve = losses(events)
    assert len(curve) == TINY["epochs"] and curve[-1] < curve[0]
    printed = texts(events)
    speed = next(t for t in printed if t.startswith("loss "))
    assert speed.startswith(f"loss {curve[-1]:.3f}, ") and speed.endswith(" tokens/sec on cpu")
    lines = [t for t in printed if " => " in t and ", bleu " in t and "\n" not in t]
    assert [line.split(" => ")[0] for line in lines] == list(translation.ENGLISH)
    assert set(result.metrics) >= {"loss", "tokens_per_sec", "bleu", "exact"}
    assert (result.run_dir / "final.pt").is_file()


def test_bahdanau_draws_its_attention_for_each_sentence_every_few_epochs(
        fra_eng: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(translation, "HEATMAP_EVERY", 2)
    events: list[Event] = []
    result = run("bahdanau", sinks=[events.append], **TINY)
    assert result.status == "finished", result.reason
    maps = [e for e in events if isinstance(e, Heatmap)]
    assert sorted({m.epoch for m in maps}) == [2, 3]  # during training and at the end
    final = RunHeatmaps(read_events(result.run_dir))  # as a finished run shows them again
    assert list(final.groups) == ["decoder attention"]
    assert final.titles("decoder attention") == list(translation.ENGLISH)
    for sentence in translation.ENGLISH:
        m = final.get("decoder attention", sentence)
        assert m.epoch == 3
        assert m.cols == sentence.split() + ["<eos>"]
        assert len(m.matrix) == len(m.rows) and all(len(r) == len(m.cols) for r in m.matrix)
        assert all(sum(row) == pytest.approx(1, abs=1e-3) for row in m.matrix)


def test_transformer_draws_every_layer_and_head_of_its_three_attentions(fra_eng: Path) -> None:
    events: list[Event] = []
    result = run("transformer", sinks=[events.append], epochs=2)
    assert result.status == "finished", result.reason
    final = RunHeatmaps(read_events(result.run_dir))
    groups = ["encoder self-attention", "decoder self-attention", "encoder-decoder attention"]
    assert list(final.groups) == groups
    titles = [f"layer {layer}, head {head}" for layer in (1, 2) for head in (1, 2, 3, 4)]
    source = ["i'm", "home", ".", "<eos>"]
    for group in groups:
        assert final.titles(group) == titles  # 2 layers × 4 heads
        for title in titles:
            m = final.get(group, title)
            assert len(m.matrix) == len(m.rows) and all(len(r) == len(m.cols) for r in m.matrix)
            assert all(sum(row) == pytest.approx(1, abs=1e-3) for row in m.matrix)
    encoder = final.get(groups[0], titles[0])
    assert encoder.rows == encoder.cols == source
    decoder = final.get(groups[1], titles[-1])
    assert decoder.rows == decoder.cols and decoder.rows[0] == "<bos>"
    assert all(v == 0 for i, row in enumerate(decoder.matrix) for v in row[i + 1:])  # causal
    cross = final.get(groups[2], titles[0])
    assert cross.cols == source and cross.rows == decoder.rows[1:] + cross.rows[-1:]
    assert any("encoder self-attention: 8 maps" in t for t in texts(events))


def test_transformer_heatmaps_follow_the_users_sentence_and_beam_search(fra_eng: Path) -> None:
    events: list[Event] = []
    result = run("transformer", sinks=[events.append], epochs=1, decoding="beam",
                 beam_size=3, sentence="He's home, zorglub!")
    assert result.status == "finished", result.reason
    encoder = RunHeatmaps(events).get("encoder self-attention", "layer 1, head 1")
    assert encoder.cols == ["he's", "home", ",", "<unk>", "!", "<eos>"]
    assert any("read as <unk>: zorglub" in t for t in texts(events))


def test_heads_must_divide_the_hidden_size() -> None:
    """A rule across two fields: refused before a run exists, in the form as in the CLI."""
    with pytest.raises(ParamError, match="num_heads: must divide num_hiddens"):
        catalog.get("transformer").resolve("book", {"num_heads": "5"})
