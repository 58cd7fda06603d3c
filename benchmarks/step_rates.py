"""The step table of train_throughput.py: img/s of each model kind's training step, as the trainer takes it (the
kind's own ``step``, with its autocast, memory layout and compilation), under each way of computing.

Each row builds the trainer's kind on real data (Fashion-MNIST, emoji) with a freshly seeded model, takes warm-up
steps (torch.compile's first step is timed apart, as its warm-up), then times steps until ``seconds`` have passed
or ``steps`` were taken, and reports the median step's img/s.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import vaelab
from vaelab.models.classifier import EvaluatorCNN
from vaelab.models.config import ModelConfig
from vaelab.models.registry import build_model
from vaelab.training.classifier import ClassifierKind, evaluator_config
from vaelab.training.compute import Compute
from vaelab.training.config import ClassifierTrainConfig, CycleTrainConfig, TrainConfig
from vaelab.training.cycle import CycleKind
from vaelab.training.distributed import Dist
from vaelab.training.vae import VAEKind

CPU = torch.device("cpu")
COLOUR = dict(channels=3, height=64, width=64, likelihood="gaussian-optimal")

# name → (data, how to build the kind from a Compute); the settings are the colour recipe's where the data is colour
KINDS = {
    "vae-conv 28² grey": ("fashion-mnist", "vae", dict(), dict(batch_size=128)),
    "vae-conv 64² colour": (
        "emoji",
        "vae",
        dict(COLOUR, widths=(32, 64, 128, 256)),
        dict(batch_size=64, freq_loss=1.0),
    ),
    "vae-res 64² colour": (
        "emoji",
        "vae",
        dict(COLOUR, kind="vae-res", widths=(16, 32, 64, 128)),
        dict(batch_size=64, freq_loss=1.0),
    ),
    "vae-conv 64² + adversarial": (
        "emoji",
        "vae",
        dict(COLOUR, widths=(32, 64, 128, 256)),
        dict(batch_size=64, freq_loss=1.0, adversarial=0.1, adversarial_start=0),
    ),
    "cycle-vae 28² grey": ("fashion-mnist", "cycle", dict(kind="cycle-vae", latent_dim=32, specified_dim=16), dict()),
    "evaluator 28² grey": ("fashion-mnist", "classifier", dict(), dict()),
}
# name → (precision, channels_last, compiled)
SETTINGS = {
    "fp32": ("fp32", False, False),
    "fp32 + channels_last": ("fp32", True, False),
    "fp32 + compile": ("fp32", False, True),
    "bf16": ("bf16", False, False),
    "bf16 + channels_last": ("bf16", True, False),
    "bf16 + channels_last + compile": ("bf16", True, True),
}


@dataclass
class Rate:
    img_per_s: float
    warmup_s: float  # the first step's seconds (torch.compile compiles there)
    steps: int  # steps timed


def build_kind(name: str, compute: Compute, datasets: dict):
    """The trainer's kind for row ``name``, with a model seeded alike for every setting."""
    data, loop, model_args, train_args = KINDS[name]
    ds = datasets[data]
    torch.manual_seed(0)
    train_idx, no_val = ds.split("train"), np.array([], np.int64)
    if loop == "vae":
        model = compute.prepare(build_model(ModelConfig(**model_args)))
        return VAEKind(model, TrainConfig(**train_args), Dist(device=CPU), ds, train_idx, no_val, compute)
    if loop == "cycle":
        model = compute.prepare(build_model(ModelConfig(likelihood="gaussian", **model_args)))
        return CycleKind(model, CycleTrainConfig(eval_images=16), CPU, ds, train_idx, no_val, compute)
    model = compute.prepare(EvaluatorCNN(evaluator_config(ds)))
    return ClassifierKind(model, ClassifierTrainConfig(), CPU, ds, compute)


def batch_images(kind) -> int:
    """Images one step of ``kind`` trains on (the cycle VAE's forward cycle takes a pair of batches)."""
    return kind.cfg.batch_size * (2 if isinstance(kind, CycleKind) else 1)


def step_rate(kind, seconds: float, steps: int, warmup: int = 2) -> Rate:
    batches = kind.epoch_batches(1)
    t = time.perf_counter()
    kind.step(batches[0], 0)
    first = time.perf_counter() - t
    for i in range(1, warmup):
        kind.step(batches[i], i)
    times, start = [], time.perf_counter()
    i = warmup
    while i < len(batches) and len(times) < steps and (time.perf_counter() - start < seconds or len(times) < 3):
        t = time.perf_counter()
        kind.step(batches[i], i)
        times.append(time.perf_counter() - t)
        i += 1
    return Rate(batch_images(kind) / statistics.median(times), first, len(times))


def flops_per_image(name: str, datasets: dict) -> float:
    """Training FLOPs of one image in row ``name``'s step (forward and backward, matmuls and convolutions)."""
    kind = build_kind(name, Compute("cpu", "fp32", False, False, ""), datasets)
    batch = kind.epoch_batches(1)[0]
    with FlopCounterMode(display=False) as counter:
        kind.step(batch, 0)
    return counter.get_total_flops() / batch_images(kind)


def step_table(kinds: list[str], settings: list[str], seconds: float, steps: int, peaks: dict) -> list[dict]:
    """One row per (kind, setting): img/s, its ratio to the kind's fp32, and the utilisation of both peaks."""
    datasets = {name: vaelab.load_dataset(name) for name in {KINDS[k][0] for k in kinds}}
    rows = []
    for name in kinds:
        fpi = flops_per_image(name, datasets)
        base = None
        for setting in settings:
            precision, channels_last, compiled = SETTINGS[setting]
            torch._dynamo.reset()  # each compiled row compiles its own model
            kind = build_kind(name, Compute("cpu", precision, channels_last, compiled, ""), datasets)
            rate = step_rate(kind, seconds, steps)
            base = base or rate.img_per_s
            row = {
                "kind": name,
                "setting": setting,
                "img_per_s": rate.img_per_s,
                "ratio": rate.img_per_s / base,
                "warmup_s": rate.warmup_s,
                "steps": rate.steps,
                **{f"util_{p}": fpi * rate.img_per_s / (gflops * 1e9) for p, gflops in peaks.items()},
                "mflops_per_image": fpi / 1e6,
            }
            rows.append(row)
            print(
                f"  {name:28s} {setting:32s} {rate.img_per_s:8.1f} img/s  ×{row['ratio']:.2f} of fp32   "
                + "  ".join(f"{row[f'util_{p}']:.3f} of {p} peak" for p in peaks)
                + f"   first step {rate.warmup_s:.1f} s, {rate.steps} timed",
                flush=True,
            )
    return rows
