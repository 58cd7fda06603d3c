"""`vaelab fit-density`: fit a Gaussian mixture to a model's training codes, so that its samples come from where
the codes are rather than from N(0, I). :func:`fit_density` encodes and fits; :func:`write_density` saves the
mixture into the model folder, where ``open_model(folder).sample(...)`` then draws from it by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vaelab.errors import VaelabError
from vaelab.io.run_lock import run_folder_lock
from vaelab.latent.density import CANDIDATES, HELD_OUT, MixtureChoice, choose_mixture
from vaelab.models.config import weights_id
from vaelab.models.runtime import encode_batched, open_model


@dataclass
class DensityResult:
    folder: Path  # the model folder the density belongs in
    data: str  # the data whose training codes it was fitted on
    choice: MixtureChoice
    seed: int
    weights: str = ""  # the weights_id of the model the codes came from
    path: Path | None = None  # where write_density wrote it; None until then

    def info(self) -> dict:
        """What the density file's header records of the fit."""
        c = self.choice
        return {
            "data": self.data,
            "split": "train",
            "codes": c.fitted_codes + c.held_out_codes,
            "held_out_codes": c.held_out_codes,
            "components": c.n_components,
            "held_out_log_likelihood": {str(k): round(v, 4) for k, v in c.held_out_log_likelihood.items()},
            "seed": self.seed,
        }


def fit_density(
    model,
    data: str | None = None,
    candidates=CANDIDATES,
    held_out: float = HELD_OUT,
    seed: int = 0,
    progress: bool = True,
) -> DensityResult:
    """Encode the training images of ``data`` (default: the model's own) to posterior means with ``model`` (a folder
    or a shipped model's name) and fit a Gaussian mixture to them, choosing among ``candidates`` component counts
    by the held-out codes' log-likelihood."""
    from vaelab.tasks.encoding import load_model_dataset

    m = open_model(model)
    if m.folder is None:
        raise VaelabError("fit-density writes into a model folder; pass the folder, not a loaded model")
    weights = weights_id(m.folder)
    ds = load_model_dataset(m, data)
    codes = encode_batched(m, ds.images[ds.split("train")], progress=progress)
    if len(codes) < 2:
        raise VaelabError(f"{ds.name}: its training split holds {len(codes)} images; a density needs at least 2")
    return DensityResult(Path(m.folder), ds.name, choose_mixture(codes, candidates, held_out, seed), seed, weights)


def write_density(result: DensityResult, folder: str | Path | None = None) -> Path:
    """Save the fitted mixture as density.safetensors in the model folder (``result.folder`` unless given), holding
    the folder as a training run does: a run training there is not written beside, and weights that changed since
    the fit are refused (the codes would be another model's)."""
    from vaelab.models.density import save_density

    folder = Path(folder or result.folder)
    with run_folder_lock(folder):
        if result.weights and weights_id(folder) != result.weights:
            raise VaelabError(
                f"{folder}'s weights changed while the density was fitted; run `vaelab fit-density {folder}` again"
            )
        result.path = save_density(folder, result.choice.mixture, result.info())
    return result.path
