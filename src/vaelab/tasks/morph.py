"""The metamorphosis of two images (or more, or of class centroids): encode them, walk the latent path between
them, decode every frame; and write the frames, GIF, MP4 and contact sheet."""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vaelab.data.images import MAX_ENLARGED_SIDE, enlarge, to_pil
from vaelab.data.inputs import image_label
from vaelab.errors import VaelabError, VaelabWarning
from vaelab.io.staging import staged_folder
from vaelab.latent.interpolate import METHODS, path
from vaelab.models.runtime import InferenceModel, decode_batched, open_model
from vaelab.tasks.encoding import cached_class_centroids, prepare_images
from vaelab.viz.media import FRAMES_DIR, GIF_NAME, MP4_NAME, SHEET_NAME, contact_sheet, write_gif, write_mp4


@dataclass
class MorphResult:
    frames: list[Image.Image]  # the decoded path, enlarged by ``upscale``
    latents: np.ndarray  # (frames, D) the codes that were decoded
    inputs: list[Image.Image]  # the inputs as the model saw them (preprocessed), or decoded centroids
    reconstructions: list[Image.Image]  # each input image's decoding; empty for a class morph (its input is one)
    labels: list[str]  # a caption per input: file name or class name
    note: str = ""  # what to do next, when the inputs are the user's own colour pictures and the model is shipped
    spacing: str = ""  # how the frames are spaced: "even steps in the latent path", "... in pixels", or
    # "... in the evaluator's features and pixels"


NEGATIVE_RATIO, NEGATIVE_MIN_ERROR = 0.5, 0.02  # the shipped model: 0.009 on its test images, 0.114 on their negatives
DEFAULT_UPSCALE = 4  # `vaelab morph --upscale`'s default (a test keeps them equal), and the studio's downloads
MAX_FRAMES = 2000  # over a minute of video at 30 fps; more is a typo that would run for hours
MAX_FRAME_BYTES = 2**31  # all the enlarged frames together, as RGB: past 2 GiB they only fill the memory


def _check(frames: int, method: str, spacing: str = "latent") -> None:
    if not 2 <= frames <= MAX_FRAMES:
        raise VaelabError(f"--frames must be from 2 (the two endpoints) to {MAX_FRAMES}, got {frames}")
    if method not in METHODS:
        raise VaelabError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    if spacing not in SPACINGS:
        raise VaelabError(f"unknown spacing {spacing!r}; choose one of: {', '.join(SPACINGS)}")


SPACINGS = ("latent", "even")
# An even spacing measures the latent path at as many points as it has frames (at least 16), then re-times: over
# 20 test pairs of each shipped model, 4× as many points lowered the steps' deviation only from 0.055 to 0.035
# (Fashion-MNIST) and 0.031 to 0.021 (emoji), for 3-4× the time.
DENSE_PER_FRAME, MIN_DENSE = 1, 16


def perceptual_features(m: InferenceModel):
    """The function that maps the model's decoded images to the features perceptual distances are measured in:
    the shipped evaluator's for its data, or None (then pixels) for data without one."""
    from vaelab.models.perceptual import feature_space_for

    space = feature_space_for(m.data_name)
    return space.features if space is not None and space.shape == (m.channels, *m.size) else None


def _frames_from(
    m: InferenceModel,
    points: np.ndarray,
    frames: int,
    method: str,
    closed: bool,
    upscale: int,
    resample: str,
    spacing: str = "latent",
) -> tuple[list[Image.Image], np.ndarray, str]:
    if spacing == "even":
        from vaelab.metrics.paths import even_codes

        dense = path(points, max(MIN_DENSE, DENSE_PER_FRAME * frames), method, closed)
        z, measured = even_codes(m, dense, frames, perceptual_features(m))
        z, spaced = z.astype(np.float32), f"even steps in {measured}"
    else:
        z, spaced = path(points, frames, method, closed).astype(np.float32), "even steps in the latent path"
    decoded = decode_batched(m, z)
    return [enlarge(to_pil(d), upscale, resample) for d in decoded], z, spaced


def warn_if_negative(m: InferenceModel, x: np.ndarray, recon: np.ndarray, labels: list[str]) -> None:
    """Warn of an input whose negative the model reconstructs far better than the input itself: a dark object on
    white given to a model of light objects on black (Fashion-MNIST), or the reverse."""
    err = ((recon - x) ** 2).mean(axis=(1, 2, 3))
    flipped = 1.0 - x
    err_flipped = ((m.decode(m.embed(flipped)) - flipped) ** 2).mean(axis=(1, 2, 3))
    for i in np.flatnonzero((err_flipped < NEGATIVE_RATIO * err) & (err > NEGATIVE_MIN_ERROR)):
        warnings.warn(
            f"{labels[i]} reconstructs poorly (pixel MSE {err[i]:.3f}) but its negative well "
            f"({err_flipped[i]:.3f}): its light and dark are the reverse of the model's training images; "
            "--invert (invert=True) inverts the inputs",
            VaelabWarning,
            stacklevel=3,
        )


