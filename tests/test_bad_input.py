"""Every bad input gives one line on stderr, exit code 2, no traceback, and no half-written output."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image

from conftest import run_vaelab


def _assert_clean_failure(proc, *words):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("vaelab: error:"), err
    for w in words:
        assert w.lower() in err.lower(), err


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb(path):
    """A valid PNG header claiming 30000×30000 pixels, a few hundred bytes on disk."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 100))
        + _png_chunk(b"IEND", b"")
    )
    return path


@pytest.fixture()
def good_png(tmp_path):
    p = tmp_path / "good.png"
    Image.new("L", (28, 28), 128).save(p)
    return p


def _bad_image(tmp_path, kind):
    p = tmp_path / f"{kind}.png"
    if kind == "missing":
        return p
    if kind == "not-an-image":
        p.write_text("hello, I am text\n")
    elif kind == "zero-byte":
        p.write_bytes(b"")
    elif kind == "truncated":
        Image.effect_noise((64, 64), 60).save(p)
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif kind == "bomb":
        _bomb(p)
    return p


@pytest.mark.parametrize(
    "kind,words",
    [
        ("missing", ["no such file"]),
        ("not-an-image", ["not an image"]),
        ("zero-byte", ["empty"]),
        ("truncated", ["truncated"]),
        ("bomb", ["decompression bomb"]),
    ],
)
def test_bad_image_files(tmp_path, tiny_model_dir, good_png, kind, words):
    bad = _bad_image(tmp_path, kind)
    out = tmp_path / "out"
    proc = run_vaelab("morph", good_png, bad, "--model", tiny_model_dir, "--out", out)
    _assert_clean_failure(proc, bad.name, *words)
    assert not out.exists()


def test_unknown_class_lists_the_known_ones(tmp_path, tiny_model_dir):
    proc = run_vaelab("morph", "--class", "0", "--class", "Zebra", "--model", tiny_model_dir, "--out", tmp_path / "o")
    _assert_clean_failure(proc, "unknown class 'Zebra'", "0, 1, 2")


def test_model_folder_without_config(tmp_path, good_png):
    (tmp_path / "empty-model").mkdir()
    proc = run_vaelab("morph", good_png, good_png, "--model", tmp_path / "empty-model", "--out", tmp_path / "o")
    _assert_clean_failure(proc, "no config.json")


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_corrupt_and_mismatched_safetensors(tmp_path, tiny_model_dir, good_png, backend):
    from vaelab.models.config import ModelConfig
    from vaelab.models.registry import build_model

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").write_bytes((broken / "model.safetensors").read_bytes()[:200])
    proc = run_vaelab("morph", good_png, good_png, "--model", broken, "--backend", backend, "--out", tmp_path / "o")
    _assert_clean_failure(proc, "model.safetensors")
    other = tmp_path / "other"
    build_model(ModelConfig(latent_dim=3, widths=(4, 8))).save_pretrained(other, {"name": "x"}, onnx=False)
    shutil.copy(other / "model.safetensors", broken / "model.safetensors")
    proc = run_vaelab("morph", good_png, good_png, "--model", broken, "--backend", backend, "--out", tmp_path / "o")
    _assert_clean_failure(proc, "model.safetensors")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("frames", ["0", "100000"])
def test_frames_out_of_range(tmp_path, tiny_model_dir, good_png, frames):
    proc = run_vaelab(
        "morph", good_png, good_png, "--model", tiny_model_dir, "--frames", frames, "--out", tmp_path / "o"
    )
    _assert_clean_failure(proc, "--frames must be from 2", "to 2000")


def test_a_dangling_link_as_out_is_refused_before_the_work(tmp_path, tiny_model_dir, good_png):
    (tmp_path / "o").symlink_to(tmp_path / "nowhere")
    proc = run_vaelab("morph", good_png, good_png, "--model", tiny_model_dir, "--frames", "5", "--out", tmp_path / "o")
    _assert_clean_failure(proc, "is a link to", "which does not exist")
    assert (tmp_path / "o").is_symlink() and not (tmp_path / "nowhere").exists()


