"""`vaelab evaluate` as a function: every metric of one model on one dataset's test split, as one dict, a
printable table, and eval.json."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError
from vaelab.io.atomic import write_text_atomic
from vaelab.metrics.activity import active_units
from vaelab.metrics.fidelity import prior_sample_quality, semantic_fidelity
from vaelab.metrics.interpolation import COMPARED, METHODS, interpolation_metrics
from vaelab.metrics.likelihood import elbo, iwae_bound
from vaelab.metrics.novelty import novelty
from vaelab.metrics.realism import realism_metrics
from vaelab.metrics.reconstruction import reconstruction_metrics
from vaelab.models.runtime import encode_batched, open_model


@dataclass
class EvalConfig:
    k: int = 1000  # IWAE importance samples per image
    iwae_images: int = 500  # the IWAE runs on the first this many test images (it costs k decodes each)
    limit: int | None = None  # use only the first N test images for everything else (None = all)
    pairs: int = 100  # random test pairs for the interpolation metrics
    frames: int = 16  # frames per interpolation path, both ends included
    prior_samples: int = 1000
    seed: int = 0


def check_compatible(model, dataset: ImageDataset) -> None:
    """A one-line error when the dataset's images are not the format the model takes."""
    c = model.cfg
    if (c.channels, c.height, c.width) != (dataset.channels, *dataset.size):
        raise VaelabError(
            f"the model takes {c.channels}×{c.height}×{c.width} images, {dataset.name} has "
            f"{dataset.channels}×{dataset.size[0]}×{dataset.size[1]}; "
            "pass the --data it was trained on"
        )


def check_evaluator(evaluator, dataset: ImageDataset) -> None:
    """A one-line error when the evaluator cannot judge this dataset: another image format, or other classes."""
    evaluator.check_images(dataset.channels, dataset.size)
    names = dataset.class_names
    if names and evaluator.cfg.num_classes != len(names):
        raise VaelabError(
            f"the evaluator knows {evaluator.cfg.num_classes} classes, {dataset.name} has {len(names)}; "
            "train one on this data with `vaelab train-evaluator`"
        )
    if dataset.split_by_class():
        raise VaelabError(
            f"{dataset.name} is split by class: the evaluator never saw its test classes, so it cannot "
            "judge them; run without an evaluator (--evaluator none)"
        )
    known = list(getattr(evaluator, "data_spec", {}).get("class_names") or [])
    if names and known and known != list(names):
        differ = next(i for i, (a, b) in enumerate(zip(known, names)) if a != b)
        raise VaelabError(
            f"the evaluator was trained on other classes ({known[differ]!r} where {dataset.name} has "
            f"{names[differ]!r}); train one on this data with `vaelab train-evaluator`"
        )


def labelled_for(evaluator, dataset: ImageDataset) -> ImageDataset:
    """The dataset labelled the way the evaluator was trained: by the attribute column its config records (the
    Unicode subgroup of emoji, say), onto its recorded classes; unchanged for one trained on the data's own labels."""
    spec = getattr(evaluator, "data_spec", {}) or {}
    label = spec.get("label")
    if not label or label == dataset.label_source:
        return dataset
    if label not in dataset.attributes:
        raise VaelabError(
            f"the evaluator was trained on the labels {label!r}, a column {dataset.name} lacks; "
            "train one on this data with `vaelab train-evaluator`"
        )
    return dataset.labelled_by(label, classes=spec.get("class_names"))


def sample_novelty(model, dataset: ImageDataset, test_images: np.ndarray, n: int, seed: int = 0, folder=None) -> dict:
    """:func:`~vaelab.metrics.novelty.novelty` of ``n`` prior samples, and of ``n`` samples of the fitted density
    where the model ``folder`` has one, against the codes of ``dataset``'s training images and of (the first ``n``
    of) ``test_images``. Keyed by source: "prior", "density"."""
    net = open_model(model, folder=folder)
    train = encode_batched(net, dataset.images[dataset.split("train")], progress=False)
    test = encode_batched(net, test_images[:n], progress=False)
    sources = ["prior"] + (["density"] if net.density() is not None else [])
    return {source: novelty(net.sample_codes(n, seed, source), train, test) for source in sources}


