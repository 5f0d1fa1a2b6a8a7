"""Tokens per second of the character language models on the CPU: the book's ``train_ch8``
against the lab's.

The book's side is ``book_rnn`` (Python-list batches, one-hot inputs, ``grad_clipping`` with its
``if norm > theta`` on the host, ``metric.add(l * y.numel(), y.numel())`` every batch); the lab's
side is ``lab.runner.run``, the code path the TUI and CLI use. Both train the book preset (lr 1,
batch 32, 35 steps, the first 10000 characters) for a few epochs; runs alternate in one process,
the order flipped every round, and each run's throughput is the median of its epochs'.

    python benchmarks/rnn_speed.py [--rounds 3] [--epochs 10] [--cases rnn,gru,rnn-scratch]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from lab import catalog, runner
from lab.data import hub
from lab.events import FINISHED, EpochEnd, Event
from lab.store import Store

try:
    from benchmarks import book_rnn
    from benchmarks.epoch_speed import CaseResult, machine
except ImportError:  # run as a script: benchmarks/ itself is sys.path[0]
    import book_rnn
    from epoch_speed import CaseResult, machine

# case -> the lab experiment and its overrides; the book side builds the same network.
CASES = {"rnn": ("rnn", {}), "gru": ("gru", {"impl": "concise"}),
         "lstm": ("lstm", {"impl": "concise"}), "rnn-scratch": ("rnn-scratch", {}),
         "gru-scratch": ("gru", {"impl": "scratch"}), "lstm-scratch": ("lstm", {"impl": "scratch"})}
DEFAULT_CASES = ("rnn", "gru", "rnn-scratch")
RESULTS = Path(__file__).with_name("RNN_RESULTS.md")


@dataclass(frozen=True)
class Sample:
    """One run of a side; named as epoch_speed's samples so its CaseResult and report helpers
    serve here too, but the examples are tokens."""

    examples_per_sec: float  # tokens/s: the median of the run's epochs (training batches only)
    perplexity: float  # after the last epoch
    run_s: float  # the whole run, data loading included


def book_run(case: str, path: Path, epochs: int, seed: int) -> Sample:
    """What the book's notebook does, minus the Animator and the predictions."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    random.seed(seed)
    train_iter, vocab = book_rnn.load_data_time_machine(path, 32, 35)
    net = book_rnn.book_net(case, len(vocab))
    results = book_rnn.train_ch8(net, train_iter, vocab, 1, epochs, "cpu")
    return Sample(statistics.median(speed for _, speed in results), results[-1][0],
                  time.perf_counter() - started)


def lab_run(case: str, store: Store, epochs: int, seed: int) -> Sample:
    exp_id, overrides = CASES[case]
    experiment = catalog.get(exp_id)
    params = experiment.resolve("book", {**overrides, "epochs": epochs})
    assert (params.lr, params.batch_size, params.num_steps, params.max_tokens) == (
        1.0, 32, 35, 10000), "the book preset changed"
    events: list[Event] = []
    started = time.perf_counter()
    result = runner.run(experiment, params, device="cpu", seed=seed, store=store,
                        sinks=[events.append])
    run_s = time.perf_counter() - started
    if result.status != FINISHED:
        raise RuntimeError(f"lab run {result.run_id} {result.status}: {result.reason}")
    ends = [e for e in events if isinstance(e, EpochEnd)]
    return Sample(statistics.median(e.examples_per_sec for e in ends),
                  ends[-1].metrics["perplexity"], run_s)


def measure(cases: list[str], rounds: int, epochs: int, path: Path, store: Store,
            log: Callable[[str], None]) -> list[CaseResult]:
    results = {case: CaseResult(case, [], []) for case in cases}
    for case in cases:  # warm-up, not recorded
        log(f"warm-up {case}")
        book_run(case, path, 1, seed=12345)
        lab_run(case, store, 1, seed=12345)
    for r in range(rounds):
        for case in cases:
            order = ("book", "lab") if r % 2 == 0 else ("lab", "book")
            for side in order:
                sample = (book_run(case, path, epochs, r) if side == "book"
                          else lab_run(case, store, epochs, r))
                getattr(results[case], side).append(sample)
                log(f"round {r + 1}/{rounds} {case:11s} {side:4s} "
                    f"{sample.examples_per_sec:10.0f} tokens/s  perplexity {sample.perplexity:.2f}"
                    f"  run {sample.run_s:.2f} s")
    return list(results.values())


