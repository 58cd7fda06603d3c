"""Datasets that download themselves (mnist, cifar10, cifar100): served here from a local HTTP server on 127.0.0.1
with tiny files in the exact official formats, never from the internet."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

import vaelab.data.downloads as downloads
from conftest import write_mnist_folder
from vaelab.data.downloads import Remote
from vaelab.data.loaders import load_dataset
from vaelab.errors import VaelabError

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class Server:
    """Serves ``files`` (name → bytes) with Range support; records every request; can cut a file off mid-way once
    or ignore Range headers."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.hits: list[tuple[str, str | None]] = []  # (name, Range header)
        self.cut_once: set[str] = set()
        self.ignore_range = False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                rng = self.headers.get("Range")
                server.hits.append((name, rng))
                body = server.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng and not server.ignore_range else 0
                if start >= len(body) and rng:
                    self.send_error(416)
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if name in server.cut_once:  # half the file, then the connection drops
                    server.cut_once.discard(name)
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, dataset: str, files: dict[str, bytes], monkeypatch, pinned: dict[str, bytes] | None = None):
        """Serve ``files`` and point ``dataset``'s downloads at them, pinning the sha256 of ``pinned`` (default:
        the served bytes themselves)."""
        self.files.update(files)
        pinned = pinned or files
        monkeypatch.setitem(
            downloads.DOWNLOADS,
            dataset,
            [Remote(n, self.url + n, hashlib.sha256(pinned[n]).hexdigest(), len(pinned[n])) for n in files],
        )

    def count(self, name: str | None = None) -> int:
        return sum(1 for n, _ in self.hits if name is None or n == name)


@pytest.fixture
def server(monkeypatch, tmp_path):
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VAELAB_NO_DOWNLOAD", raising=False)
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def mnist_files(tmp_path: Path) -> dict[str, bytes]:
    folder = write_mnist_folder(tmp_path / "mnist-src", n_train=30, n_test=10)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def cifar_records(n: int, seed: int, hundred: bool = False) -> tuple[bytes, np.ndarray, np.ndarray]:
    """``n`` binary-version records: label byte(s), then the R, G and B planes of a 32×32 image."""
    rng = np.random.default_rng(seed)
    fine = rng.integers(0, 100 if hundred else 10, n).astype(np.uint8)
    coarse = (fine % 20).astype(np.uint8)
    pixels = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    labels = np.stack([coarse, fine], 1) if hundred else fine[:, None]
    return np.concatenate([labels, pixels], 1).tobytes(), fine, pixels


def cifar10_tarball(per_batch: int = 4) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A tiny cifar-10-binary.tar.gz laid out as the official one; also every record's label and pixels."""
    buf = io.BytesIO()
    labels, pixels = [], []
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
        entries = {"batches.meta.txt": ("\n".join(CIFAR10_NAMES) + "\n\n").encode(), "readme.html": b"<html/>"}
        for i, name in enumerate(names):
            raw, y, x = cifar_records(per_batch, i)
            entries[name] = raw
            labels.append(y)
            pixels.append(x)
        for name, data in entries.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue(), np.concatenate(labels), np.concatenate(pixels)


