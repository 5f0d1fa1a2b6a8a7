"""Fashion-MNIST loader: tiny sets in the real format, and the real data where it is installed."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from lab.data import fashion_mnist, hub
from lab.data.idx import IdxError

SYSTEM = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub that never downloads and ignores this machine's system copy; returns a folder
    on $D2L_LAB_DATA to put files in."""
    monkeypatch.setenv("D2L_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("D2L_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("D2L_LAB_OFFLINE", "1")
    fm = hub.DATASETS["fashion-mnist"]
    monkeypatch.setitem(hub.DATASETS, fm.id, hub.Dataset(fm.id, fm.title, fm.files))
    return tmp_path / "data" / "fashion-mnist"


def write(folder: Path, name: str, dims: tuple[int, ...], data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">HBB", 0, 8, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    (folder / name).write_bytes(gzip.compress(header + data))


def write_split(folder: Path, prefix: str, labels: list[int], n_images: int | None = None) -> bytes:
    n = len(labels) if n_images is None else n_images
    pixels = bytes((i * 13) % 256 for i in range(n * 28 * 28))
    write(folder, f"{prefix}-images-idx3-ubyte.gz", (n, 28, 28), pixels)
    write(folder, f"{prefix}-labels-idx1-ubyte.gz", (len(labels),), bytes(labels))
    return pixels


def test_loads_tiny_set(env: Path) -> None:
    pixels = write_split(env, "train", [9, 0, 3])
    write_split(env, "t10k", [1, 2])
    train, test = fashion_mnist.load()
    assert train.images.shape == (3, 28, 28) and train.images.dtype == torch.uint8
    assert train.images.flatten().tolist() == list(pixels)
    assert train.labels.tolist() == [9, 0, 3] and train.labels.dtype == torch.int64
    assert test.images.shape == (2, 28, 28) and test.labels.tolist() == [1, 2]


def test_count_mismatch_is_idx_error(env: Path) -> None:
    write_split(env, "train", [9, 0, 3], n_images=4)
    write_split(env, "t10k", [1, 2])
    with pytest.raises(IdxError, match="train-labels-idx1-ubyte.*3 labels.*4 images"):
        fashion_mnist.load()


def test_label_out_of_range_is_idx_error(env: Path) -> None:
    write_split(env, "train", [9, 10])
    write_split(env, "t10k", [1])
    with pytest.raises(IdxError, match="label 10"):
        fashion_mnist.load()


def test_missing_offline_says_how_to_get(env: Path) -> None:
    with pytest.raises(hub.DataMissing, match="d2l-lab data import fashion-mnist DIR"):
        fashion_mnist.load()


def test_classes() -> None:
    assert len(fashion_mnist.CLASSES) == 10 and fashion_mnist.CLASSES[9] == "ankle boot"


@pytest.mark.skipif(not SYSTEM.is_dir(),
                    reason=f"{SYSTEM} absent: apt-get install dataset-fashion-mnist to run this")
@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                          reason="no CUDA device"))],
)
def test_real_fashion_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, device: str) -> None:
    monkeypatch.setenv("D2L_LAB_HOME", str(tmp_path))
    monkeypatch.delenv("D2L_LAB_DATA", raising=False)
    monkeypatch.setenv("D2L_LAB_OFFLINE", "1")  # found on disk, or the test fails: no download
    assert hub.locate("fashion-mnist") == SYSTEM
    train, test = fashion_mnist.load(device)
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert train.labels.shape == (60000,) and test.labels.shape == (10000,)
    for split in (train, test):
        assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.int64
        assert split.images.device.type == device and split.labels.device.type == device
        assert int(split.labels.min()) == 0 and int(split.labels.max()) == 9
        # Balanced classes: 6000 (train) / 1000 (test) of each.
        assert torch.bincount(split.labels).tolist() == [len(split.labels) // 10] * 10
    assert int(train.labels[0]) == 9  # the first training image is an ankle boot
    assert int(train.images.max()) == 255
