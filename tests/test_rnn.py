"""Lectures 54–59: the character language models, their training as train_ch8, generation from a
run, and the command line around them."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from typer.testing import CliRunner

from lab import catalog, runner
from lab.cli import app
from lab.data.text import Vocab
from lab.events import FINISHED, STOPPED, EpochEnd, Event, Message, Progress, Sample
from lab.models.rnn import GRUScratch, LSTMScratch, RNNModel, RNNScratch, language_model
from lab.recipes.language_model import load_generator
from lab.spec import ParamError
from lab.train.language import clip_gradients, predict

LM_IDS = ("rnn-scratch", "rnn", "gru", "lstm", "deep-rnn", "bi-rnn")
# Seconds of training: 3000 characters in batches of 8 × 10 (37 per epoch), small models.
TINY = {"epochs": 20, "max_tokens": 3000, "batch_size": 8, "num_steps": 10, "num_hiddens": 48}


# Tiny models run faster on one thread, and do not stall when other jobs share the cores.
pytestmark = pytest.mark.usefixtures("one_thread")


def run(exp_id: str, sinks=(), cancel=None, **overrides):
    exp = catalog.get(exp_id)
    params = exp.resolve("book", {k: str(v) for k, v in overrides.items()})
    return runner.run(exp, params, sinks=sinks, cancel=cancel)


# --- the book's shapes -----------------------------------------------------------------------

def test_the_books_shapes() -> None:
    X = torch.arange(10).reshape((2, 5))
    assert F.one_hot(X.T, 28).shape == (5, 2, 28)
    net = RNNScratch(28, 512)
    Y, state = net(X, net.begin_state(X.shape[0], "cpu"))
    assert Y.shape == (10, 28) and len(state) == 1 and state[0].shape == (2, 512)

    rnn_layer = nn.RNN(28, 256)
    Y, state_new = rnn_layer(torch.rand(35, 32, 28), torch.zeros((1, 32, 256)))
    assert Y.shape == (35, 32, 256) and state_new.shape == (1, 32, 256)
    model = RNNModel(rnn_layer, 28)
    out, state = model(torch.randint(0, 28, (32, 35)), model.begin_state(32, "cpu"))
    assert out.shape == (35 * 32, 28) and state.shape == (1, 32, 256)


def test_concise_models_take_the_books_layers_and_state_shapes() -> None:
    deep = language_model("lstm", "concise", 28, 256, num_layers=2)
    assert isinstance(deep.rnn, nn.LSTM) and deep.linear.in_features == 256
    H, C = deep.begin_state(4, "cpu")
    assert H.shape == C.shape == (2, 4, 256)
    bi = language_model("lstm", "concise", 28, 256, num_layers=2, bidirectional=True)
    assert bi.linear.in_features == 512 and bi.begin_state(4, "cpu")[0].shape == (4, 4, 256)
    assert isinstance(language_model("gru", "concise", 28, 8).rnn, nn.GRU)
    with pytest.raises(ValueError, match="one layer"):
        language_model("rnn", "scratch", 28, 8, num_layers=2)


def test_scratch_models_start_as_the_book_does() -> None:
    torch.manual_seed(0)
    net = GRUScratch(28, 256)
    assert sorted(name for name, _ in net.named_parameters()) == sorted(
        ["W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xh", "W_hh", "b_h", "W_hq", "b_q"])
    for name, param in net.named_parameters():
        if name.startswith("b_"):
            assert not param.any()
        else:
            assert 0.009 < param.std().item() < 0.011  # randn · 0.01
    H, C = LSTMScratch(28, 16).begin_state(3, "cpu")
    assert H.shape == C.shape == (3, 16) and not H.any() and not C.any()


# --- the fast path is the book's math --------------------------------------------------------

def load_book():
    """benchmarks/book_rnn.py: the book's own code (one-hot inputs, grad_clipping, predict_ch8),
    which the speed benchmark also runs; loaded from its path, as benchmarks/ is no package the
    tests can rely on being importable."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "book_rnn.py"
    spec = importlib.util.spec_from_file_location("book_rnn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


book = load_book()
BOOK_ORDER = {  # each notebook's get_params order
    RNNScratch: ("W_xh", "W_hh", "b_h", "W_hq", "b_q"),
    GRUScratch: ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xh", "W_hh", "b_h", "W_hq",
                 "b_q"),
    LSTMScratch: ("W_xi", "W_hi", "b_i", "W_xf", "W_hf", "b_f", "W_xo", "W_ho", "b_o", "W_xc",
                  "W_hc", "b_c", "W_hq", "b_q"),
}