def evaluate_model(
    model,
    dataset: ImageDataset,
    evaluator=None,
    cfg: EvalConfig | None = None,
    progress: bool = False,
    folder=None,
) -> dict:
    """Every metric of a torch model on ``dataset``'s test split; fidelity and the interpolations' target
    class need ``evaluator`` (and labels), and the IWAE bound a variational model. ``folder``: the model's folder,
    whose fitted density (`vaelab fit-density`) is then measured beside the prior."""
    cfg = cfg or EvalConfig()
    check_compatible(model, dataset)
    if evaluator is not None:
        dataset = labelled_for(evaluator, dataset)
        check_evaluator(evaluator, dataset)
    test = dataset.split("test")[: cfg.limit] if cfg.limit else dataset.split("test")
    if len(test) < 2:  # the interpolations need a pair; say so before the slow IWAE
        raise VaelabError(
            f"evaluate needs at least 2 test images, and {dataset.name} gives {len(test)}"
            + (f" with --limit {cfg.limit}" if cfg.limit else "")
        )
    images = dataset.images[test]
    labels = dataset.labels[test] if dataset.labels is not None else None
    report: dict = {
        "model": {
            "kind": model.cfg.kind,
            "latent_dim": model.cfg.latent_dim,
            "variational": bool(model.variational),
            "specified_dim": model.cfg.specified_dim,
        },
        "data": {"name": dataset.name, "test_images": int(len(images)), "label": dataset.label_source},
        "config": asdict(cfg),
    }
    timings = {}

    def timed(name, fn, *args, **kw):
        t = time.perf_counter()
        out = fn(*args, **kw)
        timings[name] = round(time.perf_counter() - t, 2)
        return out

    report["elbo"] = timed("elbo", elbo, model, images, seed=cfg.seed)
    if model.variational:
        subset = images[: cfg.iwae_images]
        report["iwae"] = timed("iwae", iwae_bound, model, subset, k=cfg.k, seed=cfg.seed, progress=progress)
        # The bound is on a subset: give the ELBO of the very same images beside it, so the two compare.
        report["iwae"]["neg_elbo_same_images"] = elbo(model, subset, seed=cfg.seed)["neg_elbo"]
    report["reconstruction"] = timed("reconstruction", reconstruction_metrics, model, images)
    report["active_units"] = {
        k: v for k, v in timed("active_units", active_units, model, images).items() if k != "variances"
    }
    if evaluator is not None and labels is not None:
        report["fidelity"] = timed("fidelity", semantic_fidelity, model, evaluator, images, labels)
    if evaluator is not None:
        report["prior_samples"] = timed(
            "prior_samples",
            prior_sample_quality,
            model,
            evaluator,
            cfg.prior_samples,
            cfg.seed,
            dataset.class_names,
            images=images,
        )
    if evaluator is not None:
        report["realism"] = timed(
            "realism", realism_metrics, model, evaluator, images, cfg.prior_samples, cfg.pairs, cfg.seed, folder=folder
        )
    if len(dataset.split("train")):
        report["novelty"] = timed(
            "novelty", sample_novelty, model, dataset, images, cfg.prior_samples, cfg.seed, folder=folder
        )
    report["interpolation"] = timed(
        "interpolation",
        interpolation_metrics,
        model,
        images,
        labels,
        evaluator,
        pairs=cfg.pairs,
        frames=cfg.frames,
        seed=cfg.seed,
    )
    report["seconds"] = timings
    return report


HISTOGRAM_SHOWN = 12  # classes the table's histogram line names; eval.json holds them all


