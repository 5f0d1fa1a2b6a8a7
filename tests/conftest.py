"""Shared by every test: each gets its own lab home and never touches the network."""

from __future__ import annotations

from pathlib import Path

import pytest

SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "lab-home"
    monkeypatch.setenv("D2L_LAB_HOME", str(home))
    monkeypatch.setenv("D2L_LAB_OFFLINE", "1")
    monkeypatch.delenv("D2L_LAB_DATA", raising=False)
    return home


@pytest.fixture
def fashion_mnist() -> Path:
    """The real Fashion-MNIST from Debian's dataset-fashion-mnist; skips (visibly) without it."""
    if not (SYSTEM_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("real Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    return SYSTEM_FASHION_MNIST


@pytest.fixture
def small_fashion_mnist(fashion_mnist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real Fashion-MNIST cut to 3000 training and 1000 test images, for runs of seconds."""
    from lab.data import fashion_mnist as fm

    full = fm.load

    def small(device="cpu", progress=None):
        train, test = full(device, progress)
        return (fm.Split(train.images[:3000], train.labels[:3000]),
                fm.Split(test.images[:1000], test.labels[:1000]))

    monkeypatch.setattr(fm, "load", small)
