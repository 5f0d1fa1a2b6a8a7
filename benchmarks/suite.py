"""The training cases' rounds: each side of each case in a fresh process, alternating.

Every round runs, per case, the book's side and the lab's side one after the other, the order
flipped every round so that a drift in the machine's load favours neither. Each side is a child
process (``python -m benchmarks.case``) that trains its budget and reports its throughput; the
peak resident memory is that child's own, read from ``os.wait4`` when it ends (the largest of
the child and the descendants it waited for, such as the book's DataLoader workers, not their
sum).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.sides import CASES, Case, Paths, Sample

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"  # the course's data beside the checkout, if any
FRA_ZIP = SHARED_DATA / "sha1_mismatch" / "fra-eng.zip"
FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


@dataclass
class CaseResult:
    """Both sides' runs of one case; ``firsts[i]`` is the side that ran first in round i."""

    case: Case
    book: list[Sample] = field(default_factory=list)
    lab: list[Sample] = field(default_factory=list)
    firsts: list[str] = field(default_factory=list)

    def ratios(self) -> list[float]:
        """Lab/book throughput of each round: adjacent runs share the machine's load."""
        return [lab.throughput / book.throughput
                for book, lab in zip(self.book, self.lab, strict=True)]

    @property
    def speedup(self) -> float:
        return statistics.median(self.ratios())

    def median(self, side: str, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in getattr(self, side))

    def spread(self, side: str) -> float:
        values = [s.metric for s in getattr(self, side)]
        return max(values) - min(values)

    def same_metric(self) -> bool | None:
        """Whether the lab reaches the book's metric within noise (None: not compared)."""
        tol = self.case.tolerance
        if tol is None:
            return None
        book, lab = self.median("book", "metric"), self.median("lab", "metric")
        scale = abs(book) if self.case.relative else 1.0
        return abs(lab - book) <= max(tol * scale, self.spread("book"))

    @property
    def verdict(self) -> str:
        problems = []
        if self.speedup < self.case.goal:
            problems.append("below goal")
        if self.same_metric() is False:
            problems.append(f"{self.case.metric} differs")
        return ", ".join(problems) or "ok"


