"""The studio's HTTP side: a Starlette app that serves the page and a JSON API over :class:`Workspace`.

It checks what a client sends (sizes, content types, the shape of the JSON) and turns every bad input into a
4xx with a one-line message that the page shows; the work itself runs on a thread pool. Responses carry a
Content-Security-Policy that lets the page load nothing from outside its own origin.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import tempfile
import threading
from dataclasses import replace
from importlib import resources
from pathlib import Path
from urllib.parse import unquote

import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vaelab.data.images import enlarge, to_pil
from vaelab.errors import VaelabError
from vaelab.studio.catalog import Entry
from vaelab.studio.store import LRUStore
from vaelab.studio.uploads import MAX_UPLOAD_BYTES, Uploads
from vaelab.studio.workspace import Workspace
from vaelab.tasks.morph import DEFAULT_UPSCALE, MorphResult, write_morph_outputs
from vaelab.viz.media import GIF_NAME, MP4_NAME, SHEET_NAME

log = logging.getLogger("vaelab.studio")

MAX_JSON_BYTES = 256 * 2**10
MAX_MORPHS, MAX_MORPH_BYTES = 64, 256 * 2**20  # morph results kept for their downloads
DOWNLOADS = {GIF_NAME: "image/gif", MP4_NAME: "video/mp4", SHEET_NAME: "image/png"}
DOWNLOAD_FPS = 12  # `vaelab morph --fps`'s default
STATIC = {"studio.js": "text/javascript", "studio.css": "text/css"}
CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; style-src 'self' 'unsafe-inline'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)  # plotly.js sets inline styles on the elements it draws, hence style-src's 'unsafe-inline'
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


class HTTPProblem(Exception):
    """A request the studio refuses, with its status code and one line for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def png_bytes(image) -> bytes:
    """A (C, H, W) array in [0, 1] or uint8, or a PIL image → PNG bytes (fast compression: these are tiny)."""
    img = image if isinstance(image, Image.Image) else to_pil(np.asarray(image))
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def data_url(image) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


@functools.lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """plotly.min.js as the installed plotly package ships it (the page loads nothing from elsewhere), read once."""
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


class Studio:
    """What one studio serves: its models (by id), their workspaces, the uploads and the morph results."""

    def __init__(self, entries: list[Entry]):
        self.entries = {e.id: e for e in entries}
        self.uploads = Uploads()
        self.morphs = LRUStore(MAX_MORPHS, MAX_MORPH_BYTES, prefix="m")
        self._spaces: dict[str, Workspace] = {}
        self._lock = threading.Lock()

    @property
    def default_id(self) -> str | None:
        return next((e.id for e in self.entries.values() if not e.problem), None)

    def space(self, model_id) -> Workspace:
        entry = self.entries.get(model_id) if isinstance(model_id, str) else None
        if entry is None:
            known = ", ".join(e.id for e in self.entries.values() if not e.problem)
            raise HTTPProblem(404, f"unknown model {str(model_id)[:80]!r}; this studio serves: {known}")
        if entry.problem:
            raise HTTPProblem(409, entry.problem)
        with self._lock:
            if model_id not in self._spaces:
                self._spaces[model_id] = Workspace(entry, self.uploads)
            return self._spaces[model_id]

    def warm(self, model_id: str | None = None) -> None:
        """Open a model and compute its latent map ahead of the first click."""
        try:
            ws = self.space(model_id or self.default_id)
            _ = ws.model, ws.latent_map
            if ws.class_names:
                _ = ws.centroids
        except Exception as e:  # a warm-up that fails is retried, and reported, by the request that needs it
            log.debug("warm-up failed: %s", e)


