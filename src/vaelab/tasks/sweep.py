"""The latent-size sweep of the latent-space interpolation blog post ("Experiments with variational autoencoders and
latent space interpolation"), measured instead of looked at: train one model per (kind, latent size) with vaelab's
trainer, then report per size the -ELBO, KL, active units, semantic fidelity, the evaluator's confidence on prior
samples and the training time, as a markdown table, a CSV and a figure.

Sweeping ``ae-mlp`` beside ``vae-conv`` gives the AE-vs-VAE comparison: decoded random vectors of a plain
autoencoder are poor images, which shows as low evaluator confidence on its prior samples.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError
from vaelab.io.atomic import write_text_atomic
from vaelab.io.run_lock import run_folder_lock
from vaelab.metrics.activity import active_units
from vaelab.metrics.evaluate import check_evaluator, json_safe, labelled_for
from vaelab.metrics.fidelity import prior_sample_quality, semantic_fidelity
from vaelab.metrics.likelihood import elbo
from vaelab.models.config import CONFIG_NAME, ModelConfig, read_model_json
from vaelab.models.registry import KL_NEUTRAL, MODELS
from vaelab.progress import counted
from vaelab.training.config import SweepConfig
from vaelab.viz.figures import save_figure
from vaelab.viz.grids import side_by_side_figure

SWEEP_KINDS = tuple(k for k in MODELS if k != "cycle-vae")  # the cycle-VAE needs labels and its own loop

if TYPE_CHECKING:  # the trainer (and torch) load only when a sweep runs
    from vaelab.training.config import TrainConfig

PICTURE_IMAGES, PICTURES_NAME = 8, "sweep_pictures.png"  # test images (each class in turn) and samples a model
COLUMNS = [
    "model",
    "latent",
    "neg_elbo",
    "recon",
    "kl",
    "active_units",
    "fidelity",
    "accuracy_reconstruction",
    "prior_confidence",
    "prior_coverage",
    "train_seconds",
    "epochs",
]


def _folder_plan(folder: Path, model_cfg: ModelConfig, train_cfg: TrainConfig, dataset: ImageDataset) -> str:
    """What the sweep does with ``folder``: "train" a new model, "reuse" the same model trained the same way on
    the same images for the same epochs, or "extend" it (resume) when it trained for fewer. A model trained
    otherwise is refused rather than overwritten: it may have cost hours."""
    from vaelab.training.checkpoint import CHECKPOINT_NAME

    if not (folder / CONFIG_NAME).is_file():
        return "train"
    doc = read_model_json(folder)
    training, data, wanted = doc.get("training", {}), doc.get("data") or {}, dataset.spec()
    theirs = ModelConfig.from_dict(doc["model"])
    changed = [
        f"{k} {getattr(theirs, k)} (asked {getattr(model_cfg, k)})"
        for k in asdict(model_cfg)
        if getattr(theirs, k) != getattr(model_cfg, k)
    ]
    changed += [
        f"{k} {training.get(k)} (asked {v})"
        for k, v in (("batch_size", train_cfg.batch_size), ("lr", train_cfg.lr), ("seed", train_cfg.seed))
        if training.get(k) != v
    ]
    changed += [f"data {k} {data.get(k)} (asked {wanted[k]})" for k in ("name", "limit") if data.get(k) != wanted[k]]
    if training.get("processes", 1) != 1:  # the sweep trains on one process: going on would change the batch
        changed.append(f"{training['processes']} processes (the sweep trains on 1)")
    done = training.get("epochs_done", 0)
    if changed:
        raise VaelabError(
            f"{folder} holds a model trained with other settings: {'; '.join(changed)}. Give the "
            "same settings to reuse it, or another --out"
        )
    if done > train_cfg.epochs:
        raise VaelabError(
            f"{folder} holds a model trained for {counted(done, 'epoch')}; give --epochs {done} or more to "
            "reuse it, or another --out"
        )
    if done < train_cfg.epochs and not (folder / CHECKPOINT_NAME).is_file():
        raise VaelabError(
            f"{folder} holds a model trained for {counted(done, 'epoch')} and no checkpoint to go on from; "
            "give another --out"
        )
    return "reuse" if done == train_cfg.epochs else "extend"


def sweep_row(model, dataset: ImageDataset, evaluator, cfg: SweepConfig) -> dict:
    """The measurements of one trained model on the test split (first ``cfg.eval_images``)."""
    test = dataset.split("test")[: cfg.eval_images] if cfg.eval_images else dataset.split("test")
    images = dataset.images[test]
    e = elbo(model, images, seed=cfg.seed)
    row = {
        "model": model.cfg.kind,
        "latent": model.cfg.latent_dim,
        # A plain AE's loss is its reconstruction NLL alone, which bounds nothing: no -ELBO, no KL.
        "neg_elbo": e["neg_elbo"] if model.variational else None,
        "recon": e["recon"],
        "kl": e["kl"] if model.variational else None,
        "active_units": active_units(model, images)["active"],
    }
    if evaluator is not None and dataset.labels is not None:
        f = semantic_fidelity(model, evaluator, images, dataset.labels[test])
        row.update(fidelity=f["fidelity"], accuracy_reconstruction=f["accuracy_reconstruction"])
    if evaluator is not None:
        p = prior_sample_quality(model, evaluator, cfg.prior_samples, cfg.seed, dataset.class_names)
        row.update(prior_confidence=p["confidence"], prior_coverage=p["coverage"])
    return row


def run_sweep(
    dataset: ImageDataset,
    out: str | Path,
    evaluator=None,
    cfg: SweepConfig | None = None,
    base: ModelConfig | None = None,
    progress: bool = True,
) -> list[dict]:
    """Train and measure one model per (kind, latent size) into ``out/<kind>-z<size>/``; write the table,
    CSV, JSON and figure into ``out``; return the rows. A folder already trained with the same settings is
    measured again without retraining."""
    from tqdm import tqdm

    from vaelab.models.registry import load
    from vaelab.training.config import TrainConfig
    from vaelab.training.vae import each_class_in_turn, train

    cfg = cfg or SweepConfig()
    if not cfg.kinds:
        raise VaelabError(f"--model names no kind to sweep; give {' or '.join(SWEEP_KINDS)}, or both with a comma")
    if cfg.eval_images is not None and cfg.eval_images < 2:
        raise VaelabError(
            f"--eval-images must be at least 2 (active units are a variance over images), got {cfg.eval_images}"
        )
    for kind in cfg.kinds:
        if kind not in SWEEP_KINDS:
            raise VaelabError(f"the sweep trains {' or '.join(SWEEP_KINDS)}, not {kind!r}")
    if not cfg.latents or min(cfg.latents) < 1:
        raise VaelabError("--latent needs one or more sizes ≥ 1, e.g. 2,8,16,32,64,128")
    for what, values in (("--latent", cfg.latents), ("--model", cfg.kinds)):
        twice = sorted({str(v) for v in values if list(values).count(v) > 1})
        if twice:
            raise VaelabError(f"{what} names {', '.join(twice)} more than once; each would train the same model")
    if evaluator is not None:
        dataset = labelled_for(evaluator, dataset)  # as the evaluator was trained: emoji's by their subgroups
        check_evaluator(evaluator, dataset)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.limit:
        dataset = replace(dataset)  # a copy: the caller's set stays whole
        dataset.limit_train(cfg.limit)
    base = base or ModelConfig()
    # No ONNX export: sweep models are for measuring, and export costs seconds at every epoch.
    train_cfg = TrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, device=cfg.device, onnx=False
    )
    fields = {k: v for k, v in asdict(base).items() if k not in ("kind", "latent_dim", "channels", "height", "width")}
    plans = []  # every folder is checked before any training, so that a refusal costs nothing
    for kind in cfg.kinds:
        for d in cfg.latents:
            kl_free = {} if MODELS[kind].variational else KL_NEUTRAL
            model_cfg = ModelConfig(
                kind=kind,
                latent_dim=d,
                channels=dataset.channels,
                height=dataset.size[0],
                width=dataset.size[1],
                **{**fields, **kl_free},
            )  # an AE has no KL to weigh
            folder = out / f"{kind}-z{d}"
            plans.append((model_cfg, folder, _folder_plan(folder, model_cfg, train_cfg, dataset)))
    rows, examples = [], []
    test = dataset.split("test")
    originals = dataset.images[
        test[each_class_in_turn(None if dataset.labels is None else dataset.labels[test], len(test))[:PICTURE_IMAGES]]
    ]
    with run_folder_lock(out):  # one sweep per folder: a second one given the same --out is refused
        for model_cfg, folder, plan in plans:
            kind, d = model_cfg.kind, model_cfg.latent_dim
            if plan == "reuse":
                tqdm.write(f"{folder}: already trained for {cfg.epochs} epochs; measuring it again")
                model = load(folder)
            elif plan == "extend":
                tqdm.write(f"{folder}: training {kind} with latent {d} on to {cfg.epochs} epochs")
                model = train(None, dataset, folder, train_cfg, resume=True, progress=progress)
            else:
                tqdm.write(f"training {kind} with latent {d} for {cfg.epochs} epochs → {folder}")
                model = train(model_cfg, dataset, folder, train_cfg, progress=progress)
            t = time.perf_counter()
            row = sweep_row(model, dataset, evaluator, cfg)
            training = read_model_json(folder).get("training", {})
            row.update(train_seconds=training.get("train_seconds"), epochs=training.get("epochs_done"))
            row["measure_seconds"] = round(time.perf_counter() - t, 1)
            rows.append(row)
            examples.append((f"{kind} z={d}", *model_examples(model, originals, PICTURE_IMAGES, cfg.seed)))
            write_sweep_outputs(rows, out)  # after every size, so an interrupted sweep keeps what it has
            save_figure(
                side_by_side_figure(originals, examples, f"latent-size sweep on {dataset.name}"), out / PICTURES_NAME
            )
    return rows


def model_examples(model, images: np.ndarray, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A trained model's reconstructions of ``images`` (uint8) and its decodings of ``n_samples`` prior samples
    drawn with ``seed`` (the same draw for every model of one latent size), both in [0, 1]."""
    import torch

    device = next(model.parameters()).device
    with torch.no_grad():
        x = torch.from_numpy(images).to(device).float().div_(255)
        z = torch.randn(n_samples, model.cfg.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
        return model.decode(model.embed(x)).cpu().numpy(), model.decode(z).cpu().numpy()


def _cell(v, digits: int = 2) -> str:
    if v is None:
        return "—"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def sweep_markdown(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    head = [
        "model",
        "latent",
        "−ELBO (nats)",
        "recon (nats)",
        "KL (nats)",
        "active units",
        "fidelity",
        "prior-sample confidence",
        "prior coverage",
        "train s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(
            "| "
            + " | ".join(
                [
                    r["model"],
                    str(r["latent"]),
                    _cell(r["neg_elbo"]),
                    _cell(r["recon"]),
                    _cell(r["kl"]),
                    f"{r['active_units']}/{r['latent']}",
                    _cell(r.get("fidelity"), 3),
                    _cell(r.get("prior_confidence"), 3),
                    _cell(r.get("prior_coverage"), 3),
                    _cell(r.get("train_seconds"), 0),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def sweep_csv(rows: list[dict]) -> str:
    """The rows as CSV, one column per measurement (empty where not measured)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS + ["measure_seconds"], extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS + ["measure_seconds"]})
    return buf.getvalue()


def plot_sweep(rows: list[dict], path: Path) -> None:
    """Four panels against the latent size (log scale), one line per model kind, saved as a PNG."""
    from vaelab.viz.figures import save_figure

    save_figure(sweep_figure(rows), path, dpi=100)


def sweep_figure(rows: list[dict]):
    """The matplotlib figure of ``plot_sweep``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(r["model"] for r in rows))
    sizes = sorted({r["latent"] for r in rows})
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), dpi=100)
    panels = [
        ("neg_elbo", "−ELBO (nats / image); AE: recon NLL", axes[0, 0]),
        ("fidelity", "semantic fidelity (acc. recon ÷ acc. original)", axes[0, 1]),
        ("prior_confidence", "prior samples: evaluator confidence (—), coverage (- -)", axes[1, 0]),
        ("active_units", "active units", axes[1, 1]),
    ]
    colours = {kind: f"C{i}" for i, kind in enumerate(kinds)}
    for key, title, ax in panels:
        for kind in kinds:
            rs = [r for r in rows if r["model"] == kind]
            ys = [r["recon"] if key == "neg_elbo" and r["neg_elbo"] is None else r.get(key) for r in rs]
            pts = [(r["latent"], y) for r, y in zip(rs, ys) if y is not None]
            if pts:
                ax.plot(*zip(*pts), "o-", color=colours[kind], label=kind)
            # Confidence alone can mislead: an AE's random decodings can all look confidently like one class.
            cov = [(r["latent"], r["prior_coverage"]) for r in rs if r.get("prior_coverage") is not None]
            if key == "prior_confidence" and cov:
                ax.plot(*zip(*cov), "s--", color=colours[kind], alpha=0.7, label=f"{kind} coverage")
        if key == "active_units":
            ax.plot(sizes, sizes, ":", color="grey", label="all units")
            # log-like above 1 but linear through 0, so that a collapsed model (0 active units) still shows
            ax.set_yscale("symlog", base=2, linthresh=1)
            ax.set_yticks([0, *sizes], ["0", *map(str, sizes)])
            ax.set_ylim(bottom=-0.3)
        ax.set_xscale("log", base=2)
        ax.set_xlim(min(sizes) / 1.4, max(sizes) * 1.4)  # the same span on a panel with nothing measured
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_xlabel("latent size")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, framealpha=0.6)
        else:
            ax.text(0.5, 0.5, "not measured (no evaluator)", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle("latent-size sweep", fontsize=12)
    fig.tight_layout()
    return fig


def write_sweep_outputs(rows: list[dict], out: Path) -> dict[str, Path]:
    """sweep.md, sweep.csv, sweep.json and sweep.png in ``out``, each written to a temp name and renamed."""
    paths = {
        "markdown": out / "sweep.md",
        "csv": out / "sweep.csv",
        "json": out / "sweep.json",
        "figure": out / "sweep.png",
    }
    write_text_atomic(paths["markdown"], sweep_markdown(rows))
    write_text_atomic(paths["csv"], sweep_csv(rows))
    write_text_atomic(paths["json"], json.dumps(json_safe(rows), indent=2, allow_nan=False) + "\n")
    plot_sweep(rows, paths["figure"])
    return paths