@pytest.mark.parametrize(("cls", "forward"), [(RNNScratch, book.rnn), (GRUScratch, book.gru),
                                              (LSTMScratch, book.lstm)])
def test_scratch_models_equal_the_books_one_hot_code(cls, forward) -> None:
    torch.manual_seed(0)
    net = cls(28, 32)
    with torch.no_grad():  # weights large enough for the nonlinearities to matter
        for param in net.parameters():
            param.copy_(torch.randn_like(param) * 0.5)
    X = torch.randint(0, 28, (4, 7))
    state = tuple(torch.randn_like(s) for s in net.begin_state(4, "cpu"))
    params = [getattr(net, name) for name in BOOK_ORDER[cls]]
    assert len(params) == len(list(net.parameters()))
    Y_book, state_book = forward(F.one_hot(X.T, 28).float(), state, params)
    grads_book = torch.autograd.grad(Y_book.square().sum(), params)
    Y, state_lab = net(X, state)
    grads = torch.autograd.grad(Y.square().sum(), params)
    torch.testing.assert_close(Y, Y_book)
    for ours, theirs in zip(state_lab, state_book, strict=True):
        torch.testing.assert_close(ours, theirs)
    for ours, theirs in zip(grads, grads_book, strict=True):  # sums in another order
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * theirs.abs().max())
    assert Y.abs().max() > 1  # not a comparison of near-zeros


@pytest.mark.parametrize("scale", [0.01, 1.0, 100.0])
def test_clipping_equals_the_books(scale) -> None:
    torch.manual_seed(1)
    ours = [nn.Parameter(torch.zeros(shape)) for shape in ((3, 4), (4,), (5, 5))]
    theirs = [nn.Parameter(torch.zeros(p.shape)) for p in ours]
    for a, b in zip(ours, theirs, strict=True):
        a.grad = torch.randn(a.shape) * scale
        b.grad = a.grad.clone()
    clip_gradients(ours, theta=1.0)
    book.grad_clipping(SimpleNamespace(params=theirs), theta=1)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad)
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in ours))
    assert norm <= 1.0 + 1e-6 if scale > 0.1 else norm < 0.5  # small gradients stay as they are


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_predict_equals_the_books_predict_ch8(cell) -> None:
    torch.manual_seed(2)
    vocab = Vocab([list("the time traveller and his machine")])
    for impl in ("scratch", "concise"):
        net = language_model(cell, impl, len(vocab), 16)
        with torch.no_grad():
            for param in net.parameters():
                param.copy_(torch.randn_like(param))
        ours = predict("time traveller", 20, net, vocab, "cpu")
        assert ours == book.predict_ch8("time traveller", 20, net, vocab, "cpu")
        assert ours.startswith("time traveller") and len(ours) >= len("time traveller") + 20


# --- training as train_ch8 ---------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("exp_id", LM_IDS)
def test_each_model_learns_and_writes_samples(exp_id, time_machine) -> None:
    events: list[Event] = []
    result = run(exp_id, sinks=[events.append], **TINY)
    assert result.status == FINISHED, result.reason
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    perplexities = [e.metrics["perplexity"] for e in epochs]
    assert len(perplexities) == 20
    assert perplexities[0] < 28.5  # no worse than guessing among 28 characters, at first
    assert perplexities[-1] < 0.7 * perplexities[0]  # and it learns (gated cells start slowly)
    assert epochs[-1].examples_per_sec > 0
    samples = [(e.epoch, e.prefix, e.text) for e in events if isinstance(e, Sample)]
    assert [s[:2] for s in samples] == [(10, "time traveller"), (20, "time traveller"),
                                        (20, "time traveller"), (20, "traveller")]
    assert all(text.startswith(prefix) and len(text) == len(prefix) + 50
               for _, prefix, text in samples)
    final = [e.text for e in events if isinstance(e, Message) and "tokens/sec" in e.text]
    assert final == [f"perplexity {perplexities[-1]:.1f}, "
                     f"{epochs[-1].examples_per_sec:.1f} tokens/sec on cpu"]
    assert result.metrics["perplexity"] == perplexities[-1]
    assert result.metrics["tokens_per_sec"] == epochs[-1].examples_per_sec
    assert (result.run_dir / "final.pt").exists()