# --- request helpers -------------------------------------------------------------------------------------------
async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not (declared.isascii() and declared.isdigit()) or int(declared) > limit):
        raise HTTPProblem(413, f"the request is larger than {limit / 2**20:g} MB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"the request is larger than {limit / 2**20:g} MB")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request) -> dict:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise HTTPProblem(415, "send the request as application/json")
    try:
        doc = json.loads(await _body(request, MAX_JSON_BYTES))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: arrays nested thousands deep
        raise HTTPProblem(400, f"the request is not valid JSON ({str(e)[:80]})") from e
    if not isinstance(doc, dict):
        raise HTTPProblem(400, "the request must be a JSON object")
    return doc


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message.splitlines()[0] if message else "error"}, status_code=status)


def _endpoint(handler):
    """Wrap a handler: a refused request or a VaelabError becomes its 4xx, anything else a one-line 500."""

    async def endpoint(request: Request):
        try:
            return await handler(request)
        except HTTPProblem as e:
            return _error(e.status, str(e))
        except VaelabError as e:
            return _error(400, str(e))
        except Exception as e:  # a bug: logged with its traceback, answered in one line
            log.exception("studio request %s failed", request.url.path)
            return _error(500, f"internal error ({type(e).__name__}); the server log has the details")

    return endpoint


def create_app(entries: list[Entry], allowed_hosts: list[str] | None = None, warm: bool = True) -> Starlette:
    """The studio's ASGI app over the models ``entries`` lists. ``allowed_hosts``: the Host headers it answers
    (the loopback names when it listens on 127.0.0.1, which keeps other sites' pages from reaching it through
    DNS rebinding); None answers any. ``warm`` opens the first model in the background at start-up."""
    studio = Studio(entries)
    api = _Api(studio)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        warming = None
        if warm and studio.default_id:
            warming = threading.Thread(target=studio.warm, daemon=True, name="vaelab-studio-warm")
            warming.start()
        yield
        if warming is not None:  # a stop during the warm-up waits for it: onnxruntime aborts the process when the
            await run_in_threadpool(warming.join)  # interpreter exits under a thread that is still running it

    async def starlette_error(request: Request, exc: HTTPException):  # e.g. 405 on OPTIONS: JSON, as the rest
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    app = Starlette(routes=api.routes(), lifespan=lifespan, exception_handlers={HTTPException: starlette_error})
    app.state.studio = studio
    return _Guard(app, allowed_hosts)


