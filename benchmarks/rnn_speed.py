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
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, sys.path[0] is benchmarks/ itself
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.report import machine  # noqa: E402
from benchmarks.sides import Budget, Case, Paths, book_run, chars_case, lab_run  # noqa: E402
from benchmarks.suite import CaseResult  # noqa: E402
from lab.data import hub  # noqa: E402

# case -> the lab experiment and its overrides; the book side builds the same network.
CASES = {"rnn": ("rnn", {}), "gru": ("gru", {"impl": "concise"}),
         "lstm": ("lstm", {"impl": "concise"}), "rnn-scratch": ("rnn-scratch", {}),
         "gru-scratch": ("gru", {"impl": "scratch"}), "lstm-scratch": ("lstm", {"impl": "scratch"})}
DEFAULT_CASES = ("rnn", "gru", "rnn-scratch")
RESULTS = Path(__file__).with_name("RNN_RESULTS.md")


def measure(cases: list[str], rounds: int, epochs: int, path: Path,
            log: Callable[[str], None]) -> list[CaseResult]:
    """In this process (no peak memory, unlike the suite): one warm-up run of each side, then
    the rounds, the order flipped every round."""
    paths = Paths(time_machine=path)
    built: dict[str, Case] = {c: chars_case(c, *CASES[c], epochs) for c in cases}
    results = {c: CaseResult(built[c]) for c in cases}
    for case in built.values():  # warm-up, not recorded
        log(f"warm-up {case.name}")
        book_run(case, Budget(1), 12345, paths)
        lab_run(case, Budget(1), 12345)
    for r in range(rounds):
        for name, case in built.items():
            order = ("book", "lab") if r % 2 == 0 else ("lab", "book")
            results[name].firsts.append(order[0])
            for side in order:
                sample = (book_run(case, Budget(epochs), r, paths) if side == "book"
                          else lab_run(case, Budget(epochs), r))
                getattr(results[name], side).append(sample)
                log(f"round {r + 1}/{rounds} {name:11s} {side:4s} "
                    f"{sample.throughput:10.0f} tokens/s  perplexity {sample.metric:.2f}"
                    f"  run {sample.run_s:.2f} s")
    return list(results.values())


def table(results: list[CaseResult]) -> str:
    rows = ["| case | book tokens/s | lab tokens/s | speed-up | book perplexity "
            "| lab perplexity | book run s | lab run s | verdict |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for res in results:
        speedup = res.speedup
        rows.append(
            f"| {res.case.name} | {res.median('book', 'throughput'):,.0f} "
            f"| {res.median('lab', 'throughput'):,.0f} | {speedup:.2f}× "
            f"| {res.median('book', 'metric'):.2f} | {res.median('lab', 'metric'):.2f} "
            f"| {res.median('book', 'run_s'):.2f} | {res.median('lab', 'run_s'):.2f} "
            f"| {'ok' if speedup >= 1 else 'slower than the book'} |")
    return "\n".join(rows)


def raw_rounds(results: list[CaseResult]) -> str:
    lines = ["| case | round | book tokens/s | lab tokens/s | ratio |", "|---|---:|---:|---:|---:|"]
    for res in results:
        for i, (book, lab, ratio) in enumerate(zip(res.book, res.lab, res.ratios(), strict=True)):
            lines.append(f"| {res.case.name} | {i + 1} | {book.throughput:,.0f} "
                         f"| {lab.throughput:,.0f} | {ratio:.2f}× |")
    return "\n".join(lines)


def report(results: list[CaseResult], command: str, epochs: int,
           load: tuple[float, float, float]) -> str:
    return "\n".join([
        "# Language model speed: the book's train_ch8 against the lab's (CPU)",
        "",
        f"Machine: {machine(load, threads=torch.get_num_threads())}.",
        f"Command: `{command}`.",
        "",
        f"{epochs} epochs of each case's book preset (lr 1, batch 32, 35 steps, the first 10000 "
        "characters; gru and lstm are the concise models, the -scratch cases the scratch ones), "
        "per side and round. A run's tokens/s is the median of its "
        "epochs after the first (training batches only, as the book's `train_epoch_ch8` times "
        "them; benchmarks/sides.py, shared with `python -m benchmarks`); speed-up "
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
    # The lab's side must read the same file, also from the temporary home below.
    os.environ["D2L_LAB_DATA"] = os.pathsep.join(filter(None, (str(path.parent),
                                                               os.environ.get("D2L_LAB_DATA"))))
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="d2l-bench-") as tmp:
        os.environ["D2L_LAB_HOME"] = tmp  # keeps benchmark runs out of the user's history
        results = measure(cases, args.rounds, args.epochs, path, log)
    print(f"\n{machine(load, threads=torch.get_num_threads())}\n\n{table(results)}")
    command = (f"python benchmarks/rnn_speed.py --rounds {args.rounds} --epochs {args.epochs} "
               f"--cases {','.join(cases)}")
    if args.threads is not None:
        command += f" --threads {args.threads}"
    args.results.write_text(report(results, command, args.epochs, load), encoding="utf-8")
    print(f"\nwritten to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
