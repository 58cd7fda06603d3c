"""`vaelab report`: one self-contained HTML page per model, checked in real headless Chromium (Debian's
`chromium`, which `make test` installs): every image loads, no console errors, the plotly figure renders,
nothing is fetched but the file itself; a screenshot is kept as a test artifact."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from vaelab.tasks.report import build_report, pick_morph_pair

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "out" / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # WebGL (plotly's 3-D scatter) on the CPU: recent Chromium wants the opt-in for SwiftShader
    "--enable-unsafe-swiftshader",
    "--window-size=1280,900",
    "--remote-debugging-port=0",
]

# Run in the page once it has loaded: hover a point (through plotly's own event), then report what a
# person would see: every image and whether it decoded, and whether the plotly figure drew.
PAGE_CHECK = """
(() => {
  const gd = document.querySelector('.js-plotly-plot');
  const rendered = !!(gd && gd._fullLayout && gd._fullData && gd._fullData.length > 0);
  if (rendered && !window.__hovered) {
    const t = gd.data.findIndex(tr => tr.customdata && tr.customdata.length);
    gd.emit('plotly_hover', {points: [{customdata: gd.data[t].customdata[0], curveNumber: t, pointNumber: 0}]});
    window.__hovered = true;
  }
  const canvases = gd ? [...gd.querySelectorAll('canvas')].filter(c => c.width > 0 && c.height > 0).length : 0;
  const svgPoints = gd ? gd.querySelectorAll('.scatterlayer .point').length : 0;
  const thumb = document.querySelector('.vaelab-hover-thumb img');
  return JSON.stringify({
    rendered, canvases, svgPoints,
    points: gd ? gd._fullData.reduce((n, tr) => n + (tr._length || 0), 0) : 0,
    images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth})),
    thumb: thumb ? thumb.naturalWidth : -1,
    height: document.documentElement.scrollHeight,
  });
})()
"""


class Chromium:
    """Headless Chromium driven over the DevTools protocol (one page, events collected as they come)."""

    def __init__(self, profile: Path):
        self.proc = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        import websocket

        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.events: list[dict] = []
        self._id = 0
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"page check failed: {res['exceptionDetails']}")
        return res["result"]["value"]

    def open(self, url: str, timeout: float = 60) -> None:
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading in {timeout} s")
            self.evaluate("1")  # a round trip, which collects the events that came meanwhile

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(json.dumps(p["exceptionDetails"])[:300])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])[:300])
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"]["text"][:300])
        return out

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path, width: int, height: int) -> Path:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        time.sleep(0.5)  # let the resized plotly figure redraw
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.call("Browser.close")
                self.ws.close()
        except Exception:  # the browser may already be gone; it is killed below either way
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def check_in_chromium(page: Path, workdir: Path, timeout: float = 60) -> tuple[dict, list[str], list[str], Path]:
    """Open ``page`` from disk; wait until the plotly figure drew and every image decoded (or time out).
    Returns the page's own report, the console errors, the URLs requested, and a full-page screenshot."""
    profile = workdir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    browser = Chromium(profile)
    try:
        browser.open(page.resolve().as_uri(), timeout)
        deadline = time.monotonic() + timeout
        while True:
            state = json.loads(browser.evaluate(PAGE_CHECK))
            settled = state["rendered"] and state["thumb"] > 0 and all(i["complete"] for i in state["images"])
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        shot = browser.screenshot(workdir / "report-screenshot.png", 1280, min(state["height"], 16000))
        return state, browser.errors(), browser.requested_urls(), shot
    finally:
        browser.close()


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory, tiny_model_dir):
    """The report of the tiny trained model, made through the CLI as a user would."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vaelab.cli",
            "report",
            "--model",
            str(tiny_model_dir),
            "--out",
            str(out),
            "--max-points",
            "300",
            "--frames",
            "8",
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"report written to {out}" in proc.stdout
    return out


def test_report_is_one_self_contained_file(tiny_report):
    page = tiny_report.read_text(encoding="utf-8")
    # The markup outside <script> has no http(s) reference at all. The scripts are plotly.js itself (whose
    # code holds URLs as strings: its logo link, map-tile defaults, none used here) and the figure; the
    # browser test below checks that opening the page fetches nothing but the file.
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S | re.I)
    assert markup.count("<section") == 8 and not re.search(r"https?:", markup, re.I)
    assert not re.search(r"<script[^>]*\ssrc=", page, re.I) and "<link" not in page.lower()
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(images) >= 11 and all(
        src.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for src in images
    )
    for section in (
        "Model card",
        "Metrics",
        "Training",
        "Latent space",
        "Dimensions",
        "Traversals",
        "Reconstructions and samples",
        "Morph",
    ):
        assert f">{section}</h2>" in page
    assert "Plotly.newPlot" in page  # plotly.js and the figure are in the page


def test_report_model_card_and_metrics_hold_the_models_numbers(tiny_model_dir, tiny_report):
    from vaelab.models.registry import load
    from vaelab.tasks.report import parameter_count

    page = tiny_report.read_text(encoding="utf-8")
    expected = sum(p.numel() for p in load(tiny_model_dir).parameters())
    assert parameter_count(tiny_model_dir) == expected
    assert f"parameters</th><td>{expected:,}</td>" in page
    assert "latent size</th><td>8</td>" in page and "conv widths</th><td>8, 16</td>" in page
    test = json.loads((tiny_model_dir / "config.json").read_text())["metrics"]["test"]
    assert f"−ELBO</th><td>{test['neg_elbo']:,.2f}</td>" in page
    assert "Training curves" in page  # the tiny run wrote metrics.jsonl


def test_model_card_names_a_validated_runs_saved_epoch_and_whole_run_and_the_tc_weight(tiny_model_dir):
    from vaelab.tasks.report import model_card

    doc = json.loads((tiny_model_dir / "config.json").read_text())
    plain = model_card(doc, None)["Training"]
    assert plain["epochs"] == doc["training"]["epochs_done"]
    doc["training"].update(epochs_done=7, best_epoch=7, epochs_run=22, train_seconds=130.4, run_seconds=400.0)
    card = model_card(doc, None)["Training"]
    assert card["epochs"] == "7 (the best validated of 22 run)"
    assert card["training time"] == "2 min 10 s to that epoch, 6 min 40 s in all"
    assert "β_TC (the objective adds (β_TC − 1)·TC)" not in model_card(doc, None)["Model"]
    doc["model"]["tc_beta"] = 6.0
    assert model_card(doc, None)["Model"]["β_TC (the objective adds (β_TC − 1)·TC)"] == 6.0


def test_model_card_names_the_learning_rate_schedule_the_moving_average_and_a_residual_model(tiny_model_dir):
    from vaelab.tasks.report import model_card

    doc = json.loads((tiny_model_dir / "config.json").read_text())
    assert "weights" not in model_card(doc, None)["Training"]
    doc["training"].update(lr=0.002, lr_schedule="cosine", warmup_steps=200, ema=0.999)
    doc["model"].update(kind="vae-res", attention=1, likelihood="gaussian-optimal")
    card = model_card(doc, None)
    assert card["Training"]["learning rate"] == "0.002 (cosine, 200 warm-up steps)"
    assert card["Training"]["weights"] == "moving average, decay 0.999"
    assert card["Model"]["attention blocks"] == 1 and "β (KL weight)" in card["Model"]
    assert card["Model"]["likelihood"].startswith("gaussian-optimal (σ² = the batch's mean squared error")


def test_morph_pair_is_the_most_typical_images_of_the_two_farthest_classes():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [1.0, 1.0]])
    labels = np.repeat([0, 1, 2], 50)
    z = centers[labels] + rng.normal(scale=0.3, size=(150, 2))
    z[[7, 60]] = centers[[0, 1]]  # planted: exactly at their class centroids (up to the noise's mean)
    i, j = pick_morph_pair(z, labels)
    assert {labels[i], labels[j]} == {0, 1} and {i, j} == {7, 60}
    i, j = pick_morph_pair(z, None)  # without classes: the most central image and the one farthest from it
    assert np.linalg.norm(z[j] - z[i]) == pytest.approx(np.linalg.norm(z - z[i], axis=1).max())


def test_report_builds_the_page_without_writing_and_write_report_puts_it_at_the_models_default_path(
    tmp_path, tiny_model_dir, monkeypatch
):
    from vaelab.errors import VaelabError
    from vaelab.tasks.report import report, write_report

    monkeypatch.chdir(tmp_path)
    result = report(tiny_model_dir, max_points=40, frames=3, progress=False)
    assert list(tmp_path.iterdir()) == [] and result.folder == tiny_model_dir
    assert result.page.startswith("<!DOCTYPE html>") and f"vaelab report: {tiny_model_dir.name}" in result.page
    out = write_report(result)
    assert out == Path("out") / "reports" / f"{tiny_model_dir.resolve().name}.html"
    assert out.read_text(encoding="utf-8") == result.page
    with pytest.raises(VaelabError, match="is a folder"):
        write_report(result, tmp_path)


def test_report_without_curves_adds_eval_json_and_refuses_a_folder_as_out(tmp_path, tiny_model_dir):
    from vaelab.errors import VaelabError

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder, ignore=shutil.ignore_patterns("metrics.jsonl", "checkpoint.pt", "*.png"))
    (folder / "eval.json").write_text(json.dumps({"iwae": {"nll": 123.456}, "active_units": {"count": 5}}))
    out = build_report(
        folder, out=tmp_path / "r" / "m.html", max_points=50, frames=4, progress=False, log=lambda *a, **k: None
    )
    page = out.read_text(encoding="utf-8")
    assert "no metrics.jsonl" in page and "Training curves" not in page
    assert "iwae.nll</th><td>123.4560</td>" in page and "active_units.count</th><td>5</td>" in page
    assert "Morph quality" not in page  # that eval.json has no morph-quality rows
    rows = {"slerp": {"path_length": 18.1, "step_deviation": 0.47, "frame_kid": 0.12},
            "pixel-crossfade": {"path_length": 17.2, "step_deviation": 0.61, "frame_kid": 0.13}}  # fmt: skip
    (folder / "eval.json").write_text(json.dumps({"interpolation": {"pairs": 9, "frames": 5, **rows}}))
    page = build_report(folder, out=tmp_path / "q.html", max_points=50, frames=4, progress=False,
                        log=lambda *a, **k: None).read_text(encoding="utf-8")  # fmt: skip
    assert "Morph quality" in page and "over 9 random test pairs of 5 frames" in page
    with pytest.raises(VaelabError, match="is a folder"):
        build_report(folder, out=tmp_path, progress=False)
    with pytest.raises(VaelabError, match="is a folder"):
        build_report(folder, out=f"{tmp_path}/new/", progress=False)  # a trailing slash means a folder
    photo = tmp_path / "image1.png"
    photo.write_bytes(b"\x89PNG not really")
    with pytest.raises(VaelabError, match="exists and is not an .html file"):
        build_report(folder, out=photo, progress=False)
    assert photo.read_bytes() == b"\x89PNG not really" and not (tmp_path / "new").exists()
    with pytest.raises(VaelabError, match="cannot read metrics"):
        build_report(folder, out=tmp_path / "x.html", metrics=(photo,), progress=False)  # binary, not JSON
    from vaelab.errors import VaelabWarning
    from vaelab.tasks.report import read_metrics

    other = tmp_path / "other.json"
    other.write_text(json.dumps({"model": {"folder": str(tmp_path / "another-model")}, "iwae": {"nll": 1.0}}))
    with pytest.warns(VaelabWarning, match="holds the metrics of .*another-model, not of"):
        assert read_metrics([other], folder)[0][1]["iwae"]["nll"] == 1.0
    from vaelab.models.config import weights_id

    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"model": {"folder": str(folder), "weights": weights_id(folder)}}))
    import warnings

    moved = tmp_path / "moved.json"  # measured where the model was made (the shipped ones): the same weights
    moved.write_text(json.dumps({"model": {"folder": "/elsewhere/emoji-vae", "weights": weights_id(folder)}}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", VaelabWarning)
        read_metrics([mine], folder)
        read_metrics([moved], folder)
    older = tmp_path / "older.json"  # the same folder, measured before it trained further
    older.write_text(json.dumps({"model": {"folder": str(folder), "weights": "0123456789abcdef"}}))
    with pytest.warns(VaelabWarning, match="measured other weights than .* holds now"):
        read_metrics([older], folder)


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (`make test` installs it)")
def test_report_renders_in_headless_chromium(tiny_report, tmp_path):
    state, errors, urls, shot = check_in_chromium(tiny_report, tmp_path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "report-screenshot.png")
    assert errors == []
    assert state["images"] and all(i["complete"] and i["width"] > 0 for i in state["images"]), state["images"]
    assert state["rendered"] and state["points"] == 300
    assert state["canvases"] > 0 or state["svgPoints"] > 0  # WebGL for 3-D, SVG for a 2-D latent
    assert state["thumb"] > 0  # hovering a point showed its image
    assert all(u.startswith(("file:", "data:", "about:")) for u in urls), urls
    assert shot.stat().st_size > 10_000
