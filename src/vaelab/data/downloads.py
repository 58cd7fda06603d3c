"""Datasets that download themselves into the user cache on first use: ``mnist``, ``cifar10``, ``cifar100`` (and
``fashion-mnist`` after Debian's package and $VAELAB_DATA).

Every file comes from the dataset's official place (or, for MNIST, torchvision's mirror of it) and is checked
against a sha256 pinned here before it is kept. A download goes into ``NAME.part`` beside its final name; an
interrupted one (a dropped connection, Ctrl-C) keeps the .part and goes on from its end with an HTTP Range request,
now or on the next run. Once the file is whole and its checksum matches, the .part is renamed onto its name, so a
file in the cache under its own name is always a complete, checked one. A file whose checksum differs is removed.

``VAELAB_NO_DOWNLOAD=1`` (or a command's ``--no-download``) turns downloading off; the error then says where to put
the files by hand.

Where the checksums come from: TensorFlow Datasets' url_checksums files (tensorflow_datasets/url_checksums/
mnist.txt, fashion_mnist.txt, cifar10.txt, cifar100.txt), which pin the size and sha256 of the same files. The MNIST
values there are for storage.googleapis.com/cvdf-datasets/mnist/; the same four sha256 values are published for
yann.lecun.com's files and for the ossci-datasets mirror (whose md5s, in torchvision, are also yann.lecun.com's), so
the mirrors serve identical bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vaelab.data.cache import cache_dir
from vaelab.errors import VaelabError
from vaelab.io.atomic import move_into_place
from vaelab.progress import progress_bar


@dataclass(frozen=True)
class Remote:
    """One file to fetch: its name in the cache, where it lives, its pinned sha256 and size in bytes."""

    name: str
    url: str
    sha256: str
    size: int


MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's mirror: yann.lecun.com is unreliable
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"  # Zalando's own bucket
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"  # Alex Krizhevsky's page, the official place

# dataset → the files it needs. Tests point these at a local server (monkeypatch the dict's entries).
DOWNLOADS: dict[str, list[Remote]] = {
    "mnist": [
        Remote(
            "train-images-idx3-ubyte.gz",
            MNIST_URL + "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            9912422,
        ),
        Remote(
            "train-labels-idx1-ubyte.gz",
            MNIST_URL + "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            28881,
        ),
        Remote(
            "t10k-images-idx3-ubyte.gz",
            MNIST_URL + "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            1648877,
        ),
        Remote(
            "t10k-labels-idx1-ubyte.gz",
            MNIST_URL + "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            4542,
        ),
    ],
    "fashion-mnist": [
        Remote(
            "train-images-idx3-ubyte.gz",
            FASHION_MNIST_URL + "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            26421880,
        ),
        Remote(
            "train-labels-idx1-ubyte.gz",
            FASHION_MNIST_URL + "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            29515,
        ),
        Remote(
            "t10k-images-idx3-ubyte.gz",
            FASHION_MNIST_URL + "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            4422102,
        ),
        Remote(
            "t10k-labels-idx1-ubyte.gz",
            FASHION_MNIST_URL + "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            5148,
        ),
    ],
    "cifar10": [
        Remote(
            "cifar-10-binary.tar.gz",
            CIFAR_URL + "cifar-10-binary.tar.gz",
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            170052171,
        )
    ],
    "cifar100": [
        Remote(
            "cifar-100-binary.tar.gz",
            CIFAR_URL + "cifar-100-binary.tar.gz",
            "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
            168513733,
        )
    ],
}

# The CIFAR tarballs: the folder inside them, and the files vaelab takes out of it (nothing else is extracted).
ARCHIVE_CONTENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cifar10": (
        "cifar-10-batches-bin",
        tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin", "batches.meta.txt"),
    ),
    "cifar100": (
        "cifar-100-binary",
        ("train.bin", "test.bin", "fine_label_names.txt", "coarse_label_names.txt"),
    ),
}

CHUNK = 1 << 16
TRIES = 4  # attempts per file; each one after the first resumes from the .part
TIMEOUT_S = 30
_NETWORK_ERRORS = (OSError, http.client.HTTPException)  # URLError, timeouts, resets, IncompleteRead, bad replies


def downloads_enabled() -> bool:
    """False when VAELAB_NO_DOWNLOAD is set to anything but '', 0, false or no (``--no-download`` sets it)."""
    return os.environ.get("VAELAB_NO_DOWNLOAD", "").strip().lower() in ("", "0", "false", "no")


def dataset_dir(dataset: str) -> Path:
    """Where a downloaded dataset lives: ``<user cache>/<dataset>``."""
    return cache_dir() / dataset


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_file(remote: Remote, folder: Path, desc: str | None = None) -> Path:
    """``folder/remote.name``, downloaded unless it is there. Network failures raise OSError after TRIES attempts
    and keep what arrived in ``NAME.part`` for the next try; a checksum that differs raises VaelabError and
    keeps nothing."""
    dest = folder / remote.name
    if dest.is_file():
        return dest
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"{remote.name}.part"
    error: BaseException | None = None
    for _ in range(TRIES):
        try:
            _fetch_into(remote, part, desc or f"downloading {remote.name}")
        except _NETWORK_ERRORS as e:
            error = e
            continue
        have = part.stat().st_size if part.exists() else 0
        if have < remote.size:  # the server closed early without an error: go on from there
            error = ConnectionError(f"the connection closed after {have} of {remote.size} bytes")
            continue
        got = sha256_of(part)
        if have != remote.size or got != remote.sha256:
            part.unlink(missing_ok=True)
            raise VaelabError(
                f"{remote.url}: the download's sha256 is {got} ({have} bytes), not the pinned {remote.sha256} "
                f"({remote.size} bytes); nothing was kept in {folder}"
            )
        move_into_place(part, dest)
        return dest
    assert error is not None
    if isinstance(error, OSError):
        raise error
    raise ConnectionError(f"{remote.url}: {error}") from error


def _fetch_into(remote: Remote, part: Path, desc: str) -> None:
    """One attempt: append to ``part`` from its end (a Range request), or start it afresh when the server sends the
    whole file. Nothing is created before the first byte arrives."""
    have = part.stat().st_size if part.exists() else 0
    if have >= remote.size:
        return  # complete, or too long: the caller's checksum decides
    request = urllib.request.Request(remote.url, headers={"User-Agent": "vaelab"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the range lies past the end: start again
            part.unlink()
        raise
    with response:
        resumed = bool(have) and response.status == 206
        if resumed and _range_start(response) != have:
            part.unlink()
            raise ConnectionError(f"asked for bytes from {have}, got {response.headers.get('Content-Range')}")
        if not resumed:
            have = 0  # the server sends the whole file (it ignored the Range, or this is the first try)
        bar = progress_bar(
            total=remote.size, initial=have, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False
        )
        out = None
        try:
            while block := response.read(CHUNK):
                if out is None:
                    out = open(part, "ab" if resumed else "wb")
                out.write(block)
                bar.update(len(block))
        finally:
            if out is not None:
                out.close()
            bar.close()


def _range_start(response) -> int | None:
    """The first byte of a 206 reply, from ``Content-Range: bytes START-END/TOTAL``."""
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One process downloads a dataset at a time (train --nproc starts several); the others wait, then find it."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(folder.parent / f".{folder.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def where_to_put(dataset: str) -> str:
    folder = dataset_dir(dataset)
    files = DOWNLOADS[dataset]
    names = ", ".join(f.name for f in files)
    base = files[0].url.rsplit("/", 1)[0] + "/"
    return f"put {names} (from {base}) in {folder}, or give {dataset}:PATH for a copy of your own"


def ensure_downloaded(dataset: str) -> Path:
    """The folder of a downloaded dataset in the user cache, fetched first when needed: for MNIST the four IDX
    files, for CIFAR the tarball's contents (``cifar-10-batches-bin/``, ``cifar-100-binary/``)."""
    folder = dataset_dir(dataset)
    inner = ARCHIVE_CONTENTS.get(dataset)
    ready = folder / inner[0] if inner else folder
    if _complete(dataset, ready):
        return ready
    missing = [f for f in DOWNLOADS[dataset] if not (folder / f.name).is_file()]
    if missing and not downloads_enabled():
        raise VaelabError(
            f"{dataset} is not downloaded yet and downloads are off (VAELAB_NO_DOWNLOAD or --no-download): "
            + where_to_put(dataset)
        )
    with _locked(folder):
        for i, remote in enumerate(DOWNLOADS[dataset]):
            if (folder / remote.name).is_file():
                continue
            n = len(DOWNLOADS[dataset])
            try:
                download_file(remote, folder, desc=f"downloading {dataset}" + (f" ({i + 1}/{n})" if n > 1 else ""))
            except _NETWORK_ERRORS as e:
                partial = (folder / f"{remote.name}.part").exists()
                raise VaelabError(
                    f"could not download {remote.url} ({type(e).__name__}: {e}; no network?)"
                    + ("; what arrived is kept and the next run goes on from there" if partial else "")
                    + "; or "
                    + where_to_put(dataset)
                ) from e
        if inner and not _complete(dataset, ready):
            _extract(folder / DOWNLOADS[dataset][0].name, dataset, ready)
    return ready


