"""What a command takes as its model and its images: a shipped model by name (`--model fashion-mnist`), and one
image of a dataset wherever an image file goes (`fashion-mnist:test/17`, `emoji:dog face`); and `vaelab models` and
`vaelab images`, which list the first and write the second as files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

import vaelab
from conftest import toy_images, write_mnist_folder
from vaelab.cli import main
from vaelab.data.dataset import ImageDataset
from vaelab.data.inputs import load_input, loaded_dataset, open_input
from vaelab.models.config import DEFAULT_MODEL
from vaelab.models.shipped import SHIPPED, model_folder, shipped_models

EMOJI_NAMES = ["dog face", "cat face", "kiss: woman, man", "Dog", "keycap: *"]


@pytest.fixture()
def toy_data(tmp_path, monkeypatch):
    """fashion-mnist is a toy set in its exact IDX format (300 training and 60 test images of three classes), and
    emoji a set of five named 8×8 colour images; nothing is downloaded or rendered."""
    from vaelab.data import loaders

    monkeypatch.setattr(loaders, "DEBIAN_FASHION_MNIST", write_mnist_folder(tmp_path / "fmnist"))
    monkeypatch.delenv("VAELAB_DATA", raising=False)
    pixels = np.random.default_rng(0).integers(0, 256, (len(EMOJI_NAMES), 3, 8, 8), dtype=np.uint8)

    def tiny_emoji(arg, channels, size):
        return ImageDataset(pixels.copy(), attributes={"name": np.array(EMOJI_NAMES)}, name="emoji", background=255)

    monkeypatch.setitem(loaders.LOADERS, "emoji", tiny_emoji)
    loaded_dataset.cache_clear()
    yield {"test": toy_images(60, seed=1), "emoji": pixels}
    loaded_dataset.cache_clear()


def _vaelab(*argv: str) -> int:
    """The exit code of `vaelab ARGV`, run in this process (argparse's refusals exit)."""
    try:
        return main(list(argv))
    except SystemExit as e:
        return e.code


def _one_line_failure(code, capsys, *words):
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("vaelab: error:"), err
    for w in words:
        assert w in err, err


# --- --model NAME ---


def test_a_shipped_model_is_named_by_its_name_in_the_api_and_on_the_command_line():
    assert model_folder("fashion-mnist") == DEFAULT_MODEL and "fashion-mnist" in shipped_models()
    assert vaelab.open_model("fashion-mnist").folder == DEFAULT_MODEL
    by_name, shipped = vaelab.load("fashion-mnist"), vaelab.load(None)
    assert all(np.array_equal(a, b) for a, b in zip(by_name.state_dict().values(), shipped.state_dict().values()))
    from vaelab.cli import build_parser

    args = build_parser().parse_args(["morph", "a.png", "b.png", "--model", "fashion-mnist"])
    assert args.model == DEFAULT_MODEL


def test_a_folder_that_exists_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fashion-mnist").mkdir()  # an empty folder of that name: it is what --model means
    assert model_folder("fashion-mnist").resolve() == (tmp_path / "fashion-mnist").resolve()
    with pytest.raises(vaelab.VaelabError, match="no config.json"):
        vaelab.open_model("fashion-mnist")


def test_an_unknown_model_name_is_refused_with_the_shipped_names_and_the_likeliest(capsys):
    with pytest.raises(vaelab.VaelabError, match=r"did you mean 'fashion-mnist'\?.*shipped models are: fashion-mnist"):
        vaelab.open_model("fashion-mnst")
    assert model_folder("runs/nothing-here").as_posix() == "runs/nothing-here"  # a path: its loader says so
    _one_line_failure(_vaelab("morph", "a.png", "b.png", "--model", "fashon"), capsys, "did you mean 'fashion-mnist'")


def test_vaelab_models_lists_the_shipped_models_there_are_with_their_figures(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(SHIPPED, "emoji", tmp_path / "emoji-vae")  # not there yet: not listed
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "fashion-mnist" in out and "240.05" in out and str(DEFAULT_MODEL) in out and "emoji" not in out
    (tmp_path / "emoji-vae").mkdir()
    doc = json.loads((DEFAULT_MODEL / "config.json").read_text())
    doc["model"].update(channels=3, height=64, width=64, likelihood="gaussian-optimal")
    doc["data"]["name"] = "emoji"
    doc["metrics"]["test"].update(neg_elbo=-5123.4, psnr=21.95, sharpness=0.51)
    (tmp_path / "emoji-vae" / "config.json").write_text(json.dumps(doc))
    assert main(["models"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert {"name", "fashion-mnist", "emoji"} <= set(rows) and "PSNR" in rows["name"]
    assert all(w in rows["emoji"] for w in ("3×64×64", "gaussian-optimal", "-5123.40", "21.95", "0.510"))
    assert model_folder("emoji") == tmp_path / "emoji-vae"


def test_vaelab_models_shows_edge_fidelity_beside_sharpness_and_a_dash_for_an_evaluation_without_it(
    tmp_path, monkeypatch, capsys
):
    for name, reconstruction in (("newer", {"sharpness": 0.51, "edge_fidelity": 0.42}), ("older", {"sharpness": 0.48})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text((DEFAULT_MODEL / "config.json").read_text())
        (tmp_path / name / "eval.json").write_text(json.dumps({"reconstruction": reconstruction}))
        monkeypatch.setitem(SHIPPED, name, tmp_path / name)
    assert main(["models"]) == 0
    rows = {line.split()[0]: re.split(r"\s{2,}", line) for line in capsys.readouterr().out.splitlines()}
    column = rows["name"].index("edge fidelity")
    assert rows["name"][column - 1] == "sharpness"
    assert (rows["newer"][column - 1], rows["newer"][column]) == ("0.510", "0.420")
    assert (rows["older"][column - 1], rows["older"][column]) == ("0.480", "—")


# --- dataset images as inputs ---


def test_a_dataset_image_is_the_datasets_own_pixels_wherever_an_image_goes(toy_data):
    from vaelab.tasks.explore import traversal_center
    from vaelab.tasks.morph import run_morph

    x, _ = toy_data["test"]
    assert np.array_equal(np.asarray(open_input("fashion-mnist:test/17")), x[17])
    assert np.array_equal(load_input("fashion-mnist:test/17", 1, (28, 28))[0], x[17])
    assert np.array_equal(load_input("fashion-mnist:all/300", 1, (28, 28))[0], x[0])  # all: the dataset's order
    r = run_morph("fashion-mnist", images=["fashion-mnist:test/17", "fashion-mnist:test/3"], frames=3)
    assert r.labels == ["fashion-mnist:test/17", "fashion-mnist:test/3"]
    assert np.array_equal(np.asarray(r.inputs[0]), x[17]) and np.array_equal(np.asarray(r.inputs[1]), x[3])
    m = vaelab.open_model(None)
    code, label = traversal_center("fashion-mnist:test/3", np.zeros((2, m.latent_dim)), m)
    np.testing.assert_allclose(code, m.embed(x[3][None, None].astype(np.float32) / 255)[0], atol=1e-6)
    assert label == "fashion-mnist:test/3"


def test_any_dataset_spec_takes_split_and_index_and_emoji_takes_a_name(toy_data, tmp_path):

    folder = write_mnist_folder(tmp_path / "other", n_train=20, n_test=10)
    train, _ = toy_images(20, seed=0)
    assert np.array_equal(np.asarray(open_input(f"mnist:{folder}:train/5")), train[5])
    emoji = toy_data["emoji"]
    dog = np.asarray(open_input("emoji:Dog Face")).transpose(2, 0, 1)  # the case is not compared
    assert np.array_equal(dog, emoji[0])
    assert np.array_equal(np.asarray(open_input("emoji:kiss: woman, man")).transpose(2, 0, 1), emoji[2])
    assert np.array_equal(np.asarray(open_input("emoji:dog")).transpose(2, 0, 1), emoji[3])  # exact, not a prefix


def test_an_arithmetic_term_may_be_a_dataset_image_even_with_a_star_in_its_name(toy_data):
    from vaelab.tasks.concepts import ConceptResolver

    m = vaelab.open_model(None)
    concept = ConceptResolver(m).resolve("emoji:keycap: *")  # a name, not a file pattern
    assert concept.name == "emoji:keycap: *" and len(concept.images) == 1
    assert np.array_equal(concept.images[0], load_input("emoji:keycap: *", m.channels, m.size, m.background))
    pair = ConceptResolver(m).resolve('[fashion-mnist:test/1 "emoji:dog face"]')
    assert pair.name == "[fashion-mnist:test/1,emoji:dog face]" and len(pair.images) == 2
    assert np.array_equal(pair.images[0, 0], toy_data["test"][0][1])


def test_a_file_that_exists_wins_over_a_dataset_image(toy_data, tmp_path, monkeypatch):

    monkeypatch.chdir(tmp_path)
    Image.new("L", (5, 5), 77).save(tmp_path / "emoji:dog face", format="PNG")
    assert np.asarray(open_input("emoji:dog face")).tolist() == [[77] * 5] * 5


def test_a_wrong_dataset_image_is_one_line_with_the_valid_range_or_the_likeliest_names(toy_data, tmp_path, capsys):

    for index in (60, -1):
        with pytest.raises(vaelab.VaelabError, match=r"holds 60 images; give an index from 0 to 59"):
            open_input(f"fashion-mnist:test/{index}")
    with pytest.raises(vaelab.VaelabError, match=r"no image named 'dog fase'; did you mean 'dog face'"):
        open_input("emoji:dog fase")
    with pytest.raises(vaelab.VaelabError, match=r"fashion-mnist has no image names.*fashion-mnist:test/0"):
        open_input("fashion-mnist:Sneaker")
    with pytest.raises(
        vaelab.VaelabError, match=r"the split is one of train, test, all, not 'tset'; did you mean 'test'"
    ):
        open_input("fashion-mnist:tset/3")
    out = tmp_path / "m"
    code = _vaelab("morph", "fashion-mnist:test/99", "fashion-mnist:test/1", "--out", str(out))
    _one_line_failure(code, capsys, "from 0 to 59")
    assert not out.exists()
    code = _vaelab("arithmetic", "emoji:cat face - emoji:dgo face", "--out", str(out))
    _one_line_failure(code, capsys, "did you mean 'dog face'")


def test_an_attribute_strip_of_a_dataset_image_is_named_after_it(toy_data, tmp_path):
    from vaelab.tasks.attribute import attribute_strip, write_attribute

    x, _ = toy_data["test"]
    m = vaelab.open_model(None)
    strip = attribute_strip(m, "fashion-mnist:test/4", "fashion-mnist:test/4", np.ones(m.latent_dim), [0, 1], "v")
    assert np.array_equal((strip.original[0] * 255).round().astype(np.uint8), x[4])
    write_attribute(tmp_path / "a", "v", strip=strip)
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["strip_v_fashion-mnist_test_4.png"]


# --- vaelab images ---


def test_vaelab_images_writes_the_chosen_images_as_pngs_named_after_them(toy_data, tmp_path, capsys):
    x, labels = toy_data["test"]
    out = tmp_path / "trousers"
    args = ["--data", "fashion-mnist", "--split", "test", "--class", "trouser", "--limit", "3", "--out", str(out)]
    assert main(["images", *args]) == 0
    rows = np.flatnonzero(labels == 1)
    said = capsys.readouterr().out
    assert f"3 images of fashion-mnist (the first 3 of {len(rows)} that match) written to {out}" in said
    expected = {f"test-{i}_Trouser.png": x[i] for i in rows[:3]}
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for name, pixels in expected.items():
        assert np.array_equal(np.asarray(Image.open(out / name)), pixels)
        again = vaelab.encode_images(None, [f"fashion-mnist:test/{name.split('-')[1].split('_')[0]}"])
        np.testing.assert_allclose(again, vaelab.encode_images(None, [out / name]), atol=1e-6)  # the name names it
    assert main(["images", "--data", "emoji", "--query", "name=dog face", "--out", str(tmp_path / "e")]) == 0
    (png,) = (tmp_path / "e").iterdir()
    assert png.name == "dog_face.png"
    assert np.array_equal(np.asarray(Image.open(png)).transpose(2, 0, 1), toy_data["emoji"][0])


def test_vaelab_images_refuses_what_selects_nothing_before_writing(toy_data, tmp_path, capsys):
    out = tmp_path / "none"
    code = _vaelab("images", "--data", "fashion-mnist", "--class", "Nope", "--out", str(out))
    _one_line_failure(code, capsys, "unknown class 'Nope'")
    code = _vaelab("images", "--data", "fashion-mnist", "--split", "test", "--class", "Sandal", "--out", str(out))
    _one_line_failure(code, capsys, "no image of fashion-mnist is in the test split and class Sandal")
    _one_line_failure(_vaelab("images", "--data", "emoji", "--class", "x", "--out", str(out)), capsys, "no classes")
    _one_line_failure(_vaelab("images", "--data", "emoji", "--query", "name=nope", "--out", str(out)), capsys, "nope")
    _one_line_failure(_vaelab("images", "--data", "fashion-mnist", "--limit", "0", "--out", str(out)), capsys)
    assert not out.exists()
    (tmp_path / "file").write_text("x")
    _one_line_failure(_vaelab("images", "--data", "emoji", "--out", str(tmp_path / "file")), capsys, "not a folder")


def test_a_morph_of_ones_own_colour_pictures_through_a_shipped_model_says_how_to_train_on_them(
    tmp_path, tiny_model_dir
):
    from PIL import Image

    from vaelab.tasks.morph import run_morph

    rng = np.random.default_rng(0)
    colour, grey = tmp_path / "photo.png", tmp_path / "grey.png"
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(colour)
    Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(grey)
    note = run_morph(None, images=[colour, grey], frames=3).note
    assert "shipped fashion-mnist model learned from fashion-mnist only" in note
    assert "vaelab train --data folder:PATH --minutes 10" in note
    assert run_morph(None, images=[grey, grey], frames=3).note == ""  # grey pictures: nothing to say
    assert run_morph(tiny_model_dir, images=[colour, grey], frames=3).note == ""  # the user's own model
