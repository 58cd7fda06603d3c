"""`vaelab report`: one self-contained HTML page per model. The model card, the training curves, every
figure of `vaelab explore`, a morph strip and the metrics there are, with images embedded, so that the
file opens from disk with no server and no network."""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaelab.errors import VaelabError, VaelabWarning
from vaelab.io.staging import check_writable
from vaelab.models.config import EVAL_JSON, weights_id

METRICS_JSONL = "metrics.jsonl"


def parameter_count(folder: Path) -> int | None:
    """How many numbers model.safetensors holds, read from its header (no torch, no weights loaded)."""
    from safetensors import safe_open

    path = folder / "model.safetensors"
    if not path.is_file():
        return None
    with safe_open(str(path), "np") as f:
        return int(sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys()))


def read_records(path: Path) -> list[dict]:
    """The JSON lines of a metrics.jsonl; a missing file gives none, a damaged line is skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return [r for r in records if isinstance(r, dict)]


def pick_morph_pair(latents: np.ndarray, labels: np.ndarray | None) -> tuple[int, int]:
    """Two indices into latents (N, D) worth morphing between: the most typical images (nearest their class
    centroid) of the two classes whose centroids lie farthest apart; without classes, the image nearest the
    mean and the image farthest from that one."""
    from vaelab.latent.centroids import class_centroids

    if labels is not None and len(np.unique(labels)) >= 2:
        cents = class_centroids(latents, labels, int(labels.max()) + 1)
        present = np.flatnonzero(~np.isnan(cents).any(1))
        dist = np.linalg.norm(cents[present, None] - cents[None, present], axis=-1)
        a, b = np.unravel_index(np.argmax(dist), dist.shape)
        pair = []
        for k in (present[a], present[b]):
            members = np.flatnonzero(labels == k)
            pair.append(int(members[np.argmin(np.linalg.norm(latents[members] - cents[k], axis=1))]))
        return pair[0], pair[1]
    i = int(np.argmin(np.linalg.norm(latents - latents.mean(0), axis=1)))
    return i, int(np.argmax(np.linalg.norm(latents - latents[i], axis=1)))


def _samples_caption(summary: dict) -> tuple[str, str]:
    """The sample grid's title and caption, by what explore drew its codes from (its summary's "samples"; a summary
    written before it recorded one drew from the prior, or, for a plain autoencoder, from a Gaussian of the codes)."""
    source = summary.get("samples") or ("prior" if summary.get("variational") else "codes")
    if source == "density":
        return "Density samples", (
            "Decodings of codes drawn from the Gaussian mixture `vaelab fit-density` fitted to the training codes."
        )
    if source == "prior":
        return "Prior samples", "Decodings of z ~ N(0, I)."
    return "Samples", "Decodings of samples from a Gaussian fitted to the codes (a plain autoencoder has no prior)."


def _duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "—"
    minutes, s = divmod(int(round(seconds)), 60)
    return f"{minutes} min {s} s" if minutes else f"{s} s"


def _number(v, digits: int = 2):
    return (
        f"{v:,.{digits}f}"
        if isinstance(v, float)
        else (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v)
    )


def model_card(doc: dict, n_params: int | None) -> dict[str, dict]:
    """Tables of the model, its data and its training, from config.json."""
    m, d, t = doc["model"], doc["data"], doc.get("training") or {}
    arch = {"kind": m["kind"], "latent size": m["latent_dim"]}
    if m["kind"] == "vae-conv":
        arch.update({"conv widths": ", ".join(map(str, m["widths"])), "kernel": m["kernel_size"]})
    elif m["kind"] == "vae-res":
        arch.update({"level widths": ", ".join(map(str, m["widths"])), "attention blocks": m.get("attention", 0)})
    else:
        arch["hidden widths"] = ", ".join(map(str, m["hidden"]))
    arch["likelihood"] = m["likelihood"] + (f" (σ = {m['sigma']})" if m["likelihood"] == "gaussian" else "")
    if m["likelihood"] == "gaussian-optimal":
        arch["likelihood"] += " (σ² = the batch's mean squared error, the σ-VAE)"
    variational = m["kind"] in ("vae-conv", "vae-res")
    if variational:  # a plain autoencoder has no KL term to weigh, and the cycle-VAE weighs it with --kl-coef
        arch.update({"β (KL weight)": m["beta"], "free bits (nats/dim)": m["free_bits"]})
    if variational and m.get("tc_beta", 1.0) != 1.0:
        arch["β_TC (the objective adds (β_TC − 1)·TC)"] = m["tc_beta"]
    arch["parameters"] = _number(n_params) if n_params is not None else "—"
    names = d.get("class_names")
    data = {
        "name": d.get("name", "—"),
        "images": f"{d.get('channels', m['channels'])} × {m['height']} × {m['width']}",
        "classes": (f"{len(names)}: " + ", ".join(names)) if names else "none recorded",
        "background": d.get("background", "—"),
    }
    train = {
        "epochs": t.get("epochs_done", "—"),
        "steps": _number(t.get("steps", "—")),
        "batch size": t.get("batch_size", "—"),
        "learning rate": t.get("lr", "—"),
        "seed": t.get("seed", "—"),
        "training time": _duration(t.get("train_seconds")),
    }
    if t.get("lr_schedule", "constant") != "constant" or t.get("warmup_steps"):
        train["learning rate"] = (
            f"{t['lr']} ({t.get('lr_schedule', 'constant')}, {t.get('warmup_steps', 0)} warm-up steps)"
        )
    if t.get("ema"):
        train["weights"] = f"moving average, decay {t['ema']}"
    judge = t.get("perceptual_evaluator") or "the shipped evaluator"
    added = [
        *([f"focal frequency loss × {t['freq_loss']}"] if t.get("freq_loss") else []),
        *([f"perceptual distance × {t['perceptual']} in the features of {judge}"] if t.get("perceptual") else []),
        *(
            [f"PatchGAN hinge loss × {t['adversarial']} × adaptive weight, from step {t.get('adversarial_start', 0)}"]
            if t.get("adversarial")
            else []
        ),
    ]
    if added:
        train["objective"] = "−ELBO + " + " + ".join(added) + " (not an ELBO; the −ELBO shown is its likelihood part)"
    augment = [
        *([f"shifts of up to {t['shift']} pixels"] if t.get("shift") else []),
        *(["left-right mirror images"] if t.get("flip") else []),
    ]
    if augment:
        train["augmentation"] = ", ".join(augment)
    if t.get("minutes"):
        train["time budget"] = f"{t['minutes']:g} minutes"
    if variational:
        train["KL warm-up steps"] = t.get("kl_warmup_steps", "—")
    if "best_epoch" in t:  # validated: the folder holds the best epoch, and the run went on past it
        train["epochs"] = f"{t['best_epoch']} (the best validated of {t.get('epochs_run', t['best_epoch'])} run)"
        train["training time"] += f" to that epoch, {_duration(t.get('run_seconds'))} in all"
    return {"Model": arch, "Data": data, "Training": train}


def _flatten(prefix: str, value, rows: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, rows)
    elif isinstance(value, list) and len(value) > 8:
        rows[prefix] = f"[{len(value)} values]"
    else:
        rows[prefix] = _number(value, 4) if isinstance(value, float) else value


def read_metrics(paths: list[Path], folder: Path | None = None) -> list[tuple[Path, dict]]:
    """Each metrics file parsed, before any slow work: one that is missing, unreadable or not JSON is refused.
    One that names another model folder than ``folder`` (an eval.json of another model) gets a warning."""
    parsed = []
    for path in paths:
        if not path.is_file():
            what = "a folder, not a JSON file" if path.is_dir() else "no such file"
            raise VaelabError(f"--metrics {path}: {what}")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise VaelabError(f"{path}: cannot read metrics ({e})") from e
        model = (values.get("model") or {}) if isinstance(values, dict) else {}
        named, measured = model.get("folder"), model.get("weights")
        same_weights = bool(folder is not None and measured and measured == weights_id(folder))
        # a model measured elsewhere (the shipped one, before it was installed here) is the same model: its weights
        if (
            folder is not None
            and isinstance(named, str)
            and Path(named).resolve() != Path(folder).resolve()
            and not same_weights
        ):
            warnings.warn(
                f"{path} holds the metrics of {named}, not of {folder}; the report shows them anyway",
                VaelabWarning,
                stacklevel=2,
            )
        elif folder is not None and measured and measured != weights_id(folder):
            warnings.warn(
                f"{path} measured other weights than {folder} holds now (trained further since?); the "
                "report shows them anyway: run vaelab evaluate again for current figures",
                VaelabWarning,
                stacklevel=2,
            )
        parsed.append((path, values))
    return parsed


def metric_tables(doc: dict, summary: dict, extra: list[tuple[Path, dict]]) -> dict[str, dict]:
    """The metrics there are: the test figures recorded at the end of training, the latent statistics of
    this report, and every eval.json given (or found in the model folder), flattened to rows."""
    tables = {}
    test = (doc.get("metrics") or {}).get("test") or {}
    if test:
        if doc["model"]["kind"] == "ae-mlp":
            figures = {"reconstruction NLL (a plain AE has no ELBO)": _number(test.get("recon"))}
        else:
            figures = {
                # a continuous likelihood's −ELBO is a density, often negative: the PSNR is what a reader can judge
                **({"reconstruction PSNR (dB, not nats)": _number(test["psnr"])} if "psnr" in test else {}),
                "−ELBO": _number(test.get("neg_elbo")),
                "reconstruction": _number(test.get("recon")),
                "KL": _number(test.get("kl")),
                "bits / dim": _number(test.get("bits_per_dim"), 4),
            }
        tables["Test set, at the end of training (nats / image)"] = figures
    evr = (summary.get("projection") or {}).get("explained_variance_ratio")
    latent = {"images encoded": _number(summary["encoded"]), "latent size": summary["latent_dim"]}
    if summary.get("variational"):
        latent.update(
            {
                f"active units (KL > {summary['active_threshold_nats']} nats)": (
                    f"{summary['active_units']} of {summary['latent_dim']}"
                ),
                f"total KL over {_number(summary['kl_images'])} images (nats)": _number(summary["kl_total"]),
            }
        )
    if evr:
        latent[f"PCA variance, PC1–PC{len(evr)}"] = (
            ", ".join(f"{100 * r:.1f}%" for r in evr) + f" (sum {100 * sum(evr):.1f}%)"
        )
    tables["Latent space (this report's data)"] = latent
    for path, values in extra:
        rows: dict = {}
        _flatten("", values, rows)
        tables[f"{path.name} ({path.parent.name})"] = rows
    return tables


def morph_quality_of(values) -> dict | None:
    """The "interpolation" entry of an eval.json when it holds the morph-quality rows (an evaluation with an
    evaluator), else None."""
    it = values.get("interpolation") if isinstance(values, dict) else None
    if isinstance(it, dict) and any(isinstance(v, dict) and "path_length" in v for v in it.values()):
        return it
    return None


@dataclass
class ReportResult:
    """A model's report page, built and not yet written."""

    page: str  # the self-contained HTML, every image embedded
    folder: Path  # the model folder it is about
    summary: dict  # what explore found, as its summary.json holds it


