"""`sprites`: procedural colour sprites with known factors of variation (dSprites in colour).

Every image is rendered from its factor tuple alone, so the 589,824 combinations never need storing, and the
interface is modelled on disentanglement_lib's ground-truth one: ``factor_names``, ``factor_sizes``,
``sample_factors(n, rng)`` and ``images_from_factors(f)`` (uint8 (n, 3, 64, 64)). The metrics in
`vaelab.metrics.disentanglement` take any object with that interface. disentanglement_lib's own names work
too: ``num_factors``, ``factors_num_values`` and ``sample_observations_from_factors(f, random_state)``, which
gives its float (n, 64, 64, 3) layout; ``rng`` may be its RandomState.

Rendering: the shape's outline is a polygon (rotated, scaled and moved in numpy), filled by Pillow on a canvas
four times larger and box-reduced to 64×64, which gives anti-aliased edges; the coverage then scales the colour.
Pillow's rasteriser is deterministic, so the same tuple always gives the same bytes.

Rotation covers a quarter turn (0° to 84.4° in 16 steps), not a full one: the square repeats every 90°, the
triangle every 120° and the ellipse every 180°, so over a full turn some rotation values would draw identical
images and the factor would not be identifiable from pixels (dSprites has that flaw).
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageDraw

from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError
from vaelab.rng import as_generator

SIZE = 64
SUPERSAMPLE = 4
SHAPES = ("square", "ellipse", "heart", "triangle")
COLOURS = ("red", "yellow", "green", "cyan", "blue", "magenta")  # HSV hues 0°, 60°, …, 300° at full value
SCALES = np.linspace(6.0, 11.0, 6)  # the shape's radius in pixels
ROTATIONS = np.arange(16) * 90.0 / 16  # degrees
POSITIONS = np.linspace(14.0, 50.0, 16)  # centre x / y in pixels; the largest rotated shape stays inside
SPECIFIED = ("shape", "colour")  # the identity a cycle-VAE's s should hold; the rest is style
DEFAULT_COUNT = 20_000
MAX_COUNT = 1_000_000  # 12 GB of 64×64 RGB images; the whole factor product is 589,824


def _outline(name: str, points: int = 48) -> np.ndarray:
    """The unit outline (P, 2) of a shape, x right and y up, roughly inside the unit disc."""
    t = np.linspace(0.0, 2 * np.pi, points, endpoint=False)
    if name == "square":
        return np.array([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]])
    if name == "ellipse":  # clearly non-circular, so that rotation shows
        return np.stack([np.cos(t), 0.55 * np.sin(t)], 1)
    if name == "heart":  # the classic parametric heart, centred on its bounding box and scaled to radius ~1
        x = 16 * np.sin(t) ** 3
        y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        return np.stack([x, y - (y.max() + y.min()) / 2], 1) / 16.5
    if name == "triangle":  # equilateral, pointing up
        a = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        return 1.05 * np.stack([np.cos(a), np.sin(a)], 1)
    raise ValueError(name)


_OUTLINES = [_outline(s) for s in SHAPES]
_RGB = np.array([colorsys.hsv_to_rgb(i / 6, 1.0, 1.0) for i in range(6)]) * 255.0


class Sprites:
    """The ground-truth data: 4 shapes × 6 colours × 6 scales × 16 rotations × 16 x × 16 y, 64×64 RGB on black."""

    factor_names = ("shape", "colour", "scale", "rotation", "x", "y")
    factor_sizes = (len(SHAPES), len(COLOURS), len(SCALES), len(ROTATIONS), len(POSITIONS), len(POSITIONS))
    observation_shape = (3, SIZE, SIZE)

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def sample_factors(self, n: int, rng) -> np.ndarray:
        """n factor tuples drawn uniformly and independently: int64 (n, 6). ``rng``: a Generator, a seed or a
        RandomState."""
        rng = as_generator(rng)
        return np.stack([rng.integers(0, k, n) for k in self.factor_sizes], 1).astype(np.int64)

    # disentanglement_lib's names for the same things, so that its code can take this data as it is
    @property
    def factors_num_values(self) -> list[int]:
        return list(self.factor_sizes)

    def sample_observations_from_factors(self, factors: np.ndarray, random_state=None) -> np.ndarray:
        """disentanglement_lib's rendering call, in its layout: float32 (n, 64, 64, 3) in [0, 1]."""
        return self.images_from_factors(factors).transpose(0, 2, 3, 1).astype(np.float32) / 255.0

    def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
        """factors: int (n, 6) → uint8 images (n, 3, 64, 64); the same tuple always gives the same image."""
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != self.num_factors:
            raise ValueError(f"factors must be (n, {self.num_factors}), got {factors.shape}")
        if (factors < 0).any() or (factors >= np.array(self.factor_sizes)).any():
            raise ValueError("factor index out of range")
        out = np.empty((len(factors), 3, SIZE, SIZE), np.uint8)
        for i, f in enumerate(factors):
            out[i] = render(*(int(v) for v in f))
        return out

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(factors (n, 6), images (n, 3, 64, 64)) for n random tuples."""
        f = self.sample_factors(n, rng)
        return f, self.images_from_factors(f)


def render(shape: int, colour: int, scale: int, rotation: int, x: int, y: int) -> np.ndarray:
    """One sprite from its factor indices → uint8 (3, 64, 64)."""
    theta = np.deg2rad(ROTATIONS[rotation])
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    pts = _OUTLINES[shape] @ rot.T * SCALES[scale]
    # Image rows grow downwards, so the outline's y (up) is subtracted from the centre row.
    px = (POSITIONS[x] + pts[:, 0]) * SUPERSAMPLE
    py = (POSITIONS[y] - pts[:, 1]) * SUPERSAMPLE
    canvas = Image.new("L", (SIZE * SUPERSAMPLE, SIZE * SUPERSAMPLE), 0)
    ImageDraw.Draw(canvas).polygon(list(zip(px.tolist(), py.tolist())), fill=255)
    coverage = np.asarray(canvas.reduce(SUPERSAMPLE), np.float64) / 255.0  # box filter: the anti-aliasing
    return np.rint(_RGB[colour][:, None, None] * coverage[None]).astype(np.uint8)


def class_names() -> list[str]:
    """The 24 identities (shape × colour), label = shape · 6 + colour: 'red square', 'yellow square', …"""
    return [f"{c} {s}" for s in SHAPES for c in COLOURS]


def load_sprites(arg: str | None = None, seed: int = 0) -> ImageDataset:
    """``sprites[:N]``: N sprites (default 20,000) with uniformly drawn factors, fixed seed.

    Labels are the specified identity (shape × colour, 24 classes); every factor is an int attribute column
    (``shape``, ``colour``, ``scale``, ``rotation``, ``x``, ``y``), so ``attr:shape=2`` selects hearts.
    """
    count = DEFAULT_COUNT
    if arg:
        try:
            count = int(arg)
        except ValueError:
            raise VaelabError(f"sprites:{arg}: expected an image count, e.g. sprites:5000") from None
        if not 2 <= count <= MAX_COUNT:
            raise VaelabError(f"sprites:{arg}: needs from 2 to {MAX_COUNT:,} images (each takes 12 KB of memory)")
    data = Sprites()
    factors, images = data.sample(count, np.random.default_rng(seed))
    return ImageDataset(
        images=images,
        labels=factors[:, 0] * len(COLOURS) + factors[:, 1],
        class_names=class_names(),
        attributes={name: factors[:, j] for j, name in enumerate(data.factor_names)},
        name="sprites" if count == DEFAULT_COUNT else f"sprites:{count}",
        background=0,
    )


def factors_of(ds: ImageDataset) -> np.ndarray:
    """The factor table (N, 6) of a dataset loaded with :func:`load_sprites`."""
    missing = [n for n in Sprites.factor_names if n not in ds.attributes]
    if missing:
        raise VaelabError(f"{ds.name} has no sprite factors ({', '.join(missing)} missing); use --data sprites")
    return np.stack([ds.attributes[n] for n in Sprites.factor_names], 1).astype(np.int64)
