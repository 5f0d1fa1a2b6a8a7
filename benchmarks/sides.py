"""The benchmark's cases, and one run of either side of a case: the book's loop or the lab's.

Each case names the lab experiment it runs (preset and overrides) and the settings the book's
side trains with; the lab side checks that its resolved parameters are those settings, so the
two cannot drift apart. A run trains a budget of epochs (and, for images, of training examples)
and returns every epoch's throughput (training batches only) and the metric after the last.
The book's side imports nothing from ``lab``; the lab's side imports it only when it runs, and
torch too is imported only there (the suite's own process stays small: see suite.run_child).
"""

from __future__ import annotations

import random
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The book's code triggers these on every run (4 workers on a small machine; float() of a loss that
# requires grad); they are part of the baseline, not news.
warnings.filterwarnings("ignore", message="This DataLoader will create")
warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")


@dataclass(frozen=True)
class Budget:
    epochs: int
    examples: int | None = None  # training images (image cases); None: the whole set


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "images" (train_ch3/ch6), "chars" (train_ch8) or "nmt" (train_seq2seq)
    experiment: str
    preset: str
    overrides: dict[str, Any]
    book: dict[str, Any]  # the settings both sides train with (the lab checks its own)
    goal: float  # the lab/book throughput ratio to reach (issue 9)
    metric: str  # the lab's metric key, and what the book's side reports alike
    budget: Budget
    quick: Budget
    # "The same metric within noise": |lab - book| <= max(tolerance, the book's own spread over
    # the rounds), absolute for accuracies, relative for perplexity and loss. None: not
    # compared (too few steps for the metric to mean anything).
    tolerance: float | None = 0.02
    relative: bool = False

    @property
    def unit(self) -> str:
        return "ex/s" if self.kind == "images" else "tok/s"


def _images(name: str, preset: str, batch: int, lr: float, goal: float, budget: Budget,
            quick: Budget, resize: int | None = None, **kw: Any) -> Case:
    book = {"batch_size": batch, "lr": lr} | ({"resize": resize} if resize else {})
    return Case(name, "images", name, preset, {}, book, goal, "test_acc", budget, quick, **kw)


def chars_case(name: str, experiment: str, overrides: dict[str, Any], epochs: int) -> Case:
    """A character language model (``name`` as book_rnn.book_net knows it) on the book
    preset: lr 1, batch 32, 35 steps, the first 10000 characters."""
    book = {"lr": 1.0, "batch_size": 32, "num_steps": 35, "max_tokens": 10000}
    return Case(name, "chars", experiment, "book", overrides, book, 1.5, "perplexity",
                Budget(epochs), Budget(2), tolerance=0.05, relative=True)


def _nmt(name: str, epochs: int) -> Case:
    book = {"lr": 0.005, "batch_size": 64, "num_steps": 10, "num_examples": 600}
    return Case(name, "nmt", name, "book", {}, book, 1.2, "loss", Budget(epochs), Budget(2),
                tolerance=0.1, relative=True)


CASES = {case.name: case for case in (
    # One epoch of softmax or the MLP is 0.2–5 s; lenet's 3–9 s.
    _images("softmax", "book", 256, 0.1, 5.0, Budget(2), Budget(1)),
    _images("mlp", "book", 256, 0.1, 5.0, Budget(2), Budget(1)),
    _images("lenet", "book", 256, 0.9, 2.5, Budget(2), Budget(1, 5120)),
    # The quick preset (28×28: the book's Resize(28) passes 28×28 images through, batch 64,
    # lr 0.05) on a bounded slice: ResNet-18 trains at a
    # few hundred images/s on 2 cores. After 50 batches the accuracy says little: not compared.
    _images("resnet", "quick", 64, 0.05, 1.5, Budget(2, 3200), Budget(1, 640), resize=28,
            tolerance=None),
    chars_case("rnn", "rnn", {}, 20),
    chars_case("gru", "gru", {"impl": "concise"}, 10),
    _nmt("seq2seq", 30),
    _nmt("transformer", 20),
)}


