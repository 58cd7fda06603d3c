"""How a model splits its latent space, for any model: style-transfer (swap) grids and s × z interpolation for a
cycle-VAE, latent traversals for a (β-)VAE, leakage probes and z↔s predictors, and the disentanglement metrics when
the data has ground-truth factors (`sprites`).

Everything runs on numpy through `open_model` (onnxruntime when the model folder has ONNX files): a cycle-VAE's
code is [z | s], so swapping parts is slicing codes (`vaelab.latent.partition`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError
from vaelab.io.staging import staged_folder
from vaelab.latent.partition import join_code, part_interpolation_codes, split_code, swap_codes
from vaelab.latent.traversal import order_by, traversal_codes
from vaelab.models.runtime import InferenceModel, decode_batched, encode_batched, open_model, torch_module
from vaelab.tasks.concepts import ConceptResolver


@dataclass
class DisentangleResult:
    model_kind: str
    data_name: str
    specified_dim: int  # size of s; 0 for a model whose code is not split
    rows: np.ndarray  # uint8 (R, C, H, W): test images whose z fills each swap-grid row
    cols: np.ndarray  # uint8 (K, C, H, W): test images whose s fills each swap-grid column
    swap: np.ndarray | None = None  # (R, K, C, H, W) in [0,1]: cell (r, c) = Dec(z of rows[r], s of cols[c])
    pair: np.ndarray | None = None  # uint8 (2, C, H, W): the two ends of the interpolation
    interpolation: np.ndarray | None = None  # (S, S, C, H, W): row i lerps z, column j lerps s
    traversal: np.ndarray | None = None  # (K, S, C, H, W): row k moves code dim traversal_dims[k]
    traversal_dims: list[int] = field(default_factory=list)
    traversal_offsets: np.ndarray | None = None  # (S,) in prior σ
    probes: dict = field(default_factory=dict)  # leakage probes: accuracy of predicting the label from each part
    predictors: dict | None = None  # z→s and s→z regressors and their regeneration error
    # a few test inputs ('input', uint8) and their decodings in [0,1]: 'reconstruction', 'z_to_s', 's_to_z'
    predictor_images: dict | None = None
    metrics: dict | None = None  # MIG, BetaVAE, FactorVAE, DCI, SAP when the data has ground truth
    probe_source: str = ""  # which images the probe codes come from: the test split, unless it is tiny

    @property
    def pictures(self) -> dict[str, list[list]]:
        """The decoded grids as PIL images, row by row, by name: "swap" (R × K), "interpolation" (S × S) and
        "traversal" (K × S), those this result holds; the arrays stay in their fields."""
        from vaelab.data.images import to_pil

        grids = {"swap": self.swap, "interpolation": self.interpolation, "traversal": self.traversal}
        return {name: [[to_pil(cell) for cell in row] for row in g] for name, g in grids.items() if g is not None}


OUTPUTS = (
    "swap_grid.png",
    "interpolation.png",
    "predictors.png",
    "traversals.png",
    "probes.png",
    "probes.csv",
    "disentangle.json",
)  # every file it may write: a run replaces them all
MIN_PROBE_TEST = 200  # test images below which the probes take training images too (and say so)
MIN_PROBE_IMAGES = 100  # probe fits on 80 and scores on 20; fewer make the accuracies meaningless
PREDICTOR_EXAMPLES = 12  # test images drawn with their regenerations


def specified_dim_of(m: InferenceModel) -> int:
    """The size of s for a cycle-VAE, 0 for any other model."""
    doc = m.doc["model"]
    return int(doc.get("specified_dim", 0)) if doc.get("kind") == "cycle-vae" else 0


def style_draws(m: InferenceModel, images: np.ndarray, rng: np.random.Generator, batch_size: int = 2000) -> np.ndarray:
    """One draw z ~ q(z|x) per uint8 image (N, C, H, W) of a cycle-VAE: what its decoder is given in training.

    The code's z part is the mean μ_z; a probe on μ reads even traces far below the posterior's noise, which
    the decoder cannot use. The variance comes from the torch model (the ONNX encoder gives the code only)."""
    import torch

    from vaelab.training.evaluation import unit_batch

    net = torch_module(m)
    device = next(net.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            mu, logvar, _ = net.encode_parts(unit_batch(images[i : i + batch_size], device))
            mu, sd = mu.float().cpu().numpy(), torch.exp(0.5 * logvar).float().cpu().numpy()
            out.append(mu + sd * rng.standard_normal(mu.shape).astype(np.float32))
    return np.concatenate(out)


def swap_grid(m: InferenceModel, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """uint8 rows (R, C, H, W) and cols (K, C, H, W) → (R, K, C, H, W) in [0,1]:
    cell (r, c) = Dec(z of rows[r], s of cols[c])."""
    ds = specified_dim_of(m)
    if not ds:
        raise VaelabError("a swap grid needs a model whose code is split into z and s (a cycle-vae)")
    return decode_batched(m, swap_codes(m.embed(rows / np.float32(255)), m.embed(cols / np.float32(255)), ds))


def interpolation_grid(m: InferenceModel, a: np.ndarray, b: np.ndarray, steps: int = 8) -> np.ndarray:
    """uint8 images a, b (C, H, W) → (steps, steps, C, H, W) in [0,1]: z goes from a to b down the rows, s across
    the columns."""
    codes = m.embed(np.stack([a, b]) / np.float32(255))
    return decode_batched(m, part_interpolation_codes(codes[0], codes[1], specified_dim_of(m), steps))


def traversal_grid(
    m: InferenceModel, center: np.ndarray, codes: np.ndarray, dims: int = 10, steps: int = 9, span: float = 3.0
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Traverse the ``dims`` code dims that vary most over ``codes`` (N, D), ±span prior σ around the code of
    ``center`` (uint8 (C, H, W)) → (images (K, S, C, H, W), the dims, the offsets (S,))."""
    order = order_by(codes.var(0))[: min(dims, codes.shape[1])].tolist()
    c = m.embed(center[None] / np.float32(255))[0]
    grid = traversal_codes(c, order, steps, span=span)
    return decode_batched(m, grid), order, np.linspace(-span, span, steps)


