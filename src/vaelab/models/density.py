"""A model folder's code density (``density.safetensors``, written by `vaelab fit-density`): the Gaussian mixture
of ``vaelab.latent.density`` as plain arrays, with a JSON header that says which data and which weights it was
fitted on. No pickle; reading it needs numpy and safetensors only. The arrays are stored in float32, half the
bytes of float64 (50 covariances of 64×64 take 0.8 MB), and read back as float64: the mixture's covariance floor
(1e-2 on the diagonal) is some 10⁴ times the rounding, so sampling and scoring are as from the fit.

A density belongs to one training state of the model: one whose weights are not the folder's is refused, since
its codes would be another model's. ``samples.png``, a grid of samples drawn from it, goes with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vaelab.errors import VaelabError
from vaelab.io.atomic import atomic_path
from vaelab.latent.density import GaussianMixture
from vaelab.models.config import weights_id

DENSITY_NAME = "density.safetensors"
SAMPLES_NAME = "samples.png"  # the grid of samples drawn from the density (``tasks.density.write_density``)
DENSITY_VERSION = 1
ARRAYS = ("weights", "means", "covariances")


def density_path(folder: str | Path) -> Path:
    return Path(folder) / DENSITY_NAME


def has_density(folder: str | Path | None) -> bool:
    return folder is not None and density_path(folder).is_file()


def save_density(folder: str | Path, mixture: GaussianMixture, info: dict) -> Path:
    """Write ``mixture`` into the model folder through a temp file, recording the folder's weights_id and ``info``
    (the data, the fit's choices) in the header. Returns the path."""
    from safetensors.numpy import save_file

    path = density_path(folder)
    header = {**info, "version": DENSITY_VERSION, "weights_id": weights_id(folder)}
    arrays = {name: np.ascontiguousarray(getattr(mixture, name), np.float32) for name in ARRAYS}
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata={"vaelab": json.dumps(header)})
    return path


def read_density(folder: str | Path) -> tuple[GaussianMixture, dict]:
    """The folder's mixture and its header; a density fitted on other weights than the folder's is refused."""
    from safetensors import SafetensorError, safe_open

    path = density_path(folder)
    if not path.is_file():
        raise VaelabError(f"{folder}: no fitted density; make one with `vaelab fit-density {folder}`")
    try:
        with safe_open(str(path), "np") as f:
            header = json.loads((f.metadata() or {}).get("vaelab", "null"))
            arrays = {name: f.get_tensor(name) for name in ARRAYS}
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise VaelabError(f"{path}: not a vaelab density file ({e}); fit it again with `vaelab fit-density`") from e
    if not isinstance(header, dict):
        raise VaelabError(f"{path}: not a vaelab density file (no header); fit it again with `vaelab fit-density`")
    fitted_on, current = header.get("weights_id"), weights_id(folder)
    if fitted_on != current:
        raise VaelabError(
            f"{path} was fitted on other weights ({fitted_on}) than the folder's model.safetensors ({current}); "
            f"fit it again with `vaelab fit-density {folder}`"
        )
    mixture = GaussianMixture(**{name: np.asarray(a, np.float64) for name, a in arrays.items()})
    k, d = mixture.means.shape
    if mixture.weights.shape != (k,) or mixture.covariances.shape != (k, d, d):
        raise VaelabError(f"{path}: its arrays do not fit together; fit it again with `vaelab fit-density`")
    return mixture, header


def drop_stale_density(folder: str | Path) -> bool:
    """Remove the folder's density when it was fitted on other weights than the folder now holds, as after a run
    trains on in the folder: its samples would come from another model's codes, and every command would refuse it.
    Its grid of samples goes with it. Returns whether one was removed."""
    from safetensors import SafetensorError, safe_open

    path = density_path(folder)
    if not path.is_file():
        return False
    try:
        with safe_open(str(path), "np") as f:
            fitted_on = json.loads((f.metadata() or {}).get("vaelab", "{}")).get("weights_id")
    except (SafetensorError, OSError, ValueError, AttributeError):
        fitted_on = None
    if fitted_on == weights_id(folder):
        return False
    path.unlink(missing_ok=True)
    (Path(folder) / SAMPLES_NAME).unlink(missing_ok=True)
    return True
