"""Images in, codes out, and back: the API that morph and every later latent operation build on.

All of it runs on numpy arrays through `open_model`, so with a model's ONNX files it never imports torch.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from vaelab.data.inputs import load_input
from vaelab.errors import VaelabError, VaelabWarning
from vaelab.io.atomic import atomic_path
from vaelab.latent.centroids import centroids_with_fallback
from vaelab.models.config import weights_id
from vaelab.models.runtime import InferenceModel, encode_batched, open_model

CENTROIDS_NAME = "centroids.safetensors"
CENTROIDS_VERSION = "3"  # 2: a class with no training images takes its test images' mean; 3: a run's --limit


def prepare_images(m: InferenceModel, images) -> np.ndarray:
    """Paths (or dataset images such as ``fashion-mnist:test/17``) / PIL images / arrays → float32 (B, C, H, W) in
    [0,1], preprocessed like the model's data."""
    if isinstance(images, (str, Path)) or not hasattr(images, "__len__"):
        images = [images]
    if len(images) == 0:
        raise VaelabError("no images given")
    arr = np.stack([load_input(src, m.channels, m.size, m.background) for src in images])
    return arr.astype(np.float32) / 255.0


def encode_images(model, images, backend: str = "auto") -> np.ndarray:
    """Images (paths, PIL images or arrays) → posterior means (B, D). ``model``: folder, torch model or None."""
    m = open_model(model, backend)
    return m.embed(prepare_images(m, images))


def decode_latents(model, z, backend: str = "auto") -> np.ndarray:
    """Codes (B, D) or (D,) → images (B, C, H, W) float32 in [0,1]."""
    m = open_model(model, backend)
    z = np.atleast_2d(np.asarray(z, dtype=np.float32))
    if z.shape[-1] != m.latent_dim:
        raise VaelabError(f"codes have {z.shape[-1]} dimensions, the model's latent has {m.latent_dim}")
    return m.decode(z)


def _centroid_cache_paths(m: InferenceModel, weights_id: str) -> list[Path]:
    from vaelab.data.cache import cache_dir

    paths = [m.folder / CENTROIDS_NAME] if m.folder else []
    return paths + [cache_dir() / "centroids" / f"{weights_id}.safetensors"]


def load_model_dataset(m: InferenceModel, data: str | None = None):
    """The data ``data`` names (default: the model's own training data) at the model's image format. The
    model's own data keeps the training images its run kept (``--limit``), so that its centroids and blends
    are those of the images it learned from."""
    from vaelab.data.loaders import load_dataset

    spec = m.doc.get("data") or {}
    name = data or spec.get("name")
    if not name:
        raise VaelabError("this model does not record its training data; pass --data")
    ds = load_dataset(name, channels=m.channels, size=m.size)
    if (ds.channels, *ds.size) != (m.channels, *m.size):
        raise VaelabError(
            f"{ds.name} holds {ds.channels}×{ds.size[0]}×{ds.size[1]} images; the model takes "
            f"{m.channels}×{m.size[0]}×{m.size[1]}"
        )
    if not data and spec.get("limit"):
        ds.limit_train(spec["limit"])
    if not data and spec.get("split"):  # the model folder does not keep the indices of a split made elsewhere
        warnings.warn(
            f"{m.folder or 'this model'} trained on a split made by {spec['split']}; {ds.name}'s own split "
            "is used here, so its training images include any that run held out",
            VaelabWarning,
            stacklevel=2,
        )
    return ds


def cached_class_centroids(m: InferenceModel, progress: bool = True) -> np.ndarray:
    """(K, D) centroids of the model's classes, computed once and cached next to the model
    (or in the user cache when the model folder is read-only), keyed by the weights' sha256.

    A centroid is the mean code of the class's training images (see :func:`class_centroids_of` for a class
    with none)."""
    from safetensors.numpy import load_file, save_file

    if not m.class_names:
        raise VaelabError("this model's data has no class names, so there are no classes to morph between")
    wid = weights_id(m.folder)
    paths = _centroid_cache_paths(m, wid)
    for p in paths:
        if p.is_file() and wid:
            try:
                from safetensors import safe_open

                with safe_open(str(p), "np") as f:
                    meta = f.metadata() or {}
                    if meta.get("weights") == wid and meta.get("version") == CENTROIDS_VERSION:
                        return load_file(str(p))["centroids"]
            except Exception:  # a damaged cache is recomputed, not an error
                pass
    spec = m.doc["data"]
    try:
        ds = load_model_dataset(m)
    except VaelabError as e:
        raise VaelabError(f"class centroids need the model's training data ({spec.get('name')}): {e}") from e
    cents = class_centroids_of(m, ds, ds.split("train"), progress=progress).astype(np.float32)
    for p in paths:  # first writable place wins
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(p) as tmp:
                save_file(
                    {"centroids": cents},
                    str(tmp),
                    metadata={"weights": wid, "data": spec["name"], "version": CENTROIDS_VERSION},
                )
            break
        except OSError:
            continue
    return cents


def class_centroids_of(
    m: InferenceModel, ds, idx: np.ndarray, z: np.ndarray | None = None, progress: bool = True
) -> np.ndarray:
    """(K, D) mean codes of each class of ``ds`` over the images ``idx`` (their codes ``z`` when already
    encoded); a class with none among them takes all its images (`centroids_with_fallback`)."""
    return centroids_with_fallback(
        lambda rows: encode_batched(m, ds.images[rows], progress=progress), ds.labels, idx, len(ds.class_names), z
    )
