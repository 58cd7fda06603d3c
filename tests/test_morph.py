"""morph / class morph through the API and the CLI, the two inference backends, and the outputs."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

import vaelab
from vaelab.data.loaders import load_dataset
from vaelab.tasks.encoding import CENTROIDS_NAME
from vaelab.tasks.morph import run_morph, write_morph_outputs


def _shape_png(tmp_path, name, label, size=28, mode="L", fmt="PNG", **kw):
    """A toy-class image (as in the tiny model's data) saved in the given mode, size and format."""
    from conftest import toy_images

    imgs, labels = toy_images(60, 28, seed=5)
    arr = imgs[list(labels).index(label)]
    img = Image.fromarray(arr, "L").resize((size, size) if isinstance(size, int) else size)
    if mode == "RGBA":
        img = img.convert("RGBA")
    elif mode != "L":
        img = img.convert(mode)
    path = tmp_path / name
    img.save(path, format=fmt, **kw)
    return path


def test_morph_gives_the_asked_frames_at_the_upscaled_size(tmp_path, tiny_model_dir):
    a, b = _shape_png(tmp_path, "a.png", 0), _shape_png(tmp_path, "b.png", 1)
    frames = vaelab.morph(tiny_model_dir, [a, b], frames=7, method="slerp", upscale=3)
    assert len(frames) == 7 and all(f.size == (84, 84) for f in frames)
    # the first and last frames are the reconstructions of the inputs
    z = vaelab.encode_images(tiny_model_dir, [a, b])
    ends = vaelab.decode_latents(tiny_model_dir, z)
    for frame, end in ((frames[0], ends[0]), (frames[-1], ends[1])):
        small = np.asarray(frame.resize((28, 28), Image.Resampling.NEAREST), np.float32) / 255
        np.testing.assert_allclose(small, end[0], atol=1 / 255 + 1e-6)
    assert not np.allclose(np.asarray(frames[3]), np.asarray(frames[0]))  # the middle differs from the ends


def test_written_gif_has_every_frame_and_pingpong_doubles_back(tmp_path, tiny_model_dir):
    a, b = _shape_png(tmp_path, "a.png", 0), _shape_png(tmp_path, "b.png", 2)
    result = run_morph(tiny_model_dir, images=[a, b], frames=6, upscale=2)
    written = write_morph_outputs(result, tmp_path / "out", fps=10)
    with Image.open(written["morph.gif"]) as gif:
        assert gif.n_frames == 6 and gif.info["duration"] == 100
    assert len(list((tmp_path / "out" / "frames").glob("frame_*.png"))) == 6
    write_morph_outputs(result, tmp_path / "out2", pingpong=True, mp4=False, fps=60)
    with Image.open(tmp_path / "out2" / "morph.gif") as gif:
        assert gif.n_frames == 10  # 6 forward, 4 back (the ends are not repeated)
        assert gif.info["duration"] == 20  # 60 fps is faster than a GIF plays: held at 50 (browsers slow 10 ms)
    write_morph_outputs(result, tmp_path / "out3", mp4=False, fps=12)
    with Image.open(tmp_path / "out3" / "morph.gif") as gif:
        assert gif.info["duration"] == 80  # 83 ms, rounded to the hundredths a GIF stores
    sheet = Image.open(written["contact_sheet.png"])
    assert sheet.width >= 6 * 56 and sheet.height > 2 * 56


def test_a_gif_frame_enlarged_by_nearest_neighbour_is_quantised_small_with_the_same_result():
    from vaelab.viz.media import block_size, paletted

    rng = np.random.default_rng(0)
    # a smooth colour field with noise: more than 256 colours, so median cut has to choose
    yy, xx = np.mgrid[0:48, 0:40]
    field = np.stack([xx * 6, yy * 5, (xx + yy) * 3], -1) + rng.integers(0, 40, (48, 40, 3))
    small = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8))
    for factor in (2, 3, 4):
        big = small.resize((40 * factor, 48 * factor), Image.Resampling.NEAREST)
        assert block_size(np.asarray(big)) == factor
        full = big.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        np.testing.assert_array_equal(np.asarray(paletted(big).convert("RGB")), np.asarray(full.convert("RGB")))
    smooth = small.resize((160, 192), Image.Resampling.BICUBIC)
    assert block_size(np.asarray(smooth)) == 1 and block_size(np.asarray(small)) == 1
    np.testing.assert_array_equal(
        np.asarray(paletted(smooth)), np.asarray(smooth.quantize(colors=256, method=Image.Quantize.MEDIANCUT))
    )
    shifted = np.asarray(small.resize((160, 192), Image.Resampling.NEAREST)).copy()
    shifted[1, 0] = 255 - shifted[1, 0]  # one pixel breaks its block
    assert block_size(shifted) == 1


