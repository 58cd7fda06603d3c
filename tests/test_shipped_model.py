"""The model that ships inside the package: it loads with no arguments and still scores what it recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vaelab
from conftest import emoji_font_available, fashion_mnist_available
from vaelab.models.config import DEFAULT_MODEL
from vaelab.models.shipped import shipped_models


def test_shipped_model_is_complete_and_small():
    names = {p.name for p in DEFAULT_MODEL.iterdir()}
    files = {"config.json", "model.safetensors", "encoder.onnx", "decoder.onnx", "centroids.safetensors", "eval.json"}
    assert files <= names
    assert (DEFAULT_MODEL / "model.safetensors").stat().st_size <= 5 * 2**20
    doc = json.loads((DEFAULT_MODEL / "config.json").read_text())
    assert doc["model"]["kind"] == "vae-conv" and doc["data"]["name"] == "fashion-mnist"
    assert len(doc["data"]["class_names"]) == 10
    shipped, named = vaelab.load(None), vaelab.load(DEFAULT_MODEL)  # None is the shipped model, as elsewhere
    assert all(np.array_equal(a, b) for a, b in zip(shipped.state_dict().values(), named.state_dict().values()))


def test_vaelab_models_shows_the_shipped_models_psnr_that_its_eval_json_records(capsys):
    import re

    from vaelab.cli import main

    recorded = json.loads((DEFAULT_MODEL / "eval.json").read_text())["reconstruction"]
    assert abs(recorded["psnr"] - 20.25) < 0.005  # README's figure, by `vaelab evaluate --out` on this folder
    assert main(["models"]) == 0
    rows = {line.split()[0]: re.split(r"\s{2,}", line) for line in capsys.readouterr().out.splitlines()}
    row = dict(zip(rows["name"], rows["fashion-mnist"]))
    assert row["PSNR dB"] == f"{recorded['psnr']:.2f}" and row["SSIM"] == f"{recorded['ssim']:.3f}"
    assert row["test -ELBO"] == "240.05"  # training's own figure, from config.json, stays


def test_a_dark_object_on_white_is_said_to_be_inverted_and_invert_morphs_its_negative(tmp_path):
    import warnings

    from PIL import Image

    from vaelab.errors import VaelabWarning

    shirt, bag = np.zeros((28, 28), np.uint8), np.zeros((28, 28), np.uint8)
    shirt[4:24, 8:20], bag[14:22, 2:26] = 220, 200  # light shapes on black, as in Fashion-MNIST
    light = [Image.fromarray(a) for a in (shirt, bag)]
    dark = [Image.fromarray(255 - a) for a in (shirt, bag)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the right way round: not a word
        plain = vaelab.morph(None, light, frames=3)
    with pytest.warns(VaelabWarning) as caught:
        vaelab.morph(None, dark, frames=3)
    assert [str(w.message).split(" reconstructs poorly")[0] for w in caught] == ["image 1", "image 2"]
    assert all("but its negative well" in str(w.message) and "--invert" in str(w.message) for w in caught)
    inverted = vaelab.morph(None, dark, frames=3, invert=True)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(plain, inverted))
    from vaelab.tasks.morph import run_morph

    with pytest.raises(vaelab.VaelabError, match="a class morph has none"):  # not silently ignored
        run_morph(None, classes=["Sneaker", "Bag"], invert=True)


@pytest.mark.skipif(
    not fashion_mnist_available(), reason="needs Debian's dataset-fashion-mnist (make test installs it)"
)
def test_shipped_model_scores_its_recorded_test_elbo():
    from vaelab.training.evaluation import evaluate_elbo

    recorded = json.loads((DEFAULT_MODEL / "config.json").read_text())["metrics"]["test"]["neg_elbo"]
    ds = vaelab.load_dataset("fashion-mnist")
    # a different seed than the recorded run: the figure must hold, not just repeat bit for bit
    measured = evaluate_elbo(vaelab.load(DEFAULT_MODEL), ds.images[ds.split("test")], seed=123)["neg_elbo"]
    assert abs(measured - recorded) <= 0.5, (measured, recorded)
    assert recorded <= 246


@pytest.mark.skipif(
    not fashion_mnist_available(), reason="needs Debian's dataset-fashion-mnist (make test installs it)"
)
def test_shipped_centroids_are_the_training_class_means():
    from safetensors.numpy import load_file

    ds = vaelab.load_dataset("fashion-mnist")
    idx = ds.split("train")
    z = vaelab.open_model().embed(ds.images[idx].astype(np.float32) / 255)
    shipped = load_file(str(DEFAULT_MODEL / "centroids.safetensors"))["centroids"]
    for k in range(10):
        np.testing.assert_allclose(z[ds.labels[idx] == k].mean(0), shipped[k], atol=1e-4)


def test_morph_with_no_model_uses_the_shipped_one(tmp_path):
    rng = np.random.default_rng(0)
    frames = vaelab.morph(
        None,
        [rng.integers(0, 255, (28, 28), dtype=np.uint8), rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)],
        frames=5,
    )
    assert len(frames) == 5 and frames[0].size == (28, 28)
    sneaker_to_boot = vaelab.class_morph(None, ["Sneaker", "Ankle boot"], frames=3)
    assert len(sneaker_to_boot) == 3


@pytest.mark.skipif(
    not fashion_mnist_available(), reason="needs Debian's dataset-fashion-mnist (make test installs it)"
)
def test_demo_inputs_are_the_garments_they_are_named_after_and_the_demo_writes_its_three_morphs(tmp_path):
    from vaelab.tasks.demo import DEMO_CLASSES, DEMO_TEST_IMAGES, run_demo

    ds = vaelab.load_dataset("fashion-mnist")
    test = ds.split("test")
    assert {name: ds.class_names[ds.labels[test[i]]] for name, i in DEMO_TEST_IMAGES.items()} == DEMO_CLASSES
    lines = []
    written = run_demo(tmp_path / "demo", frames=4, log=lines.append)
    emoji = ["emoji-arithmetic", "emoji-morph"] if "emoji" in shipped_models() and emoji_font_available() else []
    assert sorted(written) == sorted(["class-morph", "morph", "path", *emoji])
    assert sorted(p.name for p in (tmp_path / "demo" / "inputs").iterdir()) == sorted(f"{n}.png" for n in DEMO_CLASSES)
    for name, folder in written.items():
        if name == "emoji-arithmetic":
            assert (folder / "arithmetic.png").is_file() and (folder / "result.png").is_file()
        else:
            assert (folder / "morph.gif").is_file() and (folder / "contact_sheet.png").is_file()
    assert lines[-1].startswith("demo outputs are in")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(vaelab.VaelabError, match="not a folder"):
        run_demo(tmp_path / "afile")
    (tmp_path / "d2").mkdir()
    (tmp_path / "d2" / "path").write_text("x")  # the last of the three outputs is a file: nothing is written first
    with pytest.raises(vaelab.VaelabError, match="d2/path exists and is not a folder"):
        run_demo(tmp_path / "d2")
    assert sorted(p.name for p in (tmp_path / "d2").iterdir()) == ["path"]


@pytest.mark.skipif(
    not fashion_mnist_available(), reason="needs Debian's dataset-fashion-mnist (make test installs it)"
)
def test_demo_computes_its_morphs_without_writing_and_write_demo_writes_them_with_their_inputs(tmp_path, monkeypatch):
    from PIL import Image

    from vaelab.tasks.demo import DEMO_TEST_IMAGES, demo, write_demo

    monkeypatch.chdir(tmp_path)
    result = demo(frames=3)
    assert list(tmp_path.iterdir()) == []
    assert [len(result.morphs[name].frames) for name in ("morph", "class-morph")] == [3, 3]
    assert result.morphs["morph"].labels == ["tshirt.png", "dress.png"]  # read from files, as a user's would be
    ds = vaelab.load_dataset("fashion-mnist")
    boot = ds.images[ds.split("test")[DEMO_TEST_IMAGES["ankle-boot"]]][0]
    assert np.array_equal(np.asarray(result.inputs["ankle-boot.png"]), boot)
    lines = []
    written = write_demo(result, tmp_path / "d", log=lines.append)
    assert sorted(written) == sorted([*result.morphs, *["emoji-arithmetic"] * (result.arithmetic is not None)])
    assert np.array_equal(np.asarray(Image.open(tmp_path / "d" / "inputs" / "ankle-boot.png")), boot)
    assert len(list((written["path"] / "frames").iterdir())) == len(result.morphs["path"].frames)
    assert lines[-1] == f"demo outputs are in {(tmp_path / 'd').resolve()}"


def test_a_command_without_model_says_it_used_the_shipped_one_and_with_one_does_not(tmp_path, capsys):
    from PIL import Image

    from vaelab.cli import main

    for i, name in enumerate(("a.png", "b.png")):
        Image.new("L", (28, 28), 60 + 120 * i).save(tmp_path / name)
    assert (
        main(
            [
                "morph",
                str(tmp_path / "a.png"),
                str(tmp_path / "b.png"),
                "--frames",
                "3",
                "--no-mp4",
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 0
    )
    assert "no --model was given, so this used the shipped Fashion-MNIST VAE" in capsys.readouterr().err
    from vaelab.models.config import DEFAULT_MODEL

    assert (
        main(
            [
                "morph",
                str(tmp_path / "a.png"),
                str(tmp_path / "b.png"),
                "--frames",
                "3",
                "--no-mp4",
                "--model",
                str(DEFAULT_MODEL),
                "--out",
                str(tmp_path / "n"),
            ]
        )
        == 0
    )
    assert "no --model" not in capsys.readouterr().err
