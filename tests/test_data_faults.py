"""Data that is missing, damaged or out of reach: each is a message naming the file (or dataset)
and what to do, in the loaders, in a run's record and on the CLI's screen (never a traceback);
and nothing half-written is left in the cache."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from lab import catalog, runner
from lab.data import fashion_mnist, hub
from lab.data.hub import DataDamaged, DataFile, DataMissing, Dataset
from lab.data.idx import IdxError
from lab.data.nmt import read_data_nmt
from lab.data.text import read_time_machine
from lab.paths import data_cache
from lab.store import RunRecord, Store
from tests.test_bad_input import invoke
from tests.test_data_hub import (
    FASHION_NAMES,
    fashion_without_system_copy,
    idx,
    one_file,
    register,
    server,  # noqa: F401 (a fixture)
    tiny_fashion,
)

FETCH, IMPORT_DIR = "d2l-lab data fetch fashion-mnist", "d2l-lab data import fashion-mnist DIR"


@pytest.fixture
def no_system_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fashion-MNIST found only where a test puts it, not in this machine's Debian copy."""
    fashion_without_system_copy(monkeypatch)


def shown(text: str, screen: str) -> bool:
    """Whether ``text`` is on the screen: rich wraps at 80 columns, even inside a long path."""
    return "".join(text.split()) in "".join(screen.split())


def one_run() -> tuple[RunRecord, Path]:
    records = Store().recent(None)
    assert len(records) == 1, records
    return records[0], Store().run_dir(records[0].id)


def error_messages(run_dir: Path) -> list[str]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    return [e["text"] for e in events if e["kind"] == "message" and e["level"] == "error"]


def assert_failed_cleanly(code: int, stdout: str, stderr: str, first_line: str) -> None:
    """The CLI's exit 1, the reason on screen, the run recorded as failed with that reason,
    and no traceback anywhere."""
    assert code == 1, stdout + stderr
    assert "Traceback" not in stdout + stderr
    record, run_dir = one_run()
    assert record.status == "failed" and record.reason == first_line
    assert shown(f"s: {first_line}", stdout)  # "failed in 0.3s: <the reason>"
    assert not (run_dir / "traceback.txt").exists()


# -- missing ------------------------------------------------------------------------------------

def test_missing_data_offline_fails_the_run_saying_how_to_get_it(no_system_copy) -> None:
    code, stdout, stderr = invoke("run", "softmax", "--set", "epochs=1")
    first = ("The dataset 'fashion-mnist' is not on this machine, and D2L_LAB_OFFLINE is set, so "
             "nothing is downloaded.")
    assert_failed_cleanly(code, stdout, stderr, first)
    for command in (FETCH, IMPORT_DIR, "sudo apt install dataset-fashion-mnist"):
        assert shown(command, stdout)
    assert not (data_cache() / "fashion-mnist").exists()


# -- damaged Fashion-MNIST ---------------------------------------------------------------------

def cut_gzip(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-20])


def gunzipped(path: Path) -> None:
    path.write_bytes(gzip.decompress(path.read_bytes()))


