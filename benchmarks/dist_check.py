"""A data-parallel run on one device against the plain run (issue 10): ``resnet`` (book preset)
trained by ``d2l-lab run`` as one process, then as a 1-process torchrun run (NCCL on CUDA, gloo
on the CPU), each for ``--epochs`` epochs; the figure is the last epoch's examples/s.

The plain run is measured twice, with and without CUDA graphs: a data-parallel step is not
captured (DistributedDataParallel's all-reduce hooks run between the kernels), so the eager
plain run is the like-for-like comparison.

    python -m benchmarks.dist_check [--device cuda:0] [--epochs 2] [--experiment resnet]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

GOAL = 0.90  # issue 10: the 1-process run within 10% of the plain one


def last_epoch_speed(args: list[str]) -> tuple[float, float]:
    """Run ``d2l-lab run …--json``; the last epoch's examples/s and test accuracy."""
    out = subprocess.run([sys.executable, "-m", "lab", "run", *args, "--json"], check=True,
                         capture_output=True, text=True).stdout
    epochs = [e for e in map(json.loads, out.splitlines()) if e.get("kind") == "epoch"]
    return epochs[-1]["examples_per_sec"], epochs[-1]["metrics"]["test_acc"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--experiment", default="resnet")
    parser.add_argument("--skip-graphed", action="store_true",
                        help="skip the plain run with CUDA graphs (only the like-for-like pair)")
    args = parser.parse_args(argv)
    common = [args.experiment, "--set", f"epochs={args.epochs}"]
    graphs = ["--set", "cuda_graphs=false"] if args.device.startswith("cuda") else []
    runs = {
        "plain": [*common, "--device", args.device],
        "plain, no CUDA graphs": [*common, *graphs, "--device", args.device],
        "1 process (torchrun)": [*common, "--devices", args.device],
    }
    if args.skip_graphed:
        del runs["plain"]
    print(f"| {args.experiment} on {args.device} | examples/s | test acc |\n|---|---|---|")
    speeds = {}
    for name, run_args in runs.items():
        speeds[name], acc = last_epoch_speed(run_args)
        print(f"| {name} | {speeds[name]:,.0f} | {acc:.3f} |", flush=True)
    ratio = speeds["1 process (torchrun)"] / speeds["plain, no CUDA graphs"]
    print(f"\n1 process (torchrun) / plain without graphs: {ratio:.2f} (goal ≥ {GOAL:.2f})")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
