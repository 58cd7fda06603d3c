"""The studio's HTTP API: bad input is a one-line 4xx (and the app goes on serving), every answer equals the Python
API's on the shipped Fashion-MNIST model, the server never imports torch, and `vaelab studio` starts and fails
cleanly."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import queue
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from conftest import fashion_mnist_available
from vaelab.errors import VaelabError
from vaelab.studio.app import create_app
from vaelab.studio.catalog import find_models
from vaelab.studio.store import LRUStore
from vaelab.studio.uploads import MAX_UPLOAD_BYTES, Uploads, safe_label

M = "fashion-mnist"
NO_DATA = "needs Fashion-MNIST at /usr/share/datasets/fashion-mnist (Debian's package; make test installs it)"
needs_data = pytest.mark.skipif(not fashion_mnist_available(), reason=NO_DATA)


# --- helpers -----------------------------------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb() -> bytes:
    """A valid PNG header claiming 30000×30000 pixels, a few hundred bytes (as tests/test_bad_input.py's)."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 100)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _truncated() -> bytes:
    data = _png(Image.effect_noise((64, 64), 60))
    return data[: len(data) // 2]


def _pixels(url: str) -> np.ndarray:
    """A data: URL's PNG → its pixels as int16 (H, W) or (H, W, C)."""
    head, _, b64 = url.partition(",")
    assert head == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64)))).astype(np.int16)


def _as_pixels(image) -> np.ndarray:
    """A PIL image or a (C, H, W) array in [0, 1] → pixels as the studio's PNGs hold them."""
    from vaelab.data.images import to_pil

    return np.asarray(image if isinstance(image, Image.Image) else to_pil(np.asarray(image))).astype(np.int16)


def _close(url: str, expected) -> None:
    got, want = _pixels(url), _as_pixels(expected)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1  # within 1/255


