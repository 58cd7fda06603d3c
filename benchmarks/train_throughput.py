"""Training throughput: vaelab's trainer against a hand-written PyTorch loop and the machine's matmul rates, and
each model kind's training step under each way of computing.

Run: .venv/bin/python benchmarks/train_throughput.py [--epochs-to-target 8] [--attempts] [--kinds ...] [--no-table]

Prints, from one process: (a) the machine's fp32 and bf16 matmul GFLOP/s, each measured here and now, and whether
the CPU (or GPU) computes bf16 natively; (b) the step table: img/s of the trainer's own step (the kind's ``step``,
as ``vaelab train`` runs it) for vae-conv at 28² grey and 64² colour, vae-res at 64², the cycle VAE, the evaluator
classifier and a vae-conv step with the adversarial term, under fp32, bf16, bf16 + channels_last and bf16 +
channels_last + torch.compile (and fp32 + channels_last, fp32 + compile), with the ratio to fp32 and the
utilisation against both peaks (training FLOPs per image from torch.utils.flop_counter × img/s ÷ the peak), and
compile's warm-up; (c) img/s of a minimal plain loop on the reference model (Conv 1→32→64→128 stride 2, latent
32, mirrored ConvTranspose decoder, batch 128, Adam) and of vaelab's trainer on the same model and data, the
ratio, and utilisation. Then the epochs and seconds vaelab needs to reach test -ELBO ≤ 245 nats at the default
precision, and peak RSS. With --attempts it also measures the variants tried to raise utilisation.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import vaelab
from step_rates import KINDS, SETTINGS, step_table
from vaelab.models.config import ModelConfig
from vaelab.training.compute import native_bf16
from vaelab.training.config import TrainConfig
from vaelab.training.vae import train


def matmul_gflops(sizes=(1024, 2048, 4096), reps: int = 5, dtype=torch.float32, budget: float = 2.0) -> float:
    """The machine's matmul rate in ``dtype``: the best over square sizes of the median of ``reps`` products. A
    size whose product takes over ``budget`` seconds ends the search (emulated bf16 is hundreds of times slower)."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        t = time.perf_counter()
        a @ b
        first = time.perf_counter() - t
        times = []
        for _ in range(reps if first < budget else 1):
            t = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t)
        best = max(best, 2 * n**3 / statistics.median(times) / 1e9)
        if first > budget:
            break
    return best


