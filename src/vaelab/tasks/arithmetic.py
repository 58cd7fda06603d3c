"""Latent arithmetic on a model: an expression over concepts ("class:A - class:B + [c.png d.png]"), each term
the mean code of its images, decoded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from vaelab.data.dataset import ImageDataset
from vaelab.data.images import enlarge, to_pil
from vaelab.errors import VaelabError
from vaelab.io.staging import staged_folder
from vaelab.latent.arithmetic import combine, parse_expression
from vaelab.models.runtime import InferenceModel, open_model
from vaelab.tasks.concepts import Concept, ConceptResolver
from vaelab.viz.algebra_figures import arithmetic_figure, vector_histograms


@dataclass
class ArithmeticResult:
    terms: list[tuple[float, Concept]]  # (signed weight, concept)
    vector: np.ndarray  # (D,) the result code
    image: np.ndarray  # (C, H, W) in [0,1], its decoding
    concept_images: list[np.ndarray] = field(default_factory=list)  # each term's decoded mean vector

    @property
    def picture(self) -> Image.Image:
        """``image`` as a PIL image at the model's size (L or RGB)."""
        return to_pil(self.image)

    @property
    def concept_pictures(self) -> list[Image.Image]:
        """``concept_images`` as PIL images."""
        return [to_pil(im) for im in self.concept_images]


def arithmetic(
    model=None,
    expression: str = "",
    data: str | ImageDataset | None = None,
    rescale: bool = False,
    backend: str = "auto",
    strength: float = 1.0,
) -> ArithmeticResult:
    """Evaluate ``"class:A - class:B + [c.png d.png]"``: each term's vector is the mean code of its images.
    ``strength`` scales the offset that the terms after the first add to it."""
    terms = parse_expression(expression)
    m = open_model(model, backend)
    resolver = ConceptResolver(m, data)
    return combine_concepts(m, [(t.weight, resolver.resolve(t.concept)) for t in terms], rescale, strength)


def combine_concepts(
    m: InferenceModel, concepts: list[tuple[float, Concept]], rescale: bool = False, strength: float = 1.0
) -> ArithmeticResult:
    """Σ wᵢ·vᵢ over resolved concepts, decoded with each term's own vector. The terms after the first are scaled
    by ``strength``: ``A − B + C`` at strength s is A + s·(C − B), so 0 gives A and 1 the plain sum."""
    if not np.isfinite(strength):
        raise VaelabError(f"the strength must be a finite number, not {strength}")
    vectors = np.stack([c.vector for _, c in concepts])
    weights = [w * (strength if i else 1.0) for i, (w, _) in enumerate(concepts)]
    result = combine(vectors, weights, rescale=rescale).astype(np.float32)
    decoded = m.decode(np.concatenate([vectors, result[None]]).astype(np.float32))
    return ArithmeticResult(concepts, result, decoded[-1], list(decoded[:-1]))


def write_arithmetic(result: ArithmeticResult, out: str | Path, upscale: int = 4) -> None:
    """Write result.png (the decoded result, enlarged ``upscale`` times), arithmetic.png (the equation drawn with
    each term's decoded vector) and histograms.png (the terms' and the result's codes) into ``out``."""
    with staged_folder(out) as tmp:
        enlarge(to_pil(result.image), upscale).save(tmp / "result.png")
        arithmetic_figure(result, tmp / "arithmetic.png")
        vector_histograms(result, tmp / "histograms.png")
