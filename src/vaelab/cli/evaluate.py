"""`vaelab evaluate`: every metric of a model on its test set, as a table and eval.json."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import add_model_options, at_most, data_arg, positive, seed
from vaelab.errors import VaelabError


def cmd_evaluate(args) -> None:
    from vaelab.data.loaders import load_dataset
    from vaelab.io.staging import check_out_folder
    from vaelab.metrics.evaluate import EvalConfig, evaluate_model, format_report, write_report
    from vaelab.models.classifier import evaluator_for
    from vaelab.models.config import DEFAULT_MODEL, EVAL_JSON, weights_id
    from vaelab.models.registry import load

    check_out_folder(args.out)  # a file there is refused now, not after every metric
    weights = weights_id(args.model or DEFAULT_MODEL)  # before loading: a run that saves meanwhile is not credited
    model = load(args.model or DEFAULT_MODEL)
    data = args.data or model.data_spec.get("name")
    if not data:
        raise VaelabError("the model folder does not record its dataset; pass --data")
    ds = load_dataset(data, channels=model.cfg.channels, size=(model.cfg.height, model.cfg.width))
    evaluator = evaluator_for(args.evaluator, ds.name)
    if evaluator is None:
        print(
            f"no evaluator for {ds.name}: fidelity, prior-sample confidence and target-class curves are "
            "skipped (make one with `vaelab train-evaluator` and pass --evaluator)"
        )
    cfg = EvalConfig(
        k=args.k,
        iwae_images=args.iwae_images,
        limit=args.limit,
        pairs=args.pairs,
        frames=args.frames,
        prior_samples=args.prior_samples,
        seed=args.seed,
    )
    report = evaluate_model(model, ds, evaluator, cfg, progress=not args.quiet, folder=args.model or DEFAULT_MODEL)
    report["model"]["folder"] = str(args.model or DEFAULT_MODEL)
    report["model"]["weights"] = weights  # so that report can tell a later epoch's weights
    if evaluator is not None:
        report["evaluator"] = {
            "folder": str(args.evaluator or "shipped"),
            "test_accuracy": evaluator.info.get("metrics", {}).get("test_accuracy"),
        }
    print(format_report(report))
    print(f"written to {write_report(report, args.out / EVAL_JSON)}")


def add(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="measure a model: -ELBO, IWAE, PSNR/SSIM, fidelity, interpolation",
        description="Measure a model on its test set and write eval.json: the -ELBO and an IWAE "
        "bound, reconstruction MSE/PSNR/SSIM, active units, semantic fidelity and "
        "prior-sample confidence under an evaluator classifier, the realism (KID, FD) and novelty of samples "
        "(of the prior, and of the density `vaelab fit-density` fitted, where the folder has one), and "
        "lerp/slerp/cdf interpolation metrics.",
    )
    add_model_options(p, backend=False)
    p.add_argument("--data", type=data_arg, help="dataset (default: the one the model was trained on)")
    p.add_argument(
        "--evaluator",
        type=Path,
        help="evaluator folder from `vaelab train-evaluator` (default: the shipped one for fashion-mnist or emoji; "
        "none: no evaluator)",
    )
    p.add_argument("--k", type=at_most(100_000), default=1000, help="IWAE importance samples per image (default 1000)")
    p.add_argument(
        "--iwae-images",
        type=at_most(100_000),
        default=500,
        help="test images for the IWAE bound, the first N (default 500)",
    )
    p.add_argument("--limit", type=positive, help="use only the first N test images for the other metrics")
    p.add_argument(
        "--pairs", type=at_most(100_000), default=100, help="random test pairs for interpolation (default 100)"
    )
    p.add_argument(
        "--frames",
        type=at_most(2000, low=3),
        default=16,
        help="frames per interpolation path, ends included (default 16, at least 3)",
    )
    p.add_argument(
        "--prior-samples", type=at_most(1_000_000), default=1000, help="decoded N(0, I) samples (default 1000)"
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--out", type=Path, default=Path("out/eval"), help="folder for eval.json (default out/eval)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)
