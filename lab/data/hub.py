"""The dataset hub: each dataset's files, where to find them, how to download or import them.

Kept free of torch at import time so that `d2l-lab data list` stays instant.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shlex
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lab.paths import data_cache

Progress = Callable[[str, int, int | None], None]  # (file name, bytes done, total or None)

DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_CHUNK = 1 << 16
_TIMEOUT_S = 30
# A download in progress writes its .partial- file at least every _TIMEOUT_S: one untouched for
# this long was left by a process killed mid-download (SIGKILL skips the cleanup), and goes.
_STALE_PARTIAL_S = 10 * _TIMEOUT_S


class DataMissing(Exception):
    """Data that is not on this machine and could not be got; str() is meant for the user."""


class DataDamaged(DataMissing):
    """A data file that is there but cannot be read as its dataset (cut short, empty, another
    file under its name); str() names the file, what is wrong, and how to get a good copy."""


@dataclass(frozen=True)
class DataFile:
    name: str
    url: str
    checksum: str  # "sha1:<hex>" or "md5:<hex>"
    size: int | None = None  # bytes, where known: shown in listings and used when a server omits it

    def __post_init__(self) -> None:
        algo, _, digest = self.checksum.partition(":")
        if algo not in ("sha1", "md5") or len(digest) != hashlib.new(algo).digest_size * 2:
            raise ValueError(f"{self.name}: checksum must be 'sha1:<hex>' or 'md5:<hex>'")


@dataclass(frozen=True)
class Dataset:
    id: str
    title: str
    files: tuple[DataFile, ...]
    system_dirs: tuple[str, ...] = ()
    apt_package: str | None = None

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files if f.size is not None]
        return sum(sizes) if len(sizes) == len(self.files) else None


def _hub_file(name: str, sha1: str, size: int | None = None, url: str | None = None) -> DataFile:
    """A file of the book's DATA_HUB (URL under DATA_URL unless given in full)."""
    return DataFile(name, url or DATA_URL + name, "sha1:" + sha1, size)


def _hub(id: str, title: str, name: str, sha1: str, size: int | None = None,
         url: str | None = None) -> Dataset:
    """A one-file entry of the book's DATA_HUB."""
    return Dataset(id, title, (_hub_file(name, sha1, size, url),))


# torchvision publishes md5 (not sha1) for these files and nobody publishes anything else, so md5 it
# is. Sizes are the mirror's; Debian's copies differ by their gzip headers, hence no checksum there.
_FASHION = Dataset(
    "fashion-mnist",
    "Fashion-MNIST (60000 + 10000 greyscale 28×28 clothing images, 10 classes)",
    tuple(
        DataFile(name, FASHION_URL + name, "md5:" + md5, size)
        for name, md5, size in (
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", 29515),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", 4422102),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", 5148),
        )
    ),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    apt_package="dataset-fashion-mnist",
)

