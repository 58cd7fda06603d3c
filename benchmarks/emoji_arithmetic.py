"""Ground truth for latent arithmetic: train the default vae-conv on emoji (64×64), then score analogies.

Run: .venv/bin/python benchmarks/emoji_arithmetic.py [--epochs 60] [--out runs/emoji-bench]

- Gender: woman P ≈ man P + mean over Q≠P of (woman Q − man Q), for every P with both emoji.
- Skin tone: dark B ≈ light B + mean over C≠B of (dark C − light C), for every base B with tones.
A prediction is a hit when its decoding is closer (pixel MSE) to the true target than to the source.
The mean over Q≠P is taken two ways: the arithmetic mean (the rule as stated) and the spherical mean (the
mean direction at the mean length of the differences, as `vaelab blend` blends codes).

Half the professions (their woman versions, all skin tones) and half the tone bases (their dark
versions) are *held out of training*; the offsets come from the other half only. With ``--folds K --fold i``
the pairs are dealt into K folds instead (professions and the other man/woman pairs each dealt evenly) and
fold i is held out, so the offsets come from the other K − 1 folds: closer to the rule's "mean over Q≠P",
and K runs hold out each profession exactly once (pool them with ``--pool``). Baselines, from the same
run: 'zero' (the offset replaced by 0) and 'pixel' (the same arithmetic on pixels).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import vaelab
from vaelab.data.emoji import SKIN_ORDER, gender_pairs, tone_pairs
from vaelab.metrics.analogy import OFFSETS, analogy_hit_rate, cluster_bootstrap_interval
from vaelab.models.config import ModelConfig
from vaelab.models.runtime import encode_batched
from vaelab.training.config import TrainConfig
from vaelab.training.vae import train

RATES = ("hit_rate", "baseline_zero", "baseline_pixel")  # analogy_hit_rate's rates, pooled over tones by n
TONES_KEY = "professions, held out, 6 tones"
SKIN_KEY = "skin tone light→dark, held out"


def split(rows: np.ndarray, rng, folds: int = 0, fold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(held out, in sample) of ``rows``: the first half of a permutation, or with ``folds`` the fold-th of
    ``folds`` near-equal parts of it."""
    perm = rng.permutation(np.asarray(rows))
    held = perm[: len(perm) // 2] if not folds else np.array_split(perm, folds)[fold]
    return np.sort(held), np.sort(np.setdiff1d(perm, held))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/emoji-bench"))
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    ap.add_argument("--sigma", type=float, default=0.1)
    ap.add_argument("--fc", type=int, default=0, help="vae-conv's hidden Linear layer each side of the code")
    ap.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="hold out this fraction of the training images to validate on; the best validated epoch "
        "is scored (the held-out professions never take part)",
    )
    ap.add_argument(
        "--patience",
        type=int,
        default=0,
        help="with --val-fraction: stop after this many epochs without a better validation -ELBO",
    )
    ap.add_argument(
        "--folds",
        type=int,
        default=0,
        help="deal the pairs into this many folds and hold out one (default: hold out half)",
    )
    ap.add_argument("--fold", type=int, default=0, help="with --folds: the fold to hold out, 0 to folds - 1")
    ap.add_argument(
        "--correction",
        choices=("none", "norm", "density"),
        default="none",
        help="bring each predicted code back to the training codes before decoding it (vaelab.latent.landing): "
        "norm (into their typical norms), density (a mixture fitted to them); results go to "
        "analogy_results_<correction>.json",
    )
    ap.add_argument("--skip-training", action="store_true", help="score the model already in --out")
    ap.add_argument(
        "--pool",
        type=Path,
        nargs="+",
        metavar="RUN",
        help="only pool the 6-tone gender and the skin-tone results already written in these runs (one per split), "
        "as scored with --correction",
    )
    args = ap.parse_args()
    if args.pool:
        name = results_name(args.correction)
        missing = [str(f) for f in args.pool if not (f / name).is_file()]
        if missing:
            ap.error(f"--pool: {', '.join(missing)} hold no {name} (run the benchmark there first)")
        return pool(args.pool, args.correction)
    if args.skip_training and not all((args.out / name).is_file() for name in ("config.json", "metrics.jsonl")):
        ap.error(f"--skip-training: {args.out} holds no model this benchmark trained (config.json, metrics.jsonl)")
    if args.folds and (args.folds < 2 or not 0 <= args.fold < args.folds):
        ap.error("--folds needs at least 2 folds, and --fold 0 to folds - 1")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    ds = vaelab.load_dataset("emoji")
    print(f"emoji: {len(ds)} images 3×64×64 ({time.perf_counter() - t0:.1f} s to load or render)")
    names = ds.attributes["name"]
    rng = np.random.default_rng(args.seed)
    gp, tp = gender_pairs(ds), tone_pairs(ds)
    if args.folds:  # deal professions and the other pairs apart, so every fold holds out its share of each
        role = np.array([ds.attributes["subgroup"][p[1]] == "person-role" for p in gp])
        parts = [split(np.flatnonzero(r), rng, args.folds, args.fold) for r in (role, ~role)]
        g_out, g_in = (np.sort(np.concatenate(side)) for side in zip(*parts))
    else:
        g_out, g_in = split(np.arange(len(gp)), rng)
    t_out, t_in = split(np.arange(len(tp)), rng, args.folds, args.fold)
    excluded = set()
    for i in g_out:  # the held-out woman P, in every skin tone
        woman = names[gp[i][2]]
        excluded |= {r for r, n in enumerate(names) if n == woman or (n.startswith(woman + ": ") and "skin tone" in n)}
    excluded |= {tp[i][2] for i in t_out}
    held_rows = np.array(sorted(excluded))
    ds.use_split(np.setdiff1d(np.arange(len(ds)), held_rows), held_rows, source="benchmarks/emoji_arithmetic.py")
    print(
        f"{len(gp)} gender pairs ({len(g_out)} held out), {len(tp)} light/dark pairs ({len(t_out)} held out); "
        f"training on {len(ds.train_idx)} images, {len(ds.test_idx)} held out"
    )

    # The held-out pairs must be the ones the model was trained without: record them, and check on re-scoring.
    dealt, record = {"seed": args.seed, "folds": args.folds, "fold": args.fold}, args.out / "benchmark_split.json"
    if not args.skip_training:
        train_model(args, ds)
        record.write_text(json.dumps(dealt) + "\n")
    elif record.is_file() and json.loads(record.read_text()) != dealt:
        raise SystemExit(
            f"{args.out} was trained holding out {record.read_text().strip()}, not {dealt}: "
            "give the same --seed/--folds/--fold to re-score it"
        )
    # Either way the same figure: the whole run's training steps (every epoch, not just up to the best, saved
    # one; without the per-epoch scoring and pictures), summed from its per-epoch records.
    train_s = sum(
        json.loads(line).get("epoch_seconds", 0.0) for line in (args.out / "metrics.jsonl").read_text().splitlines()
    )
    m = vaelab.open_model(args.out)
    score(args, ds, m, train_s, gp, tp, (g_out, g_in), (t_out, t_in))


