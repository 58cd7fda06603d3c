"""CelebA as distributed: img_align_celeba/*.jpg, list_attr_celeba.txt (40 attributes of ±1) and
list_eval_partition.txt (0 train, 1 val, 2 test), each in the folder itself or in the official download's
Img/, Anno/ and Eval/. Without the partition file, the split is the fixed-seed 90/10 one of other sets.

``celeba:PATH`` takes the usual face crop: a centred 148×148 square of the 178×218 aligned images, then
resized to the target size (64×64 by default). ``celeba:PATH,crop=N`` picks another box, ``crop=0`` none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaelab.data.cache import decode_cached
from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError

DEFAULT_CROP = 148


class CentreCrop:
    """A PIL transform cutting a centred square; ``cache_key`` keeps differently-cropped caches apart."""

    def __init__(self, side: int):
        self.side, self.cache_key = side, f"centre-crop-{side}"

    def __call__(self, img):
        s = min(self.side, img.width, img.height)
        left, top = (img.width - s) // 2, (img.height - s) // 2
        return img.crop((left, top, left + s, top + s))


def _table(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """list_attr_celeba.txt → (attribute names, file names, (N, 40) int8 of ±1)."""
    lines = path.read_text().splitlines()
    try:
        names = lines[1].split()
        rows = [l.split() for l in lines[2:] if l.strip()]
        return names, [r[0] for r in rows], np.array([[int(v) for v in r[1:]] for r in rows], np.int8)
    except (IndexError, ValueError) as e:
        raise VaelabError(f"{path}: not in the list_attr_celeba.txt format ({e})") from e


def load_celeba(arg: str, size: tuple[int, int] = (64, 64)) -> ImageDataset:
    path_text, _, crop_text = arg.partition(",crop=")
    folder = Path(path_text).expanduser().resolve()  # absolute, so a run's recorded data name works anywhere
    try:
        crop = int(crop_text) if crop_text else DEFAULT_CROP
    except ValueError:
        raise VaelabError(f"celeba:{arg}: crop must be a whole number, e.g. celeba:PATH,crop=148") from None
    if crop < 0:
        raise VaelabError(f"celeba:{arg}: crop must be 0 (none) or a side in pixels, not {crop}")
    attr_file, part_file, img_dir = (
        _find(folder, "list_attr_celeba.txt", "Anno"),
        _find(folder, "list_eval_partition.txt", "Eval"),
        _find(folder, "img_align_celeba", "Img"),
    )
    for p in (attr_file, img_dir):
        if not p.exists():
            raise VaelabError(f"{folder}: missing {p.name} (expected the CelebA layout)")
    names, files, values = _table(attr_file)
    paths = [img_dir / f for f in files]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise VaelabError(
            f"{folder}: {len(missing)} images listed in {attr_file.name} are missing, e.g. {missing[0].name}"
        )
    images = decode_cached("celeba", folder, paths, 3, size, 255, CentreCrop(crop) if crop else None)
    attributes = {n: values[:, i] for i, n in enumerate(names)}
    train_idx = test_idx = None  # without the partition file: ImageDataset's fixed-seed 90/10 split
    if part_file.is_file():
        parts = dict(l.split() for l in part_file.read_text().splitlines() if l.strip())
        partition = np.array([int(parts.get(f, 0)) for f in files])
        attributes["partition"] = partition
        train_idx = np.flatnonzero(partition == 0)
        test_idx = np.flatnonzero(partition == 2) if (partition == 2).any() else np.flatnonzero(partition != 0)
    return ImageDataset(
        images=images,
        attributes=attributes,
        train_idx=train_idx,
        test_idx=test_idx,
        name=f"celeba:{folder}" + (f",crop={crop_text}" if crop_text else ""),
        background=255,
    )


def _find(folder: Path, name: str, subfolder: str) -> Path:
    """``folder/name``, or ``folder/subfolder/name`` as in the official download (Anno/, Eval/, Img/)."""
    inside = folder / subfolder / name
    return inside if not (folder / name).exists() and inside.exists() else folder / name