def test_debug_shows_the_traceback(tmp_path, tiny_model_dir, good_png):
    args = ["--debug", "morph", good_png, tmp_path / "nope.png", "--model", tiny_model_dir]
    proc = subprocess.run([sys.executable, "-m", "vaelab.cli", *map(str, args)], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_failed_run_leaves_an_earlier_output_untouched(tmp_path, tiny_model_dir, good_png):
    out = tmp_path / "out"
    assert (
        run_vaelab(
            "morph", good_png, good_png, "--model", tiny_model_dir, "--frames", "5", "--out", out, "--no-mp4"
        ).returncode
        == 0
    )
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    proc = run_vaelab("morph", good_png, _bad_image(tmp_path, "truncated"), "--model", tiny_model_dir, "--out", out)
    assert proc.returncode == 2
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temp folder left behind


@pytest.mark.parametrize(
    "args,words",
    [
        (["train", "--data", "imagenet-99", "--out", "{tmp}/r"], ["unknown dataset"]),
        (["train", "--data", "folder:{tmp}/nope", "--out", "{tmp}/r"], ["no such folder"]),
        (["train", "--data", "folder:{tmp}/afile", "--out", "{tmp}/r"], ["a file, not a folder"]),
        (["train", "--data", "folder:{tmp}/badimg", "--out", "{tmp}/r"], ["x.png"]),
        (["train", "--resume", "--data", "mnist:{idx}", "--out", "{tmp}/r"], ["no checkpoint"]),
        (["train", "--resume", "--out", "{tmp}/r"], ["no such model folder"]),  # no run to take the data from
        (["train-cycle", "--resume", "--out", "{tmp}/r"], ["no such model folder"]),
        (["train", "--data", "mnist:{idx}", "--val-fraction", "1.5", "--out", "{tmp}/r"], ["validation fraction"]),
        (["train", "--data", "mnist:{idx}", "--patience", "5", "--out", "{tmp}/r"], ["--val-fraction"]),
        (
            ["train", "--data", "mnist:{idx}", "--val-fraction", "0.1", "--patience", "-1", "--out", "{tmp}/r"],
            ["patience"],
        ),
        (["train", "--data", "mnist:{idx}", "--tc-beta", "-1", "--out", "{tmp}/r"], ["total-correlation"]),
        (
            ["train", "--data", "mnist:{idx}", "--model", "ae-mlp", "--tc-beta", "6", "--out", "{tmp}/r"],
            ["--tc-beta weighs a VAE's KL term"],
        ),
        (
            ["train", "--data", "mnist:{idx}", "--model", "ae-mlp", "--beta", "4", "--out", "{tmp}/r"],
            ["--beta weighs a VAE's KL term", "'ae-mlp' has none"],
        ),
        (["disentangle", "--steps", "1", "--out", "{tmp}/r"], ["--steps must be at least 2"]),
        (["train", "--data", "mnist:{idx}", "--lr", "-1", "--out", "{tmp}/r"], ["--lr", "above 0"]),
        (["train", "--data", "mnist:{idx}", "--lr", "nan", "--out", "{tmp}/r"], ["--lr", "above 0"]),
        (["train", "--data", "mnist:{idx}", "--likelihood", "gaussian", "--sigma", "0", "--out", "{tmp}/r"], ["sigma"]),
        (["train", "--data", "mnist:{idx}", "--widths", "", "--out", "{tmp}/r"], ["an empty argument after --widths"]),
        (["train", "--data", "mnist:{idx}", "--widths", ",", "--out", "{tmp}/r"], ["at least one conv width"]),
        (["train", "--data", "mnist:{idx}", "--out", ""], ["an empty argument after --out"]),
        (["explore", "--seed", "-1", "--out", "{tmp}/r"], ["--seed", "from 0 to 4294967295"]),
        (["train", "--data", "mnist:{idx}", "--seed", "99999999999999999999", "--out", "{tmp}/r"], ["--seed"]),
        (
            ["train", "--data", "mnist:{idx}", "--nproc", "2", "--device", "bogus", "--out", "{tmp}/r"],
            ["unknown device 'bogus'"],
        ),
        (["train", "--data", "mnist:{idx}", "--latent", "1000000000", "--out", "{tmp}/r"], ["latent size", "65536"]),
        (["train", "--data", "mnist:{idx}", "--kernel", "100", "--out", "{tmp}/r"], ["conv kernel", "from 1 to 31"]),
        (["train", "--data", "mnist:{idx}", "--free-bits", "1e300", "--out", "{tmp}/r"], ["free bits above 100"]),
        (
            ["train", "--data", "mnist:{idx}", "--model", "ae-mlp", "--kl-warmup", "100", "--out", "{tmp}/r"],
            ["--kl-warmup schedules a VAE's KL term"],
        ),
        (["train", "--data", "sprites:100000000000", "--out", "{tmp}/r"], ["from 2 to 1,000,000"]),
        (
            ["train", "--data", "mnist:{idx}", "--model", "ae-mlp", "--fc", "256", "--out", "{tmp}/r"],
            ["--fc shapes a vae-conv model; 'ae-mlp' does not use it"],
        ),
        (["train", "--data", "mnist:{idx}", "--hidden", "64", "--out", "{tmp}/r"], ["--hidden shapes a ae-mlp model"]),
        (
            ["train", "--data", "mnist:{idx}", "--model", "vae-res", "--upsample", "resize", "--out", "{tmp}/r"],
            ["--upsample shapes a vae-conv model; 'vae-res' does not use it"],
        ),
        (["train", "--data", "mnist:{idx}", "--sigma", "0.5", "--out", "{tmp}/r"], ["--likelihood gaussian"]),
        (
            ["sweep", "--data", "mnist:{idx}", "--model", ",", "--evaluator", "none", "--out", "{tmp}/r"],
            ["names no kind"],
        ),
        (["train", "--data", "mnist:{idx}", "--capacity-steps", "100", "--out", "{tmp}/r"], ["--capacity-max"]),
        (["train", "--data", "mnist:{idx}", "--out", "{tmp}/afile"], ["exists and is not a folder"]),
        (["train-cycle", "--data", "mnist:{idx}", "--lr", "0", "--out", "{tmp}/r"], ["--lr", "above 0"]),
        (["train-cycle", "--data", "mnist:{idx}", "--out", "{tmp}/afile"], ["exists and is not a folder"]),
        (["train", "--data", "mnist:{idx}", "--out", "{tmp}/gone"], ["gone is a link to", "which does not exist"]),
        (["train-cycle", "--data", "mnist:{idx}", "--patience", "3", "--out", "{tmp}/r"], ["--val-fraction"]),
        (["train-cycle", "--data", "mnist:{idx}", "--val-fraction", "1", "--out", "{tmp}/r"], ["validation fraction"]),
    ],
)
def test_train_bad_input(tmp_path, toy_idx_dir, args, words):
    (tmp_path / "badimg").mkdir()
    (tmp_path / "badimg" / "x.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")  # a dangling link: refused before training, not after
    proc = run_vaelab(*[a.format(tmp=tmp_path, idx=toy_idx_dir) for a in args])
    _assert_clean_failure(proc, *words)
    assert not (tmp_path / "r").exists()  # no run folder is started for input that cannot train
    assert (tmp_path / "afile").read_text() == "not a folder"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_train_on_cuda_without_a_gpu_is_refused_before_the_run_folder(tmp_path, toy_idx_dir):
    proc = run_vaelab("train", "--data", f"mnist:{toy_idx_dir}", "--device", "cuda", "--out", str(tmp_path / "r"))
    _assert_clean_failure(proc, "no CUDA GPU")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "args,words",
    [
        (["train", "--model", "foo", "--out", "x"], ["invalid choice: 'foo'", "see vaelab train --help"]),
        (["train", "--epochs", "0", "--out", "x"], ["--epochs: must be at least 1"]),
        (["morf"], ["invalid choice: 'morf'"]),
    ],
)
def test_usage_errors_are_one_line_too(tmp_path, args, words):
    proc = subprocess.run([sys.executable, "-m", "vaelab.cli", *args], capture_output=True, text=True, cwd=tmp_path)
    _assert_clean_failure(proc, *words)
    assert "usage:" not in proc.stderr and not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "args,words",
    [
        (["morph", "{png}", "{png}", "--fps", "0"], ["--fps", "from 0.01 to 1000"]),
        (["morph", "{png}", "{png}", "--fps", "nan"], ["--fps"]),
        (["morph", "{png}", "{png}", "--upscale", "17"], ["--upscale", "at most 16"]),
        (["arithmetic", "class:1", "--upscale", "100"], ["--upscale", "at most 16"]),
        (["evaluate", "--k", "100000000"], ["--k", "at most 100000"]),
        (["blend", "--eigen", "100000"], ["--eigen", "at most 1000"]),
        (["explore", "--span", "nan"], ["--span"]),
        (["explore", "--span", "-1"], ["--span"]),
        (["explore", "--center", "-1000"], ["--center -1000", "from the end)"]),
        (["evaluate", "--frames", "1"], ["--frames", "at least 3"]),
        (["faces", "{tmp}", "--margin", "-0.6"], ["--margin"]),
        (["faces", "{tmp}", "--margin", "1000"], ["--margin", "to 4"]),
        (["faces", "{tmp}", "--size", "30000"], ["--size", "at most 1024"]),
        (["train-evaluator", "--lr", "-1"], ["--lr"]),
        # sizes past which the work would only fill the memory
        (["explore", "--steps", "100000"], ["--steps", "at most 101"]),
        (["explore", "--grid", "100000"], ["--grid", "at most 64"]),
        (["explore", "--map-size", "1000"], ["--map-size", "at most 64"]),
        (["explore", "--scale", "100000"], ["--scale", "at most 16"]),
        (["explore", "--span", "1e308"], ["--span"]),
        (["morph", "{png}", "{png}", "--fps", "0.001"], ["--fps"]),
        (["evaluate", "--frames", "100000"], ["--frames", "at most 2000"]),
        (["attribute", "--attr", "class=1", "--apply", "{png}", "--strengths", "0:1:100000000"], ["at most 1000"]),
        (["attribute", "--attr", "class=1", "--apply", "{png}", "--strengths", "1e39"], ["within ±1000"]),
        (["arithmetic", "1e999*class:1 - class:2"], ["the weight 1e999 is past 1000"]),
        (["arithmetic", "attr: + class:2"], ["an empty attribute query"]),
        (["attribute", "--attr", "class=1|nope"], ["no image has class=nope"]),
        (["disentangle", "--probe-images", "10"], ["--probe-images must be at least 100"]),
        (["blend", "--weights", "1e308,1,1"], ["weights must be finite numbers from 0 to 1e6"]),
        (
            ["attribute", "--attr", "class=1", "--balance-on", "nope"],
            ["no attributes (only classes: balance on class)"],
        ),
        (["report", "--metrics", "{tmp}"], ["a folder, not a JSON file"]),
    ],
)
def test_out_of_range_settings_are_refused_before_any_output(tmp_path, tiny_model_dir, good_png, args, words):
    filled = [a.format(png=good_png, tmp=tmp_path) for a in args]
    model = (
        ["--model", str(tiny_model_dir)]
        if args[0] in ("morph", "explore", "evaluate", "attribute", "arithmetic", "disentangle", "blend")
        else []
    )
    proc = run_vaelab(*filled, *model, "--out", str(tmp_path / "o"))
    _assert_clean_failure(proc, *words)
    assert not (tmp_path / "o").exists()


