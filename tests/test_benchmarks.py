"""The benchmark suite (`python -m benchmarks`, issue 9): a smoke run writes RESULTS-format output
with every case asked for, and each side's peak memory is its own process's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import ui

ROOT = Path(__file__).resolve().parents[1]


PEAKS = """
import json, sys
sys.path.insert(0, sys.argv[1])
from benchmarks import __main__, report, sides, suite, ui
assert "torch" not in sys.modules, "the suite's own process imported torch"
touch = "x = bytearray(300 << 20); x[::4096] = b'1' * len(range(0, 300 << 20, 4096))"
runs = [suite.run_child([sys.executable, "-c", code], {})
        for code in ("print('small')", touch + "; print('big')", "print('small')")]
print(json.dumps(runs))
"""


def test_peak_memory_is_each_childs_own() -> None:
    """Measured from the suite's own process (which must not import torch: a child's ru_maxrss
    starts from its parent's size), a child that touches 300 MiB peaks that much higher than
    one that does not, and a small child measured after a big one is small again (each
    child's own peak, not the running maximum of all children)."""
    done = subprocess.run([sys.executable, "-c", PEAKS, str(ROOT)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    (small_out, small), (big_out, big), (_, small_after) = json.loads(done.stdout)
    assert (small_out, big_out) == ("small\n", "big\n")
    assert big - small > 250
    assert small_after < small + 50
    assert small < 100  # not the parent's size


RESULT_ROW = re.compile(r"^\| (\w+) \| (ex/s|tok/s) \| ([\d,]+) \| ([\d,]+) \| ([\d.]+)× \| "
                        r"[\d.]+× \| (\w+)[^|]* \| ([\d.]+) \| ([\d.]+) \| ([\d,]+) \| ([\d,]+) "
                        r"\| (ok|[\w ,]+) \|$", re.M)


@pytest.mark.slow
@pytest.mark.timeout(300)  # 20–30 s on 2 quiet cores; a few minutes on a busy machine
def test_quick_suite_reports_softmax_and_rnn(fashion_mnist: Path, time_machine: bool,
                                             tmp_path: Path) -> None:
    """`--quick --cases softmax,rnn`: RESULTS.md holds the machine, and for both cases (and no
    other) the throughputs, a numeric speed-up, the metric each side reached, both peaks and a
    verdict, and a row per round."""
    out = tmp_path / "RESULTS.md"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--cases",
                           "softmax,rnn", "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert re.search(r"^Machine: .+ \d+ CPUs \(load average [\d.]+, [\d.]+, [\d.]+ at the start, "
                     r"[\d.]+, [\d.]+, [\d.]+ at the end\); torch \S+", text, re.M), text
    rows = {m[1]: m for m in RESULT_ROW.finditer(text)}
    assert sorted(rows) == ["rnn", "softmax"], text
    for name, unit, metric in (("softmax", "ex/s", "test_acc"), ("rnn", "tok/s", "perplexity")):
        row = rows[name]
        assert (row[2], row[6]) == (unit, metric)
        book, lab = (float(row[i].replace(",", "")) for i in (3, 4))
        assert book > 0 and lab > 0
        assert float(row[5]) == pytest.approx(lab / book, rel=0.02)  # one round: its ratio
        assert all(float(row[i].replace(",", "")) > 50 for i in (9, 10))  # MiB: a real process
    assert 0.5 < float(rows["softmax"][7]) < 1 and 0.5 < float(rows["softmax"][8]) < 1
    assert re.search(r"^\| softmax \| 1 \| book \|", text, re.M)  # round 1: the book first
    assert re.search(r"^\| rnn \| 1 \| book \|", text, re.M)
    assert "| mlp |" not in text and "## The interface" not in text


LM_STEP_ROW = re.compile(r"^(rnn|gru) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+)× +([\d.]+)–([\d.]+)$",
                         re.M)


@pytest.mark.timeout(120)
def test_one_language_model_step_timed_against_the_books() -> None:
    """benchmarks/lm_step.py: both cells, each with book, lab and products-only times, the
    median ratio and its quartiles; the products alone take less than either whole step."""
    done = subprocess.run([sys.executable, "benchmarks/lm_step.py", "--rounds", "4"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {m[0]: [float(v) for v in m[1:]] for m in LM_STEP_ROW.findall(done.stdout)}
    assert set(rows) == {"rnn", "gru"}, done.stdout
    for book, lab, floor, ratio, q1, q3 in rows.values():
        assert 0 < floor < min(book, lab) and ratio > 0 and q1 <= ratio <= q3


NMT_STEP_ROW = re.compile(r"^(transformer|seq2seq) +([\d.]+) +([\d.]+) +([\d.]+)× +"
                          r"([\d.]+)–([\d.]+)", re.M)


@pytest.mark.timeout(120)
def test_one_encoder_decoder_step_timed_against_the_books() -> None:
    """benchmarks/nmt_step.py: the Transformer and the GRU encoder–decoder, each with book and
    lab times, the median ratio and its quartiles."""
    done = subprocess.run([sys.executable, "benchmarks/nmt_step.py", "--rounds", "4"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {m[0]: [float(v) for v in m[1:]] for m in NMT_STEP_ROW.findall(done.stdout)}
    assert set(rows) == {"transformer", "seq2seq"}, done.stdout
    for book, lab, ratio, q1, q3 in rows.values():
        assert book > 0 and lab > 0 and q1 <= ratio <= q3


@pytest.mark.timeout(120)
def test_the_runs_screen_in_the_suite(tmp_path: Path) -> None:
    """The suite's `runs` case (`--quick`: 100 runs, one round): opening and filtering the Runs
    screen, each a time in seconds against the 0.5 s goal."""
    env = {**os.environ, "D2L_LAB_HOME": str(tmp_path)}
    figures = ui.measure("runs", True, env)
    assert [f.what for f in figures] == ["open the Runs screen, 100 runs",
                                         "filter the Runs screen, 100 runs"]
    assert all(f.value > 0 and f.unit == "s" and f.goal == 0.5 for f in figures)