def _raw_get(app, raw_path: str) -> tuple[int, bytes]:
    """GET a path as a raw HTTP client sends it (curl --path-as-is): the server decodes %XX but removes no dot
    segments, where httpx would have normalised them away before sending."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": unquote(raw_path), "raw_path": raw_path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:7860")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 7860),
    }  # fmt: skip
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _bad(r, expected: int, *words: str) -> None:
    _assert_one_line_error(r.status_code, r.text, expected, *words)


def _assert_one_line_error(status: int, text: str, expected: int, *words: str) -> None:
    assert status == expected, (status, text)
    assert "Traceback" not in text
    assert "\n" not in text.strip()
    message = json.loads(text)["error"]
    assert isinstance(message, str) and message and "\n" not in message
    for w in words:
        assert w.lower() in message.lower(), message


@pytest.fixture(scope="module")
def client():
    app = create_app(find_models(), allowed_hosts=["127.0.0.1", "localhost", "::1"], warm=False)
    return TestClient(app, base_url="http://127.0.0.1:7860", raise_server_exceptions=False)


# --- 1. the bad-input corpus -------------------------------------------------------------------------------------
def _stream(n: int, chunk: int = 2**20):
    """A body sent chunked, with no Content-Length: the server has to count it as it arrives."""
    for i in range(0, n, chunk):
        yield b"\0" * min(chunk, n - i)


IMG = {"content-type": "image/png"}
JSON = {"content-type": "application/json"}
TWO = [{"kind": "dataset", "ref": "test/0"}, {"kind": "dataset", "ref": "test/1"}]
OVER = MAX_UPLOAD_BYTES + 1
SRC = {"kind": "dataset", "ref": "test/0"}
CLASSES = [{"kind": "class", "name": "Bag"}, {"kind": "class", "name": "Coat"}]

# (id, method, path, request keywords (a callable for bodies built on demand), status, words in the message)
CORPUS = [
    ("bomb", "POST", "/api/upload", lambda: {"content": _bomb(), "headers": {**IMG, "x-filename": "b.png"}}, 400,
     ["decompression bomb"]),
    ("truncated", "POST", "/api/upload", lambda: {"content": _truncated(), "headers": IMG}, 400, ["truncated"]),
    ("zero-byte", "POST", "/api/upload", {"content": b"", "headers": IMG}, 400, ["empty"]),
    ("text", "POST", "/api/upload", {"content": b"hello, I am text\n", "headers": IMG}, 400, ["not an image"]),
    ("declared-too-big", "POST", "/api/upload", {"content": b"x", "headers": {**IMG, "content-length": str(OVER)}},
     413, ["20 MB"]),
    ("body-too-big", "POST", "/api/upload", lambda: {"content": b"\0" * OVER, "headers": IMG}, 413, ["20 MB"]),
    ("streamed-too-big", "POST", "/api/upload", lambda: {"content": _stream(OVER), "headers": IMG}, 413, ["20 MB"]),
    ("upload-text-plain", "POST", "/api/upload", {"content": b"x", "headers": {"content-type": "text/plain"}}, 415,
     ["image"]),
    ("upload-json", "POST", "/api/upload", {"json": {"a": 1}}, 415, ["image"]),
    ("upload-no-type", "POST", "/api/upload", {"content": b"x"}, 415, ["image"]),
    ("json-as-text", "POST", "/api/morph", {"content": b"{}", "headers": {"content-type": "text/plain"}}, 415,
     ["application/json"]),
    ("json-as-form", "POST", "/api/blend", {"data": {"a": "1"}}, 415, ["application/json"]),
    ("malformed-json", "POST", "/api/morph", {"content": b'{"model": ', "headers": JSON}, 400, ["not valid json"]),
    ("json-not-utf8", "POST", "/api/morph", {"content": b"\xff\xfe{", "headers": JSON}, 400, ["not valid json"]),
    ("json-nested-deep", "POST", "/api/morph", {"content": b"[" * 100_000, "headers": JSON}, 400, ["not valid json"]),
    ("json-array", "POST", "/api/arithmetic", {"json": [1, 2]}, 400, ["json object"]),
    ("frames-abc", "POST", "/api/morph", {"json": {"model": M, "inputs": TWO, "frames": "abc"}}, 400, ["frames"]),
    ("frames-float", "POST", "/api/morph", {"json": {"model": M, "inputs": TWO, "frames": 3.5}}, 400, ["frames"]),
    ("frames-many", "POST", "/api/morph", {"json": {"model": M, "inputs": TWO, "frames": 10**6}}, 400, ["120"]),
    ("method-object", "POST", "/api/morph", {"json": {"model": M, "inputs": CLASSES, "method": {}}}, 400,
     ["unknown method"]),
    ("spacing-unknown", "POST", "/api/morph", {"json": {"model": M, "inputs": CLASSES, "spacing": "evn"}}, 400,
     ["unknown spacing"]),
    ("spacing-list", "POST", "/api/morph", {"json": {"model": M, "inputs": CLASSES, "spacing": []}}, 400,
     ["unknown spacing"]),
    ("one-input", "POST", "/api/morph", {"json": {"model": M, "inputs": TWO[:1]}}, 400, ["from 2"]),
    ("unknown-source-kind", "POST", "/api/morph",
     {"json": {"model": M, "inputs": [{"kind": "bogus"}, {"kind": "bogus"}], "frames": 3}}, 400, ["'bogus'"]),
    ("ref-too-long", "POST", "/api/morph",
     {"json": {"model": M, "inputs": [{"kind": "dataset", "ref": "x" * 300}, TWO[1]]}}, 400, ["200 characters"]),
    pytest.param("ref-out-of-range", "POST", "/api/morph",
                 {"json": {"model": M, "inputs": [{"kind": "dataset", "ref": "test/10000"}, TWO[1]], "frames": 3}},
                 400, ["from 0 to 9999"], marks=needs_data),
    pytest.param("ref-unicode-digit", "POST", "/api/morph",
                 {"json": {"model": M, "inputs": [{"kind": "dataset", "ref": "test/²"}, TWO[1]], "frames": 3}},
                 400, ["test/²"], marks=needs_data),
    pytest.param("strength-x", "POST", "/api/arithmetic",
                 {"json": {"model": M, "terms": [{"sign": 1, "source": {"kind": "class", "name": "Bag"}}],
                           "strength": "x"}}, 400, ["strength"], marks=needs_data),
    ("sign-2", "POST", "/api/arithmetic",
     {"json": {"model": M, "terms": [{"sign": 2, "source": {"kind": "class", "name": "Bag"}}]}}, 400, ["sign"]),
    pytest.param("offsets-short", "POST", "/api/traversal", {"json": {"model": M, "source": SRC, "offsets": [1, 2]}},
                 400, ["give 8 offsets"], marks=needs_data),
    pytest.param("offsets-past-span", "POST", "/api/traversal",
                 {"json": {"model": M, "source": SRC, "offsets": [4] + [0] * 7}}, 400, ["±3"], marks=needs_data),
    pytest.param("traverse-unknown-kind", "POST", "/api/traversal",
                 {"json": {"model": M, "source": {"kind": "bogus"}, "offsets": [0] * 8}}, 400, ["not an image"],
                 marks=needs_data),
    ("traverse-no-source", "POST", "/api/traversal", {"json": {"model": M, "offsets": [0] * 8}}, 400, ["source"]),
    ("weights-negative", "POST", "/api/blend", {"json": {"model": M, "weights": {"Bag": -1, "Sneaker": 2}}}, 400,
     ["non-negative"]),
    ("weights-zero", "POST", "/api/blend", {"json": {"model": M, "weights": {"Bag": 0, "Sneaker": 0}}}, 400,
     ["not all 0"]),
    ("weights-list", "POST", "/api/blend", {"json": {"model": M, "weights": [1, 2]}}, 400, ["weight"]),
    ("weight-string", "POST", "/api/blend", {"json": {"model": M, "weights": {"Bag": "1"}}}, 400, ["finite number"]),
    ("unknown-class", "POST", "/api/blend", {"json": {"model": M, "weights": {"Sneakr": 1}}}, 400,
     ["unknown class 'Sneakr'", "did you mean 'Sneaker'"]),
    ("unknown-mean", "POST", "/api/blend", {"json": {"model": M, "weights": {"Bag": 1}, "mean": "median"}}, 400,
     ["unknown mean"]),
    ("point-not-number", "POST", "/api/map/decode", {"json": {"model": M, "x": "1", "y": 0}}, 400, ["x must be"]),
    ("point-far-out", "POST", "/api/map/decode", {"json": {"model": M, "x": 1e300, "y": 0}}, 400, ["x must lie"]),
    ("weight-huge", "POST", "/api/blend", {"json": {"model": M, "weights": {"Bag": 1e308}}}, 400, ["weight must lie"]),
    ("seed-string", "POST", "/api/samples", {"json": {"model": M, "seed": "1"}}, 400, ["seed must be a whole number"]),
    ("seed-negative", "POST", "/api/samples", {"json": {"model": M, "seed": -1}}, 400, ["seed must be"]),
    ("unknown-source", "POST", "/api/samples", {"json": {"model": M, "source": "posterior"}}, 400,
     ["unknown sample source", "density"]),
    ("map-index-unicode", "GET", "/api/map/image?model=fashion-mnist&i=%C2%B2", {}, 400, ["whole number"]),
    pytest.param("map-index-past-end", "GET", "/api/map/image?model=fashion-mnist&i=99999", {}, 400,
                 ["the map holds"], marks=needs_data),
    ("dotdot-passwd", "GET", "/static/../../etc/passwd", {}, 404, []),
    ("encoded-dotdot", "GET", "/static/%2e%2e%2fconfig.json", {}, 404, []),
    ("dotdot-api", "GET", "/api/morph/../../x", {}, 404, []),
    ("static-source", "GET", "/static/studio.py", {}, 404, ["no such file"]),
    ("unknown-model-get", "GET", "/api/model?model=nope", {}, 404, ["unknown model 'nope'", "fashion-mnist"]),
    ("model-as-path", "POST", "/api/morph", {"json": {"model": "../pretrained/fashion-mnist-vae", "inputs": TWO}},
     404, ["unknown model"]),
    ("no-model", "POST", "/api/blend", {"json": {"weights": {"Bag": 1}}}, 404, ["unknown model"]),
    ("unknown-token", "GET", "/api/morph/mNOPE/morph.gif", {}, 404, ["no longer held"]),
    ("options", "OPTIONS", "/api/models", {}, 405, ["not allowed"]),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,method,path,kwargs,status,words", CORPUS, ids=[getattr(c, "values", c)[0] for c in CORPUS]
)
def test_bad_input_is_a_one_line_4xx_and_the_studio_keeps_serving(client, name, method, path, kwargs, status, words):
    r = client.request(method, path, **(kwargs() if callable(kwargs) else kwargs))
    _bad(r, status, *words)
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/models").status_code == 200


@pytest.mark.parametrize("path", ["/static/../../etc/passwd", "/static/%2e%2e%2fconfig.json", "/static/..%2fstudio.py",
                                  "/api/morph/../../x", "/static/../app.py", "/static/studio.py"])  # fmt: skip
def test_dot_segments_sent_as_they_are_find_nothing(client, path):
    status, body = _raw_get(client.app, path)
    _assert_one_line_error(status, body.decode(), 404)
    assert b"root:" not in body and b"import" not in body


@pytest.mark.parametrize(
    "host,status",
    [("127.0.0.1:7860", 200), ("localhost:7860", 200), ("[::1]:7860", 200), ("localhost", 200),
     ("evil.example", 400), ("localhost.evil.example:7860", 400), ("127.0.0.2:7860", 400), ("", 400)],
)  # fmt: skip
def test_a_loopback_studio_answers_only_loopback_host_headers(client, host, status):
    r = client.get("/api/models", headers={"host": host})
    assert r.status_code == status, r.text
    if status == 400:
        _bad(r, 400, "host")


def test_after_the_corpus_the_studio_still_serves(client):
    r = client.get("/api/models")
    assert r.status_code == 200
    assert r.json()["default"] == M and {c["id"] for c in r.json()["models"]} >= {M}
    assert client.get("/").status_code == 200
    assert client.get("/static/studio.js").headers["content-type"].startswith("text/javascript")
    assert len(client.app.state.studio.uploads) == 0  # nothing of the corpus was kept
    up = client.post("/api/upload", content=_png(Image.new("L", (28, 28), 200)), headers=IMG)
    assert up.status_code == 200 and up.json()["width"] == 28


# --- 2. the answers equal the Python API's -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fm():
    """The shipped Fashion-MNIST model on onnxruntime and its data, as the CLI opens them."""
    if not fashion_mnist_available():
        pytest.skip(NO_DATA)
    from vaelab.models.runtime import open_model
    from vaelab.tasks.encoding import load_model_dataset

    m = open_model(M, "onnx")
    ds = load_model_dataset(m)
    return m, ds, lambda ref: ds.images[ds.split(ref.split("/")[0])[int(ref.split("/")[1])]]


def test_morph_of_dataset_images_equals_run_morph(client, fm):
    from vaelab.tasks.morph import run_morph

    m, _, image = fm
    r = client.post("/api/morph", json={"model": M, "inputs": TWO, "frames": 7, "method": "slerp"})
    assert r.status_code == 200, r.text
    doc = r.json()
    expected = run_morph(M, images=[image("test/0"), image("test/1")], frames=7, method="slerp")
    assert len(doc["frames"]) == 7
    for url, frame in zip(doc["frames"], expected.frames):
        _close(url, frame)
    for url, shown in zip(doc["inputs"], expected.inputs):
        _close(url, shown)
    assert doc["labels"] == ["fashion-mnist:test/0", "fashion-mnist:test/1"]
    assert np.abs(_pixels(doc["frames"][0]) - _pixels(doc["frames"][-1])).max() > 50  # an ankle boot, a pullover
    even = client.post("/api/morph", json={"model": M, "inputs": TWO, "frames": 7, "spacing": "even"}).json()
    want = run_morph(M, images=[image("test/0"), image("test/1")], frames=7, spacing="even")
    for url, frame in zip(even["frames"], want.frames):
        _close(url, frame)
    assert np.abs(_pixels(even["frames"][3]) - _pixels(doc["frames"][3])).max() > 0  # re-timed inside, not the ends


def test_an_upload_morphs_as_run_morph_on_the_file(client, fm, tmp_path):
    from vaelab.tasks.morph import run_morph

    _, _, image = fm
    big = Image.fromarray(image("test/2")[0]).resize((56, 56), Image.Resampling.BICUBIC)  # needs the resize
    path = tmp_path / "trouser.png"
    big.save(path)
    up = client.post("/api/upload", content=path.read_bytes(), headers={**IMG, "x-filename": "a/b/trouser.png"})
    assert up.status_code == 200, up.text
    assert up.json()["label"] == "trouser.png" and (up.json()["width"], up.json()["height"]) == (56, 56)
    source = {"kind": "upload", "id": up.json()["id"]}
    r = client.post("/api/morph", json={"model": M, "inputs": [source, TWO[1]], "frames": 3})
    assert r.status_code == 200, r.text
    expected = run_morph(M, images=[path, image("test/1")], frames=3)
    _close(r.json()["frames"][0], expected.frames[0])
    _close(r.json()["frames"][-1], expected.frames[-1])
    assert r.json()["labels"][0] == "trouser.png"
    assert not r.json()["notes"]  # a grey garment: the model's own kind of picture


def test_a_colour_photo_dropped_on_a_shipped_model_gets_the_clis_note(client, fm):
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), "RGB")  # far from Fashion-MNIST
    up = client.post("/api/upload", content=_png(photo), headers={**IMG, "x-filename": "holiday.png"})
    source = {"kind": "upload", "id": up.json()["id"]}
    r = client.post("/api/morph", json={"model": M, "inputs": [source, TWO[1]], "frames": 3})
    assert r.status_code == 200, r.text
    notes = r.json()["notes"]
    assert any("learned from fashion-mnist only" in n and "vaelab train --data folder:" in n for n in notes)


@pytest.mark.parametrize("mean", ["euclidean", "spherical"])
def test_blend_equals_blend_centroids(client, fm, mean):
    from vaelab.tasks.blend import blend_centroids
    from vaelab.tasks.encoding import cached_class_centroids

    m, _, _ = fm
    r = client.post("/api/blend", json={"model": M, "weights": {"Sneaker": 1, "Bag": 3, "Coat": 0}, "mean": mean})
    assert r.status_code == 200, r.text
    names = m.class_names
    cents = cached_class_centroids(m, progress=False)[[names.index("Sneaker"), names.index("Bag")]]
    _close(r.json()["image"], blend_centroids(m, cents, [1.0, 3.0], mean))


@pytest.mark.parametrize("source", [None, "prior"])
def test_samples_equal_the_models_seeded_samples(client, fm, source):
    m, _, _ = fm
    info = client.get(f"/api/model?model={M}").json()["samples"]
    assert info == {"default": "density", "sources": ["density", "prior"]}  # the shipped model has a density
    r = client.post("/api/samples", json={"model": M, "seed": 3, **({"source": source} if source else {})})
    assert r.status_code == 200, r.text
    assert r.json()["source"] == (source or "density") and len(r.json()["images"]) == 16
    expected = m.sample(16, seed=3, source=source)
    _close(r.json()["images"][0], expected[0])
    _close(r.json()["images"][-1], expected[-1])


def test_traversal_equals_the_decoded_moved_code(client, fm):
    from vaelab.latent.traversal import moved_code
    from vaelab.tasks.encoding import prepare_images

    m, _, image = fm
    info = client.get("/api/model", params={"model": M}).json()
    dims = [d["dim"] for d in info["traversal_dims"]]
    activity = [v for d in info["traversal_dims"] for k, v in d.items() if k != "dim"]  # KL or variance
    assert len(dims) == len(set(dims)) == len(activity) == 8 and activity == sorted(activity, reverse=True)
    offsets = [2.5, -1.5, 0.0, 1.0, 0.0, 0.0, -3.0, 0.5]
    moved = client.post("/api/traversal", json={"model": M, "source": SRC, "offsets": offsets})
    still = client.post("/api/traversal", json={"model": M, "source": SRC, "offsets": [0] * 8})
    assert moved.status_code == still.status_code == 200, moved.text
    center = m.embed(prepare_images(m, [image("test/0")]))[0]
    decode = lambda z: m.decode(np.asarray(z, np.float32)[None])[0]  # noqa: E731
    _close(moved.json()["image"], decode(moved_code(center, dims, offsets, 1.0)))  # a VAE: σ is the prior's 1
    _close(still.json()["image"], decode(center))
    assert np.abs(_pixels(moved.json()["image"]) - _pixels(still.json()["image"])).max() > 20


def test_the_shipped_model_starts_from_two_training_images_and_three_classes(client, fm):
    info = client.get("/api/model", params={"model": M}).json()
    assert [s["ref"] for s in info["examples"]["morph"]] == ["train/0", "train/1"]
    terms = info["examples"]["arithmetic"]
    assert [(t["sign"], t["source"]["name"]) for t in terms] == [(1, "T-shirt/top"), (-1, "Trouser"), (1, "Pullover")]
    assert info["class_problem"] == info["blend_problem"] == ""


def test_arithmetic_equals_the_python_arithmetic(client, fm):
    from vaelab.tasks.arithmetic import arithmetic

    terms = [{"sign": 1, "source": {"kind": "class", "name": "Sneaker"}},
             {"sign": -1, "source": {"kind": "class", "name": "Sandal"}}]  # fmt: skip
    r = client.post("/api/arithmetic", json={"model": M, "terms": terms, "strength": 0.5})
    assert r.status_code == 200, r.text
    expected = arithmetic(M, "class:Sneaker - class:Sandal", strength=0.5)
    _close(r.json()["result"], expected.image)
    for url, term in zip(r.json()["terms"], expected.concept_images):
        _close(url, term)
    full = client.post("/api/arithmetic", json={"model": M, "terms": terms, "strength": 1.0}).json()["result"]
    assert np.abs(_pixels(full) - _pixels(r.json()["result"])).max() > 5  # the strength is used


def test_the_map_and_its_decoded_points_equal_the_projection(client, fm):
    from vaelab.latent.projection import fit_projection
    from vaelab.models.runtime import encode_batched

    m, ds, _ = fm
    points = client.get("/api/map", params={"model": M}).json()
    rows = client.app.state.studio.space(M).latent_map.rows  # which images the map sampled
    assert len(points["x"]) == len(rows) == 2000 and points["labels"] == ds.labels[rows].tolist()
    z = encode_batched(m, ds.images[rows], progress=False)
    proj = fit_projection(z, 2, seed=0)
    np.testing.assert_allclose(np.c_[points["x"], points["y"]], proj.transform(z), atol=1e-3)
    for x, y in [(1.5, -0.5), (-2.0, 2.0)]:
        r = client.post("/api/map/decode", json={"model": M, "x": x, "y": y})
        assert r.status_code == 200, r.text
        _close(r.json()["image"], m.decode(proj.to_latent(np.array([[x, y]])).astype(np.float32))[0])
    shown = client.get("/api/map/image", params={"model": M, "i": "3"})
    assert shown.headers["content-type"] == "image/png"
    assert (np.asarray(Image.open(io.BytesIO(shown.content))) == ds.images[rows[3]][0]).all()


def _ffmpeg_works() -> bool:
    try:
        import imageio_ffmpeg

        return Path(imageio_ffmpeg.get_ffmpeg_exe()).is_file()
    except Exception:
        return False


def test_the_morph_downloads(client, fm):
    r = client.post("/api/morph", json={"model": M, "inputs": TWO, "frames": 5})
    assert r.status_code == 200, r.text
    token, frames = r.json()["token"], r.json()["frames"]
    assert r.json()["downloads"]["morph.gif"] == f"api/morph/{token}/morph.gif"
    store = client.app.state.studio.morphs
    held = store.nbytes
    gif = client.get(f"/api/morph/{token}/morph.gif")
    assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif"
    assert gif.headers["content-disposition"] == 'attachment; filename="morph.gif"'
    img = Image.open(io.BytesIO(gif.content))
    assert img.format == "GIF" and img.n_frames == 5 and img.size == (112, 112)  # `vaelab morph`'s 4× upscale
    for i in (0, 4):
        img.seek(i)
        assert (np.asarray(img.convert("L"))[::4, ::4] == _pixels(frames[i])).all()
    sheet = client.get(f"/api/morph/{token}/contact_sheet.png")
    assert sheet.status_code == 200 and sheet.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(sheet.content)).format == "PNG"
    written = len(gif.content) + len(sheet.content)  # the files are held with the morph, and counted
    assert store.nbytes - held >= written > 0, (store.nbytes, held, written)
    mp4 = client.get(f"/api/morph/{token}/morph.mp4")
    if _ffmpeg_works():
        assert mp4.status_code == 200 and mp4.headers["content-type"] == "video/mp4"
        assert mp4.content[4:8] == b"ftyp"
    else:
        _bad(mp4, 404, "imageio-ffmpeg")
    _bad(client.get(f"/api/morph/{token}/x.gif"), 404)
    _bad(client.get(f"/api/morph/{token[:-1]}/morph.gif"), 404, "no longer held")


# --- 3. no torch in the server -----------------------------------------------------------------------------------
TORCH_FREE = """
import io, json, sys
from PIL import Image
from starlette.testclient import TestClient
from vaelab.studio.app import create_app
from vaelab.studio.catalog import find_models

