"""IDX reader: tiny files written byte by byte in the real format, gzip'd and raw."""

from __future__ import annotations

import gzip
import struct
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.data.idx import IdxError, read_idx


def idx_bytes(dims: tuple[int, ...], data: bytes, dtype: int = 0x08) -> bytes:
    return struct.pack(">HBB", 0, dtype, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + data


def write(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload) if path.name.endswith(".gz") else payload)
    return path


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_reads_images_exactly(tmp_path: Path, name: str) -> None:
    data = bytes(range(2 * 3 * 4))
    t = read_idx(write(tmp_path / name, idx_bytes((2, 3, 4), data)))
    assert t.dtype == torch.uint8
    assert t.shape == (2, 3, 4)
    assert t.flatten().tolist() == list(data)
    assert t[1, 2, 3].item() == 23  # C order: the last index varies fastest


def test_reads_labels(tmp_path: Path) -> None:
    t = read_idx(write(tmp_path / "labels.gz", idx_bytes((5,), bytes([9, 0, 0, 3, 255]))))
    assert t.tolist() == [9, 0, 0, 3, 255]


def test_gzip_detected_without_suffix(tmp_path: Path) -> None:
    path = tmp_path / "labels"
    path.write_bytes(gzip.compress(idx_bytes((3,), b"\x01\x02\x03")))
    assert read_idx(path).tolist() == [1, 2, 3]


def test_zero_items(tmp_path: Path) -> None:
    assert read_idx(write(tmp_path / "empty", idx_bytes((0, 28, 28), b""))).shape == (0, 28, 28)


@settings(max_examples=40, deadline=None)
@given(dims=st.lists(st.integers(1, 6), min_size=1, max_size=4), gz=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_roundtrip(dims: list[int], gz: bool, seed: int) -> None:
    n = torch.Size(dims).numel()
    data = torch.randint(0, 256, (n,), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))
    with tempfile.TemporaryDirectory() as d:
        payload = idx_bytes(tuple(dims), data.numpy().tobytes())
        path = write(Path(d) / ("x.gz" if gz else "x"), payload)
        assert torch.equal(read_idx(path), data.reshape(dims))


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"\x01\x00" + idx_bytes((2,), b"\x00\x00")[2:], "bad magic"),
        (idx_bytes((2,), b"\x00\x00", dtype=0x0D), "data type 0x0d"),
        (b"\x00\x00\x08", "truncated"),
        (idx_bytes((60000, 28, 28), b"")[:10], "truncated"),
        (idx_bytes((2, 2), b"\x00" * 3), "truncated"),
        (idx_bytes((2, 2), b"\x00" * 5), "wrong size"),
        (struct.pack(">HBB", 0, 8, 0), "no dimensions"),
    ],
)
@pytest.mark.parametrize("name", ["f-idx", "f-idx.gz"])
def test_malformed_files_name_file_and_fault(
    tmp_path: Path, payload: bytes, words: str, name: str
) -> None:
    path = write(tmp_path / name, payload)
    with pytest.raises(IdxError, match=words) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_bad_gzip(tmp_path: Path) -> None:
    path = tmp_path / "images.gz"
    path.write_bytes(idx_bytes((2,), b"\x00\x00"))  # named .gz but not compressed
    with pytest.raises(IdxError, match="bad gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx_bytes((100,), bytes(100)))[:-12])
    with pytest.raises(IdxError, match="bad gzip|truncated") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_huge_header_fails_without_allocating(tmp_path: Path) -> None:
    # A corrupt header claiming ~4 TB must be rejected from the data present, not by a MemoryError.
    path = write(tmp_path / "huge", idx_bytes((0xFFFFFFFF, 1000), b"\x00" * 10))
    with pytest.raises(IdxError, match="truncated"):
        read_idx(path)
