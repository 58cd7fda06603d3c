"""Data-parallel training across processes launched by torchrun (gloo on CPU, nccl on CUDA).

Each rank takes its contiguous slice of every global batch, so N processes with batch B follow the same
path as one process with batch N·B: gradients are averaged, the shuffle uses the same seed everywhere, and
the reparameterisation noise for the global batch is drawn identically on every rank and sliced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def my_slice(self, n: int, per_rank: int) -> slice:
        """This rank's rows of a global batch of n = world × per_rank rows (all rows when alone)."""
        return slice(0, n) if self.world == 1 else slice(self.rank * per_rank, (self.rank + 1) * per_rank)

    def mean(self, value: torch.Tensor) -> float:
        """The mean of a scalar over ranks (every rank gets it, so a NaN stops all of them together)."""
        if self.world > 1:
            value = value.detach().clone()
            dist.all_reduce(value)
            value /= self.world
        return value.item()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def init_distributed(device: torch.device) -> Dist:
    """Join the process group torchrun describes in the environment, or run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(device=device)
    cuda = device.type == "cuda"
    if cuda:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank=dist.get_rank(), world=world, device=device)
