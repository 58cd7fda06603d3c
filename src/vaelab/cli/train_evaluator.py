"""`vaelab train-evaluator`: train the classifier that judges decoded images."""

from __future__ import annotations

from pathlib import Path

from vaelab.cli.args import add_training_data_options, data_arg, positive, positive_number, seed
from vaelab.progress import counted


def cmd_train_evaluator(args) -> None:
    from vaelab.data.loaders import load_dataset
    from vaelab.models.config import check_model_folder
    from vaelab.training.classifier import ClassifierTrainConfig, train_classifier

    check_model_folder(args.out, evaluator=True)  # before the banner and the data: an --out that cannot be written
    ds = load_dataset(args.data, channels=args.channels, size=args.size, strict=True)
    if args.limit:
        ds.limit_train(args.limit)
    if args.label:  # after the limit: a class needs its training images among those that train
        ds = ds.labelled_by(args.label)
    cfg = ClassifierTrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        flip=not args.no_flip,
    )
    print(
        f"training an evaluator on {ds.name}: {len(ds.train_idx)} train / {len(ds.test_idx)} test images, "
        + counted(len(ds.class_names or []), "class", "classes")
        + (f" of {args.label}" if args.label else "")
        + _others(ds)
    )
    _, history = train_classifier(ds, args.out, cfg, progress=not args.quiet)
    print(
        f"test accuracy {history['test_accuracy']:.4f} after {counted(cfg.epochs, 'epoch')} "
        f"({history['train_seconds']:.0f} s); evaluator saved to {args.out}"
    )


def _others(ds) -> str:
    """How many images the rare values of a --label column left in the shared class, if any."""
    from vaelab.data.dataset import OTHER_CLASS

    if ds.label_source is None or OTHER_CLASS not in ds.class_names:
        return ""
    n = int((ds.labels == ds.class_names.index(OTHER_CLASS)).sum())
    return f" ({n} images of rare values share the class {OTHER_CLASS})"


def add(sub) -> None:
    p = sub.add_parser(
        "train-evaluator",
        help="train the evaluator classifier used by evaluate and sweep",
        description="Train a small CNN classifier on a labelled dataset and save it as "
        "config.json + model.safetensors; `vaelab evaluate --evaluator` uses it to "
        "judge reconstructions and prior samples.",
    )
    p.add_argument(
        "--data", type=data_arg, default="fashion-mnist", help="fashion-mnist | mnist:PATH | folder:PATH (labelled)"
    )
    p.add_argument("--out", type=Path, default=Path("runs/evaluator"), help="folder (default runs/evaluator)")
    p.add_argument("--epochs", type=positive, default=8)
    p.add_argument("--batch-size", type=positive, default=128)
    p.add_argument("--lr", type=positive_number, default=2e-3)
    p.add_argument(  # the 8 is MIN_CLASS_TRAIN of vaelab.data.dataset, not imported so that parsing needs no numpy
        "--label",
        metavar="COLUMN",
        help="label the images by this column of the data's attribute table, such as subgroup for emoji "
        "(default: the data's own labels); values with fewer than 8 training images or no test image "
        "share one class, (other)",
    )
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    add_training_data_options(p)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train_evaluator)
