"""The residual VAE (`vae-res`) and the Gaussian likelihoods whose sigma is learned or set to its optimum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from conftest import run_vaelab
from vaelab.models.config import ModelConfig
from vaelab.models.registry import build_model, load


def res_model(**kw) -> nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(kind="vae-res", **{"latent_dim": 6, "widths": (8, 16), **kw}))


@pytest.mark.parametrize(
    "channels,height,width,attention", [(1, 28, 28, 0), (3, 33, 47, 1), (3, 64, 64, 2), (1, 5, 7, 0)]
)
def test_vae_res_gives_back_any_size_and_either_channel_count(channels, height, width, attention):
    model = res_model(channels=channels, height=height, width=width, attention=attention).eval()
    x = torch.rand(3, channels, height, width)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 6)
    assert model.decode(mu).shape == x.shape
    assert (
        sum(isinstance(m, nn.Module) and type(m).__name__ == "AttentionBlock" for m in model.modules()) == 2 * attention
    )


def test_vae_res_upsamples_by_nearest_neighbour_and_a_conv_not_a_transposed_conv():
    model = res_model(height=28, width=28)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
    upsamples = [m for m in model.modules() if isinstance(m, nn.Upsample)]
    assert [u.mode for u in upsamples] == ["nearest", "nearest"]
    assert [tuple(u.size) for u in upsamples] == [(14, 14), (28, 28)]  # 28 → 14 → 7, and back exactly


def test_vae_res_saves_loads_and_its_onnx_files_give_what_torch_gives(tmp_path):
    from vaelab.models.runtime import open_model

    model = res_model(channels=3, height=20, width=24, attention=1).eval()
    spec = {"name": "folder:/nowhere", "channels": 3, "size": [20, 24], "background": 0, "class_names": None}
    folder = model.save_pretrained(tmp_path / "m", spec, onnx=True)
    again = load(folder)
    x = np.random.default_rng(0).random((4, 3, 20, 24), dtype=np.float32)
    with torch.no_grad():
        expected = model.embed(torch.from_numpy(x)).numpy()
        np.testing.assert_array_equal(again.embed(torch.from_numpy(x)).numpy(), expected)
    onnx, torch_backend = open_model(folder, backend="onnx"), open_model(folder, backend="torch")
    z = onnx.embed(x)
    np.testing.assert_allclose(z, torch_backend.embed(x), atol=1e-4)
    np.testing.assert_allclose(onnx.decode(z), torch_backend.decode(z), atol=1e-4)


def test_the_optimal_sigma_is_the_closed_form_optimum_of_the_gaussian_likelihood():
    """σ-VAE: with σ² the batch's mean squared error, −log p(x|z) is the minimum over every fixed σ."""
    torch.manual_seed(0)
    x, logits = torch.rand(8, 1, 6, 6), torch.randn(8, 1, 6, 6)
    optimal = res_model(height=6, width=6, widths=(8,), likelihood="gaussian-optimal").recon_nll(logits, x).sum()
    rmse = ((x - torch.sigmoid(logits)) ** 2).mean().sqrt().item()
    d = x.numel()  # the closed form: (d / 2)·(log(2π·MSE) + 1)
    assert optimal.item() == pytest.approx(d / 2 * (math.log(2 * math.pi * rmse**2) + 1), rel=1e-5)
    sigmas = np.linspace(0.5 * rmse, 2 * rmse, 61)
    fixed = [
        res_model(height=6, width=6, widths=(8,), likelihood="gaussian", sigma=float(s)).recon_nll(logits, x).sum()
        for s in sigmas
    ]
    assert optimal.item() <= min(f.item() for f in fixed) + 1e-3
    assert sigmas[int(np.argmin([f.item() for f in fixed]))] == pytest.approx(rmse, rel=0.03)


def test_a_learned_sigma_is_a_weight_that_training_moves_and_the_model_folder_keeps(tmp_path, toy_idx_dir):
    from vaelab.data.loaders import load_dataset
    from vaelab.training.config import TrainConfig
    from vaelab.training.vae import train

    ds = load_dataset(f"mnist:{toy_idx_dir}")
    cfg = ModelConfig(kind="vae-res", latent_dim=4, widths=(8, 8), likelihood="gaussian-learned", sigma=0.5)
    model = train(cfg, ds, tmp_path / "run", TrainConfig(epochs=2, batch_size=32, onnx=False), progress=False)
    learned = model.log_sigma.item()
    assert learned < math.log(0.5) - 0.01  # the toy shapes are fitted better than σ = 0.5 says: it falls
    assert load_file(str(tmp_path / "run" / "model.safetensors"))["log_sigma"].item() == pytest.approx(learned)
    assert load(tmp_path / "run").log_sigma.item() == pytest.approx(learned)


def test_train_takes_vae_res_with_attention_and_refuses_attention_for_another_kind(tmp_path, toy_idx_dir):
    p = run_vaelab(
        "train", "--data", f"mnist:{toy_idx_dir}", "--model", "vae-conv", "--attention", "1", "--out", tmp_path
    )
    assert p.returncode == 2 and "--attention shapes a vae-res model; 'vae-conv' does not use it" in p.stderr
    p = run_vaelab("train", "--data", f"mnist:{toy_idx_dir}", "--likelihood", "gaussian-optimal", "--sigma", "0.2",
                "--out", tmp_path / "o")  # fmt: skip
    assert p.returncode == 2 and "--sigma is the Gaussian likelihood's" in p.stderr
    out = tmp_path / "res"
    p = run_vaelab(
        "train", "--data", f"mnist:{toy_idx_dir}", "--model", "vae-res", "--widths", "8,8", "--attention", "1",
        "--latent", "4", "--likelihood", "gaussian-optimal", "--epochs", "1", "--batch-size", "64", "--out", out,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    model = load(out)
    assert (model.cfg.kind, model.cfg.attention, model.cfg.likelihood) == ("vae-res", 1, "gaussian-optimal")
    assert (out / "encoder.onnx").is_file() and (out / "decoder.onnx").is_file()
