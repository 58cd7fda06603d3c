"""Does a two-stage VAE or a normalising flow sample a model's codes better than the Gaussian mixture that
`vaelab fit-density` fits, at equal cost? On each shipped model (fashion-mnist, emoji), on the same codes, seed 0.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sample_density.py [--samples 2000] [--out out/sample-density]

The codes are the posterior means of the training images, subsampled as `fit_density` subsamples them (at most
20,000). The sources compared, each decoded by the model:
- prior: N(0, I) draws (the baseline);
- mixture: `choose_mixture` with its defaults on those codes, the very fit `fit_density` makes after encoding; its
  wall time T is the budget of the others (encoding is shared and left out of every time);
- two-stage: a second, small VAE on the codes (Dai & Wipf 2019, "Diagnosing and Enhancing VAE Models"): a latent u
  of the codes' size, MLP encoder and decoder, a learned output scale γ, p(z | u) = N(ẑ(u), γ²I); samples are
  ẑ(u) of N(0, I) draws u. Trained for T, and on for 3T (constant learning rate: the same as a 3T run);
- flow: a RealNVP of affine coupling layers on the standardised codes, trained for T and on for 3T; samples are
  the inverse of N(0, I) draws.
The N(0, I) draws of prior, two-stage and flow are the same seeded array. For reference, the test codes decoded
(the test images' reconstructions) show what a perfect density of the codes would give.

For each it prints the fit time, the KID of the decoded samples against the test images in the shipped evaluator's
standardised features (± the spread over 50 subsets) and their FD there, the KID in a space no method saw (pixels in
[0, 1], average-pooled to 14 × 14 grey or 16 × 16 × 3 colour, flattened, minus the test images' mean per pixel, over
their overall spread: see pixel_standardiser), the test codes' mean log-likelihood (nats per code; the mixture's and
the flow's exact, the two-stage VAE's a lower bound: its ELBO and its importance-weighted bound with 64 draws), and
the novelty (the samples' mean distance to the nearest training code ÷ the test codes'). Ratios are against the
prior and against the mixture. Beside them, the mixture's own notes (``mixture_notes``; ``--notes`` prints
only these): how far its samples, prior samples, test codes and training codes lie from the nearest training code.
It writes one figure per model: 20 decoded samples of each source, a source a row.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from density_fit import log_likelihood  # noqa: E402
from vaelab.data.loaders import load_dataset  # noqa: E402
from vaelab.latent.density import MAX_CODES, choose_mixture, sample_mixture, subsample  # noqa: E402
from vaelab.metrics.novelty import nearest_distances, novelty  # noqa: E402
from vaelab.metrics.realism import evaluator_features, frechet_distance, kid, standardiser  # noqa: E402
from vaelab.models.classifier import default_evaluator_for  # noqa: E402
from vaelab.models.runtime import decode_batched, encode_batched, open_model  # noqa: E402

MODELS = {"fashion-mnist": 2, "emoji": 4}  # each model's pixel pooling factor: 28² → 14², 64² → 16²
SEED = 0
BATCH, LR = 256, 1e-3
SHOWN = 20  # samples per source in the figure (2 rows of 10)
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def mlp(inputs: int, width: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(inputs if i == 0 else width, width), nn.ReLU()]
    return nn.Sequential(*layers)


class SecondStage(nn.Module):
    """The second stage of Dai & Wipf's two-stage VAE, as their code builds it but narrower: MLP encoder and decoder
    whose output layer also sees the input (a skip), a latent u of the codes' size, and a learned scalar log γ."""

    def __init__(self, dim: int, width: int = 256, depth: int = 3):
        super().__init__()
        self.enc, self.enc_out = mlp(dim, width, depth), nn.Linear(dim + width, 2 * dim)
        self.dec, self.dec_out = mlp(dim, width, depth), nn.Linear(dim + width, dim)
        self.log_gamma = nn.Parameter(torch.zeros(()))

    def posterior(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes z (B, D) → q(u | z)'s mean and log standard deviation, each (B, D)."""
        mu, log_sd = self.enc_out(torch.cat([z, self.enc(z)], -1)).chunk(2, -1)
        return mu, log_sd

    def decode(self, u: torch.Tensor) -> torch.Tensor:
        """u (B, D) → ẑ (B, D), the mean of p(z | u)."""
        return self.dec_out(torch.cat([u, self.dec(u)], -1))

    def log_p_z_given_u(self, z: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
        return -((((z - z_hat) / self.log_gamma.exp()) ** 2) / 2 + self.log_gamma + HALF_LOG_2PI).sum(-1)

    def loss(self, z: torch.Tensor) -> torch.Tensor:
        """The mean negative ELBO (nats per code) of codes z (B, D)."""
        mu, log_sd = self.posterior(z)
        u = mu + log_sd.exp() * torch.randn_like(mu)
        kl = 0.5 * (mu**2 + (2 * log_sd).exp() - 2 * log_sd - 1).sum(-1)
        return (kl - self.log_p_z_given_u(z, self.decode(u))).mean()

    @torch.no_grad()
    def bounds(self, z: torch.Tensor, draws: int = 64) -> tuple[float, float]:
        """The mean ELBO and importance-weighted bound on log p(z) (nats per code) of codes z (N, D)."""
        elbo, iwae = [], []
        for chunk in z.split(500):
            mu, log_sd = self.posterior(chunk)
            u = mu + log_sd.exp() * torch.randn(draws, *mu.shape)  # (K, B, D)
            eps = (u - mu) / log_sd.exp()
            log_q = (-(eps**2) / 2 - log_sd - HALF_LOG_2PI).sum(-1)
            log_prior = (-(u**2) / 2 - HALF_LOG_2PI).sum(-1)
            log_w = self.log_p_z_given_u(chunk, self.decode(u)) + log_prior - log_q  # (K, B)
            elbo.append(log_w.mean(0))
            iwae.append(torch.logsumexp(log_w, 0) - math.log(draws))
        return float(torch.cat(elbo).mean()), float(torch.cat(iwae).mean())

    @torch.no_grad()
    def sample(self, noise: torch.Tensor) -> torch.Tensor:
        return self.decode(noise)


class Coupling(nn.Module):
    """An affine coupling layer: the unmasked dimensions are scaled and shifted by functions of the masked ones."""

    def __init__(self, mask: torch.Tensor, width: int):
        super().__init__()
        dim = len(mask)
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(mlp(dim, width, 2), nn.Linear(width, 2 * dim))
        nn.init.zeros_(self.net[-1].weight)  # starts as the identity
        nn.init.zeros_(self.net[-1].bias)
        self.scale = nn.Parameter(torch.ones(dim))

    def _shift_scale(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(kept).chunk(2, -1)
        free = 1 - self.mask
        return self.scale * torch.tanh(s) * free, t * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._shift_scale(x * self.mask)
        return x * s.exp() + t, s.sum(-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        s, t = self._shift_scale(y * self.mask)
        return (y - t) * (-s).exp()


class RealNVP(nn.Module):
    """Codes standardised by the training codes' mean and spread, then ``layers`` couplings, each pair splitting
    the dimensions into a fresh random half and its complement; N(0, I) beneath."""

    def __init__(self, codes: np.ndarray, layers: int = 8, width: int = 256, seed: int = SEED):
        super().__init__()
        dim, rng = codes.shape[1], np.random.default_rng(seed)
        self.register_buffer("mean", torch.as_tensor(codes.mean(0), dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(codes.std(0), dtype=torch.float32))
        masks = []
        for i in range(layers):
            if i % 2 == 0:
                half = torch.zeros(dim)
                half[torch.as_tensor(rng.permutation(dim)[: dim // 2])] = 1
            masks.append(half if i % 2 == 0 else 1 - half)
        self.couplings = nn.ModuleList(Coupling(m, width) for m in masks)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) (B,) of codes z (B, D)."""
        x, log_det = (z - self.mean) / self.std, -self.std.log().sum()
        for c in self.couplings:
            x, ld = c(x)
            log_det = log_det + ld
        return (-(x**2) / 2 - HALF_LOG_2PI).sum(-1) + log_det

    def loss(self, z: torch.Tensor) -> torch.Tensor:
        return -self.log_prob(z).mean()

    @torch.no_grad()
    def sample(self, noise: torch.Tensor) -> torch.Tensor:
        x = noise
        for c in reversed(self.couplings):
            x = c.inverse(x)
        return x * self.std + self.mean


def train_timed(model: nn.Module, codes: np.ndarray, budgets: list[float], seed: int = SEED) -> list[dict]:
    """Train ``model`` on codes (N, D) with Adam in shuffled batches until each budget (seconds of training) passes,
    and return a copy of it at each, with the steps, epochs and mean training loss of the last epoch begun."""
    torch.manual_seed(seed)
    data = torch.as_tensor(codes, dtype=torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    snapshots, steps, losses, clock = [], 0, [], 0.0
    gen = torch.Generator().manual_seed(seed)
    while len(snapshots) < len(budgets):
        order, losses = torch.randperm(len(data), generator=gen), []
        for i in range(0, len(data), BATCH):
            start = time.perf_counter()
            loss = model.loss(data[order[i : i + BATCH]])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 100.0)
            opt.step()
            clock += time.perf_counter() - start
            steps += 1
            losses.append(loss.item())
            if clock >= budgets[len(snapshots)]:
                snapshots.append(
                    {
                        "model": copy.deepcopy(model).eval(),
                        "seconds": clock,
                        "steps": steps,
                        "epochs": steps * BATCH / len(data),
                        "train_loss": float(np.mean(losses)),
                    }  # fmt: skip
                )
                if len(snapshots) == len(budgets):
                    break
    return snapshots


def pooled_pixels(images: np.ndarray, factor: int) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] → (N, C·H/f·W/f): each f × f block averaged, flattened."""
    n, c, h, w = images.shape
    return images.reshape(n, c, h // factor, factor, w // factor, factor).mean((3, 5)).reshape(n, -1)


def pixel_standardiser(reference: np.ndarray):
    """The function that takes pooled pixels to the reference's standard: minus its mean per pixel, over one spread
    for every pixel (the root mean of the per-pixel variances). One spread, not each pixel's own: Fashion-MNIST's
    corner pixels vary by 0.0015, and a faint grey there then outweighs a whole garment."""
    mean, spread = reference.mean(0), np.sqrt(reference.var(0).mean())
    return lambda pixels: (pixels - mean) / spread


def grid_figure(decoded: dict, path: Path, title: str) -> None:
    """The first SHOWN decoded samples of each source, one source a row (2 × 10), at twice a small image's size."""
    from vaelab.data.images import image_grid
    from vaelab.viz.figures import pyplot

    plt = pyplot()
    scale = 2 if next(iter(decoded.values())).shape[-1] <= 32 else 1
    grids = {
        name: np.asarray(image_grid(images[:SHOWN], nrow=SHOWN // 2, scale=scale)) for name, images in decoded.items()
    }
    h, w = next(iter(grids.values())).shape[:2]
    dpi = 100
    fig, axes = plt.subplots(len(grids), 1, figsize=(w / dpi + 1.6, len(grids) * (h / dpi + 0.08) + 0.4), dpi=dpi)
    for ax, (name, grid) in zip(axes, grids.items()):
        ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=1.5 / (w / dpi + 1.6), right=0.99, top=1 - 0.35 / fig.get_figheight(), bottom=0.01)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    # a palette of 256 colours, undithered: a third of the bytes, and no visible change at this size
    Image.open(path).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)


def mixture_notes(mixture, codes: np.ndarray, train: np.ndarray, test: np.ndarray, n_samples: int) -> dict:
    """What the novelty ratio leaves out: the mean distance to the nearest training code of the mixture's samples, of
    prior samples, of the test codes and of 2000 training codes to their nearest other one (leave one out), the
    share of each closer than half the test codes' median (near-copies), and the codes each component was fitted
    on (weight × codes)."""
    rng = np.random.default_rng(1)
    picked = rng.choice(len(train), min(2000, len(train)), replace=False)
    loo = []
    for i in picked:
        d = ((train - train[i]) ** 2).sum(1)
        d[i] = np.inf
        loo.append(np.sqrt(d.min()))
    dist = {
        "mixture samples": nearest_distances(sample_mixture(mixture, n_samples, seed=SEED), train),
        "prior samples": nearest_distances(
            np.random.default_rng(SEED).standard_normal((n_samples, train.shape[1])), train
        ),
        "test codes": nearest_distances(test, train),
        "training codes, leave one out": np.array(loo),
    }
    near = 0.5 * np.median(dist["test codes"])
    per_component = mixture.weights * len(codes)
    return {
        "mean_distance": {k: round(float(v.mean()), 3) for k, v in dist.items()},
        "share_nearer_than_half_the_test_median": {k: round(float((v < near).mean()), 4) for k, v in dist.items()},
        "codes_per_component": {
            "min": round(float(per_component.min())),
            "median": round(float(np.median(per_component))),
            "max": round(float(per_component.max())),
            f"components_with_fewer_than_{codes.shape[1] + 1}": int((per_component < codes.shape[1] + 1).sum()),
        },
    }


def measure(name: str, factor: int, n_samples: int, out: Path, notes_only: bool = False) -> list[dict]:
    m, ds, evaluator = open_model(name, "onnx"), load_dataset(name), default_evaluator_for(name)
    train = ds.split("train")
    test_images = ds.images[ds.split("test")]
    all_train = encode_batched(m, ds.images[train], progress=False)  # the novelty's reference
    codes = all_train[subsample(len(train), MAX_CODES, SEED)]  # what fit_density fits
    test_codes = encode_batched(m, test_images, progress=False)
    real = evaluator_features(evaluator, test_images)
    scale = standardiser(real)
    real = scale(real)
    real_px = pooled_pixels(test_images.astype(np.float64) / 255.0, factor)
    scale_px = pixel_standardiser(real_px)
    real_px = scale_px(real_px)
    noise = np.random.default_rng(SEED).standard_normal((n_samples, m.latent_dim)).astype(np.float32)
    test_torch = torch.as_tensor(test_codes)

    rows, shown = [], {}

    def add(source: str, sample_codes: np.ndarray, **info) -> None:
        images = decode_batched(m, sample_codes.astype(np.float32))
        fake = scale(evaluator_features(evaluator, images))
        k, kp = kid(real, fake, seed=SEED), kid(real_px, scale_px(pooled_pixels(images, factor)), seed=SEED)
        nov = novelty(sample_codes, all_train, test_codes)
        rows.append(
            {
                "model": name,
                "source": source,
                **info,
                "kid": k["kid"],
                "kid_std": k["kid_std"],
                "fd": frechet_distance(real, fake),
                "kid_pixels": kp["kid"],
                "kid_pixels_std": kp["kid_std"],
                "novelty": nov["ratio"],
            }  # fmt: skip
        )
        shown[source] = images[:SHOWN]
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()}), flush=True)

    if not notes_only:
        add("prior", noise)
    start = time.perf_counter()
    choice = choose_mixture(codes, seed=SEED)
    budget = time.perf_counter() - start
    notes = mixture_notes(choice.mixture, codes, all_train, test_codes, n_samples)
    print(json.dumps({"model": name, "components": choice.n_components, **notes}), flush=True)
    if notes_only:
        return []
    add(
        "mixture",
        sample_mixture(choice.mixture, n_samples, seed=SEED),
        seconds=budget,
        components=choice.n_components,
        test_log_likelihood=log_likelihood(choice.mixture, test_codes),
    )
    noise_t = torch.as_tensor(noise)
    for label, make in (
        ("two-stage", lambda: SecondStage(m.latent_dim)),
        ("flow", lambda: RealNVP(codes)),
    ):
        torch.manual_seed(SEED)
        for times, snap in zip((1, 3), train_timed(make(), codes, [budget, 3 * budget])):
            net = snap["model"]
            info = {k: snap[k] for k in ("seconds", "steps", "epochs", "train_loss")}
            if label == "flow":
                with torch.no_grad():
                    info["test_log_likelihood"] = float(net.log_prob(test_torch).mean())
            else:
                torch.manual_seed(SEED)
                info["test_elbo"], info["test_iwae"] = net.bounds(test_torch)
                info["gamma"] = net.log_gamma.exp().item()
            add(f"{label} {times}T", net.sample(noise_t).numpy(), **info)
    shuffled = np.random.default_rng(SEED).permutation(len(test_codes))  # the split is in emoji order: show a mix
    add("test reconstructions", test_codes[shuffled])  # the ceiling: the test codes themselves, decoded
    rows[-1]["novelty"] = 1.0  # by construction
    grid_figure(
        shown,
        out / f"sample-density-{name}.png",
        f"{name}: decoded samples of each source (prior, two-stage and flow decode the same N(0, I) draws; "
        f"T = {budget:.0f} s)",
    )
    return rows


def table(rows: list[dict]) -> str:
    prior = next(r for r in rows if r["source"] == "prior")
    mix = next(r for r in rows if r["source"] == "mixture")
    lines = [
        "| source | fit time | KID, evaluator (± spread) | ÷ prior | ÷ mixture | FD, evaluator "
        "| KID, pixels (± spread) | ÷ mixture | test codes' log-likelihood | novelty |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "test_log_likelihood" in r:
            ll = f"{r['test_log_likelihood']:.2f}"
        elif "test_elbo" in r:
            ll = f"≥ {r['test_iwae']:.2f} (ELBO {r['test_elbo']:.2f})"
        else:
            ll = "—"
        seconds = f"{r['seconds']:.1f} s" if "seconds" in r else "—"
        lines.append(
            f"| {r['source']} | {seconds} | {r['kid']:.4f} ± {r['kid_std']:.4f} | {r['kid'] / prior['kid']:.2f} "
            f"| {r['kid'] / mix['kid']:.2f} | {r['fd']:.1f} | {r['kid_pixels']:.4f} ± {r['kid_pixels_std']:.4f} "
            f"| {r['kid_pixels'] / mix['kid_pixels']:.2f} | {ll} | {r['novelty']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=2000, help="decoded samples per source")
    p.add_argument("--models", default=",".join(MODELS), help="shipped models, comma-separated")
    p.add_argument("--out", default="out/sample-density", help="where the figures and results.json go")
    p.add_argument("--notes", action="store_true", help="only fit the mixtures and print mixture_notes (no training)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    start, tables, everything = time.perf_counter(), [], []
    for name in args.models.split(","):
        rows = measure(name, MODELS[name], args.samples, out, notes_only=args.notes)
        if args.notes:
            continue
        everything += rows
        tables.append(f"\n{name}\n\n{table(rows)}")
    if args.notes:
        return
    (out / "results.json").write_text(json.dumps(everything, indent=1))
    print("\n".join(tables))
    print(f"\n{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
