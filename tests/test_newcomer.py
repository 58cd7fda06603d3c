"""What a new user meets first: Ctrl-C during training, a folder given as --data, "did you mean" beside every
list of names, chance levels and counts that read right, PIL pictures from the Python API, and documented names."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import vaelab
from conftest import interrupt_at_step, run_vaelab
from vaelab.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _vaelab(*args) -> tuple[int, str, str]:
    """`vaelab ARGS` in this process: (exit code, stdout, stderr)."""
    done = run_vaelab(*args)
    return done.returncode, done.stdout, done.stderr


# --- 1. Ctrl-C during training ---------------------------------------------------------------------------------


TINY_RUN = ["--latent", "3", "--widths", "4,8", "--limit", "100", "--batch-size", "50", "--quiet"]  # 2 steps an epoch


def test_ctrl_c_after_an_epoch_names_the_saved_epoch_and_a_resume_command_that_goes_on(
    tmp_path, toy_idx_dir, monkeypatch
):
    out = tmp_path / "my run"  # a space: the printed command must quote it
    interrupt_at_step(monkeypatch, at=2)  # the first step of epoch 2
    code, _, err = _vaelab("train", "--data", f"mnist:{toy_idx_dir}", "--out", out, "--epochs", "3", *TINY_RUN)
    assert code == 130
    line = err.strip().splitlines()[-1]
    assert line.startswith("vaelab: interrupted; ") and "holds epoch 1," in line
    command = line.split("go on with: ", 1)[1]
    assert shlex.split(command) == ["vaelab", "train", "--out", str(out), "--resume"]

    monkeypatch.undo()  # Ctrl-C is not pressed again: the printed command finishes the run's 3 epochs
    code, _, err = _vaelab(*shlex.split(command)[1:], "--quiet")
    assert code == 0, err
    epochs = [json.loads(r)["epoch"] for r in (out / "metrics.jsonl").read_text().splitlines() if '"epoch"' in r]
    assert max(epochs) == 3 and sorted({e for e in epochs}) == [1, 2, 3]


def test_ctrl_c_in_the_first_epoch_says_there_is_nothing_to_resume(tmp_path, toy_idx_dir, monkeypatch):
    interrupt_at_step(monkeypatch, at=1)
    out = tmp_path / "run"
    code, _, err = _vaelab("train", "--data", f"mnist:{toy_idx_dir}", "--out", out, "--epochs", "2", *TINY_RUN)
    assert code == 130 and "no epoch had finished" in err and "start it again" in err and "--resume" not in err


# --- 2. a folder given as --data ---------------------------------------------------------------------------------


def test_an_existing_folder_as_data_is_read_as_a_folder_spec_with_a_note(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    args = build_parser().parse_args(["train", "--data", str(photos), "--out", str(tmp_path / "run")])
    assert args.data == f"folder:{photos}"
    assert "note" in capsys.readouterr().err
    args = build_parser().parse_args(["images", "--data", f"folder:{photos}", "--out", str(tmp_path / "x")])
    assert args.data == f"folder:{photos}"  # a spec stays as written


def test_a_folder_named_like_a_dataset_leaves_the_dataset_meant(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "emoji").mkdir()
    args = build_parser().parse_args(["images", "--data", "emoji", "--out", "x"])
    assert args.data == "emoji" and capsys.readouterr().err == ""


# --- 3. did you mean ------------------------------------------------------------------------------------------


def test_a_mistyped_command_gets_the_likeliest_one():
    code, _, err = _vaelab("trian")
    assert code == 2 and "did you mean 'train'?" in err and "'morph'" in err and err.count("\n") == 1


def test_a_mistyped_choice_gets_the_likeliest_one():
    code, _, err = _vaelab("morph", "--method", "slrep")
    assert code == 2 and "did you mean 'slerp'?" in err


def test_a_mistyped_flag_gets_the_likeliest_one_in_one_line():
    code, _, err = _vaelab("morph", "--fames", "10")
    assert code == 2 and "did you mean --frames?" in err and err.count("\n") == 1
    code, _, err = _vaelab("explore", "--max-point=9")
    assert code == 2 and "did you mean --max-points?" in err


def test_a_flag_like_none_gets_no_suggestion():
    code, _, err = _vaelab("morph", "--zebra", "1")
    assert code == 2 and "--zebra" in err and "did you mean" not in err


def test_a_mistyped_class_gets_the_likeliest_one_beside_the_list():
    with pytest.raises(vaelab.VaelabError, match=r"did you mean 'Sneaker'\?.*Ankle boot"):
        vaelab.run_morph(None, classes=["Sneakr", "Bag"], frames=2)


def test_a_dataset_class_and_attribute_name_get_the_likeliest_one():
    from vaelab.data.dataset import ImageDataset

    ds = ImageDataset(
        np.zeros((2, 1, 4, 4), np.uint8),
        np.array([0, 1]),
        ["Sneaker", "Sandal"],
        attributes={"gender": np.array(["man", "woman"])},
    )
    with pytest.raises(vaelab.VaelabError, match=r"did you mean 'Sneaker'\?"):
        ds.class_index("sneakr")
    with pytest.raises(vaelab.VaelabError, match=r"did you mean 'gender'\?"):
        ds.attribute_column("gendr")


def test_a_mistyped_shipped_model_gets_the_likeliest_one():
    code, _, err = _vaelab("morph", "--model", "fashon-mnist", "--class", "Bag", "--class", "Coat")
    assert code == 2 and "did you mean 'fashion-mnist'?" in err


def test_did_you_mean_ignores_case_and_gives_nothing_for_a_stranger():
    from vaelab.errors import did_you_mean

    assert did_you_mean("ANKLE BOOT", ["Bag", "Ankle boot"]) == " (did you mean 'Ankle boot'?)"
    assert did_you_mean("zebra", ["Bag", "Ankle boot"]) == ""


# --- 7. train offers what it trains -------------------------------------------------------------------------------


def test_train_offers_only_the_kinds_it_trains_and_points_cycle_vae_to_its_command(tmp_path):
    train = build_parser().commands["train"]
    choices = train._option_string_actions["--model"].choices
    assert "cycle-vae" not in choices and {"vae-conv", "vae-res", "ae-mlp"} <= set(choices)
    code, _, err = _vaelab("train", "--model", "cycle-vae", "--out", tmp_path / "x")
    assert code == 2 and "vaelab train-cycle" in err and "invalid choice" not in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


# --- 4, 5, 6. chance, the attribute sentence, plurals -----------------------------------------------------------


def test_the_probe_chance_level_says_it_is_the_largest_class_share():
    from vaelab.cli.disentangle import _summary_lines

    probes = {"chance": 1 / 9, "n_train": 800, "n_test": 200, "s": {"train_accuracy": 1.0, "test_accuracy": 0.9}}
    r = SimpleNamespace(probes=probes, probe_source="test", predictors=None, metrics=None)
    assert "chance 11.1% = the largest class's share" in _summary_lines(r)[0]


def test_the_attribute_summary_is_one_sentence_with_counts_that_agree():
    from vaelab.cli.attribute import summary
    from vaelab.tasks.attribute import AttributeResult

    r = AttributeResult("gender=woman", np.zeros(3), 601, 1674, ["skin", "group"], 1514)
    line = summary("gender=woman", r, 1.2345, Path("out"))
    assert line == (
        "gender=woman: the vector runs from the mean code of 1674 images without it to that of 601 images with it, "
        "balanced on skin and group, which left out 1514 images whose skin/group occurs on one side only; "
        "its length is 1.234, and it is written to out"
    )
    one = summary("smile", AttributeResult("smile", np.zeros(3), 1, 1, [], 0), 0.5, Path("o"))
    assert "1 image without" in one and "1 image with" in one and "images" not in one
    assert "balanced" not in one and "left out" not in one


def test_counts_take_the_number_of_their_noun():
    from vaelab.progress import counted

    assert [counted(n, "face crop") for n in (0, 1, 2)] == ["0 face crops", "1 face crop", "2 face crops"]
    assert counted(1, "class", "classes") == "1 class" and counted(3, "class", "classes") == "3 classes"


# --- 8. pictures from the Python API ------------------------------------------------------------------------------


def test_results_give_their_pictures_as_pil_images_and_keep_their_arrays():
    from vaelab.tasks.arithmetic import ArithmeticResult
    from vaelab.tasks.attribute import AttributeStrip
    from vaelab.tasks.blend import BlendResult

    grey = np.linspace(0, 1, 12, dtype=np.float32).reshape(1, 3, 4)
    colour = np.stack([grey[0], 1 - grey[0], grey[0] * 0])
    r = ArithmeticResult([], np.zeros(2), grey, [colour])
    assert isinstance(r.image, np.ndarray)  # callers that compute with it are unchanged
    assert r.picture.mode == "L" and r.picture.size == (4, 3)
    assert np.asarray(r.picture)[2, 3] == 255 and np.asarray(r.picture)[0, 0] == 0
    assert r.concept_pictures[0].mode == "RGB" and np.asarray(r.concept_pictures[0])[0, 0].tolist() == [0, 255, 0]

    b = BlendResult(
        ["a", "b"], np.array([0.5, 0.5]), np.stack([grey, grey]), grey, None, grey, np.stack([grey] * 3),
        np.zeros((3, 2)), ["a", "b"], np.array([1, 1, 1]), grey, np.stack([grey]), np.array([1.0]),
    )  # fmt: skip
    assert sorted(b.pictures) == ["euclidean", "pixel_pca"]  # spherical is None: no picture
    assert all(isinstance(p, Image.Image) for p in [*b.pictures.values(), *b.class_pictures, *b.kmeans_pictures])
    assert len(b.kmeans_pictures) == 3 and len(b.class_pictures) == 2

    s = AttributeStrip("me.png", np.stack([grey, 1 - grey]), grey, np.array([-1.0, 1.0]), "smile")
    assert [np.asarray(p)[0, 0] for p in s.pictures] == [0, 255] and s.original_picture.size == (4, 3)


# --- 9. the top-level names are documented --------------------------------------------------------------------


def test_every_top_level_name_is_in_the_python_api_page():
    page = (ROOT / "docs" / "python-api.md").read_text(encoding="utf-8")
    missing = [name for name in vaelab.__all__ if not re.search(rf"`vaelab\.{name}\b", page)]
    assert missing == []


def test_a_mistyped_dataset_gets_the_likeliest_one():
    from vaelab.data.loaders import load_dataset

    with pytest.raises(vaelab.VaelabError, match=r"unknown dataset 'fashon-mnist'.*did you mean 'fashion-mnist'"):
        load_dataset("fashon-mnist")


def test_the_disentangle_result_gives_its_grids_as_pil_images():
    from vaelab.tasks.disentangle import DisentangleResult

    rng = np.random.default_rng(0)
    swap = rng.random((2, 3, 3, 4, 4)).astype(np.float32)
    r = DisentangleResult("cycle-vae", "toy", 2, np.zeros((2, 3, 4, 4), np.uint8), np.zeros((3, 3, 4, 4), np.uint8),
                          swap=swap)  # fmt: skip
    pics = r.pictures
    assert list(pics) == ["swap"] and len(pics["swap"]) == 2 and len(pics["swap"][0]) == 3
    cell = pics["swap"][1][2]
    assert cell.mode == "RGB" and cell.size == (4, 4)
    np.testing.assert_array_equal(
        np.asarray(cell), (np.clip(swap[1, 2], 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)
    )