def test_a_contact_sheet_of_large_frames_wraps_into_rows_a_viewer_shows_whole():
    from vaelab.viz.media import SHEET_WIDTH, contact_sheet

    big = [Image.new("RGB", (256, 256), (i * 10, 0, 0)) for i in range(24)]
    sheet = contact_sheet(big[:2], [], big)
    assert sheet.width <= SHEET_WIDTH and sheet.height >= 3 * 256  # three rows, not one 6,000 px wide
    assert sheet.getpixel((4 + 10, 4 + 14 + 256 + 4 + 14 + 260 + 10)) == (80, 0, 0)  # 8 a row: frame 8 opens row 2
    assert sheet.getpixel((4 + 7 * 260 + 10, 4 + 14 + 256 + 4 + 14 + 2 * 260 + 10)) == (230, 0, 0)  # the last, full


def test_cli_morph_end_to_end_on_odd_sizes_and_modes(tmp_path, tiny_model_dir):
    inputs = [
        _shape_png(tmp_path, "rgba.png", 0, size=(41, 33), mode="RGBA"),
        _shape_png(tmp_path, "cmyk.jpg", 1, size=(50, 77), mode="CMYK", fmt="JPEG", quality=95),
        _shape_png(tmp_path, "pal.gif", 2, size=17, mode="P", fmt="GIF"),
        _shape_png(tmp_path, "deep.png", 0, size=(29, 31), mode="I;16"),
    ]
    out = tmp_path / "cli-out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vaelab.cli",
            "morph",
            *map(str, inputs),
            "--model",
            str(tiny_model_dir),
            "--frames",
            "9",
            "--loop",
            "--upscale",
            "2",
            "--resample",
            "bicubic",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    frames = sorted((out / "frames").glob("*.png"))
    assert len(frames) == 9 and Image.open(frames[0]).size == (56, 56)
    assert (out / "contact_sheet.png").is_file() and (out / "morph.gif").is_file()
    assert "9 frames" in proc.stdout


def test_mp4_is_written_when_ffmpeg_is_there(tmp_path, tiny_model_dir):
    pytest.importorskip("imageio_ffmpeg")
    a, b = _shape_png(tmp_path, "a.png", 0), _shape_png(tmp_path, "b.png", 1)
    written = write_morph_outputs(run_morph(tiny_model_dir, images=[a, b], frames=8, upscale=3), tmp_path / "o")
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(written["morph.mp4"]))
    meta = reader.__next__()
    assert meta["size"] == (84, 84) and sum(1 for _ in reader) == 8


def test_missing_ffmpeg_is_said_and_the_rest_still_written(tmp_path, tiny_model_dir, monkeypatch, capsys):
    import vaelab.tasks.morph as morph_task

    def broken(*a, **k):
        raise ImportError("No module named 'imageio_ffmpeg'")

    monkeypatch.setattr(morph_task, "write_mp4", broken)
    a, b = _shape_png(tmp_path, "a.png", 0), _shape_png(tmp_path, "b.png", 1)
    notes = []
    written = write_morph_outputs(
        run_morph(tiny_model_dir, images=[a, b], frames=4), tmp_path / "o", log=lambda *a, **k: notes.append(a[0])
    )
    assert "morph.mp4" not in written and {"morph.gif", "contact_sheet.png", "frames"} <= set(written)
    assert any("no MP4" in n for n in notes)


