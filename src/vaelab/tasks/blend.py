"""Blends of many classes at once: class centroids mixed by weights (Euclidean and spherical), k-means on the
codes, and the eigen-image baseline (PCA on the pixels) doing the same blend without a VAE."""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vaelab.data.dataset import ImageDataset
from vaelab.data.images import to_pil
from vaelab.errors import VaelabError, VaelabWarning
from vaelab.io.staging import staged_folder
from vaelab.latent.arithmetic import spherical_mean, weighted_centroid
from vaelab.latent.centroids import centroids_with_fallback
from vaelab.models.runtime import InferenceModel, encode_batched, open_model
from vaelab.tasks.concepts import ConceptResolver
from vaelab.tasks.encoding import cached_class_centroids, class_centroids_of

# every file blend may write: a run replaces them all, so a labelled run's blend.png does not stay beside the
# clusters of a later run on data without classes
OUTPUTS = (
    "blend.png",
    "kmeans_confusion.png",
    "kmeans_confusion.csv",
    "kmeans_centres.png",
    "kmeans_clusters.csv",
    "eigen_images.png",
)


@dataclass
class BlendResult:
    """Data without classes has no blend: its class fields are empty and its blends None, and k-means and the
    eigen-images still come (the many-class blending Q&A thread: find the clusters first)."""

    class_names: list[str]  # the blended classes
    weights: np.ndarray  # (K,) normalised to sum 1
    class_images: np.ndarray  # (K, C, H, W) decoded class centroids
    euclidean: np.ndarray | None  # (C, H, W) decoded weighted centroid
    spherical: np.ndarray | None  # (C, H, W) decoded spherical mean
    pixel_pca: np.ndarray | None  # (C, H, W) the same blend in pixel-PCA space (no VAE)
    kmeans_centres: np.ndarray  # (k, C, H, W) decoded k-means centres
    confusion: np.ndarray  # (k, n_classes) counts of each class in each cluster; (k, 0) without classes
    all_class_names: list[str]
    cluster_sizes: np.ndarray  # (k,) training codes in each cluster
    eigen_mean: np.ndarray  # (C, H, W) the mean image
    eigen_images: np.ndarray  # (n, C, H, W) principal components scaled to [0,1] for viewing
    explained: np.ndarray  # (n,) explained variance ratio of each component

    @property
    def pictures(self) -> dict[str, Image.Image]:
        """The blends there are (euclidean, spherical, pixel_pca) as PIL images at the model's size, by name."""
        blends = {"euclidean": self.euclidean, "spherical": self.spherical, "pixel_pca": self.pixel_pca}
        return {name: to_pil(im) for name, im in blends.items() if im is not None}

    @property
    def class_pictures(self) -> list[Image.Image]:
        """``class_images``, the decoded class centroids, as PIL images."""
        return [to_pil(im) for im in self.class_images]

    @property
    def kmeans_pictures(self) -> list[Image.Image]:
        """``kmeans_centres``, decoded, as PIL images."""
        return [to_pil(im) for im in self.kmeans_centres]


UNLABELLED_K = 8  # k-means clusters for data without classes, unless k is given


def _pick_classes(ds: ImageDataset, classes, weights) -> list[int]:
    """The blended classes' labels; none for data without classes, which can only be clustered."""
    everything = classes in (None, "all") or classes == ["all"]
    if ds.labels is None or not ds.class_names:
        if not everything or weights is not None:
            raise VaelabError(
                f"{ds.name} has no classes to blend; leave out --classes and --weights to cluster "
                "its codes with k-means and draw its eigen-images"
            )
        return []
    if everything:
        return list(range(len(ds.class_names)))
    idx = [ds.class_index(c) for c in classes]
    twice = sorted({ds.class_names[i] for i in idx if idx.count(i) > 1})
    if twice:
        raise VaelabError(
            f"{', '.join(twice)} named more than once: give each class once, and --weights to weigh "
            "one more than the others"
        )
    if len(idx) < 2:
        raise VaelabError("a blend needs at least two classes")
    return idx