def train_model(args, ds) -> None:
    cfg = ModelConfig(
        channels=3,
        height=64,
        width=64,
        latent_dim=args.latent,
        likelihood=args.likelihood,
        sigma=args.sigma,
        fc=args.fc,
    )
    train(
        cfg,
        ds,
        args.out,
        TrainConfig(epochs=args.epochs, val_fraction=args.val_fraction, patience=args.patience),
        progress=False,
    )


def score(args, ds, m, train_s, gp, tp, g_split, t_split) -> None:
    """Print and save the hit-rates; professions are the Unicode subgroup 'person-role'."""
    z = encode_batched(m, ds.images)
    x = ds.images.astype(np.float32) / 255.0
    land = landing(args.correction, z[ds.train_idx])
    # The model's own settings, not this command's flags: with --skip-training they may differ.
    doc = json.loads((args.out / "config.json").read_text())
    mc, epochs = doc["model"], doc["training"]["epochs_done"]  # with validation: the best validated epoch
    results = {
        "model": {
            "latent": mc["latent_dim"],
            "likelihood": mc["likelihood"],
            "sigma": mc["sigma"],
            "fc": mc.get("fc", 0),
        },
        "epochs": epochs,
        "train_seconds": round(train_s, 1),
        "train_images": int(len(ds.train_idx)),
        "val_fraction": doc["training"].get("val_fraction", 0.0),
        "split": {"seed": args.seed, "folds": args.folds, "fold": args.fold},
    }
    ran = sum(json.loads(line)["kind"] == "epoch" for line in (args.out / "metrics.jsonl").read_text().splitlines())
    results["epochs_run"] = ran
    print(
        f"trained {ran} epochs in {train_s:.0f} s ({ran * len(ds.train_idx) / train_s:.0f} img/s)"
        + (f"; scoring epoch {epochs}, the best validated one" if ran != epochs else "")
    )
    print(f"{'analogy':32s} {'n':>4s} {'offset':>9s} {'hit-rate':>9s} {'zero':>6s} {'pixel':>6s}")
    role = np.array([ds.attributes["subgroup"][p[1]] == "person-role" for p in gp])
    (g_out, g_in), (t_out, t_in) = g_split, t_split
    jobs = (
        ("professions man→woman", gp, g_out[role[g_out]], g_in[role[g_in]]),
        ("all man/woman pairs", gp, g_out, g_in),
        ("skin tone light→dark", tp, t_out, t_in),
    )
    shown: dict = {}
    for label, pairs, held, used in jobs:
        a = np.array([p[1] for p in pairs])
        b = np.array([p[2] for p in pairs])
        for which, evaluate in (("held out", held), ("in sample", used)):
            key = f"{label}, {which}"
            results[key] = {}
            for offset in OFFSETS:
                r = analogy_hit_rate(
                    z[a], z[b], x[a], x[b], m.decode, evaluate=evaluate, use=used, offset=offset, land=land
                )
                results[key][offset] = {k: v for k, v in r.items() if k not in ("hits", "predictions")}
                if label.startswith("professions") and which == "held out":
                    shown[offset] = r
                print_row(key, offset, r)
    key = TONES_KEY
    results[key] = every_tone(ds, z, x, m, {gp[i][0] for i in jobs[0][2]}, {gp[i][0] for i in jobs[0][3]}, land)
    for offset, r in results[key].items():
        print_row(key, offset, r)
    results["correction"] = args.correction
    name = results_name(args.correction)
    (args.out / name).write_text(json.dumps(results, indent=2) + "\n")
    held = jobs[0][2]
    picture(
        x[[gp[p][1] for p in held]],
        shown,
        x[[gp[p][2] for p in held]],
        [names_of(ds, gp[p][1]) for p in held],
        args.out / "analogies_professions.png",
    )
    print(f"results in {args.out / name}, picture {args.out / 'analogies_professions.png'}")