def histogram_line(histogram: dict[str, float]) -> str:
    """The prior samples' class shares for the table: every class of a small set in its order; of a larger one
    (emoji's 61 subgroups) the HISTOGRAM_SHOWN commonest, then how many others share the rest."""
    if len(histogram) <= HISTOGRAM_SHOWN:
        return ", ".join(f"{k} {v:.1%}" for k, v in histogram.items())
    top = sorted(histogram.items(), key=lambda kv: -kv[1])[:HISTOGRAM_SHOWN]
    rest = 1.0 - sum(v for _, v in top)
    others = len(histogram) - HISTOGRAM_SHOWN
    return ", ".join(f"{k} {v:.1%}" for k, v in top) + f"; the other {others} classes {rest:.1%} (eval.json has each)"


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "∞"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def format_report(report: dict) -> str:
    """The report as a plain-text table for the terminal."""
    title = (
        f"{report['model']['kind']} (latent {report['model']['latent_dim']}) on {report['data']['name']}, "
        f"{report['data']['test_images']} test images"
        + (f", labelled by {report['data']['label']} as the evaluator was" if report["data"].get("label") else "")
    )
    lines = [title, *_likelihood_rows(report), *_reconstruction_rows(report), *_sample_rows(report)]
    lines += _interpolation_lines(report["interpolation"], bool(report["model"].get("specified_dim")))
    return "\n".join(lines)


def _row(name: str, value: str, note: str = "") -> str:
    return f"  {name:34s} {value:>12s}  {note}"


def _likelihood_rows(report: dict) -> list[str]:
    """The −ELBO (a plain AE: its reconstruction NLL) and the −IWAE where it was measured."""
    e = report["elbo"]
    if report["model"]["variational"]:
        note = f"recon {e['recon']:.2f} + KL {e['kl']:.2f}; {e['bits_per_dim']:.4f} bits/dim"
        lines = [_row("-ELBO (nats/image)", _fmt(e["neg_elbo"], 2), note)]
    else:
        lines = [_row("reconstruction NLL (nats/image)", _fmt(e["recon"], 2), "a plain AE has no ELBO")]
    if "iwae" in report:
        w = report["iwae"]
        lines.append(
            _row(
                f"-IWAE, k={w['k']} (nats/image)",
                _fmt(w["neg_iwae"], 2),
                f"on the first {w['n']} images, whose -ELBO is {w['neg_elbo_same_images']:.2f}; "
                f"{w['bits_per_dim']:.4f} bits/dim",
            )
        )
    return lines


def _reconstruction_rows(report: dict) -> list[str]:
    """The reconstructions' errors and sharpness, the active units and the semantic fidelity."""
    r = report["reconstruction"]
    lines = [
        _row("reconstruction MSE", _fmt(r["mse"], 5)),
        _row("reconstruction PSNR (dB)", _fmt(r["psnr"], 2), f"{r['exact']} exact" if r["exact"] else ""),
        _row("reconstruction SSIM", _fmt(r["ssim"], 4)),
        _row(
            "reconstruction sharpness",
            _fmt(r["sharpness"], 3),
            "mean squared Laplacian ÷ the originals' (1 = as crisp)",
        ),
        _row(  # an eval.json written before edge fidelity was measured has none
            "reconstruction edge fidelity",
            _fmt(r["edge_fidelity"], 3) if "edge_fidelity" in r else "—",
            "share of the originals' edges the reconstructions carry (1 = all; noise adds nothing)",
        ),
    ]
    a = report["active_units"]
    lines.append(
        _row(
            "active units (Var of μ > 0.01)",
            f"{a['active']}/{a['latent_dim']}",
            "Burda et al.; explore counts KL > 0.01 nats instead",
        )
    )
    if "fidelity" in report:
        f = report["fidelity"]
        lines.append(
            _row(
                "semantic fidelity",
                _fmt(f["fidelity"], 4),
                f"evaluator accuracy {f['accuracy_reconstruction']:.4f} on "
                f"reconstructions / {f['accuracy_original']:.4f} on originals",
            )
        )
    return lines