def report_path(model=None, out: str | Path | None = None) -> Path:
    """Where the report of ``model`` goes: ``out``, an HTML file name (default out/reports/MODEL.html). A folder, or
    an existing file that is not HTML, is refused before any work."""
    from vaelab.models.shipped import model_folder

    if out is not None and (str(out).endswith(("/", os.sep)) or Path(out).is_dir()):
        raise VaelabError(f"--out {out} is a folder; give the report's file name, e.g. {Path(out) / 'report.html'}")
    out = Path(out) if out is not None else Path("out") / "reports" / f"{model_folder(model).resolve().name}.html"
    if out.exists() and out.suffix.lower() not in (".html", ".htm"):
        raise VaelabError(f"--out {out} exists and is not an .html file; give the report a new file name")
    check_writable(out)  # before the page is built, not after it
    return out


def write_report(result: ReportResult, out: str | Path | None = None) -> Path:
    """Write the page of ``result`` to the HTML file ``out`` (default out/reports/MODEL.html), under a temp name
    renamed into place. Returns its path."""
    from vaelab.viz.html_page import write_report as write_page

    return write_page(result.page, report_path(result.folder, out))


def build_report(
    model=None,
    out: str | Path | None = None,
    data: str | None = None,
    split: str = "all",
    max_points: int = 5000,
    seed: int = 0,
    frames: int = 12,
    metrics: tuple = (),
    backend: str = "auto",
    progress: bool = True,
    log=print,
) -> Path:
    """Build the report of the model folder ``model`` (None: the shipped model) and write it to the HTML file
    ``out`` (default out/reports/MODEL.html), as `vaelab report` does. Returns its path."""
    from vaelab.models.shipped import model_folder

    out = report_path(model, out)
    result = report(model, data, split, max_points, seed, frames, metrics, backend, progress)
    write_report(result, out)
    log(f"report of {model_folder(model).name} written to {out} ({out.stat().st_size / 1e6:.1f} MB, self-contained)")
    return out