def landing(correction: str, train_codes: np.ndarray):
    """The correction of predicted codes (N, D) → (N, D): None for "none", else each code brought back to the
    training codes by vaelab's arithmetic correction, with their band of typical norms or a mixture fitted to them."""
    from vaelab.latent.density import choose_mixture
    from vaelab.latent.landing import land_on_density, land_on_norm, norm_band, typical_log_density

    if correction == "none":
        return None
    if correction == "norm":
        band = norm_band(train_codes)
        return lambda codes: np.stack([land_on_norm(c, *band).code for c in codes])
    mixture = choose_mixture(train_codes).mixture
    target = typical_log_density(mixture)
    return lambda codes: np.stack([land_on_density(c, mixture, target).code for c in codes])


def every_tone(ds, z, x, m, held: set[str], used: set[str], land=None) -> dict:
    """The held-out professions scored in each of the six skin tones (none + 5), each tone's offset from the
    same tone's in-sample professions, pooled: 6× the analogies of the untoned rule, so a steadier rate."""
    rates: dict = {}
    for skin in SKIN_ORDER:
        pairs = gender_pairs(ds, skin)
        a = np.array([p[1] for p in pairs])
        b = np.array([p[2] for p in pairs])
        evaluate = np.array([q for q, p in enumerate(pairs) if p[0] in held])
        use = np.array([q for q, p in enumerate(pairs) if p[0] in used])
        for offset in OFFSETS:
            r = analogy_hit_rate(z[a], z[b], x[a], x[b], m.decode, evaluate=evaluate, use=use, offset=offset, land=land)
            tally = rates.setdefault(offset, {**dict.fromkeys((*RATES, "n"), 0), "analogies": []})
            for k in RATES:
                tally[k] += r[k] * r["n"]
            tally["n"] += r["n"]
            tally["analogies"] += [[pairs[q][0], skin, bool(h)] for q, h in zip(evaluate, r["hits"])]
    for tally in rates.values():
        for k in RATES:
            tally[k] /= tally["n"]
        tally["interval_95"] = interval(tally["analogies"])
    return rates