c = TestClient(create_app(find_models(), warm=False))
ids = []
for shade in (40, 220):
    buf = io.BytesIO()
    Image.new("L", (28, 28), shade).save(buf, "PNG")
    up = c.post("/api/upload", content=buf.getvalue(), headers={"content-type": "image/png"})
    ids.append(up.json()["id"])
inputs = [{"kind": "upload", "id": i} for i in ids]
morph = c.post("/api/morph", json={"model": "fashion-mnist", "inputs": inputs, "frames": 4})
gif = c.get("/api/morph/" + morph.json()["token"] + "/morph.gif")
blend = c.post("/api/blend", json={"model": "fashion-mnist", "weights": {"Sneaker": 1, "Bag": 1}})
print(json.dumps({"status": [up.status_code, morph.status_code, gif.status_code, blend.status_code],
                  "frames": len(morph.json()["frames"]), "torch": "torch" in sys.modules}))
"""


def test_the_server_never_imports_torch():
    proc = subprocess.run([sys.executable, "-c", TORCH_FREE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc == {"status": [200, 200, 200, 200], "frames": 4, "torch": False}


# --- 4. the stores -----------------------------------------------------------------------------------------------
def test_lru_store_evicts_the_oldest_by_count_and_by_bytes():
    s = LRUStore(3, 10**6, prefix="t")
    a, b, c = (s.put(x, 1) for x in "abc")
    assert a.startswith("t") and len({a, b, c}) == 3
    assert s.get(a) == "a"  # a is now the most recent: b goes first
    d = s.put("d", 1)
    assert s.get(b) is None and [s.get(k) for k in (a, c, d)] == ["a", "c", "d"] and len(s) == 3

    s = LRUStore(100, 100)
    a, b = s.put("a", 60), s.put("b", 30)
    assert s.get(a) == "a"  # refreshed: b is the oldest now
    c = s.put("c", 30)  # 120 bytes: the oldest goes until they fit
    assert s.get(b) is None and s.get(a) == "a" and s.get(c) == "c" and s.nbytes == 90
    s.put("e", 50)  # 140: a (60, the least recent after c's get) goes
    assert s.get(a) is None and s.get(c) == "c" and s.nbytes == 80
    big = s.put("big", 1000)  # larger than the bound: it alone stays
    assert len(s) == 1 and s.get(big) == "big" and s.nbytes == 1000
    assert s.get("nope") is None

    s = LRUStore(10, 100)  # an item that grows (a morph gets its downloads) counts its new size
    a, b, c = s.put("a", 30), s.put("b", 30), s.put("c", 30)
    s.resize(b, 60)  # 120 bytes: the oldest other than b goes
    assert s.get(a) is None and s.get(b) == "b" and s.get(c) == "c" and s.nbytes == 90
    s.resize("gone", 5)  # an evicted item: nothing to count
    assert s.nbytes == 90


def test_uploads_refuse_past_20_mb_and_keep_a_safe_label():
    u = Uploads(max_items=2)
    with pytest.raises(VaelabError, match="at most 20 MB"):
        u.add(b"\0" * (MAX_UPLOAD_BYTES + 1), "huge.png")
    assert len(u) == 0
    png = _png(Image.new("RGB", (30, 20), (10, 20, 30)))
    kept = u.add(png, "../../etc/pass\x00wd\x1b[31m.png")
    assert kept["label"] == "passwd[31m.png" and (kept["width"], kept["height"]) == (30, 20)
    img, label = u.image(kept["id"])
    assert label == "passwd[31m.png" and img.getpixel((0, 0)) == (10, 20, 30)
    assert safe_label("C:\\Users\\me\\cat.png") == "cat.png"
    assert safe_label("dir/\u200bcat\u2028.png") == "cat.png"
    assert safe_label("") == safe_label(None) == safe_label("a/") == "upload"
    assert safe_label("x" * 100 + ".png") == "x" * 60
    u.add(png, "2")
    u.add(png, "3")  # a third upload: the first goes
    with pytest.raises(VaelabError, match="no longer held"):
        u.image(kept["id"])
    with pytest.raises(VaelabError, match="decompression bomb"):
        u.add(_bomb(), "bomb.png")


# --- 5. the catalog ----------------------------------------------------------------------------------------------
def test_the_catalog_lists_runs_flags_onnx_less_ones_and_leaves_evaluators_out(tmp_path, tiny_model_dir):
    runs = tmp_path / "runs"
    shutil.copytree(tiny_model_dir, runs / "a")
    shutil.copytree(tiny_model_dir, runs / "b", ignore=shutil.ignore_patterns("encoder.onnx", "decoder.onnx"))
    (runs / "eval").mkdir()
    (runs / "eval" / "config.json").write_text(json.dumps({"kind": "evaluator-cnn"}))
    listed = find_models(runs=runs)
    found = {e.folder.name: e for e in listed if e.source == "run"}
    assert sorted(found) == ["a", "b"] and listed[0].id == M  # the shipped ones first
    a, b = found["a"], found["b"]
    assert a.problem == "" and "--no-onnx" in b.problem and a.id != b.id
    with pytest.raises(VaelabError, match="did you mean 'fashion-mnist'"):
        find_models(["fashon-mnist"])

    c = TestClient(create_app(listed, warm=False), raise_server_exceptions=False)
    cards = {card["id"]: card for card in c.get("/api/models").json()["models"]}
    assert cards[a.id]["latent_dim"] == 8 and "--no-onnx" in cards[b.id]["problem"]
    _bad(c.get("/api/model", params={"model": b.id}), 409, "--no-onnx")
    _bad(c.post("/api/blend", json={"model": b.id, "weights": {"0": 1}}), 409, "--no-onnx")
    r = c.get("/api/model", params={"model": a.id})
    assert r.status_code == 200 and r.json()["classes"] == ["0", "1", "2"]


def _own_model(tmp_path: Path, tiny_model_dir: Path, classes: list[str]) -> list:
    """The tiny model as if trained on a folder of its own images: flat (no classes) or one subfolder per class,
    each holding that toy class's shapes (bar, column, square)."""
    from conftest import toy_images

    data = tmp_path / "images"
    x, y = toy_images(60)
    for i, (image, label) in enumerate(zip(x, y)):
        if classes and label >= len(classes):
            continue
        folder = data / classes[label] if classes else data
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    model = tmp_path / "own"
    shutil.copytree(tiny_model_dir, model, ignore=shutil.ignore_patterns("centroids.safetensors"))
    doc = json.loads((model / "config.json").read_text())
    doc["data"].update(name=f"folder:{data}", class_names=classes or None)
    (model / "config.json").write_text(json.dumps(doc))
    return find_models([str(model)])


