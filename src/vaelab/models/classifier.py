"""The evaluator: a small CNN classifier that judges decoded images, replacing the Metamorph VAE blog post's "87% human
accuracy (my own classification of 100 decoded samples)" with a measurement anyone can rerun.

It is saved the way models are saved: a folder with config.json and model.safetensors, no pickle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from vaelab.errors import VaelabError
from vaelab.io.atomic import atomic_path
from vaelab.models.config import (
    CONFIG_NAME,
    EVALUATOR_KIND,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    read_config_doc,
    strict_from_dict,
    write_json_atomic,
)
from vaelab.models.shipped import SHIPPED_EVALUATORS

DEFAULT_EVALUATOR = SHIPPED_EVALUATORS["fashion-mnist"]


@dataclass
class EvaluatorConfig:
    """Hyper-parameters of the evaluator CNN: two conv blocks (conv, ReLU, 2×2 max-pool) and two Linear layers."""

    channels: int = 1
    height: int = 28
    width: int = 28
    num_classes: int = 10
    widths: tuple[int, ...] = (32, 64)
    hidden: int = 128
    dropout: float = 0.3

    def __post_init__(self) -> None:
        self.widths = tuple(self.widths)
        if self.num_classes < 2:
            raise VaelabError(f"an evaluator needs at least 2 classes, not {self.num_classes}")

    @classmethod
    def from_dict(cls, d: dict) -> EvaluatorConfig:
        return strict_from_dict(cls, d, "evaluator")


class EvaluatorCNN(nn.Module):
    """x: (B, C, H, W) in [0,1] → class logits (B, K)."""

    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.cfg = cfg
        layers, c_in = [], cfg.channels
        for w in cfg.widths:
            layers += [nn.Conv2d(c_in, w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c_in = w
        # Pooling to a fixed 7×7 lets one architecture take any image size; at 28×28 it is the identity.
        layers += [nn.AdaptiveAvgPool2d(7), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(c_in * 49, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) in [0,1] → class probabilities (B, K), in eval mode."""
        was_training = self.training
        self.eval()
        p = torch.softmax(self(x), dim=1)
        self.train(was_training)
        return p

    def check_images(self, channels: int, size: tuple[int, int]) -> None:
        """Raise a one-line error when images of this format are not what the evaluator was trained on."""
        c = self.cfg
        if (channels, *size) != (c.channels, c.height, c.width):
            raise VaelabError(
                f"the evaluator takes {c.channels}×{c.height}×{c.width} images, the model makes "
                f"{channels}×{size[0]}×{size[1]}; "
                "train one on the same data with `vaelab train-evaluator`"
            )

    def save_pretrained(self, folder: str | Path, data_spec: dict, reference=None, **extra) -> Path:
        """Write config.json and model.safetensors into ``folder``, each to a temp name renamed into place; with
        ``reference`` images (uint8 (N, C, H, W): the data's test images), also features.onnx, the features that
        perceptual distances use, standardised by those images."""
        from vaelab.models.config import FEATURES_ONNX, file_sha256
        from vaelab.models.onnx_export import export_features_onnx

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        with atomic_path(folder / WEIGHTS_NAME) as tmp:
            save_file(state, str(tmp), metadata={"format": "pt"})
        if reference is not None and len(reference):
            with atomic_path(folder / FEATURES_ONNX) as tmp:
                export_features_onnx(self, tmp, reference, file_sha256(folder / WEIGHTS_NAME))
        else:  # features of other weights would no longer match
            (folder / FEATURES_ONNX).unlink(missing_ok=True)
        doc = {
            "format": "vaelab",
            "format_version": FORMAT_VERSION,
            "kind": EVALUATOR_KIND,
            "evaluator": asdict(self.cfg),
            "data": data_spec,
            **extra,
        }
        write_json_atomic(folder / CONFIG_NAME, doc)
        return folder


def default_evaluator_for(data_name: str | None) -> EvaluatorCNN | None:
    """The shipped evaluator of the data (Fashion-MNIST; emoji at 64 × 64, by its Unicode subgroups) when it is
    installed, else None."""
    folder = SHIPPED_EVALUATORS.get(data_name or "")
    if folder is not None and (folder / CONFIG_NAME).is_file():
        return load_evaluator(folder)
    return None


def evaluator_for(choice: str | Path | None, data_name: str | None) -> EvaluatorCNN | None:
    """The --evaluator of a command: a folder, 'none' (no evaluator), or unset (the default for the data)."""
    if choice is None:
        return default_evaluator_for(data_name)
    if str(choice) == "none":
        return None
    return load_evaluator(choice)


def load_evaluator(folder: str | Path | None = None, map_location: str = "cpu") -> EvaluatorCNN:
    """Rebuild an evaluator from its folder (None = the shipped Fashion-MNIST one), in eval mode."""
    folder = DEFAULT_EVALUATOR if folder is None else Path(folder).expanduser()
    doc = read_config_doc(folder, "vaelab train-evaluator")
    if doc.get("kind") != EVALUATOR_KIND or "evaluator" not in doc:
        raise VaelabError(
            f"{folder}: not an evaluator folder (a VAE folder goes to --model); make one with `vaelab train-evaluator`"
        )
    model = EvaluatorCNN(EvaluatorConfig.from_dict(doc["evaluator"]))
    try:
        model.load_state_dict(load_file(str(folder / WEIGHTS_NAME), device=map_location))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise VaelabError(
            f"{folder / WEIGHTS_NAME}: missing, corrupt or not matching config.json ({str(e).strip().splitlines()[0]})"
        ) from e
    model.data_spec = doc.get("data", {})
    model.info = {k: v for k, v in doc.items() if k not in ("evaluator", "data")}
    return model.eval().to(map_location)
