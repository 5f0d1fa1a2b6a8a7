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
