"""Data hub: search order, offline messages, downloads from a local HTTP server, imports."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.data import hub
from lab.data.hub import DataFile, DataMissing, Dataset

ROOT = Path(__file__).resolve().parents[1]
FASHION_NAMES = [f.name for f in hub.DATASETS["fashion-mnist"].files]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Hub state confined to tmp_path; returns the cache root."""
    monkeypatch.setenv("D2L_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("D2L_LAB_DATA", str(tmp_path / "nowhere"))
    monkeypatch.delenv("D2L_LAB_OFFLINE", raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # the test server is local; no proxy may intercept
    return tmp_path / "home" / "data"


def register(monkeypatch: pytest.MonkeyPatch, ds: Dataset) -> Dataset:
    monkeypatch.setitem(hub.DATASETS, ds.id, ds)
    return ds


def fashion_without_system_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fashion-MNIST minus its system dir, so this machine's copy cannot answer for the test."""
    fm = hub.DATASETS["fashion-mnist"]
    register(monkeypatch, Dataset(fm.id, fm.title, fm.files, apt_package=fm.apt_package))


def idx(dims: tuple[int, ...], data: bytes, zero: int = 0) -> bytes:
    return struct.pack(">HBB", zero, 8, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + data


def tiny_fashion(folder: Path, n_train: int = 3, n_test: int = 2, gz: bool = True) -> Path:
    """The four Fashion-MNIST files in their real format, with a handful of items each."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        pixels = bytes(i % 256 for i in range(n * 28 * 28))
        files = {
            f"{prefix}-images-idx3-ubyte.gz": idx((n, 28, 28), pixels),
            f"{prefix}-labels-idx1-ubyte.gz": idx((n,), bytes(i % 10 for i in range(n))),
        }
        for name, payload in files.items():
            if gz:
                (folder / name).write_bytes(gzip.compress(payload))
            else:
                (folder / name.removesuffix(".gz")).write_bytes(payload)
    return folder


def one_file(id: str, name: str = "a.txt", url: str = "http://127.0.0.1:9/a.txt",
             system: Path | None = None, checksum: str = "sha1:" + "0" * 40) -> Dataset:
    return Dataset(id, "test data", (DataFile(name, url, checksum),),
                   system_dirs=(str(system),) if system else ())


# --- registry and search -------------------------------------------------------------------------

def test_registry_holds_book_datasets() -> None:
    for id in ("fashion-mnist", "time-machine", "kaggle-house",
               "fra-eng", "airfoil", "hotdog", "banana-detection", "voc2012", "wikitext-2", "SNLI",
               "bert.small", "bert.base", "ptb"):
        assert id in hub.DATASETS
    tm = hub.DATASETS["time-machine"].files[0]
    assert tm.url == hub.DATA_URL + "timemachine.txt"
    assert tm.checksum == "sha1:090b5e7e70c295757f55df93cb0a180b9691891a"
    fm = hub.DATASETS["fashion-mnist"]
    assert FASHION_NAMES == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert all(f.checksum.startswith("md5:") for f in fm.files)
    assert fm.apt_package == "dataset-fashion-mnist"


def test_bad_checksum_spec_rejected() -> None:
    with pytest.raises(ValueError):
        DataFile("x", "http://x/x", "sha256:" + "0" * 64)
    with pytest.raises(ValueError):
        DataFile("x", "http://x/x", "sha1:abc")


def test_unknown_id_is_a_user_message(env: Path) -> None:
    with pytest.raises(DataMissing, match="Unknown dataset 'nope'.*time-machine"):
        hub.locate("nope")


def test_search_dirs_order(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("D2L_LAB_DATA", f"{a}{os.pathsep}{os.pathsep}{b}")
    assert hub.search_dirs("fashion-mnist") == [
        a / "fashion-mnist", a, a / "FashionMNIST" / "raw",
        b / "fashion-mnist", b, b / "FashionMNIST" / "raw",
        env / "fashion-mnist", Path("/usr/share/datasets/fashion-mnist"),
    ]
    assert hub.search_dirs("time-machine") == [a / "time-machine", a, b / "time-machine", b,
                                               env / "time-machine"]


def test_env_beats_cache_beats_system(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, user = tmp_path / "system", tmp_path / "user"
    monkeypatch.setenv("D2L_LAB_DATA", str(user))
    register(monkeypatch, one_file("tiny", system=system))
    assert hub.locate("tiny") is None and not hub.is_available("tiny")
    for folder in (system, env / "tiny", user / "tiny"):
        folder.mkdir(parents=True)
        (folder / "a.txt").write_text(folder.name)
        assert hub.locate("tiny") == folder  # each newly filled place outranks the previous one
        assert hub.file_path("tiny", "a.txt").read_text() == folder.name
    assert hub.is_available("tiny")


def test_needs_every_file_in_one_place(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_fashion(env / "fashion-mnist")
    (env / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    fashion_without_system_copy(monkeypatch)
    assert hub.locate("fashion-mnist") is None
    with pytest.raises(DataMissing, match="d2l-lab data fetch fashion-mnist"):
        hub.file_path("fashion-mnist", FASHION_NAMES[0])


def test_uncompressed_and_torchvision_layout(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fashion_without_system_copy(monkeypatch)
    raw = tiny_fashion(tmp_path / "book" / "FashionMNIST" / "raw", gz=False)
    monkeypatch.setenv("D2L_LAB_DATA", str(tmp_path / "book"))
    assert hub.locate("fashion-mnist") == raw
    assert hub.file_path("fashion-mnist", "train-images-idx3-ubyte.gz") == (
        raw / "train-images-idx3-ubyte")


# --- offline ---------------------------------------------------------------------------------

def _all_three_commands(text: str) -> None:
    assert "d2l-lab data fetch fashion-mnist" in text
    assert "apt install dataset-fashion-mnist" in text
    assert "d2l-lab data import fashion-mnist DIR" in text


def test_offline_env_never_touches_network(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D2L_LAB_OFFLINE", "1")
    fashion_without_system_copy(monkeypatch)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was touched")

    monkeypatch.setattr(hub.urllib.request, "urlopen", no_network)
    with pytest.raises(DataMissing) as err:
        hub.ensure("fashion-mnist")
    _all_three_commands(str(err.value))
    assert "D2L_LAB_OFFLINE" in str(err.value)


def test_unreachable_server_gives_how_to(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port that was just free: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = hub.DATASETS["fashion-mnist"]
    files = tuple(DataFile(f.name, f"http://127.0.0.1:{port}/{f.name}", f.checksum)
                  for f in base.files)
    register(monkeypatch, Dataset("fashion-mnist", "t", files, apt_package=base.apt_package))
    with pytest.raises(DataMissing) as err:
        hub.fetch("fashion-mnist")
    _all_three_commands(str(err.value))
    assert f"127.0.0.1:{port}" in str(err.value)
    assert [p for p in (env / "fashion-mnist").iterdir()] == []


# --- downloads ------------------------------------------------------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder it serves) for a real HTTP server on 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    httpd.shutdown()
    httpd.server_close()


PAYLOAD = bytes(i * 31 % 251 for i in range(300_000))  # several download chunks


def test_fetch_verifies_and_lands_in_cache(
    env: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = server
    (served / "blob.bin").write_bytes(PAYLOAD)
    sha1 = hashlib.sha1(PAYLOAD).hexdigest()
    register(monkeypatch, one_file("tiny", "blob.bin", url + "blob.bin", checksum="sha1:" + sha1))
    calls: list[tuple[str, int, int | None]] = []
    folder = hub.ensure("tiny", progress=lambda *a: calls.append(a))
    assert folder == env / "tiny"
    assert (folder / "blob.bin").read_bytes() == PAYLOAD
    assert sorted(p.name for p in folder.iterdir()) == ["blob.bin"]
    done = [c[1] for c in calls]
    assert len(calls) > 2 and done == sorted(done) and done[0] == 0 and done[-1] == len(PAYLOAD)
    assert {c[0] for c in calls} == {"blob.bin"} and {c[2] for c in calls} == {len(PAYLOAD)}
    # A second ensure finds it and downloads nothing.
    (served / "blob.bin").unlink()
    calls.clear()
    assert hub.ensure("tiny", progress=lambda *a: calls.append(a)) == folder and calls == []


def test_fetch_force_replaces_a_damaged_copy_only_with_a_verified_one(
    env: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = server
    register(monkeypatch, one_file("tiny", "blob.bin", url + "blob.bin",
                                   checksum="sha1:" + hashlib.sha1(PAYLOAD).hexdigest()))
    (env / "tiny").mkdir(parents=True)
    cached = env / "tiny" / "blob.bin"
    cached.write_bytes(b"damaged")
    (served / "blob.bin").write_bytes(b"not the payload either")
    assert hub.fetch("tiny") == env / "tiny" and cached.read_bytes() == b"damaged"  # kept
    with pytest.raises(DataMissing, match="it was discarded"):
        hub.fetch("tiny", force=True)  # a bad download replaces nothing
    assert cached.read_bytes() == b"damaged"
    (served / "blob.bin").write_bytes(PAYLOAD)
    assert (hub.fetch("tiny", force=True) / "blob.bin").read_bytes() == PAYLOAD
    assert sorted(p.name for p in (env / "tiny").iterdir()) == ["blob.bin"]


def test_fetch_md5(env: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    url, served = server
    (served / "b").write_bytes(b"hello")
    md5 = hashlib.md5(b"hello").hexdigest()
    register(monkeypatch, one_file("tiny", "b", url + "b", checksum="md5:" + md5))
    assert (hub.fetch("tiny") / "b").read_bytes() == b"hello"


def test_checksum_mismatch_leaves_nothing(
    env: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = server
    (served / "blob.bin").write_bytes(PAYLOAD)
    wrong = "1" * 40
    register(monkeypatch, one_file("tiny", "blob.bin", url + "blob.bin", checksum="sha1:" + wrong))
    with pytest.raises(DataMissing) as err:
        hub.fetch("tiny")
    text = str(err.value)
    assert "blob.bin" in text and wrong in text and hashlib.sha1(PAYLOAD).hexdigest() in text
    assert list((env / "tiny").iterdir()) == []  # neither the file nor a temp file
    assert not hub.is_available("tiny")


def test_http_error_is_data_missing(
    env: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    register(monkeypatch, one_file("tiny", "gone.txt", url + "gone.txt"))
    with pytest.raises(DataMissing, match="gone.txt.*HTTP 404"):
        hub.fetch("tiny")
    assert list((env / "tiny").iterdir()) == []


# --- imports -------------------------------------------------------------------------------------

def test_import_fashion_copies_valid_set(env: Path, tmp_path: Path) -> None:
    src = tiny_fashion(tmp_path / "src")
    dest = hub.import_dir("fashion-mnist", src)
    assert dest == env / "fashion-mnist"
    assert sorted(p.name for p in dest.iterdir()) == sorted(FASHION_NAMES)
    for name in FASHION_NAMES:
        assert (dest / name).read_bytes() == (src / name).read_bytes()
    assert hub.locate("fashion-mnist") == dest


def test_import_accepts_uncompressed_and_torchvision_root(env: Path, tmp_path: Path) -> None:
    tiny_fashion(tmp_path / "data" / "FashionMNIST" / "raw", gz=False)
    dest = hub.import_dir("fashion-mnist", tmp_path / "data")
    assert sorted(p.name for p in dest.iterdir()) == sorted(n[:-3] for n in FASHION_NAMES)


def test_import_rejects_wrong_magic(env: Path, tmp_path: Path) -> None:
    src = tiny_fashion(tmp_path / "src")
    bad = src / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(idx((2,), b"\x00\x01", zero=0x0100)))
    with pytest.raises(DataMissing) as err:
        hub.import_dir("fashion-mnist", src)
    assert str(bad) in str(err.value) and "bad magic" in str(err.value)
    assert list((env / "fashion-mnist").iterdir()) == []  # nothing lands, not even valid files


def test_import_rejects_uncompressed_file_named_gz(env: Path, tmp_path: Path) -> None:
    src = tiny_fashion(tmp_path / "src")
    bad = src / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.decompress(bad.read_bytes()))
    with pytest.raises(DataMissing, match="bad gzip") as err:
        hub.import_dir("fashion-mnist", src)
    assert str(bad) in str(err.value)


def test_import_rejects_labels_in_images_place(env: Path, tmp_path: Path) -> None:
    src = tiny_fashion(tmp_path / "src")
    (src / "train-images-idx3-ubyte.gz").write_bytes(
        (src / "train-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(DataMissing, match="train-images-idx3-ubyte.gz.*0x00000803"):
        hub.import_dir("fashion-mnist", src)


def test_import_rejects_mismatched_counts(env: Path, tmp_path: Path) -> None:
    src = tiny_fashion(tmp_path / "src")
    (src / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx((2,), b"\x00\x01")))
    with pytest.raises(DataMissing, match="train-images.*3 images but .*train-labels.* 2 labels"):
        hub.import_dir("fashion-mnist", src)


def test_import_names_missing_file(env: Path, tmp_path: Path) -> None:
    src = tiny_fashion(tmp_path / "src")
    (src / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataMissing, match="lacks train-labels-idx1-ubyte.gz"):
        hub.import_dir("fashion-mnist", src)


def test_import_plain_dataset(env: Path, tmp_path: Path) -> None:
    (tmp_path / "timemachine.txt").write_text("The Time Traveller")
    # Not the book's text, so its sha1 differs: taken only when told to.
    dest = hub.import_dir("time-machine", tmp_path / "timemachine.txt", accept_checksum=True)
    assert (dest / "timemachine.txt").read_text() == "The Time Traveller"
    assert hub.locate("time-machine") == dest
    (tmp_path / "wells.txt").write_text("a copy under another name")  # one file: any name
    assert hub.import_dir("time-machine", tmp_path / "wells.txt", accept_checksum=True) == dest
    assert (dest / "timemachine.txt").read_text() == "a copy under another name"
    assert "d2l-lab data import time-machine FILE" in hub.how_to_get("time-machine")


def test_hub_import_does_not_import_torch() -> None:
    code = "import lab.data.hub, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