def test_class_morph_and_blend_reach_a_class_seen_only_in_the_test_split(tmp_path):
    """Omniglot's evaluation characters never occur in training; their centroids come from their test images."""
    from conftest import write_omniglot
    from vaelab.models.config import ModelConfig
    from vaelab.training.config import TrainConfig
    from vaelab.training.vae import train

    spec = f"omniglot:{write_omniglot(tmp_path / 'omni', per_character=4)}"
    ds = load_dataset(spec)
    train(
        ModelConfig(channels=1, latent_dim=4, widths=(8,)),
        ds,
        tmp_path / "m",
        TrainConfig(epochs=1, batch_size=4),
        progress=False,
    )
    m = vaelab.open_model(tmp_path / "m")
    greek = ds.labels == ds.class_index("Greek/character01")
    assert not greek[ds.train_idx].any()
    expected = m.decode(m.embed(ds.images[greek].astype(np.float32) / 255).mean(0, keepdims=True))[0, 0]
    frames = vaelab.class_morph(tmp_path / "m", ["Latin/character01", "Greek/character01"], frames=3)
    np.testing.assert_allclose(np.asarray(frames[-1], np.float32) / 255, expected, atol=1 / 255 + 1e-5)
    from vaelab.tasks.blend import blend

    blended = blend(tmp_path / "m", classes="all", k=2)  # blend's class images are the same centroids
    np.testing.assert_allclose(blended.class_images[-1][0], expected, atol=1e-5)
    assert np.isfinite(blended.pixel_pca).all()


def test_class_morph_ends_at_the_decoded_centroids(tiny_model_dir):
    m = vaelab.open_model(tiny_model_dir)
    ds = load_dataset(m.doc["data"]["name"])
    idx = ds.split("train")
    z = m.embed(ds.images[idx].astype(np.float32) / 255)
    labels = ds.labels[idx]
    cents = np.stack([z[labels == k].mean(0) for k in (0, 2)])
    expected = m.decode(cents)
    frames = vaelab.class_morph(tiny_model_dir, ["0", "2"], frames=5)
    assert len(frames) == 5
    for frame, exp in ((frames[0], expected[0]), (frames[-1], expected[1])):
        np.testing.assert_allclose(np.asarray(frame, np.float32) / 255, exp[0], atol=1 / 255 + 1e-5)
    assert (tiny_model_dir / CENTROIDS_NAME).is_file()  # cached next to the model for the next run
    result = vaelab.run_morph(tiny_model_dir, classes=["0", "2"], frames=5)
    # The decoded centroid is the input: shown once, captioned as such, with no second "reconstruction".
    assert result.reconstructions == [] and result.labels == ["0 (centroid)", "2 (centroid)"]
    from vaelab.viz.media import contact_sheet

    w, h = result.frames[0].size
    top = np.asarray(contact_sheet(result.inputs, [], result.frames, result.labels))[4 + 14 : 4 + 14 + h]
    beside = top[:, 4 + w + 2 : 4 + 2 * w + 2]  # where a reconstruction would stand next to the first input
    assert (beside == 255).all() and (top[:, 4 : 4 + w] < 255).any()


def test_onnx_and_torch_backends_agree(tmp_path, tiny_model_dir):
    a, b = _shape_png(tmp_path, "a.png", 0), _shape_png(tmp_path, "b.png", 2)
    z_onnx = vaelab.encode_images(tiny_model_dir, [a, b], backend="onnx")
    z_torch = vaelab.encode_images(tiny_model_dir, [a, b], backend="torch")
    np.testing.assert_allclose(z_onnx, z_torch, atol=1e-4)
    zs = np.random.default_rng(0).normal(size=(16, z_onnx.shape[1])).astype(np.float32)
    np.testing.assert_allclose(
        vaelab.decode_latents(tiny_model_dir, zs, backend="onnx"),
        vaelab.decode_latents(tiny_model_dir, zs, backend="torch"),
        atol=1e-4,
    )
    f_onnx = vaelab.morph(tiny_model_dir, [a, b], frames=8, backend="onnx")
    f_torch = vaelab.morph(tiny_model_dir, [a, b], frames=8, backend="torch")
    diff = [np.abs(np.asarray(x, int) - np.asarray(y, int)).max() for x, y in zip(f_onnx, f_torch)]
    assert max(diff) <= 1  # identical up to uint8 rounding


