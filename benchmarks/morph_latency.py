"""Morph latency: the end-to-end CLI and the in-process API, beside `python -c "import torch"`.

Run: .venv/bin/python benchmarks/morph_latency.py [--reps 7]

All figures are medians of --reps runs in this one process, so they can be compared with each other:
- `python -c "import torch"` (what the ONNX path avoids);
- `vaelab morph a.png b.png --frames 32` end to end (a fresh process: start-up, reading, encoding, 32 decodes,
  frames + GIF + MP4 + contact sheet), with and without the MP4, and with `--backend torch`;
- in-process 32-frame morph at 28×28 with the model already open (onnxruntime and torch backends).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import vaelab
from timing import median_seconds, median_wall


def in_process(model, a, b, reps: int) -> float:
    vaelab.morph(model, [a, b], frames=32)  # warm-up
    return median_seconds(lambda: vaelab.morph(model, [a, b], frames=32), reps * 5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        ds = vaelab.load_dataset("fashion-mnist")
        test = ds.split("test")
        a, b = tmp / "a.png", tmp / "b.png"
        Image.fromarray(ds.images[test[0], 0]).save(a)
        Image.fromarray(ds.images[test[1], 0]).save(b)
        vaelab_bin = str(Path(sys.executable).with_name("vaelab"))
        morph = [vaelab_bin, "morph", str(a), str(b), "--frames", "32", "--out", str(tmp / "out")]
        rows = {
            'python -c "import torch"': median_wall([sys.executable, "-c", "import torch"], args.reps),
            "vaelab morph --frames 32 (onnx, all outputs)": median_wall(morph, args.reps),
            "vaelab morph --frames 32 --no-mp4 (onnx)": median_wall(morph + ["--no-mp4"], args.reps),
            "vaelab morph --frames 32 --backend torch": median_wall(morph + ["--backend", "torch"], args.reps),
        }
        onnx_model = vaelab.open_model(None, backend="onnx")
        torch_model = vaelab.open_model(None, backend="torch")
        rows["in-process morph, 32 frames (onnx)"] = in_process(onnx_model, a, b, args.reps)
        rows["in-process morph, 32 frames (torch)"] = in_process(torch_model, a, b, args.reps)
        z = np.random.default_rng(0).normal(size=(32, onnx_model.latent_dim)).astype(np.float32)
        for name, m in (("onnx", onnx_model), ("torch", torch_model)):
            rows[f"decode 32 codes only ({name})"] = median_seconds(lambda m=m: m.decode(z), args.reps * 5)
        base = rows['python -c "import torch"']
        print(f"medians of {args.reps} runs (in-process: {args.reps * 5})")
        for name, secs in rows.items():
            unit = f"{secs * 1000:8.1f} ms" if secs < 0.1 else f"{secs:8.3f} s "
            print(f"  {name:48s} {unit}   x{secs / base:.2f} of import torch")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
