"""Loaders for the seeds' datasets, each on a tiny fixture written in the exact format its authors ship."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from PIL import Image

from conftest import emoji_font_available, write_omniglot
from vaelab.data.dataset import ImageDataset
from vaelab.data.loaders import load_dataset
from vaelab.errors import VaelabError, VaelabWarning


def _pickle(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _cifar_rows(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def test_cifar10_batches(tmp_path):
    for i in range(1, 6):
        _pickle(
            tmp_path / f"data_batch_{i}",
            {
                b"batch_label": b"training batch",
                b"data": _cifar_rows(4, i),
                b"labels": [i % 10, 1, 2, 3],
                b"filenames": [b"a.png"] * 4,
            },
        )
    _pickle(tmp_path / "test_batch", {b"data": _cifar_rows(3, 9), b"labels": [9, 8, 7]})
    _pickle(
        tmp_path / "batches.meta",
        {
            b"label_names": [
                b"airplane",
                b"automobile",
                b"bird",
                b"cat",
                b"deer",
                b"dog",
                b"frog",
                b"horse",
                b"ship",
                b"truck",
            ]
        },
    )
    ds = load_dataset(f"cifar10:{tmp_path}")
    assert ds.images.shape == (23, 3, 32, 32) and len(ds.train_idx) == 20 and len(ds.test_idx) == 3
    np.testing.assert_array_equal(ds.images[0], _cifar_rows(4, 1)[0].reshape(3, 32, 32))  # channel-major rows
    assert ds.class_names[9] == "truck" and list(ds.labels[ds.test_idx]) == [9, 8, 7]


def test_cifar100_fine_and_coarse_labels(tmp_path):
    for name, n in (("train", 5), ("test", 2)):
        _pickle(
            tmp_path / name, {b"data": _cifar_rows(n, n), b"fine_labels": list(range(n)), b"coarse_labels": [0] * n}
        )
    _pickle(
        tmp_path / "meta",
        {
            b"fine_label_names": [f"f{i}".encode() for i in range(100)],
            b"coarse_label_names": [b"aquatic_mammals"] + [b"x"] * 19,
        },
    )
    ds = load_dataset(f"cifar100:{tmp_path}")
    assert len(ds) == 7 and ds.class_names[4] == "f4"
    assert set(ds.attributes["coarse"].tolist()) == {"aquatic_mammals"}


def test_cifar_refuses_a_pickle_that_runs_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    for i in range(1, 6):
        _pickle(tmp_path / f"data_batch_{i}", {b"data": Evil()})
    _pickle(tmp_path / "test_batch", {b"data": _cifar_rows(1, 0), b"labels": [0]})
    _pickle(tmp_path / "batches.meta", {b"label_names": [b"a"]})
    with pytest.raises(VaelabError, match="refusing to load"):
        load_dataset(f"cifar10:{tmp_path}")
    assert not (tmp_path / "pwned").exists()


def _jpeg(path, colour, size=(64, 64)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=95)


def test_tiny_imagenet_layout(tmp_path):
    wnids = ["n01443537", "n01629819"]
    (tmp_path / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (tmp_path / "words.txt").write_text("n01443537\tgoldfish, Carassius auratus\nn01629819\tEuropean fire salamander\n")
    for k, w in enumerate(wnids):
        for j in range(2):
            _jpeg(tmp_path / "train" / w / "images" / f"{w}_{j}.JPEG", (200 * k, 50, 50))
    _jpeg(tmp_path / "val" / "images" / "val_0.JPEG", (0, 0, 250))
    (tmp_path / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn01629819\t0\t0\t63\t63\n")
    ds = load_dataset(f"tiny-imagenet:{tmp_path}")
    assert ds.class_names == ["goldfish", "European fire salamander"]
    assert list(ds.labels) == [0, 0, 1, 1, 1] and list(ds.test_idx) == [4]
    assert ds.images[4, 2, 5, 5] > 240 and ds.images[0, 0, 5, 5] < 10 and ds.images[2, 0, 5, 5] > 190


def test_celeba_attributes_split_and_crop(tmp_path):
    names = ["000001.jpg", "000002.jpg", "000003.jpg"]
    for i, n in enumerate(names):
        img = Image.new("RGB", (178, 218), "white")
        img.paste((255, 0, 0) if i != 1 else (0, 0, 255), (15, 35, 163, 183))  # the centred 148 box is coloured
        (tmp_path / "img_align_celeba").mkdir(exist_ok=True)
        img.save(tmp_path / "img_align_celeba" / n, quality=95)
    (tmp_path / "list_attr_celeba.txt").write_text(
        "3\n5_o_Clock_Shadow Smiling Male \n000001.jpg -1  1 -1\n000002.jpg  1 -1  1\n000003.jpg -1  1  1\n"
    )
    (tmp_path / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 2\n")
    ds = load_dataset(f"celeba:{tmp_path}", size=(16, 16))
    assert ds.images.shape == (3, 3, 16, 16) and list(ds.test_idx) == [2]
    from vaelab.data.dataset import query_mask

    assert list(query_mask(ds, "Smiling=1")) == [True, False, True]
    assert ds.images[0, 0].min() > 200 and ds.images[0, 2].max() < 60  # all red: the crop kept the box only
    wide = load_dataset(f"celeba:{tmp_path},crop=0", size=(16, 16))
    assert wide.images[0, 2].max() > 200  # without the crop the white margin shows


def test_omniglot_layout_and_labels(tmp_path):
    ds = load_dataset(f"omniglot:{write_omniglot(tmp_path)}")
    assert ds.images.shape == (6, 1, 28, 28) and ds.class_names == [
        "Latin/character01",
        "Latin/character02",
        "Greek/character01",
    ]
    assert list(ds.labels) == [0, 0, 1, 1, 2, 2] and list(ds.test_idx) == [4, 5]
    assert list(ds.attributes["alphabet"]) == ["Latin"] * 4 + ["Greek"] * 2


def test_decoded_cache_is_reused_and_invalidated_by_a_changed_source(tmp_path, monkeypatch):
    import vaelab.data.cache as cache

    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "omni" / "images_background" / "A" / "c1"
    root.mkdir(parents=True)
    Image.new("L", (105, 105), 255).save(root / "x.png")
    first = load_dataset(f"omniglot:{tmp_path / 'omni'}")
    assert isinstance(first.images, np.memmap)
    calls = []
    real = cache.load_image
    monkeypatch.setattr(cache, "load_image", lambda *a, **k: calls.append(1) or real(*a, **k))
    load_dataset(f"omniglot:{tmp_path / 'omni'}")
    assert calls == []  # served from the cache
    Image.new("L", (105, 105), 0).save(root / "x.png")
    os.utime(root / "x.png", ns=(1, 1))
    changed = load_dataset(f"omniglot:{tmp_path / 'omni'}")
    assert calls == [1] and changed.images[0].max() == 0
    for path in (tmp_path / "cache").glob("omniglot-*.npy"):
        path.write_bytes(path.read_bytes()[:100])  # cut short: decoded again, with a warning, not a traceback
    with pytest.warns(VaelabWarning, match="could not be read"):
        again = load_dataset(f"omniglot:{tmp_path / 'omni'}")
    assert calls == [1, 1] and again.images[0].max() == 0


@pytest.mark.parametrize(
    "spec,words",
    [
        ("cifar10:{tmp}", "missing data_batch_1"),
        ("celeba:{tmp}/nope", "no such folder"),
        ("tiny-imagenet:{tmp}", "missing wnids.txt"),
        ("omniglot:{tmp}", "images_background"),
    ],
)
def test_incomplete_folders_name_what_is_missing(tmp_path, spec, words):
    with pytest.raises(VaelabError, match=words):
        load_dataset(spec.format(tmp=tmp_path))


def _celeba_files(root, img_dir, attr_dir):
    for i, n in enumerate(("000001.jpg", "000002.jpg", "000003.jpg")):
        (img_dir / "img_align_celeba").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (178, 218), (80 * i, 0, 0)).save(img_dir / "img_align_celeba" / n, quality=95)
    attr_dir.mkdir(parents=True, exist_ok=True)
    (attr_dir / "list_attr_celeba.txt").write_text(
        "3\nSmiling Male \n000001.jpg -1 1\n000002.jpg 1 -1\n000003.jpg -1 1\n"
    )


def test_celeba_in_the_official_subfolders_without_a_partition_file_gets_the_fixed_split(tmp_path):
    _celeba_files(tmp_path, tmp_path / "Img", tmp_path / "Anno")  # as the official download unpacks
    ds = load_dataset(f"celeba:{tmp_path}", size=(8, 8))
    fixed = ImageDataset(images=ds.images.copy())  # the split every set without an official one gets
    assert len(ds) == 3 and list(ds.test_idx) == list(fixed.test_idx) and len(ds.train_idx) == 2
    assert "partition" not in ds.attributes and list(ds.attributes["Smiling"]) == [-1, 1, -1]
    (tmp_path / "Eval").mkdir()
    (tmp_path / "Eval" / "list_eval_partition.txt").write_text("000001.jpg 2\n000002.jpg 0\n000003.jpg 0\n")
    assert list(load_dataset(f"celeba:{tmp_path}", size=(8, 8)).test_idx) == [0]


def _cifar_without_label_names(tmp):
    for i in range(1, 6):
        _pickle(tmp / f"data_batch_{i}", {b"data": _cifar_rows(2, i), b"labels": [0, 1]})
    _pickle(tmp / "test_batch", {b"data": _cifar_rows(1, 0), b"labels": [0]})
    _pickle(tmp / "batches.meta", {b"names": [b"a"]})


def _celeba_with_a_bad_partition(tmp):
    _celeba_files(tmp, tmp, tmp)
    (tmp / "list_eval_partition.txt").write_text("000001.jpg 0 extra\n")


@pytest.mark.parametrize(
    "spec,prepare,words",
    [
        ("cifar10:{tmp}", _cifar_without_label_names, "not in the expected format (KeyError"),
        ("celeba:{tmp}", _celeba_with_a_bad_partition, "not in the expected format (ValueError"),
        ("celeba:{tmp},crop=-5", None, "crop must be 0"),
        ("emoji:0", None, "4 to 256 pixels"),
        ("emoji:5000", None, "4 to 256 pixels"),
    ],
)
def test_malformed_data_is_one_clear_error(tmp_path, spec, prepare, words):
    if spec.startswith("emoji") and not emoji_font_available():
        pytest.skip("needs Debian's fonts-noto-color-emoji (make test installs it)")
    if prepare:
        prepare(tmp_path)
    with pytest.raises(VaelabError) as e:
        load_dataset(spec.format(tmp=tmp_path))
    assert words in str(e.value)


def test_a_split_with_no_test_images_is_refused():
    with pytest.raises(VaelabError, match="2 training and 0 test images"):
        ImageDataset(images=np.zeros((2, 1, 4, 4), np.uint8), train_idx=np.arange(2), test_idx=np.arange(0))
    ds = ImageDataset(images=np.zeros((3, 1, 4, 4), np.uint8))
    with pytest.raises(VaelabError, match="0 training and 3 test images"):
        ds.use_split([], [0, 1, 2])  # as a benchmark resplitting a loaded set would
    assert ds.use_split([0, 1], [2]).split("test").tolist() == [2]
    kept = ImageDataset(
        images=np.zeros((4, 1, 4, 4), np.uint8),
        train_idx=np.arange(3),
        test_idx=np.array([3]),
        split_source="my benchmark",
    )
    assert kept.spec()["split"] == "my benchmark"
    kept.limit_train(1)  # 'all' then leaves out the training images the limit dropped
    assert kept.split("all").tolist() == [0, 3]
    outside = ImageDataset(images=np.zeros((5, 1, 4, 4), np.uint8), train_idx=np.arange(2), test_idx=np.array([2]))
    outside.limit_train(5)  # drops nothing; image 3 and 4 (in neither split, like CelebA's validation) stay in 'all'
    assert outside.split("all").tolist() == [0, 1, 2, 3, 4]


def test_cached_images_stay_read_only_and_train_without_a_warning(tmp_path):
    import warnings

    from vaelab.training.evaluation import images_tensor

    ds = load_dataset(f"omniglot:{write_omniglot(tmp_path)}")
    assert not ds.images.flags.writeable  # a read-only map: reserves no memory, and cannot change the cache
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about a read-only array
        tensor = images_tensor(ds.images)
    assert tensor.data_ptr() == ds.images.ctypes.data  # no copy


def test_a_shape_the_format_fixes_is_not_silently_ignored(tmp_path, toy_idx_dir):
    assert load_dataset(f"mnist:{toy_idx_dir}", channels=1, size=(28, 28), strict=True).size == (28, 28)
    with pytest.raises(VaelabError, match="1×28×28 images, which this format fixes"):
        load_dataset(f"mnist:{toy_idx_dir}", size=(32, 32), strict=True)
    with pytest.raises(VaelabError, match="which this format fixes"):
        load_dataset(f"mnist:{toy_idx_dir}", channels=3, strict=True)
    assert load_dataset(f"mnist:{toy_idx_dir}", channels=3).channels == 1  # a model's shape: its caller checks
    with pytest.raises(VaelabError, match="takes nothing after it"):
        load_dataset("fashion-mnist:x")


def test_a_failed_download_leaves_no_part_file(tmp_path, monkeypatch):
    import urllib.request

    import vaelab.data.loaders as loaders

    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(OSError):
        loaders._download_fashion_mnist(tmp_path / "fm")
    assert list((tmp_path / "fm").iterdir()) == []