OWN_PICTURES_NOTE = (
    "note: {model} learned from {data} only, so it draws your pictures as {data}. To morph pictures like these, "
    "train on a folder of them (a few thousand make a latent space; a few hundred are learned by heart): "
    "vaelab train --data folder:PATH --minutes 10 --out runs/mine, then vaelab morph ... --model runs/mine. "
    "{expect}"
)
# what a user can expect of such a run, from the recipe study (docs/benchmarks/colour-recipe.md)
EXPECT_AFTER_10_MINUTES = (
    "Ten minutes on a laptop's CPU give recognisable, somewhat soft pictures at 64 × 64; more minutes sharpen them."
)
COLOUR_SPREAD = 8.0  # mean |R − G| + |G − B| (0–255) above which a picture counts as colour, not grey


def own_pictures_note(m: InferenceModel, images) -> str:
    """The note for a morph of the user's own colour pictures (files that are not dataset images, or pictures
    uploaded to the studio as PIL images) through a shipped model: how to train on such pictures, and what to
    expect; "" otherwise."""
    from vaelab.models.shipped import shipped_models

    shipped = {folder.resolve(): name for name, folder in shipped_models().items()}
    name = shipped.get(Path(m.folder).resolve()) if m.folder else None
    if name is None:
        return ""
    for item in images:
        rgb = _own_picture_rgb(item)
        if rgb is not None and np.abs(np.diff(rgb, axis=2)).sum(axis=2).mean() > COLOUR_SPREAD:
            data = (m.doc.get("data") or {}).get("name", name)
            return OWN_PICTURES_NOTE.format(model=f"the shipped {name} model", data=data,
                                            expect=EXPECT_AFTER_10_MINUTES)  # fmt: skip
    return ""


def _own_picture_rgb(item) -> np.ndarray | None:
    """A user's own picture as 64×64 RGB floats: a PIL image, or a file that is not a dataset image; None for
    anything else (a dataset image, an array, an unreadable file)."""
    from vaelab.data.inputs import parse_dataset_image

    if isinstance(item, Image.Image):
        return np.asarray(item.convert("RGB").resize((64, 64)), dtype=np.float32)
    if isinstance(item, (str, Path)) and parse_dataset_image(item) is None and Path(item).is_file():
        try:
            with Image.open(item) as im:
                return np.asarray(im.convert("RGB").resize((64, 64)), dtype=np.float32)
        except OSError:
            return None
    return None


def run_morph(
    model=None,
    images=(),
    classes=(),
    frames: int = 24,
    method: str = "slerp",
    closed: bool = False,
    upscale: int = 1,
    resample: str = "nearest",
    backend: str = "auto",
    invert: bool = False,
    codes=None,
    labels: list[str] | None = None,
    spacing: str = "latent",
) -> MorphResult:
    """Morph through images (paths, PIL images, arrays), through class centroids (class names), or through
    latent codes (K, D) (points picked on a latent map). ``invert`` inverts the images first (a dark object on
    white, for a model of light objects on black). ``labels`` captions the inputs in place of their names.
    ``spacing="even"`` re-times the frames so that each step changes the picture alike, measured in the features of
    the shipped evaluator for the model's data and in the pixels together (in pixels alone for other data); "latent"
    spaces them evenly along the path."""
    _check(frames, method, spacing)
    given = [bool(len(images)), bool(len(classes)), codes is not None]
    if sum(given) != 1:
        raise VaelabError("give either two or more images, two or more classes, or two or more codes")
    n_inputs = len(images) or len(classes) or (0 if codes is None else len(codes))
    if labels is not None and len(labels) != n_inputs:
        raise VaelabError("give one label per input")
    if invert and classes:
        raise VaelabError("--invert inverts input images; a class morph has none (its ends are decoded centroids)")
    m = open_model(model, backend)
    side = (m.size[0] * upscale, m.size[1] * upscale)
    frame_bytes = side[0] * side[1] * m.channels
    if max(side) <= MAX_ENLARGED_SIDE and frames * frame_bytes > MAX_FRAME_BYTES:  # enlarge() says the other
        raise VaelabError(
            f"{frames} frames of {side[0]}×{side[1]} pixels would take "
            f"{frames * frame_bytes / 2**30:.1f} GiB; the most is "
            f"{MAX_FRAME_BYTES / 2**30:g} GiB: fewer --frames or a smaller --upscale"
        )
    if codes is not None:
        points = np.asarray(codes, np.float32)
        if points.ndim != 2 or len(points) < 2 or points.shape[1] != m.latent_dim or not np.isfinite(points).all():
            raise VaelabError(f"a morph through codes needs two or more finite codes of {m.latent_dim} numbers")
        shown = m.decode(points)
        names = [f"code {i + 1}" for i in range(len(points))]
    elif classes:
        if len(classes) < 2:
            raise VaelabError("a class morph needs at least two --class names")
        names = m.class_names or []
        if not names:
            raise VaelabError(
                "this model's training data had no classes (an image folder without class "
                "subfolders), so there is nothing for --class to name; morph image files instead"
            )
        idx = [m.class_index(c) for c in classes]
        points = cached_class_centroids(m)[idx]
        empty = [names[i] for i, row in zip(idx, points) if not np.isfinite(row).all()]
        if empty:
            raise VaelabError(f"class {empty[0]!r} has no images in the model's data, so it has no centroid")
        shown, names = m.decode(points), [f"{names[i]} (centroid)" for i in idx]
    else:
        if len(images) < 2:
            raise VaelabError("a morph needs at least two images")
        x = prepare_images(m, list(images))
        x = 1.0 - x if invert else x
        points, shown = m.embed(x), x
        names = [image_label(s) or f"image {i + 1}" for i, s in enumerate(images)]
    labels = list(labels) if labels is not None else names
    from_images = bool(len(images))
    recon = m.decode(points) if from_images else []  # a centroid's or a code's input already is its decoding
    if from_images and not invert:
        warn_if_negative(m, shown, recon, labels)
    out_frames, z, spaced = _frames_from(m, points, frames, method, closed, upscale, resample, spacing)
    as_pil = [enlarge(to_pil(a), upscale, resample) for a in shown]
    note = own_pictures_note(m, images) if from_images else ""
    recon_pil = [enlarge(to_pil(r), upscale, resample) for r in recon]
    return MorphResult(out_frames, z, as_pil, recon_pil, labels, note, spaced)