def test_a_model_without_classes_says_why_blend_and_classes_are_off_and_morphs_training_images(
    tmp_path, tiny_model_dir
):
    entries = _own_model(tmp_path, tiny_model_dir, [])
    c = TestClient(create_app(entries, warm=False), raise_server_exceptions=False)
    info = c.get("/api/model", params={"model": "own"}).json()
    assert info["classes"] == [] and info["examples"]["arithmetic"] == []
    assert "no classes" in info["class_problem"] and "subfolder per class" in info["class_problem"]
    assert info["blend_problem"] == info["class_problem"]
    morph = info["examples"]["morph"]
    assert [s["ref"] for s in morph] == ["train/0", "train/1"] and "trained on" in info["examples"]["morph_note"]
    r = c.post("/api/morph", json={"model": "own", "inputs": morph, "frames": 3})
    assert r.status_code == 200, r.text


def test_a_model_with_one_class_offers_it_but_says_a_blend_needs_two(tmp_path, tiny_model_dir):
    c = TestClient(create_app(_own_model(tmp_path, tiny_model_dir, ["bar"]), warm=False), raise_server_exceptions=False)
    info = c.get("/api/model", params={"model": "own"}).json()
    assert info["classes"] == ["bar"] and info["class_problem"] == "" and info["examples"]["arithmetic"] == []
    assert "has one class; a blend mixes two or more" in info["blend_problem"]


