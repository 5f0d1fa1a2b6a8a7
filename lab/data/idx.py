"""Reader for the IDX format of (Fashion-)MNIST, gzip'd or raw.

Layout (big-endian): two zero bytes, a data-type code, the number of dimensions, one uint32 per
dimension, then the data in C order. Only unsigned bytes (code 0x08) occur in these datasets.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import torch

from lab.data.hub import DataDamaged

UINT8 = 0x08
_CHUNK = 1 << 20


class IdxError(DataDamaged, ValueError):
    """A file that is not a well-formed uint8 IDX file; the message names the file. A data
    fault, not a bug: a run that meets one fails with the message, not a traceback."""


def read_idx(path: Path) -> torch.Tensor:
    """Decode ``path`` into a uint8 tensor shaped as its header says."""
    path = Path(path)
    try:
        with _open(path) as f:
            dims = _read_header(f, path)
            data = _read_payload(f, path, dims)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise IdxError(f"{path}: bad gzip data ({e})") from e
    if not data:  # frombuffer rejects an empty buffer; a zero dimension is still well formed
        return torch.empty(dims, dtype=torch.uint8)
    # frombuffer shares the bytearray's memory (no copy) and, being writable, raises no warning.
    return torch.frombuffer(data, dtype=torch.uint8).reshape(dims)


def _open(path: Path) -> BinaryIO:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    f = path.open("rb")
    if f.read(2) == b"\x1f\x8b":  # gzip'd without the suffix (raw IDX starts with 00 00)
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    f.seek(0)
    return f


def _read_header(f: BinaryIO, path: Path) -> tuple[int, ...]:
    head = f.read(4)
    if len(head) < 4:
        raise IdxError(f"{path}: truncated: {len(head)} bytes, too short for an IDX header")
    zero, dtype, ndim = struct.unpack(">HBB", head)
    if zero != 0:
        raise IdxError(f"{path}: bad magic 0x{head.hex()}: an IDX file starts with two zero bytes")
    if dtype != UINT8:
        raise IdxError(
            f"{path}: unsupported IDX data type 0x{dtype:02x} (only 0x08, unsigned bytes, is read)"
        )
    if ndim == 0:
        raise IdxError(f"{path}: bad magic 0x{head.hex()}: the header declares no dimensions")
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise IdxError(f"{path}: truncated: the header ends inside its {ndim} dimensions")
    return struct.unpack(f">{ndim}I", raw)


def _read_payload(f: BinaryIO, path: Path, dims: tuple[int, ...]) -> bytearray:
    need = math.prod(dims)
    shape = "×".join(map(str, dims))
    # Grow in chunks rather than allocating `need` up front, so a corrupt header claiming
    # terabytes fails on the data actually present instead of exhausting memory.
    data = bytearray()
    while len(data) <= need:
        chunk = f.read(min(_CHUNK, need + 1 - len(data)))
        if not chunk:
            break
        data += chunk
    if len(data) < need:
        raise IdxError(
            f"{path}: truncated: {len(data)} data bytes, but the dimensions {shape} need {need}"
        )
    if len(data) > need:
        raise IdxError(
            f"{path}: wrong size: more data than the dimensions {shape} account for ({need} bytes)"
        )
    return data