def report(
    model=None,
    data: str | None = None,
    split: str = "all",
    max_points: int = 5000,
    seed: int = 0,
    frames: int = 12,
    metrics: tuple = (),
    backend: str = "auto",
    progress: bool = True,
) -> ReportResult:
    """The report page of the model folder ``model`` (None: the shipped model): the model card, the training
    curves, every figure of explore, a morph strip and the metrics there are (``metrics``: more metrics files
    beside the folder's own eval.json). :func:`write_report` writes it."""
    from vaelab.models.config import read_model_json
    from vaelab.models.shipped import model_folder
    from vaelab.tasks.explore import explore
    from vaelab.viz.html_page import Section, render_report

    folder = model_folder(model)
    doc = read_model_json(folder)
    if frames < 2:
        raise VaelabError(f"--frames must be at least 2, got {frames}")
    extra = read_metrics(
        [Path(p) for p in metrics] + ([folder / EVAL_JSON] if (folder / EVAL_JSON).is_file() else []), folder
    )

    with tempfile.TemporaryDirectory(prefix="vaelab-report-") as work:
        work = Path(work)
        ex = explore(
            folder,
            data=data,
            out=work / "explore",
            split=split,
            max_points=max_points,
            seed=seed,
            backend=backend,
            progress=progress,
            log=lambda *a, **k: None,
        )
        s = ex.summary
        training = _training_section(folder, work)
        morph = _morph_section(folder, doc, ex.survey, frames, backend, extra, work)
        card = Section("Model card", tables=model_card(doc, parameter_count(folder)))
        scores = Section("Metrics", tables=metric_tables(doc, s, extra))
        sub = (
            f"{folder.name}: {doc['model']['kind']}, latent {doc['model']['latent_dim']}; figures from "
            f"{s['encoded']:,} {s['data']} images ({s['split']} split), {s['plotted']:,} of them plotted"
        )
        sections = [card, scores, training, *_explore_sections(ex), morph]
        page = render_report(f"vaelab report: {folder.name}", sub, sections)
    return ReportResult(page, folder, s)