def writer(payload: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(gzip.compress(payload))


DAMAGE = {  # file, how it is damaged, what the message says is wrong
    "cut-short-gzip": ("train-images-idx3-ubyte.gz", cut_gzip, "bad gzip data"),
    "not-gzipped": ("train-labels-idx1-ubyte.gz", gunzipped, "bad gzip data"),
    "empty": ("t10k-images-idx3-ubyte.gz", lambda p: p.write_bytes(b""), "too short"),
    "short-payload": ("t10k-labels-idx1-ubyte.gz", writer(idx((2,), b"\x01")), "truncated"),
    "wrong-magic": ("train-labels-idx1-ubyte.gz", writer(idx((3,), b"\0\1\2", zero=0x0100)),
                    "bad magic"),
    "wrong-shape": ("train-images-idx3-ubyte.gz", writer(idx((3, 27, 28), bytes(3 * 27 * 28))),
                    "wrong size: expected N×28×28 images, found 3×27×28"),
    "label-count": ("t10k-labels-idx1-ubyte.gz", writer(idx((5,), bytes(5))),
                    "wrong size: 5 labels"),
    "label-range": ("train-labels-idx1-ubyte.gz", writer(idx((3,), b"\0\1\x0c")),
                    "label 12 is not a class"),
}


def damaged_cache(case: str) -> Path:
    """The tiny set in the lab's cache with one file damaged; returns that file."""
    name, damage, _ = DAMAGE[case]
    path = tiny_fashion(data_cache() / "fashion-mnist") / name
    damage(path)
    return path


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_file_names_itself_its_fault_and_what_to_do(case: str, no_system_copy) -> None:
    path = damaged_cache(case)
    with pytest.raises(IdxError) as info:
        fashion_mnist.load()
    message = str(info.value)
    assert isinstance(info.value, DataDamaged)  # a data fault: a run reports it, no traceback
    first = message.splitlines()[0]
    assert first.startswith(f"{path}: ") and DAMAGE[case][2] in first, first
    assert f"delete {path} (or move it away) first" in message
    assert "`d2l-lab data fetch fashion-mnist --force` downloads it again" in message  # cached
    assert FETCH in message and IMPORT_DIR in message


def test_a_run_on_a_cut_short_file_fails_with_its_name_and_no_traceback(no_system_copy) -> None:
    path = damaged_cache("cut-short-gzip")
    code, stdout, stderr = invoke("run", "softmax", "--set", "epochs=1")
    record, run_dir = one_run()
    assert record.reason.startswith(f"{path}: bad gzip data")
    assert_failed_cleanly(code, stdout, stderr, record.reason)
    [message] = error_messages(run_dir)
    assert f"delete {path}" in message and FETCH in message
    assert path.read_bytes()  # what the user has is never deleted for them


def test_a_batch_larger_than_the_data_found_is_one_batch_of_it(no_system_copy) -> None:
    tiny_fashion(data_cache() / "fashion-mnist", n_train=6, n_test=4)  # batch_size 256 > 6
    code, stdout, _ = invoke("run", "softmax", "--set", "epochs=2", "--json")
    assert code == 0, stdout
    record, _ = one_run()
    assert record.status == "finished"


def test_a_path_with_brackets_is_shown_as_it_is(no_system_copy, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "data [/]"
    path = tiny_fashion(folder / "fashion-mnist") / FASHION_NAMES[0]
    cut_gzip(path)
    monkeypatch.setenv("D2L_LAB_DATA", str(folder))
    code, stdout, stderr = invoke("run", "softmax", "--set", "epochs=1")
    assert_failed_cleanly(code, stdout, stderr, one_run()[0].reason)
    assert shown(f"{path}: bad gzip data", stdout)
    code, _, stderr = invoke("data", "import", "time-machine", str(folder / "tm [/].txt"))
    assert code == 1 and shown(f"{folder / 'tm [/].txt'} is not a folder", stderr)


# -- downloads and imports ----------------------------------------------------------------------

@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloads allowed (conftest forbids them), and no proxy between the test and 127.0.0.1."""
    monkeypatch.delenv("D2L_LAB_OFFLINE")
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def test_no_network_fails_the_run_saying_how_to_get_it_and_leaves_no_partial_file(
    network, monkeypatch: pytest.MonkeyPatch
) -> None:
    fm = hub.DATASETS["fashion-mnist"]
    unreachable = tuple(DataFile(f.name, f"http://127.0.0.1:9/{f.name}", f.checksum, f.size)
                        for f in fm.files)  # port 9 (discard): refused at once
    register(monkeypatch, Dataset(fm.id, fm.title, unreachable, apt_package=fm.apt_package))
    code, stdout, stderr = invoke("run", "softmax", "--set", "epochs=1")
    record, _ = one_run()
    assert record.reason.startswith(f"Could not download {FASHION_NAMES[0]} from "
                                    f"http://127.0.0.1:9/{FASHION_NAMES[0]}")
    assert_failed_cleanly(code, stdout, stderr, record.reason)
    assert shown(FETCH, stdout) and shown(IMPORT_DIR, stdout)
    assert list((data_cache() / "fashion-mnist").iterdir()) == []


def test_ctrl_c_during_a_download_leaves_nothing_half_written(
    network, server, monkeypatch: pytest.MonkeyPatch  # noqa: F811 (the fixture)
) -> None:
    url, served = server
    payload = bytes(range(256)) * 1024  # several chunks
    (served / "blob.bin").write_bytes(payload)
    register(monkeypatch, one_file("tiny", "blob.bin", url + "blob.bin",
                                   checksum="sha1:" + hashlib.sha1(payload).hexdigest()))

    def interrupt(name: str, done: int, total: int | None) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hub.fetch("tiny", progress=interrupt)
    assert list((data_cache() / "tiny").iterdir()) == []  # no .partial- file, no blob.bin
    assert (hub.fetch("tiny") / "blob.bin").read_bytes() == payload  # the next try completes


def test_a_killed_downloads_partial_file_is_cleaned_up_by_the_next_one(
    network, server, monkeypatch: pytest.MonkeyPatch  # noqa: F811 (the fixture)
) -> None:
    url, served = server
    (served / "blob.bin").write_bytes(payload := b"x" * 5000)
    register(monkeypatch, one_file("tiny", "blob.bin", url + "blob.bin",
                                   checksum="sha1:" + hashlib.sha1(payload).hexdigest()))
    cache = data_cache() / "tiny"
    cache.mkdir(parents=True)
    stale, live = cache / ".partial-abc-blob.bin", cache / ".partial-def-blob.bin"
    stale.write_bytes(b"half")  # what a SIGKILL mid-download leaves: no cleanup ran
    live.write_bytes(b"growing")  # another process's download, still being written
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    assert (hub.fetch("tiny") / "blob.bin").read_bytes() == payload
    assert sorted(p.name for p in cache.iterdir()) == [live.name, "blob.bin"]


def test_an_import_with_the_wrong_sha1_is_refused_and_nothing_lands(tmp_path: Path) -> None:
    copy = tmp_path / "timemachine.txt"
    copy.write_text("The Time Traveller (for so it will be convenient to speak of him)\n")
    code, stdout, stderr = invoke("data", "import", "time-machine", str(copy))
    assert code == 1 and "Traceback" not in stdout + stderr
    assert shown(f"{copy} differs from the book's timemachine.txt: its sha1 is", stderr)
    assert shown("the book's is 090b5e7e70c295757f55df93cb0a180b9691891a", stderr)
    assert f"\n  d2l-lab data import time-machine {copy} --accept-checksum\n" in stderr
    assert list((data_cache() / "time-machine").iterdir()) == []
    assert not hub.is_available("time-machine")


# -- damaged text -------------------------------------------------------------------------------

@pytest.fixture
def own_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a test writes the time machine (or fra-eng) file the hub then finds."""
    folder = tmp_path / "texts"
    folder.mkdir()
    monkeypatch.setenv("D2L_LAB_DATA", str(folder))
    return folder


@pytest.mark.parametrize(("content", "fault"), [
    (b"", "holds no text (no letters a–z in it)"),
    (b"\n  1895 -- 42 ...\n\n", "holds no text (no letters a–z in it)"),
    (b"\x89PNG\r\n\x1a\n\xff\xfe", "not UTF-8 text (invalid start byte at byte 0)"),
], ids=["empty", "no-letters", "binary"])
def test_an_empty_or_foreign_time_machine_says_so(content: bytes, fault: str,
                                                  own_text: Path) -> None:
    path = own_text / "timemachine.txt"
    path.write_bytes(content)
    with pytest.raises(DataDamaged) as info:
        read_time_machine()
    message = str(info.value)
    assert message.splitlines()[0] == f"{path}: {fault}"
    assert f"delete {path}" in message and "d2l-lab data import time-machine FILE" in message


def test_a_language_model_on_an_empty_text_fails_naming_the_file(own_text: Path) -> None:
    path = own_text / "timemachine.txt"
    path.write_text("")
    code, stdout, stderr = invoke("run", "rnn", "--set", "epochs=1")
    assert_failed_cleanly(code, stdout, stderr,
                          f"{path}: holds no text (no letters a–z in it)")


def test_a_text_too_short_for_one_batch_fails_naming_what_to_change(own_text: Path) -> None:
    (own_text / "timemachine.txt").write_text("the time machine\n" * 20)  # 320 characters
    exp = catalog.get("rnn")
    result = runner.run(exp, exp.resolve("book", {"epochs": "1"}))
    assert result.status == "failed"
    assert "max_tokens: 320 characters make no batch of 32 × 35; need at least 1156 (or a " \
           "smaller batch_size)" in result.reason


def test_a_text_too_short_for_one_batch_is_reported_as_a_user_error(own_text: Path) -> None:
    (own_text / "timemachine.txt").write_text("the time machine\n" * 20)
    exp = catalog.get("rnn")
    result = runner.run(exp, exp.resolve("book", {"epochs": "1"}))
    assert result.reason.startswith("max_tokens: 320 characters")
    assert not (result.run_dir / "traceback.txt").exists()


def fra_zip(folder: Path, text: str | None, cut: bool = False) -> Path:
    """fra-eng.zip holding fra-eng/fra.txt with ``text`` (None: no fra.txt), maybe cut short."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        if text is None:
            z.writestr("readme.txt", "hello")
        else:
            z.writestr("fra-eng/fra.txt", text)
    data = buffer.getvalue()
    path = folder / "fra-eng.zip"
    path.write_bytes(data[:len(data) // 2] if cut else data)
    return path


@pytest.mark.parametrize(("text", "cut", "fault"), [
    ("Go.\tVa !\n", True, "File is not a zip file"),
    (None, False, "holds no fra.txt"),
    ("", False, "its fra-eng/fra.txt holds no tab-separated sentence pairs"),
    ("Go. Va !\nHi. Salut !\n", False, "holds no tab-separated sentence pairs"),
], ids=["cut-short", "no-fra-txt", "empty", "no-tabs"])
def test_a_damaged_fra_eng_archive_says_which_and_what_to_do(text: str | None, cut: bool,
                                                             fault: str, own_text: Path) -> None:
    path = fra_zip(own_text, text, cut)
    with pytest.raises(DataDamaged) as info:
        read_data_nmt()
    first = str(info.value).splitlines()[0]
    assert first.startswith(f"{path}: ") and fault in first
    assert "d2l-lab data import fra-eng FILE" in str(info.value)
    result = runner.run(catalog.get("nmt-data"), catalog.get("nmt-data").resolve())
    assert result.status == "failed" and result.reason == first
    assert not (result.run_dir / "traceback.txt").exists()


def test_an_empty_house_prices_file_names_itself(own_text: Path) -> None:
    (own_text / "kaggle_house_pred_train.csv").write_text("")
    (own_text / "kaggle_house_pred_test.csv").write_text("Id,MSSubClass\n1461,20\n")
    exp = catalog.get("house-prices")
    result = runner.run(exp, exp.resolve("book", {"epochs": "1"}))
    assert result.status == "failed"
    assert result.reason.startswith(f"{own_text / 'kaggle_house_pred_train.csv'}: ")
    assert not (result.run_dir / "traceback.txt").exists()
    assert any("d2l-lab data import kaggle-house DIR" in text
               for text in error_messages(result.run_dir))


def test_missing_data_is_a_data_missing_not_a_damaged_file(no_system_copy) -> None:
    with pytest.raises(DataMissing) as info:
        fashion_mnist.load()
    assert not isinstance(info.value, DataDamaged)
    assert "delete" not in str(info.value)


def test_only_the_labs_own_copy_is_offered_a_forced_download(tmp_path: Path) -> None:
    """A damaged file in a D2L_LAB_DATA folder would still be found before a download into
    the cache: there, deleting it (or moving it away) is the way."""
    cached = data_cache() / "time-machine" / "timemachine.txt"
    elsewhere = tmp_path / "timemachine.txt"
    assert "--force" in hub.damaged_message("time-machine", cached, "fault")
    message = hub.damaged_message("time-machine", elsewhere, "fault")
    assert "--force" not in message and f"delete {elsewhere}" in message
