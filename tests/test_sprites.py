"""The procedural sprites (ground-truth factors) and Reed's 2D sprites read from their MATLAB v7.3 files."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from vaelab.data.loaders import load_dataset
from vaelab.data.sprites import COLOURS, POSITIONS, SHAPES, Sprites, factors_of
from vaelab.errors import VaelabError

BASE = np.array([2, 1, 3, 5, 7, 9])  # a green heart of middling size, somewhere near the middle


def _vary(j: int) -> np.ndarray:
    """Every value of factor j with the others held at BASE: (factor_sizes[j], 6)."""
    f = np.repeat(BASE[None], Sprites.factor_sizes[j], 0)
    f[:, j] = np.arange(Sprites.factor_sizes[j])
    return f


def test_the_same_factor_tuple_always_renders_the_same_bytes():
    data = Sprites()
    f = data.sample_factors(40, np.random.default_rng(3))
    once = data.images_from_factors(f)
    again = data.images_from_factors(f[::-1])[::-1]  # another order and batch: still the same bytes per tuple
    assert np.array_equal(once, again)
    assert once.dtype == np.uint8 and once.shape == (40, 3, 64, 64)
    assert np.array_equal(data.sample_factors(40, np.random.default_rng(3)), f)


def test_every_value_of_every_factor_draws_a_different_image():
    data = Sprites()
    for j, name in enumerate(data.factor_names):
        images = data.images_from_factors(_vary(j)).reshape(data.factor_sizes[j], -1).astype(int)
        distances = np.abs(images[:, None] - images[None]).sum(-1)
        off_diagonal = distances[~np.eye(len(images), dtype=bool)]
        assert off_diagonal.min() > 0, f"two values of {name} draw the same image"


def test_rotation_is_identifiable_even_for_the_square():
    # A quarter turn in 16 steps: the square's 90° symmetry never maps one step onto another.
    f = _vary(3)
    f[:, 0] = SHAPES.index("square")
    images = Sprites().images_from_factors(f).reshape(16, -1).astype(int)
    assert len({im.tobytes() for im in images.astype(np.uint8)}) == 16


def test_factors_mean_what_they_say():
    data = Sprites()
    red = data.images_from_factors(np.array([[0, COLOURS.index("red"), 5, 0, 8, 8]]))[0]
    assert red[0].max() == 255 and red[1:].max() == 0  # red on black: nothing in green or blue
    xs = data.images_from_factors(_vary(4)).sum(1)  # (16, H, W) brightness
    centre_x = (xs * np.arange(64)).sum((1, 2)) / xs.sum((1, 2))
    assert np.all(np.diff(centre_x) > 1.5)  # the x factor moves the shape right, ~2.4 px a step
    areas = (data.images_from_factors(_vary(2)).max(1) > 0).sum((1, 2))
    assert np.all(np.diff(areas) > 0)  # scale grows the shape
    ys = data.images_from_factors(_vary(5)).sum(1)
    assert np.all(np.diff((ys * np.arange(64)[:, None]).sum((1, 2)) / ys.sum((1, 2))) > 1.5)  # y moves it down
    heart = data.images_from_factors(np.array([[SHAPES.index("heart"), 0, 5, 0, 8, 8]]))[0].sum(0)
    row_centre = (heart * np.arange(64)[:, None]).sum() / heart.sum()
    assert row_centre < POSITIONS[8] - 1  # upright: the two lobes on top weigh more than the point below


def test_sprites_dataset_labels_the_specified_identity_and_keeps_every_factor():
    ds = load_dataset("sprites:60")
    f = factors_of(ds)
    assert ds.images.shape == (60, 3, 64, 64) and ds.name == "sprites:60"
    assert np.array_equal(ds.labels, f[:, 0] * 6 + f[:, 1])
    assert ds.class_names[ds.labels[0]] == f"{COLOURS[f[0, 1]]} {SHAPES[f[0, 0]]}"
    assert np.array_equal(ds.images, Sprites().images_from_factors(f))
    with pytest.raises(VaelabError, match="image count"):
        load_dataset("sprites:many")


# --- Reed's sprites --------------------------------------------------------------------------------------
MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Sat Nov 21 10:00:00 2026 HDF5 schema 1.00 ."


def _frame(character: int, animation: int, frame: int) -> np.ndarray:
    """A distinct 60×60×3 (H×W×C) frame: its red channel ramps along W from 7 (the corner, the background), green
    along H, blue is the ids."""
    h, w = np.mgrid[0:60, 0:60]
    img = np.stack([7 + w * 4, h * 4, np.full((60, 60), character * 50 + animation * 2 + frame)], -1)
    return img.astype(np.float64) / 255.0


def _write_character(path: Path, character: int, frames_per_animation: list[int]) -> None:
    """A sprites_N.mat as MATLAB v7.3 writes a 1×21 cell array: object references into #refs#."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        cell = f.create_dataset("sprites", (len(frames_per_animation), 1), dtype=h5py.ref_dtype)
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
        for a, n in enumerate(frames_per_animation):
            # MATLAB keeps each animation as a 10800×frames double matrix, column-major: HDF5 sees (frames, 10800)
            # and each row is one H×W×C frame flattened in Fortran order.
            rows = (
                np.stack([_frame(character, a, k).flatten(order="F") for k in range(n)]) if n else np.zeros((0, 10800))
            )
            d = refs.create_dataset(f"c{a}", data=rows)
            d.attrs["MATLAB_class"] = np.bytes_("double")
            cell[a, 0] = d.ref
    with open(path, "r+b") as f:
        f.write(MATLAB_HEADER.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")


def write_reed_fixture(root: Path, frames: list[int], splits_v73: bool = False) -> Path:
    folder = root / "data" / "sprites"
    folder.mkdir(parents=True)
    for c in range(3):
        _write_character(folder / f"sprites_{c}.mat", c, frames)
    splits = {"trainidx": np.array([[1, 3]], float), "validx": np.zeros((1, 0)), "testidx": np.array([[2]], float)}
    if splits_v73:
        with h5py.File(folder / "sprites_splits.mat", "w") as f:
            for k, v in splits.items():
                f[k] = v.T
    else:
        scipy.io.savemat(folder / "sprites_splits.mat", splits)  # the archive's own file is MATLAB v5
    return root


@pytest.mark.parametrize("splits_v73", [False, True])
def test_reed_sprites_round_trip_from_their_matlab_files(tmp_path, splits_v73):
    frames = [1 + a % 3 for a in range(21)]  # 21 animations of 1 to 3 frames
    root = write_reed_fixture(tmp_path, frames, splits_v73)
    ds = load_dataset(f"sprites-reed:{root}")
    per_char = sum(frames)
    assert ds.images.shape == (3 * per_char, 3, 60, 60)
    assert np.array_equal(ds.labels, np.repeat([0, 1, 2], per_char))
    i = per_char + frames[0] + frames[1] + 2  # character 1, animation 2, frame 2
    assert (ds.attributes["animation"][i], ds.attributes["frame"][i]) == (2, 2)
    expected = np.rint(_frame(1, 2, 2) * 255).astype(np.uint8).transpose(2, 0, 1)  # H×W×C → C×H×W
    assert np.array_equal(ds.images[i], expected)
    assert np.array_equal(np.unique(ds.labels[ds.train_idx]), [0, 2])  # 1-based trainidx [1, 3]
    assert ds.background == 7  # the frames' corner, onto which a user's transparent image is composited
    assert np.array_equal(np.unique(ds.labels[ds.test_idx]), [1])
    assert ds.class_names[1] == "character 1"


def test_reed_sprites_errors_name_the_problem(tmp_path):
    with pytest.raises(VaelabError, match="sprites_splits.mat"):
        load_dataset(f"sprites-reed:{tmp_path}")
    root = write_reed_fixture(tmp_path / "a", [1] * 21)
    (root / "data" / "sprites" / "sprites_1.mat").write_bytes(b"not hdf5")
    with pytest.raises(VaelabError, match="sprites_1.mat"):
        load_dataset(f"sprites-reed:{root}")


@pytest.mark.parametrize(
    "damage,words",
    [
        ("numbers", "'sprites' is not a cell array"),  # plain numbers where references belong
        ("no-frames", "holds no frames"),
        ("zero-index", "trainidx must hold 1-based character numbers"),
        ("fraction", "trainidx must hold 1-based character numbers"),
        ("overlap", "character 2 is in two splits (train and test)"),
    ],
)
def test_damaged_reed_files_are_one_clear_error(tmp_path, damage, words):
    root = write_reed_fixture(tmp_path, [1] * 21)
    folder = root / "data" / "sprites"
    if damage == "numbers":
        with h5py.File(folder / "sprites_2.mat", "w") as f:
            f["sprites"] = np.zeros((21, 1))
    elif damage == "no-frames":
        _write_character(folder / "sprites_2.mat", 2, [0] * 21)
    else:
        train = {"zero-index": [[0, 1]], "fraction": [[1.5, 3]], "overlap": [[1, 2]]}[damage]
        scipy.io.savemat(
            folder / "sprites_splits.mat",
            {"trainidx": np.array(train, float), "validx": np.zeros((1, 0)), "testidx": np.array([[2]], float)},
        )
    with pytest.raises(VaelabError, match=re.escape(words)):
        load_dataset(f"sprites-reed:{root}")