def test_a_model_with_two_classes_starts_arithmetic_by_moving_a_training_image_to_the_other_class(
    tmp_path, tiny_model_dir
):
    entries = _own_model(tmp_path, tiny_model_dir, ["bar", "column"])
    c = TestClient(create_app(entries, warm=False), raise_server_exceptions=False)
    info = c.get("/api/model", params={"model": "own"}).json()
    assert info["classes"] == ["bar", "column"] and info["class_problem"] == ""
    assert info["blend_problem"] == ""
    terms = info["examples"]["arithmetic"]
    image, minus, plus = (t["source"] for t in terms)
    assert [t["sign"] for t in terms] == [1, -1, 1] and image == {"kind": "dataset", "ref": "train/0"}
    from vaelab.data.loaders import load_dataset

    ds = load_dataset(f"folder:{tmp_path / 'images'}", channels=1, size=(28, 28))
    own = ds.class_names[ds.labels[ds.split("train")[0]]]
    assert minus["name"] == own and plus["name"] == ({"bar", "column"} - {own}).pop()  # to the other class
    r = c.post("/api/arithmetic", json={"model": "own", "terms": terms})
    assert r.status_code == 200, r.text


# --- 6. the command ----------------------------------------------------------------------------------------------
def _studio(*args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "vaelab", "studio", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, **kw)  # fmt: skip


