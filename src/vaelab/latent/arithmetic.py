"""Latent algebra as pure numpy: expressions over concept vectors, attribute vectors with balancing,
and blends (Euclidean and spherical means). Knows nothing of images, files or models.

A *concept* is a set of codes; its vector is their mean (the vector-arithmetic blog post averages several faces per
term).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from vaelab.errors import VaelabError


@dataclass(frozen=True)
class Term:
    weight: float  # signed: "- 0.5*class:X" has weight -0.5
    concept: str  # 'class:Sneaker', 'attr:gender=woman', '[a.png b.png]', 'path/to/folder' ...


_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_TERM = re.compile(rf"\s*([+-])?\s*(?:({_NUMBER})\s*\*\s*)?(\[[^\[\]]*\]|.+?)\s*(?=\s[+-]\s|$)")
_GLUED = re.compile(r"\S[+-](?:class|attr):")  # "class:A-class:B": an operator without its spaces
MAX_WEIGHT = 1000.0  # a term's weight or an edit's strength; past it the code is far outside anything decodable
MAX_STRENGTHS = 1000  # images in one attribute strip


def parse_expression(expr: str) -> list[Term]:
    """``"class:Sneaker - class:Sandal + 0.5*[a.png b.png]"`` → signed, weighted terms.

    Operators must stand between spaces, so names like ``T-shirt/top`` keep their hyphen.
    """
    text = expr.strip()
    if not text:
        raise VaelabError("empty expression")
    terms, pos = [], 0
    while pos < len(text):
        m = _TERM.match(text, pos)
        if not m or not m.group(3).strip():
            raise VaelabError(
                f"cannot parse expression {expr!r} at {text[pos:]!r}; write terms like "
                "'class:A - class:B + class:C' with spaces around + and -"
            )
        sign = -1.0 if m.group(1) == "-" else 1.0
        if terms and m.group(1) is None:
            raise VaelabError(f"cannot parse expression {expr!r}: expected + or - before {m.group(3)!r}")
        concept = m.group(3).strip()
        if len(concept) > 1 and concept[0] == concept[-1] and concept[0] in "\"'":
            concept = concept[1:-1]  # a quoted name: "grüne sachen/"
            if not concept.strip():
                raise VaelabError(f"cannot parse expression {expr!r}: an empty quoted name")
        if concept[:1] in "\"'" and concept[:1] not in concept[1:]:  # "my - set/": cut at its own " - "
            raise VaelabError(
                f"cannot parse expression {expr!r}: the quote in {concept!r} is not closed; a name "
                "with ' + ' or ' - ' in it goes in a bracketed list, [\"my - set/\"]"
            )
        if concept.startswith("[") != concept.endswith("]"):
            raise VaelabError(
                f"cannot parse expression {expr!r}: {concept!r} opens or closes a [file list] without the other end"
            )
        if _GLUED.search(concept):
            raise VaelabError(f"cannot parse expression {expr!r}: put spaces around + and - in {concept!r}")
        if concept in ("+", "-") or concept.endswith((" +", " -")) or concept.startswith(("+", "-")):
            raise VaelabError(f"cannot parse expression {expr!r}: an operator has no term after it")
        if not concept.startswith("[") and re.search(r"\s(class|attr):", concept):
            raise VaelabError(f"cannot parse expression {expr!r}: expected + or - between terms in {concept!r}")
        weight = float(m.group(2) or 1.0)
        if not weight <= MAX_WEIGHT:  # 1e999 is inf; past the bound the result leaves any code the model decodes
            raise VaelabError(f"cannot parse expression {expr!r}: the weight {m.group(2)} is past {MAX_WEIGHT:g}")
        terms.append(Term(sign * weight, concept))
        pos = m.end()
    return terms


def combine(vectors: np.ndarray, weights, rescale: bool = False) -> np.ndarray:
    """Σ wᵢ·vᵢ over (T, D) vectors. With ``rescale`` the result gets the terms' mean norm (plat's rule:
    a difference of codes is short, and decoding a short code gives a washed-out average image)."""
    vectors = np.asarray(vectors, np.float64)
    out = np.tensordot(np.asarray(weights, np.float64), vectors, axes=1)
    if rescale:
        n = np.linalg.norm(out)
        if n > 0:
            out = out * (np.linalg.norm(vectors, axis=1).mean() / n)
    return out


def weighted_centroid(vectors: np.ndarray, weights=None) -> np.ndarray:
    """The weighted Euclidean mean (centre of mass) of (K, D) vectors; weights are normalised to sum 1."""
    vectors = np.asarray(vectors, np.float64)
    w = np.ones(len(vectors)) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (len(vectors),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise VaelabError(f"need {len(vectors)} finite non-negative weights with a positive sum")
    return (w / w.sum()) @ vectors


def spherical_mean(vectors: np.ndarray, weights=None) -> np.ndarray:
    """The weighted mean *direction*, rescaled to the weighted mean norm: a blend that stays on the shell
    where the codes live instead of falling towards the origin like the Euclidean mean."""
    vectors = np.asarray(vectors, np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    direction = weighted_centroid(vectors / np.maximum(norms, 1e-12)[:, None], weights)
    length = np.linalg.norm(direction)
    # The mean of unit vectors: a length this small is rounding (float32 codes leave about 1e-8), not a direction.
    if length < 1e-6:
        raise VaelabError("the vectors cancel out: their mean direction is undefined")
    return direction / length * weighted_centroid(norms[:, None], weights)[0]


def balanced_cells(mask: np.ndarray, balance_on: list[np.ndarray] | None) -> np.ndarray:
    """The cell (N,) of each image among the combinations of the ``balance_on`` columns that occur both with
    and without the attribute ``mask``; -1 for an image whose combination occurs on one side only. Without
    columns, every image is in cell 0. A mask true for every image or none is refused: nothing to contrast."""
    mask = np.asarray(mask, bool)
    if mask.all() or not mask.any():
        raise VaelabError(
            f"the attribute is true for {'every' if mask.all() else 'no'} image; "
            "an attribute vector needs images with and without it"
        )
    if not balance_on:
        return np.zeros(len(mask), np.int64)
    keys = np.unique(
        np.stack([np.unique(np.asarray(c), return_inverse=True)[1] for c in balance_on], axis=1),
        axis=0,
        return_inverse=True,
    )[1].reshape(-1)
    both = np.intersect1d(keys[mask], keys[~mask])
    if not len(both):
        raise VaelabError("no combination of the --balance-on attributes occurs both with and without the attribute")
    return np.where(np.isin(keys, both), np.searchsorted(both, keys), -1)


def attribute_vector(latents: np.ndarray, mask: np.ndarray, balance_on: list[np.ndarray] | None = None) -> np.ndarray:
    """mean(z | attr) − mean(z | not attr) over latents (N, D) and a boolean mask (N,).

    ``balance_on`` lists label columns (N,) of attributes that correlate with this one. Every combination
    cell of their values then counts equally on both sides, which is what replicating samples until every
    cell has the same count does (plat's --balanced), without the copies. Cells present on only one side
    cannot be balanced and are left out (:func:`balanced_cells` says which images take part).
    """
    latents = np.asarray(latents, np.float64)
    cells = balanced_cells(mask, balance_on)
    sides = []
    for side in (mask, ~mask):
        sides.append(np.mean([latents[side & (cells == c)].mean(0) for c in range(cells.max() + 1)], axis=0))
    return sides[0] - sides[1]


def parse_strengths(text: str) -> np.ndarray:
    """``"-2:2:9"`` (start:stop:count) or ``"-1,0,1.5"`` → array of strengths, at most MAX_STRENGTHS of them, each
    within ±MAX_WEIGHT."""
    try:
        if ":" in text:
            a, b, n = text.split(":")
            if not 1 <= int(n) <= MAX_STRENGTHS:
                raise ValueError
            values = np.linspace(float(a), float(b), int(n))
        else:
            values = np.array([float(v) for v in text.split(",") if v.strip()])
        if not 1 <= len(values) <= MAX_STRENGTHS or not (np.abs(values) <= MAX_WEIGHT).all():
            raise ValueError
        return values
    except ValueError:
        raise VaelabError(
            f"strengths {text!r}: use START:STOP:COUNT like -2:2:9, or a list of finite numbers like "
            f"-1,0,1; at most {MAX_STRENGTHS} strengths, each within ±{MAX_WEIGHT:g}"
        ) from None
