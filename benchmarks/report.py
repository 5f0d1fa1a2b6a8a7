"""RESULTS.md: the machine, the training cases against the book's loops, the interface's figures."""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata
from pathlib import Path

from benchmarks.suite import CaseResult
from benchmarks.ui import Figure

Load = tuple[float, float, float]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def _load(load: Load) -> str:
    return ", ".join(f"{x:.1f}" for x in load)


def machine(before: Load, after: Load | None = None, threads: int | None = None,
            torch_version: str | None = None) -> str:
    """The load averages say how busy the machine was: other processes move every number.
    ``threads``: torch's intra-op threads in the training processes, where known."""
    loads = f"load average {_load(before)} at the start"
    if after is not None:
        loads += f", {_load(after)} at the end"
    threads_used = f" ({threads} intra-op threads)" if threads else ""
    return (f"{cpu_model()}, {os.cpu_count()} CPUs ({loads}); "
            f"torch {torch_version or _version('torch')}{threads_used}, "
            f"torchvision {_version('torchvision')}, Python {platform.python_version()}; "
            f"{time.strftime('%Y-%m-%d %H:%M %Z')}")


def _metric(value: float, metric: str) -> str:
    return f"{value:.2f}" if metric == "perplexity" else f"{value:.4f}"


def _peak(res: CaseResult, side: str) -> str:
    """The median peak RSS, and on CUDA the median of torch.cuda.max_memory_allocated."""
    text = f"{res.median(side, 'peak_mib'):,.0f}"
    gpu = [s.extra["cuda_peak_mib"] for s in getattr(res, side) if "cuda_peak_mib" in s.extra]
    return text + (f" (GPU {sorted(gpu)[len(gpu) // 2]:,.0f})" if gpu else "")


def training_table(results: list[CaseResult]) -> str:
    rows = ["| case | unit | book | lab | speed-up | goal | metric | book | lab "
            "| book peak MiB | lab peak MiB | verdict |",
            "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|"]
    for res in results:
        c = res.case
        compared = "" if c.tolerance is not None else " (not compared)"
        rows.append(
            f"| {c.name} | {c.unit} | {res.median('book', 'throughput'):,.0f} "
            f"| {res.median('lab', 'throughput'):,.0f} | {res.speedup:.2f}× | {c.goal:g}× "
            f"| {c.metric}{compared} | {_metric(res.median('book', 'metric'), c.metric)} "
            f"| {_metric(res.median('lab', 'metric'), c.metric)} "
            f"| {_peak(res, 'book')} | {_peak(res, 'lab')} | {res.verdict} |")
    return "\n".join(rows)


def rounds_table(results: list[CaseResult]) -> str:
    rows = ["| case | round | first | book | lab | ratio | book metric | lab metric "
            "| book MiB | lab MiB | book run s | lab run s |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for res in results:
        m = res.case.metric
        for i, (book, lab, ratio, first) in enumerate(
                zip(res.book, res.lab, res.ratios(), res.firsts, strict=True)):
            rows.append(f"| {res.case.name} | {i + 1} | {first} | {book.throughput:,.0f} "
                        f"| {lab.throughput:,.0f} | {ratio:.2f}× | {_metric(book.metric, m)} "
                        f"| {_metric(lab.metric, m)} | {book.peak_mib:,.0f} "
                        f"| {lab.peak_mib:,.0f} | {book.run_s:.1f} | {lab.run_s:.1f} |")
    return "\n".join(rows)


def figures_table(figures: list[Figure]) -> str:
    rows = ["| what | median | goal | verdict |", "|---|---:|---:|---|"]
    for f in figures:
        value = f"{f.value:.1f} ms" if f.unit == "ms" else f"{f.value:.2f} s"
        spread = f" ({f.spread})" if f.spread else ""
        rows.append(f"| {f.what} | {value}{spread} | {f.goal:g} {f.unit} | {f.verdict} |")
    return "\n".join(rows)


TRAINING_NOTE = (
    "Each side of each case runs in a fresh process (`python -m benchmarks.case CASE --side "
    "book|lab`), book and lab one after the other, the order flipped every round. The book's "
    "side is benchmarks/book_loops.py, book_rnn.py, book_seq2seq.py or book_transformer.py: "
    "faithful copies of the "
    "book's loaders and `train_ch3`, `train_ch6`, `train_ch8` and `train_seq2seq`, with their "
    "host syncs every batch. The lab's side is `lab.runner.run`, what the TUI and the CLI run. "
    "A side's throughput is the median of its epochs after the first (the first pays one-time "
    "costs), training batches only: examples/s for images, target tokens/s for text (as "
    "train_ch8 and train_seq2seq count them). **speed-up** is the median of the per-round "
    "lab/book ratios; the other columns are medians over the rounds. **metric** is the one "
    "after the last epoch, the same budget on both sides; the verdict compares it within the "
    "larger of a tolerance (0.02 accuracy, 5% perplexity, 10% loss) and the book's own spread "
    "over the rounds. ResNet's accuracy after 2 × 50 batches says little and is not compared. "
    "**peak MiB** is the process's peak resident memory (`ru_maxrss` from `os.wait4`: the "
    "largest of the process and the children it waited for, such as the book's DataLoader "
    "workers, not their sum)."
)


def results_md(command: str, machine_line: str, results: list[CaseResult],
               budgets: str, skipped: dict[str, str], baseline_mib: float | None,
               figures: list[Figure], tui_cost: str | None) -> str:
    out = ["# Benchmarks: the lab against the book's own loops", "",
           f"Machine: {machine_line}.", f"Command: `{command}`.", ""]
    if results:
        out += ["## Training", "", TRAINING_NOTE, "", f"Budgets per run: {budgets}.", ""]
        if baseline_mib is not None:
            out += [f"For scale: a Python process that only imports torch and torchvision "
                    f"peaks at {baseline_mib:,.0f} MiB here.", ""]
        out += [training_table(results), "", "Every round:", "", rounds_table(results), ""]
    if skipped:
        out += ["Skipped (no data here): " + "; ".join(f"{c} ({why})"
                                                       for c, why in skipped.items()) + ".", ""]
    if figures:
        out += ["## The interface", "",
                "Redraws are medians over many redraws in one process (plot_speed.py, "
                "heatmap_speed.py); start-up figures medians over fresh processes (startup.py).",
                "", figures_table(figures), ""]
    if tui_cost:
        out += ["## Training in the lab against headless (tui_cost.py)", "",
                "The same run through the runner alone and in the real app with its plot on "
                "screen (goal: the lab at 0.95 or more):", "", "```text", tui_cost, "```", ""]
    out += ["## The whole course", "",
            "`d2l-lab course --preset quick` (every experiment, its time and result next to the "
            "book's): see [COURSE.md](COURSE.md).", ""]
    return "\n".join(out)
