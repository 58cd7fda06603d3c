"""Morph quality: how lerp, slerp, cdf and slerp with even perceptual spacing compare with a pixel cross-fade and a
cross-fade of the reconstructions, on the shipped models, in the features of each data's own evaluator.

Run: .venv/bin/python benchmarks/morph_quality.py [--pairs 100] [--frames 16] [--reps 15] [--out out/morph-quality]

For each model it prints, over the same random test pairs (seeded):
- the morph-quality table of `vaelab evaluate` (vaelab.metrics.interpolation): perceptual path length, the deviation
  of the perceptual steps (0 = even), the KID of the frames between the ends against the test images, how often
  the target class's probability rises monotonically, and that probability at the middle frame;
- the even-spacing target: the mean step deviation of `run_morph(..., spacing="even")` against the default latent
  spacing at 24 frames over the pairs (target: at most half);
- its cost: the in-process run_morph time of both (medians of --reps interleaved calls; target: at most 3×) and
  `vaelab morph --spacing even` end to end beside the default (target: ≤ 1.0 s).
It writes one figure per model: each method's frames for one pair of different classes, beside the mean
perceptual step along the path.
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
from timing import median_wall  # noqa: E402
from vaelab.data.loaders import load_dataset  # noqa: E402
from vaelab.metrics.evaluate import labelled_for  # noqa: E402
from vaelab.metrics.interpolation import COMPARED, compared_paths, interpolation_metrics  # noqa: E402
from vaelab.metrics.paths import random_pairs, step_deviation, step_distances  # noqa: E402
from vaelab.models.classifier import default_evaluator_for  # noqa: E402
from vaelab.models.registry import load  # noqa: E402
from vaelab.models.runtime import open_model  # noqa: E402
from vaelab.tasks.morph import perceptual_features, run_morph  # noqa: E402


def spacing_target(m, ds, pairs: np.ndarray, frames: int, reps: int) -> dict:
    """Mean step deviation of latent and even spacing over the pairs, and their in-process times (medians)."""
    features = perceptual_features(m)
    dev = {"latent": [], "even": []}
    for a, b in pairs:
        for spacing in dev:
            r = run_morph(m, images=[ds.images[a], ds.images[b]], frames=frames, spacing=spacing)
            x = np.stack([np.asarray(f, np.float32).reshape(*m.size, -1).transpose(2, 0, 1) / 255 for f in r.frames])
            dev[spacing].append(step_deviation(features(x)))
    times = {"latent": [], "even": []}
    a, b = ds.images[pairs[0, 0]], ds.images[pairs[0, 1]]
    for _ in range(reps):  # interleaved, so that both see the same load
        for spacing in times:
            t = time.perf_counter()
            run_morph(m, images=[a, b], frames=frames, spacing=spacing)
            times[spacing].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "deviation_latent": float(np.mean(dev["latent"])),
        "deviation_even": float(np.mean(dev["even"])),
        "deviation_ratio": float(np.mean(dev["even"]) / np.mean(dev["latent"])),
        "in_process_ms_latent": 1000 * med["latent"],
        "in_process_ms_even": 1000 * med["even"],
        "cost_ratio": med["even"] / med["latent"],
    }


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
        r = interpolation_metrics(model, images, labels, evaluator, pairs=args.pairs, frames=args.frames)
        print(f"\n{name}: {r['pairs']} test pairs, {r['frames']} frames; evaluator features")
        print(f"  {'path':16s} {'length':>7s} {'deviation':>9s} {'frame KID':>9s} {'monotone':>8s} {'p mid':>6s}")
        for method in COMPARED:
            s = r[method]
            print(
                f"  {method:16s} {s['path_length']:7.1f} {s['step_deviation']:9.3f} {s['frame_kid']:9.4f} "
                f"{s.get('monotonic_fraction', float('nan')):8.3f} {s.get('target_prob_mid', float('nan')):6.3f}"
            )
        pairs = test[random_pairs(len(test), args.pairs, np.random.default_rng(0))]
        target = spacing_target(m, ds, pairs, 24, args.reps)
        print(
            f"  even spacing, 24 frames, {len(pairs)} pairs: step deviation {target['deviation_even']:.3f} against "
            f"{target['deviation_latent']:.3f} (x{target['deviation_ratio']:.2f}; target ≤ 0.5); in process "
            f"{target['in_process_ms_even']:.1f} ms against {target['in_process_ms_latent']:.1f} ms "
            f"(x{target['cost_ratio']:.2f}; target ≤ 3)"
        )
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