_ALL = (
    _FASHION,
    # The book's DATA_HUB ids kaggle_house_train and kaggle_house_test, as one dataset: lecture 15
    # needs both, and one `data import kaggle-house DIR` brings both.
    Dataset("kaggle-house", "Kaggle house prices (1460 training + 1459 test houses)", (
        _hub_file("kaggle_house_pred_train.csv", "585e9cc93e70b39160e7921475f9bcd7d31219ce",
                  460676),
        _hub_file("kaggle_house_pred_test.csv", "fa19780a7b011d9b009e8bff8e99922a8ee2eb90",
                  451405),
    )),
    _hub("time-machine", "H. G. Wells, The Time Machine", "timemachine.txt",
         "090b5e7e70c295757f55df93cb0a180b9691891a", 178979),
    _hub("fra-eng", "English–French sentence pairs (Tatoeba)", "fra-eng.zip",
         "94646ad1522d915e7b0f9296181140edcf86a4f5"),
    _hub("airfoil", "NASA airfoil self-noise", "airfoil_self_noise.dat",
         "76e5be1548fd8222e5074cf0faae75edff8cf93f", 59984),
    _hub("hotdog", "Hot dog / not hot dog images", "hotdog.zip",
         "fba480ffa8aa7e0febbb511d181409f899b9baa5"),
    _hub("banana-detection", "Banana detection (1000 + 100 images, 256²)", "banana-detection.zip",
         "5de26c8fce5ccdea9f91267273464dc968d20d72"),
    _hub("voc2012", "Pascal VOC 2012 segmentation", "VOCtrainval_11-May-2012.tar",
         "4e443f8a2eca6b1dac8a6c57641b67dd40621a49"),
    # The book's URL for WikiText-2 is dead; kept so a copy from elsewhere can be imported.
    _hub("wikitext-2", "WikiText-2", "wikitext-2-v1.zip",
         "3c914d17d80b1459be871a5039ac23e752a53cbe",
         url="https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip"),
    _hub("SNLI", "Stanford Natural Language Inference", "snli_1.0.zip",
         "9fcde07509c7e87ec61c640c1b2753d9041758e4",
         url="https://nlp.stanford.edu/projects/snli/snli_1.0.zip"),
    _hub("bert.small", "Pretrained BERT, small", "bert.small.torch.zip",
         "c72329e68a732bef0452e4b96a1c341c8910f81f"),
    _hub("bert.base", "Pretrained BERT, base", "bert.base.torch.zip",
         "225d66f04cae318b841a13d32af3acc165f253ac"),
    _hub("ptb", "Penn Treebank (word2vec)", "ptb.zip", "319d85e578af0cdc590547f26231e4e31cdf1e42",
         1981551),
    _hub("cifar10_tiny", "Kaggle CIFAR-10, tiny", "kaggle_cifar10_tiny.zip",
         "2068874e4b9a9f0fb07ebe0ad2b29754449ccacd"),
    _hub("dog_tiny", "Kaggle dog breeds, tiny", "kaggle_dog_tiny.zip",
         "0cb91d09b814ecdc07b50f31f8dcad3e81d6a86d"),
    _hub("glove.6b.50d", "GloVe 6B, 50d", "glove.6B.50d.zip",
         "0b8703943ccdb6eb788e6f091b8946e82231bc4d"),
    _hub("glove.6b.100d", "GloVe 6B, 100d", "glove.6B.100d.zip",
         "cd43bfb07e44e6f27cbcc7bc9ae3d80284fdaf5a"),
    _hub("glove.42b.300d", "GloVe 42B, 300d", "glove.42B.300d.zip",
         "b5116e234e9eb9076672cfeabf5469f3eec904fa"),
    _hub("wiki.en", "fastText English vectors", "wiki.en.zip",
         "c1816da3821ae9f43899be655002f6c723e91b88"),
    _hub("aclImdb", "IMDb movie reviews", "aclImdb_v1.tar.gz",
         "01ada507287d82875905620988597833ad4e0903",
         url="http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"),
)
DATASETS: dict[str, Dataset] = {d.id: d for d in _ALL}


def get(dataset_id: str) -> Dataset:
    try:
        return DATASETS[dataset_id]
    except KeyError:
        known = ", ".join(DATASETS)
        raise DataMissing(f"Unknown dataset '{dataset_id}'. Known datasets: {known}.") from None


# --- finding -----------------------------------------------------------------------------------

def _layouts(ds: Dataset, base: Path) -> list[Path]:
    """Folders under ``base`` that may hold the files: <base>/<id>, <base>, torchvision's layout."""
    dirs = [base / ds.id, base]
    if ds.id == "fashion-mnist":
        dirs.append(base / "FashionMNIST" / "raw")  # torchvision's root="../data" layout
    return dirs


def search_dirs(dataset_id: str) -> list[Path]:
    ds = get(dataset_id)
    dirs: list[Path] = []
    for entry in os.environ.get("D2L_LAB_DATA", "").split(os.pathsep):
        if entry:
            dirs += _layouts(ds, Path(entry).expanduser())
    dirs.append(data_cache() / ds.id)
    dirs += [Path(d) for d in ds.system_dirs]
    return dirs


def _forms(name: str) -> list[str]:
    """Names a file may have on disk, preferred first: gunzipped copies read faster."""
    return [name.removesuffix(".gz"), name] if name.endswith(".gz") else [name]


def _find(folder: Path, name: str) -> Path | None:
    return next((folder / n for n in _forms(name) if (folder / n).is_file()), None)


