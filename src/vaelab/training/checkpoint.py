"""Training state for --resume: torch.save to a temp file + rename; loaded only with weights_only=True."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from vaelab.errors import VaelabError
from vaelab.io.atomic import atomic_path

CHECKPOINT_NAME = "checkpoint.pt"

# Checkpoints written before the trainer stored plain floats hold numpy float64 scalars: allow the plain-data
# globals that rebuild one (no code runs on load), under numpy 2's module name and numpy 1's, and nothing else.
_SCALAR = np.float64(0).__reduce__()[0]  # numpy.core.multiarray.scalar or numpy._core.multiarray.scalar
NUMPY_SCALARS = [
    _SCALAR,
    (_SCALAR, "numpy.core.multiarray.scalar"),
    (_SCALAR, "numpy._core.multiarray.scalar"),
    np.dtype,
    type(np.dtype(np.float64)),
]


def rng_state(device: torch.device) -> dict:
    """torch's random state for a checkpoint: the CPU generator's, and the device's when it is a CUDA GPU, so that
    a resumed run draws the same noise as one that never stopped."""
    state = {"rng_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(ckpt: dict, device: torch.device) -> None:
    """Set torch's random state from a checkpoint written by a loop that saved :func:`rng_state`."""
    torch.set_rng_state(ckpt["rng_cpu"])
    if device.type == "cuda" and "rng_cuda" in ckpt:
        torch.cuda.set_rng_state(ckpt["rng_cuda"], device)


def restore_states(ckpt: dict, folder: Path, **modules) -> None:
    """Load the checkpoint's state dicts into ``modules`` (model=..., optimizer=...; each key names its entry in
    the checkpoint); a checkpoint of another model (another config.json, a copied file) is one clear error."""
    try:
        for key, module in modules.items():
            module.load_state_dict(ckpt[key])
    except (KeyError, RuntimeError, ValueError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise VaelabError(
            f"cannot resume: {Path(folder) / CHECKPOINT_NAME} does not fit the model its config.json "
            f"describes ({reason}); it belongs to another run"
        ) from e


def save_checkpoint(folder: Path, state: dict) -> None:
    with atomic_path(Path(folder) / CHECKPOINT_NAME) as tmp:
        torch.save(state, tmp)


def load_checkpoint(folder: Path) -> dict:
    path = Path(folder) / CHECKPOINT_NAME
    if not path.is_file():
        raise VaelabError(f"cannot resume: {folder} has no {CHECKPOINT_NAME} (was it written by `vaelab train --out`?)")
    try:
        with torch.serialization.safe_globals(NUMPY_SCALARS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types; all mean the same to a user
        found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*?)(?: was not an allowed global.*)?$", str(e), re.M)
        reason = found.group(1) if found else (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise VaelabError(
            f"cannot resume: {path} is not a training checkpoint vaelab can read ({reason.strip()[:160]})"
        ) from e
