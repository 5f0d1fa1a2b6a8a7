"""The whole benchmark suite: the lab against the book's own training loops, and the interface.

    python -m benchmarks [--rounds 3] [--cases softmax,rnn,plot] [--quick] [--out PATH]

Training cases: softmax, mlp, lenet, resnet (quick preset), rnn, gru, seq2seq, transformer —
each side in a fresh process, alternating, medians of the per-round lab/book ratios, the metric
each side reached and each side's peak memory. Interface cases: plot (a 10,000-point history
redrawn), heatmap (64×64), startup (`d2l-lab list`, `--help`, first paint, quit), runs (the
Runs screen with 1000 runs) and tui-cost (tui_cost.py: training in the app against headless).
Writes benchmarks/RESULTS.md (or --out).
``--quick``: one round and tiny budgets, a smoke test of every path, not a measurement.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from benchmarks import report, suite, ui
from benchmarks.sides import CASES, Budget

RESULTS = Path(__file__).with_name("RESULTS.md")
ALL = (*CASES, *ui.UI_CASES)


def _budget(b: Budget) -> str:
    epochs = f"{b.epochs} epoch{'s' * (b.epochs != 1)}"
    return epochs + (f" of the first {b.examples:,} images" if b.examples else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the training cases")
    parser.add_argument("--cases", default=",".join(ALL), help=f"comma-separated, of "
                        f"{', '.join(ALL)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="1 round, tiny budgets: a smoke test")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the markdown report")
    parser.add_argument("--device", default="cpu", help="for the training cases (cpu, cuda)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads of every side (default: torch's choice)")
    parser.add_argument("--fashion", type=Path, default=suite.FASHION,
                        help="folder with Fashion-MNIST's four .gz files")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if unknown := sorted(set(cases) - set(ALL)):
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")
    rounds = 1 if args.quick else args.rounds
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    training = [c for c in cases if c in CASES]

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    before = os.getloadavg()
    results, skipped, baseline, version, threads = [], {}, None, None, args.threads
    if training:
        with tempfile.TemporaryDirectory(prefix="d2l-bench-") as tmp:
            setup = suite.prepare(Path(tmp), training, args.fashion)
            skipped = setup.missing
            for case, why in skipped.items():
                log(f"skipped {case}: {why}")
            baseline, version, default_threads = suite.baseline(setup.env)
            threads = threads or default_threads
            results = suite.measure(training, rounds, args.quick, setup, device=args.device,
                                    threads=args.threads, log=log)
    figures: list[ui.Figure] = []
    tui_cost = None
    for name in (c for c in cases if c in ui.UI_CASES):
        log(f"{name} …")
        measured = ui.measure(name, args.quick, dict(os.environ))
        if isinstance(measured, str):
            tui_cost = measured
        else:
            figures += measured
    after = os.getloadavg()

    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    budgets = "; ".join(f"{c} {_budget(CASES[c].quick if args.quick else CASES[c].budget)}"
                        for c in training)
    text = report.results_md(command, report.machine(before, after, threads, version), results,
                             budgets, skipped, baseline, figures, tui_cost)
    args.out.write_text(text, encoding="utf-8")
    if results:
        print(report.training_table(results))
    if figures:
        print(report.figures_table(figures))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
