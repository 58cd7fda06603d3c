"""What bf16 costs in quality: the same run under --precision fp32 and --precision bf16 (seed 0, equal epochs), each
made by `vaelab train` as a user would and measured by `vaelab evaluate` on the held-out test images, side by side.

Run: .venv/bin/python benchmarks/precision_quality.py --out runs/precision [--fashion-epochs 5] [--emoji-epochs 3]
        [--fashion-limit N] [--emoji-limit N]

Prints, for Fashion-MNIST (the default model, 5 epochs) and emoji (its colour recipe), one row a precision: the
test −ELBO and its ratio to fp32 (target: within 0.5 %), PSNR, sharpness, and the KID of reconstructions and prior
samples in the evaluator's standardised features, each with its ratio to fp32. The target holds for bf16 computed
natively and emulated alike: the numbers are the same operations in the same format; only the speed differs (see
train_throughput.py). Runs already in OUT are measured again, not retrained.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from recipe import dig, vaelab

COLUMNS = [  # (heading, path in eval.json, digits)
    ("−ELBO", ("elbo", "neg_elbo"), 2),
    ("PSNR", ("reconstruction", "psnr"), 2),
    ("sharpness", ("reconstruction", "sharpness"), 3),
    ("KID recon", ("realism", "reconstructions", "kid"), 4),
    ("KID prior", ("realism", "prior_samples", "kid"), 4),
]


def train_and_evaluate(data: str, epochs: int, precision: str, out: Path, limit: int | None = None) -> dict:
    run = out / f"{data}-{precision}"
    if not (run / "config.json").is_file():
        vaelab("train", "--data", data, "--epochs", str(epochs), "--seed", "0", "--precision", precision,
               "--out", str(run), "--quiet", *(["--limit", str(limit)] if limit else []))  # fmt: skip
    if not (run / "eval" / "eval.json").is_file():
        vaelab("evaluate", "--model", str(run), "--k", "10", "--iwae-images", "20", "--out", str(run / "eval"),
               "--quiet")  # fmt: skip
    doc = json.loads((run / "eval" / "eval.json").read_text())
    training = json.loads((run / "config.json").read_text())["training"]
    doc["computed_in"], doc["epochs"] = training["computed_in"], training["epochs_done"]
    doc["img_per_s"] = training["steps"] * training["batch_size"] / training["train_seconds"]
    return doc


def rows(data: str, results: dict[str, dict]) -> list[str]:
    base = results["fp32"]
    lines = []
    for name, doc in results.items():
        cells = [data, f"`{name}`", str(doc["epochs"]), f"{doc['img_per_s']:.0f}"]
        for heading, path, digits in COLUMNS:
            value, ref = dig(doc, path), dig(base, path)
            cell = "—" if value is None else f"{value:.{digits}f}"
            if value is not None and ref and name != "fp32":
                cell += f" ({(value - ref) / abs(ref):+.2%})" if heading == "−ELBO" else f" ({value / ref:.2f}×)"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--fashion-epochs", type=int, default=5)
    p.add_argument("--emoji-epochs", type=int, default=3)
    p.add_argument("--fashion-limit", type=int, help="train on the first N training images (emulated bf16 is slow)")
    p.add_argument("--emoji-limit", type=int, help="likewise for emoji")
    args = p.parse_args()
    head = ["data", "precision", "epochs", "img/s"] + [c[0] for c in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    runs = (("fashion-mnist", args.fashion_epochs, args.fashion_limit), ("emoji", args.emoji_epochs, args.emoji_limit))
    for data, epochs, limit in runs:
        results = {p: train_and_evaluate(data, epochs, p, args.out, limit) for p in ("fp32", "bf16")}
        lines += rows(data, results)
    text = "\n".join(lines)
    print(f"fp32 against bf16 at equal epochs, seed 0 (ratios and the −ELBO's change: against fp32)\n\n{text}")
    (args.out / "table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