def _training_section(folder: Path, work: Path):
    """The training curves drawn from the folder's metrics.jsonl, or a note that there are none."""
    from vaelab.viz.html_page import Figure, Section
    from vaelab.viz.training_curves import plot_training_curves

    records = read_records(folder / METRICS_JSONL)
    training = Section("Training", note="" if records else f"no {METRICS_JSONL} in {folder}: no curves to draw")
    if records:
        training.figures.append(
            Figure(
                "Training curves",
                "The train objective (mean of every 50 steps) and the "
                "test −ELBO per epoch; then the test −ELBO's two terms.",
                plot_training_curves(records, work / "curves.png"),
            )
        )
    return training


def _explore_sections(ex) -> list:
    """explore's figures, as the report's sections: the latent space, the dimensions, the traversals, and the
    reconstructions and samples."""
    from vaelab.tasks.explore import RECONSTRUCTIONS, SAMPLES
    from vaelab.viz.html_page import Figure, Section

    f, s = ex.files, ex.summary
    grids = Section(
        "Reconstructions and samples",
        [
            Figure("Reconstructions", "Inputs, each row over its decodings.", f[RECONSTRUCTIONS], pixelated=True),
            Figure(*_samples_caption(s), f[SAMPLES], pixelated=True),
        ],
    )
    return [_latent_section(ex), *_dimension_sections(f, s), grids]


def _latent_section(ex):
    """The scatters of the latent means, the interactive 3-D scatter and the decoded map."""
    from vaelab.tasks.explore import DECODED_MAP, SCATTER_2D, SCATTER_3D
    from vaelab.viz.html_page import Figure, Section
    from vaelab.viz.interactive import figure_div

    f = ex.files
    latent = Section(
        "Latent space",
        [
            Figure(
                "PCA of the latent means, 2-D",
                "Each point is one image's posterior mean, projected on the "
                "two principal components of all the means; colour is the class.",
                f[SCATTER_2D],
            ),
            Figure(
                "Interactive 3-D scatter",
                "Drag to turn, scroll to zoom, click a class in the legend to hide it; "
                "hovering a point shows its image in the bottom-left corner.",
                html=figure_div(ex.figure),
            ),
            Figure(
                "Decoded map",
                "The decodings of a lattice of points on the same plane (the other components at "
                "their mean), laid over the scatter: what the decoder makes of each region.",
                f[DECODED_MAP],
            ),
        ],
    )
    if SCATTER_3D in f:
        latent.figures.insert(1, Figure("PCA of the latent means, 3-D", "", f[SCATTER_3D]))
    return latent


