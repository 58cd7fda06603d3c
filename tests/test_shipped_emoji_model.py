"""The colour model that ships inside the package, `emoji`: complete, small, and still scoring what it recorded on
emoji's test images; it works wherever a model does, by its name."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vaelab
from conftest import emoji_font_available
from vaelab.models.shipped import SHIPPED

EMOJI = SHIPPED["emoji"]
needs_font = pytest.mark.skipif(not emoji_font_available(), reason="needs Debian's fonts-noto-color-emoji")


def test_the_emoji_model_is_complete_small_and_named():
    names = {p.name for p in EMOJI.iterdir()}
    assert {"config.json", "model.safetensors", "encoder.onnx", "decoder.onnx", "eval.json"} <= names
    assert sum(p.stat().st_size for p in EMOJI.iterdir()) <= 15 * 2**20
    doc = json.loads((EMOJI / "config.json").read_text())
    assert doc["data"]["name"] == "emoji" and (doc["model"]["channels"], doc["model"]["height"]) == (3, 64)
    assert doc["training"]["minutes"] > 0  # trained by `vaelab train --minutes`, as README says
    assert vaelab.open_model("emoji").folder.resolve() == EMOJI.resolve()


@needs_font
def test_the_emoji_model_scores_its_recorded_reconstruction_figures_on_the_test_images():
    from vaelab.metrics.reconstruction import reconstruction_metrics

    recorded = json.loads((EMOJI / "eval.json").read_text())["reconstruction"]
    ds = vaelab.load_dataset("emoji")
    test = ds.images[ds.split("test")]
    measured = reconstruction_metrics(vaelab.load("emoji"), test)
    assert abs(measured["psnr"] - recorded["psnr"]) <= 0.05, (measured, recorded)
    assert abs(measured["ssim"] - recorded["ssim"]) <= 0.002
    assert abs(measured["sharpness"] - recorded["sharpness"]) <= 0.005
    assert abs(measured["edge_fidelity"] - recorded["edge_fidelity"]) <= 0.005


@needs_font
def test_the_emoji_model_morphs_dog_into_bird_and_does_arithmetic_by_name(tmp_path):
    frames = vaelab.morph("emoji", ["emoji:dog face", "emoji:bird"], frames=5)
    assert len(frames) == 5 and frames[0].size == (64, 64) and frames[0].mode == "RGB"
    ends = [np.asarray(f, np.float32) for f in (frames[0], frames[-1])]
    assert np.abs(ends[0] - ends[1]).mean() > 10  # the path goes somewhere: a dog's face is not a bird
    from vaelab.tasks.arithmetic import arithmetic

    result = arithmetic("emoji", "emoji:man cook - emoji:man + emoji:woman")
    assert len(result.terms) == 3
