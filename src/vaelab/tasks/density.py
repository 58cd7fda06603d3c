"""`vaelab fit-density`: fit a Gaussian mixture to a model's training codes, so that its samples come from where
the codes are rather than from N(0, I). :func:`fit_density` encodes and fits; :func:`write_density` saves the
mixture into the model folder, where ``open_model(folder).sample(...)`` then draws from it by default, and draws
samples.png from it there. A `vaelab train` run does both when it finishes (``tasks.train``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError
from vaelab.io.run_lock import run_folder_lock
from vaelab.latent.density import CANDIDATES, HELD_OUT, MAX_CODES, MixtureChoice, choose_mixture, subsample
from vaelab.models.config import weights_id
from vaelab.models.density import SAMPLES_NAME
from vaelab.models.runtime import encode_batched, open_model

GRID_SAMPLES, GRID_SEED = 64, 0  # samples.png: 8 × 8 samples, drawn as `open_model(folder).sample(64, seed=0)`


@dataclass
class DensityResult:
    folder: Path  # the model folder the density belongs in
    data: str  # the data whose training codes it was fitted on
    choice: MixtureChoice
    seed: int
    weights: str = ""  # the weights_id of the model the codes came from
    path: Path | None = None  # where write_density wrote it; None until then
    training_codes: int = 0  # the training images there were; the fit used a subsample of at most max_codes
    max_codes: int | None = None
    seconds: float = 0.0  # encoding and fitting
    samples: Path | None = None  # the grid write_density drew from it; None until then

    @property
    def codes(self) -> int:
        """The codes the fit used: those fitted and those held out to choose the number of components."""
        return self.choice.fitted_codes + self.choice.held_out_codes

    def info(self) -> dict:
        """What the density file's header records of the fit."""
        c = self.choice
        return {
            "data": self.data,
            "split": "train",
            "codes": self.codes,
            "training_codes": self.training_codes or self.codes,
            "max_codes": self.max_codes,
            "held_out_codes": c.held_out_codes,
            "components": c.n_components,
            "held_out_log_likelihood": {str(k): round(v, 4) for k, v in c.held_out_log_likelihood.items()},
            "seed": self.seed,
        }

    def summary(self) -> str:
        """One line: the count chosen among those tried, the codes of how many, the time."""
        c, tried = self.choice, ", ".join(map(str, self.choice.held_out_log_likelihood))
        of = f" of {self.training_codes}" if self.training_codes > self.codes else ""
        return (
            f"{c.n_components}-component density (chosen among {tried}) fitted to {self.codes}{of} "
            f"{self.data} training codes in {self.seconds:.0f} s"
        )


def fit_density(
    model,
    data: str | ImageDataset | None = None,
    candidates=CANDIDATES,
    held_out: float = HELD_OUT,
    seed: int = 0,
    progress: bool = True,
    max_codes: int | None = MAX_CODES,
) -> DensityResult:
    """Encode the training images of ``data`` (default: the model's own; a dataset is taken as it is) to posterior
    means with ``model`` (a folder or a shipped model's name) and fit a Gaussian mixture to them, choosing among
    ``candidates`` component counts by the held-out codes' log-likelihood. A training split of more than
    ``max_codes`` images (None: no limit) is fitted on a seeded random subsample of that many."""
    from vaelab.tasks.encoding import load_model_dataset

    if max_codes is not None and max_codes < 2:
        raise VaelabError(f"a density is fitted to at least 2 codes, not at most {max_codes}")
    start = time.perf_counter()
    m = open_model(model)
    if m.folder is None:
        raise VaelabError("fit-density writes into a model folder; pass the folder, not a loaded model")
    weights = weights_id(m.folder)
    ds = data if isinstance(data, ImageDataset) else load_model_dataset(m, data)
    train = ds.split("train")
    if len(train) < 2:
        raise VaelabError(f"{ds.name}: its training split holds {len(train)} images; a density needs at least 2")
    codes = encode_batched(m, ds.images[train[subsample(len(train), max_codes, seed)]], progress=progress)
    choice = choose_mixture(codes, candidates, held_out, seed, progress=progress)
    return DensityResult(
        Path(m.folder),
        ds.name,
        choice,
        seed,
        weights,
        training_codes=len(train),
        max_codes=max_codes,
        seconds=time.perf_counter() - start,
    )


def write_density(result: DensityResult, folder: str | Path | None = None) -> Path:
    """Save the fitted mixture as density.safetensors in the model folder (``result.folder`` unless given), and
    samples.png beside it: 64 samples drawn from it as ``open_model(folder).sample`` draws them. The folder is held
    as a training run holds it: a run training there is not written beside, and weights that changed since the
    fit are refused (the codes would be another model's)."""
    from vaelab.data.images import image_grid, save_png_atomic
    from vaelab.models.density import save_density

    folder = Path(folder or result.folder)
    with run_folder_lock(folder):
        if result.weights and weights_id(folder) != result.weights:
            raise VaelabError(
                f"{folder}'s weights changed while the density was fitted; run `vaelab fit-density {folder}` again"
            )
        result.path = save_density(folder, result.choice.mixture, result.info())
        m = open_model(folder)
        samples = m.sample(GRID_SAMPLES, seed=GRID_SEED, source="density")
        result.samples = folder / SAMPLES_NAME
        save_png_atomic(image_grid(samples, nrow=8, scale=max(1, 96 // m.size[1])), result.samples)
    return result.path