def _complete(dataset: str, folder: Path) -> bool:
    inner = ARCHIVE_CONTENTS.get(dataset)
    names = inner[1] if inner else [f.name for f in DOWNLOADS[dataset]]
    return all((folder / n).is_file() for n in names)


def _extract(archive: Path, dataset: str, dest: Path) -> None:
    """Take the known files out of a CIFAR tarball into ``dest`` (through a temp folder renamed into place), then
    remove the tarball. Only regular files with the expected names are written: no paths from the archive are
    used, so a hostile archive cannot write outside the folder."""
    top, names = ARCHIVE_CONTENTS[dataset]
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name.removeprefix("./") in {f"{top}/{n}" for n in names}:
                    src = tar.extractfile(member)
                    assert src is not None
                    with src, open(tmp / Path(member.name).name, "wb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
        lacking = [n for n in names if not (tmp / n).is_file()]
        if lacking:
            raise VaelabError(f"{archive}: the archive lacks {top}/{', '.join(lacking)}")
        if dest.exists():
            shutil.rmtree(dest)  # an incomplete folder of an earlier copy
        os.replace(tmp, dest)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise VaelabError(f"{archive}: cannot unpack ({type(e).__name__}: {e}); remove it to download again") from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    archive.unlink()  # its contents are checked and in place; 170 MB need not stay twice
