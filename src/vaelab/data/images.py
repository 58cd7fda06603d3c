"""Turn any image Pillow reads into the uint8 (C, H, W) array a model expects. Pillow and numpy only.

Preprocessing, shared by the folder loader and by every encode of a user's file, so both see the same:
1. EXIF orientation is applied;
2. 16-bit, 32-bit and float modes are scaled to 8 bits (not clipped; 32-bit values past 65535 by their maximum);
3. transparency (RGBA, LA, P with a transparent index) is composited onto the background value;
4. the image becomes L (1 channel) or RGB (3 channels);
5. it is resized so that it *covers* the target size (the scale is the larger of H'/H and W'/W,
   Lanczos resampling), then centre-cropped: nothing is stretched, the overhang is cut.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vaelab.errors import VaelabError, VaelabWarning
from vaelab.io.atomic import atomic_path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".jfif"}


def image_files(folder: str | Path, recursive: bool = True) -> list[Path]:
    """The image files anywhere below ``folder`` (directly in it, without ``recursive``), by path; hidden files
    and folders (".DS_Store", macOS's "._x.jpg" companions, ".git") are left out."""
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in found
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def read_images(
    files: list[Path], channels: int, size: tuple[int, int], background: int = 0, desc: str = "reading"
) -> tuple[np.ndarray, np.ndarray]:
    """Decode and preprocess files → (uint8 (n, C, H, W), indices of the files read). A file Pillow cannot
    read is left out with a one-line VaelabWarning that names it; none readable is a VaelabError."""
    from vaelab.progress import progress_bar

    images = np.empty((len(files), channels, *size), np.uint8)  # filled in place: no second copy of the set
    kept, bad = [], []
    for i, f in enumerate(progress_bar(files, desc=desc, unit="img", show=len(files) >= 500)):
        try:
            images[len(kept)] = load_image(f, channels, size, background)
            kept.append(i)
        except VaelabError as e:
            bad.append(str(e))
    if not kept:
        raise VaelabError(
            f"the one image file could not be read: {bad[0]}"
            if len(files) == 1
            else f"none of the {len(files)} image files could be read; the first: {bad[0]}"
        )
    if bad and os.environ.get("RANK", "0") == "0":  # once, not from every torchrun rank
        warnings.warn(
            f"left out {len(bad)} of {len(files)} image files that could not be read: "
            f"{'; '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}",
            VaelabWarning,
            stacklevel=2,
        )
    return images[: len(kept)], np.asarray(kept, np.int64)


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file; every failure becomes a one-line VaelabError naming the file."""
    path = Path(path)
    if not path.exists():
        raise VaelabError(f"{path}: no such file")
    if path.is_dir():
        raise VaelabError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise VaelabError(f"{path}: empty file (0 bytes), not an image")
    return _decode(path, str(path))


def image_from_bytes(data: bytes, label: str = "upload") -> Image.Image:
    """:func:`open_image` for an image held in memory (an upload): the same checks, the same one-line errors."""
    if not data:
        raise VaelabError(f"{label}: empty file (0 bytes), not an image")
    return _decode(io.BytesIO(data), label)


def _decode(source, label: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; refuse the whole range.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(source)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise VaelabError(f"{label}: refused as a decompression bomb ({e})") from e
    except UnidentifiedImageError as e:
        raise VaelabError(f"{label}: not an image Pillow can read") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise VaelabError(f"{label}: cannot decode image ({e}); is it truncated or corrupt?") from e
    return img


def _to_8bit(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        top = max(top, float(arr.max(initial=0)))  # a 32-bit image past 16 bits: scaled by its own maximum
        if img.mode == "F" and arr.max(initial=0) <= 1.0:
            top = 1.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img


def _flatten_alpha(img: Image.Image, background: int) -> Image.Image:
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "La", "PA"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "RGBa"):
        base = Image.new("RGB", img.size, (background,) * 3)
        base.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        return base
    return img


def fit_to_size(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize so that the image covers (H, W), then centre-crop to exactly (H, W)."""
    h, w = size
    scale = max(h / img.height, w / img.width)
    new_w, new_h = max(w, round(img.width * scale)), max(h, round(img.height * scale))
    if (new_w, new_h) != img.size:
        img = img.resize((new_w, new_h), Image.Resampling.LANCZOS)
    left, top = (new_w - w) // 2, (new_h - h) // 2
    return img.crop((left, top, left + w, top + h))


def upright_8bit(img: Image.Image, background: int = 0) -> Image.Image:
    """Steps 1–3 of this module's docstring: EXIF rotation applied, 16-bit and float scaled to 8 bits, alpha
    composited onto ``background``. Convert the result to "L" or "RGB" without losing anything."""
    return _flatten_alpha(_to_8bit(ImageOps.exif_transpose(img)), background)


def preprocess(img: Image.Image, channels: int, size: tuple[int, int], background: int = 0) -> np.ndarray:
    """A PIL image → uint8 (C, H, W) with the steps listed in this module's docstring."""
    if channels not in (1, 3):
        raise VaelabError(f"channels must be 1 or 3, not {channels}")
    img = upright_8bit(img, background).convert("L" if channels == 1 else "RGB")
    arr = np.asarray(fit_to_size(img, size), dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1).copy()


def load_image(source, channels: int, size: tuple[int, int], background: int = 0) -> np.ndarray:
    """A path, PIL image or uint8 array (H, W[, C]) → uint8 (C, H, W)."""
    if isinstance(source, (str, Path)):
        img = open_image(source)
    elif isinstance(source, Image.Image):
        img = source
    elif isinstance(source, np.ndarray):
        arr = source
        if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
            arr = arr.transpose(1, 2, 0)  # (C, H, W) given
        if arr.dtype != np.uint8:
            arr = np.clip(arr * (255.0 if arr.max(initial=0) <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr)
    else:
        raise VaelabError(f"cannot use a {type(source).__name__} as an image: give a path, PIL image or array")
    return preprocess(img, channels, size, background)


def to_pil(image: np.ndarray) -> Image.Image:
    """uint8 or float-in-[0,1] (C, H, W) → PIL image (L or RGB)."""
    arr = image
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr[0], "L") if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0), "RGB")


