"""What every vaelab model shares: the interface, the loss in nats, and save/load as config.json +
model.safetensors (+ ONNX encoder/decoder for torch-free inference). No pickle anywhere."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from vaelab.io.atomic import move_into_place
from vaelab.models.config import (
    CONFIG_NAME,
    DECODER_ONNX,
    ENCODER_ONNX,
    WEIGHTS_NAME,
    ModelConfig,
    file_sha256,
    model_json,
)
from vaelab.models.density import drop_stale_density

LOG_2PI = math.log(2 * math.pi)
MIN_LOG_SIGMA = -6.0  # a learned or optimal sigma stays above e^-6 ≈ 0.0025: a perfect fit would send it to 0


def squared_error(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Each value's squared error (x − mean)² under a Gaussian likelihood whose mean is sigmoid(logits)."""
    return (x - torch.sigmoid(logits)) ** 2


@dataclass
class LossOutput:
    """Per-image terms in nats, shape (B,), and the scalar objective to minimise."""

    objective: torch.Tensor  # scalar: mean recon + beta * kl_weight * (free-bits) KL
    recon: torch.Tensor  # -log p(x|z) per image
    kl: torch.Tensor  # KL(q(z|x) || N(0, I)) per image; zeros for a plain autoencoder
    z: torch.Tensor  # the latent used for the reconstruction (B, D)
    logits: torch.Tensor | None = None  # the decoder's pixel logits of z (B, C, H, W)

    @property
    def neg_elbo(self) -> torch.Tensor:
        """-ELBO per image (nats): recon + KL, whatever beta and free bits the objective used."""
        return self.recon + self.kl


def full_precision(x: torch.Tensor):
    """A context in which autocast is off on ``x``'s device, for the sums that form an objective."""
    return torch.autocast(x.device.type, enabled=False)


def fp32(tensors):
    """A network's output (a tensor, or a tuple of tensors and Nones) as fp32: unchanged when it already is."""
    if isinstance(tensors, tuple):
        return tuple(None if t is None else t.float() for t in tensors)
    return tensors.float()


