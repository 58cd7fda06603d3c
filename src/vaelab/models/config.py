"""Model configuration and the config.json of a saved model folder. No torch here: the inference path
reads config.json too."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from vaelab.errors import VaelabError
from vaelab.io.atomic import write_text_atomic
from vaelab.io.staging import check_out_folder

CONFIG_NAME, WEIGHTS_NAME = "config.json", "model.safetensors"
ENCODER_ONNX, DECODER_ONNX = "encoder.onnx", "decoder.onnx"
FEATURES_ONNX = "features.onnx"  # an evaluator's standardised features, for perceptual distances without torch
EVAL_JSON = "eval.json"  # what `vaelab evaluate --out FOLDER` writes; report and `vaelab models` read a model folder's
FORMAT_VERSION = 1
EVALUATOR_KIND = "evaluator-cnn"  # config.json's "kind" of an evaluator classifier
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "pretrained" / "fashion-mnist-vae"  # the shipped VAE
MAX_LAYER = 65536  # widths and code sizes past this only run out of memory
MAX_KERNEL = 31  # a wider conv kernel only makes training crawl
MAX_ATTENTION = 8  # self-attention blocks each side of the code; more only slow a model of small images down
MAX_FREE_BITS = 100.0  # nats a code unit; a free allowance past this leaves no KL term at all


# BCE with logits; a Gaussian of fixed sigma; of a sigma learned with the weights; of the optimal sigma (σ-VAE)
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian-learned", "gaussian-optimal")
# how vae-conv's decoder doubles H and W (models.vae_conv.UPSAMPLERS builds each, and says what each is)
UPSAMPLES = ("transpose", "resize", "transpose-conv", "resize-last", "pixelshuffle")


@dataclass
class ModelConfig:
    """Every hyper-parameter of a model; the defaults are the reference Fashion-MNIST conv VAE.

    A field that `vaelab train` or `vaelab train-cycle` sets carries its --help text in ``metadata["help"]``
    (``vaelab.training.settings`` lists the other metadata keys); channels, height and width come from the data."""

    # models.registry.MODELS, written out so that the CLI starts without importing torch
    kind: str = field(
        default="vae-conv",
        metadata=dict(
            flag="--model",
            choices=("vae-conv", "vae-res", "ae-mlp", "cycle-vae"),
            help="vae-conv (the blog post's conv VAE) | vae-res (residual blocks, GroupNorm, no checkerboard) | "
            "ae-mlp (cycle-vae trains with vaelab train-cycle)",
        ),
    )
    channels: int = 1  # image channels, 1 or 3
    height: int = 28
    width: int = 28
    latent_dim: int = field(default=32, metadata=dict(flag="--latent", type="positive", help="latent size"))
    widths: tuple[int, ...] = field(
        default=(32, 64, 128),
        metadata=dict(  # vae-conv, vae-res and cycle-vae
            type="ints", help="conv widths; each conv halves H and W"
        ),
    )
    # vae-res: self-attention blocks at the lowest resolution, each side of the code
    attention: int = field(
        default=0, metadata=dict(metavar="BLOCKS", help="self-attention blocks at the lowest resolution (vae-res)")
    )
    kernel_size: int = field(default=3, metadata=dict(flag="--kernel", type="positive", help="conv kernel size"))
    # vae-conv and cycle-vae: a hidden Linear between the convs and the code, both ways
    fc: int = field(
        default=0,
        metadata=dict(
            metavar="WIDTH",
            help="a hidden Linear layer of this width each side of the code (default 0 = none; "
            "disentanglement_lib: 256)",
        ),
    )
    # vae-conv and cycle-vae: how each decoder layer doubles H and W; folders saved before it was a setting hold
    # "transpose", which is what they were built with
    upsample: str = field(
        default="transpose",
        metadata=dict(
            choices=UPSAMPLES,
            help="how the decoder doubles H and W (vae-conv): transpose (a transposed conv, the blog post's; prints a "
            "faint checkerboard) | resize (nearest-neighbour resize, then a conv: Odena et al. 2016) | "
            "transpose-conv (a transposed conv, then a 3x3 conv) | resize-last (resize in the last layer only) | "
            "pixelshuffle (a conv to 4x the channels, then sub-pixel shuffling, ICNR-initialised: Aitken et al. 2017)",
        ),
    )
    hidden: tuple[int, ...] = field(default=(512, 256), metadata=dict(type="ints", help="Linear widths (ae-mlp)"))
    likelihood: str = field(
        default="bernoulli",
        metadata=dict(
            choices=LIKELIHOODS,
            help="bernoulli | gaussian (of a fixed --sigma) | gaussian-learned (its sigma trained with the weights, "
            "from --sigma) | gaussian-optimal (sigma set to its optimum, the batch's RMS error: the calibrated "
            "decoder of Rybkin et al. 2021, the sigma-VAE)",
        ),
    )
    # in [0,1] pixel units
    sigma: float = field(
        default=0.1, metadata=dict(help="sigma of the Gaussian likelihood (gaussian-learned: where it starts)")
    )
    beta: float = field(default=1.0, metadata=dict(help="KL weight (beta-VAE when > 1)"))
    # 0 = off
    free_bits: float = field(default=0.0, metadata=dict(help="nats per latent dim not pushed down"))
    tc_beta: float = field(
        default=1.0,
        metadata=dict(
            help="beta-TCVAE (Chen et al. 2018): add (B - 1) x the total correlation of the code to the objective; "
            "with --beta 1 that weighs the TC part of the KL by B and the rest by 1 (default 1 = off; 6 is a common "
            "choice)"
        ),
    )
    # cycle-vae: the last specified_dim of the latent_dim code are s, the rest z (0 for other kinds)
    specified_dim: int = field(
        default=0,
        metadata=dict(flag="--specified", type="positive", cli_default=16, help="size of s, the specified part"),
    )

    def __post_init__(self) -> None:
        self.widths, self.hidden = tuple(self.widths), tuple(self.hidden)
        if self.likelihood not in LIKELIHOODS:
            raise VaelabError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, not {self.likelihood!r}")
        if self.upsample not in UPSAMPLES:
            raise VaelabError(f"upsample must be one of {', '.join(UPSAMPLES)}, not {self.upsample!r}")
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
            raise VaelabError(
                f"layer widths must be whole numbers of at least 1, and there must be at least one "
                f"conv width; got widths {list(self.widths)}, hidden {list(self.hidden)}"
            )
        if not math.isfinite(self.tc_beta) or self.tc_beta < 0:
            raise VaelabError(f"the total-correlation weight must be 0 or more (1 = off), not {self.tc_beta}")
        if not 0 <= self.attention <= MAX_ATTENTION:
            raise VaelabError(f"the attention blocks must be from 0 to {MAX_ATTENTION}, not {self.attention}")
        if self.latent_dim < 1:
            raise VaelabError(f"latent size must be at least 1, not {self.latent_dim}")
        sizes = {
            "latent size": self.latent_dim,
            "hidden fully-connected width": self.fc,
            "conv width": max(self.widths),
            "Linear width": max(self.hidden, default=0),
        }
        for name, value in sizes.items():
            if value > MAX_LAYER:
                raise VaelabError(
                    f"the {name} {value} is past {MAX_LAYER}, more than any image model here needs "
                    "(its weights alone would fill the memory)"
                )
        if not 1 <= self.kernel_size <= MAX_KERNEL:
            raise VaelabError(f"the conv kernel must be from 1 to {MAX_KERNEL} pixels, not {self.kernel_size}")
        if self.free_bits > MAX_FREE_BITS:
            raise VaelabError(
                f"free bits above {MAX_FREE_BITS:g} nats a dimension switch the KL term off; got {self.free_bits:g}"
            )

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
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


def held_kind(folder: Path) -> str | None:
    """The kind of model a folder's config.json describes (an evaluator's, or a VAE's model.kind); None when
    there is none or it cannot be read."""
    try:
        doc = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    model = doc.get("model")
    return doc.get("kind") or (model.get("kind") if isinstance(model, dict) else None)


def check_model_folder(out: Path, evaluator: bool) -> None:
    """:func:`check_out_folder` for a model folder, which is written in place; a folder holding the other kind of
    model (an evaluator when a VAE will be written there, or the reverse) is refused rather than overwritten."""
    check_out_folder(out, in_place=True)
    held = held_kind(out)
    if held and (held == EVALUATOR_KIND) != evaluator:
        what = "an evaluator classifier" if held == EVALUATOR_KIND else f"a {held} model"
        raise VaelabError(f"--out {out} holds {what}; choose another folder rather than overwrite it")
