"""Model shapes and values, the loss against hand-computed cases, and save/load without pickle."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vaelab.errors import VaelabError
from vaelab.models.config import ModelConfig
from vaelab.models.registry import build_model, load


@pytest.mark.parametrize(
    "kind,c,h,w,d",
    [
        ("vae-conv", 1, 28, 28, 32),
        ("vae-conv", 3, 64, 64, 16),
        ("vae-conv", 3, 37, 50, 5),
        ("vae-conv", 1, 17, 9, 1),
        ("ae-mlp", 1, 28, 28, 2),
        ("ae-mlp", 3, 12, 20, 7),
    ],
)
def test_models_map_any_size_to_codes_and_back(kind, c, h, w, d):
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, channels=c, height=h, width=w, latent_dim=d, widths=(8, 16, 32), hidden=(32,))
    m = build_model(cfg).eval()
    x = torch.rand(4, c, h, w)
    mu, logvar = m.encode(x)
    assert mu.shape == (4, d)
    assert (logvar is None) == (kind == "ae-mlp")
    out = m.decode(mu)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(m.embed(x), m.embed(x))  # the code is the mean, never a sample
    torch.testing.assert_close(m.embed(x), mu)


def test_conv_decoder_retraces_odd_encoder_sizes():
    m = build_model(ModelConfig(height=28, width=28, widths=(32, 64, 128)))
    assert m.feature_shape == (128, 4, 4)
    assert m.decode_logits(torch.zeros(1, 32)).shape == (1, 1, 28, 28)


def _fixed_model(cfg, mu, logvar, logits):
    """A model whose encoder and decoder outputs are known exactly."""
    m = build_model(cfg)
    m.encode = lambda x: (mu.expand(len(x), -1), logvar.expand(len(x), -1))
    m.decode_logits = lambda z: logits.expand(len(z), -1, -1, -1)
    return m


def test_bernoulli_loss_matches_hand_computation():
    cfg = ModelConfig(channels=1, height=2, width=2, latent_dim=2)
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]]])
    x = torch.tensor([[[[0.0, 1.0], [0.5, 0.25]]]])
    out = _fixed_model(cfg, mu, logvar, logits).loss(x)
    p = 1 / (1 + np.exp(-np.array([0.0, 2.0, -1.0, 3.0])))
    xs = np.array([0.0, 1.0, 0.5, 0.25])
    bce = -(xs * np.log(p) + (1 - xs) * np.log(1 - p)).sum()
    kl = 0.5 * (1 + 1 - 1 - 0) + 0.5 * (0 + 4 - 1 - math.log(4))
    assert out.recon.item() == pytest.approx(bce, rel=1e-5)
    assert out.kl.item() == pytest.approx(kl, rel=1e-5)
    assert out.neg_elbo.item() == pytest.approx(bce + kl, rel=1e-5)
    assert out.objective.item() == pytest.approx(bce + kl, rel=1e-5)


def test_gaussian_loss_beta_and_free_bits():
    cfg = ModelConfig(channels=1, height=1, width=2, latent_dim=2, likelihood="gaussian", sigma=0.5, beta=4.0)
    mu, logvar = torch.tensor([[0.1, 0.0]]), torch.tensor([[0.0, 0.0]])
    logits = torch.zeros(1, 1, 1, 2)  # mean 0.5
    x = torch.tensor([[[[1.0, 0.5]]]])
    out = _fixed_model(cfg, mu, logvar, logits).loss(x)
    nll = 0.5 * (0.5 / 0.5) ** 2 + 2 * (math.log(0.5) + 0.5 * math.log(2 * math.pi))
    kl = 0.5 * 0.01
    assert out.recon.item() == pytest.approx(nll, rel=1e-5)
    assert out.objective.item() == pytest.approx(nll + 4.0 * kl, rel=1e-5)
    cfg_fb = ModelConfig(**{**cfg.__dict__, "beta": 1.0, "free_bits": 0.5})
    out_fb = _fixed_model(cfg_fb, mu, logvar, logits).loss(x)
    assert out_fb.objective.item() == pytest.approx(nll + 2 * 0.5, rel=1e-5)  # each dim held at 0.5 nats
    assert out_fb.kl.item() == pytest.approx(kl, rel=1e-5)  # the reported KL is the true one
    # the allowance holds the *batch-mean* KL of each dimension, not each sample's: with μ = [[2, 0], [0, 0]] the
    # batch means are 1.0 and 0.0 nats, so the term is max(1, .5) + max(0, .5) = 1.5 (per sample it would be 1.75)
    two_mu = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    m = _fixed_model(cfg_fb, two_mu, torch.zeros(2, 2), logits)
    m.encode = lambda x: (two_mu, torch.zeros(2, 2))
    out2 = m.loss(x.expand(2, -1, -1, -1))
    assert out2.objective.item() == pytest.approx(nll + 1.5, rel=1e-5)


def test_total_correlation_matches_the_gaussian_mutual_information():
    from vaelab.models.base import total_correlation

    g, n = torch.Generator().manual_seed(0), 2000
    # z1 = m + e1, z2 = m + e2 with m ~ N(0,1), e ~ N(0, 0.5²): correlation 0.8, so TC = -½ log(1 - 0.64)
    m = torch.randn(n, 1, generator=g)
    mu, logvar = torch.cat([m, m], 1), torch.full((n, 2), math.log(0.25))
    z = mu + 0.5 * torch.randn(n, 2, generator=g)
    assert total_correlation(z, mu, logvar).item() == pytest.approx(-0.5 * math.log(0.36), abs=0.05)
    mu = torch.randn(n, 2, generator=g)  # independent dimensions: no total correlation
    z = mu + torch.randn(n, 2, generator=g)
    assert total_correlation(z, mu, torch.zeros(n, 2)).item() == pytest.approx(0.0, abs=0.02)


def test_tc_beta_adds_the_weighted_total_correlation_to_the_objective(tmp_path):
    from vaelab.models.base import total_correlation

    torch.manual_seed(0)
    cfg = ModelConfig(channels=1, height=8, width=8, latent_dim=3, widths=(4,))
    x, eps = torch.rand(16, 1, 8, 8), torch.randn(16, 3)
    plain = build_model(cfg)
    tc_model = build_model(ModelConfig(**{**cfg.__dict__, "tc_beta": 6.0}))
    tc_model.load_state_dict(plain.state_dict())
    a, b = plain.loss(x, eps=eps), tc_model.loss(x, eps=eps)
    mu, logvar = plain.encode(x)
    tc = total_correlation(a.z, mu, logvar)
    assert b.objective.item() == pytest.approx(a.objective.item() + 5.0 * tc.item(), rel=1e-5)
    assert torch.equal(a.neg_elbo, b.neg_elbo)  # the ELBO it reports is the true one
    with torch.no_grad():  # scoring: the TC term (and its B × B × D cost) is left out
        assert tc_model.loss(x, eps=eps).objective.item() == pytest.approx(a.objective.item(), rel=1e-6)
    with pytest.raises(VaelabError, match="total-correlation"):
        ModelConfig(tc_beta=-1.0)
    from vaelab.models.registry import check_new_config

    for weights in ({"tc_beta": 6.0}, {"beta": 4.0}, {"free_bits": 0.5}):  # a KL the AE does not have
        with pytest.raises(VaelabError, match="weighs a VAE's KL term"):
            check_new_config(ModelConfig(kind="ae-mlp", **weights))
    # a run saved before the check, with a --beta that did nothing, still loads
    old = build_model(ModelConfig(kind="ae-mlp", latent_dim=2, hidden=(8,), beta=4.0))
    folder = old.save_pretrained(tmp_path / "old-ae", {"name": "x", "channels": 1, "size": [28, 28]}, onnx=False)
    assert load(folder).cfg.beta == 4.0


def test_save_load_round_trip_is_exact_and_pickle_free(tmp_path):
    torch.manual_seed(1)
    cfg = ModelConfig(channels=3, height=20, width=24, latent_dim=6, widths=(8, 16), likelihood="gaussian")
    m = build_model(cfg).eval()
    spec = {"name": "folder:x", "channels": 3, "size": [20, 24], "background": 255, "class_names": ["a", "b"]}
    m.save_pretrained(tmp_path / "m", spec)
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["config.json", "decoder.onnx", "encoder.onnx", "model.safetensors"]
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    assert doc["model"]["likelihood"] == "gaussian" and doc["data"]["class_names"] == ["a", "b"]
    m2 = load(tmp_path / "m")
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    x = torch.rand(2, 3, 20, 24)
    assert torch.equal(m.embed(x), m2.embed(x))
    assert m2.data_spec == spec


def test_hidden_fc_layer_is_nonlinear_round_trips_and_exports(tmp_path):
    """--fc adds Linear+ReLU each side of the code: the code then reaches the conv features non-linearly
    (with fc 0 that map is affine), and the model saves, loads and exports to ONNX like any other."""
    import vaelab

    torch.manual_seed(2)
    plain, hidden = (
        build_model(ModelConfig(height=16, width=16, latent_dim=4, widths=(8, 16), fc=fc)).eval() for fc in (0, 24)
    )
    a, b = torch.randn(2, 1, 4).unbind(0)

    def residual(m):  # f(a) + f(b) − f(0) − f(a + b) before the last ReLU: 0 for an affine map
        f = m.from_latent[:-2]
        return (f(a) + f(b) - f(torch.zeros_like(a)) - f(a + b)).abs().max().item()

    assert residual(plain) < 1e-5 < 1e-2 < residual(hidden)
    hidden.save_pretrained(tmp_path / "m", {"name": "x", "channels": 1, "size": [16, 16]})
    assert load(tmp_path / "m").cfg.fc == 24
    x = np.random.default_rng(0).random((3, 1, 16, 16), dtype=np.float32)
    np.testing.assert_allclose(
        vaelab.encode_images(tmp_path / "m", x, backend="onnx"),
        vaelab.encode_images(tmp_path / "m", x, backend="torch"),
        atol=1e-4,
    )
    with pytest.raises(VaelabError, match="fully-connected"):
        ModelConfig(fc=-1)


def test_load_rejects_missing_config_corrupt_and_mismatched_weights(tmp_path):
    m = build_model(ModelConfig(latent_dim=4, widths=(4, 8)))
    m.save_pretrained(tmp_path / "m", {"name": "x", "channels": 1, "size": [28, 28]}, onnx=False)
    with pytest.raises(VaelabError, match="no config.json"):
        load(tmp_path)
    cfg_path = tmp_path / "m" / "config.json"
    doc = json.loads(cfg_path.read_text())
    doc["model"]["latent_dim"] = 5
    cfg_path.write_text(json.dumps(doc))
    with pytest.raises(VaelabError, match="do not match"):
        load(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x10\x00garbage")
    with pytest.raises(VaelabError, match="corrupt"):
        load(tmp_path / "m")


def test_load_refuses_weights_with_a_tensor_missing_and_config_with_an_unknown_setting(tmp_path):
    from safetensors.torch import load_file, save_file

    m = build_model(ModelConfig(latent_dim=4, widths=(4, 8)))
    m.save_pretrained(tmp_path / "m", {"name": "x", "channels": 1, "size": [28, 28]}, onnx=False)
    weights = tmp_path / "m" / "model.safetensors"
    state = load_file(weights)
    last_bias = [k for k in state if k.endswith("bias")][-1]
    del state[last_bias]  # a partly random model must not load silently
    save_file(state, weights)
    with pytest.raises(VaelabError, match="do not match"):
        load(tmp_path / "m")
    m.save_pretrained(tmp_path / "n", {"name": "x", "channels": 1, "size": [28, 28]}, onnx=False)
    doc = json.loads((tmp_path / "n" / "config.json").read_text())
    doc["model"]["betaa"] = 4  # a typo would otherwise train or load with the default silently
    (tmp_path / "n" / "config.json").write_text(json.dumps(doc))
    with pytest.raises(VaelabError, match="betaa"):
        load(tmp_path / "n")
    with pytest.raises(VaelabError):
        ModelConfig(kernel_size=0)


def test_a_save_without_onnx_removes_the_old_onnx_files_that_no_longer_match(tmp_path):
    from vaelab.models.runtime import open_model

    m = build_model(ModelConfig(latent_dim=4, widths=(4, 8)))
    spec = {"name": "x", "channels": 1, "size": [28, 28]}
    m.save_pretrained(tmp_path / "m", spec)
    assert open_model(tmp_path / "m").backend == "onnx"
    with torch.no_grad():
        next(m.parameters()).add_(1.0)
    m.save_pretrained(tmp_path / "m", spec, onnx=False)
    assert not (tmp_path / "m" / "encoder.onnx").exists() and not (tmp_path / "m" / "decoder.onnx").exists()
    assert open_model(tmp_path / "m").backend == "torch"


def test_the_onnx_encoder_gives_the_posterior_log_variance_that_torch_gives(tiny_model_dir):
    from vaelab.models.runtime import open_model, posterior_kl

    onnx, torch_m = open_model(tiny_model_dir, "onnx"), open_model(tiny_model_dir, "torch")
    images = np.random.default_rng(0).integers(0, 256, (40, 1, 28, 28), dtype=np.uint8)
    x = images.astype(np.float32) / 255.0
    (mu_o, lv_o), (mu_t, lv_t) = onnx.posterior(x), torch_m.posterior(x)
    np.testing.assert_allclose(mu_o, mu_t, atol=1e-4)
    np.testing.assert_allclose(lv_o, lv_t, atol=1e-4)
    np.testing.assert_allclose(mu_o, onnx.embed(x), atol=1e-6)
    kl = posterior_kl(onnx, images)
    np.testing.assert_allclose(kl, posterior_kl(torch_m, images), rtol=1e-3, atol=1e-5)
    assert (kl >= 0).all() and kl.sum() > 0


def test_an_onnx_encoder_without_the_log_variance_still_encodes_and_gives_no_kl(tmp_path, tiny_model_dir):
    """ONNX files saved before the encoder gave the log-variance: the code is the same, the KL is unknown."""
    import shutil

    import onnx

    from vaelab.models.runtime import open_model, posterior_kl

    folder = tmp_path / "old"
    shutil.copytree(tiny_model_dir, folder)
    proto = onnx.load(str(folder / "encoder.onnx"))
    assert [o.name for o in proto.graph.output] == ["z", "logvar"]
    del proto.graph.output[1]
    onnx.save(proto, str(folder / "encoder.onnx"))
    x = np.random.default_rng(1).random((5, 1, 28, 28), dtype=np.float32)
    old, new = open_model(folder, "onnx"), open_model(tiny_model_dir, "onnx")
    mu, logvar = old.posterior(x)
    assert logvar is None
    np.testing.assert_allclose(mu, new.embed(x), atol=1e-6)
    assert posterior_kl(old, (x * 255).astype(np.uint8)) is None