def test_an_epoch_counts_tokens(time_machine) -> None:
    events: list[Event] = []
    run("rnn", sinks=[events.append], **{**TINY, "epochs": 1})
    ticks = [e for e in events if isinstance(e, Progress)]
    # 3000 characters less a random offset of up to 10: 37 rows of 80 characters per batch.
    assert ticks[-1].steps == ticks[-1].step == 37
    end = next(e for e in events if isinstance(e, EpochEnd))
    seconds = 37 * 8 * 10 / end.examples_per_sec
    assert 0 < seconds <= end.elapsed


@pytest.mark.parametrize(("sampling", "per_epoch"), [("sequential", 1), ("random", 37)])
def test_sequential_sampling_carries_the_state_and_random_restarts_it(
        sampling, per_epoch, time_machine, monkeypatch) -> None:
    fresh: list[int] = []
    begin_state = RNNModel.begin_state

    def counting(self, batch_size, device):
        if batch_size == TINY["batch_size"]:  # not generation's batch of one
            fresh.append(batch_size)
        return begin_state(self, batch_size, device)

    monkeypatch.setattr(RNNModel, "begin_state", counting)
    result = run("rnn", **{**TINY, "epochs": 2, "sampling": sampling})
    assert result.status == FINISHED
    assert len(fresh) == 2 * per_epoch


def test_too_few_tokens_for_one_batch_are_refused_before_or_during_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ParamError, match="max_tokens: 300 characters make no batch of 32 × 35; "
                       "need at least 1156"):
        catalog.get("rnn").resolve("book", {"max_tokens": "300", "batch_size": "32"})
    # A text of one's own shorter than max_tokens: only the run can tell.
    (tmp_path / "timemachine.txt").write_text("the time machine\n" * 20)
    monkeypatch.setenv("D2L_LAB_DATA", str(tmp_path))
    result = run("rnn")
    assert result.status == "failed"
    assert "max_tokens: 320 characters" in result.reason and "need at least" in result.reason


# --- stopping and generating from a run --------------------------------------------------------

@pytest.mark.timeout(60)
def test_stop_halts_within_one_batch_and_the_checkpoint_generates(time_machine,
                                                                  monkeypatch) -> None:
    import lab.train.monitor as monitor

    monkeypatch.setattr(monitor, "TICK_SECONDS", 0.0)  # a Progress event after every batch
    cancel = threading.Event()
    ticks: list[Progress] = []

    def sink(event: Event) -> None:
        if isinstance(event, Progress):
            ticks.append(event)
            if len(ticks) == 3:
                cancel.set()

    result = run("gru", sinks=[sink], cancel=cancel, **{**TINY, "epochs": 500})
    assert result.status == STOPPED
    assert len(ticks) == 3 and ticks[-1].epoch == 1  # the batch after the request was the last
    generate = load_generator(result.run_dir)
    text = generate("time traveller", 30)
    assert text.startswith("time traveller") and len(text) == 44
    assert generate("time traveller", 30) == text  # greedy: the same every time
    assert generate("t", 0) == "t"


def test_load_generator_says_what_is_wrong(time_machine, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_generator(tmp_path)
    linreg = run("linreg", epochs=1)
    with pytest.raises(ValueError, match="not a language model run"):
        load_generator(linreg.run_dir)
    generate = load_generator(run("rnn", **{**TINY, "epochs": 1}).run_dir)
    with pytest.raises(ValueError, match=r"does not know 'T!'.*knows only ' abcdefgh"):
        generate("The time!", 10)
    with pytest.raises(ValueError, match="at least one character"):
        generate("", 10)


# --- the command line --------------------------------------------------------------------------

cli = CliRunner()


@pytest.mark.timeout(60)
def test_cli_run_prints_tokens_per_second_and_samples(time_machine) -> None:
    result = cli.invoke(app, ["run", "rnn", *(f"--set={k}={v}" for k, v in TINY.items())])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.startswith("epoch "))
    assert header.split() == ["epoch", "perplexity", "tokens/s", "time"]
    assert "examples/s" not in result.stdout
    assert "epoch 10  time traveller" in result.stdout
    assert "epoch 20  time traveller" in result.stdout and "epoch 20  traveller" in result.stdout
    assert "tokens/sec on cpu" in result.stdout