class PlainVAE(nn.Module):
    """The reference model written out by hand, as a user would without vaelab."""

    def __init__(self, k: int = 3, latent: int = 32):
        super().__init__()
        p = 1  # k=3: 28→14→7→4; k=4: 28→14→7→3
        self.enc = nn.Sequential(
            nn.Conv2d(1, 32, k, 2, p),
            nn.ReLU(),
            nn.Conv2d(32, 64, k, 2, p),
            nn.ReLU(),
            nn.Conv2d(64, 128, k, 2, p),
            nn.ReLU(),
            nn.Flatten(),
        )
        s = 4 if k == 3 else 3
        self.stats = nn.Linear(128 * s * s, 2 * latent)
        self.dec = nn.Sequential(
            nn.Linear(latent, 128 * s * s),
            nn.Unflatten(1, (128, s, s)),
            nn.ReLU(),
            nn.ConvTranspose2d(128, 64, k, 2, p, output_padding=0 if k == 3 else 1),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, k, 2, p, output_padding=1 if k == 3 else 0),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 1, k, 2, p, output_padding=1 if k == 3 else 0),
        )

    def forward(self, x):
        mu, logvar = self.stats(self.enc(x)).chunk(2, 1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = nn.functional.binary_cross_entropy_with_logits(self.dec(z), x, reduction="sum") / len(x)
        return rec + 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / len(x)


def plain_loop(
    images: torch.Tensor,
    steps: int | None = None,
    bs: int = 128,
    k: int = 3,
    fused: bool = False,
    channels_last: bool = False,
    float_data: bool = False,
    model: PlainVAE | None = None,
) -> float:
    """img/s of the plain loop over one epoch (or ``steps`` batches); trains ``model`` when one is given, so
    that the caller can evaluate it afterwards."""
    torch.manual_seed(0)
    model = model if model is not None else PlainVAE(k)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    data = images.float().div(255) if float_data else images
    perm = torch.randperm(len(images))
    n_steps = steps or -(-len(images) // bs)
    t = time.perf_counter()
    for i in range(n_steps):
        idx = perm[i * bs : (i + 1) * bs]
        x = data[idx] if float_data else data[idx].float().div_(255)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = model(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return n_steps * bs / (time.perf_counter() - t)


def flops_per_image(bs: int = 128) -> float:
    from vaelab.models.registry import build_model

    m = build_model(ModelConfig())
    x = torch.rand(bs, 1, 28, 28)
    with FlopCounterMode(display=False) as fc:
        m.loss(x).objective.backward()
    return fc.get_total_flops() / bs


def vaelab_epoch(ds, out: Path) -> dict:
    """One epoch of vaelab's trainer; its own timer covers the batch loop, the wall clock everything."""
    t = time.perf_counter()
    train(ModelConfig(), ds, out, TrainConfig(epochs=1), progress=False)
    wall = time.perf_counter() - t
    rec = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    return {"loop": rec[-1]["img_per_s"], "wall": len(ds.train_idx) / wall}


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| model kind | setting | img/s | × fp32 | of fp32 peak | of bf16 peak | first step (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['setting']} | {r['img_per_s']:.1f} | {r['ratio']:.2f} | {r['util_fp32']:.3f} | "
            f"{r['util_bf16']:.3f} | {r['warmup_s']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions for the medians")
    ap.add_argument("--epochs-to-target", type=int, default=8, help="max epochs for the time-to-245 run (0 = skip)")
    ap.add_argument("--attempts", action="store_true", help="also measure the utilisation attempts")
    ap.add_argument("--no-table", action="store_true", help="skip the step table of every kind and setting")
    ap.add_argument("--kinds", default=",".join(KINDS), help="the step table's rows (comma-separated)")
    ap.add_argument("--settings", default=",".join(SETTINGS), help="the step table's columns (comma-separated)")
    ap.add_argument("--seconds", type=float, default=6.0, help="time each step-table cell for about this long")
    ap.add_argument("--steps", type=int, default=20, help="and at most this many steps")
    args = ap.parse_args()

    torch.set_num_threads(torch.get_num_threads())
    ds = vaelab.load_dataset("fashion-mnist")
    images = torch.from_numpy(ds.images[ds.split("train")])
    gflops, bf16_gflops = matmul_gflops(), matmul_gflops(dtype=torch.bfloat16)
    fpi = flops_per_image()
    native, why = native_bf16(torch.device("cpu"))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; matmul peaks: fp32 {gflops:.1f} GFLOP/s, "
        f"bf16 {bf16_gflops:.1f} GFLOP/s ({'native' if native else 'not native'}: {why}); "
        f"training FLOPs/image {fpi / 1e6:.2f} M"
    )
    if not args.no_table:
        print("step table (img/s of the trainer's step; ratio to the kind's fp32; utilisation of each peak):")
        rows = step_table(
            args.kinds.split(","),
            args.settings.split(","),
            args.seconds,
            args.steps,
            {"fp32": gflops, "bf16": bf16_gflops},
        )
        print(markdown_table(rows))
    plain, ours_loop, ours_wall = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.reps):  # interleaved, so that machine noise hits both alike
            plain.append(plain_loop(images))
            v = vaelab_epoch(ds, Path(tmp) / f"r{r}")
            ours_loop.append(v["loop"])
            ours_wall.append(v["wall"])
            print(
                f"  rep {r + 1}: plain {plain[-1]:.0f} img/s, vaelab {ours_loop[-1]:.0f} img/s "
                f"(whole epoch incl. test eval, pictures, save: {ours_wall[-1]:.0f} img/s)"
            )
    p, o, w = statistics.median(plain), statistics.median(ours_loop), statistics.median(ours_wall)
    util = lambda ips: fpi * ips / (gflops * 1e9)  # noqa: E731
    print(f"plain loop      {p:7.0f} img/s   utilisation {util(p):.2f}")
    print(f"vaelab trainer  {o:7.0f} img/s   utilisation {util(o):.2f}   ratio vaelab/plain {o / p:.2f}")
    print(f"vaelab, whole epoch incl. eval+save {w:7.0f} img/s   ratio {w / p:.2f}")

    if args.attempts:
        print("attempts (plain loop, 150 steps each, median of 3, ratio to the batch-128 baseline):")
        variants = {
            "baseline bs128": {},
            "fused Adam": {"fused": True},
            "batch 64": {"bs": 64},
            "batch 256": {"bs": 256},
            "batch 512": {"bs": 512},
            "channels_last": {"channels_last": True},
            "float data in RAM": {"float_data": True},
            "kernel 4 (3x3 maps)": {"k": 4},
        }
        base = None
        for name, kw in variants.items():
            ips = statistics.median(
                plain_loop(images, steps=max(40, 150 * 128 // kw.get("bs", 128)), **kw) for _ in range(3)
            )
            base = base or ips
            print(f"  {name:22s} {ips:7.0f} img/s  x{ips / base:.2f}")
        for threads in (1, 2):
            torch.set_num_threads(threads)
            ips = statistics.median(plain_loop(images, steps=150) for _ in range(3))
            print(f"  {f'{threads} thread(s)':22s} {ips:7.0f} img/s  x{ips / base:.2f}")

    if args.epochs_to_target:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "target"
            t0 = time.perf_counter()
            train(ModelConfig(), ds, out, TrainConfig(epochs=args.epochs_to_target), progress=False)
            total = time.perf_counter() - t0
            rec = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
            ep = [r for r in rec if r["kind"] == "epoch"]
            hit = next((r for r in ep if r["test_neg_elbo"] <= 245), None)
            secs = sum(r["epoch_seconds"] for r in ep[: hit["epoch"]]) if hit else None
            print("test -ELBO per epoch: " + ", ".join(f"{r['test_neg_elbo']:.1f}" for r in ep))
            print(
                f"reached <= 245 nats at epoch {hit['epoch'] if hit else '-'}: {secs:.0f} s of training "
                f"({total:.0f} s for all {len(ep)} epochs incl. eval and saving)"
                if hit
                else "did not reach 245"
            )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
