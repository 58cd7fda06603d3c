"""How a run computes: the number format of its forward passes (bf16 or fp32), the memory layout of its images and
convolutions, and whether torch.compile runs the model. Each choice is made once, by :func:`plan_compute`, from the
run's settings and what the device computes natively, and it is said in one line (:attr:`Compute.line`).

bf16 keeps fp32's 8-bit exponent with fewer mantissa bits. Under ``torch.autocast`` the convolutions and matrix
products run in bf16, while the master weights, the optimizer's state, the moving average and every sum that forms
the objective stay fp32 (the models and the losses cast their outputs back before reducing them). Because bf16's
range is fp32's, gradients do not underflow as fp16's do, and no gradient scaler is needed.

Evaluation, the metrics and the ONNX export run in fp32 whatever a run trained in, and the saved weights are fp32.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import torch

from vaelab.errors import VaelabWarning

# Model kinds whose training step measured faster with channels_last images and weights under bf16: vae-conv's
# stride-2 convolutions gained 1.2× on top of autocast on an AMX CPU, while vae-res (GroupNorm) lost (see
# docs/benchmarks/training-throughput.md). Under fp32 neither gained reliably, so fp32 runs keep the default layout.
CHANNELS_LAST_KINDS = frozenset({"vae-conv"})


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (PyTorch's own check, as oneDNN sees the CPU)."""
    return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())


def cpu_has_avx512_bf16() -> bool:
    """Whether this CPU has the AVX512-BF16 instructions (PyTorch's own check)."""
    return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())


def cuda_has_bf16(device: torch.device) -> bool:
    """Whether the CUDA device computes bf16 natively (compute capability 8.0 and up), not by emulation."""
    return torch.cuda.is_bf16_supported(including_emulation=False)


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """(whether ``device`` computes bf16 natively, the reason in words)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        if cuda_has_bf16(device):
            return True, f"{name} computes bf16 natively"
        return False, f"{name} has no native bf16 (it needs compute capability 8.0 or later)"
    if device.type == "cpu":
        found = [name for name, has in (("AMX", cpu_has_amx()), ("AVX512-BF16", cpu_has_avx512_bf16())) if has]
        if found:
            return True, f"this CPU has {' and '.join(found)}"
        return (
            False,
            "this CPU has neither AMX nor AVX512-BF16, so bf16 would run emulated, many times slower than fp32",
        )
    return False, f"bf16 is not measured on {device.type} devices"


@dataclass(frozen=True)
class Compute:
    """A run's way of computing, as :func:`plan_compute` chose it."""

    device_type: str  # "cpu" | "cuda" | …: where autocast applies
    precision: str  # "bf16" | "fp32": what the forward passes compute in
    channels_last: bool  # images and convolution weights in NHWC
    compiled: bool  # the training forward pass runs under torch.compile
    reason: str  # why this precision, for the banner

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context a training forward pass runs in: bf16 autocast, or nothing."""
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=torch.bfloat16)

    def prepare(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` in the run's memory layout (its parameters stay fp32)."""
        return module.to(memory_format=torch.channels_last) if self.channels_last else module

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """A batch (B, C, H, W) in the run's memory layout."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def compile(self, net):
        """What the training step calls (a network, or a function of one): compiled, or ``net`` itself. The weights
        stay the plain module's, so the checkpoint, the moving average and the ONNX export see no compiled code."""
        return torch.compile(net) if self.compiled else net

    @property
    def line(self) -> str:
        """The banner's line: what was chosen and why."""
        layout = ", channels_last" if self.channels_last else ""
        compiled = ", torch.compile" if self.compiled else ""
        return f"computing in {self.precision}{layout}{compiled} on {self.device_type} ({self.reason})"

    def record(self) -> dict:
        """config.json's record of how the run computed (``precision`` itself stays the setting as given)."""
        return {"computed_in": self.precision, "channels_last": self.channels_last}


def plan_compute(precision: str, compile: bool, device: torch.device, kind: str | None = None) -> Compute:
    """How a run of model ``kind`` computes on ``device``: ``precision`` "auto" takes bf16 where the device computes
    it natively and fp32 elsewhere; "bf16" on a device without it runs (emulated) and says so in one warning."""
    native, why = native_bf16(device)
    if precision == "auto":
        chosen, reason = ("bf16" if native else "fp32"), f"auto: {why}"
    else:
        chosen, reason = precision, f"as --precision {precision} asks"
        if precision == "bf16" and not native:
            warnings.warn(
                f"--precision bf16: {why}; --precision auto would pick fp32 here", VaelabWarning, stacklevel=2
            )
    channels_last = chosen == "bf16" and kind in CHANNELS_LAST_KINDS
    return Compute(device.type, chosen, channels_last, compile, reason)