def test_a_500_epoch_run_prints_few_epoch_rows_and_every_sample() -> None:
    import io

    from rich.console import Console

    from lab.cli_progress import RichSink

    console = Console(file=io.StringIO(), width=100)
    sink = RichSink(console, catalog.get("rnn"))
    for epoch in range(1, 501):
        sink(EpochEnd(epoch, 500, {"perplexity": 2.0}, 1e5, float(epoch)))
        if epoch % 10 == 0:
            sink(Sample(epoch, "time traveller", "time traveller the"))
    lines = console.file.getvalue().splitlines()
    rows = [line.split()[0] for line in lines if line[:1].isdigit()]
    assert rows[0] == "1" and rows[-1] == "500" and len(rows) <= 25
    samples = [line for line in lines if line.startswith("epoch ") and "time traveller" in line]
    assert len(samples) == 50 and samples[-1] == "epoch 500  time traveller the"


@pytest.mark.timeout(60)
def test_cli_runs_predict(time_machine) -> None:
    from lab.store import Store

    lm = run("lstm", **TINY)
    result = cli.invoke(app, ["runs", "predict", lm.run_id, "--prefix", "the time",
                              "--chars", "100"])
    assert result.exit_code == 0, result.output
    text = result.stdout.removesuffix("\n")
    assert text.startswith("the time") and len(text) == 108
    assert text == load_generator(lm.run_dir)("the time", 100)

    unknown = cli.invoke(app, ["runs", "predict", "20990101-000000-nope"])
    assert unknown.exit_code == 2 and "no run '20990101-000000-nope'" in unknown.stderr
    linreg = run("linreg", epochs=1)
    not_lm = cli.invoke(app, ["runs", "predict", linreg.run_id])
    assert not_lm.exit_code == 2 and "not a language model run" in not_lm.stderr
    bad = cli.invoke(app, ["runs", "predict", lm.run_id, "--prefix", "Time"])
    assert bad.exit_code == 2 and "does not know 'T'" in bad.stderr
    (Store().run_dir(lm.run_id) / "final.pt").unlink()
    gone = cli.invoke(app, ["runs", "predict", lm.run_id])
    assert gone.exit_code == 1 and "no checkpoint" in gone.stderr


@pytest.mark.parametrize(("exp_id", "rows"), [
    ("rnn", [("input", "[1, 35]"), ("RNN", "[35, 1, 256]"), ("Linear", "[35, 28]")]),
    ("rnn-scratch", [("input", "[1, 35]"), ("RNNScratch", "[35, 28]")]),
    ("bi-rnn", [("input", "[1, 35]"), ("LSTM", "[35, 1, 512]"), ("Linear", "[35, 28]")]),
])
def test_show_shapes_of_a_language_model(exp_id, rows) -> None:
    result = cli.invoke(app, ["show", exp_id, "--shapes"])
    assert result.exit_code == 0, result.output
    printed = result.stdout.split("Shapes", 1)[1].splitlines()[2:]
    assert [tuple(line.split(None, 1)) for line in printed if line.strip()] == rows


def test_every_language_model_is_declared_as_the_book() -> None:
    for exp_id in LM_IDS:
        exp = catalog.get(exp_id)
        assert exp.unit == "tokens" and exp.dataset == "time-machine"
        assert len(exp.try_this) == 3 and exp.notes
        book = exp.defaults("book")
        assert (book["epochs"], book["batch_size"], book["num_steps"], book["theta"],
                book["sampling"], book["max_tokens"]) == (500, 32, 35, 1.0, "sequential", 10000)
        assert book["num_hiddens"] == (512 if exp_id == "rnn-scratch" else 256)
        assert book["lr"] == (2.0 if exp_id == "deep-rnn" else 1.0)
    assert catalog.get("gru").defaults()["impl"] == "scratch"
    assert catalog.get("bi-rnn").defaults()["num_layers"] == 2
    assert "future" in catalog.get("bi-rnn").summary
