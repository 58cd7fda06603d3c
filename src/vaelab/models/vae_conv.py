"""`vae-conv`: the Metamorph VAE blog post's pseudo-architecture, generalised to any H×W, 1 or 3 channels and any
latent size.

Conv(stride 2)+ReLU stack → Flatten+Linear → (mu, logvar) → reparameterise → Linear+Unflatten+ReLU →
upsampling stack → pixel logits. ``fc`` > 0 adds a hidden Linear+ReLU of that width on each side of the code, as
disentanglement_lib's models have. Each decoder layer doubles H and W to the encoder's exact size at that level,
which is what lets odd sizes such as 28 → 14 → 7 → 4 come back to 28 (a fixed 64×64 decoder is the limit
PyTorch-VAE users hit most).

``upsample`` chooses how a decoder layer doubles H and W. The blog post's transposed convolution ("transpose")
overlaps its strides unevenly, so every other output pixel gets more of the kernel than its neighbours: the
checkerboard (speckle) of Odena et al. 2016, "Deconvolution and Checkerboard Artifacts", most visible on colour
images. The other choices avoid or smooth it: a nearest-neighbour resize then a conv ("resize", their remedy), a
transposed conv then a 3×3 conv ("transpose-conv"), the resize in the last layer only ("resize-last"), or a conv
to 4× the channels rearranged into a 2× larger image ("pixelshuffle", Shi et al. 2016), initialised by ICNR so that
it starts as a nearest-neighbour upsampling (Aitken et al. 2017, "Checkerboard artifact free sub-pixel
convolution").
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.errors import VaelabError
from vaelab.models.base import LatentModel
from vaelab.models.config import ModelConfig


def conv_out(n: int, k: int, p: int, s: int = 2) -> int:
    return (n + 2 * p - k) // s + 1


Size = tuple[int, int]


def transpose_up(c_in: int, c_out: int, size_in: Size, size_out: Size, k: int) -> list[nn.Module]:
    """A stride-2 transposed conv, its output_padding chosen so that it gives exactly ``size_out``."""
    p = k // 2
    base = [(n - 1) * 2 - 2 * p + k for n in size_in]
    pad = tuple(out - b for out, b in zip(size_out, base))
    return [nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=p, output_padding=pad)]


def same_conv(c_in: int, c_out: int, k: int) -> list[nn.Module]:
    """A stride-1 conv that keeps H and W; an even kernel is padded one pixel more on the bottom and right, as
    torch's padding="same" does (written out, so that it exports to ONNX without a warning)."""
    if k % 2:
        return [nn.Conv2d(c_in, c_out, k, padding=k // 2)]
    before, after = (k - 1) // 2, k // 2
    return [nn.ZeroPad2d((before, after, before, after)), nn.Conv2d(c_in, c_out, k)]


def resize_up(c_in: int, c_out: int, size_in: Size, size_out: Size, k: int) -> list[nn.Module]:
    """A nearest-neighbour resize to ``size_out``, then a conv: every output pixel sees the kernel alike."""
    return [nn.Upsample(size=size_out, mode="nearest"), *same_conv(c_in, c_out, k)]


def transpose_conv_up(c_in: int, c_out: int, size_in: Size, size_out: Size, k: int) -> list[nn.Module]:
    """A transposed conv at the input's width, a ReLU, then a 3×3 conv that can smooth its uneven overlaps away."""
    return [
        *transpose_up(c_in, c_in, size_in, size_out, k),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_in, c_out, 3, padding=1),
    ]


class Crop(nn.Module):
    """Keep the top-left H×W of a feature map: pixel shuffling doubles a size that may be one past the target."""

    def __init__(self, size: Size):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., : self.size[0], : self.size[1]]

    def extra_repr(self) -> str:
        return f"size={self.size}"


def icnr_(conv: nn.Conv2d, scale: int = 2) -> None:
    """ICNR initialisation (Aitken et al. 2017): the scale² sub-pixel filters of each output channel start equal, so
    that conv + PixelShuffle starts as one conv followed by a nearest-neighbour upsampling, free of checkerboard."""
    r2 = scale * scale
    with torch.no_grad():
        conv.weight.copy_(conv.weight[::r2].repeat_interleave(r2, dim=0))
        if conv.bias is not None:
            conv.bias.copy_(conv.bias[::r2].repeat_interleave(r2, dim=0))


def pixelshuffle_up(c_in: int, c_out: int, size_in: Size, size_out: Size, k: int) -> list[nn.Module]:
    """A conv to 4× the channels, rearranged into an image of twice the size (sub-pixel convolution), cropped to
    ``size_out`` where that is odd."""
    *pad, conv = same_conv(c_in, 4 * c_out, k)
    icnr_(conv)
    return [*pad, conv, nn.PixelShuffle(2), Crop(size_out)]


# each decoder layer by ModelConfig.upsample; "resize-last" is "resize" in the last layer, "transpose" elsewhere
UPSAMPLERS = {
    "transpose": transpose_up,
    "resize": resize_up,
    "transpose-conv": transpose_conv_up,
    "pixelshuffle": pixelshuffle_up,
}


def upsampler(upsample: str, last: bool):
    """The builder of one decoder layer for ``upsample`` (a ModelConfig.upsample value)."""
    if upsample == "resize-last":
        return resize_up if last else transpose_up
    return UPSAMPLERS[upsample]


class ConvVAE(LatentModel):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        k, p = cfg.kernel_size, cfg.kernel_size // 2
        sizes = [(cfg.height, cfg.width)]
        enc, c_in = [], cfg.channels
        for w in cfg.widths:
            enc += [nn.Conv2d(c_in, w, k, stride=2, padding=p), nn.ReLU(inplace=True)]
            c_in = w
            sizes.append((conv_out(sizes[-1][0], k, p), conv_out(sizes[-1][1], k, p)))
        if min(sizes[-1]) < 1:
            raise VaelabError(f"{cfg.height}×{cfg.width} is too small for {len(cfg.widths)} stride-2 convolutions")
        self.feature_shape = (cfg.widths[-1], *sizes[-1])
        n_feat = cfg.widths[-1] * sizes[-1][0] * sizes[-1][1]
        # An optional hidden Linear layer (disentanglement_lib's 256) each way. Without it the code maps
        # linearly onto the conv features, so no single code unit can move an object across the image.
        fc_in = [nn.Linear(n_feat, cfg.fc), nn.ReLU(inplace=True)] if cfg.fc else []
        fc_out = [nn.Linear(cfg.latent_dim, cfg.fc), nn.ReLU(inplace=True)] if cfg.fc else []
        self.encoder = nn.Sequential(*enc, nn.Flatten(), *fc_in)
        self.to_stats = nn.Linear(cfg.fc or n_feat, 2 * cfg.latent_dim)
        self.from_latent = nn.Sequential(
            *fc_out,
            nn.Linear(cfg.fc or cfg.latent_dim, n_feat),
            nn.Unflatten(1, self.feature_shape),
            nn.ReLU(inplace=True),
        )
        dec = []
        outs = list(cfg.widths[-2::-1]) + [cfg.channels]
        for i, c_out in enumerate(outs):
            last = i == len(outs) - 1
            dec += upsampler(cfg.upsample, last)(c_in, c_out, sizes[-1 - i], sizes[-2 - i], k)
            if not last:
                dec.append(nn.ReLU(inplace=True))
            c_in = c_out
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.to_stats(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_latent(z))
