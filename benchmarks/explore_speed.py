"""Explore and report speed on the full Fashion-MNIST set (70k images) with the shipped model, beside
`python -c "import torch"` measured in the same run.

Run: .venv/bin/python benchmarks/explore_speed.py [--reps 3]

Targets: encoding all 70k images ≤ 10 s; `vaelab explore` with default options ≤ 30 s;
`vaelab report` ≤ 45 s. Every figure is a median of --reps runs in this one process. The explore rows are
whole CLI processes (start-up, data loading, encoding, every figure), as a user runs them. The last table
splits one explore run into its stages, from its summary.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import vaelab
from timing import median_seconds, median_wall
from vaelab.models.config import DEFAULT_MODEL
from vaelab.models.runtime import encode_batched, torch_module
from vaelab.tasks.explore import posterior_kl

TARGETS = {"encode": 10.0, "explore": 30.0, "report": 45.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        ds = vaelab.load_dataset("fashion-mnist")
        images = ds.images
        onnx_model = vaelab.open_model(DEFAULT_MODEL, backend="onnx")
        torch_model = vaelab.open_model(DEFAULT_MODEL, backend="torch")
        encode_batched(onnx_model, images[:2000], progress=False)  # warm-up
        rows = {
            "import torch": ('python -c "import torch"', median_wall([sys.executable, "-c", "import torch"], args.reps))
        }
        rows["encode"] = (
            f"encode all {len(images)} images, onnxruntime (model open)",
            median_seconds(lambda: encode_batched(onnx_model, images, progress=False), args.reps),
        )
        rows["encode torch"] = (
            f"encode all {len(images)} images, torch (model open)",
            median_seconds(lambda: encode_batched(torch_model, images, progress=False), args.reps),
        )
        rows["encode cold"] = (
            "load the data set + open the model + encode all (onnx)",
            median_seconds(
                lambda: encode_batched(
                    vaelab.open_model(DEFAULT_MODEL, backend="onnx"),
                    vaelab.load_dataset("fashion-mnist").images,
                    progress=False,
                ),
                args.reps,
            ),
        )
        net = torch_module(torch_model, None)
        rows["kl"] = (
            "KL per dimension over 10,000 images (torch: mean and variance)",
            median_seconds(lambda: posterior_kl(net, images[:10_000]), args.reps),
        )
        vaelab_bin = str(Path(sys.executable).with_name("vaelab"))
        rows["explore"] = (
            "vaelab explore (defaults: all 70k encoded, 5000 plotted)",
            median_wall([vaelab_bin, "explore", "--out", str(tmp / "explore"), "--quiet"], args.reps),
        )
        rows["report"] = (
            "vaelab report (defaults)",
            median_wall([vaelab_bin, "report", "--out", str(tmp / "report.html"), "--quiet"], args.reps),
        )

        base = rows["import torch"][1]
        print(f"medians of {args.reps} runs; Fashion-MNIST, {len(images)} images; shipped model")
        for name, secs in rows.values():
            print(f"  {name:64s} {secs:7.2f} s   x{secs / base:5.2f} of import torch")
        for key, limit in TARGETS.items():
            secs = rows[key][1]
            print(f"  target {key:8s} ≤ {limit:4.0f} s: {secs:6.2f} s  {'met' if secs <= limit else 'MISSED'}")
        stages = json.loads((tmp / "explore" / "summary.json").read_text())["seconds"]
        print("last explore run by stage (s): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
        size = (tmp / "report.html").stat().st_size / 1e6
        print(
            f"report size: {size:.1f} MB; explore folder: "
            f"{sum(p.stat().st_size for p in (tmp / 'explore').iterdir()) / 1e6:.1f} MB"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
