"""The models that ship inside the package, by name, so that ``--model fashion-mnist`` works wherever a model
folder does; and what each one's config.json records about it, for ``vaelab models``.

A name is resolved in :func:`model_folder` only, which ``open_model``, ``load`` and the CLI's ``--model`` all call:
a path that exists stays a path (it wins over a name), a shipped model's name gives its folder.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from vaelab.errors import VaelabError
from vaelab.models.config import CONFIG_NAME, DEFAULT_MODEL, EVAL_JSON, read_model_json

PRETRAINED = DEFAULT_MODEL.parent
# the data each shipped evaluator judges, by the name the data records → its folder
SHIPPED_EVALUATORS: dict[str, Path] = {
    "fashion-mnist": PRETRAINED / "fashion-mnist-evaluator",
    "emoji": PRETRAINED / "emoji-evaluator",
}
# name → folder; a model is shipped when its folder holds a config.json (see shipped_models)
SHIPPED: dict[str, Path] = {
    "fashion-mnist": DEFAULT_MODEL,
    "emoji": PRETRAINED / "emoji-vae",
}


def shipped_models() -> dict[str, Path]:
    """The shipped models whose folders are there: name → folder."""
    return {name: folder for name, folder in SHIPPED.items() if (folder / CONFIG_NAME).is_file()}


def _looks_like_a_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith(("~", "."))


def model_folder(model: str | Path | None) -> Path:
    """The folder of ``--model``: None → the shipped default; a path that exists → that path; a shipped model's
    name → its folder. A name that is neither is refused with the shipped names; a path that does not exist is
    returned as it is, for the loader to say so."""
    if model is None:
        return DEFAULT_MODEL
    path = Path(model).expanduser()
    if path.exists():
        return path
    text = str(model)
    shipped = shipped_models()
    if text in shipped:
        return shipped[text]
    if _looks_like_a_path(text):
        return path
    close = difflib.get_close_matches(text, list(shipped), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise VaelabError(
        f"{text!r} is neither a model folder nor a shipped model{hint}. The shipped models are: "
        f"{', '.join(shipped) or 'none'}; or give a folder that `vaelab train` wrote"
    )


# The figures a model folder may record, in the order a table shows them: (key in config.json's
# metrics["test"], or in eval.json's "reconstruction", its heading, digits).
FIGURES = (
    ("neg_elbo", "test -ELBO", 2),
    ("bits_per_dim", "bits/dim", 4),
    ("psnr", "PSNR dB", 2),
    ("ssim", "SSIM", 3),
    ("sharpness", "sharpness", 3),
    ("edge_fidelity", "edge fidelity", 3),
)


@dataclass
class ModelCard:
    """What a model folder's config.json says about the model: enough for one row of ``vaelab models``."""

    name: str
    folder: Path
    kind: str
    data: str  # the dataset's name
    shape: tuple[int, int, int]  # (C, H, W) of the images it takes
    latent_dim: int
    likelihood: str
    figures: dict[str, float] = field(default_factory=dict)  # keys of FIGURES, those the folder records


def model_card(name: str, folder: Path) -> ModelCard:
    """The card of one model folder: its config.json, and the reconstruction figures of an eval.json beside it
    (`vaelab evaluate --out FOLDER`) where config.json has none of its own."""
    doc = read_model_json(folder)
    m = doc["model"]
    recorded = dict(doc.get("metrics", {}).get("test", {}))
    try:
        evaluated = json.loads((folder / EVAL_JSON).read_text()).get("reconstruction", {})
    except (OSError, ValueError, AttributeError):
        evaluated = {}
    figures = {}
    for key, _, _ in FIGURES:
        value = recorded.get(key, evaluated.get(key) if isinstance(evaluated, dict) else None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            figures[key] = float(value)
    return ModelCard(
        name=name,
        folder=folder,
        kind=m["kind"],
        data=doc["data"].get("name") or "?",
        shape=(m["channels"], m["height"], m["width"]),
        latent_dim=m["latent_dim"],
        likelihood=m.get("likelihood", "bernoulli"),
        figures=figures,
    )


def shipped_model_cards() -> list[ModelCard]:
    """A card for each shipped model that is there, in the order of SHIPPED."""
    return [model_card(name, folder) for name, folder in shipped_models().items()]


def models_table(cards: list[ModelCard]) -> str:
    """The cards as a plain-text table, one model a row, its folder last; a figure a folder does not record is —."""
    shown = [(key, head, digits) for key, head, digits in FIGURES if any(key in c.figures for c in cards)]
    head = ["name", "data", "image", "kind", "likelihood", "latent", *(h for _, h, _ in shown), "folder"]
    rows = [
        [
            c.name,
            c.data,
            "×".join(map(str, c.shape)),
            c.kind,
            c.likelihood,
            str(c.latent_dim),
            *(f"{c.figures[k]:.{d}f}" if k in c.figures else "—" for k, _, d in shown),
            str(c.folder),
        ]
        for c in cards
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    numeric = set(range(5, 6 + len(shown)))  # latent and the figures: right-aligned

    def line(cells):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join(line(r).rstrip() for r in [head, *rows])