def test_morph_with_onnx_never_imports_torch(tmp_path, tiny_model_dir):
    a, b = _shape_png(tmp_path, "a.png", 0), _shape_png(tmp_path, "b.png", 1)
    code = (
        f"import sys, vaelab; f = vaelab.morph({str(tiny_model_dir)!r}, [{str(a)!r}, {str(b)!r}], frames=4); "
        "assert len(f) == 4; print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_a_limited_runs_centroids_and_blend_use_the_images_it_trained_on(tmp_path, toy_idx_dir):
    import vaelab
    from vaelab.models.config import ModelConfig
    from vaelab.models.runtime import encode_batched
    from vaelab.tasks.blend import blend
    from vaelab.tasks.encoding import cached_class_centroids
    from vaelab.training.config import TrainConfig
    from vaelab.training.vae import train

    ds = vaelab.load_dataset(f"mnist:{toy_idx_dir}")
    ds.limit_train(60)
    train(
        ModelConfig(latent_dim=4, widths=(8,)), ds, tmp_path / "run", TrainConfig(epochs=1, onnx=False), progress=False
    )
    m = vaelab.open_model(tmp_path / "run")
    rows = vaelab.load_dataset(f"mnist:{toy_idx_dir}").split("train")[:60]
    z, labels = encode_batched(m, ds.images[rows]), ds.labels[rows]
    expected = np.stack([z[labels == c].mean(0) for c in range(3)])
    np.testing.assert_allclose(cached_class_centroids(m, progress=False), expected, rtol=1e-5, atol=1e-6)
    assert blend(m, "all", k=2, eigen=2).confusion.sum() == 60  # k-means on the 60 training images only


def test_the_data_of_a_model_trained_on_another_split_warns_that_its_training_images_differ(tmp_path, toy_idx_dir):
    import torch

    from vaelab.errors import VaelabWarning
    from vaelab.models.config import ModelConfig
    from vaelab.models.registry import build_model
    from vaelab.models.runtime import open_model
    from vaelab.tasks.encoding import load_model_dataset

    torch.manual_seed(0)
    spec = {
        "name": f"mnist:{toy_idx_dir}",
        "channels": 1,
        "size": [28, 28],
        "background": 0,
        "class_names": None,
        "limit": None,
        "split": "benchmarks/emoji_arithmetic.py",
    }
    folder = build_model(ModelConfig(latent_dim=2, widths=(8,))).save_pretrained(tmp_path / "m", spec, onnx=False)
    with pytest.warns(VaelabWarning, match="trained on a split made by benchmarks/emoji_arithmetic.py"):
        load_model_dataset(open_model(folder))
    spec["split"] = None
    folder = build_model(ModelConfig(latent_dim=2, widths=(8,))).save_pretrained(tmp_path / "n", spec, onnx=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_model_dataset(open_model(folder)).split("train")) == 300


def test_class_morph_on_a_model_without_classes_says_to_morph_files(tmp_path):
    import torch

    from vaelab.errors import VaelabError
    from vaelab.models.config import ModelConfig
    from vaelab.models.registry import build_model
    from vaelab.tasks.morph import run_morph

    torch.manual_seed(0)
    folder = build_model(ModelConfig(latent_dim=2, widths=(8,))).save_pretrained(
        tmp_path / "m",
        {"name": "folder:/nowhere", "channels": 1, "size": [28, 28], "background": 0, "class_names": None},
        onnx=False,
    )
    with pytest.raises(VaelabError, match="had no classes .* morph image files instead"):
        run_morph(folder, classes=["tabby", "black"], frames=3)