def test_the_morph_api_refuses_frames_past_its_memory_and_side_limits(tiny_model_dir, good_png):
    from vaelab.errors import VaelabError
    from vaelab.tasks.morph import run_morph

    with pytest.raises(VaelabError, match="GiB.*fewer --frames"):  # the API takes any upscale; the CLI caps it at 16
        run_morph(tiny_model_dir, images=[good_png, good_png], frames=2000, upscale=100)
    with pytest.raises(VaelabError, match="8192"):
        run_morph(tiny_model_dir, images=[good_png, good_png], frames=2, upscale=1000)


def test_an_out_folder_that_cannot_be_made_is_one_line(tmp_path, tiny_model_dir, good_png):
    (tmp_path / "ro").write_text("a file where a folder should go")
    proc = run_vaelab("morph", good_png, good_png, "--model", tiny_model_dir, "--out", str(tmp_path / "ro" / "sub"))
    _assert_clean_failure(proc, "cannot write --out")


def test_distributed_training_checks_its_input_before_launching(tmp_path, toy_idx_dir):
    """Bad input with --nproc 2 is one line from the launching process, not one per rank plus torchrun's report."""
    _assert_clean_failure(
        run_vaelab("train", "--data", "mnist:/nope", "--nproc", "2", "--out", tmp_path / "r"), "/nope"
    )
    _assert_clean_failure(
        run_vaelab(
            "train",
            "--data",
            f"mnist:{toy_idx_dir}",
            "--limit",
            "50",
            "--batch-size",
            "32",
            "--nproc",
            "2",
            "--out",
            tmp_path / "r",
        ),
        "fewer than one global batch of 64",
    )
    assert not (tmp_path / "r").exists()


