"""Face cropping for face sets (the vector-arithmetic blog post cropped CelebA with MTCNN): OpenCV's bundled Haar
cascade finds faces, each is cut as a square with a margin and resized. Nothing is downloaded: the cascade ships inside
opencv-python-headless 4.x (5.0 dropped the bundled files, hence the pin)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from vaelab.data.images import image_files, open_image, upright_8bit
from vaelab.errors import VaelabError

CROP_BACKGROUND = 255  # transparency becomes white, as in folder data


def _cascade():
    try:
        import cv2
    except ImportError as e:
        raise VaelabError("face cropping needs OpenCV: pip install 'opencv-python-headless<5'") from e
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_alt2.xml"
    if not path.is_file():
        raise VaelabError(f"OpenCV {cv2.__version__} has no bundled face cascade; install opencv-python-headless<5")
    return cv2, cv2.CascadeClassifier(str(path))


def detect_faces(img: Image.Image, min_size: int = 30) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) in the upright image, largest first."""
    cv2, cascade = _cascade()
    grey = np.asarray(upright_8bit(img, CROP_BACKGROUND).convert("L"))
    boxes = cascade.detectMultiScale(
        cv2.equalizeHist(grey), scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size)
    )
    return sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: -b[2] * b[3])


def crop_face(img: Image.Image, box: tuple[int, int, int, int], size: int, margin: float) -> Image.Image:
    """A square around the box, grown by ``margin`` × its side on each edge, padded with edge colour where it
    leaves the image, resized to size × size."""
    x, y, w, h = box
    side = int(round(max(w, h) * (1 + 2 * margin)))
    cx, cy = x + w / 2, y + h / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    rgb = upright_8bit(img, CROP_BACKGROUND).convert("RGB")
    return ImageOps.pad(rgb.crop((left, top, left + side, top + side)), (side, side)).resize(
        (size, size), Image.Resampling.LANCZOS
    )


@dataclass
class FaceCrops:
    """The square face crops of a set of photos, by the PNG name each is saved under, and the photos left out."""

    crops: dict[str, Image.Image] = field(default_factory=dict)  # "x.png", "x_face1.png", ...
    no_face: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # "path: why", for files Pillow could not read


@dataclass
class FaceReport:
    written: list[Path] = field(default_factory=list)
    no_face: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # "path: why", for files Pillow could not read


def crop_faces(
    src: str | Path,
    size: int = 64,
    margin: float = 0.25,
    all_faces: bool = False,
    progress: bool = True,
    skip: Path | None = None,
) -> FaceCrops:
    """Crop the largest face (or every face) of each image under ``src`` (a folder, searched recursively, or one
    image) into size × size squares.

    Each crop is named after its image's path under ``src``; two images that would share a name (x.jpg and
    x.png) keep both, the second named with its extension. Images under ``skip`` (the output folder, when it
    lies inside ``src``) are left out, and a file Pillow cannot read is listed, not fatal, when it is one of a
    folder's images."""
    from vaelab.progress import progress_bar

    src = Path(src)
    if src.is_file():
        files = [src]
    elif src.is_dir():
        files = [
            p for p in image_files(src) if not (skip is not None and p.resolve().is_relative_to(Path(skip).resolve()))
        ]
    else:
        raise VaelabError(f"{src}: no such file or folder")
    if not files:
        raise VaelabError(f"{src}: no images found")
    found, used = FaceCrops(), set()
    for f in progress_bar(files, desc="finding faces", unit="img", show=progress and len(files) >= 20):
        try:
            img = open_image(f)
        except VaelabError as e:
            if src.is_file():
                raise
            found.unreadable.append(str(e))
            continue
        boxes = detect_faces(img)
        if not boxes:
            found.no_face.append(f)
            continue
        stem = f.relative_to(src).with_suffix("").as_posix().replace("/", "__") if src.is_dir() else f.stem
        if stem in used:  # x.png after x.jpg
            stem = f"{stem}_{f.suffix.lstrip('.').lower()}"
        while stem in used:
            stem += "_"
        used.add(stem)
        for k, box in enumerate(boxes if all_faces else boxes[:1]):
            found.crops[f"{stem}.png" if k == 0 else f"{stem}_face{k}.png"] = crop_face(img, box, size, margin)
    return found


def crop_folder(
    src: str | Path,
    dst: Path,
    size: int = 64,
    margin: float = 0.25,
    all_faces: bool = False,
    progress: bool = True,
    skip: Path | None = None,
) -> FaceReport:
    """:func:`crop_faces`, each crop saved as a PNG in ``dst``."""
    found = crop_faces(src, size, margin, all_faces, progress, skip)
    written = []
    for name, crop in found.crops.items():
        crop.save(Path(dst) / name)
        written.append(Path(dst) / name)
    return FaceReport(written, found.no_face, found.unreadable)
