"""Latent arithmetic and attribute vectors on a model: expressions over concepts, attribute vectors with
balancing, and applying a vector to an image at several strengths."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaelab import vector_files
from vaelab.concepts import Concept, ConceptResolver
from vaelab.data.dataset import ImageDataset, query_mask
from vaelab.encoding import encode_uint8, prepare_images
from vaelab.errors import VaelabError
from vaelab.latent.arithmetic import attribute_vector, balanced_cells, combine, parse_expression
from vaelab.models.runtime import open_model


@dataclass
class ArithmeticResult:
    terms: list[tuple[float, Concept]]  # (signed weight, concept)
    vector: np.ndarray  # (D,) the result code
    image: np.ndarray  # (C, H, W) in [0,1], its decoding
    concept_images: list[np.ndarray] = field(default_factory=list)  # each term's decoded mean vector


def arithmetic(model=None, expression: str = "", data: str | ImageDataset | None = None, rescale: bool = False,
               backend: str = "auto") -> ArithmeticResult:
    """Evaluate ``"class:A - class:B + [c.png d.png]"``: each term's vector is the mean code of its images."""
    terms = parse_expression(expression)
    m = open_model(model, backend)
    resolver = ConceptResolver(m, data)
    concepts = [(t.weight, resolver.resolve(t.concept)) for t in terms]
    vectors = np.stack([c.vector for _, c in concepts])
    result = combine(vectors, [w for w, _ in concepts], rescale=rescale).astype(np.float32)
    decoded = m.decode(np.concatenate([vectors, result[None]]).astype(np.float32))
    return ArithmeticResult(concepts, result, decoded[-1], list(decoded[:-1]))


@dataclass
class AttributeResult:
    query: str
    vector: np.ndarray  # (D,)
    n_with: int  # images with the attribute that went into the vector
    n_without: int
    balance_on: list[str]
    n_left_out: int = 0  # images whose --balance-on combination occurs on one side only


def attribute(model=None, query: str = "", data: str | ImageDataset | None = None,
              balance_on: list[str] | None = None, backend: str = "auto") -> AttributeResult:
    """mean(z | query) − mean(z | not query) over the data, balanced on the named attributes."""
    m = open_model(model, backend)
    ds = ConceptResolver(m, data).dataset
    mask = query_mask(ds, query)
    columns = []
    for name in balance_on or []:
        if name not in ds.attributes and not (name == "class" and ds.labels is not None):
            raise VaelabError(f"cannot balance on {name!r}; {ds.name} has "
                              + (f"these attributes: {', '.join(sorted(ds.attributes))}" if ds.attributes
                                 else "no attributes (only classes: balance on class)" if ds.labels is not None
                                 else "no attributes"))
        columns.append(ds.labels if name == "class" else ds.attributes[name])
    used = balanced_cells(mask, columns or None) >= 0  # the images in a cell found on both sides; checks first
    z = encode_uint8(m, ds.images)
    vec = attribute_vector(z, mask, columns or None).astype(np.float32)
    return AttributeResult(query, vec, int((mask & used).sum()), int((~mask & used).sum()), list(balance_on or []),
                           int((~used).sum()))


def save_vector(path: str | Path, result: AttributeResult, model_folder: Path | None, data: str = "") -> Path:
    """Save an attribute vector as safetensors (key 'vector'), with its query, model and data in the metadata."""
    return vector_files.save_vector(path, result.vector, {
        "query": result.query, "balance_on": ",".join(result.balance_on), "n_with": str(result.n_with),
        "n_without": str(result.n_without), "n_left_out": str(result.n_left_out), "model": str(model_folder or ""),
        "data": data})


def apply_vector(model, image, vector: np.ndarray, strengths, backend: str = "auto") -> np.ndarray:
    """Decode code(image) + s·vector for each strength s → (S, C, H, W) in [0,1]; s = 0 is the reconstruction."""
    m = open_model(model, backend)
    vector = np.asarray(vector, np.float32)
    if vector.shape != (m.latent_dim,):
        raise VaelabError(f"the vector has shape {vector.shape}, the model's latent is ({m.latent_dim},)")
    z = m.embed(prepare_images(m, [image]))[0]
    return m.decode((z[None] + np.asarray(strengths, np.float32)[:, None] * vector[None]).astype(np.float32))
