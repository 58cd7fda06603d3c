"""Export a model's encoder (posterior mean) and decoder (images in [0,1]) to ONNX, so that morph and
encode/decode run under onnxruntime without importing torch (2 s of start-up here)."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn


class _Embed(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.embed(x)


class _Posterior(nn.Module):
    """A VAE's encoder: the posterior mean (the code) and its log-variance, which the KL per dimension needs."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.posterior(x)


class _Decode(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, z):
        return self.model.decode(z)


WEIGHTS_SHA_KEY = "vaelab.weights_sha256"


def export_onnx(model, encoder_path: Path, decoder_path: Path, weights_sha256: str = "") -> None:
    """Write encoder.onnx (x: (B,C,H,W) float32 → mean: (B,D), and for a VAE its log-variance "logvar": (B,D)) and
    decoder.onnx (z → x̂ in [0,1]).

    Both carry the sha256 of the model.safetensors they were exported from, so that loading can tell
    when the weights file was swapped or damaged behind them.
    """
    cfg = model.cfg
    m = copy.deepcopy(model).to("cpu").eval()
    x = torch.zeros(2, cfg.channels, cfg.height, cfg.width)
    z = torch.zeros(2, cfg.latent_dim)
    with torch.no_grad():
        variational = m.variational and m.encode(x)[1] is not None
    encoder = (_Posterior(m), ("x", "z", "logvar")) if variational else (_Embed(m), ("x", "z"))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for net, arg, path, names in (
            (encoder[0], x, encoder_path, encoder[1]),
            (_Decode(m), z, decoder_path, ("z", "x")),
        ):
            torch.onnx.export(
                net,
                (arg,),
                str(path),
                dynamo=False,
                input_names=[names[0]],
                output_names=list(names[1:]),
                dynamic_axes={name: {0: "batch"} for name in names},
                opset_version=17,
            )
            if weights_sha256:
                import onnx

                proto = onnx.load(str(path))
                onnx.helper.set_model_props(proto, {WEIGHTS_SHA_KEY: weights_sha256})
                onnx.save(proto, str(path))


class _Features(nn.Module):
    """An evaluator's hidden layer (the realism numbers' features), standardised by reference images' mean and
    spread (a feature that never varies there is divided by 1), as ``metrics.realism.standardise`` does."""

    def __init__(self, evaluator, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.evaluator = evaluator
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        # The adaptive pooling to 7×7 as two matrix products: ONNX has no adaptive pooling to a size that does
        # not divide the input's (64×64 images reach it at 16×16), and the images' size is fixed.
        cfg = evaluator.cfg
        with torch.no_grad():
            h, w = evaluator.features[:-2](torch.zeros(1, cfg.channels, cfg.height, cfg.width)).shape[-2:]
        out = evaluator.features[-2].output_size
        out_h, out_w = (out, out) if isinstance(out, int) else out
        self.register_buffer("pool_h", _pool_matrix(h, out_h))
        self.register_buffer("pool_w", _pool_matrix(w, out_w))

    def forward(self, x):
        conv = self.evaluator.features[:-2](x)
        pooled = self.pool_h @ conv @ self.pool_w.T  # (B, C, 7, 7), as AdaptiveAvgPool2d(7) gives
        hidden = self.evaluator.head[:2](pooled.flatten(1))
        return (hidden - self.mean) / self.std


def _pool_matrix(size: int, out: int) -> torch.Tensor:
    """(out, size): row i averages inputs floor(i·size/out) … ceil((i+1)·size/out) − 1, as adaptive pooling does."""
    m = torch.zeros(out, size)
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def export_features_onnx(evaluator, path: Path, reference, weights_sha256: str = "", batch_size: int = 500) -> None:
    """Write ``features.onnx`` (x: (B,C,H,W) in [0,1] → standardised features (B,F)) of an evaluator, standardised
    by the features of ``reference`` images (uint8 (N,C,H,W): the data's test images)."""
    import numpy as np

    ev = copy.deepcopy(evaluator).to("cpu").eval()
    with torch.no_grad():
        feats = torch.cat(
            [
                ev.head[:2](ev.features(torch.from_numpy(np.asarray(reference[i : i + batch_size], np.float32) / 255)))
                for i in range(0, len(reference), batch_size)
            ]
        ).double()
    mean, std = feats.mean(0), feats.std(0, unbiased=False)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    net = _Features(ev, mean.float(), std.float()).eval()
    x = torch.zeros(2, ev.cfg.channels, ev.cfg.height, ev.cfg.width)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(path), dynamo=False, input_names=["x"], output_names=["features"],
                          dynamic_axes={"x": {0: "batch"}, "features": {0: "batch"}}, opset_version=17)  # fmt: skip
    if weights_sha256:
        import onnx

        proto = onnx.load(str(path))
        onnx.helper.set_model_props(proto, {WEIGHTS_SHA_KEY: weights_sha256})
        onnx.save(proto, str(path))
