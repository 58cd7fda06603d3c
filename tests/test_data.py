"""The IDX reader and the image-folder loader, on files the tests write in the real formats."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import toy_images, write_idx
from vaelab.data.idx import read_idx
from vaelab.data.images import fit_to_size, load_image
from vaelab.data.loaders import load_dataset
from vaelab.errors import VaelabError


@pytest.mark.parametrize("gz", [True, False])
def test_idx_reader_returns_the_stored_array(tmp_path, gz):
    x, _ = toy_images(5, 28)
    p = write_idx(tmp_path / ("x.gz" if gz else "x"), x, gz=gz)
    np.testing.assert_array_equal(read_idx(p), x)


def test_idx_reader_handles_big_endian_int32(tmp_path):
    arr = np.array([[1, -2, 70000]], dtype=np.int32)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "i.gz", arr)), arr)


def test_idx_reader_rejects_bad_magic_and_truncation(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(VaelabError, match="magic"):
        read_idx(tmp_path / "bad")
    p = write_idx(tmp_path / "t", np.zeros((3, 4, 4), np.uint8), gz=False)
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(VaelabError, match="truncated"):
        read_idx(p)
    p = write_idx(tmp_path / "u", np.zeros((3, 4, 4), np.uint8), gz=False)
    p.write_bytes(p.read_bytes() + b"\x00")  # one byte too many: the header and the file disagree just as much
    with pytest.raises(VaelabError, match="padded"):
        read_idx(p)


def test_mnist_folder_keeps_the_official_split_and_labels(toy_idx_dir):
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    assert ds.images.shape == (360, 1, 28, 28) and ds.images.dtype == np.uint8
    assert list(ds.train_idx) == list(range(300)) and list(ds.test_idx) == list(range(300, 360))
    x, y = toy_images(60, 28, seed=1)
    np.testing.assert_array_equal(ds.images[ds.test_idx, 0], x)
    np.testing.assert_array_equal(ds.labels[ds.test_idx], y)
    assert ds.class_names == ["0", "1", "2"]


def _save(img: Image.Image, path, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def test_folder_loader_converts_modes_sizes_and_labels_subfolders(tmp_path):
    root = tmp_path / "imgs"
    red = Image.new("RGB", (30, 17), (255, 0, 0))
    _save(red.convert("RGBA"), root / "cats" / "a.png")
    _save(Image.new("L", (9, 40), 128), root / "cats" / "b.png")
    _save(Image.new("CMYK", (33, 33), (0, 255, 255, 0)), root / "dogs" / "c.jpg", quality=95)
    ds = load_dataset(f"folder:{root}", channels=3, size=(16, 16))
    assert ds.images.shape == (3, 3, 16, 16)
    assert ds.class_names == ["cats", "dogs"] and list(ds.labels) == [0, 0, 1]
    np.testing.assert_array_equal(ds.images[0, :, 8, 8], [255, 0, 0])
    np.testing.assert_array_equal(ds.images[1, :, 8, 8], [128, 128, 128])
    assert ds.images[2, 0, 8, 8] > 240 and ds.images[2, 1, 8, 8] < 15  # CMYK (0,255,255,0) is red
    flat = load_dataset(f"folder:{root / 'cats'}", channels=1, size=(8, 8))
    assert flat.labels is None and flat.images.shape == (2, 1, 8, 8)


def test_folder_classes_take_nested_images_and_leave_out_hidden_and_unreadable_files(tmp_path):
    import warnings

    from vaelab.errors import VaelabError, VaelabWarning

    root = tmp_path / "imgs"
    _save(Image.new("L", (8, 8), 10), root / "cats" / "a.png")
    _save(Image.new("L", (8, 8), 20), root / "cats" / "kittens" / "b.png")  # a nested folder is still "cats"
    _save(Image.new("L", (8, 8), 30), root / "dogs" / "c.png")
    _save(Image.new("L", (8, 8), 99), root / "dogs" / ".hidden.png")
    (root / "dogs" / "._c.png").write_bytes(b"\x00\x05\x16\x07 macOS AppleDouble")  # hidden: skipped silently
    _save(Image.new("L", (8, 8), 99), root / ".thumbs" / "t.png")  # a hidden folder is no class
    (root / "cats" / "notes.jpg").write_text("not an image")  # in the first class: the later labels must not slip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(f"folder:{root}", channels=1, size=(8, 8))
    assert ds.class_names == ["cats", "dogs"] and ds.labels.tolist() == [0, 0, 1]
    assert ds.images[:, 0, 4, 4].tolist() == [10, 20, 30]
    (w,) = [w for w in caught if issubclass(w.category, VaelabWarning)]
    assert "left out 1 of 4" in str(w.message) and "notes.jpg" in str(w.message)
    (root / "dogs" / "c.png").write_text("broken")
    with pytest.raises(VaelabError, match="the one image file could not be read: .*c.png"):
        load_dataset(f"folder:{root / 'dogs'}", channels=1, size=(8, 8))
    flat = tmp_path / "flat"  # a flat folder with an old subfolder of images deeper down: still a flat folder
    for i in range(3):
        _save(Image.new("L", (8, 8), i), flat / f"{i}.png")
    _save(Image.new("L", (8, 8), 99), flat / "old" / "x" / "b.png")
    ds = load_dataset(f"folder:{flat}", channels=1, size=(8, 8))
    assert ds.labels is None and len(ds) == 3


def test_transparent_pixels_take_the_background_value():
    img = Image.new("RGBA", (10, 10), (200, 50, 50, 0))
    img.paste((0, 0, 0, 255), (0, 0, 5, 10))
    arr = load_image(img, 1, (10, 10), background=255)
    assert arr[0, 5, 8] == 255 and arr[0, 5, 1] == 0


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("L", (20, 10), 0)
    img.paste(255, (0, 0, 10, 10))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° CW to display"
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif, quality=100)
    (tmp_path / "r.jpg").write_bytes(buf.getvalue())
    arr = load_image(tmp_path / "r.jpg", 1, (20, 10))  # displayed upright it is 10 wide, 20 tall
    assert arr[0, 2, 5] > 200 and arr[0, 17, 5] < 50  # the white half is now on top


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    arr16 = np.full((8, 8), 32768, np.uint16)
    Image.fromarray(arr16).save(tmp_path / "deep.png")
    out = load_image(tmp_path / "deep.png", 1, (8, 8))
    assert 126 <= out[0, 0, 0] <= 129
    wide = np.zeros((8, 8), np.int32)
    wide[:, 4:] = 220_000  # a 32-bit TIFF past 16 bits: scaled by its maximum, not clipped to white
    Image.fromarray(wide, "I").save(tmp_path / "wide.tif")
    out = load_image(tmp_path / "wide.tif", 1, (8, 8))
    assert out[0, 0, 0] == 0 and out[0, 0, 7] == 255


def test_cover_resize_centre_crops_without_stretching():
    img = Image.new("L", (40, 20), 0)
    img.paste(255, (10, 0, 30, 20))  # a centred white square
    out = np.asarray(fit_to_size(img, (10, 10)))
    assert out.shape == (10, 10) and out.min() > 200  # the crop is the white centre only


def test_unknown_and_missing_datasets_give_clear_errors(tmp_path):
    with pytest.raises(VaelabError, match="unknown dataset"):
        load_dataset("cifar-99")
    with pytest.raises(VaelabError, match="no such folder"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VaelabError, match="no images"):
        load_dataset(f"folder:{tmp_path / 'empty'}")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    with pytest.raises(VaelabError, match="x.png"):
        load_dataset(f"folder:{tmp_path / 'bad'}")


def test_fashion_mnist_error_names_all_three_places(monkeypatch, tmp_path):
    import vaelab.data.loaders as loaders

    monkeypatch.setattr(loaders, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    monkeypatch.setenv("VAELAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VAELAB_NO_DOWNLOAD", "1")
    with pytest.raises(VaelabError) as e:
        load_dataset("fashion-mnist")
    msg = str(e.value)
    assert str(tmp_path / "none") in msg and str(tmp_path / "data" / "fashion-mnist") in msg
    assert str(tmp_path / "cache" / "fashion-mnist") in msg and "apt-get install dataset-fashion-mnist" in msg


def test_tqdm_disable_in_the_environment_silences_bars_the_caller_asked_for(monkeypatch):
    from vaelab.progress import progress_bar

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert not progress_bar(range(3), show=True).disable and progress_bar(range(3), show=False).disable
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_bar(range(3), show=True).disable
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert not progress_bar(range(3), show=True).disable
