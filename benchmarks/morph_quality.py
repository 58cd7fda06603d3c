"""Morph quality: how lerp, slerp, cdf and slerp with even perceptual spacing compare with a pixel cross-fade and a
cross-fade of the reconstructions, on the shipped models, in the features of each data's own evaluator.

Run: .venv/bin/python benchmarks/morph_quality.py [--pairs 100] [--frames 16] [--reps 15] [--out out/morph-quality]

For each model it prints, over the same random test pairs (seeded):
- the morph-quality table of `vaelab evaluate` (vaelab.metrics.interpolation): perceptual path length, the deviation
  of the perceptual steps (0 = even), the KID of the frames between the ends against the test images, how often
  the target class's probability rises monotonically, and that probability at the middle frame;
- the even-spacing target: the mean step deviation of `run_morph(..., spacing="even")` against the default latent
  spacing at 24 frames, over other pairs (--spacing-seed), in four spaces: the evaluator's features, plain pixels,
  pixel SSIM (1 − SSIM per step) and an independent judge network trained here (benchmarks/judge.py); beside it the
  same re-timing measured in the evaluator's features alone (target: at most half in each space);
- its cost: the in-process run_morph time of both (medians of --reps interleaved calls; target: at most 3×) and
  `vaelab morph --spacing even` end to end beside the default (target: ≤ 1.0 s).
It writes two figures per model: each method's frames for one pair of different classes, beside the mean
perceptual step along the path; and one pair's frames under each spacing, beside the steps' shares in each space.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from judge import judge_features  # noqa: E402
from timing import median_wall  # noqa: E402
from vaelab.data.loaders import load_dataset  # noqa: E402
from vaelab.metrics.evaluate import labelled_for  # noqa: E402
from vaelab.metrics.interpolation import COMPARED, compared_paths, interpolation_metrics  # noqa: E402
from vaelab.metrics.paths import distance_deviation, random_pairs, step_distances  # noqa: E402
from vaelab.models.classifier import default_evaluator_for  # noqa: E402
from vaelab.models.registry import load  # noqa: E402
from vaelab.models.runtime import open_model  # noqa: E402
from vaelab.tasks.morph import perceptual_features, run_morph  # noqa: E402

SPACES = ("features", "pixels", "ssim", "judge")  # where the spacing target's steps are measured


def _steps_in_spaces(frames: np.ndarray, features, judge) -> dict:
    """The steps of one path's frames (T, C, H, W) in [0, 1] in each of SPACES (SSIM's as 1 − SSIM)."""
    from skimage.metrics import structural_similarity

    ssim = [
        1.0 - structural_similarity(a.transpose(1, 2, 0), b.transpose(1, 2, 0), channel_axis=2, data_range=1.0)
        for a, b in zip(frames[:-1], frames[1:])
    ]
    return {
        "features": step_distances(features(frames)),
        "pixels": step_distances(frames),
        "ssim": np.array(ssim),
        "judge": step_distances(judge(frames)),
    }


def spacing_target(m, ds, pairs: np.ndarray, frames: int, reps: int, judge) -> dict:
    """The mean step deviation over the pairs, in each of SPACES, of latent spacing, of `--spacing even` (the
    evaluator's features and pixels) and of the same re-timing in the evaluator's features alone; and the in-process
    times of latent and even spacing (medians)."""
    from vaelab.latent.interpolate import path
    from vaelab.metrics.paths import retime
    from vaelab.models.runtime import decode_batched
    from vaelab.tasks.morph import MIN_DENSE

    features = perceptual_features(m)
    dev = {k: {s: [] for s in SPACES} for k in ("latent", "even", "features-only")}
    shares = {k: {s: [] for s in SPACES} for k in dev}  # each step's share of the path, for the figure
    shown = None  # the first pair's frames, for the figure

    def unit(r):
        return np.stack([np.asarray(f, np.float32).reshape(*m.size, -1).transpose(2, 0, 1) / 255 for f in r.frames])

    for a, b in pairs:
        runs = {
            s: run_morph(m, images=[ds.images[a], ds.images[b]], frames=frames, spacing=s) for s in ("latent", "even")
        }
        dense = path(runs["latent"].latents[[0, -1]].astype(np.float64), max(MIN_DENSE, frames), "slerp", False)
        alone = retime(dense, step_distances(features(decode_batched(m, dense.astype(np.float32)))), frames)
        paths = {
            "latent": unit(runs["latent"]),
            "even": unit(runs["even"]),
            "features-only": np.clip(decode_batched(m, alone.astype(np.float32)), 0.0, 1.0),
        }
        if shown is None and ds.labels[a] != ds.labels[b]:
            shown = paths
        for k, x in paths.items():
            for s, d in _steps_in_spaces(x, features, judge).items():
                dev[k][s].append(distance_deviation(d))
                shares[k][s].append(d / max(d.sum(), 1e-12))
    times = {"latent": [], "even": []}
    a, b = ds.images[pairs[0, 0]], ds.images[pairs[0, 1]]
    for _ in range(reps):  # interleaved, so that both see the same load
        for spacing in times:
            t = time.perf_counter()
            run_morph(m, images=[a, b], frames=frames, spacing=spacing)
            times[spacing].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    mean = {k: {s: float(np.mean(v)) for s, v in d.items()} for k, d in dev.items()}
    return {
        "deviation": mean,
        "shares": {k: {s: np.mean(v, axis=0).tolist() for s, v in d.items()} for k, d in shares.items()},
        "shown": shown,
        "ratio": {k: {s: mean[k][s] / mean["latent"][s] for s in SPACES} for k in ("even", "features-only")},
        "deviation_latent": mean["latent"]["features"],
        "deviation_even": mean["even"]["features"],
        "deviation_ratio": mean["even"]["features"] / mean["latent"]["features"],
        "in_process_ms_latent": 1000 * med["latent"],
        "in_process_ms_even": 1000 * med["even"],
        "cost_ratio": med["even"] / med["latent"],
    }


def spacing_figure(target: dict, path: Path, title: str) -> None:
    """One pair of different classes: its frames under each spacing, beside each step's mean share of the path in
    each space."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(target["shown"])
    fig = plt.figure(figsize=(16, 1.05 * len(rows) + 2.6))
    grid = fig.add_gridspec(len(rows) + 1, len(SPACES), height_ratios=[1] * len(rows) + [2.4], hspace=0.35)
    for i, k in enumerate(rows):
        ax = fig.add_subplot(grid[i, :])
        strip = np.concatenate([f.transpose(1, 2, 0) for f in target["shown"][k]], axis=1)
        ax.imshow(strip[..., 0] if strip.shape[-1] == 1 else strip, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(k, rotation=0, ha="right", va="center", fontsize=9)
    for j, space in enumerate(SPACES):
        ax = fig.add_subplot(grid[-1, j])
        for k in rows:
            c = target["shares"][k][space]
            dev = target["deviation"][k][space]
            ax.plot(np.arange(1, len(c) + 1), c, lw=1.5, label=f"{k} ({dev:.2f})")
        ax.set_title(f"in {space}: each step's share of the path", fontsize=8)
        ax.set_xlabel("step", fontsize=8)
        ax.legend(fontsize=6, title="spacing (deviation)", title_fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def end_to_end(model: str, a: str, b: str, reps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        base = [sys.executable, "-m", "vaelab", "morph", a, b, "--model", model, "--out", str(Path(tmp) / "m")]
        latent = median_wall(base, reps)
        even = median_wall([*base, "--spacing", "even"], reps)
    return {"cli_s_latent": latent, "cli_s_even": even}


def figure(net, evaluator_space, z, ends, t, path: Path, title: str) -> None:
    """Each compared method's frames for one pair, beside the mean perceptual step along the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    curves = {}
    for method in COMPARED:
        decoded, _ = compared_paths(method, net, z, ends, t, evaluator_space, 256)
        rows.append(decoded[0])
        feats = evaluator_space(decoded.reshape(-1, *decoded.shape[2:])).reshape(len(decoded), len(t), -1)
        curves[method] = np.mean([step_distances(f) for f in feats], axis=0)
    fig = plt.figure(figsize=(14, 0.95 * len(rows) + 0.6))
    grid = fig.add_gridspec(len(rows), 2, width_ratios=[3.2, 1], wspace=0.3)
    for i, (method, frames) in enumerate(zip(COMPARED, rows)):
        ax = fig.add_subplot(grid[i, 0])
        strip = np.concatenate([f.transpose(1, 2, 0) for f in frames], axis=1)
        ax.imshow(strip[..., 0] if strip.shape[-1] == 1 else strip, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(method, rotation=0, ha="right", va="center", fontsize=9)
    ax = fig.add_subplot(grid[:, 1])
    for method, c in curves.items():
        ax.plot(np.arange(1, len(c) + 1), c, label=method, lw=1.5, ls="--" if "crossfade" in method else "-")
    ax.set_xlabel("step")
    ax.set_ylabel("perceptual step (mean over the pairs)")
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--models", default="fashion-mnist,emoji")
    ap.add_argument("--spacing-seed", type=int, default=1, help="seed of the spacing target's pairs")
    ap.add_argument("--skip-table", action="store_true", help="only the spacing target, its cost and the figure")
    ap.add_argument("--out", type=Path, default=Path("out/morph-quality"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    everything = {}
    for name in args.models.split(","):
        model, m = load(name), open_model(name)
        evaluator = default_evaluator_for(name)
        ds = labelled_for(evaluator, load_dataset(name))  # the evaluator's classes (emoji: its subgroups)
        test = ds.split("test")
        images, labels = ds.images[test], ds.labels[test]
        r = (
            {}
            if args.skip_table
            else interpolation_metrics(model, images, labels, evaluator, pairs=args.pairs, frames=args.frames)
        )
        if r:
            print(f"\n{name}: {r['pairs']} test pairs, {r['frames']} frames; evaluator features")
            heads = ("length", "deviation", "in pixels", "frame KID", "monotone", "p mid")
            print(f"  {'path':16s} " + " ".join(f"{h:>9s}" for h in heads))
            for method in COMPARED:
                s = r[method]
                print(
                    f"  {method:16s} {s['path_length']:9.1f} {s['step_deviation']:9.3f} "
                    f"{s['pixel_step_deviation']:9.3f} {s['frame_kid']:9.4f} "
                    f"{s.get('monotonic_fraction', float('nan')):9.3f} {s.get('target_prob_mid', float('nan')):9.3f}"
                )
        pairs = test[random_pairs(len(test), args.pairs, np.random.default_rng(0))]
        spaced = test[random_pairs(len(test), args.pairs, np.random.default_rng(args.spacing_seed))]
        target = spacing_target(m, ds, spaced, 24, args.reps, judge_features(name, ds, args.out))
        print(
            f"  spacing, 24 frames, {len(spaced)} pairs (seed {args.spacing_seed}): step deviation (÷ latent spacing's)"
        )
        print(f"    {'':22s}" + "".join(f"{s:>16s}" for s in SPACES))
        for k, d in target["deviation"].items():
            ratio = target["ratio"].get(k)
            print(f"    {k:22s}" + "".join(
                f"{d[s]:8.3f}" + (f" (x{ratio[s]:.2f})" if ratio else " " * 8) for s in SPACES))  # fmt: skip
        print(
            f"    target: ≤ x0.5 in each space; in process {target['in_process_ms_even']:.1f} ms against "
            f"{target['in_process_ms_latent']:.1f} ms (x{target['cost_ratio']:.2f}; target ≤ 3)"
        )
        spacing_path = args.out / f"morph-spacing-{name}.png"
        spacing_figure(
            target, spacing_path, f"{name}: one test pair under each spacing (24 frames); {len(spaced)} pairs"
        )
        print(f"  spacing figure: {spacing_path}")
        target = {k: v for k, v in target.items() if k != "shown"}
        refs = [f"{name}:test/{i}" for i in (0, 1)]
        cli = end_to_end(name, *refs, reps=5)
        print(
            f"  `vaelab morph {' '.join(refs)} --spacing even` end to end: {cli['cli_s_even']:.2f} s against "
            f"{cli['cli_s_latent']:.2f} s with latent spacing (target ≤ 1.0 s)"
        )
        # the figure: one pair of different classes, and the mean step over every pair
        from vaelab.models.perceptual import feature_space_for

        space = feature_space_for(name).features
        differ = np.flatnonzero(ds.labels[pairs[:, 0]] != ds.labels[pairs[:, 1]])
        order = np.r_[differ[:1], np.setdiff1d(np.arange(len(pairs)), differ[:1])]
        chosen = pairs[order]
        x = ds.images[chosen.reshape(-1)].astype(np.float32).reshape(len(chosen), 2, *ds.images.shape[1:]) / 255
        z = m.embed(x.reshape(-1, *x.shape[2:])).reshape(len(chosen), 2, -1).astype(np.float64)
        fig_path = args.out / f"morph-quality-{name}.png"
        title = f"{name}: one test pair of different classes; the mean perceptual step over {len(pairs)} pairs"
        figure(m, space, z, x, np.linspace(0, 1, args.frames), fig_path, title)
        print(f"  figure: {fig_path}")
        everything[name] = {"metrics": r, "spacing": target, "cli": cli}
    (args.out / "morph-quality.json").write_text(json.dumps(everything, indent=1))


if __name__ == "__main__":
    main()