def blend(
    model=None,
    classes="all",
    weights=None,
    data: str | ImageDataset | None = None,
    k: int | None = None,
    eigen: int = 16,
    max_points: int = 20000,
    seed: int = 0,
    backend: str = "auto",
) -> BlendResult:
    """Blend the chosen classes' centroids (weights default to equal); k-means with k clusters (default: the
    number of classes among the training codes, or 8 for data without classes) on up to ``max_points`` of them;
    pixel PCA with ``eigen`` components. Data without classes gets k-means and PCA only."""
    m = open_model(model, backend)
    ds = ConceptResolver(m, data).dataset
    chosen = _pick_classes(ds, classes, weights)
    w = _blend_weights(chosen, weights)
    idx = ds.split("train")
    if len(idx) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_points, replace=False))
    z = encode_batched(m, ds.images[idx])
    if chosen:
        # the model's own data: morph --class's centroids, over every training image; other data: these codes'
        own = data is None and m.folder is not None and m.class_names == ds.class_names
        cents = (cached_class_centroids(m) if own else class_centroids_of(m, ds, idx, z=z))[chosen]
        empty = [ds.class_names[c] for c, row in zip(chosen, cents) if np.isnan(row).any()]
        if empty:
            raise VaelabError(f"{', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}: no images to blend")
    labels = ds.labels[idx] if chosen else None
    km = _fit_kmeans(z, labels, k, max_points, seed)
    confusion = np.zeros((km.n_clusters, len(ds.class_names or [])), np.int64)
    if chosen:
        np.add.at(confusion, (km.labels_, labels), 1)
    pixels = _pixels(ds.images[idx])
    pca, eigen_images = _fit_pixel_pca(pixels, eigen, seed, ds.images.shape[1:])
    shape = ds.images.shape[1:]
    common = dict(
        kmeans_centres=m.decode(km.cluster_centers_.astype(np.float32)),
        confusion=confusion,
        all_class_names=list(ds.class_names or []),
        cluster_sizes=np.bincount(km.labels_, minlength=km.n_clusters),
        eigen_mean=pca.mean_.reshape(shape),
        eigen_images=eigen_images,
        explained=np.nan_to_num(pca.explained_variance_ratio_),
    )  # nan when the pixels never vary
    if not chosen:
        none = np.zeros((0, *shape), np.float32)
        return BlendResult([], w, none, euclidean=None, spherical=None, pixel_pca=None, **common)
    # The pixel side of the same centroids: a class with no image drawn takes all its images, as its code does.
    class_pixel_means = centroids_with_fallback(
        lambda rows: _pixels(ds.images[rows]), ds.labels, idx, len(ds.class_names), pixels
    )[chosen]
    pixel_blend = pca.inverse_transform((w @ pca.transform(class_pixel_means))[None])[0]
    return BlendResult(
        class_names=[ds.class_names[c] for c in chosen],
        weights=w,
        class_images=m.decode(cents.astype(np.float32)),
        euclidean=blend_centroids(m, cents, w, "euclidean"),
        spherical=blend_centroids(m, cents, w, "spherical"),
        pixel_pca=np.clip(pixel_blend, 0, 1).reshape(shape),
        **common,
    )