def total_correlation(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z) || Π_d q(z_d)) in nats, estimated on a batch as Chen et al. do: q(z_i) is the mean of
    q(z_i | x_j) over the batch's images j, and likewise for each dimension; z, mu, logvar are (B, D).
    (disentanglement_lib leaves out the (D − 1)·log B constant, which moves the value but not the gradient; it is
    kept here, as in Chen et al.'s estimator. On a batch the estimate is biased upwards, since each image's own
    posterior dominates the sums, so independent dimensions still read above 0.)"""
    log_q = -0.5 * (LOG_2PI + logvar[None] + (z[:, None] - mu[None]).pow(2) / logvar[None].exp())  # (B_i, B_j, D)
    log_q_joint = torch.logsumexp(log_q.sum(2), dim=1)  # log Σ_j q(z_i | x_j)
    log_q_marginals = torch.logsumexp(log_q, dim=1).sum(1)  # Σ_d log Σ_j q(z_id | x_j)
    return (log_q_joint - log_q_marginals).mean() + (z.shape[1] - 1) * math.log(z.shape[0])


class LatentModel(nn.Module):
    """Base class of every model: a subclass builds its networks and implements ``encode`` and ``decode_logits``;
    the loss, sampling, and saving as a model folder are shared."""

    variational = True

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.likelihood == "gaussian-learned":  # one sigma for every pixel, trained with the weights
            self.log_sigma = nn.Parameter(torch.tensor(math.log(cfg.sigma)))

    # --- the interface every model has -------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, C, H, W) in [0,1] → (mu, logvar), each (B, D); logvar is None for a plain AE."""
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, D) → pixel logits (B, C, H, W)."""
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic code of x: the posterior mean (B, D), never a sample."""
        return self.encode(x)[0]

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the code as ``embed`` gives it, the posterior's log-variance or None for a plain AE), encoding once
        where ``embed`` is the posterior mean."""
        mu, logvar = self.encode(x)
        return (mu if type(self).embed is LatentModel.embed else self.embed(x)), logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, D) → images (B, C, H, W) in [0,1] (the likelihood's mean)."""
        return torch.sigmoid(self.decode_logits(z))

    def recon_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x | logits) per image (B,), under the configured likelihood."""
        if self.cfg.likelihood == "bernoulli":
            nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        elif self.cfg.likelihood == "gaussian":
            s = self.cfg.sigma
            nll = 0.5 * ((x - torch.sigmoid(logits)) / s) ** 2 + math.log(s) + 0.5 * LOG_2PI
        else:
            sq = squared_error(logits, x)
            log_s = self.log_sigma_for(sq)
            nll = 0.5 * sq * torch.exp(-2 * log_s) + log_s + 0.5 * LOG_2PI
        return nll.flatten(1).sum(1)

    def recon_nll_at_optimum(self, squared: float, values: int) -> float:
        """The optimal-σ likelihood's −log p summed over ``values`` pixel values whose squared errors sum to
        ``squared``, with one σ at its optimum for all of them: what :meth:`recon_nll` gives for a batch that holds
        them all, for a test set scored in several batches."""
        log_s = float(self.log_sigma_for(torch.tensor(squared / values, dtype=torch.float64)))
        return 0.5 * squared * math.exp(-2 * log_s) + values * (log_s + 0.5 * LOG_2PI)

    def log_sigma_for(self, sq: torch.Tensor) -> torch.Tensor:
        """log σ of a Gaussian likelihood whose σ is not fixed, for squared errors ``sq`` (B, C, H, W): the learned
        σ, or the optimum, σ² = the batch's mean squared error, where −log p(x|z) = (C·H·W / 2)·log(MSE) + const (Rybkin
        et al. 2021, "Simple and Effective VAE Training with Calibrated Decoders"). Gradients flow through it, as
        in their objective. Either is kept at or above e^MIN_LOG_SIGMA."""
        raw = self.log_sigma if self.cfg.likelihood == "gaussian-learned" else 0.5 * torch.log(sq.mean())
        return raw.clamp(min=MIN_LOG_SIGMA)

    def loss(
        self, x: torch.Tensor, kl_weight: float = 1.0, eps: torch.Tensor | None = None, capacity: float | None = None
    ) -> LossOutput:
        """Named per-image terms in nats for a batch x (B, C, H, W) in [0,1]; ``eps`` (B, D) is the
        reparameterisation noise (drawn here when not given); ``capacity`` C (nats) makes the KL term
        β·|KL − C|, Burgess et al.'s capacity annealing. With a total-correlation weight the objective adds
        (tc_beta − 1)·TC while gradients are on (training); under ``torch.no_grad`` it leaves that term out."""
        # Under a bf16 autocast the networks compute in bf16; the code, the KL and the likelihood are formed from
        # their outputs cast back to fp32, so that the objective's sums keep fp32's precision.
        mu, logvar = fp32(self.encode(x))
        with full_precision(x):
            z, kl_dims = self.sample_code(mu, logvar, eps)
        logits = self.decode_logits(z).float()
        with full_precision(x):
            return self._terms(x, mu, logvar, z, kl_dims, logits, kl_weight, capacity)

    @staticmethod
    def sample_code(mu: torch.Tensor, logvar: torch.Tensor | None, eps: torch.Tensor | None):
        """(z, the KL of each dimension) for the posterior (mu, logvar), each (B, D), with noise ``eps`` (drawn when
        None); a plain autoencoder's z is mu, with no KL. Sampled in eval mode too: the ELBO is an expectation over
        q(z|x), not a value at its mean."""
        if logvar is None:
            return mu, torch.zeros_like(mu)
        z = mu + torch.exp(0.5 * logvar) * (torch.randn_like(mu) if eps is None else eps)
        return z, 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)

    def _terms(self, x, mu, logvar, z, kl_dims, logits, kl_weight, capacity) -> LossOutput:
        """:meth:`loss`'s terms from the networks' outputs, all fp32."""
        recon = self.recon_nll(logits, x)
        kl = kl_dims.sum(1)
        kl_term = kl_dims.mean(0).clamp(min=self.cfg.free_bits).sum() if self.cfg.free_bits > 0 else kl.mean()
        if capacity is not None:  # the KL is held near C rather than pushed to 0; training raises C
            kl_term = (kl_term - capacity).abs()
        objective = recon.mean() + self.cfg.beta * kl_weight * kl_term
        # β-TCVAE: KL + (β_TC − 1)·TC. Only when a gradient will be taken: scoring (under no_grad) needs the ELBO
        # terms alone, and the B × B × D estimate would cost it most of its time and memory.
        if self.cfg.tc_beta != 1.0 and logvar is not None and torch.is_grad_enabled():
            objective = objective + (self.cfg.tc_beta - 1.0) * kl_weight * total_correlation(z, mu, logvar)
        return LossOutput(objective=objective, recon=recon, kl=kl, z=z, logits=logits)

    def forward(
        self, x: torch.Tensor, kl_weight: float = 1.0, eps: torch.Tensor | None = None, capacity: float | None = None
    ) -> LossOutput:
        # The trainer calls the model (not .loss) so that DistributedDataParallel's hooks see the pass.
        return self.loss(x, kl_weight, eps, capacity)

    # --- save / load ---------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, data_spec: dict, onnx: bool = True, **extra) -> Path:
        """Write config.json, model.safetensors and (by default) encoder.onnx / decoder.onnx.

        Every file is written to a temp name and renamed into place, so a crash leaves the old files whole.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmpdir = Path(tempfile.mkdtemp(dir=folder, prefix=".saving-"))
        try:
            state = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
            save_file(state, str(tmpdir / WEIGHTS_NAME), metadata={"format": "pt"})
            if onnx:
                from vaelab.models.onnx_export import export_onnx

                export_onnx(self, tmpdir / ENCODER_ONNX, tmpdir / DECODER_ONNX, file_sha256(tmpdir / WEIGHTS_NAME))
            (tmpdir / CONFIG_NAME).write_text(json.dumps(model_json(self.cfg, data_spec, **extra), indent=2) + "\n")
            for f in tmpdir.iterdir():
                move_into_place(f, folder / f.name)
            if not onnx:  # stale ONNX files from an earlier save would no longer match the weights
                for name in (ENCODER_ONNX, DECODER_ONNX):
                    (folder / name).unlink(missing_ok=True)
            drop_stale_density(folder)  # a density of older weights: `vaelab fit-density` fits one anew
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        return folder
