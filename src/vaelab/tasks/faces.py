"""`vaelab faces`: square crops of the faces in a folder of photos, to train a model on faces."""

from __future__ import annotations

from pathlib import Path

from vaelab.data.faces import FaceCrops, crop_faces
from vaelab.io.staging import staged_folder

NO_FACE, UNREADABLE = "no_face.txt", "unreadable.txt"


def faces(
    src: str | Path,
    size: int = 64,
    margin: float = 0.25,
    all_faces: bool = False,
    skip: str | Path | None = None,
    progress: bool = True,
) -> FaceCrops:
    """The largest face (``all_faces``: every face) of each image under ``src``, as size × size PIL images with
    ``margin`` × the face's side around it, and the photos that held none or could not be read. ``skip``: a folder
    under ``src`` whose images are left out (the output of an earlier run)."""
    return crop_faces(src, size, margin, all_faces, progress, Path(skip) if skip is not None else None)


def write_faces(result: FaceCrops, out: str | Path) -> list[Path]:
    """Write the crops of ``result`` as PNGs into the folder ``out``, with no_face.txt and unreadable.txt listing
    the photos left out when there are any. Returns the crops' paths."""
    out = Path(out)
    with staged_folder(out) as tmp:
        for name, crop in result.crops.items():
            crop.save(tmp / name)
        if result.no_face:
            (tmp / NO_FACE).write_text("".join(f"{p}\n" for p in result.no_face))
        if result.unreadable:
            (tmp / UNREADABLE).write_text("".join(f"{line}\n" for line in result.unreadable))
    return [out / name for name in result.crops]
