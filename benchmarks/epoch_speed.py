"""One training epoch of ``softmax``, ``mlp`` and ``lenet`` on the CPU: the book's loop against
the lab's.

The book's side is ``book_loops`` (DataLoader + ToTensor + 4 workers, a host sync per batch); the
lab's side is ``lab.runner.run``, the code path the TUI and CLI use. Both train one epoch with
the experiment's book preset. Runs alternate in one process (order flipped every round) and
we report medians, because absolute timings on a shared machine are noise; the per-round
lab/book ratio of adjacent runs is the number to read.

    python benchmarks/epoch_speed.py [--rounds 3] [--cases softmax,mlp,lenet]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from lab import catalog, runner
from lab.events import FINISHED, EpochEnd, Event
from lab.store import Store

try:
    from benchmarks import book_loops
except ImportError:  # run as a script: benchmarks/ itself is sys.path[0]
    import book_loops


@dataclass(frozen=True)
class Case:
    batch_size: int  # the experiment's book preset, which both sides train with
    lr: float
    target: float  # the speed-up the lab must reach (issues 2 and 4)


CASES = {"softmax": Case(256, 0.1, 5.0), "mlp": Case(256, 0.1, 5.0), "lenet": Case(256, 0.9, 2.5)}
# After one epoch the test accuracy still moves by a few points from seed to seed (the book's own
# runs differ by up to 0.07 for the MLP), so "the same accuracy" means: the lab's median is within
# the larger of this and the spread of the book's own rounds.
ACC_TOLERANCE = 0.02
RESULTS = Path(__file__).with_name("RESULTS.md")

# The book's code triggers these on every run (4 workers on a small machine; float() of a loss that
# requires grad); they are part of the baseline, not news, so keep the log readable.
warnings.filterwarnings("ignore", message="This DataLoader will create")
warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")


@dataclass(frozen=True)
class Sample:
    examples_per_sec: float  # training pass only: no data set construction, no evaluation
    test_acc: float  # after the epoch
    run_s: float  # the whole run: loading, building, training, evaluating (and the lab's records)


def book_run(model: str, root: Path, seed: int) -> Sample:
    """What a book notebook does for one epoch; only ``train_epoch_ch3`` is in the timed span."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    case = CASES[model]
    train_iter, test_iter = book_loops.load_data_fashion_mnist(case.batch_size, root)
    net, loss, trainer, train_epoch = book_loops.book_setup(model, case.lr)
    t0 = time.perf_counter()
    train_epoch(net, train_iter, loss, trainer)
    epoch_s = time.perf_counter() - t0
    test_acc = book_loops.evaluate_accuracy(net, test_iter)
    return Sample(len(train_iter.dataset) / epoch_s, test_acc, time.perf_counter() - started)


def lab_run(model: str, store: Store, seed: int) -> Sample:
    """``lab.runner.run`` as the CLI calls it; the throughput is the lab's own EpochEnd figure,
    which spans the training batches only (like the book's timed span above)."""
    experiment = catalog.get(model)
    params = experiment.resolve("book", {"epochs": "1"})
    case = CASES[model]
    assert (params.batch_size, params.lr) == (case.batch_size, case.lr), "the book preset changed"
    events: list[Event] = []
    started = time.perf_counter()
    result = runner.run(experiment, params, device="cpu", seed=seed, store=store,
                        sinks=[events.append])
    run_s = time.perf_counter() - started
    if result.status != FINISHED:
        raise RuntimeError(f"lab run {result.run_id} {result.status}: {result.reason}")
    end = next(e for e in reversed(events) if isinstance(e, EpochEnd))
    return Sample(end.examples_per_sec, end.metrics["test_acc"], run_s)


@dataclass
class CaseResult:
    case: str
    book: list[Sample]
    lab: list[Sample]

    def ratios(self) -> list[float]:
        """Lab/book throughput of each round: adjacent runs share the machine's load."""
        return [lab.examples_per_sec / book.examples_per_sec
                for book, lab in zip(self.book, self.lab, strict=True)]

    def median(self, side: str, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in getattr(self, side))


def measure(cases: list[str], rounds: int, root: Path, store: Store,
            log: Callable[[str], None]) -> list[CaseResult]:
    results = {case: CaseResult(case, [], []) for case in cases}
    for case in cases:  # warm-up, not recorded: first-touch costs (page cache, allocator, imports)
        log(f"warm-up {case}")
        book_run(case, root, seed=12345)
        lab_run(case, store, seed=12345)
    for r in range(rounds):
        for case in cases:
            # Flip the order every round so a drift in machine load does not favour one side.
            order = ("book", "lab") if r % 2 == 0 else ("lab", "book")
            for side in order:
                sample = book_run(case, root, r) if side == "book" else lab_run(case, store, r)
                getattr(results[case], side).append(sample)
                log(f"round {r + 1}/{rounds} {case:8s} {side:4s} "
                    f"{sample.examples_per_sec:10.0f} ex/s  test acc {sample.test_acc:.4f}  "
                    f"run {sample.run_s:.2f} s")
    return list(results.values())


