"""The `vaelab` command: parse arguments, call the Python API, report. No logic the API lacks."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vaelab.errors import VaelabError


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        vals = [int(p) for p in parts if p.strip()]
    except ValueError:
        vals = []
    if len(vals) not in (1, 2) or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected a size like 64 or 64x48, got {text!r}")
    return (vals[0], vals[-1])


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


# --- train -----------------------------------------------------------------------------------------------
def cmd_train(args) -> None:
    from vaelab.data.loaders import load_dataset
    from vaelab.models.config import ModelConfig
    from vaelab.training.trainer import TrainConfig, train

    ds = load_dataset(args.data, channels=args.channels, size=args.size)
    if args.limit:
        ds.train_idx = ds.train_idx[: args.limit]
    model_cfg = None if args.resume else ModelConfig(
        kind=args.model, channels=ds.channels, height=ds.size[0], width=ds.size[1], latent_dim=args.latent,
        widths=args.widths, hidden=args.hidden, kernel_size=args.kernel, likelihood=args.likelihood,
        sigma=args.sigma, beta=args.beta, free_bits=args.free_bits)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      kl_warmup_steps=args.kl_warmup, device=args.device, onnx=not args.no_onnx)
    print(f"training {args.model if not args.resume else 'resumed run'} on {ds.name}: "
          f"{len(ds.train_idx)} train / {len(ds.test_idx)} test images of {ds.channels}×{ds.size[0]}×{ds.size[1]}")
    train(model_cfg, ds, args.out, cfg, resume=args.resume, progress=not args.quiet)
    print(f"model, checkpoint, metrics.jsonl, loss_curve.png and grids are in {args.out}")


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model on a dataset",
                       description="Train a VAE or AE; the --out folder becomes a loadable model folder.")
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist | mnist:PATH | folder:PATH")
    p.add_argument("--model", default="vae-conv", help="vae-conv | ae-mlp")
    p.add_argument("--out", required=True, type=Path, help="run folder (model, checkpoint, metrics, pictures)")
    p.add_argument("--latent", type=_positive, default=32, help="latent size (default 32)")
    p.add_argument("--epochs", type=_positive, default=10)
    p.add_argument("--batch-size", type=_positive, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta", type=float, default=1.0, help="KL weight (beta-VAE when > 1)")
    p.add_argument("--free-bits", type=float, default=0.0, help="nats per latent dim not pushed down")
    p.add_argument("--kl-warmup", type=int, default=0, help="steps of linear KL warm-up")
    p.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    p.add_argument("--sigma", type=float, default=0.1, help="fixed sigma of the Gaussian likelihood")
    p.add_argument("--widths", type=_ints, default=(32, 64, 128), help="conv widths (vae-conv)")
    p.add_argument("--kernel", type=_positive, default=3, help="conv kernel size (vae-conv)")
    p.add_argument("--hidden", type=_ints, default=(512, 256), help="Linear widths (ae-mlp)")
    p.add_argument("--channels", type=int, choices=[1, 3], help="image channels for folder data (default 3)")
    p.add_argument("--size", type=_size, help="image size for folder data, e.g. 64 or 64x48 (default 64)")
    p.add_argument("--limit", type=_positive, help="train on the first N training images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export (morph then uses torch)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


# --- morph -----------------------------------------------------------------------------------------------
def cmd_morph(args) -> None:
    from vaelab.morphing import run_morph
    from vaelab.viz.media import write_morph_outputs

    result = run_morph(args.model, images=args.images, classes=args.classes or (), frames=args.frames,
                       method=args.method, closed=args.loop, upscale=args.upscale, resample=args.resample,
                       backend=args.backend)
    written = write_morph_outputs(result, args.out, fps=args.fps, pingpong=args.pingpong, mp4=not args.no_mp4)
    print(f"{len(result.frames)} frames ({args.method}) written to {args.out}: " + ", ".join(sorted(written)))


def add_morph(sub) -> None:
    p = sub.add_parser("morph", help="morph image A into B (and C ...) through decoded frames",
                       description="Encode the images, walk the latent path between them, decode every frame. "
                                   "Writes frames/, morph.gif, morph.mp4 and contact_sheet.png.")
    p.add_argument("images", nargs="*", type=Path, help="two or more image files (any format Pillow reads)")
    p.add_argument("--class", dest="classes", action="append", metavar="NAME",
                   help="morph between class centroids instead (give --class twice or more)")
    p.add_argument("--model", type=Path, help="model folder (default: the shipped Fashion-MNIST VAE)")
    p.add_argument("--frames", type=int, default=24, help="frames including both ends (default 24)")
    p.add_argument("--method", choices=["slerp", "lerp", "cdf"], default="slerp")
    p.add_argument("--loop", action="store_true", help="close the path back to the first image")
    p.add_argument("--out", type=Path, default=Path("out/morph"), help="output folder (default out/morph)")
    p.add_argument("--fps", type=float, default=12)
    p.add_argument("--pingpong", action="store_true", help="GIF/MP4 play forward then back")
    p.add_argument("--upscale", type=_positive, default=4, help="enlarge frames K times (default 4)")
    p.add_argument("--resample", choices=["nearest", "bicubic"], default="nearest")
    p.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto",
                   help="auto uses onnxruntime when the model has ONNX files")
    p.add_argument("--no-mp4", action="store_true", help="skip the MP4")
    p.set_defaults(func=cmd_morph)


# --- demo ------------------------------------------------------------------------------------------------
def cmd_demo(args) -> None:
    from vaelab.demo import run_demo

    run_demo(args.out)


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="morphs on Fashion-MNIST with the shipped model (what `make demo` runs)")
    p.add_argument("--out", type=Path, default=Path("out/demo"))
    p.set_defaults(func=cmd_demo)


COMMANDS = [add_train, add_morph, add_demo]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaelab", description=__import__("vaelab").__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except VaelabError as e:
        if args.debug:
            raise
        print(f"vaelab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vaelab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