def test_a_folder_of_one_image_is_refused_by_train_and_evaluate_asks_for_two_test_images(
    tmp_path, good_png, tiny_model_dir
):
    one = tmp_path / "one"
    (one / "a class").mkdir(parents=True)
    shutil.copy(good_png, one / "a class" / "only.png")  # one class of one image: the cycle-VAE's labels too
    for command in ("train", "train-cycle"):
        out = tmp_path / command
        proc = run_vaelab(command, "--data", f"folder:{one}", "--size", "16", "--epochs", "1", "--out", out)
        _assert_clean_failure(proc, "no test images to score each epoch on (1 image in all)", "at least two")
        assert not out.exists()
    proc = run_vaelab(
        "evaluate", "--model", tiny_model_dir, "--evaluator", "none", "--limit", "1", "--out", tmp_path / "ev"
    )
    _assert_clean_failure(proc, "needs at least 2 test images", "gives 1 with --limit 1")
    assert not (tmp_path / "ev").exists()


def test_train_refuses_a_folder_holding_a_model_and_a_resume_with_no_epochs_left_is_one_line(tmp_path, tiny_model_dir):
    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    proc = run_vaelab("train", "--data", "sprites:100", "--epochs", "1", "--out", run)
    _assert_clean_failure(proc, "holds a trained model: --resume goes on with it, or choose another --out")
    proc = run_vaelab("train-cycle", "--epochs", "1", "--out", run)
    _assert_clean_failure(proc, "holds a trained model")
    proc = run_vaelab("train", "--out", run, "--resume", "--epochs", "2")  # it has trained 3
    _assert_clean_failure(proc, "already trained 3 epochs")
    assert proc.stdout == ""  # no banner before the error
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    (tmp_path / "stopped").mkdir()  # a run stopped in its first epoch leaves no model and no checkpoint
    for command in ("train", "train-cycle"):
        proc = run_vaelab(command, "--out", tmp_path / "stopped", "--resume", "--epochs", "2")
        _assert_clean_failure(proc, "holds no model or checkpoint", "start it again without --resume")
    from vaelab.models.config import DEFAULT_MODEL

    evaluator = tmp_path / "evaluator"
    shutil.copytree(DEFAULT_MODEL.parent / "fashion-mnist-evaluator", evaluator)
    proc = run_vaelab("train", "--data", "sprites:100", "--epochs", "1", "--out", evaluator)
    _assert_clean_failure(proc, "holds an evaluator classifier; choose another folder")


def test_disentangle_refuses_an_out_file_before_any_work(tmp_path, tiny_model_dir):
    out = tmp_path / "afile"
    out.write_text("mine")
    proc = run_vaelab("disentangle", "--model", tiny_model_dir, "--out", out)
    _assert_clean_failure(proc, "exists and is not a folder")
    assert proc.stdout == "" and out.read_text() == "mine"  # no "… encoding" progress before the refusal


def test_a_misspelt_option_points_to_its_commands_help():
    proc = run_vaelab("disentangle", "--metric-scale", "0.1")
    said = "unrecognized arguments: --metric-scale 0.1; did you mean --metrics-scale? (see vaelab disentangle --help)"
    _assert_clean_failure(proc, said)


def test_resuming_from_another_models_checkpoint_is_one_line(tmp_path, tiny_model_dir):
    import json

    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run)
    doc = json.loads((run / "config.json").read_text())
    doc["model"]["latent_dim"] += 1  # config.json now describes another model than checkpoint.pt holds
    (run / "config.json").write_text(json.dumps(doc))
    proc = run_vaelab("train", "--out", run, "--resume", "--epochs", "5")
    _assert_clean_failure(proc, "checkpoint.pt does not fit the model its config.json describes", "another run")
