"""Training state for --resume: torch.save to a temp file + rename; loaded only with weights_only=True."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from vaelab.errors import VaelabError

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(folder: Path, state: dict) -> None:
    path = Path(folder) / CHECKPOINT_NAME
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(folder: Path) -> dict:
    path = Path(folder) / CHECKPOINT_NAME
    if not path.is_file():
        raise VaelabError(f"cannot resume: {folder} has no {CHECKPOINT_NAME} (was it written by `vaelab train --out`?)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types; all mean the same to a user
        raise VaelabError(f"cannot resume: {path} is unreadable ({str(e).splitlines()[0]})") from e