class _Api:
    """The page, its files and the JSON API of one studio: one method per route, each parsing its request, calling
    the workspace on a thread and answering with JSON (or an image or a download)."""

    def __init__(self, studio: Studio):
        self.studio = studio
        # the page and its files, read once: a package upgraded under a running studio keeps serving one version
        static_dir = resources.files("vaelab.studio").joinpath("static")
        self.page = static_dir.joinpath("index.html").read_bytes()
        self.files = {name: static_dir.joinpath(name).read_bytes() for name in STATIC}

    def routes(self) -> list[Route]:
        return [
            Route("/", _endpoint(self.index)),
            Route("/static/{name}", _endpoint(self.static)),
            Route("/api/models", _endpoint(self.models)),
            Route("/api/model", _endpoint(self.model)),
            Route("/api/upload", _endpoint(self.upload), methods=["POST"]),
            Route("/api/morph", _endpoint(self.morph), methods=["POST"]),
            Route("/api/morph/{token}/{name}", _endpoint(self.morph_file)),
            Route("/api/arithmetic", _endpoint(self.arithmetic), methods=["POST"]),
            Route("/api/map", _endpoint(self.latent_map)),
            Route("/api/map/image", _endpoint(self.map_image)),
            Route("/api/map/decode", _endpoint(self.map_decode), methods=["POST"]),
            Route("/api/traversal", _endpoint(self.traversal), methods=["POST"]),
            Route("/api/blend", _endpoint(self.blend), methods=["POST"]),
            Route("/api/samples", _endpoint(self.samples), methods=["POST"]),
            Route("/{path:path}", _endpoint(self.not_found), methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        ]

    async def index(self, request: Request):
        return Response(self.page, media_type="text/html; charset=utf-8")

    async def static(self, request: Request):
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return Response(plotly_js(), media_type="text/javascript",
                            headers={"cache-control": "max-age=86400"})  # fmt: skip
        if name not in STATIC:
            raise HTTPProblem(404, "no such file")
        return Response(self.files[name], media_type=STATIC[name])

    async def models(self, request: Request):
        cards = [e.card() for e in self.studio.entries.values()]
        return JSONResponse({"models": cards, "default": self.studio.default_id})

    async def model(self, request: Request):
        ws = self.studio.space(request.query_params.get("model"))

        def work():
            doc = dict(ws.model.doc)
            info = {"config": doc, "classes": ws.class_names, "channels": ws.model.channels, "size": ws.model.size}
            info["attributes"] = ws.attributes()
            info["traversal_dims"] = ws.traversal_dims()
            info["samples"] = ws.sample_sources()
            info["examples"] = ws.examples()
            info["class_problem"], info["blend_problem"] = ws.class_problem(), ws.blend_problem()
            return info

        return JSONResponse(await run_in_threadpool(work))

    async def upload(self, request: Request):
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not kind.startswith("image/"):
            raise HTTPProblem(415, f"upload an image file (image/png, image/jpeg, ...), not {kind or 'no type'}")
        data = await _body(request, MAX_UPLOAD_BYTES)
        name = unquote(request.headers.get("x-filename", ""))
        return JSONResponse(await run_in_threadpool(self.studio.uploads.add, data, name))

    async def morph(self, request: Request):
        doc = await _json(request)
        ws = self.studio.space(doc.get("model"))

        def work():
            method = doc.get("method", "slerp")
            method = method if isinstance(method, str) else ""  # a list or an object: "unknown method"
            spacing = doc.get("spacing", "latent")
            spacing = spacing if isinstance(spacing, str) else ""  # not a string: "unknown spacing"
            result, notes = ws.morph(doc.get("inputs"), method, doc.get("frames", 24), spacing)
            size = sum(f.width * f.height * len(f.getbands()) for f in result.frames)
            token = self.studio.morphs.put({"result": result, "files": {}, "size": size}, size)
            return {
                "token": token,
                "frames": [data_url(f) for f in result.frames],
                "inputs": [data_url(f) for f in result.inputs],
                "reconstructions": [data_url(f) for f in result.reconstructions],
                "labels": result.labels,
                "notes": notes + ([result.note] if result.note else []),
                "downloads": {name: f"api/morph/{token}/{name}" for name in DOWNLOADS},
            }

        return JSONResponse(await run_in_threadpool(work))

    async def morph_file(self, request: Request):
        token, name = request.path_params["token"], request.path_params["name"]
        held = self.studio.morphs.get(token)
        if held is None or name not in DOWNLOADS:
            raise HTTPProblem(404, "that morph is no longer held; make it again")
        body = await run_in_threadpool(_download, held, name)
        self.studio.morphs.resize(token, held["size"] + sum(len(f) for f in held["files"].values()))
        headers = {"content-disposition": f'attachment; filename="{name}"'}
        return Response(body, media_type=DOWNLOADS[name], headers=headers)

    async def arithmetic(self, request: Request):
        doc = await _json(request)
        ws = self.studio.space(doc.get("model"))

        def work():
            r = ws.arithmetic(doc.get("terms"), doc.get("strength", 1.0))
            return {"terms": [data_url(i) for i in r.concept_images], "labels": [c.name for _, c in r.terms],
                    "result": data_url(r.image)}  # fmt: skip

        return JSONResponse(await run_in_threadpool(work))

    async def latent_map(self, request: Request):
        ws = self.studio.space(request.query_params.get("model"))
        return JSONResponse(await run_in_threadpool(ws.map_points))

    async def map_image(self, request: Request):
        ws = self.studio.space(request.query_params.get("model"))
        i = request.query_params.get("i", "")
        if not (i.isascii() and i.isdigit()):  # "²".isdigit(), but int("²") fails
            raise HTTPProblem(400, "i must be a whole number")
        image = await run_in_threadpool(ws.map_image, int(i))
        return Response(png_bytes(image), media_type="image/png", headers={"cache-control": "max-age=3600"})

    async def map_decode(self, request: Request):
        doc = await _json(request)
        ws = self.studio.space(doc.get("model"))
        image = await run_in_threadpool(ws.decode_point, doc.get("x"), doc.get("y"))
        return JSONResponse({"image": data_url(image)})

    async def traversal(self, request: Request):
        doc = await _json(request)
        ws = self.studio.space(doc.get("model"))
        if not isinstance(doc.get("source"), dict):
            raise HTTPProblem(400, 'give the image to traverse as "source"')
        image = await run_in_threadpool(ws.traverse, doc["source"], doc.get("offsets"))
        return JSONResponse({"image": data_url(image)})

    async def blend(self, request: Request):
        doc = await _json(request)
        ws = self.studio.space(doc.get("model"))
        mean = doc.get("mean", "euclidean")
        image = await run_in_threadpool(ws.blend, doc.get("weights"), mean if isinstance(mean, str) else "")
        return JSONResponse({"image": data_url(image)})

    async def samples(self, request: Request):
        doc = await _json(request)
        ws = self.studio.space(doc.get("model"))

        def work():
            source = doc.get("source")
            images = ws.samples(doc.get("seed", 0), source)
            return {"images": [data_url(i) for i in images], "source": source or ws.model.sample_source()}

        return JSONResponse(await run_in_threadpool(work))

    async def not_found(self, request: Request):
        raise HTTPProblem(404, f"no such page: {request.url.path[:80]}")


class _Guard:
    """ASGI middleware: the security headers on every response, and the Host check."""

    def __init__(self, app, allowed_hosts: list[str] | None):
        self.app, self.allowed = app, allowed_hosts
        self.state = app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.allowed is not None:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").rsplit(":", 1)[0].strip("[]")
            if host not in self.allowed:
                return await _send(send, 400, b'{"error": "unexpected Host header"}')

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


async def _send(send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _download(held: dict, name: str) -> bytes:
    """The morph's GIF, MP4 or contact sheet, written by the CLI's own writer (at its default size and frame rate)
    into a temporary folder, read back and kept with the result."""
    files = held["files"]
    if name not in files:
        r: MorphResult = held["result"]
        big = replace(
            r,
            frames=[enlarge(f, DEFAULT_UPSCALE) for f in r.frames],
            inputs=[enlarge(f, DEFAULT_UPSCALE) for f in r.inputs],
            reconstructions=[enlarge(f, DEFAULT_UPSCALE) for f in r.reconstructions],
        )
        with tempfile.TemporaryDirectory(prefix="vaelab-studio-") as tmp:
            written = write_morph_outputs(big, Path(tmp) / "morph", fps=DOWNLOAD_FPS, log=lambda *a, **k: None)
            for key in DOWNLOADS:
                if key in written:
                    files[key] = written[key].read_bytes()
        if name not in files:
            raise HTTPProblem(404, f"no {name}: this machine cannot write it (imageio-ffmpeg is missing)")
    return files[name]


def app_from_environment():
    """The studio's app for a server started elsewhere, e.g. ``uvicorn --factory vaelab.studio.app:app_from_environment
    --workers 4``: the shipped models, those listed in VAELAB_STUDIO_MODELS (folders or shipped names, separated by
    the path separator, ``:``), and the runs under VAELAB_STUDIO_RUNS (default ./runs). It answers any Host header:
    put it behind a proxy that checks them (docs/deploy.md)."""
    import os

    from vaelab.studio.catalog import find_models

    given = [m for m in os.environ.get("VAELAB_STUDIO_MODELS", "").split(os.pathsep) if m]
    return create_app(find_models(given, Path(os.environ.get("VAELAB_STUDIO_RUNS", "runs"))))
