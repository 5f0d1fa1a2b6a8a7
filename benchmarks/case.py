"""One side of one case in a process of its own, so that the process's peak memory is that side's.

    python -m benchmarks.case CASE --side book|lab [--seed N] [--quick] [--threads N] [--json]
                              [--fashion-root DIR] [--time-machine FILE] [--fra-zip FILE]

Prints the run (per-epoch throughput, the metric, the wall time) as one JSON line with
``--json``, else as words. The suite (benchmarks/suite.py) starts one of these per side and
round and reads the peak resident memory from the kernel when it ends (os.wait4); on CUDA the
line also carries ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from benchmarks.sides import CASES, Paths, book_run, lab_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=list(CASES))
    parser.add_argument("--side", choices=("book", "lab"), required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="the case's smoke-test budget")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--fashion-root", type=Path, help="torchvision's FashionMNIST root")
    parser.add_argument("--time-machine", type=Path, help="the book's timemachine.txt")
    parser.add_argument("--fra-zip", type=Path, help="the fra-eng archive")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    args = parser.parse_args(argv)
    case = CASES[args.case]
    budget = case.quick if args.quick else case.budget
    if args.threads:
        torch.set_num_threads(args.threads)  # the book's DataLoader workers use 1 each anyway
    if args.side == "book":
        paths = Paths(args.fashion_root, args.time_machine, args.fra_zip)
        sample = book_run(case, budget, args.seed, paths, args.device)
    else:
        sample = lab_run(case, budget, args.seed, args.device)
    if args.device.startswith("cuda"):
        sample.extra["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    if args.json:
        print(json.dumps(asdict(sample)))
    else:
        print(f"{case.name} {args.side}: {sample.throughput:,.0f} {case.unit} "
              f"(epochs: {', '.join(f'{s:,.0f}' for s in sample.speeds)}), "
              f"{case.metric} {sample.metric:.4f}, run {sample.run_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
