"""vae-conv's decoder upsampling (--upsample): every choice gives back the exact image size, exports to ONNX with the
same outputs, and folders saved before the choice existed load as the transposed convs they were built with."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from vaelab.errors import VaelabError
from vaelab.models.config import UPSAMPLES, ModelConfig
from vaelab.models.registry import build_model, load
from vaelab.models.runtime import open_model
from vaelab.models.shipped import shipped_models
from vaelab.models.vae_conv import pixelshuffle_up

SIZES = [(1, 28, 28), (3, 64, 64), (3, 37, 23)]


def conv_model(upsample: str, channels: int = 1, height: int = 28, width: int = 28, **kw) -> nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(
        channels=channels, height=height, width=width, latent_dim=6, widths=(8, 16, 32), upsample=upsample, **kw
    )
    return build_model(cfg).eval()


@pytest.mark.parametrize("channels,height,width", SIZES, ids=lambda v: str(v))
@pytest.mark.parametrize("upsample", UPSAMPLES)
def test_every_upsampling_gives_back_the_exact_size_and_its_onnx_decoder_gives_what_torch_gives(
    tmp_path, upsample, channels, height, width
):
    model = conv_model(upsample, channels, height, width)
    with torch.no_grad():  # larger weights, so that the decoded pixels spread well away from 0.5
        for p in model.decoder.parameters():
            p.mul_(3)
    spec = {"name": "folder:/nowhere", "channels": channels, "size": [height, width]}
    folder = model.save_pretrained(tmp_path / "m", spec, onnx=True)
    onnx, torch_backend = open_model(folder, backend="onnx"), open_model(folder, backend="torch")
    z = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    decoded = onnx.decode(z)
    assert decoded.shape == (3, channels, height, width)
    assert decoded.std() > 0.05  # the parity below compares pictures, not a flat 0.5
    np.testing.assert_allclose(decoded, torch_backend.decode(z), atol=1e-4)
    x = np.random.default_rng(1).random((2, channels, height, width), dtype=np.float32)
    np.testing.assert_allclose(onnx.embed(x), torch_backend.embed(x), atol=1e-4)


@pytest.mark.parametrize("upsample", UPSAMPLES)
def test_every_upsampling_takes_an_even_kernel_and_keeps_odd_sizes(upsample):
    model = conv_model(upsample, 3, 37, 23, kernel_size=4)
    assert model.decode(torch.zeros(2, 6)).shape == (2, 3, 37, 23)


def layer_kinds(model) -> list[str]:
    return [type(m).__name__ for m in model.decoder if not isinstance(m, nn.ReLU)]


def test_each_upsampling_is_built_of_the_layers_it_names():
    assert layer_kinds(conv_model("transpose")) == ["ConvTranspose2d"] * 3
    resize = conv_model("resize")
    assert layer_kinds(resize) == ["Upsample", "Conv2d"] * 3
    assert [tuple(u.size) for u in resize.decoder if isinstance(u, nn.Upsample)] == [(7, 7), (14, 14), (28, 28)]
    assert {u.mode for u in resize.decoder if isinstance(u, nn.Upsample)} == {"nearest"}
    assert layer_kinds(conv_model("transpose-conv")) == ["ConvTranspose2d", "Conv2d"] * 3
    assert layer_kinds(conv_model("resize-last")) == ["ConvTranspose2d", "ConvTranspose2d", "Upsample", "Conv2d"]
    assert layer_kinds(conv_model("pixelshuffle")) == ["Conv2d", "PixelShuffle", "Crop"] * 3
    smoothing = [m for m in conv_model("transpose-conv").decoder if isinstance(m, nn.Conv2d)]
    assert [m.kernel_size for m in smoothing] == [(3, 3)] * 3


def test_pixelshuffle_starts_free_of_checkerboard_where_a_transposed_conv_does_not():
    """ICNR: at initialisation each 2×2 block of a pixel-shuffled output is one value (a nearest-neighbour
    upsampling), so the decoder's pixel logits hold no pattern of period 2; a transposed conv's do."""

    def block_spread(logits):  # how far each pixel of every 2×2 block is from its block's top-left one
        return (logits - logits[..., ::2, ::2].repeat_interleave(2, -2).repeat_interleave(2, -1)).abs().max().item()

    z = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        shuffled = conv_model("pixelshuffle", 3, 64, 64).decode_logits(z)
        transposed = conv_model("transpose", 3, 64, 64).decode_logits(z)
    assert block_spread(shuffled) < 1e-6 < 1e-3 < block_spread(transposed)
    torch.manual_seed(0)
    layers = nn.Sequential(*pixelshuffle_up(4, 2, (5, 3), (9, 5), 3))
    assert layers(torch.randn(1, 4, 5, 3)).shape == (1, 2, 9, 5)  # 10×6 cropped to the odd target


def test_a_folder_saved_before_the_setting_loads_as_transposed_convs_with_the_same_weights(tmp_path):
    model = conv_model("transpose", 3, 37, 23)
    model.save_pretrained(tmp_path / "m", {"name": "x", "channels": 3, "size": [37, 23]}, onnx=False)
    config = tmp_path / "m" / "config.json"
    doc = json.loads(config.read_text())
    assert doc["model"].pop("upsample") == "transpose"
    config.write_text(json.dumps(doc))
    old = load(tmp_path / "m")
    assert old.cfg.upsample == "transpose"
    decoder_keys = [k for k in old.state_dict() if k.startswith("decoder.")]
    assert decoder_keys == [f"decoder.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    for (k, a), (_, b) in zip(model.state_dict().items(), old.state_dict().items()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("name", sorted(shipped_models()))
def test_the_shipped_models_decode_in_torch_as_their_onnx_files_do(name):
    # the Fashion-MNIST model's config.json predates the setting (no "upsample": read as transposed convs)
    folder = shipped_models()[name]
    assert json.loads((folder / "config.json").read_text())["model"].get("upsample", "transpose") == "transpose"
    onnx, torch_backend = open_model(folder, backend="onnx"), open_model(folder, backend="torch")
    z = np.random.default_rng(0).normal(size=(4, torch_backend.latent_dim)).astype(np.float32)
    np.testing.assert_allclose(torch_backend.decode(z), onnx.decode(z), atol=1e-4)


def test_an_unknown_upsampling_is_refused_with_the_choices():
    with pytest.raises(VaelabError, match="pixelshuffle"):
        ModelConfig(upsample="bilinear")
