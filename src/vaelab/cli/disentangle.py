"""`vaelab disentangle`: swap grids, s × z interpolation, traversals, leakage probes, z↔s predictors and the
disentanglement metrics of a model."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import add_model_options, at_most, data_arg, seed

FEW_PROBE_TEST = 200  # test codes below which a probe's accuracy is too noisy to read without a warning


def _summary_lines(r) -> list[str]:
    lines = []
    if r.probes:
        lines.append(
            f"leakage probes on {r.probe_source} (MLP, {r.probes['n_train']} train / {r.probes['n_test']} "
            f"test codes; chance {r.probes['chance']:.1%} = the largest class's share):"
        )
        parts = [name for name, v in r.probes.items() if isinstance(v, dict)]
        width = max(map(len, parts))
        lines += [
            f"  label from {name:{width}s}  train {r.probes[name]['train_accuracy']:.1%}  "
            f"test {r.probes[name]['test_accuracy']:.1%}"
            for name in parts
        ]
        if r.probes["n_test"] < FEW_PROBE_TEST:
            lines.append(
                f"  (only {r.probes['n_test']} test codes: these accuracies can move by "
                f"{100 / r.probes['n_test'] ** 0.5:.0f} points from one draw to the next; more data "
                "steadies them)"
            )
        if "s" in parts and "z" in parts and r.probes["z"]["test_accuracy"] > r.probes["s"]["test_accuracy"]:
            lines.append(
                "  (z reads the label better than s: the class has leaked into z, the opposite of "
                "disentangled; train longer or raise --kl-coef)"
            )
    if r.predictors:
        p = r.predictors
        recon = p.get("reconstruction_mse", float("nan"))
        lines.append(f"predictors (test R²; regeneration MSE against the inputs, reconstruction {recon:.5f}):")
        lines += [
            f"  {name.replace('_to_', '→')}  R² {p[name]['test_r2']:.3f}  regeneration MSE "
            f"{p[name].get('regeneration_mse', float('nan')):.5f}"
            for name in ("z_to_s", "s_to_z")
        ]
    if r.metrics:
        m = r.metrics
        d = m["dci"]
        lines.append(
            f"metrics: MIG {m['mig']['mig']:.3f}  BetaVAE {m['beta_vae']['eval_accuracy']:.3f}  "
            f"FactorVAE {m['factor_vae']['eval_accuracy']:.3f}  DCI D {d['disentanglement']:.3f} "
            f"C {d['completeness']:.3f} I {d['informativeness_test']:.3f}  SAP {m['sap']['sap']:.3f}"
        )
        lines.append(
            f"  (0 is none for MIG, DCI D/C and SAP; a useless code scores chance on the accuracies: "
            f"BetaVAE {m['beta_vae']['chance']:.3f}, FactorVAE {m['factor_vae']['chance']:.3f}, "
            f"DCI I {d['chance']:.3f})"
        )
    return lines


def cmd_disentangle(args) -> None:
    from vaelab.io.staging import check_out_folder
    from vaelab.tasks.disentangle import disentangle, write_disentangle

    check_out_folder(args.out)  # an --out that is a file: said before the minutes of work, not after
    r = disentangle(
        args.model,
        data=args.data,
        grid=args.grid,
        steps=args.steps,
        probe_images=args.probe_images,
        metrics_scale=args.metrics_scale,
        seed=args.seed,
        backend=args.backend,
        progress=None if args.quiet else lambda msg: print(f"… {msg}", flush=True),
    )
    write_disentangle(r, args.out, model=args.model, seed=args.seed)
    for line in _summary_lines(r):
        print(line)
    print(f"written to {args.out}")


def add(sub) -> None:
    p = sub.add_parser(
        "disentangle",
        help="swap grids, traversals, leakage probes and disentanglement metrics",
        description="Look at how a model splits its latent space: for a cycle-vae the style-"
        "transfer grid, s × z interpolation, label probes on s and z and z↔s predictors; "
        "for a VAE traversals and a probe on the code; on sprites data MIG, BetaVAE, "
        "FactorVAE, DCI and SAP too.",
    )
    add_model_options(p)
    p.add_argument(
        "--data", type=data_arg, help="data (default: the model's training data); sprites[:N] adds the metrics"
    )
    p.add_argument("--out", type=Path, default=Path("out/disentangle"))
    p.add_argument("--grid", type=at_most(64), default=8, help="test images along each side of the swap grid")
    p.add_argument("--steps", type=at_most(64), default=8, help="steps along each side of the interpolation grid")
    p.add_argument("--probe-images", type=int, default=10000, help="images encoded for probes and predictors")
    p.add_argument(
        "--metrics-scale",
        type=float,
        default=0.1,
        help="fraction of disentanglement_lib's sample sizes for the metrics (1 = theirs; slow on a CPU)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_disentangle)