def table(results: list[CaseResult]) -> str:
    rows = ["| case | book tokens/s | lab tokens/s | speed-up | book perplexity "
            "| lab perplexity | book run s | lab run s | verdict |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for res in results:
        speedup = statistics.median(res.ratios())
        rows.append(
            f"| {res.case} | {res.median('book', 'examples_per_sec'):,.0f} "
            f"| {res.median('lab', 'examples_per_sec'):,.0f} | {speedup:.2f}× "
            f"| {res.median('book', 'perplexity'):.2f} | {res.median('lab', 'perplexity'):.2f} "
            f"| {res.median('book', 'run_s'):.2f} | {res.median('lab', 'run_s'):.2f} "
            f"| {'ok' if speedup >= 1 else 'slower than the book'} |")
    return "\n".join(rows)


def raw_rounds(results: list[CaseResult]) -> str:
    lines = ["| case | round | book tokens/s | lab tokens/s | ratio |", "|---|---:|---:|---:|---:|"]
    for res in results:
        for i, (book, lab, ratio) in enumerate(zip(res.book, res.lab, res.ratios(), strict=True)):
            lines.append(f"| {res.case} | {i + 1} | {book.examples_per_sec:,.0f} "
                         f"| {lab.examples_per_sec:,.0f} | {ratio:.2f}× |")
    return "\n".join(lines)


def report(results: list[CaseResult], command: str, epochs: int,
           load: tuple[float, float, float]) -> str:
    return "\n".join([
        "# Language model speed: the book's train_ch8 against the lab's (CPU)",
        "",
        f"Machine: {machine(load)}.",
        f"Command: `{command}`.",
        "",
        f"{epochs} epochs of each case's book preset (lr 1, batch 32, 35 steps, the first 10000 "
        "characters; gru and lstm are the concise models, the -scratch cases the scratch ones), "
        "per side and round. A run's tokens/s is the median of its "
        "epochs' (training batches only, as the book's `train_epoch_ch8` times them); speed-up "
        "is the median of the per-round lab/book ratios. Perplexity after the last epoch "
        "shows both sides learn alike. Verdict: ok when the lab is not slower.",
        "",
        table(results),
        "",
        "Every round:",
        "",
        raw_rounds(results),
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per side and case")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per run")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES),
                        help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--data", type=Path, default=None,
                        help="the book's timemachine.txt (default: where the lab finds it)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="markdown report to write")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads for both sides (default: torch's choice)")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if unknown := sorted(set(cases) - set(CASES)):
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if args.rounds < 1 or args.epochs < 1:
        parser.error("--rounds and --epochs must be at least 1")
    try:
        path = args.data or hub.file_path("time-machine", "timemachine.txt")
    except hub.DataMissing as e:
        parser.error(str(e))
    if args.data is not None:  # the lab's side must read the same file
        os.environ["D2L_LAB_DATA"] = str(args.data.parent)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="d2l-bench-") as tmp:
        store = Store(Path(tmp) / "lab-home")  # keeps benchmark runs out of the user's history
        results = measure(cases, args.rounds, args.epochs, path, store, log)
    print(f"\n{machine(load)}\n\n{table(results)}")
    command = (f"python benchmarks/rnn_speed.py --rounds {args.rounds} --epochs {args.epochs} "
               f"--cases {','.join(cases)}")
    if args.threads is not None:
        command += f" --threads {args.threads}"
    args.results.write_text(report(results, command, args.epochs, load), encoding="utf-8")
    print(f"\nwritten to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
