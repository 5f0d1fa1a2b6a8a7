"""Every CNN book preset on one CUDA device: the lab's training examples/s with its GPU path, and
with parts of it turned off, next to the book's V100 figures (LECTURES.md).

The lab's path: data resident on the device, channels_last, cudnn.benchmark, bf16 autocast and
each training step replayed as one CUDA graph. Columns: ``lab`` (all of it), ``eager`` (no CUDA
graphs), ``fp32`` (no bf16 autocast), and with ``--compile`` also ``compile`` (torch.compile
added). Each variant trains the book preset on the whole training set for ``--epochs`` epochs
in this one process; its figure is the last epoch's (the first includes cuDNN's algorithm
search and the graph's capture), its test accuracy the last epoch's too.

    benchmarks/gpu_check.sh [--device cuda:0] [--epochs 2] [--cases lenet,resnet] [--out F]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

# (experiment, overrides, the book's V100 examples/s from its train_ch6 printouts)
CASES: tuple[tuple[str, dict[str, Any], float], ...] = (
    ("lenet", {}, 89331.7),
    ("alexnet", {}, 4166.0),
    ("vgg", {}, 2558.8),
    ("nin", {}, 3167.4),
    ("googlenet", {}, 3459.1),
    ("batchnorm", {"impl": "scratch"}, 37724.0),
    ("batchnorm", {"impl": "concise"}, 66439.9),
    ("resnet", {}, 4693.8),
    ("densenet", {}, 5517.6),
)
VARIANTS: dict[str, dict[str, Any]] = {
    "lab": {},
    "eager": {"cuda_graphs": False},
    "fp32": {"bf16": False},
}
GOAL = 3.0  # issue 9: every preset at >= 3x the book's V100 examples/s


@dataclass
class Measured:
    examples_per_sec: float
    test_acc: float
    seconds: float  # the whole run, evaluation and start-up included


def measure(experiment_id: str, overrides: dict[str, Any], device: str, epochs: int) -> Measured:
    from lab import catalog, runner
    from lab.events import FINISHED, EpochEnd, Event

    experiment = catalog.get(experiment_id)
    params = experiment.resolve("book", {**overrides, "epochs": epochs})
    events: list[Event] = []
    started = time.perf_counter()
    result = runner.run(experiment, params, device=device, preset="book", sinks=[events.append])
    if result.status != FINISHED:
        raise RuntimeError(f"{result.status}: {result.reason}")
    last = [e for e in events if isinstance(e, EpochEnd)][-1]
    return Measured(last.examples_per_sec, last.metrics["test_acc"],
                    time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cases", help="experiments to run, comma-separated (default: all)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"columns to measure, comma-separated (default: {','.join(VARIANTS)})")
    parser.add_argument("--compile", action="store_true", help="add a torch.compile column")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)

    import torch

    from lab import devices

    try:
        device = devices.validate(args.device)
    except devices.DeviceError as e:
        print(e, file=sys.stderr)
        return 2
    variants = {v: VARIANTS[v] for v in args.variants.split(",")}  # "lab" first: the ratio's
    variants |= {"compile": {"compile": True}} if args.compile else {}
    wanted = set(args.cases.split(",")) if args.cases else None
    title = (f"{torch.cuda.get_device_name(device)} · torch {torch.__version__} · "
             f"{args.epochs} epochs per variant, the last one's examples/s")
    header = ["experiment", "V100 book", *variants, "lab × book",
              *(f"acc {v}" for v in variants)]
    lines = [title, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    print("\n".join(lines), flush=True)
    short = 0
    for experiment_id, overrides, book in CASES:
        if wanted and experiment_id not in wanted:
            continue
        name = " ".join([experiment_id, *(f"{k}={v}" for k, v in overrides.items())])
        got: dict[str, Measured | str] = {}
        for variant, settings in variants.items():
            try:
                got[variant] = m = measure(experiment_id, overrides | settings, device,
                                           args.epochs)
                print(f"  {name} [{variant}] {m.seconds:.1f} s", file=sys.stderr, flush=True)
            except Exception as e:  # one broken variant must not hide the others' figures
                got[variant] = f"{type(e).__name__}: {e}"
                print(f"  {name} [{variant}] failed: {got[variant]}", file=sys.stderr, flush=True)
        lab = got["lab"]
        ratio = lab.examples_per_sec / book if isinstance(lab, Measured) else 0.0
        short += ratio < GOAL
        row = [name, f"{book:,.0f}",
               *(f"{m.examples_per_sec:,.0f}" if isinstance(m, Measured) else "failed"
                 for m in got.values()),
               f"{ratio:.1f}×",
               *(f"{m.test_acc:.3f}" if isinstance(m, Measured) else "–" for m in got.values())]
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    verdict = (f"every preset at ≥ {GOAL:.0f}× the book's V100 examples/s" if not short
               else f"{short} preset(s) below {GOAL:.0f}× the book's V100 examples/s")
    lines += ["", verdict]
    print("\n" + verdict, flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return 0 if not short else 1


if __name__ == "__main__":
    sys.exit(main())