def _dimension_sections(f: dict, s: dict) -> list:
    """The "Dimensions" section (KL bars and histograms) and the "Traversals" section."""
    from vaelab.tasks.explore import CLASS_HISTOGRAMS, HISTOGRAMS, KL_BARS, TRAVERSAL_GIF, TRAVERSALS
    from vaelab.viz.html_page import Figure, Section

    dims = Section("Dimensions")
    if KL_BARS in f:
        dims.figures.append(
            Figure(
                "KL per dimension",
                "The mean KL(q(z|x) ‖ N(0, 1)) of each dimension; a dimension above 0.01 nats is counted as active.",
                f[KL_BARS],
            )
        )
    vae = s["variational"]
    rank = "KL" if vae else "variance"
    against = ", against the N(0, 1) prior." if vae else " (no N(0, 1) prior to compare with)."
    dims.figures.append(
        Figure(
            "Histograms of the latent means" if vae else "Histograms of the codes",
            f"Every dimension, ordered by {rank}{against}",
            f[HISTOGRAMS],
        )
    )
    if CLASS_HISTOGRAMS in f:
        dims.figures.append(
            Figure(
                "Histograms per class",
                f"The dimensions with the most {rank}, one ridge per class.",
                f[CLASS_HISTOGRAMS],
            )
        )
    unit = "σ" if vae else "σ of its codes"
    span = s["traversal"]["span"]
    trav = Section(
        "Traversals",
        [
            Figure(
                "Traversal grid",
                f"One row per dimension (most {rank} first); each column moves that dimension "
                f"alone from −{span:g}{unit} to +{span:g}{unit} around {s['traversal']['center']}.",
                f[TRAVERSALS],
            ),
            Figure(
                "Traversal animation",
                "Every dimension at once, sweeping back and forth.",
                f[TRAVERSAL_GIF],
                pixelated=True,
            ),
        ],
    )
    return [dims, trav]


def _morph_section(folder: Path, doc: dict, sv, frames: int, backend: str, extra, work: Path):
    """A slerp morph strip between two distant images, and the morph-quality bars where evaluate measured them."""
    from vaelab.tasks.morph import run_morph
    from vaelab.viz.html_page import Figure, Section
    from vaelab.viz.media import contact_sheet

    i, j = pick_morph_pair(sv.latents, sv.labels)
    names = sv.class_names
    what = f"{names[sv.labels[i]]} → {names[sv.labels[j]]}" if sv.labels is not None else f"image #{i} → image #{j}"
    scale = max(1, 84 // doc["model"]["height"])
    result = run_morph(folder, images=[sv.images[i], sv.images[j]], frames=frames, upscale=scale, backend=backend)
    strip = work / "morph.png"
    contact_sheet(result.inputs, result.reconstructions, result.frames, [f"#{i}", f"#{j}"], per_row=frames).save(strip)
    morph = Section(
        "Morph",
        [
            Figure(
                f"Morph: {what}",
                f"{frames} slerp frames between the two images' codes; "
                "the top row shows each input beside its reconstruction.",
                strip,
                pixelated=True,
            )
        ],
    )
    quality = next((q for q in (morph_quality_of(d) for _, d in extra) if q), None)
    if quality is not None:
        from vaelab.metrics.interpolation import COMPARED
        from vaelab.viz.morph_figures import morph_quality_figure

        bars = morph_quality_figure(quality, work / "morph_quality.png", COMPARED)
        morph.figures.append(
            Figure(
                "Morph quality",
                f"From vaelab evaluate, over {quality['pairs']} random test pairs of {quality['frames']} frames, "
                "in the evaluator's features: how evenly each path's steps change the picture, and how much its "
                "frames look like test images. Grey: the cross-fades a morph must beat.",
                bars,
            )
        )
    return morph