def image_grid(images: np.ndarray, nrow: int, pad: int = 2, pad_value: int = 255, scale: int = 1) -> Image.Image:
    """(N, C, H, W) uint8 or [0,1] float → one PIL image, ``nrow`` images per row, nearest-upscaled by ``scale``."""
    if images.dtype != np.uint8:
        images = (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    canvas = np.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, nrow)
        canvas[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + k * (w + pad) : pad + k * (w + pad) + w] = (
            images[i]
        )
    img = to_pil(canvas)
    return img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST) if scale > 1 else img


def save_png_atomic(img: Image.Image, path: str | Path) -> None:
    """Save a PNG under a temp name and rename it into place."""
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


MAX_ENLARGED_SIDE = 8192  # pixels: past this an --upscale only fills the memory


def enlarge(img: Image.Image, factor: int, resample: str = "nearest") -> Image.Image:
    """Upscale by an integer factor with 'nearest' (crisp pixels) or 'bicubic' (smooth)."""
    if factor <= 1:
        return img
    if max(img.size) * factor > MAX_ENLARGED_SIDE:
        raise VaelabError(
            f"enlarging {img.width}×{img.height} images {factor} times gives {img.width * factor}×"
            f"{img.height * factor} pixels; the most is {MAX_ENLARGED_SIDE} a side (a smaller --upscale)"
        )
    modes = {"nearest": Image.Resampling.NEAREST, "bicubic": Image.Resampling.BICUBIC}
    if resample not in modes:
        raise VaelabError(f"unknown resampling {resample!r}; choose nearest or bicubic")
    return img.resize((img.width * factor, img.height * factor), modes[resample])
