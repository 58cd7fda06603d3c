"""One model as the studio works with it: opened once on onnxruntime, with what its panels reuse (its data, class
centroids, the latent map, resolved concepts) computed on first use and kept. Every answer comes from the task and
latent functions the CLI calls; this module only turns a client's choices into their arguments.

A client names an input as a *source*, a small dict:

- ``{"kind": "upload", "id": ID}``: an image it uploaded (see :class:`vaelab.studio.uploads.Uploads`);
- ``{"kind": "dataset", "ref": "test/17"}`` or ``"ref": "dog face"``: an image of the model's own data, by
  SPLIT/INDEX or by name, as ``vaelab morph fashion-mnist:test/17`` takes it;
- ``{"kind": "class", "name": "Sneaker"}``: a class (its centroid, or its images' mean code);
- ``{"kind": "attr", "query": "gender=woman"}``: the images whose attributes match (arithmetic);
- ``{"kind": "point", "x": X, "y": Y}``: a point on the latent map's plane.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from vaelab.data.inputs import DatasetImageRef, dataset_row
from vaelab.errors import VaelabError
from vaelab.latent.projection import Projection, fit_projection
from vaelab.latent.traversal import moved_code, order_by
from vaelab.models.runtime import SOURCES, InferenceModel, encode_batched, open_model, posterior_kl
from vaelab.studio.catalog import Entry
from vaelab.tasks.arithmetic import ArithmeticResult, combine_concepts
from vaelab.tasks.blend import blend_centroids
from vaelab.tasks.concepts import Concept, ConceptResolver
from vaelab.tasks.encoding import cached_class_centroids, load_model_dataset
from vaelab.tasks.morph import MorphResult, run_morph

MAP_POINTS = 2000  # images on the latent map: enough to see the classes, few enough to hover over
TRAVERSAL_DIMS = 8  # sliders in the traversal panel
TRAVERSAL_SPAN = 3.0  # each slider runs ±3 σ, as `vaelab explore`'s traversals do
SAMPLES = 16  # the samples panel's grid, 4×4
MAX_STUDIO_FRAMES = 120
MAX_INPUTS = 12
CACHE_ITEMS = 256  # resolved concepts and codes kept per model
IMAGE_KINDS = ("upload", "dataset")
PLAIN_AUTOENCODERS = ("ae-mlp",)  # no prior: a traversal steps by the codes' own spread


@dataclass
class LatentMap:
    """The model's data on the PCA plane of its codes: a seeded sample of up to MAP_POINTS images."""

    rows: np.ndarray  # (N,) the sampled rows of the dataset
    latents: np.ndarray  # (N, D) their posterior means
    coords: np.ndarray  # (N, 2) on the plane
    projection: Projection
    order: np.ndarray  # (D,) dimensions by their KL to the prior (or the variance of the codes), largest first
    activity: np.ndarray  # (D,) that KL in nats, or that variance
    measure: str  # "kl" or "variance": what ``activity`` holds
    sigma: np.ndarray  # (D,) a traversal's unit step: the prior's 1, or the codes' spread for an autoencoder