def morph(
    model=None,
    images_or_paths=(),
    frames: int = 24,
    method: str = "slerp",
    closed: bool = False,
    upscale: int = 1,
    resample: str = "nearest",
    backend: str = "auto",
    invert: bool = False,
    spacing: str = "latent",
) -> list[Image.Image]:
    """Frames of the metamorphosis through two or more images; ``model`` is a folder, a loaded model, or
    None for the shipped Fashion-MNIST VAE. ``spacing="even"``: even perceptual steps (see run_morph)."""
    return run_morph(
        model,
        images=list(images_or_paths),
        frames=frames,
        method=method,
        closed=closed,
        upscale=upscale,
        resample=resample,
        backend=backend,
        invert=invert,
        spacing=spacing,
    ).frames


def class_morph(
    model=None,
    classes=(),
    frames: int = 24,
    method: str = "slerp",
    closed: bool = False,
    upscale: int = 1,
    resample: str = "nearest",
    backend: str = "auto",
    spacing: str = "latent",
) -> list[Image.Image]:
    """Frames between the latent centroids of the named classes of the model's training data."""
    return run_morph(
        model,
        classes=list(classes),
        frames=frames,
        method=method,
        closed=closed,
        upscale=upscale,
        resample=resample,
        backend=backend,
        spacing=spacing,
    ).frames


def write_morph_outputs(
    result: MorphResult, out: str | Path, fps: float = 12, pingpong: bool = False, mp4: bool = True, log=print
) -> dict[str, Path]:
    """Write frames/, morph.gif, morph.mp4 (when ffmpeg is available) and contact_sheet.png into ``out``.

    Everything is staged in a temp folder and moved in at the end, so a failure leaves ``out`` as it was.
    An MP4 from an earlier run is removed when this run writes none. Returns the written paths by name.
    """
    with staged_folder(out, replace=(FRAMES_DIR, MP4_NAME)) as tmp:
        (tmp / FRAMES_DIR).mkdir()
        digits = max(3, len(str(len(result.frames) - 1)))
        for i, f in enumerate(result.frames):
            f.save(tmp / FRAMES_DIR / f"frame_{i:0{digits}d}.png")
        write_gif(result.frames, tmp / GIF_NAME, fps, pingpong)
        contact_sheet(result.inputs, result.reconstructions, result.frames, result.labels).save(tmp / SHEET_NAME)
        if mp4:
            try:
                write_mp4(result.frames + (result.frames[-2:0:-1] if pingpong else []), tmp / MP4_NAME, fps)
            except (ImportError, RuntimeError, OSError) as e:
                (tmp / MP4_NAME).unlink(missing_ok=True)
                log(
                    f"note: no MP4 written: imageio-ffmpeg is unavailable ({e}); "
                    "`pip install imageio-ffmpeg` adds it. The other outputs are complete.",
                    file=sys.stderr,
                )
        names = [p.name for p in tmp.iterdir()]
    return {name: Path(out) / name for name in names}