def _one_line_exit_2(proc, *words):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("vaelab: error:") and "http://" not in proc.stdout
    for w in words:
        assert w in proc.stderr, proc.stderr


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _one_line_exit_2(_studio("--port", str(port), "--no-browser", cwd=tmp_path), f"port {port}", "in use")


def test_a_port_past_65535_is_a_usage_error(tmp_path):
    _one_line_exit_2(_studio("--port", "70000", cwd=tmp_path), "--port", "70000")


def test_host_0000_warns_prints_its_url_at_once_and_serves(tmp_path):
    import urllib.request

    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaelab", "studio", "--host", "0.0.0.0", "--port", "0", "--no-browser"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        line = lines.get(timeout=60)  # generous for the test; the product target is checked below
        elapsed = time.monotonic() - start
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)  # where this machine browses to it
        assert found and "every interface" in line, line
        # The product target is 2 s. Measured on this 2-core machine: ~0.25 s idle, 1.0-2.05 s with both cores busy,
        # so 2 s is flaky under load; 5 s still catches a start-up that loads a model or data before the URL.
        assert elapsed < 5, f"the URL came after {elapsed:.1f} s"
        port, r = int(found[1]), None
        for _ in range(100):  # the server itself starts after the URL is shown
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=5) as reply:
                    r = (reply.status, json.loads(reply.read()))
                break
            except OSError:  # not listening yet
                time.sleep(0.1)
        assert r is not None and r[0] == 200 and r[1]["default"] == M
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    warning = [x for x in err.splitlines() if x.startswith("vaelab: warning:")]
    assert len(warning) == 1 and "--host 0.0.0.0" in warning[0] and "Traceback" not in err


def test_ctrl_c_stops_the_studio_cleanly(tmp_path):
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "vaelab", "studio", "--port", "0", "--no-browser"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert "http://127.0.0.1:" in proc.stdout.readline()
    time.sleep(1.0)  # uvicorn in its loop, with its signal handlers
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.strip().endswith("vaelab studio: stopped") and "Traceback" not in err