def prepare_root(root: Path, source: Path = FASHION) -> Path:
    """Lay out ``root/FashionMNIST/raw/`` with the four files gunzipped, as torchvision expects
    (with ``download=False`` it only checks that they exist), for the book's side."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in RAW_FILES:
        target = raw / name
        if not target.exists():
            with gzip.open(source / f"{name}.gz", "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return root


# Not the book's archive (its checksum differs), hence accept_checksum.
IMPORT_FRA = ("import sys; from lab.data import hub; "
              "hub.import_dir('fra-eng', sys.argv[1], accept_checksum=True)")


@dataclass(frozen=True)
class Setup:
    """What the children share: the data each side reads and their environment."""

    paths: Paths
    env: dict[str, str]
    missing: dict[str, str]  # case -> why it cannot run here


def prepare(tmp: Path, cases: list[str], fashion: Path = FASHION,
            fra_zip: Path = FRA_ZIP) -> Setup:
    """Find the data, lay it out for both sides, and point the lab at a store in ``tmp`` (so
    benchmark runs stay out of the user's history). The lab reads the very files the book does:
    the time machine through ``D2L_LAB_DATA``, fra-eng imported into the temporary home."""
    from lab.data import hub  # no torch: see run_child

    kinds = {CASES[c].kind for c in cases}
    missing: dict[str, str] = {}
    root = time_machine = zip_path = None
    env = dict(os.environ)
    if "images" in kinds:
        if all((fashion / f"{n}.gz").is_file() for n in RAW_FILES):
            root = prepare_root(tmp / "data", fashion)
            env["D2L_LAB_DATA"] = os.pathsep.join(filter(None, (str(fashion),
                                                                env.get("D2L_LAB_DATA"))))
        else:
            missing["images"] = f"no Fashion-MNIST in {fashion}"
    if "chars" in kinds:
        try:
            time_machine = hub.file_path("time-machine", "timemachine.txt")
        except hub.DataMissing:
            if (SHARED_DATA / "timemachine.txt").is_file():
                time_machine = SHARED_DATA / "timemachine.txt"
            else:
                missing["chars"] = "no timemachine.txt (d2l-lab data fetch time-machine)"
        if time_machine is not None:
            env["D2L_LAB_DATA"] = os.pathsep.join(filter(None, (str(time_machine.parent),
                                                                env.get("D2L_LAB_DATA"))))
    if "nmt" in kinds:
        located = hub.locate("fra-eng")
        zip_path = fra_zip if fra_zip.is_file() else (
            located / hub.get("fra-eng").files[0].name if located else None)
        if zip_path is None:
            missing["nmt"] = "no fra-eng.zip (d2l-lab data fetch fra-eng)"
    env["D2L_LAB_HOME"] = str(tmp / "lab-home")
    if zip_path is not None:  # into the temporary home, as `d2l-lab data import` would
        subprocess.run([sys.executable, "-c", IMPORT_FRA, str(zip_path)], env=env, check=True)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    return Setup(Paths(root, time_machine, zip_path), env,
                 {c: missing[CASES[c].kind] for c in cases if CASES[c].kind in missing})


def run_child(command: list[str], env: dict[str, str]) -> tuple[str, float]:
    """Run ``command`` to its end; its stdout and its peak resident memory in MiB.

    A child's ``ru_maxrss`` starts from its parent's resident size when it was forked (Linux
    keeps the larger of the old and the new image's at exec), so the process calling this must
    stay small: the suite's own process never imports torch."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env,
                                cwd=ROOT)
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        proc.stdout.close()
        # wait4, not RUSAGE_CHILDREN: this child's own peak, not the largest of all so far.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(command[2:])} failed ({proc.returncode}):\n{tail}")
    return out, usage.ru_maxrss / 1024  # KiB on Linux


BASELINE = "import json, torch, torchvision; print(json.dumps([torch.__version__, " \
           "torch.get_num_threads()]))"


def baseline(env: dict[str, str]) -> tuple[float, str, int]:
    """The peak (MiB) of a process that only imports torch and torchvision (what every side
    pays), torch's version and its default number of threads, without importing it here."""
    out, peak = run_child([sys.executable, "-c", BASELINE], env)
    version, threads = json.loads(out.strip().splitlines()[-1])
    return peak, version, threads


def side_command(case: str, side: str, seed: int, quick: bool, setup: Setup, device: str,
                 threads: int | None) -> list[str]:
    command = [sys.executable, "-m", "benchmarks.case", case, "--side", side, "--seed",
               str(seed), "--device", device, "--json"]
    command += ["--quick"] if quick else []
    command += ["--threads", str(threads)] if threads else []
    for flag, path in (("--fashion-root", setup.paths.fashion_root),
                       ("--time-machine", setup.paths.time_machine),
                       ("--fra-zip", setup.paths.fra_zip)):
        if path is not None and side == "book":
            command += [flag, str(path)]
    return command


def measure(cases: list[str], rounds: int, quick: bool, setup: Setup, *, device: str = "cpu",
            threads: int | None = None,
            log: Callable[[str], None] = print) -> list[CaseResult]:
    results = {c: CaseResult(CASES[c]) for c in cases if c not in setup.missing}
    for r in range(rounds):
        for name, res in results.items():
            order = ("book", "lab") if r % 2 == 0 else ("lab", "book")
            res.firsts.append(order[0])
            for side in order:
                out, peak = run_child(side_command(name, side, r, quick, setup, device,
                                                   threads), setup.env)
                data = json.loads(out.strip().splitlines()[-1])
                sample = Sample(data["speeds"], data["metric"], data["run_s"], peak,
                                data.get("extra", {}))
                getattr(res, side).append(sample)
                log(f"round {r + 1}/{rounds} {name:11s} {side:4s} {sample.throughput:10,.0f} "
                    f"{res.case.unit}  {res.case.metric} {sample.metric:.4f}  "
                    f"peak {peak:,.0f} MiB  run {sample.run_s:.1f} s")
    return list(results.values())
