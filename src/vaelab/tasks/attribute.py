"""Attribute vectors on a model: mean(z | query) − mean(z | not query), balanced on other attributes, saved as a
vector file and applied to an image at several strengths."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vaelab.data.dataset import ImageDataset, query_mask
from vaelab.data.images import to_pil
from vaelab.data.inputs import image_stem
from vaelab.errors import VaelabError
from vaelab.io import vectors
from vaelab.io.staging import staged_folder
from vaelab.latent.arithmetic import attribute_vector, balanced_cells
from vaelab.latent.landing import land_on_norm
from vaelab.models.runtime import encode_batched, open_model
from vaelab.tasks.arithmetic import check_correction, land
from vaelab.tasks.concepts import ConceptResolver
from vaelab.tasks.encoding import prepare_images

CORRECTION_NOTES = {
    "norm": "each code rescaled to the image's code norm",
    "density": "each code landed on the code density",
    "none": "codes not corrected",
}
MAX_SLUG = 80  # bytes of a query kept in a file name; file systems allow 255


def file_slug(text: str) -> str:
    """Text as part of a file name: runs of anything but letters (of any script), digits, = . - become one _; a
    long one is cut, with a hash of the whole, so that two long queries still get two names."""
    slug = re.sub(r"[^\w=.-]+", "_", text).strip("_") or "_"
    if len(slug.encode()) > MAX_SLUG:  # bytes: a letter of another script may take up to 4
        head = slug.encode()[: MAX_SLUG - 9].decode(errors="ignore")
        slug = f"{head}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return slug


def query_slug(query: str) -> str:
    """An --attr query as a file name: 'gender=woman|man' and 'gender=woman,skin=none' stay apart
    ('gender=woman-or-man', 'gender=woman_skin=none')."""
    return file_slug(query.replace("|", "-or-"))


@dataclass
class AttributeResult:
    query: str
    vector: np.ndarray  # (D,)
    n_with: int  # images with the attribute that went into the vector
    n_without: int
    balance_on: list[str]
    n_left_out: int = 0  # images whose --balance-on combination occurs on one side only


def attribute(
    model=None,
    query: str = "",
    data: str | ImageDataset | None = None,
    balance_on: list[str] | None = None,
    backend: str = "auto",
) -> AttributeResult:
    """mean(z | query) − mean(z | not query) over the data, balanced on the named attributes."""
    m = open_model(model, backend)
    ds = ConceptResolver(m, data).dataset
    mask = query_mask(ds, query)
    columns = []
    for name in balance_on or []:
        if name not in ds.attributes and not (name == "class" and ds.labels is not None):
            raise VaelabError(
                f"cannot balance on {name!r}; {ds.name} has "
                + (
                    f"these attributes: {', '.join(sorted(ds.attributes))}"
                    if ds.attributes
                    else "no attributes (only classes: balance on class)"
                    if ds.labels is not None
                    else "no attributes"
                )
            )
        columns.append(ds.labels if name == "class" else ds.attributes[name])
    used = balanced_cells(mask, columns or None) >= 0  # the images in a cell found on both sides; checks first
    z = encode_batched(m, ds.images)
    vec = attribute_vector(z, mask, columns or None).astype(np.float32)
    return AttributeResult(
        query, vec, int((mask & used).sum()), int((~mask & used).sum()), list(balance_on or []), int((~used).sum())
    )


def save_vector(path: str | Path, result: AttributeResult, model_folder: Path | None, data: str = "") -> Path:
    """Save an attribute vector as safetensors (key 'vector'), with its query, model and data in the metadata."""
    return vectors.save_vector(
        path,
        result.vector,
        {
            "query": result.query,
            "balance_on": ",".join(result.balance_on),
            "n_with": str(result.n_with),
            "n_without": str(result.n_without),
            "n_left_out": str(result.n_left_out),
            "model": str(model_folder or ""),
            "data": data,
        },
    )


def apply_vector(
    model, image, vector: np.ndarray, strengths, backend: str = "auto", correction: str = "norm"
) -> np.ndarray:
    """Decode code(image) + s·vector for each strength s → (S, C, H, W) in [0,1]; s = 0 is the reconstruction.

    ``correction`` brings each edited code back to the codes before it is decoded, so that a large strength
    does not run off into noise: "norm" (the default) keeps the image's own code norm, "density" climbs the
    model's fitted code density until the code is as likely as a typical one, "none" decodes the plain sum."""
    check_correction(correction)
    m = open_model(model, backend)
    vector = np.asarray(vector, np.float32)
    if vector.shape != (m.latent_dim,):
        raise VaelabError(f"the vector has shape {vector.shape}, the model's latent is ({m.latent_dim},)")
    z = m.embed(prepare_images(m, [image]))[0]
    edited = z[None] + np.asarray(strengths, np.float32)[:, None] * vector[None]
    if correction == "norm":
        edited = np.stack([land_on_norm(e, float(np.linalg.norm(z))).code for e in edited])
    elif correction == "density":
        edited = np.stack([land(m, e, "density").code for e in edited])
    return m.decode(edited.astype(np.float32))


@dataclass
class AttributeStrip:
    """An image edited along a vector at several strengths, as `vaelab attribute --apply` draws it."""

    image_name: str  # the image's file name (or dataset image): the strip's title and file name say it
    edited: np.ndarray  # (S, C, H, W) in [0,1]: Dec(code(image) + s·vector) for each strength s
    original: np.ndarray  # (C, H, W) in [0,1]: the image as the model sees it
    strengths: np.ndarray  # (S,)
    along: str  # what the vector is: its query, or the file it was saved in
    correction: str = "norm"  # how each edited code was brought back to the codes: "norm", "density" or "none"

    @property
    def pictures(self) -> list[Image.Image]:
        """``edited`` as PIL images at the model's size, one per strength."""
        return [to_pil(im) for im in self.edited]

    @property
    def original_picture(self) -> Image.Image:
        """``original`` as a PIL image."""
        return to_pil(self.original)


def attribute_strip(
    model,
    image,
    image_name: str,
    vector: np.ndarray,
    strengths,
    along: str,
    backend: str = "auto",
    correction: str = "norm",
) -> AttributeStrip:
    """``image`` (a path, PIL image or array) edited along ``vector`` at each strength: :func:`apply_vector`."""
    m = open_model(model, backend)
    edited = apply_vector(m, image, vector, strengths, correction=correction)
    return AttributeStrip(image_name, edited, prepare_images(m, [image])[0], strengths, along, correction)


def write_attribute(
    out: str | Path,
    slug: str,
    result: AttributeResult | None = None,
    model_folder: Path | None = None,
    data: str = "",
    strip: AttributeStrip | None = None,
    upscale: int = 2,
) -> None:
    """Write into ``out`` the vector file ``attribute_<slug>.safetensors`` of ``result`` (its metadata names
    ``model_folder`` and ``data``), and the strip ``strip_<slug>_<image stem>.png`` of ``strip``: one strip per
    image, so that strips of several images stay side by side."""
    from vaelab.viz.algebra_figures import strip_image

    with staged_folder(out) as tmp:
        if result is not None:
            save_vector(tmp / f"attribute_{slug}.safetensors", result, model_folder, data=data)
        if strip is not None:
            zero = " (strength 0: the reconstruction)" if 0 in strip.strengths else ""
            strip_image(
                strip.edited,
                strip.strengths,
                scale=upscale,
                original=strip.original,
                title=f"{strip.image_name} along {strip.along}{zero}; {CORRECTION_NOTES[strip.correction]}",
            ).save(tmp / f"strip_{slug}_{file_slug(image_stem(strip.image_name))}.png")