def _pick_columns(labels: np.ndarray | None, pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n test images for the columns: one per class while classes last (so each column shows another s)."""
    pool = rng.permutation(pool)
    if labels is None:
        return pool[:n]
    _, first = np.unique(labels[pool], return_index=True)
    chosen = list(pool[np.sort(first)][:n])
    taken = set(chosen)
    rest = [i for i in pool if i not in taken]
    return np.array(chosen + rest[: n - len(chosen)])


def disentangle(
    model=None,
    data: str | ImageDataset | None = None,
    grid: int = 8,
    steps: int = 8,
    probe_images: int = 10_000,
    metrics_scale: float = 0.1,
    seed: int = 0,
    backend: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> DisentangleResult:
    """Everything `vaelab disentangle` writes, as arrays and dicts.

    ``grid`` test images per swap-grid side; ``steps`` per interpolation side; ``probe_images`` images for the
    probes and predictors, drawn from the test split (from all images only when it has fewer than
    MIN_PROBE_TEST, and ``probe_source`` says so); ``metrics_scale`` multiplies disentanglement_lib's sample
    sizes (1 = theirs, slow on a CPU).
    """
    from vaelab.metrics.disentanglement import check_scale
    from vaelab.metrics.probes import leakage_probes

    check_scale(metrics_scale)  # before the slow parts, not after them
    if steps < 2:
        raise VaelabError(f"--steps must be at least 2 (the two images at the ends), got {steps}")

    say = progress or (lambda _: None)
    m = open_model(model, backend)
    ds = ConceptResolver(m, data).dataset
    # one generator for the pictures' images and another for the probes, so that --grid does not move the probes
    rng, probe_rng = (np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(2))
    sd = specified_dim_of(m)
    rows, cols = _pick_grid_images(ds, grid, rng)
    result = DisentangleResult(
        model_kind=m.doc["model"].get("kind", "?"),
        data_name=ds.name,
        specified_dim=sd,
        rows=ds.images[rows],
        cols=ds.images[cols],
    )

    probe_idx, result.probe_source = _pick_probe_images(ds, probe_images, probe_rng)
    say(f"encoding {len(probe_idx)} images")
    codes = encode_batched(m, ds.images[probe_idx], progress=False)
    if sd:
        say("swap grid and interpolation")
        result.swap = swap_grid(m, result.rows, result.cols)
        result.pair = ds.images[[rows[0], cols[1 % len(cols)]]]
        result.interpolation = interpolation_grid(m, result.pair[0], result.pair[1], steps)
        z, s = split_code(codes, sd)
        parts = {"s": s, "z": z, "z draw": style_draws(m, ds.images[probe_idx], probe_rng)}
    else:
        say("latent traversals")
        result.traversal, result.traversal_dims, result.traversal_offsets = traversal_grid(m, result.rows[0], codes)
        parts = {"code": codes}
    if ds.labels is not None:
        say("leakage probes")
        result.probes = leakage_probes(parts, ds.labels[probe_idx], probe_rng)
    if sd:
        say("z→s and s→z predictors")
        result.predictors, result.predictor_images = _predictors(m, z, s, ds.images[probe_idx], probe_rng)
    if ds.name == "sprites" or ds.name.startswith("sprites:"):
        say("disentanglement metrics")
        result.metrics = _sprites_metrics(m, seed, metrics_scale, say)
    return result


def _pick_grid_images(ds: ImageDataset, grid: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the swap grid's ``grid`` rows and ``grid`` columns, from the test split where it has enough."""
    test = ds.split("test") if len(ds.split("test")) >= 2 * grid else ds.split("all")
    cols = _pick_columns(ds.labels, test, grid, rng)
    others = np.setdiff1d(test, cols)
    rows = rng.choice(others, grid, replace=False) if len(others) >= grid else rng.choice(test, grid)
    return rows, cols


def _predictors(m, z: np.ndarray, s: np.ndarray, images: np.ndarray, rng: np.random.Generator):
    """A cycle-VAE's z→s and s→z predictors of the codes ``z: (N, Dz)`` and ``s: (N, Ds)`` of ``images``; returns
    their figures and their example pictures (kept apart: pictures are not figures for disentangle.json)."""
    from vaelab.metrics.probes import cross_predictors

    predictors = cross_predictors(
        z,
        s,
        rng,
        decode=lambda zz, ss: decode_batched(m, join_code(zz, ss)),
        images=images,
        examples=PREDICTOR_EXAMPLES,
    )
    examples = predictors.pop("examples")
    return predictors, {"input": images[examples.pop("index")], **examples}


def _pick_probe_images(ds: ImageDataset, probe_images: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The images the probes and predictors encode, and a line saying where they come from: the test split, as
    codes of images the model trained on can be more separable than the rest; all images when it is too small."""
    pool = ds.split("test")
    source = f"{min(probe_images, len(pool))} of the {len(pool)} test images"
    if len(pool) < MIN_PROBE_TEST:
        pool = ds.split("all")
        source = (
            f"{min(probe_images, len(pool))} images, test and training (the test split has only "
            f"{len(ds.split('test'))})"
        )
    if min(probe_images, len(pool)) < MIN_PROBE_IMAGES:  # a fifth of them score the probes: fewer say nothing
        raise VaelabError(
            f"--probe-images must be at least {MIN_PROBE_IMAGES}, got {probe_images}"
            if probe_images < MIN_PROBE_IMAGES
            else f"{ds.name} has {len(pool)} images to probe; the probes need at least {MIN_PROBE_IMAGES}"
        )
    return np.sort(rng.choice(pool, min(probe_images, len(pool)), replace=False)), source


def _sprites_metrics(m, seed: int, metrics_scale: float, say: Callable[[str], None]) -> dict:
    """disentanglement_lib's metrics of the model's codes on the sprites' ground-truth factors."""
    from vaelab.data.sprites import Sprites
    from vaelab.metrics.disentanglement import all_metrics, model_representation

    # a generator of their own, so that all_metrics(model_representation(m), Sprites(), seed, scale) in Python
    # gives the same figures, whatever the grids and probes drew before
    return all_metrics(
        model_representation(m),
        Sprites(),
        np.random.default_rng(seed),
        scale=metrics_scale,
        progress=lambda name: say(f"  {name}"),
    )


def write_disentangle(r: DisentangleResult, out: str | Path, model=None, seed: int = 0) -> None:
    """Write what :func:`disentangle` found into ``out``: a cycle-VAE's swap grid, interpolation and predictor
    pictures, the traversals, the probes (PNG and CSV) and disentangle.json (``model`` and ``seed`` are recorded
    in it); files of an earlier run that this one does not write are removed."""
    from vaelab.viz.disentangle_figures import interpolation_figure, predictor_figure, probe_figure, swap_grid_figure

    with staged_folder(out, replace=OUTPUTS) as tmp:  # a cycle-VAE's swap grid goes with it
        if r.swap is not None:
            swap_grid_figure(r.rows, r.cols, r.swap, tmp / "swap_grid.png", title=f"style transfer ({r.data_name})")
            interpolation_figure(r.interpolation, tmp / "interpolation.png", pair=r.pair)
            predictor_figure(
                r.predictor_images,
                r.predictors,
                tmp / "predictors.png",
                title=f"z→s and s→z predictors ({r.data_name}): test images, regenerated",
            )
        if r.traversal is not None:
            from vaelab.viz.traversals import plot_traversals

            plot_traversals(
                r.traversal,
                [f"dim {d}" for d in r.traversal_dims],
                r.traversal_offsets,
                tmp / "traversals.png",
                title=f"latent traversals ({r.model_kind}, dims by code variance)",
                source=r.rows[0].astype("float32") / 255,
            )
        if r.probes:
            probe_figure(r.probes, tmp / "probes.png", title=f"leakage probes ({r.data_name})")
            with open(tmp / "probes.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["part", "train_accuracy", "test_accuracy", "chance", "train_codes", "test_codes"])
                w.writerows(
                    [
                        name,
                        f"{v['train_accuracy']:.4f}",
                        f"{v['test_accuracy']:.4f}",
                        f"{r.probes['chance']:.4f}",
                        r.probes["n_train"],
                        r.probes["n_test"],
                    ]
                    for name, v in r.probes.items()
                    if isinstance(v, dict)
                )
        doc = {
            "model": str(model),
            "model_kind": r.model_kind,
            "data": r.data_name,
            "specified_dim": r.specified_dim,
            "seed": seed,
            "probe_source": r.probe_source,
            "probes": r.probes,
            "predictors": r.predictors,
            "metrics": r.metrics,
        }
        (tmp / "disentangle.json").write_text(json.dumps(doc, indent=2) + "\n")
