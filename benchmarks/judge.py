"""An independent judge for the morph benchmarks: a small CNN of another shape than vaelab's evaluator (a 5×5 first
layer, three conv blocks, average pooling, a tanh layer of 96), trained here from its own seed on the data's
labels. Its standardised penultimate features are a perceptual space that nothing in vaelab was tuned in, so a
figure measured there cannot flatter a method chosen in the evaluator's features. Cached under the benchmark's
--out folder (run them as `python benchmarks/NAME.py`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn


class Judge(nn.Module):
    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 24, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(24, 48, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(48, 96, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(96 * 4, 96), nn.Tanh(),
        )  # fmt: skip
        self.head = nn.Linear(96, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _unit(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(images, np.float32) / (255.0 if images.dtype == np.uint8 else 1.0))


def judge_features(name: str, ds, cache: Path, seed: int = 11, epochs: int | None = None, standardised: bool = True):
    """The judge's features for labelled data ``ds``: images (N, C, H, W) in [0, 1] → (N, 96), standardised over
    the first 2000 test images (``standardised=False``: as the network gives them, for a caller that standardises
    them its own way). Trains it (3 epochs on a large training split, 40 on a small one) unless cached."""
    train, test = ds.split("train"), ds.split("test")
    net = Judge(ds.images.shape[1], int(ds.labels.max()) + 1)
    weights = Path(cache) / f"judge-{name}.safetensors"
    if weights.is_file():
        net.load_state_dict(load_file(weights))
    else:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        x, y = ds.images[train], ds.labels[train].astype(np.int64)
        for _ in range(epochs or (3 if len(x) > 20000 else 40)):
            for idx in np.array_split(rng.permutation(len(x)), max(1, len(x) // 128)):
                loss = nn.functional.cross_entropy(net(_unit(x[idx])), torch.from_numpy(y[idx]))
                opt.zero_grad()
                loss.backward()
                opt.step()
        weights.parent.mkdir(parents=True, exist_ok=True)
        save_file(net.state_dict(), weights)
    net.eval()

    def raw(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return (
                torch.cat([net.body(_unit(images[i : i + 512])) for i in range(0, len(images), 512)]).double().numpy()
            )

    if not standardised:
        return raw
    ref = ds.images[test][:2000]
    with torch.no_grad():
        accuracy = float((net(_unit(ref)).argmax(1).numpy() == ds.labels[test][:2000]).mean())
    feats = raw(ref)
    mean, std = feats.mean(0), feats.std(0) + 1e-6
    print(f"  independent judge for {name}: test accuracy {accuracy:.3f}")
    return lambda images: (raw(images) - mean) / std
