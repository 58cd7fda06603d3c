"""The models a studio offers, each under an id the page uses: the shipped models, every ``--model`` given, and
every trained run found under ``--runs``. A client names a model only by such an id, never by a path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vaelab.errors import VaelabError
from vaelab.models.config import CONFIG_NAME, DECODER_ONNX, ENCODER_ONNX, EVALUATOR_KIND, held_kind
from vaelab.models.shipped import model_card, model_folder, shipped_models

RUN_DEPTH = 3  # how deep below --runs a model folder is looked for (runs/NAME, runs/GROUP/NAME, ...)


@dataclass
class Entry:
    """One model the studio lists. ``problem`` says why it cannot be opened (then the page shows it disabled)."""

    id: str
    folder: Path
    source: str  # "shipped", "given" or "run"
    problem: str = ""

    def card(self) -> dict:
        """What the page's model card shows: kind, data, image shape, latent size and the recorded figures."""
        if self.problem:
            return {"id": self.id, "source": self.source, "problem": self.problem, "name": self.id}
        c = model_card(self.id, self.folder)
        return {
            "id": self.id,
            "name": self.id,
            "source": self.source,
            "kind": c.kind,
            "data": c.data,
            "shape": list(c.shape),
            "latent_dim": c.latent_dim,
            "likelihood": c.likelihood,
            "figures": c.figures,
            "folder": str(self.folder),
        }


def _problem(folder: Path) -> str:
    if not (folder / CONFIG_NAME).is_file():
        return f"{folder} holds no {CONFIG_NAME}: not a model folder that `vaelab train` wrote"
    kind = held_kind(folder)
    if kind is None:
        return f"{folder / CONFIG_NAME} cannot be read"
    if kind == EVALUATOR_KIND:
        return f"{folder} holds an evaluator classifier, not a VAE"
    if not ((folder / ENCODER_ONNX).is_file() and (folder / DECODER_ONNX).is_file()):
        return (
            f"{folder} has no {ENCODER_ONNX}/{DECODER_ONNX} (it was trained with --no-onnx); the studio runs "
            "models on onnxruntime"
        )
    return ""


def _unique(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


def run_folders(runs: Path) -> list[Path]:
    """The VAE folders below ``runs`` (up to RUN_DEPTH deep), in sorted order; evaluators are left out."""
    found = []
    for config in sorted(runs.glob("**/" + CONFIG_NAME)):
        folder = config.parent
        if len(folder.relative_to(runs).parts) <= RUN_DEPTH and held_kind(folder) not in (None, EVALUATOR_KIND):
            found.append(folder)
    return found


def find_models(given=(), runs: Path | None = None) -> list[Entry]:
    """The shipped models, then each of ``given`` (folders or shipped names; a mistyped one is an error), then the
    runs under ``runs``. A folder is listed once, under its first id."""
    entries: list[Entry] = []
    seen: set[Path] = set()

    def add(key: str, folder: Path, source: str) -> None:
        if folder.resolve() in seen:
            return
        seen.add(folder.resolve())
        entries.append(Entry(_unique(key, {e.id for e in entries}), folder, source, _problem(folder)))

    for name, folder in shipped_models().items():
        add(name, folder, "shipped")
    for model in given:
        folder = model_folder(model)  # a mistyped shipped name: "did you mean"
        if not folder.is_dir():
            raise VaelabError(f"--model {model}: no such folder")
        problem = _problem(folder)
        if problem:
            raise VaelabError(f"--model {model}: {problem}")
        add(folder.name, folder, "given")
    if runs is not None and runs.is_dir():
        for folder in run_folders(runs):
            add("run-" + "-".join(folder.relative_to(runs).parts), folder, "run")  # runs/a/b → run-a-b
    return entries
