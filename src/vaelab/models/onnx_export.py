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