def table(results: list[CaseResult]) -> str:
    rows = [
        "| case | book ex/s | lab ex/s | speed-up | book test acc | lab test acc "
        "| book run s | lab run s | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for res in results:
        speedup = statistics.median(res.ratios())
        book_acc, lab_acc = res.median("book", "test_acc"), res.median("lab", "test_acc")
        target = CASES[res.case].target
        fast = speedup >= target
        book_spread = max(s.test_acc for s in res.book) - min(s.test_acc for s in res.book)
        same = abs(book_acc - lab_acc) <= max(ACC_TOLERANCE, book_spread)
        verdict = ("ok" if fast and same else
                   ", ".join(m for m, bad in ((f"< {target:g}×", not fast),
                                              ("accuracy differs", not same)) if bad))
        rows.append(
            f"| {res.case} | {res.median('book', 'examples_per_sec'):,.0f} "
            f"| {res.median('lab', 'examples_per_sec'):,.0f} | {speedup:.1f}× "
            f"| {book_acc:.4f} | {lab_acc:.4f} | {res.median('book', 'run_s'):.2f} "
            f"| {res.median('lab', 'run_s'):.2f} | {verdict} |"
        )
    return "\n".join(rows)


def raw_rounds(results: list[CaseResult]) -> str:
    lines = ["| case | round | book ex/s | lab ex/s | ratio | book acc | lab acc |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for res in results:
        for i, (book, lab, ratio) in enumerate(zip(res.book, res.lab, res.ratios(), strict=True)):
            lines.append(f"| {res.case} | {i + 1} | {book.examples_per_sec:,.0f} "
                         f"| {lab.examples_per_sec:,.0f} | {ratio:.1f}× "
                         f"| {book.test_acc:.4f} | {lab.test_acc:.4f} |")
    return "\n".join(lines)


def machine(load: tuple[float, float, float]) -> str:
    """``load`` is the load average before we started: other processes move every number here."""
    return (f"{platform.machine()}, {os.cpu_count()} CPUs "
            f"(load average {', '.join(f'{x:.1f}' for x in load)} at the start), "
            f"torch {torch.__version__} ({torch.get_num_threads()} intra-op threads), "
            f"torchvision {torchvision.__version__}, Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d %H:%M %Z')}")


def report(results: list[CaseResult], command: str, load: tuple[float, float, float]) -> str:
    return "\n".join([
        "# Epoch speed: the book's loop against the lab's (CPU)",
        "",
        f"Machine: {machine(load)}.",
        f"Command: `{command}`.",
        "",
        "One training epoch of each experiment's book preset; medians over the rounds. "
        "Speed-up is the median of the per-round lab/book throughput ratios; run s is the "
        "whole run's wall time. Verdict: the speed-up reaches the case's target (softmax and "
        "mlp 5×, lenet 2.5×) and the median test accuracies are within "
        f"max({ACC_TOLERANCE}, the book's own spread over the rounds).",
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
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--data", type=Path, default=book_loops.SYSTEM_DATA,
                        help="folder with the four Fashion-MNIST .gz files (for the book side)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="markdown report to write")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads of this process, for both sides "
                        "(default: torch's choice, as a user gets)")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if unknown := sorted(set(cases) - set(CASES)):
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if missing := [n for n in book_loops.RAW_FILES if not (args.data / f"{n}.gz").is_file()]:
        parser.error(f"{args.data} lacks {', '.join(f'{n}.gz' for n in missing)} "
                     "(apt-get install dataset-fashion-mnist, or pass --data)")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)  # the book's workers set 1 thread each regardless

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="d2l-bench-") as tmp:
        root = book_loops.prepare_root(Path(tmp) / "data", args.data)
        store = Store(Path(tmp) / "lab-home")  # keeps benchmark runs out of the user's history
        results = measure(cases, args.rounds, root, store, log)
    print(f"\n{machine(load)}\n\n{table(results)}")
    command = f"python benchmarks/epoch_speed.py --rounds {args.rounds} --cases {','.join(cases)}"
    if args.threads is not None:
        command += f" --threads {args.threads}"
    args.results.write_text(report(results, command, load), encoding="utf-8")
    print(f"\nwritten to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
