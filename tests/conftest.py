"""Shared fixtures: tiny datasets written in the exact on-disk formats, and a tiny trained model."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import struct
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("VAELAB_NO_DOWNLOAD", "1")  # tests never fetch anything
os.environ["VAELAB_CACHE"] = tempfile.mkdtemp(prefix="vaelab-test-cache-")  # nothing leaks into ~/.cache
torch.set_num_threads(2)


def run_vaelab(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`vaelab ARGS` run in this process, as a CompletedProcess with its exit code and its stdout and stderr: the
    same code path as the command (``vaelab.cli.main``), without the seconds a new Python takes to import torch and
    scikit-learn. Tests of the entry point itself, or of a run that must not share this process, start one."""
    from vaelab.cli import main

    argv, out, err, environ = [str(a) for a in args], io.StringIO(), io.StringIO(), dict(os.environ)
    try:
        with warnings.catch_warnings(), contextlib.chdir(cwd or os.getcwd()):
            warnings.resetwarnings()  # the filters a new Python starts with, not pytest's: warnings show as they would
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", category)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(argv)
                except SystemExit as e:  # argparse's usage errors
                    code = e.code if isinstance(e.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(environ)  # a flag that sets a variable for the processes it starts (--no-download)
    return subprocess.CompletedProcess(["vaelab", *argv], code, out.getvalue(), err.getvalue())


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> Path:
    """Write an IDX file exactly as (Fashion-)MNIST ships it: magic 0 0 type ndim, big-endian dims, data."""
    codes = {
        np.dtype(np.uint8): 0x08,
        np.dtype(np.int8): 0x09,
        np.dtype(">i2"): 0x0B,
        np.dtype(">i4"): 0x0C,
        np.dtype(">f4"): 0x0D,
        np.dtype(">f8"): 0x0E,
    }
    dt = arr.dtype if arr.dtype.itemsize == 1 else arr.dtype.newbyteorder(">")
    raw = bytes([0, 0, codes[np.dtype(dt)], arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    raw += np.ascontiguousarray(arr.astype(dt)).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def toy_images(n: int, size: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of white-on-black shapes (bar, column, square) at jittered places: (n, size, size), labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    imgs = np.zeros((n, size, size), np.uint8)
    for i, c in enumerate(labels):
        r, k = rng.integers(size // 4, size // 2, 2)
        if c == 0:
            imgs[i, r : r + 4, 3 : size - 3] = 255
        elif c == 1:
            imgs[i, 3 : size - 3, k : k + 4] = 255
        else:
            imgs[i, r : r + size // 3, k : k + size // 3] = 255
    return imgs, labels.astype(np.uint8)


def write_mnist_folder(folder: Path, n_train: int = 300, n_test: int = 60, size: int = 28) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        x, y = toy_images(n, size, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
    return folder


def write_omniglot(root: Path, per_character: int = 2) -> Path:
    """Omniglot's layout: images_background (Latin, 2 characters) for training and images_evaluation (Greek,
    1 character) for testing, 105×105 one-bit PNGs: a set split by class. Character c is a bar at 10·c px."""
    from PIL import Image

    for part, alphabet, chars in (("images_background", "Latin", 2), ("images_evaluation", "Greek", 1)):
        for c in range(chars):
            d = root / part / alphabet / f"character{c + 1:02d}"
            d.mkdir(parents=True)
            for k in range(per_character):
                img = Image.new("1", (105, 105), 1)
                img.paste(0, (10 * c, 10, 10 * c + 20, 90))
                img.save(d / f"0{c}{k}_{k + 1:02d}.png")
    return root


@pytest.fixture(scope="session")
def toy_idx_dir(tmp_path_factory) -> Path:
    return write_mnist_folder(tmp_path_factory.mktemp("toy") / "idx")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, toy_idx_dir) -> Path:
    """A small vae-conv trained for 3 epochs on the toy shapes, saved with ONNX files (a real model folder)."""
    from vaelab.data.loaders import load_dataset
    from vaelab.models.config import ModelConfig
    from vaelab.training.config import TrainConfig
    from vaelab.training.vae import train

    out = tmp_path_factory.mktemp("model") / "tiny"
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    cfg = ModelConfig(latent_dim=8, widths=(8, 16))
    train(cfg, ds, out, TrainConfig(epochs=3, batch_size=32, lr=3e-3), progress=False)
    return out


# Where a finished training run's density fit is tested; elsewhere it is skipped (it adds seconds to every run)
DENSITY_FIT_TESTED = ("test_density_after_training", "test_distributed", "test_settings")


@pytest.fixture(autouse=True)
def _no_density_fit_after_training(request, monkeypatch):
    """A finished `vaelab train` run fits the density of its codes, a few seconds even for a tiny model. The modules
    in DENSITY_FIT_TESTED test that fit; every other test skips it, so that the suite keeps to its time."""
    if request.module.__name__.rsplit(".", 1)[-1] in DENSITY_FIT_TESTED:
        return
    import vaelab.tasks.train as front

    monkeypatch.setattr(front, "fit_density_after_training", lambda *args, **kwargs: None)


# Where each epoch's sample grid, drawn from a quick mixture of that epoch's codes, is tested; elsewhere it is drawn
# from seeded N(0, I) codes instead (the mixture's fit at every drawn epoch added about a tenth to the training tests)
EPOCH_GRIDS_TESTED = ("test_density_after_training",)


@pytest.fixture(autouse=True)
def _quick_epoch_grids(request, monkeypatch):
    if request.module.__name__.rsplit(".", 1)[-1] in EPOCH_GRIDS_TESTED:
        return
    import torch

    from vaelab.training.vae import VAEKind

    def prior_codes(self, model):
        return torch.randn(64, model.cfg.latent_dim, generator=torch.Generator().manual_seed(self.cfg.seed))

    monkeypatch.setattr(VAEKind, "epoch_sample_codes", prior_codes)


def interrupt_at_step(monkeypatch, at: int) -> None:
    """Make the VAE's training step raise KeyboardInterrupt, as Ctrl-C would, at the optimizer step numbered
    ``at`` (0-based, counted over the whole run)."""
    from vaelab.training.vae import VAEKind

    step = VAEKind.step

    def interrupted(self, batch, done):
        if done == at:
            raise KeyboardInterrupt
        return step(self, batch, done)

    monkeypatch.setattr(VAEKind, "step", interrupted)


def fashion_mnist_available() -> bool:
    from vaelab.data.loaders import DEBIAN_FASHION_MNIST

    return (DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").is_file()


def emoji_font_available() -> bool:
    from vaelab.data.emoji import FONT_PATH

    return FONT_PATH.is_file()


@pytest.fixture(scope="session")
def tiny_emoji_model_dir(tmp_path_factory) -> Path:
    """A small vae-conv trained for one epoch on the real emoji set rendered at 16×16 (it has attributes)."""
    if not emoji_font_available():
        pytest.skip("needs Debian's fonts-noto-color-emoji (make test installs it)")
    from vaelab.data.loaders import load_dataset
    from vaelab.models.config import ModelConfig
    from vaelab.training.config import TrainConfig
    from vaelab.training.vae import train

    out = tmp_path_factory.mktemp("emoji-model") / "tiny"
    ds = load_dataset("emoji:16")
    train(
        ModelConfig(channels=3, height=16, width=16, latent_dim=8, widths=(8, 16)),
        ds,
        out,
        TrainConfig(epochs=1, batch_size=64),
        progress=False,
    )
    return out
