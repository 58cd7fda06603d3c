"""`vaelab explore`: encode a dataset with a model, then draw its latent space. PCA scatters (2-D, 3-D and
interactive), decoded images on the PCA plane, histograms against N(0, 1), KL per dimension, traversals, and
reconstruction and sample grids. :func:`explore` computes them, and :func:`write_explore` draws them into one
folder.

The whole set is encoded (onnxruntime when the model has ONNX files); its means feed the PCA fit and the
histograms. ``max_points`` of them, drawn with a fixed seed, are plotted. The KL per dimension needs the
posterior's variance, which only the torch model gives, so it is averaged over a seeded sample of
KL_IMAGES images.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaelab.errors import VaelabError
from vaelab.io.staging import check_out_folder, staged_folder
from vaelab.models.runtime import decode_batched, encode_batched

SCATTER_2D, SCATTER_3D, INTERACTIVE = "pca_2d.png", "pca_3d.png", "latent_scatter.html"
DECODED_MAP, HISTOGRAMS, CLASS_HISTOGRAMS = "decoded_map.png", "histograms.png", "histograms_by_class.png"
KL_BARS, TRAVERSALS, TRAVERSAL_GIF = "kl_per_dim.png", "traversals.png", "traversals.gif"
RECONSTRUCTIONS, SAMPLES, SUMMARY = "reconstructions.png", "samples.png", "summary.json"
OUTPUT_NAMES = (
    SCATTER_2D,
    SCATTER_3D,
    INTERACTIVE,
    DECODED_MAP,
    HISTOGRAMS,
    CLASS_HISTOGRAMS,
    KL_BARS,
    TRAVERSALS,
    TRAVERSAL_GIF,
    RECONSTRUCTIONS,
    SAMPLES,
    SUMMARY,
)
SPLITS = ("all", "train", "test")
CLASS_HISTOGRAM_DIMS = 6  # ridgelines stay readable for about this many columns
GIF_STEPS = 25
MIN_IMAGES = 3  # PCA's three axes need three codes
KL_IMAGES = 10_000  # the KL per dimension is a mean; a seeded sample of this many images pins it down


@dataclass
class LatentSurvey:
    """What explore computed about a set of N encoded images (D latent dimensions)."""

    images: np.ndarray  # uint8 (N, C, H, W): the encoded images
    latents: np.ndarray  # (N, D) posterior means
    labels: np.ndarray | None  # (N,) integer classes, or None
    class_names: list[str] | None
    plotted: np.ndarray  # (M,) indices of the points drawn in the scatters
    kl: np.ndarray | None  # (D,) mean KL to the prior per dimension; None for a plain autoencoder
    order: np.ndarray  # dimensions by KL (or, for an AE, by the variance of the means), largest first
    kl_images: int = 0  # how many images the KL was averaged over


@dataclass
class LatentPictures:
    """The arrays that explore's figures draw, all computed before any figure is drawn: images are (C, H, W)
    floats in [0, 1], stacked as each figure lays them out."""

    where: str  # "MODEL on DATA (split, N images)": what the figures' titles say they show
    method: str  # how the 2-D maps project: "PCA" or "raw axes"
    shown: str  # "M of N points" as the scatters' titles give it
    labels: np.ndarray | None  # (M,) classes of the plotted points
    class_names: list[str] | None
    coords2: np.ndarray  # (M, 2) the plotted points on the 2-D map
    axes2: list[str]
    coords3: np.ndarray | None  # (M, 3) the plotted points in 3-D; None below three latent dimensions
    axes3: list[str] | None
    method3: str | None
    lattice: np.ndarray  # (S, S, 2) a lattice on the 2-D map
    decoded_map: np.ndarray  # (S, S, C, H, W) its decodings
    histograms: object  # latent_histograms of every mean
    shown_dims: np.ndarray  # dimensions in the traversals and histograms, largest KL (or variance) first
    class_histogram_dims: np.ndarray
    traversals: np.ndarray  # (dims, steps, C, H, W)
    traversal_rows: list[str]
    traversal_values: np.ndarray  # (steps,) offsets in σ
    traversal_title: str
    traversal_gif: np.ndarray  # (dims, GIF_STEPS, C, H, W)
    gif_values: np.ndarray
    tile_scale: int  # traversal tiles of about 56 px
    reconstruction_inputs: np.ndarray  # (R, C, H, W) uint8
    reconstructions: np.ndarray  # (R, C, H, W)
    samples: np.ndarray  # (grid², C, H, W) decoded samples
    samples_source: str  # what they are samples of: "prior", "density" (fitted), or "codes" (an AE's Gaussian)
    grid: int
    grid_scale: int


@dataclass
class ExploreResult:
    summary: dict  # what summary.json holds
    survey: LatentSurvey
    pictures: LatentPictures = field(repr=False)
    figure: object = field(repr=False, default=None)  # the interactive plotly Figure
    out: Path | None = None  # the folder write_explore wrote; None until it has
    files: dict[str, Path] = field(default_factory=dict)  # output name → path, once written
    stage: dict = field(repr=False, default_factory=dict)  # seconds per stage, the drawing added as it is done


def posterior_kl(net, images: np.ndarray, batch_size: int = 2500) -> np.ndarray | None:
    """Mean KL to the prior per dimension (D,) over uint8 images (N, C, H, W); None for a plain autoencoder.
    ``net``: the torch model (the KL needs the posterior's variance, which ONNX files exported before they held it
    lack)."""
    from vaelab.models import runtime

    return runtime.posterior_kl(runtime.TorchModel(net), images, batch_size)


def traversal_center(center, latents: np.ndarray, m) -> tuple[np.ndarray, str]:
    """'origin', 'mean', an index into the encoded set, or an image path → the code (D,) and a description."""
    text = str(center)
    if text == "origin":
        return np.zeros(latents.shape[1]), "the origin"
    if text == "mean":
        return latents.mean(0), "the mean code"
    if text.lstrip("-").isdigit():
        i = int(text)
        if not -len(latents) <= i < len(latents):  # negative counts from the end, as in Python
            raise VaelabError(
                f"--center {i}: the encoded set has {len(latents)} images (0 … {len(latents) - 1}, "
                f"or -1 … -{len(latents)} from the end)"
            )
        return latents[i].astype(np.float64), f"image #{i % len(latents)}"
    from vaelab.data.inputs import image_label, load_input, parse_dataset_image

    source = text if parse_dataset_image(text) else Path(text).expanduser()
    if not (isinstance(source, str) or source.exists()):
        raise VaelabError(
            f"--center {text!r}: give origin, mean, an index into the images, an image file, or a dataset image "
            "such as fashion-mnist:test/17"
        )
    x = load_input(source, m.channels, m.size, m.background)[None].astype(np.float32) / 255.0
    return m.embed(x)[0].astype(np.float64), image_label(source)


def _strip_axis(labels: np.ndarray | None, n: int, seed: int) -> tuple[np.ndarray, str]:
    """A second plot axis for a 1-D latent: the class, spread a little, or seeded jitter without classes."""
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-0.3, 0.3, n)
    return (labels + jitter, "class (spread)") if labels is not None else (jitter, "(jitter)")


class _Stopwatch(dict):
    """Seconds per named stage, for summary.json and the benchmark."""

    @contextmanager
    def __call__(self, name: str):
        t = time.perf_counter()
        yield
        self[name] = round(self.get(name, 0.0) + time.perf_counter() - t, 2)


def survey_latents(
    m,
    net,
    images: np.ndarray,
    labels: np.ndarray | None,
    class_names: list[str] | None,
    max_points: int,
    seed: int,
    progress: bool = True,
    stage=None,
) -> LatentSurvey:
    """Encode images (N, C, H, W) uint8, measure the KL per dimension, rank the dimensions, pick the points
    to plot. ``m``: the InferenceModel that encodes; ``net``: its torch model (for the posterior variance)."""
    from vaelab.latent.traversal import order_by

    stage = stage or _Stopwatch()
    n = len(images)
    rng = np.random.default_rng(seed)
    with stage("encode"):
        mu = encode_batched(m, images, progress=progress)
    with stage("kl"):
        kl_idx = np.sort(rng.choice(n, KL_IMAGES, replace=False)) if n > KL_IMAGES else np.arange(n)
        kl = posterior_kl(net, images[kl_idx])
    order = order_by(kl if kl is not None else mu.var(0))
    plotted = np.sort(rng.choice(n, max_points, replace=False)) if n > max_points else np.arange(n)
    return LatentSurvey(images, mu, labels, class_names, plotted, kl, order, int(len(kl_idx)))


def explore(
    model=None,
    data: str | None = None,
    out: str | Path | None = None,
    split: str = "all",
    max_points: int = 5000,
    seed: int = 0,
    max_dims: int = 32,
    steps: int = 11,
    span: float = 3.0,
    center=None,
    grid: int = 8,
    scale: int | None = None,
    map_size: int = 12,
    backend: str = "auto",
    progress: bool = True,
    log=print,
    sample_source: str | None = None,
) -> ExploreResult:
    """Encode ``data`` (default: the model's training data) and compute every latent-space figure's arrays.

    ``model``: a folder, a loaded torch model, or None for the shipped one. Returns the survey, the summary (what
    summary.json holds), the figures' arrays and the interactive figure; :func:`write_explore` draws them into a
    folder. With ``out``, explore writes them there too, as `vaelab explore` does. ``sample_source``: the sample grid's
    source, "prior" or "density" (default: the fitted density where the folder has one, else the prior).
    """
    from vaelab.latent.projection import fit_projection
    from vaelab.models.runtime import open_model, torch_module
    from vaelab.tasks.encoding import load_model_dataset

    _check_settings(split, max_points=max_points, dims=max_dims, steps=steps, grid=grid, map_size=map_size)
    if out is not None:
        check_out_folder(Path(out))  # before the encoding, not after it
    stage = _Stopwatch()
    with stage("load"):
        m = open_model(model, backend)
        net = torch_module(m, model)
        ds = load_model_dataset(m, data)
    idx, labels, class_names = _explored_split(m, ds, split)
    sv = survey_latents(m, net, ds.images[idx], labels, class_names, max_points, seed, progress, stage)
    with stage("pca"):
        proj3 = fit_projection(sv.latents, 3, seed)
        proj2 = proj3.leading(2) if proj3.pca is not None else fit_projection(sv.latents, 2, seed)

    where = f"{m.folder.name if m.folder else 'model'} on {ds.name} ({split}, {len(idx)} images)"
    pictures, fig, c_text = _compute_pictures(
        m,
        sv,
        proj2,
        proj3,
        where,
        stage,
        seed=seed,
        max_dims=max_dims,
        steps=steps,
        span=span,
        center=center,
        grid=grid,
        scale=scale or max(1, 96 // m.size[0]),
        map_size=map_size,
        sample_source=sample_source,
    )
    summary = _summary(m, ds.name, split, sv, proj2, proj3, c_text, max_dims, steps, span, seed, stage)
    summary["samples"] = pictures.samples_source
    result = ExploreResult(summary, sv, pictures, fig, stage=stage)
    if out is None:
        log(f"explored {where}")
        return result
    write_explore(result, out)
    log(f"explored {where}: {len(result.files)} files in {result.out}")
    return result


def _check_settings(split: str, **least_of) -> None:
    """Refuse an unknown split, or a size below what explore can draw, before anything is encoded."""
    if split not in SPLITS:
        raise VaelabError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    least = {"max_points": 1, "dims": 1, "steps": 2, "grid": 1, "map_size": 2}
    for name, value in least_of.items():
        if value < least[name]:
            raise VaelabError(f"--{name.replace('_', '-')} must be at least {least[name]}, got {value}")


def _explored_split(m, ds, split: str):
    """The indices of ``split`` (refused when too few to fit the maps), their labels and the class names."""
    idx = ds.split(split)
    if len(idx) < MIN_IMAGES:
        more = "; try --split all" if split != "all" and len(ds) >= MIN_IMAGES else ""
        raise VaelabError(
            f"{ds.name}: the {split} split holds {len(idx)} image{'s' * (len(idx) != 1)}, and explore "
            f"needs at least {MIN_IMAGES} to fit its maps{more}"
        )
    labels = ds.labels[idx].astype(np.int64) if ds.labels is not None else None
    class_names = ds.class_names or m.class_names
    if labels is not None and not class_names:
        class_names = [str(k) for k in range(int(labels.max()) + 1)]
    return idx, labels, class_names


def _compute_pictures(
    m,
    sv: LatentSurvey,
    proj2,
    proj3,
    where: str,
    stage,
    seed: int,
    max_dims: int,
    steps: int,
    span: float,
    center,
    grid: int,
    scale: int,
    map_size: int,
    sample_source: str | None = None,
):
    """The arrays of every figure of explore; returns them, the plotly figure and the traversal centre's
    description."""
    from vaelab.latent.projection import plane_grid
    from vaelab.latent.stats import latent_histograms
    from vaelab.viz import interactive

    labels = sv.labels[sv.plotted] if sv.labels is not None else None
    names = sv.class_names
    method = "PCA" if proj2.pca is not None else "raw axes"
    n = len(sv.latents)
    shown = f"{len(sv.plotted)} of {n} points" if len(sv.plotted) < n else f"{n} points"

    with stage("scatters"):
        scatters = _scatter_coords(sv, labels, proj2, proj3, seed)
    with stage("interactive"):  # 3-D when the latent has 3 dimensions or more
        three_d = scatters["coords3"] is not None
        coords, axes = (scatters["coords3"], scatters["axes3"]) if three_d else (scatters["coords2"], scatters["axes2"])
        thumbnails = interactive.thumbnail_uris(sv.images[sv.plotted])
        title = f"Latent means ({method}), {where}: hover a point to see its image"
        fig = interactive.interactive_scatter(coords, labels, names, axes, thumbnails, title)
    with stage("decoded_map"):
        lattice = plane_grid(scatters["coords2"], map_size)
        decoded = decode_batched(m, proj2.to_latent(lattice.reshape(-1, 2)[:, : proj2.n_axes]))
    with stage("histograms"):
        shown_dims = sv.order[: min(max_dims, sv.latents.shape[1])]
        n_classes = max(len(names), int(sv.labels.max()) + 1) if sv.labels is not None else 0
        hist = latent_histograms(sv.latents, sv.labels, n_classes)
    with stage("traversals"):
        traversal, c_text = _traversal_arrays(m, sv, center, shown_dims, steps, span)
    with stage("grids"):
        grids = _grid_arrays(m, sv, grid, seed, sample_source)
    pictures = LatentPictures(
        where=where,
        method=method,
        shown=shown,
        labels=labels,
        class_names=names,
        **scatters,
        lattice=lattice,
        decoded_map=decoded.reshape(map_size, map_size, *decoded.shape[1:]),
        histograms=hist,
        shown_dims=shown_dims,
        class_histogram_dims=sv.order[:CLASS_HISTOGRAM_DIMS],
        **traversal,
        tile_scale=max(1, 56 // m.size[0]),
        **grids,
        grid=grid,
        grid_scale=scale,
    )
    return pictures, fig, c_text


def _scatter_coords(sv: LatentSurvey, labels, proj2, proj3, seed: int) -> dict:
    """The plotted means on the 2-D plane (a 1-D latent gets a strip axis), and in 3-D where the latent has 3
    dimensions or more (else None)."""
    coords2, axes2 = proj2.transform(sv.latents[sv.plotted]), proj2.axis_labels
    if coords2.shape[1] == 1:
        strip, strip_label = _strip_axis(labels, len(sv.plotted), seed)
        coords2, axes2 = np.column_stack([coords2[:, 0], strip]), axes2 + [strip_label]
    coords3 = axes3 = method3 = None
    if proj3.n_axes == 3:
        coords3, axes3 = proj3.transform(sv.latents[sv.plotted]), proj3.axis_labels
        method3 = "PCA" if proj3.pca else "raw axes"
    return dict(coords2=coords2, axes2=axes2, coords3=coords3, axes3=axes3, method3=method3)


def _traversal_arrays(m, sv: LatentSurvey, center, shown_dims, steps: int, span: float) -> tuple[dict, str]:
    """The decoded traversal grid and animation of ``shown_dims`` around the centre, with their row labels and
    title; and the centre's description."""
    from vaelab.latent.traversal import traversal_codes
    from vaelab.viz import latent_maps

    mu, kl, d = sv.latents, sv.kl, sv.latents.shape[1]
    # A VAE's codes are centred on its prior's mean, the origin; a plain AE's codes may lie anywhere.
    c, c_text = traversal_center(center if center is not None else "origin" if kl is not None else "mean", mu, m)
    # A VAE's dimensions are pulled towards N(0, 1), so the prior's σ = 1 is the natural unit; a plain
    # autoencoder has no prior, and its codes' own spread stands in for it.
    sigma = 1.0 if kl is not None else mu.std(0)
    rank, rank_name = (kl, "KL") if kl is not None else (mu.var(0), "var")
    trav = decode_batched(m, traversal_codes(c, shown_dims, steps, span, sigma).reshape(-1, d))
    gif = decode_batched(m, traversal_codes(c, shown_dims, GIF_STEPS, span, sigma).reshape(-1, d))
    arrays = dict(
        traversals=trav.reshape(len(shown_dims), steps, *trav.shape[1:]),
        traversal_rows=[f"z{k} · {rank_name} {latent_maps.format_nats(rank[k])}" for k in shown_dims],
        traversal_values=np.linspace(-span, span, steps),
        traversal_title=f"Traversals around {c_text}, in units of "
        f"{'the prior σ = 1' if kl is not None else 'each code’s σ'}; rows by {rank_name}",
        traversal_gif=gif.reshape(len(shown_dims), GIF_STEPS, *gif.shape[1:]),
        gif_values=np.linspace(-span, span, GIF_STEPS),
    )
    return arrays, c_text


def _grid_arrays(m, sv: LatentSurvey, grid: int, seed: int, sample_source: str | None) -> dict:
    """Reconstructions of a random pick of the images, and grid × grid samples with their source."""
    mu, kl, n = sv.latents, sv.kl, len(sv.latents)
    rng = np.random.default_rng(seed + 1)
    n_recon = min(n, grid * max(1, grid // 2))  # grid//2 pairs of rows of grid images: a square picture
    picks = np.sort(rng.choice(n, n_recon, replace=False))
    if kl is not None or sample_source is not None or m.density() is not None:
        source = m.sample_source(sample_source)
        z = m.sample_codes(grid * grid, seed, source)
    else:  # no prior to sample, and no fitted density: a Gaussian fitted to the codes stands in for it
        source = "codes"
        z = rng.multivariate_normal(mu.mean(0), np.atleast_2d(np.cov(mu, rowvar=False)), grid * grid)
    return dict(
        reconstruction_inputs=sv.images[picks],
        reconstructions=decode_batched(m, mu[picks]),
        samples=decode_batched(m, z),
        samples_source=source,
    )


def write_explore(result: ExploreResult, out: str | Path) -> dict[str, Path]:
    """Draw every figure of ``result`` into the folder ``out``, with summary.json, as `vaelab explore` does.

    The files are written into a temp folder beside ``out`` and moved in at the end, so a failure leaves ``out``
    as it was, and figures of an earlier run that this one does not make are removed. The drawing time is added
    to the summary's seconds. Returns the paths by name (also in ``result.files``)."""
    from vaelab.data.images import save_png_atomic
    from vaelab.viz import grids, interactive, traversals

    p, stage, out = result.pictures, result.stage, Path(out)
    stage = stage if isinstance(stage, _Stopwatch) else _Stopwatch(stage)
    with staged_folder(out, replace=OUTPUT_NAMES) as tmp:
        with stage("scatters"):
            _draw_scatters(p, tmp)
        with stage("interactive"):
            interactive.write_interactive_html(result.figure, tmp / INTERACTIVE)
        with stage("decoded_map"):
            _draw_decoded_map(p, tmp)
        with stage("histograms"):
            _draw_histograms(p, result.survey, tmp)
        with stage("traversals"):
            traversals.plot_traversals(
                p.traversals,
                p.traversal_rows,
                p.traversal_values,
                tmp / TRAVERSALS,
                p.traversal_title,
                px_per_pixel=p.tile_scale,
            )
            traversals.write_traversal_gif(p.traversal_gif, p.gif_values, tmp / TRAVERSAL_GIF, scale=p.tile_scale)
        with stage("grids"):
            recons = grids.reconstruction_grid(p.reconstruction_inputs, p.reconstructions, p.grid, p.grid_scale)
            save_png_atomic(recons, tmp / RECONSTRUCTIONS)
            save_png_atomic(grids.sample_grid(p.samples, p.grid, p.grid_scale), tmp / SAMPLES)
        result.summary["seconds"] = dict(stage)
        (tmp / SUMMARY).write_text(json.dumps(result.summary, indent=2) + "\n")
        names_written = [f.name for f in tmp.iterdir()]
    result.stage, result.out = stage, out
    result.files = {name: out / name for name in names_written}
    return result.files


def _draw_scatters(p: LatentPictures, tmp: Path) -> None:
    """The 2-D scatter of the latent means, and the 3-D one where there is one."""
    from vaelab.viz import latent_maps

    title = f"Latent means, {p.method} 2-D: {p.shown}\n{p.where}"
    latent_maps.plot_scatter_2d(p.coords2, p.labels, p.class_names, p.axes2, tmp / SCATTER_2D, title)
    if p.coords3 is not None:
        title = f"Latent means, {p.method3} 3-D: {p.shown}\n{p.where}"
        latent_maps.plot_scatter_3d(p.coords3, p.labels, p.class_names, p.axes3, tmp / SCATTER_3D, title)


def _draw_decoded_map(p: LatentPictures, tmp: Path) -> None:
    """The decoded lattice laid over the 2-D scatter."""
    from vaelab.viz import latent_maps

    size = len(p.lattice)
    latent_maps.plot_decoded_map(
        p.coords2,
        p.labels,
        p.class_names,
        p.axes2,
        p.lattice,
        p.decoded_map,
        tmp / DECODED_MAP,
        f"Decodings of a {size}×{size} lattice on the {p.method} plane, over the latent means\n{p.where}",
    )


def _draw_histograms(p: LatentPictures, sv: LatentSurvey, tmp: Path) -> None:
    """The histograms of the latent means, per class where there are labels, and the KL bars of a VAE."""
    from vaelab.viz import latent_maps

    kl = sv.kl
    latent_maps.plot_histograms(p.histograms, p.shown_dims, tmp / HISTOGRAMS, kl, prior=kl is not None)
    if sv.labels is not None:
        latent_maps.plot_class_histograms(p.histograms, p.class_histogram_dims, p.class_names, tmp / CLASS_HISTOGRAMS)
    if kl is not None:
        latent_maps.plot_kl_bars(kl, tmp / KL_BARS)


def _summary(
    m,
    data_name: str,
    split: str,
    sv: LatentSurvey,
    proj2,
    proj3,
    c_text: str,
    max_dims: int,
    steps: int,
    span: float,
    seed: int,
    stage,
) -> dict:
    from vaelab.latent.stats import ACTIVE_KL_NATS, active_units

    kl = sv.kl
    return {
        "model": str(m.folder) if m.folder else None,
        "data": data_name,
        "split": split,
        "encoded": int(len(sv.latents)),
        "plotted": int(len(sv.plotted)),
        "latent_dim": int(sv.latents.shape[1]),
        "variational": kl is not None,
        "class_names": sv.class_names if sv.labels is not None else None,
        # The 2-D maps' method, and the variance of the widest PCA drawn: a 3-D latent is shown on its raw
        # axes in 3-D, and on PCA's first two in 2-D.
        "projection": {
            "method": "PCA" if proj2.pca is not None else "raw axes",
            "method_3d": None if proj3.n_axes < 3 else "PCA" if proj3.pca is not None else "raw axes",
            "explained_variance_ratio": (proj3 if proj3.pca is not None else proj2).explained_variance_ratio,
        },
        "kl_images": sv.kl_images if kl is not None else None,
        "kl_per_dim": None if kl is None else [round(float(v), 6) for v in kl],
        "kl_total": None if kl is None else round(float(kl.sum()), 4),
        "active_units": None if kl is None else active_units(kl),
        "active_threshold_nats": ACTIVE_KL_NATS,
        "dims_by_rank": [int(k) for k in sv.order],
        "traversal": {
            "center": c_text,
            "dims": [int(k) for k in sv.order[:max_dims]],
            "steps": steps,
            "span": span,
            "sigma": "prior" if kl is not None else "codes",
        },
        "seed": seed,
        "seconds": dict(stage),
    }
