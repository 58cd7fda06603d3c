"""Model configuration and the config.json of a saved model folder. No torch here: the inference path
reads config.json too."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from vaelab.atomic import write_text_atomic
from vaelab.errors import VaelabError

CONFIG_NAME, WEIGHTS_NAME = "config.json", "model.safetensors"
ENCODER_ONNX, DECODER_ONNX = "encoder.onnx", "decoder.onnx"
FORMAT_VERSION = 1
MAX_LAYER = 65536  # widths and code sizes past this only run out of memory
MAX_KERNEL = 31  # a wider conv kernel only makes training crawl
MAX_FREE_BITS = 100.0  # nats a code unit; a free allowance past this leaves no KL term at all


@dataclass
class ModelConfig:
    """Every hyper-parameter of a model; the defaults are the reference Fashion-MNIST conv VAE."""

    kind: str = "vae-conv"
    channels: int = 1  # image channels, 1 or 3
    height: int = 28
    width: int = 28
    latent_dim: int = 32
    widths: tuple[int, ...] = (32, 64, 128)  # conv channel widths (vae-conv), each conv halves H and W
    kernel_size: int = 3
    fc: int = 0  # vae-conv: a hidden Linear of this width between the convs and the code, both ways (0 = none)
    hidden: tuple[int, ...] = (512, 256)  # Linear widths (ae-mlp)
    likelihood: str = "bernoulli"  # 'bernoulli' (BCE with logits) or 'gaussian' (fixed sigma)
    sigma: float = 0.1  # the Gaussian likelihood's fixed standard deviation, in [0,1] pixel units
    beta: float = 1.0  # weight of the KL term
    free_bits: float = 0.0  # nats per latent dimension below which KL is not pushed down (0 = off)
    tc_beta: float = 1.0  # β-TCVAE (Chen et al. 2018): the total-correlation part of the KL weighs this much (1 = off)
    specified_dim: int = 0  # cycle-vae: the last specified_dim of the latent_dim code are s, the rest z

    def __post_init__(self) -> None:
        self.widths, self.hidden = tuple(self.widths), tuple(self.hidden)
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise VaelabError(f"likelihood must be 'bernoulli' or 'gaussian', not {self.likelihood!r}")
        if self.channels not in (1, 3):
            raise VaelabError(f"channels must be 1 or 3, not {self.channels}")
        if self.fc < 0:
            raise VaelabError(f"the hidden fully-connected width must be 0 (none) or more, not {self.fc}")
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise VaelabError(f"the Gaussian likelihood's sigma must be above 0, not {self.sigma}")
        for name, value in (("β (the KL weight)", self.beta), ("free bits", self.free_bits)):
            if not (math.isfinite(value) and value >= 0):
                raise VaelabError(f"{name} must be 0 or more, not {value}")
        if not self.widths or min(self.widths) < 1 or (self.hidden and min(self.hidden) < 1):
            raise VaelabError(f"layer widths must be whole numbers of at least 1, and there must be at least one "
                              f"conv width; got widths {list(self.widths)}, hidden {list(self.hidden)}")
        if not math.isfinite(self.tc_beta) or self.tc_beta < 0:
            raise VaelabError(f"the total-correlation weight must be 0 or more (1 = off), not {self.tc_beta}")
        if self.latent_dim < 1:
            raise VaelabError(f"latent size must be at least 1, not {self.latent_dim}")
        sizes = {"latent size": self.latent_dim, "hidden fully-connected width": self.fc,
                 "conv width": max(self.widths), "Linear width": max(self.hidden, default=0)}
        for name, value in sizes.items():
            if value > MAX_LAYER:
                raise VaelabError(f"the {name} {value} is past {MAX_LAYER}, more than any image model here needs "
                                  "(its weights alone would fill the memory)")
        if not 1 <= self.kernel_size <= MAX_KERNEL:
            raise VaelabError(f"the conv kernel must be from 1 to {MAX_KERNEL} pixels, not {self.kernel_size}")
        if self.free_bits > MAX_FREE_BITS:
            raise VaelabError(f"free bits above {MAX_FREE_BITS:g} nats a dimension switch the KL term off; "
                              f"got {self.free_bits:g}")

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        return strict_from_dict(cls, d, "model")


def strict_from_dict(cls, d: dict, what: str):
    """Build a config dataclass from config.json's dict; unknown keys are an error, not silently dropped."""
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise VaelabError(f"config.json has unknown {what} settings: {', '.join(sorted(unknown))}")
    return cls(**d)


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON (indented) to ``path`` through a temp file renamed into place."""
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")


def read_config_doc(folder: str | Path, written_by: str = "vaelab train") -> dict:
    """The parsed config.json of a saved folder; errors say what is missing and which command writes it."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "evaluator" if "evaluator" in written_by else "model"
        raise VaelabError(f"{folder}: no such {what} folder")
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise VaelabError(f"{folder}: no {CONFIG_NAME}; is this a folder written by `{written_by}`?")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VaelabError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(doc, dict):
        raise VaelabError(f"{path}: not a vaelab config (expected a JSON object)")
    return doc


def read_model_json(folder: str | Path) -> dict:
    """Read and check a model folder's config.json; errors say what is missing."""
    path = Path(folder) / CONFIG_NAME
    doc = read_config_doc(folder)
    if "model" not in doc or "data" not in doc:
        raise VaelabError(f"{path}: not a vaelab model config (needs 'model' and 'data')")
    ModelConfig.from_dict(doc["model"])  # validates
    return doc


def model_json(cfg: ModelConfig, data_spec: dict, **extra) -> dict:
    """The config.json document: format version, model hyper-parameters, data spec and any extras."""
    return {"format": "vaelab", "format_version": FORMAT_VERSION, "model": asdict(cfg), "data": data_spec, **extra}


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file, in hex: the ONNX files record their weights' one, and weights_id is its start."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_id(folder: str | Path | None) -> str:
    """The first 16 hex digits of the sha256 of a folder's model.safetensors ("" when it has none): what tells
    one training state of a model from another."""
    weights = Path(folder) / WEIGHTS_NAME if folder else None
    return file_sha256(weights)[:16] if weights and weights.is_file() else ""