def cifar100_tarball(n: int = 6) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        entries = {
            "train.bin": cifar_records(n, 0, hundred=True)[0],
            "test.bin": cifar_records(n // 2, 1, hundred=True)[0],
            "fine_label_names.txt": "\n".join(f"fine{i}" for i in range(100)).encode(),
            "coarse_label_names.txt": "\n".join(f"coarse{i}" for i in range(20)).encode(),
        }
        for name, data in entries.items():
            info = tarfile.TarInfo(f"cifar-100-binary/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_mnist_downloads_once_and_loads_with_its_split_and_digit_names(server, monkeypatch, tmp_path):
    files = mnist_files(tmp_path)
    server.serve("mnist", files, monkeypatch)
    ds = load_dataset("mnist")
    assert server.count() == 4
    assert ds.name == "mnist" and ds.images.shape == (40, 1, 28, 28) and ds.class_names == [str(d) for d in range(10)]
    assert len(ds.train_idx) == 30 and len(ds.test_idx) == 10
    reference = load_dataset(f"mnist:{tmp_path / 'mnist-src'}")
    assert np.array_equal(ds.images, reference.images) and np.array_equal(ds.labels, reference.labels)
    cached = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(files)  # no .part or temp file left
    again = load_dataset("mnist")
    assert server.count() == 4 and np.array_equal(again.images, ds.images)  # the second load asks for nothing


def test_cifar10_downloads_the_binary_tarball_once_with_class_names_from_batches_meta(server, monkeypatch):
    tarball, labels, pixels = cifar10_tarball()
    server.serve("cifar10", {"cifar-10-binary.tar.gz": tarball}, monkeypatch)
    ds = load_dataset("cifar10")
    assert server.count() == 1
    assert ds.name == "cifar10" and ds.images.shape == (24, 3, 32, 32) and ds.class_names == CIFAR10_NAMES
    assert np.array_equal(ds.labels, labels) and len(ds.train_idx) == 20 and len(ds.test_idx) == 4
    assert np.array_equal(ds.images.reshape(24, -1), pixels)  # R plane, then G, then B, row by row
    assert ds.channels == 3 and ds.size == (32, 32)
    folder = downloads.dataset_dir("cifar10")
    assert sorted(p.name for p in folder.iterdir()) == ["cifar-10-batches-bin"]  # the tarball is gone once unpacked
    assert "readme.html" not in {p.name for p in (folder / "cifar-10-batches-bin").iterdir()}
    load_dataset("cifar10")
    assert server.count() == 1


def test_cifar100_downloads_with_fine_names_and_the_coarse_attribute(server, monkeypatch):
    server.serve("cifar100", {"cifar-100-binary.tar.gz": cifar100_tarball()}, monkeypatch)
    ds = load_dataset("cifar100")
    _, fine, _ = cifar_records(6, 0, hundred=True)
    assert ds.images.shape == (9, 3, 32, 32) and len(ds.class_names) == 100 and ds.name == "cifar100"
    assert np.array_equal(ds.labels[:6], fine)
    assert list(ds.attributes["coarse"][:6]) == [f"coarse{f % 20}" for f in fine]


def test_a_corrupted_download_is_refused_by_its_checksum_and_nothing_is_kept(server, monkeypatch):
    tarball, _, _ = cifar10_tarball()
    corrupted = tarball[:100] + bytes([tarball[100] ^ 0xFF]) + tarball[101:]
    server.serve(
        "cifar10", {"cifar-10-binary.tar.gz": corrupted}, monkeypatch, pinned={"cifar-10-binary.tar.gz": tarball}
    )
    with pytest.raises(VaelabError, match="sha256") as e:
        load_dataset("cifar10")
    assert hashlib.sha256(tarball).hexdigest() in str(e.value) and "nothing was kept" in str(e.value)
    folder = downloads.dataset_dir("cifar10")
    assert [p for p in folder.rglob("*")] == []


def test_an_interrupted_download_resumes_with_a_range_request(server, monkeypatch):
    tarball, labels, _ = cifar10_tarball(per_batch=40)
    server.serve("cifar10", {"cifar-10-binary.tar.gz": tarball}, monkeypatch)
    server.cut_once.add("cifar-10-binary.tar.gz")
    ds = load_dataset("cifar10")
    assert [r for _, r in server.hits] == [None, f"bytes={len(tarball) // 2}-"]
    assert np.array_equal(ds.labels, labels)


def test_a_part_file_left_by_a_killed_run_is_continued_not_restarted(server, monkeypatch, tmp_path):
    files = mnist_files(tmp_path)
    server.serve("mnist", files, monkeypatch)
    folder = downloads.dataset_dir("mnist")
    folder.mkdir(parents=True)
    name = "train-images-idx3-ubyte.gz"
    half = len(files[name]) // 2
    (folder / f"{name}.part").write_bytes(files[name][:half])
    load_dataset("mnist")
    assert (name, f"bytes={half}-") in server.hits and server.count(name) == 1
    assert (folder / name).read_bytes() == files[name]


def test_a_server_that_ignores_range_sends_the_whole_file_again(server, monkeypatch):
    tarball, labels, _ = cifar10_tarball(per_batch=40)
    server.serve("cifar10", {"cifar-10-binary.tar.gz": tarball}, monkeypatch)
    server.cut_once.add("cifar-10-binary.tar.gz")
    server.ignore_range = True
    assert np.array_equal(load_dataset("cifar10").labels, labels) and server.count() == 2


def test_no_download_gives_one_line_naming_the_folder(server, monkeypatch, tmp_path):
    server.serve("mnist", mnist_files(tmp_path), monkeypatch)
    monkeypatch.setenv("VAELAB_NO_DOWNLOAD", "1")
    with pytest.raises(VaelabError) as e:
        load_dataset("mnist")
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "cache" / "mnist") in msg and "train-images-idx3-ubyte.gz" in msg
    assert "mnist:PATH" in msg and server.count() == 0
    with pytest.raises(VaelabError, match=str(tmp_path / "cache" / "cifar10")):
        load_dataset("cifar10")


def test_files_put_in_place_by_hand_are_used_with_downloads_off(server, monkeypatch, tmp_path):
    tarball, labels, _ = cifar10_tarball()
    server.serve("cifar10", {"cifar-10-binary.tar.gz": tarball}, monkeypatch)
    monkeypatch.setenv("VAELAB_NO_DOWNLOAD", "1")
    folder = downloads.dataset_dir("cifar10")
    folder.mkdir(parents=True)
    (folder / "cifar-10-binary.tar.gz").write_bytes(tarball)
    assert np.array_equal(load_dataset("cifar10").labels, labels) and server.count() == 0


def test_no_download_flag_on_the_command_line(server, monkeypatch, tmp_path, capsys):
    from vaelab.cli import main

    server.serve("mnist", mnist_files(tmp_path), monkeypatch)
    monkeypatch.delenv("VAELAB_NO_DOWNLOAD", raising=False)  # restored afterwards: the flag sets it
    code = main(["train", "--data", "mnist", "--no-download", "--epochs", "1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and str(tmp_path / "cache" / "mnist") in err and err.count("\n") == 1 and server.count() == 0


def test_an_unreachable_server_says_so_in_one_line(server, monkeypatch, tmp_path):
    files = mnist_files(tmp_path)
    server.serve("mnist", files, monkeypatch)
    monkeypatch.setitem(
        downloads.DOWNLOADS,
        "mnist",
        [Remote(r.name, "http://127.0.0.1:9/" + r.name, r.sha256, r.size) for r in downloads.DOWNLOADS["mnist"]],
    )
    monkeypatch.setattr(downloads, "TIMEOUT_S", 2)
    with pytest.raises(VaelabError, match="could not download http://127.0.0.1:9/") as e:
        load_dataset("mnist")
    assert "\n" not in str(e.value) and list(downloads.dataset_dir("mnist").iterdir()) == []


class _FakeDatasets:
    """Stands in for the `datasets` package: load_dataset gives a DatasetDict-like dict of row lists."""

    class Image:
        pass

    class ClassLabel:
        def __init__(self, names):
            self.names = names

    class Split(list):
        features: dict
        _fingerprint: str

        def __getitem__(self, key):  # a column by name, as a datasets.Dataset gives it
            return [row[key] for row in self] if isinstance(key, str) else super().__getitem__(key)

    def __init__(self, sizes: dict[str, int]):
        from PIL import Image

        self.calls = []
        self.splits = {}
        for name, n in sizes.items():
            rows = _FakeDatasets.Split(
                {"img": Image.new("L", (12, 10), 40 * i), "label": i % 2, "note": "x"} for i in range(n)
            )
            rows._fingerprint = f"fake-{name}-{n}"
            rows.features = {
                "note": object(),
                "img": _FakeDatasets.Image(),
                "label": _FakeDatasets.ClassLabel(["a", "b"]),
            }
            self.splits[name] = rows

    def load_dataset(self, repo, split=None):
        self.calls.append((repo, split))
        return self.splits[split] if split else self.splits


def test_hf_spec_reads_images_labels_and_the_official_split(monkeypatch, tmp_path):
    import sys

    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path))

    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):  # set by the loader with downloads off: undone after
        monkeypatch.delenv(name, raising=False)
    fake = _FakeDatasets({"train": 6, "test": 3, "validation": 2})
    monkeypatch.setitem(sys.modules, "datasets", fake)
    ds = load_dataset("hf:someone/shapes")
    assert fake.calls == [("someone/shapes", None)] and ds.name == "hf:someone/shapes"
    assert ds.images.shape == (9, 1, 10, 12) and ds.class_names == ["a", "b"] and list(ds.labels[:3]) == [0, 1, 0]
    assert len(ds.train_idx) == 6 and len(ds.test_idx) == 3 and ds.images[1].max() == 40
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # conftest's VAELAB_NO_DOWNLOAD=1 keeps the Hub offline too
    one = load_dataset("hf:someone/shapes:validation", channels=3, size=(8, 8))
    assert fake.calls[-1] == ("someone/shapes", "validation") and one.images.shape == (2, 3, 8, 8)
    with pytest.raises(VaelabError, match="hf:OWNER/NAME"):
        load_dataset("hf:shapes")