def _blend_weights(chosen: list[int], weights) -> np.ndarray:
    """The weights of the chosen classes, summing to 1 (equal by default); refused unless finite, non-negative and
    one per class."""
    w = np.ones(len(chosen)) if weights is None else np.asarray(weights, np.float64)
    if chosen and (w.shape != (len(chosen),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0):
        shown = ",".join(f"{v:g}" for v in np.atleast_1d(w).ravel())
        raise VaelabError(f"give {len(chosen)} finite, non-negative --weights (one per class, not all 0), not {shown}")
    return w / w.sum() if chosen else w


def _fit_kmeans(z: np.ndarray, labels: np.ndarray | None, k: int | None, max_points: int, seed: int):
    """k-means on the codes ``z: (N, D)``. k defaults to the classes there are among these codes' ``labels``
    (Omniglot's test alphabets are not), or a fixed few without classes."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    k = k or (len(np.unique(labels)) if labels is not None else min(UNLABELLED_K, len(z)))
    if not 1 <= k <= len(z):
        raise VaelabError(
            f"--k {k} is more than the {len(z)} training codes k-means runs on (at most --max-points "
            f"{max_points}); give a smaller --k"
            if k > 1
            else "--k must be at least 1"
        )
    distinct = len(np.unique(z, axis=0))
    if distinct < k:  # sklearn's ConvergenceWarning, said in this tool's words
        warnings.warn(
            f"the {len(z)} codes hold only {distinct} distinct ones, so {k - distinct} of the {k} k-means "
            "clusters stay empty; give a smaller --k",
            VaelabWarning,
            stacklevel=3,
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return KMeans(n_clusters=k, n_init=4, random_state=seed).fit(z)


def _fit_pixel_pca(pixels: np.ndarray, eigen: int, seed: int, shape: tuple):
    """PCA of the flattened ``pixels: (N, C·H·W)`` with up to ``eigen`` components; returns it and its components
    as images of ``shape``, each stretched to [0, 1]."""
    from sklearn.decomposition import PCA

    n_comp = max(1, min(eigen, len(pixels) - 1, pixels.shape[1]))
    with np.errstate(invalid="ignore", divide="ignore"):  # pixels that never vary: a ratio of 0/0, set to 0 below
        pca = PCA(n_components=n_comp, random_state=seed).fit(pixels)
    comps = pca.components_
    lo, hi = comps.min(1, keepdims=True), comps.max(1, keepdims=True)
    return pca, ((comps - lo) / np.maximum(hi - lo, 1e-12)).reshape(-1, *shape)


BLEND_MEANS = ("euclidean", "spherical")


def blend_centroids(m: InferenceModel, centroids: np.ndarray, weights, mean: str = "euclidean") -> np.ndarray:
    """The decoded blend (C, H, W) of class centroids (K, D) with ``weights`` (K,): their weighted Euclidean mean,
    or their spherical mean (the mean direction at the mean norm, which stays where the codes live)."""
    if mean not in BLEND_MEANS:
        raise VaelabError(f"unknown mean {mean!r}; choose one of: {', '.join(BLEND_MEANS)}")
    code = (weighted_centroid if mean == "euclidean" else spherical_mean)(centroids, weights)
    return m.decode(code[None].astype(np.float32))[0]


def write_blend(r: BlendResult, out: str | Path) -> None:
    """Write the blend's pictures and tables into ``out``: blend.png and kmeans_confusion.png/.csv on labelled
    data (kmeans_clusters.csv without labels), kmeans_centres.png and eigen_images.png; files of an earlier run
    that this one does not write are removed."""
    from vaelab.viz.algebra_figures import blend_figure, centres_figure, confusion_figure, eigen_figure

    labelled = r.euclidean is not None
    with staged_folder(out, replace=OUTPUTS) as tmp:
        if labelled:
            blend_figure(r, tmp / "blend.png")
            confusion_figure(r.confusion, r.all_class_names, tmp / "kmeans_confusion.png")
        centres_figure(r.kmeans_centres, r.cluster_sizes, tmp / "kmeans_centres.png")
        # cluster × class counts; without classes, the size of each cluster
        head, rows = (
            (["cluster", *r.all_class_names], r.confusion.tolist())
            if labelled
            else (["cluster", "images"], [[n] for n in r.cluster_sizes.tolist()])
        )
        with open(tmp / ("kmeans_confusion.csv" if labelled else "kmeans_clusters.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(head)
            w.writerows([i, *row] for i, row in enumerate(rows))
        eigen_figure(r.eigen_mean, r.eigen_images, r.explained, tmp / "eigen_images.png")


def _pixels(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, C, H, W) → float32 pixel vectors (N, C·H·W) in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0
