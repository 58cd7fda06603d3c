"""Latent arithmetic on a model: an expression over concepts ("class:A - class:B + [c.png d.png]"), each term
the mean code of its images, decoded. The result is brought back to where the model's codes are before it is
decoded (:mod:`vaelab.latent.landing`), unless ``correction="none"``."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from vaelab.data.dataset import ImageDataset
from vaelab.data.images import enlarge, to_pil
from vaelab.errors import VaelabError
from vaelab.io.staging import staged_folder
from vaelab.latent.arithmetic import combine, parse_expression
from vaelab.latent.corrections import CORRECTIONS
from vaelab.latent.landing import (
    Landing,
    land_on_density,
    land_on_norm,
    mixture_norm_band,
    no_landing,
    norm_band,
    typical_log_density,
)
from vaelab.models.runtime import InferenceModel, encode_batched, open_model
from vaelab.tasks.concepts import Concept, ConceptResolver
from vaelab.viz.algebra_figures import arithmetic_figure, vector_histograms


@dataclass
class ArithmeticResult:
    terms: list[tuple[float, Concept]]  # (signed weight, concept)
    vector: np.ndarray  # (D,) the result code
    image: np.ndarray  # (C, H, W) in [0,1], its decoding
    concept_images: list[np.ndarray] = field(default_factory=list)  # each term's decoded mean vector
    landing: Landing | None = None  # how ``vector`` was brought back to the codes: its correction, before and after
    sum: np.ndarray | None = None  # (D,) the plain sum of the terms, before the correction

    @property
    def correction(self) -> str:
        """ "norm", "density" or "none": what was done to the sum before it was decoded."""
        return self.landing.correction if self.landing is not None else "none"

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
    correction: str = "norm",
) -> ArithmeticResult:
    """Evaluate ``"class:A - class:B + [c.png d.png]"``: each term's vector is the mean code of its images.
    ``strength`` scales the offset that the terms after the first add to it. ``correction`` brings the result
    back to the model's codes before it is decoded: "norm" (the default) rescales it into the codes' typical
    norms when it lies outside them, "density" climbs the model's fitted code density until the result is as
    likely as a typical code, "none" decodes the plain sum (:func:`land`)."""
    check_correction(correction)
    terms = parse_expression(expression)
    m = open_model(model, backend)
    resolver = ConceptResolver(m, data)
    concepts = [(t.weight, resolver.resolve(t.concept)) for t in terms]
    return combine_concepts(m, concepts, rescale, strength, correction, resolver)


def check_correction(correction: str) -> None:
    if correction not in CORRECTIONS:
        raise VaelabError(f"unknown correction {correction!r}; use one of {', '.join(CORRECTIONS)}")


# open model → what was measured once of its codes: the norm band by limit, the typical log-density
_CODE_MEASURES: weakref.WeakKeyDictionary[InferenceModel, dict[tuple, object]] = weakref.WeakKeyDictionary()


def _measured_once(m: InferenceModel, key: tuple, measure: Callable[[], object]):
    """``measure()`` for this open model and ``key``, taken on the first call and kept while the model is open: each
    draws thousands of codes from the density (or encodes training images), and the studio's arithmetic slider asks
    on every move."""
    measures = _CODE_MEASURES.setdefault(m, {})
    if key not in measures:
        measures[key] = measure()
    return measures[key]


def codes_norm_band(
    m: InferenceModel, resolver: ConceptResolver | None = None, limit: int = 2000
) -> tuple[float, float]:
    """The band of typical norms of the model's codes (:func:`~vaelab.latent.landing.norm_band`): from its fitted
    density where the folder has one, else from the codes of (at most ``limit``, seeded) training images of its
    data. Measured once per open model and limit."""

    def measure() -> tuple[float, float]:
        if m.density() is not None:
            return mixture_norm_band(m.density())
        ds = (resolver or ConceptResolver(m)).dataset
        rows = ds.split("train")
        if len(rows) > limit:
            rows = np.sort(np.random.default_rng(0).choice(rows, limit, replace=False))
        return norm_band(encode_batched(m, ds.images[rows], progress=False))

    return _measured_once(m, ("norm band", limit), measure)


def land(
    m: InferenceModel, z: np.ndarray, correction: str = "norm", resolver: ConceptResolver | None = None
) -> Landing:
    """Code z (D,) brought back to the model's codes by ``correction``: "density" needs the folder's fitted
    density (`vaelab fit-density`); "norm" takes the band of typical norms from it, or without one from the codes."""
    check_correction(correction)
    if correction == "none":
        return no_landing(z)
    if correction == "density":
        if m.density() is None:
            where = m.folder or "this model"
            raise VaelabError(
                f"{where} has no fitted density; make one with `vaelab fit-density {where}`, or use the norm correction"
            )
        target = _measured_once(m, ("typical log-density",), lambda: typical_log_density(m.density()))
        return land_on_density(z, m.density(), target=target)
    return land_on_norm(z, *codes_norm_band(m, resolver))


def combine_concepts(
    m: InferenceModel,
    concepts: list[tuple[float, Concept]],
    rescale: bool = False,
    strength: float = 1.0,
    correction: str = "norm",
    resolver: ConceptResolver | None = None,
) -> ArithmeticResult:
    """Σ wᵢ·vᵢ over resolved concepts, brought back to the codes by ``correction`` (:func:`land`) and decoded,
    with each term's own vector. The terms after the first are scaled by ``strength``: ``A − B + C`` at strength
    s is A + s·(C − B), so 0 gives A and 1 the plain sum."""
    if not np.isfinite(strength):
        raise VaelabError(f"the strength must be a finite number, not {strength}")
    vectors = np.stack([c.vector for _, c in concepts])
    weights = [w * (strength if i else 1.0) for i, (w, _) in enumerate(concepts)]
    total = combine(vectors, weights, rescale=rescale)
    landing = land(m, total, correction, resolver)
    result = landing.code.astype(np.float32)
    decoded = m.decode(np.concatenate([vectors, result[None]]).astype(np.float32))
    return ArithmeticResult(concepts, result, decoded[-1], list(decoded[:-1]), landing, total.astype(np.float32))


def write_arithmetic(result: ArithmeticResult, out: str | Path, upscale: int = 4) -> None:
    """Write result.png (the decoded result, enlarged ``upscale`` times), arithmetic.png (the equation drawn with
    each term's decoded vector) and histograms.png (the terms' and the result's codes) into ``out``."""
    with staged_folder(out) as tmp:
        enlarge(to_pil(result.image), upscale).save(tmp / "result.png")
        arithmetic_figure(result, tmp / "arithmetic.png")
        vector_histograms(result, tmp / "histograms.png")