class Workspace:
    """A model and what its panels reuse. Thread-safe: the server answers requests on a thread pool."""

    def __init__(self, entry: Entry, uploads):
        self.entry, self.uploads = entry, uploads
        self._lock = threading.RLock()
        self._cache: OrderedDict[tuple, object] = OrderedDict()
        self._making: dict[tuple, threading.Lock] = {}  # key → the lock of the one thread computing it
        self._kept: dict[str, object] = {}  # what _once made: the data, the centroids, the latent map

    # --- what is computed once ---------------------------------------------------------------------------------
    @cached_property
    def model(self) -> InferenceModel:
        return open_model(self.entry.folder, "onnx", spinning=False)

    def _once(self, name: str, make):
        """The value ``make()`` gives, made by the first request that asks and kept (never evicted)."""
        with self._lock:
            if name not in self._kept:
                self._kept[name] = make()
            return self._kept[name]

    @property
    def dataset(self):
        return self._once("dataset", lambda: load_model_dataset(self.model))

    @property
    def centroids(self) -> np.ndarray:
        return self._once("centroids", lambda: cached_class_centroids(self.model, progress=False))

    @property
    def latent_map(self) -> LatentMap:
        return self._once("latent_map", self._survey)

    def _survey(self) -> LatentMap:
        ds, m = self.dataset, self.model
        rows = ds.split("test")
        rows = rows if len(rows) >= 200 else np.arange(len(ds))
        if len(rows) < 3:
            raise VaelabError(f"{ds.name} holds {len(rows)} images; a latent map needs at least 3")
        if len(rows) > MAP_POINTS:
            rows = np.sort(np.random.default_rng(0).choice(rows, MAP_POINTS, replace=False))
        z = encode_batched(m, ds.images[rows], progress=False)
        proj = fit_projection(z, 2, seed=0)
        spread = z.var(0).astype(np.float64)
        plain = m.doc["model"]["kind"] in PLAIN_AUTOENCODERS
        sigma = np.sqrt(spread) if plain else np.ones(m.latent_dim)
        kl = None if plain else posterior_kl(m, ds.images[rows])  # None: ONNX files without the log-variance
        activity, measure = (spread, "variance") if kl is None else (kl, "kl")
        return LatentMap(rows, z, proj.transform(z), proj, order_by(activity), activity, measure, sigma)

    @property
    def class_names(self) -> list[str]:
        return list(self.model.class_names or [])

    def class_problem(self) -> str:
        """Why the page offers no classes to add, or "" where the model's data has them."""
        if self.class_names:
            return ""
        return (
            f"{self.dataset.name} has no classes: a model has them when its data is labelled (an image folder with "
            "one subfolder per class)"
        )

    def blend_problem(self) -> str:
        """Why the blend panel cannot work for this model, or "" where it can: it mixes two or more class centroids."""
        if len(self.class_names) >= 2:
            return ""
        return self.class_problem() or f"{self.dataset.name} has one class; a blend mixes two or more"

    def examples(self) -> dict:
        """The inputs the page starts with, from the model's own data. The morph starts from two training images,
        which a model reconstructs better than the test images it never saw (most of all a small model), so its
        ends look like what they are. Arithmetic starts from classes: A − B + C where there are three, else a
        training image moved from its class to the other (image − its class + the other class)."""
        ds = self.dataset
        split = "train" if len(ds.split("train")) >= 2 else "test"
        morph = [{"kind": "dataset", "ref": f"{split}/{i}"} for i in (0, 1)]
        seen = "the model trained on" if split == "train" else "held out from training"
        note = f"The example morph runs between {split}/0 and {split}/1, images {seen}."
        names, arithmetic = self.class_names, []
        if len(names) >= 3:
            arithmetic = [{"sign": s, "source": {"kind": "class", "name": names[k]}} for k, s in enumerate((1, -1, 1))]
        elif len(names) == 2 and ds.labels is not None:
            row = ds.split(split)[0]
            own = int(ds.labels[row])
            image = {"kind": "dataset", "ref": f"{split}/0"}
            arithmetic = [
                {"sign": 1, "source": image},
                {"sign": -1, "source": {"kind": "class", "name": names[own]}},
                {"sign": 1, "source": {"kind": "class", "name": names[1 - own]}},
            ]
        return {"morph": morph, "morph_note": note, "arithmetic": arithmetic}

    def attributes(self) -> dict[str, list[str]]:
        """The data's attribute columns with up to 50 of their values, for the page's attribute chips."""
        out = {}
        for key, col in self.dataset.attributes.items():
            if key == "name":
                continue
            values = sorted({str(v) for v in np.asarray(col).ravel().tolist()})
            out[key] = values[:50]
        return out

    def _remember(self, key: tuple, make):
        """The value under ``key``, made once: requests that ask for it while one thread makes it wait for that one
        (20 pages opening at once would otherwise each encode a class's thousands of images, all at the same time)."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._lock:
                if key in self._cache:  # made while this thread waited
                    self._cache.move_to_end(key)
                    return self._cache[key]
            try:
                value = make()
            except BaseException:
                with self._lock:
                    self._making.pop(key, None)
                raise
            with self._lock:
                self._cache[key] = value
                self._making.pop(key, None)
                while len(self._cache) > CACHE_ITEMS:
                    self._cache.popitem(last=False)
        return value

    # --- sources -----------------------------------------------------------------------------------------------
    def _class_index(self, name) -> int:
        if not self.class_names:
            raise VaelabError("this model's data has no classes")
        return self.model.class_index(name)

    def _dataset_image(self, ref) -> tuple[np.ndarray, str]:
        if not isinstance(ref, str) or not ref.strip() or len(ref) > 200:
            raise VaelabError("a dataset image is SPLIT/INDEX (test/17) or an image's name, up to 200 characters")
        ref = ref.strip()
        data = self.dataset.name
        split, _, index = ref.partition("/")
        if split in ("train", "test", "all") and index.isascii() and index.lstrip("-").isdigit() and len(index) < 10:
            parsed = DatasetImageRef(data, split=split, index=int(index))
        else:
            parsed = DatasetImageRef(data, name=ref)
        return self.dataset.images[dataset_row(self.dataset, parsed)], str(parsed)

    def image_of(self, source: dict):
        """An image source → (the image as a client gave it: a PIL image or a uint8 array, its label)."""
        kind = source.get("kind")
        if kind == "upload":
            return self.uploads.image(source.get("id"))
        if kind == "dataset":
            return self._dataset_image(source.get("ref"))
        raise VaelabError(f"{kind!r} is not an image; give an upload or a dataset image")

    def code_of(self, source: dict) -> tuple[np.ndarray, str]:
        """Any source → (its code (D,), its label): an image's posterior mean, a class centroid, an attribute
        query's mean code, or a map point's place on the plane."""
        kind = source.get("kind")
        if kind == "class":
            i = self._class_index(source.get("name"))
            row = self.centroids[i]
            if not np.isfinite(row).all():
                raise VaelabError(f"class {self.class_names[i]!r} has no images, so it has no centroid")
            return row.astype(np.float64), f"{self.class_names[i]} (centroid)"
        if kind == "point":
            x, y = _number(source.get("x"), "x"), _number(source.get("y"), "y")
            code = self.latent_map.projection.to_latent(np.array([[x, y]]))[0]
            return code, f"point ({x:.2f}, {y:.2f})"
        if kind == "attr":
            c = self.concept_of(source)
            return c.vector.astype(np.float64), c.label
        key = _source_key(source)
        return self._remember(("code", *key), lambda: self._encode(source))

    def _encode(self, source: dict) -> tuple[np.ndarray, str]:
        image, label = self.image_of(source)
        return ConceptResolver(self.model).of_images(label, [image]).vector.astype(np.float64), label

    def concept_of(self, source: dict) -> Concept:
        """A source as arithmetic's term: a class's or an attribute query's images, or one image or point."""
        kind = source.get("kind")
        resolver = ConceptResolver(self.model, self.dataset if kind in ("class", "attr") else None)
        if kind == "class":
            name = self.class_names[self._class_index(source.get("name"))]
            return self._remember(("concept", "class", name), lambda: resolver.of_data(f"class:{name}"))
        if kind == "attr":
            query = source.get("query")
            if not isinstance(query, str) or not query.strip() or len(query) > 200:
                raise VaelabError("an attribute query is name=value (gender=woman), up to 200 characters")
            return self._remember(("concept", "attr", query.strip()), lambda: resolver.of_data(f"attr:{query}"))
        code, label = self.code_of(source)
        return Concept(label, np.zeros((0, self.model.channels, *self.model.size), np.uint8), code[None])

    # --- the panels --------------------------------------------------------------------------------------------
    def morph(
        self, sources: list[dict], method: str = "slerp", frames: int = 24, spacing: str = "latent"
    ) -> tuple[MorphResult, list[str]]:
        """The morph through the sources (images, classes, or any mix, through their codes), and the warnings it
        gave, as lines."""
        sources = _source_list(sources, 2)
        frames = _integer(frames, "frames")
        if not 2 <= frames <= MAX_STUDIO_FRAMES:
            raise VaelabError(f"frames must be from 2 (the two ends) to {MAX_STUDIO_FRAMES}, not {frames}")
        kinds = {s.get("kind") for s in sources}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if kinds <= set(IMAGE_KINDS):
                images, labels = zip(*(self.image_of(s) for s in sources))
                result = run_morph(self.model, images=list(images), frames=frames, method=method, labels=labels,
                                   spacing=spacing)  # fmt: skip
            elif kinds == {"class"}:
                names = [self.class_names[self._class_index(s.get("name"))] for s in sources]
                result = run_morph(self.model, classes=names, frames=frames, method=method, spacing=spacing)
            else:
                codes, labels = zip(*(self.code_of(s) for s in sources))
                result = run_morph(self.model, codes=np.stack(codes), frames=frames, method=method, labels=labels,
                                   spacing=spacing)  # fmt: skip
        return result, [str(w.message) for w in caught]

    def arithmetic(self, terms: list[dict], strength: float = 1.0) -> ArithmeticResult:
        """``terms``: [{"sign": +1 or -1, "source": SOURCE}, ...]; the first is the base that the others move."""
        if not isinstance(terms, list) or not 1 <= len(terms) <= MAX_INPUTS:
            raise VaelabError(f"give from 1 to {MAX_INPUTS} terms")
        concepts = []
        for t in terms:
            sign = t.get("sign", 1) if isinstance(t, dict) else None
            if sign not in (1, -1) or not isinstance(t.get("source"), dict):
                raise VaelabError('each term is {"sign": 1 or -1, "source": {...}}')
            concepts.append((float(sign), self.concept_of(t["source"])))
        return combine_concepts(self.model, concepts, strength=_number(strength, "strength"))

    def map_points(self) -> dict:
        """The latent map as the page plots it."""
        lm, ds = self.latent_map, self.dataset
        labels = ds.labels[lm.rows].tolist() if ds.labels is not None else None
        return {
            "x": lm.coords[:, 0].round(4).tolist(),
            "y": lm.coords[:, 1].round(4).tolist(),
            "labels": labels,
            "class_names": list(ds.class_names or []),
            "axis_labels": lm.projection.axis_labels,
            "data": ds.name,
        }

    def map_image(self, i) -> np.ndarray:
        """The i-th image on the map, as its dataset holds it."""
        lm = self.latent_map
        i = _integer(i, "i")
        if not 0 <= i < len(lm.rows):
            raise VaelabError(f"the map holds {len(lm.rows)} images; i runs from 0 to {len(lm.rows) - 1}")
        return self.dataset.images[lm.rows[i]]

    def decode_point(self, x, y) -> np.ndarray:
        code, _ = self.code_of({"kind": "point", "x": x, "y": y})
        return self.model.decode(code[None].astype(np.float32))[0]

    def traversal_dims(self) -> list[dict]:
        """The dimensions the traversal sliders move: the most active, by their mean KL to the prior over the map's
        images (or, for a plain autoencoder or ONNX files without the posterior's variance, by the variance of
        the codes)."""
        lm = self.latent_map
        return [{"dim": int(d), lm.measure: round(float(lm.activity[d]), 4)} for d in lm.order[:TRAVERSAL_DIMS]]

    def traverse(self, source: dict, offsets) -> np.ndarray:
        """The source's code with the traversal dimensions moved by ``offsets`` (in σ, each within ±span)."""
        lm = self.latent_map
        dims = lm.order[:TRAVERSAL_DIMS]
        if not isinstance(offsets, list) or len(offsets) != len(dims):
            raise VaelabError(f"give {len(dims)} offsets, one per slider")
        values = np.array([_number(v, "offset") for v in offsets])
        if (np.abs(values) > TRAVERSAL_SPAN).any():
            raise VaelabError(f"each offset lies within ±{TRAVERSAL_SPAN:g} σ")
        center, _ = self.code_of(source)
        code = moved_code(center, dims, values, lm.sigma)
        return self.model.decode(code[None].astype(np.float32))[0]

    def blend(self, weights: dict, mean: str = "euclidean") -> np.ndarray:
        """The decoded blend of the classes' centroids with ``weights`` ({class: weight}; the rest weigh 0)."""
        if not isinstance(weights, dict) or not weights:
            raise VaelabError("give a weight for at least one class")
        idx = [self._class_index(name) for name in weights]
        w = np.array([_number(v, "weight") for v in weights.values()])
        if (w < 0).any() or w.sum() <= 0:
            raise VaelabError("weights are non-negative, and not all 0")
        cents = self.centroids[idx]
        if not np.isfinite(cents[w > 0]).all():
            raise VaelabError("a weighted class has no images, so it has no centroid")
        keep = w > 0
        return blend_centroids(self.model, cents[keep], w[keep], mean)

    def sample_sources(self) -> dict:
        """The sources the samples panel offers, the default first: the fitted density where the folder has one. A
        density of other weights (the run trained on since it was fitted) leaves the prior, and says why, rather
        than the whole model's panels failing."""
        try:
            default = self.model.sample_source()
        except VaelabError as e:
            return {"default": "prior", "sources": ["prior"], "problem": str(e)}
        return {"default": default, "sources": [default] + [s for s in SOURCES if s != default]}

    def samples(self, seed, source=None, n: int = SAMPLES) -> np.ndarray:
        """``n`` decoded samples (n, C, H, W), seeded, from ``source`` ("prior", "density"; default as the model's)."""
        seed = _integer(seed, "seed")
        if not 0 <= seed < 2**32:
            raise VaelabError("seed must be a whole number from 0 to 2**32 - 1")
        if source is not None and not isinstance(source, str):
            raise VaelabError(f"source must be one of: {', '.join(SOURCES)}")
        return self.model.sample(n, seed, source)


MAX_MAGNITUDE = 1e4  # a map point, strength or weight past this is a typo: its code would decode to noise or overflow


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise VaelabError(f"{name} must be a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise VaelabError(f"{name} must lie within ±{MAX_MAGNITUDE:g}, got {value:g}")
    return float(value)


def _integer(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise VaelabError(f"{name} must be a whole number")
    return value


def _source_key(source: dict) -> tuple:
    kind = source.get("kind")
    return (kind, str(source.get("id") if kind == "upload" else source.get("ref")))


def _source_list(sources, least: int) -> list[dict]:
    if not isinstance(sources, list) or not least <= len(sources) <= MAX_INPUTS:
        raise VaelabError(f"give from {least} to {MAX_INPUTS} inputs")
    if not all(isinstance(s, dict) for s in sources):
        raise VaelabError('each input is an object such as {"kind": "dataset", "ref": "test/0"}')
    return sources
