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
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy machine its waits at every
    small operation make them many times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BOOK_TIME_MACHINE = SHARED_DATA / "timemachine.txt"


def generated_story(lines: int = 400, seed: int = 0) -> str:
    """An English-like text for when the book's is missing: a few sentences, shuffled and
    repeated, so a character model has real words to learn and n-grams to count."""
    import random

    rng = random.Random(seed)
    sentences = [
        "The Time Traveller (for so it will be convenient to speak of him) was expounding",
        "a recondite matter to us. His grey eyes shone and twinkled, and his usually pale face",
        "was flushed and animated. The fire burned brightly, and the soft radiance of the lights",
        "caught the bubbles that flashed and passed in our glasses. -- I saw the time machine!",
        "It was a glittering metallic framework, scarcely larger than a small clock.",
    ]
    return "\n".join(rng.choice(sentences) if i % 7 else "" for i in range(lines)) + "\n"


@pytest.fixture
def time_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """The time machine for the hub: the book's file from ../shared/data when present (returns
    True: the book's exact numbers apply), else a generated story (returns False)."""
    if BOOK_TIME_MACHINE.is_file():
        monkeypatch.setenv("D2L_LAB_DATA", str(SHARED_DATA))
        return True
    folder = tmp_path / "generated-text"
    folder.mkdir()
    (folder / "timemachine.txt").write_text(generated_story())
    monkeypatch.setenv("D2L_LAB_DATA", str(folder))
    return False


FRA_ZIP = SHARED_DATA / "sha1_mismatch" / "fra-eng.zip"  # not the book's archive: see fra_eng


@pytest.fixture
def fra_zip() -> Path:
    if not FRA_ZIP.is_file():
        pytest.skip(f"the fra-eng text is not at {FRA_ZIP}")
    return FRA_ZIP


@pytest.fixture
def fra_eng(fra_zip: Path) -> Path:
    """The fra-eng text imported through the hub (with the override: it is not the book's
    archive) into this test's lab home."""
    from lab.data import hub

    return hub.import_dir("fra-eng", fra_zip, accept_checksum=True)