def test_hf_spec_without_the_package_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails
    with pytest.raises(VaelabError, match=r"pip install 'vaelab\[hf\]'"):
        load_dataset("hf:someone/shapes")


def test_hf_reads_a_dataset_that_datasets_saved_on_disk_and_decodes_it_once(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")  # the dev extra installs it; for users it is the hf extra
    from PIL import Image as PILImage

    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["dark", "light"])})

    def part(n, seed):
        labels = np.random.default_rng(seed).integers(0, 2, n)
        pics = [PILImage.fromarray(np.full((12, 10), 40 + 170 * v, np.uint8)) for v in labels]
        return datasets.Dataset.from_dict({"image": pics, "label": labels.tolist()}, features=features), labels

    (train, y_train), (test, y_test) = part(30, 1), part(8, 2)
    saved = tmp_path / "shapes"
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(saved))
    ds = load_dataset(f"hf:{saved}", size=(8, 8))
    assert ds.images.shape == (38, 1, 8, 8) and ds.class_names == ["dark", "light"]
    np.testing.assert_array_equal(ds.labels[ds.split("train")], y_train)
    np.testing.assert_array_equal(ds.labels[ds.split("test")], y_test)
    assert (ds.images[ds.labels == 1] > 150).all() and (ds.images[ds.labels == 0] < 100).all()
    cached = list((tmp_path / "cache").glob("hf-*.npy"))
    assert len(cached) == 1 and isinstance(ds.images, np.memmap)
    import vaelab.data.cache as cache

    monkeypatch.setattr(cache, "load_image", lambda *a, **k: pytest.fail("decoded again"))
    again = load_dataset(f"hf:{saved}", size=(8, 8))  # from the cache: nothing decoded
    np.testing.assert_array_equal(again.images, ds.images)
    with pytest.raises(VaelabError, match="has no split 'valid'"):
        load_dataset(f"hf:{saved}:valid")
