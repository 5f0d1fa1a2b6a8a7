"""Freed host memory kept for the next batch rather than handed back to the system.

glibc's malloc serves every allocation above a threshold (128 KiB, rising to at most 32 MiB as
it sees big frees) with a fresh ``mmap`` and unmaps it when freed. A CPU training step allocates
and frees the same activations at every batch, so the kernel faults in and zeroes each of their
pages again, batch after batch (how often varies from run to run, with how its threads' frees
interleave): LeNet on 2 cores once took 300,000 page faults in 80 steps and 21–26 ms a step,
15–18 ms with the memory kept. Raising the mmap and trim thresholds keeps freed
blocks in malloc's heap for reuse, as jemalloc and tcmalloc do (the usual advice for torch on
the CPU); the process then keeps its high-water mark until it exits. Elsewhere than glibc
(macOS, musl) nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
_THRESHOLDS = (1 << 30, 32 << 20)  # as high as this glibc takes: older ones cap at 32 MiB


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's thresholds, once per process; whether it took."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    for threshold in _THRESHOLDS:
        if mallopt(_M_MMAP_THRESHOLD, threshold):
            return bool(mallopt(_M_TRIM_THRESHOLD, 2 * threshold))
    return False
