"""Inference on numpy arrays with one of two backends: onnxruntime (fast start, no torch) or torch.

`open_model` is what morph, encode_images and decode_latents use. It takes a model folder, a shipped model's
name ("fashion-mnist"), a loaded torch model, or nothing (the shipped Fashion-MNIST VAE).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaelab.errors import VaelabError
from vaelab.models.config import DECODER_ONNX, ENCODER_ONNX, WEIGHTS_NAME, file_sha256, read_model_json
from vaelab.models.shipped import model_folder

BACKENDS = ("auto", "onnx", "torch")
SOURCES = ("prior", "density")  # where sample() draws codes: N(0, I), or the folder's fitted density


class InferenceModel:
    """A model as numpy in, numpy out. ``embed``: (B,C,H,W) float32 in [0,1] → (B,D) posterior means;
    ``decode``: (B,D) → (B,C,H,W) in [0,1]."""

    backend = "?"

    def __init__(self, folder: Path | None, doc: dict):
        self.folder, self.doc = folder, doc
        m, d = doc["model"], doc["data"]
        self.channels, self.size, self.latent_dim = m["channels"], (m["height"], m["width"]), m["latent_dim"]
        self.background = int(d.get("background", 0))
        self.class_names: list[str] | None = d.get("class_names")
        self.data_name: str | None = d.get("name")

    def class_index(self, name) -> int:
        """The index of the class ``name`` (case aside) among the model's classes; an unknown one is a one-line
        error with the likeliest name and the list."""
        from vaelab.errors import did_you_mean

        names = self.class_names or []
        lowered = [n.lower() for n in names]
        if not isinstance(name, str) or name.lower() not in lowered:
            shown = str(name)[:80]
            raise VaelabError(
                f"unknown class {shown!r}{did_you_mean(shown, names)}; this model knows: {', '.join(names)}"
            )
        return lowered.index(name.lower())

    def embed(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(B,C,H,W) → the posterior's (mean, log-variance), each (B,D); the log-variance is None for a plain
        autoencoder, and for ONNX files exported before they held it."""
        raise NotImplementedError

    def decode(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def density(self):
        """The folder's fitted code density (a GaussianMixture), read once; None when it has none."""
        from vaelab.models.density import has_density, read_density

        if not hasattr(self, "_density"):
            self._density = read_density(self.folder)[0] if has_density(self.folder) else None
            if self._density is not None and self._density.dim != self.latent_dim:
                raise VaelabError(
                    f"{self.folder}: its density has {self._density.dim} dimensions, the model's codes "
                    f"{self.latent_dim}; fit it again with `vaelab fit-density {self.folder}`"
                )
        return self._density

    def sample_source(self, source: str | None = None) -> str:
        """``source`` checked, or the default: "density" where the folder has one, else "prior"."""
        if source is None:
            return "density" if self.density() is not None else "prior"
        if source not in SOURCES:
            raise VaelabError(f"unknown sample source {source!r}; choose one of: {', '.join(SOURCES)}")
        if source == "density" and self.density() is None:
            where = self.folder or "this model"
            raise VaelabError(f"{where} has no fitted density; make one with `vaelab fit-density {where}`")
        return source

    def sample_codes(self, n: int, seed: int = 0, source: str | None = None) -> np.ndarray:
        """``n`` codes (n, D) float32, seeded: from N(0, I) ("prior") or the fitted density ("density"; the
        default where the folder has one)."""
        from vaelab.latent.density import sample_mixture

        if self.sample_source(source) == "density":
            return sample_mixture(self.density(), n, seed).astype(np.float32)
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

    def sample(self, n: int, seed: int = 0, source: str | None = None) -> np.ndarray:
        """``n`` decoded samples (n, C, H, W) in [0, 1], seeded; ``source`` as in :meth:`sample_codes`."""
        return decode_batched(self, self.sample_codes(n, seed, source))


def onnx_session(path: Path, spinning: bool = True):
    """An onnxruntime session of ``path`` on the CPU, quiet; a file it cannot load is a one-line VaelabError.
    ``spinning=False``: its threads sleep between runs instead of spinning for the next one."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
        raise VaelabError(f"{path}: cannot load ({str(e).splitlines()[0]})") from e


class OnnxModel(InferenceModel):
    backend = "onnx"

    def __init__(self, folder: Path, doc: dict, spinning: bool = True):
        super().__init__(folder, doc)
        try:
            self._enc = onnx_session(folder / ENCODER_ONNX, spinning)
            self._dec = onnx_session(folder / DECODER_ONNX, spinning)
        except VaelabError as e:
            raise VaelabError(f"{e}; try --backend torch") from e
        self._enc_outputs = [o.name for o in self._enc.get_outputs()]
        self._check_weights(folder)

    def _check_weights(self, folder: Path) -> None:
        """The ONNX graphs hold their own weights; make sure model.safetensors is the file they came from."""
        expected = self._enc.get_modelmeta().custom_metadata_map.get("vaelab.weights_sha256")
        weights = folder / WEIGHTS_NAME
        if not weights.is_file():
            raise VaelabError(f"{folder}: no {WEIGHTS_NAME}")
        if expected and file_sha256(weights) != expected:
            raise VaelabError(
                f"{weights}: does not match {ENCODER_ONNX}/{DECODER_ONNX} (corrupt, or from another "
                "model); restore it, or load with --backend torch and save again"
            )
        dim = self._dec.get_inputs()[0].shape[-1]
        if isinstance(dim, int) and dim != self.latent_dim:
            raise VaelabError(
                f"{folder}: {DECODER_ONNX} takes {dim} latent dimensions, config.json says {self.latent_dim}"
            )

    def embed(self, x: np.ndarray) -> np.ndarray:
        return self._enc.run(["z"], {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        out = self._enc.run(self._enc_outputs, {"x": np.ascontiguousarray(x, dtype=np.float32)})
        return out[0], (out[1] if len(out) > 1 else None)

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self._dec.run(None, {"z": np.ascontiguousarray(z, dtype=np.float32)})[0]


class TorchModel(InferenceModel):
    backend = "torch"

    def __init__(self, module, folder: Path | None = None, doc: dict | None = None):
        from vaelab.models.config import model_json

        super().__init__(folder, doc or model_json(module.cfg, getattr(module, "data_spec", {}) or {}))
        import torch

        self._torch, self.module = torch, module.eval()
        self._device = next(module.parameters()).device

    def _run(self, fn, arr: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            return (
                fn(torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).to(self._device)).float().cpu().numpy()
            )

    def embed(self, x: np.ndarray) -> np.ndarray:
        return self._run(self.module.embed, x)

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.module.variational:
            return self.embed(x), None
        torch = self._torch
        with torch.inference_mode():
            mu, logvar = self.module.posterior(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self._device))
        return mu.float().cpu().numpy(), logvar.float().cpu().numpy()

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self._run(self.module.decode, z)


# Batches of 256: faster than 2000 on a CPU (3000 emoji images: 0.20 s against 0.29-0.58 s), and onnxruntime's
# memory arena, which keeps the largest batch's buffers, stays small (about 0.7 GB after one 2000-image colour batch).
BATCH = 256
PROGRESS_IMAGES = 8000  # a set larger than this gets a progress bar (about a second of encoding, or more)


def encode_batched(m: InferenceModel, images: np.ndarray, batch_size: int = BATCH, progress: bool = True) -> np.ndarray:
    """Images (N, C, H, W), uint8 or float in [0,1] → posterior means (N, D) float32, ``batch_size`` at a time,
    with a progress bar on sets of more than PROGRESS_IMAGES images (unless ``progress`` is false)."""
    from vaelab.progress import progress_bar

    out = np.empty((len(images), m.latent_dim), np.float32)
    for i in progress_bar(
        range(0, len(images), batch_size),
        desc="encoding",
        unit="batch",
        show=progress and len(images) > PROGRESS_IMAGES,
        leave=False,
    ):
        batch = images[i : i + batch_size].astype(np.float32)
        out[i : i + batch_size] = m.embed(batch / 255.0 if images.dtype == np.uint8 else batch)
    return out


def posterior_kl(m: InferenceModel, images: np.ndarray, batch_size: int = BATCH) -> np.ndarray | None:
    """The mean KL to the prior per dimension (D,) over images (N, C, H, W), uint8 or float in [0,1]; None when the
    model gives no posterior variance (a plain autoencoder, or ONNX files exported without it)."""
    from vaelab.latent.stats import kl_per_dimension

    mus, logvars = [], []
    for i in range(0, len(images), batch_size):
        batch = images[i : i + batch_size].astype(np.float32)
        mu, logvar = m.posterior(batch / 255.0 if images.dtype == np.uint8 else batch)
        if logvar is None:
            return None
        mus.append(mu)
        logvars.append(logvar)
    return kl_per_dimension(np.concatenate(mus), np.concatenate(logvars))


def decode_batched(m: InferenceModel, codes: np.ndarray, batch_size: int = BATCH) -> np.ndarray:
    """Codes (..., D) → images (..., C, H, W) float32 in [0, 1], decoded ``batch_size`` at a time."""
    flat = np.ascontiguousarray(codes, np.float32).reshape(-1, codes.shape[-1])
    out = np.concatenate([m.decode(flat[i : i + batch_size]) for i in range(0, len(flat), batch_size)])
    return out.reshape(*codes.shape[:-1], *out.shape[1:])


def open_model(model=None, backend: str = "auto", spinning: bool = True, folder=None) -> InferenceModel:
    """A folder path, a shipped model's name, a torch model, an InferenceModel, or None (the shipped default) →
    InferenceModel.

    ``auto`` uses onnxruntime when the folder has encoder.onnx and decoder.onnx, else torch. ``spinning=False``
    lets onnxruntime's threads sleep between runs: what a server answering many small requests at once wants
    (the studio measured 535 requests/s with it against 320 without). ``folder``: where a torch model already
    loaded was read from, so that its fitted density is found.
    """
    if backend not in BACKENDS:
        raise VaelabError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if isinstance(model, InferenceModel):
        return model
    if hasattr(model, "decode_logits"):  # a loaded torch LatentModel
        if backend == "onnx":
            raise VaelabError("a model already loaded in torch runs on the torch backend; pass its folder for onnx")
        return TorchModel(model, *((Path(folder), read_model_json(folder)) if folder is not None else ()))
    folder = model_folder(model)
    if model is None and not (folder / "config.json").is_file():
        raise VaelabError(f"the shipped default model is missing from {folder}; reinstall vaelab or pass --model")
    doc = read_model_json(folder)
    has_onnx = (folder / ENCODER_ONNX).is_file() and (folder / DECODER_ONNX).is_file()
    if backend == "onnx" and not has_onnx:
        raise VaelabError(f"{folder}: no {ENCODER_ONNX}/{DECODER_ONNX}; use --backend torch")
    if backend == "onnx" or (backend == "auto" and has_onnx):
        return OnnxModel(folder, doc, spinning)
    from vaelab.models.registry import load

    return TorchModel(load(folder), folder, doc)


def torch_module(m: InferenceModel, model=None):
    """The torch LatentModel behind an InferenceModel, in eval mode: ``model`` itself when it is one, the
    TorchModel's module, or the weights loaded from the folder when ``m`` runs on ONNX (which gives means only)."""
    from vaelab.models.base import LatentModel
    from vaelab.models.registry import load

    if isinstance(model, LatentModel):
        return model.eval()
    if getattr(m, "module", None) is not None:
        return m.module.eval()
    return load(m.folder)