def _sample_rows(report: dict) -> list[str]:
    """What the evaluator makes of prior samples, the realism (KID) rows and the novelty rows, where measured."""
    lines = []
    if "prior_samples" in report:
        p = report["prior_samples"]
        note = f"coverage {p['coverage']:.3f} over {len(p['histogram'])} classes ({p['n']} samples" + (
            "; z ~ N(0, I), s of a random test image)" if p.get("s_from") else ")"
        )
        lines.append(_row("prior samples: evaluator confidence", _fmt(p["confidence"], 4), note))
        lines.append("    class histogram: " + histogram_line(p["histogram"]))
    if "realism" in report:
        q = report["realism"]
        lines.append(
            f"  realism against the {q['test_images']} test images, in the evaluator's {q['features']} standardised "
            "features (0 = alike):"
        )
        for name in ("reconstructions", "prior_samples", "density_samples", "midpoints"):
            if name in q:
                k = q[name]
                note = f"± {k['kid_std']:.4f}; FD {k['fd']:.2f}"
                lines.append(_row(f"  KID, {name.replace('_', ' ')}", _fmt(k["kid"], 4), note))
    if "novelty" in report:
        lines.append(
            "  novelty: samples' distance to the nearest training code ÷ test codes' (1 = as new as unseen images; "
            "near 0 = copies):"
        )
        for source, v in report["novelty"].items():
            note = f"mean {v['sample_distance']:.3f} against {v['test_distance']:.3f} ({v['samples']} samples)"
            lines.append(_row(f"  {source} samples", _fmt(v["ratio"], 3), note))
    return lines


def _interpolation_lines(it: dict, cycle: bool) -> list[str]:
    """The interpolation table (one row per method) and the morph-quality table, where measured."""
    lines = [
        f"  interpolation ({it['pairs']} test pairs, {it['frames']} frames):",
        f"    {'method':7s} {'norm/√d mean':>12s} {'min':>6s} {'log N(z) mean':>13s} {'min':>8s} "
        f"{'smooth':>7s} {'p(target) mid':>13s} {'monotone':>8s}",
    ]
    for m in METHODS:
        if m not in it:
            continue
        s = it[m]
        lines.append(
            f"    {m:7s} {s['norm_ratio_mean']:12.3f} {s['norm_ratio_min']:6.3f} "
            f"{s['log_density_mean']:13.1f} {s['log_density_min']:8.1f} {s['smoothness_mean']:7.3f} "
            f"{_fmt(s.get('target_prob_mid')):>13s} "
            f"{_fmt(s.get('monotonic_fraction')):>8s}"
        )
    if any("path_length" in it.get(m, {}) for m in COMPARED):
        lines.append(
            "  morph quality, in the evaluator's standardised features (path: Σ of the steps; deviation: their spread "
            "÷ mean, 0 = even, and the same in plain pixels; frame KID: the frames between the ends against the test "
            "images, 0 = alike):"
        )
        lines.append(
            f"    {'path':15s} {'length':>8s} {'deviation':>9s} {'in pixels':>9s} {'frame KID':>9s} {'monotone':>8s}"
        )
        for m in COMPARED:
            s = it.get(m, {})
            if "path_length" in s:
                lines.append(
                    f"    {m:15s} {s['path_length']:8.1f} {s['step_deviation']:9.3f} "
                    f"{_fmt(s.get('pixel_step_deviation')):>9s} {s['frame_kid']:9.4f} "
                    f"{_fmt(s.get('monotonic_fraction')):>8s}"
                )
    first = next((it[m] for m in METHODS if m in it), None)
    if first:
        lines.append(f"    (a prior sample has norm/√d ≈ 1 and log N(z) ≈ {first['prior_log_density']:.1f})")
    if cycle:
        lines.append(
            "    (the code is [z | s] and s has no prior, so the norm and log N(z) columns mean little "
            "for this cycle-VAE)"
        )
    return lines


def json_safe(obj):
    """Non-finite floats become the strings 'inf', '-inf' and 'nan', so that eval.json stays strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    return obj


def write_report(report: dict, path: str | Path) -> Path:
    """Write the report as strict JSON to a temp file beside ``path`` and rename it into place."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")
