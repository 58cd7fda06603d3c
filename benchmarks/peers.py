"""Side by side with peers: one epoch of the same reference model on the same data, in one process, by
(a) a hand-written plain PyTorch loop, (b) vaelab's trainer and (c) pythae 0.1.2's TrainingPipeline.

Run: .venv/bin/pip install -c constraints.txt '.[bench]'   # pythae, an optional benchmark extra
     .venv/bin/python benchmarks/peers.py [--reps 1] [--limit N]

Prints img/s of each (the batch loop, and the whole call including evaluation and saving), the ratios b/a
and b/c, and the test -ELBO of each after its epoch. All three train the reference model of
BENCHMARKS.md (Conv 1→32→64→128, latent 32, Bernoulli likelihood) with Adam at lr 1e-3 and batch 128 on the
60k Fashion-MNIST training images. pythae's pitfalls are handled: its "bce" loss expects probabilities, so
its decoder ends in a sigmoid, and its defaults (lr 1e-4, batch 64) are overridden to match.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vaelab  # noqa: E402
from train_throughput import PlainVAE, plain_loop  # noqa: E402  (the plain loop of the throughput benchmark, reused as is)
from vaelab.models.config import ModelConfig  # noqa: E402
from vaelab.models.registry import build_model  # noqa: E402
from vaelab.training.config import TrainConfig
from vaelab.training.evaluation import evaluate_elbo  # noqa: E402
from vaelab.training.vae import train  # noqa: E402

LR, BATCH = 1e-3, 128


def as_vaelab_model(plain: PlainVAE):
    """The plain model's weights in vaelab's ConvVAE, so that all three are scored by the same -ELBO code.
    The two nets have the same layers in the same order; only the names differ."""
    model = build_model(ModelConfig())
    ours = model.state_dict()
    theirs = list(plain.state_dict().values())
    assert [v.shape for v in ours.values()] == [v.shape for v in theirs]
    model.load_state_dict(dict(zip(ours, theirs)))
    return model.eval()


def run_plain(train_images: torch.Tensor) -> tuple[dict, object]:
    torch.manual_seed(0)
    model = PlainVAE()
    t = time.perf_counter()
    loop_ips = plain_loop(train_images, bs=BATCH, model=model)
    wall = time.perf_counter() - t
    return {"loop": loop_ips, "wall": len(train_images) / wall}, as_vaelab_model(model)


def run_vaelab(ds, out: Path) -> tuple[dict, object]:
    t = time.perf_counter()
    model = train(ModelConfig(), ds, out, TrainConfig(epochs=1, batch_size=BATCH, lr=LR), progress=True)
    wall = time.perf_counter() - t
    rec = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"loop": rec[-1]["img_per_s"], "wall": len(ds.train_idx) / wall}, model


def run_pythae(train_x: torch.Tensor, test_x: torch.Tensor, out: Path) -> tuple[dict, object]:
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    logging.getLogger("pythae").setLevel(logging.WARNING)
    torch.manual_seed(0)
    ref = build_model(ModelConfig())  # pythae trains these very modules, so vaelab's -ELBO code can score them

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.encoder, self.to_stats = ref.encoder, ref.to_stats

        def forward(self, x):
            mu, logvar = self.to_stats(self.encoder(x)).chunk(2, dim=1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.from_latent, self.decoder = ref.from_latent, ref.decoder

        def forward(self, z):
            # pythae's "bce" is F.binary_cross_entropy on probabilities, not on logits
            return ModelOutput(reconstruction=torch.sigmoid(self.decoder(self.from_latent(z))))

    class LoopTimer(TrainingCallback):
        """From the start of the epoch's batch loop to the end of its last step."""

        def on_train_step_begin(self, training_config, **kwargs):
            self.start = time.perf_counter()

        def on_train_step_end(self, training_config, **kwargs):
            self.end = time.perf_counter()

    vae = VAE(
        VAEConfig(input_dim=(1, 28, 28), latent_dim=32, reconstruction_loss="bce"), encoder=Encoder(), decoder=Decoder()
    )
    cfg = BaseTrainerConfig(
        output_dir=str(out),
        num_epochs=1,
        learning_rate=LR,
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=BATCH,
        no_cuda=not torch.cuda.is_available(),
        seed=0,
    )
    timer = LoopTimer()
    t = time.perf_counter()
    TrainingPipeline(model=vae, training_config=cfg)(train_data=train_x, eval_data=test_x, callbacks=[timer])
    wall = time.perf_counter() - t
    return {"loop": len(train_x) / (timer.end - timer.start), "wall": len(train_x) / wall}, ref.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1, help="interleaved repetitions (median reported)")
    ap.add_argument(
        "--limit",
        type=int,
        help="train on the first N training images only: shorter runs, so that "
        "more interleaved repetitions fit on a noisy machine",
    )
    args = ap.parse_args()
    try:
        import pythae
    except ImportError:
        pythae = None
        print("pythae is not installed (pip install -c constraints.txt '.[bench]'); measuring (a) and (b) only")

    ds = vaelab.load_dataset("fashion-mnist")
    if args.limit:
        ds.limit_train(args.limit)
    train_u8 = torch.from_numpy(ds.images[ds.split("train")])
    test_u8 = ds.images[ds.split("test")]
    train_f, test_f = train_u8.float() / 255, torch.from_numpy(test_u8).float() / 255
    print(
        f"{len(train_u8)} training images; torch {torch.__version__}, {torch.get_num_threads()} threads"
        + (f"; pythae {importlib.metadata.version('pythae')}" if pythae else "")
    )
    results: dict[str, list[dict]] = {"a": [], "b": [], "c": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.reps):  # interleaved, so that machine noise hits all three alike
            for key in ("a", "b", "c"):
                if key == "a":
                    res, model = run_plain(train_u8)
                elif key == "b":
                    res, model = run_vaelab(ds, Path(tmp) / f"vaelab{r}")
                elif pythae is not None:
                    res, model = run_pythae(train_f, test_f, Path(tmp) / f"pythae{r}")
                else:
                    continue
                res["neg_elbo"] = evaluate_elbo(model, test_u8, seed=0)["neg_elbo"]
                results[key].append(res)
                print(
                    f"  rep {r + 1} ({key}): batch loop {res['loop']:.0f} img/s, whole call {res['wall']:.0f} img/s, "
                    f"test -ELBO {res['neg_elbo']:.2f}",
                    flush=True,
                )

    names = {"a": "(a) plain PyTorch loop", "b": "(b) vaelab trainer", "c": "(c) pythae 0.1.2 TrainingPipeline"}
    med = {
        k: {m: statistics.median(x[m] for x in v) for m in ("loop", "wall", "neg_elbo")}
        for k, v in results.items()
        if v
    }
    print(f"\n{'':36s} {'loop img/s':>10s} {'whole img/s':>11s} {'test -ELBO':>10s}")
    for k, m in med.items():
        print(f"{names[k]:36s} {m['loop']:10.0f} {m['wall']:11.0f} {m['neg_elbo']:10.2f}")
    b = med["b"]
    print(f"b/a: {b['loop'] / med['a']['loop']:.2f} (batch loop), {b['wall'] / med['a']['wall']:.2f} (whole call)")
    if "c" in med:
        print(
            f"b/c: {b['loop'] / med['c']['loop']:.2f} (batch loop), {b['wall'] / med['c']['wall']:.2f} (whole call)"
            "   goal ≥ 1.3"
        )


if __name__ == "__main__":
    sys.exit(main())