@dataclass
class Sample:
    """One run of one side."""

    speeds: list[float]  # each epoch's examples (or target tokens) per second, training only
    metric: float  # after the last epoch
    run_s: float  # the whole run: data, model, training, evaluation (the lab's records too)
    peak_mib: float = 0.0  # the process's peak memory, filled in by whoever watched it
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """The median of the epochs after the first, which pays one-time costs (oneDNN's
        kernels, the allocator, the page cache); the only one if there is one."""
        return statistics.median(self.speeds[1:] or self.speeds)


@dataclass(frozen=True)
class Paths:
    """Where each side finds its data (resolved once by the caller)."""

    fashion_root: Path | None = None  # torchvision's layout (suite.prepare_root)
    time_machine: Path | None = None
    fra_zip: Path | None = None


# --- the book's side ---------------------------------------------------------------------------

def book_run(case: Case, budget: Budget, seed: int, paths: Paths, device: str = "cpu") -> Sample:
    """What the lecture's notebook does (minus its Animator), on the case's settings."""
    import torch

    started = time.perf_counter()
    torch.manual_seed(seed)
    random.seed(seed)
    b = case.book
    if case.kind == "images":
        from benchmarks import book_loops

        train_iter, test_iter = book_loops.load_data_fashion_mnist(
            b["batch_size"], paths.fashion_root, b.get("resize"), budget.examples)
        epochs = book_loops.train(case.name, train_iter, test_iter, budget.epochs, b["lr"],
                                  device)
        return Sample([s for s, _ in epochs], epochs[-1][1], time.perf_counter() - started)
    if case.kind == "chars":
        from benchmarks import book_rnn

        train_iter, vocab = book_rnn.load_data_time_machine(
            paths.time_machine, b["batch_size"], b["num_steps"], max_tokens=b["max_tokens"])
        net = book_rnn.book_net(case.name, len(vocab), device)
        epochs = book_rnn.train_ch8(net, train_iter, vocab, b["lr"], budget.epochs, device)
    else:
        from benchmarks import book_seq2seq, book_transformer

        train_iter, src_vocab, tgt_vocab = book_seq2seq.load_data_nmt(
            paths.fra_zip, b["batch_size"], b["num_steps"], b["num_examples"])
        build = (book_transformer.transformer_net if case.name == "transformer"
                 else book_seq2seq.seq2seq_net)
        net = build(len(src_vocab), len(tgt_vocab))
        epochs = book_seq2seq.train_seq2seq(net, train_iter, b["lr"], budget.epochs, tgt_vocab,
                                            device)
    return Sample([s for _, s in epochs], epochs[-1][0], time.perf_counter() - started)


# --- the lab's side ----------------------------------------------------------------------------

def lab_run(case: Case, budget: Budget, seed: int, device: str = "cpu") -> Sample:
    """``lab.runner.run`` as the CLI calls it (into the store ``D2L_LAB_HOME`` names); the
    throughput is the lab's own per-epoch figure, which spans the training batches only."""
    from lab import catalog, runner
    from lab.events import FINISHED, EpochEnd, Event

    experiment = catalog.get(case.experiment)
    overrides: dict[str, Any] = {**case.overrides, "epochs": budget.epochs}
    if budget.examples is not None:
        overrides["subset"] = budget.examples
    params = experiment.resolve(case.preset, overrides)
    differ = {k: (params[k], v) for k, v in case.book.items() if params[k] != v}
    assert not differ, f"{case.name}: the lab's {case.preset} preset changed: {differ}"
    events: list[Event] = []
    started = time.perf_counter()
    result = runner.run(experiment, params, device=device, seed=seed, preset=case.preset,
                        sinks=[events.append])
    run_s = time.perf_counter() - started
    if result.status != FINISHED:
        raise RuntimeError(f"lab run {result.run_id} {result.status}: {result.reason}")
    ends = [e for e in events if isinstance(e, EpochEnd)]
    return Sample([e.examples_per_sec for e in ends], ends[-1].metrics[case.metric], run_s)