def _holds_all(ds: Dataset, folder: Path) -> bool:
    return all(_find(folder, f.name) for f in ds.files)


def locate(dataset_id: str) -> Path | None:
    ds = get(dataset_id)
    return next((d for d in search_dirs(dataset_id) if _holds_all(ds, d)), None)


def is_available(dataset_id: str) -> bool:
    return locate(dataset_id) is not None


def file_path(dataset_id: str, name: str) -> Path:
    ds = get(dataset_id)
    if name not in {f.name for f in ds.files}:
        raise ValueError(f"{dataset_id} has no file {name!r}")
    folder = locate(dataset_id)
    found = _find(folder, name) if folder else None
    if found is None:
        raise DataMissing(how_to_get(dataset_id))
    return found


def how_to_get(dataset_id: str, headline: str = "") -> str:
    """How to get the dataset, after ``headline`` (by default: it is not on this machine)."""
    ds = get(dataset_id)
    size = f" {ds.size / 1e6:.1f} MB" if ds.size else ""
    ways = [(f"d2l-lab data fetch {ds.id}", f"download{size} into {data_cache() / ds.id}")]
    if ds.apt_package:
        ways.append((f"sudo apt install {ds.apt_package}", "Debian/Ubuntu package"))
    if len(ds.files) == 1:
        ways.append((f"d2l-lab data import {ds.id} FILE", "copy it from a local file, the book's"))
    else:
        ways.append((f"d2l-lab data import {ds.id} DIR", "copy it from a folder DIR that holds:"))
    width = max(len(cmd) for cmd, _ in ways) + 4
    lines = [headline or f"The dataset '{ds.id}' is not on this machine.",
             "Any one of these gets it:"]
    lines += [f"  {cmd.ljust(width)}{why}" for cmd, why in ways]
    lines.append("      " + ", ".join(f.name for f in ds.files))
    lines.append(f"or set D2L_LAB_DATA to such folders (separated by '{os.pathsep}').")
    return "\n".join(lines)


def damaged_message(dataset_id: str, path: Path, fault: str) -> str:
    """What to say of a file of the dataset, found at ``path``, that does not read as it
    should: ``fault`` (naming the file and what is wrong), then how to replace it. The file must
    go first: it is still found, and `data fetch` keeps what is there (unless ``--force``, for
    a file in the lab's cache)."""
    ds = get(dataset_id)
    headline = f"The file is damaged or is not {ds.id}'s: delete {path} (or move it away) first."
    if path.is_relative_to(data_cache()):  # the lab's own copy: a download replaces it
        headline += f"\n`d2l-lab data fetch {ds.id} --force` downloads it again in its place."
    return f"{fault}\n{how_to_get(ds.id, headline)}"


# --- getting -----------------------------------------------------------------------------------

def ensure(dataset_id: str, progress: Progress | None = None) -> Path:
    return locate(dataset_id) or fetch(dataset_id, progress)


