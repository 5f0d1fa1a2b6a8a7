"""The lab's compiled CPU kernels, built once per machine: the time loops of the recurrent layers
(rnn_loops.cpp, for lab/models/fused_rnn.py), dropout (dropout.cpp, for cpu_ops.Dropout), the
masked softmax (masked_softmax.cpp, for cpu_ops.masked_softmax) and 2×2 average pooling
(avg_pool.cpp, for cpu_ops.AvgPool2d), one module (kernels.cpp).

``kernels()`` is the built module, or None: nothing is compiled while a run waits. ``build()``
compiles it (about a minute, with the C++ compiler torch extensions use, and ninja); ``make lab``
and ``make test`` run it as part of their setup, ``python -m lab.models.native`` by hand. A
build is for one set of sources, torch, Python and CPU (``-march=native``): each has its own
folder under ``paths.kernels_cache()``, so a home shared between machines never loads another
CPU's code. Without a build the same models run torch's dropout and the loops in Python, a
little slower.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import platform
import sys
import time
from pathlib import Path
from types import ModuleType

import torch

from lab import paths

SOURCES = [Path(__file__).with_name(f)
           for f in ("kernels.cpp", "rnn_loops.cpp", "dropout.cpp", "masked_softmax.cpp",
                     "avg_pool.cpp")]
HEADERS = [Path(__file__).with_name("fast_math.h")]
KERNELS = "RNN/GRU loops, dropout, masked softmax, pooling"  # what `d2l-lab devices` names
# -fno-trapping-math lets the compiler vectorize exp_approx (its floor and clamps); it changes no
# result (nothing here enables floating-point traps).
CFLAGS = ["-O3", "-march=native", "-fno-trapping-math", "-fopenmp-simd"]


@functools.cache  # the CPU does not change under a process; /proc/cpuinfo is read once
def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor()


def name() -> str:
    """The module's name: what it is built from and for."""
    key = "\n".join([*(source.read_text() for source in (*SOURCES, *HEADERS)), torch.__version__,
                     sys.version, platform.machine(), _cpu_flags(), " ".join(CFLAGS)])
    return "lab_kernels_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _folder() -> Path:
    return paths.kernels_cache() / name()


def _library() -> Path:
    return _folder() / f"{name()}.so"


@functools.cache
def kernels() -> ModuleType | None:
    """The compiled kernels if this machine has built them; None otherwise."""
    if sys.platform != "linux" or not _library().is_file():
        return None
    spec = importlib.util.spec_from_file_location(name(), _library())
    if spec is None or spec.loader is None:
        return None
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except ImportError:  # a damaged or foreign build: torch and Python do the same
        return None
    return module


def build(verbose: bool = False) -> Path:
    """Compile the kernels for this machine (nothing to do if built); the library's path."""
    # On importing, torch warns that a CPU machine has no CUDA runtime: true, and beside the point.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils import cpp_extension  # imports setuptools: only when building

    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    # torch builds with ninja from PATH; the one pip installed beside this Python (a
    # dependency) is there only in an activated environment, and make does not activate it.
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join(filter(None, (scripts, os.environ.get("PATH"))))
    cpp_extension.load(name(), [str(source) for source in SOURCES], extra_cflags=CFLAGS,
                       build_directory=str(folder), verbose=verbose)
    kernels.cache_clear()
    return _library()


def status() -> str:
    """One line for ``d2l-lab devices``."""
    if kernels() is not None:
        return f"compiled CPU kernels ({KERNELS})"
    return (f"CPU kernels ({KERNELS}) not built: Python and torch do their work "
            "(`python -m lab.models.native` compiles them in a minute)")


def main() -> int:
    if sys.platform != "linux":
        print("compiled CPU kernels: built on Linux only; Python's and torch's run here")
        return 0
    started = time.perf_counter()
    try:
        library = build()
    except (OSError, RuntimeError, ImportError) as err:  # no compiler, no headers
        print(f"compiled CPU kernels: not built ({str(err).strip().splitlines()[-1]}); "
              "Python's and torch's run", file=sys.stderr)
        return 1
    print(f"compiled CPU kernels: {library} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