def interval(analogies: list) -> list[float]:
    """95 % bootstrap interval of the hit-rate of [cluster, skin, hit] rows, resampling whole clusters (a
    profession's six tones succeed or fail together more often than apart)."""
    hits = np.array([h for *_, h in analogies], bool)
    clusters = np.array([str(c) for c, *_ in analogies])
    return list(cluster_bootstrap_interval(hits, clusters, np.random.default_rng(0)))


def results_name(correction: str) -> str:
    """The results file of a run scored with ``correction``."""
    return "analogy_results.json" if correction == "none" else f"analogy_results_{correction}.json"


def pool(folders: list[Path], correction: str = "none") -> None:
    """The 6-tone gender rate over several splits' results, with its interval (clusters: split × profession), and
    the held-out skin-tone rate; of the runs as scored with ``correction``."""
    docs = [json.loads((f / results_name(correction)).read_text()) for f in folders]
    splits = [d.get("split", {}) for d in docs]
    if any(s.get("folds") for s in splits):  # folds of one dealing, each once: every profession held out once
        dealt = {(s.get("seed"), s.get("folds")) for s in splits}
        if len(dealt) > 1 or len({s.get("fold") for s in splits}) < len(splits):
            raise SystemExit(f"--pool: these runs are not distinct folds of one dealing: {splits}")
    for offset in OFFSETS:
        rows = []
        for f, doc in zip(folders, docs):
            rows += [[f"{f}/{c}", s, h] for c, s, h in doc[TONES_KEY][offset]["analogies"]]
        lo, hi = interval(rows)
        hits = sum(h for *_, h in rows)
        print(
            f"{offset:>9s} offset: {hits} of {len(rows)} = {hits / len(rows):.1%}, 95 % interval {lo:.1%} to "
            f"{hi:.1%} (bootstrap over {len({c for c, *_ in rows})} split × profession clusters)"
        )
    for offset in OFFSETS:
        rates = [doc[SKIN_KEY][offset] for doc in docs]
        hits, n = sum(round(r["hit_rate"] * r["n"]) for r in rates), sum(r["n"] for r in rates)
        print(f"{offset:>9s} offset, skin tone light→dark, held out: {hits} of {n} = {hits / n:.1%}")


def print_row(key: str, offset: str, r: dict) -> None:
    ci = f"  (95 % interval {r['interval_95'][0]:.1%}–{r['interval_95'][1]:.1%})" if "interval_95" in r else ""
    print(
        f"{key:32s} {r['n']:4d} {offset:>9s} {r['hit_rate']:9.1%} {r['baseline_zero']:6.1%} "
        f"{r['baseline_pixel']:6.1%}{ci}"
    )


def names_of(ds, row: int) -> str:
    return ds.attributes["name"][row].replace("man ", "", 1)


def picture(sources: np.ndarray, shown: dict, targets: np.ndarray, labels: list[str], path: Path) -> None:
    """One row per held-out profession: man P, the prediction with each offset (✓ = hit), the true woman P."""
    from vaelab.viz.figures import pyplot, save_figure

    plt = pyplot()
    columns = (
        [("man P", sources, None)]
        + [(f"{o} offset", shown[o]["predictions"], shown[o]["hits"]) for o in OFFSETS]
        + [("woman P (truth)", targets, None)]
    )
    fig, axes = plt.subplots(
        len(labels), len(columns), figsize=(1.3 * len(columns) + 1.6, 1.3 * len(labels)), dpi=80, squeeze=False
    )
    for r, label in enumerate(labels):
        for c, (title, images, hits) in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(np.clip(images[r].transpose(1, 2, 0), 0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
            if hits is not None:
                ax.set_xlabel("hit" if hits[r] else "miss", fontsize=8, color="green" if hits[r] else "red")
            if r == 0:
                ax.set_title(title, fontsize=9)
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.tight_layout()
    save_figure(fig, path, dpi=80)


if __name__ == "__main__":
    main()