def _offline() -> bool:
    return os.environ.get("D2L_LAB_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def fetch(dataset_id: str, progress: Progress | None = None, *, force: bool = False) -> Path:
    """Download every file not yet in the cache (``force``: every file, replacing what is
    there), each verified before it takes its final name: a failed download replaces nothing."""
    ds = get(dataset_id)
    if _offline():
        raise DataMissing(how_to_get(ds.id, f"The dataset '{ds.id}' is not on this machine, and "
                                     "D2L_LAB_OFFLINE is set, so nothing is downloaded."))
    dest = data_cache() / ds.id
    dest.mkdir(parents=True, exist_ok=True)
    for f in ds.files:
        if force or _find(dest, f.name) is None:
            _download(ds, f, dest, progress)
    return dest


def _download(ds: Dataset, f: DataFile, dest: Path, progress: Progress | None) -> None:
    algo, _, expected = f.checksum.partition(":")
    with _staged(dest, [f.name]) as (tmp,):
        try:
            actual = _save(f, algo, tmp, progress)
        # URLError, HTTPError, timeouts and refused connections are OSErrors; a cut-off body is not.
        except (OSError, http.client.HTTPException) as e:
            if isinstance(e, urllib.error.HTTPError):
                reason = f"HTTP {e.code} {e.reason}"
            else:
                reason = getattr(e, "reason", None) or e
            raise DataMissing(
                f"Could not download {f.name} from {f.url}: {reason}\n{how_to_get(ds.id)}"
            ) from e
        if actual != expected:
            raise DataMissing(
                f"{f.name} downloaded from {f.url} has {algo} {actual}, expected {expected}; "
                f"it was discarded.\n{how_to_get(ds.id)}"
            )
        _commit(tmp, dest, f.name)


def _save(f: DataFile, algo: str, tmp: Path, progress: Progress | None) -> str:
    """Stream ``f.url`` into ``tmp``, hashing and reporting as it goes; returns the hex digest."""
    digest = hashlib.new(algo)
    request = urllib.request.Request(f.url, headers={"User-Agent": "d2l-lab"})
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response, tmp.open("wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else f.size
        done = 0
        if progress:
            progress(f.name, done, total)
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(f.name, done, total)
    return digest.hexdigest()


@contextmanager
def _staged(dest: Path, names: list[str]) -> Iterator[list[Path]]:
    """Temp files beside the final ones (so os.replace is atomic), removed unless committed."""
    _remove_stale_partials(dest)
    tmps: list[Path] = []
    try:
        for name in names:
            # Hidden, and ending in the real name so readers treat .gz copies as gzip.
            fd, tmp = tempfile.mkstemp(dir=dest, prefix=".partial-", suffix=f"-{name}")
            os.close(fd)
            tmps.append(Path(tmp))
        yield tmps
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)


def _remove_stale_partials(dest: Path) -> None:
    """Delete what killed downloads or imports left behind in ``dest`` (never a live one's)."""
    cutoff = time.time() - _STALE_PARTIAL_S
    for partial in dest.glob(".partial-*"):
        try:
            if partial.stat().st_mtime < cutoff:
                partial.unlink()
        except OSError:  # gone already, or not ours to delete: the next try will see
            pass


def _commit(tmp: Path, dest: Path, name: str) -> None:
    os.replace(tmp, dest / name)
    if name.endswith(".gz"):  # a stale gunzipped copy would be read in preference to this one
        (dest / name.removesuffix(".gz")).unlink(missing_ok=True)


# --- importing ---------------------------------------------------------------------------------

def import_dir(dataset_id: str, src: Path, accept_checksum: bool = False) -> Path:
    """Copy the dataset's files from a local folder into the cache, all checked before any lands.

    A one-file dataset also takes the path of that file under any name (a downloaded copy).
    Each file is checked against the book's checksum (Fashion-MNIST, whose Debian copies differ
    in their gzip headers, structurally instead); a copy that differs is refused, naming both
    hashes, unless ``accept_checksum`` (the CLI's ``--accept-checksum``) says to take it anyway."""
    ds = get(dataset_id)
    src = Path(src).expanduser()
    if src.is_file() and len(ds.files) == 1:
        return _import_file(ds, src, accept_checksum)
    if src.is_file():  # a path to one of the files is as good as its folder
        src = src.parent
    if not src.is_dir():
        raise DataMissing(f"{src} is not a folder.\n{how_to_get(ds.id)}")
    folder = next((d for d in _layouts(ds, src) if _holds_all(ds, d)), src)
    found = {f.name: _find(folder, f.name) for f in ds.files}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise DataMissing(
            f"{src} lacks {', '.join(missing)} (a .gz file may also be there gunzipped).\n"
            + how_to_get(ds.id)
        )
    sources = [path for path in found.values() if path is not None]
    dest = data_cache() / ds.id
    dest.mkdir(parents=True, exist_ok=True)
    with _staged(dest, [p.name for p in sources]) as tmps:
        for source, tmp in zip(sources, tmps, strict=True):
            shutil.copyfile(source, tmp)
        copies = dict(zip(found, zip(sources, tmps, strict=True), strict=True))
        if not accept_checksum:
            _check_checksums(ds, copies, src)
        _validate(ds, copies)
        for source, tmp in zip(sources, tmps, strict=True):
            _commit(tmp, dest, source.name)
    return dest


def _import_file(ds: Dataset, src: Path, accept_checksum: bool) -> Path:
    name = ds.files[0].name
    dest = data_cache() / ds.id
    dest.mkdir(parents=True, exist_ok=True)
    with _staged(dest, [name]) as (tmp,):
        shutil.copyfile(src, tmp)
        if not accept_checksum:
            _check_checksums(ds, {name: (src, tmp)}, src)
        _validate(ds, {name: (src, tmp)})
        _commit(tmp, dest, name)
    return dest


# Checked by structure instead of checksum: Debian's copies differ from the mirror's in their
# gzip headers, and a gunzipped copy is as good as the archive.
_STRUCTURALLY_CHECKED = frozenset({"fashion-mnist"})


def _digest(path: Path, algo: str) -> str:
    digest = hashlib.new(algo)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_checksums(ds: Dataset, files: dict[str, tuple[Path, Path]], given: Path) -> None:
    """Refuse a copy ({name: (source, copy)}) whose hash is not the book's, saying how to take it
    anyway (``given``: the path the user named): a file from elsewhere may hold the same data in
    another archive."""
    if ds.id in _STRUCTURALLY_CHECKED:
        return
    declared = {f.name: f.checksum for f in ds.files}
    for name, (source, copy) in files.items():
        algo, _, expected = declared[name].partition(":")
        actual = _digest(copy, algo)
        if actual != expected:
            raise DataMissing(
                f"{source} differs from the book's {name}: its {algo} is {actual}, the book's "
                f"is {expected}. If you know it holds the same data (another archive of it), "
                f"accept it anyway with:\n"
                f"  d2l-lab data import {ds.id} {shlex.quote(str(given))} --accept-checksum"
            )


def _validate(ds: Dataset, files: dict[str, tuple[Path, Path]]) -> None:
    """Check copies structurally ({name: (source, copy)}); raises DataMissing naming the source."""
    if ds.id == "fashion-mnist":
        _check_fashion(files)
    elif ds.id == "fra-eng":
        _check_fra_eng(files)


FRA_MEMBERS = ("fra-eng/fra.txt", "fra.txt")  # the book's archive; manythings.org's own


def fra_member(names: list[str]) -> str | None:
    """The member of a fra-eng zip that holds the sentence pairs, or None."""
    return next((m for m in FRA_MEMBERS if m in names), None)


def _check_fra_eng(files: dict[str, tuple[Path, Path]]) -> None:
    for source, copy in files.values():
        try:
            with zipfile.ZipFile(copy) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            raise DataMissing(f"{source} is not a zip archive: {e}") from e
        if fra_member(names) is None:
            raise DataMissing(f"{source} holds no {' or '.join(FRA_MEMBERS)}: it is not the "
                              "fra-eng archive")


_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801


def _check_fashion(files: dict[str, tuple[Path, Path]]) -> None:
    """Right magic, 28×28 images, labels 0..9, and as many labels as images in each split."""
    from lab.data.idx import IdxError, read_idx  # imports torch, which only this needs

    counts: dict[tuple[str, bool], tuple[Path, int]] = {}  # (split, images?) -> (source, N)
    for name, (source, copy) in files.items():
        try:
            t = read_idx(copy)
        except IdxError as e:  # the message names the temp copy; name the user's file instead
            raise DataMissing(str(e).replace(str(copy), str(source), 1)) from e
        images = "-images-" in name
        magic = 0x800 + t.dim()
        if images:
            ok = magic == _IMAGES_MAGIC and tuple(t.shape[1:]) == (28, 28)
        else:
            ok = magic == _LABELS_MAGIC and (t.numel() == 0 or int(t.max()) <= 9)
        if not ok:
            want = (f"magic 0x{_IMAGES_MAGIC:08x}, N×28×28 images" if images
                    else f"magic 0x{_LABELS_MAGIC:08x}, N labels in 0..9")
            got = "×".join(map(str, t.shape))
            raise DataMissing(
                f"{source} is not a valid {name}: expected {want}; found magic 0x{magic:08x}, {got}"
            )
        counts[(name.split("-")[0], images)] = (source, t.shape[0])
    for (split, images), (source, n) in counts.items():
        labels_source, n_labels = counts.get((split, False), (source, n))
        if images and n_labels != n:
            raise DataMissing(f"{split} split: {source} holds {n} images but {labels_source} "
                              f"holds {n_labels} labels")
