"""The studio in a real headless Chromium (Debian's, driven by Playwright; no browser is downloaded): each panel's
picture, as painted, against the Python API's answer for the same input; no console errors; every request to the
page's own origin; labelled controls that answer the arrow keys. Screenshots of each panel are saved as test
artifacts (out/test-artifacts/studio, or $VAELAB_TEST_ARTIFACTS/studio); with VAELAB_UPDATE_SCREENSHOTS=1 they
also replace README's pictures in docs/figures."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import fashion_mnist_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not fashion_mnist_available(), reason="needs Debian's dataset-fashion-mnist (make data)"),
]
CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("VAELAB_TEST_ARTIFACTS", ROOT / "out" / "test-artifacts")) / "studio"
FIGURES = ROOT / "docs" / "figures"
PANELS = ("morph", "arithmetic", "map", "traversal", "blend")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`vaelab studio` as a user starts it, on a free port, from a folder without runs."""
    cwd = tmp_path_factory.mktemp("studio")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaelab", "studio", "--port", "0", "--no-browser"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not found:
        proc.kill()
        pytest.fail(f"the studio printed no URL: {line!r} {proc.stderr.read()}")
    yield found.group(0)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Page:
    """A page of the studio, with what it logged and every URL it requested."""

    def __init__(self, browser, url: str):
        self.url = url
        self.page = browser.new_page(viewport={"width": 1200, "height": 860}, device_scale_factor=1)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_selector("#morph-strip img:nth-child(24)")

    def timings(self, panel: str) -> int:
        return self.page.evaluate(f"window.vaelabTimings.filter(t => t.panel === {panel!r}).length")

    def wait_for_timing(self, panel: str, count: int, timeout: float = 20.0) -> None:
        """Wait until the panel has painted ``count`` answers (the page counts each in window.vaelabTimings)."""
        end = time.monotonic() + timeout
        while self.timings(panel) < count:
            if time.monotonic() > end:
                raise AssertionError(f"{panel}: no new picture within {timeout} s; errors: {self.errors}")
            self.page.wait_for_timeout(30)

    def settle(self, panel: str) -> None:
        """Wait until the panel's answers stop coming (the last input's picture is painted)."""
        seen = -1
        while (n := self.timings(panel)) != seen:
            seen = n
            self.page.wait_for_timeout(250)

    def shown(self, selector: str, size: tuple[int, int]) -> np.ndarray:
        """The element's pixels as painted, sampled at the centre of each of the image's own pixels: (H, W, 3)."""
        png = self.page.locator(selector).screenshot()
        shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float64)
        h, w = size
        ys = ((np.arange(h) + 0.5) * shot.shape[0] / h).astype(int)
        xs = ((np.arange(w) + 0.5) * shot.shape[1] / w).astype(int)
        return shot[ys][:, xs] / 255.0

    def source(self, selector: str) -> np.ndarray:
        """The picture the element shows, decoded from its data URL: (H, W, 3) in [0, 1]."""
        src = self.page.get_attribute(selector, "src")
        assert src and src.startswith("data:image/png;base64,"), src
        return rgb(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))

    def tab(self, name: str) -> None:
        self.page.click(f"#tab-{name}")

    def press(self, selector: str, key: str, times: int = 1) -> None:
        self.page.focus(selector)
        for _ in range(times):
            self.page.keyboard.press(key)

    def slide(self, panel: str, shown: str, slider: str, key: str, times: int) -> None:
        """Open the panel, wait for its first picture (``shown``), press ``key`` on the slider ``times`` times and
        wait until the picture of the last press is painted."""
        self.tab(panel)
        self.page.wait_for_selector(f"{shown}[src]")
        before = self.timings(panel)
        self.press(slider, key, times)
        self.wait_for_timing(panel, before + 1)
        self.settle(panel)

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"studio-{name}.png"
        self.page.screenshot(path=str(path))
        if os.environ.get("VAELAB_UPDATE_SCREENSHOTS") == "1":
            shutil.copyfile(path, FIGURES / path.name)

    def check_clean(self) -> None:
        assert not self.errors, f"console errors: {self.errors}"
        foreign = [u for u in self.requests if not u.startswith(self.url) and not u.startswith(("data:", "blob:"))]
        assert not foreign, f"requests outside the page's origin: {foreign}"


def rgb(image) -> np.ndarray:
    """A PIL image or a (C, H, W) array in [0, 1] → (H, W, 3) in [0, 1]."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), np.float64) / 255.0
    arr = np.asarray(image, np.float64)
    return np.repeat(arr, 3, axis=0).transpose(1, 2, 0) if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def close(a: np.ndarray, b: np.ndarray, tol: float = 2 / 255) -> bool:
    return a.shape == b.shape and float(np.abs(a - b).max()) <= tol + 1e-9


@pytest.fixture(scope="module")
def api():
    """The Python API's side of each check: the shipped Fashion-MNIST model, as the studio opens it."""
    from vaelab.studio.catalog import find_models
    from vaelab.studio.uploads import Uploads
    from vaelab.studio.workspace import Workspace

    entry = next(e for e in find_models() if e.id == "fashion-mnist")
    return Workspace(entry, Uploads())


@pytest.fixture(scope="module")
def page(browser, server):
    p = Page(browser, server)
    yield p
    p.page.close()


def test_two_uploads_morph_and_the_scrubber_shows_the_api_frames(page, api, tmp_path):
    from vaelab.tasks.morph import run_morph

    files = []
    for i, row in enumerate((1, 0)):  # a pullover and an ankle boot, as PNG files a person would drop in
        image, _ = api.image_of({"kind": "dataset", "ref": f"test/{row}"})
        path = tmp_path / f"upload-{i}.png"
        Image.fromarray(image[0]).save(path)
        files.append(path)
    page.page.wait_for_selector("#morph-picker .chip")  # the model's example: two training images, named as such
    assert page.page.locator("#morph-picker .chip span").all_inner_texts() == ["train/0", "train/1"]
    assert "the model trained on" in page.page.inner_text("#morph-example-note")
    before = page.timings("morph")
    page.page.set_input_files("#morph-picker input[type=file]", [str(f) for f in files])
    page.wait_for_timing("morph", before + 1)
    page.settle("morph")
    assert page.page.locator("#morph-picker .chip").count() == 2  # the example inputs made way for the uploads
    assert page.page.locator("#morph-example-note").is_hidden()  # and the line that named them went with them
    expected = run_morph("fashion-mnist", images=[str(f) for f in files], frames=24).frames
    assert page.page.locator("#morph-strip img").count() == 24
    first = page.shown("#morph-frame", (28, 28))
    assert close(first, rgb(expected[0]))
    page.press("#morph-scrub", "ArrowRight", 7)
    assert page.page.input_value("#morph-scrub") == "7"
    shown = page.shown("#morph-frame", (28, 28))
    assert close(shown, rgb(expected[7])), f"max difference {np.abs(shown - rgb(expected[7])).max() * 255:.1f}/255"
    assert np.abs(shown - first).max() > 0.1  # the shown frame changed
    page.press("#morph-scrub", "End")
    assert close(page.shown("#morph-frame", (28, 28)), rgb(expected[-1]))
    for name in ("morph.gif", "contact_sheet.png"):
        assert page.page.locator(f"#morph-downloads a[download='{name}']").count() == 1
    page.page.locator("#morph-scrub").evaluate("e => { e.value = 12; e.dispatchEvent(new Event('input')); }")
    page.screenshot("morph")
    page.check_clean()


def test_arithmetic_strength_slider_matches_the_api(page, api):
    from vaelab.tasks.arithmetic import arithmetic

    page.slide("arithmetic", "#arith-result", "#arith-strength", "ArrowLeft", 10)  # 1.00 → 0.50, 0.05 a key
    assert page.page.input_value("#arith-strength") == "0.5"
    want = arithmetic("fashion-mnist", "class:T-shirt/top - class:Trouser + class:Pullover", strength=0.5).image
    assert close(page.source("#arith-result"), rgb(want))
    assert close(page.shown("#arith-result", (28, 28)), rgb(want))
    at_one = arithmetic("fashion-mnist", "class:T-shirt/top - class:Trouser + class:Pullover").image
    assert np.abs(rgb(want) - rgb(at_one)).max() > 0.05  # the strength changed the picture
    page.screenshot("arithmetic")
    page.check_clean()


def test_latent_map_click_decodes_that_point(page, api):
    page.tab("map")
    page.page.wait_for_selector("#map-plot .nsewdrag")
    box = page.page.locator("#map-plot .nsewdrag").bounding_box()
    before = page.timings("map")
    page.page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    page.wait_for_timing("map", before + 1)
    x = float(page.page.get_attribute("#map-decoded", "data-x"))
    y = float(page.page.get_attribute("#map-decoded", "data-y"))
    assert close(page.source("#map-decoded"), rgb(api.decode_point(x, y)))
    page.page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.page.mouse.click(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.3)
    page.wait_for_timing("map", before + 2)
    page.page.wait_for_selector("#map-strip img:nth-child(12)")  # two clicks: a morph along the plane
    page.screenshot("map")
    page.check_clean()


def test_traversal_slider_follows_the_api(page, api):
    page.tab("traversal")
    slider = "#" + page.page.locator("#trav-sliders input").first.get_attribute("id")
    label = page.page.locator(f"label[for='{slider[1:]}']").inner_text()
    assert re.match(r"z\d+ \(KL \d+\.\d\d nats\)", label), label  # the shipped model's ONNX gives the KL
    page.slide("traversal", "#trav-image", slider, "ArrowRight", 15)  # +1.5 σ
    n = page.page.locator("#trav-sliders input").count()
    offsets = [1.5] + [0.0] * (n - 1)
    want = api.traverse({"kind": "dataset", "ref": "test/0"}, offsets)
    assert close(page.source("#trav-image"), rgb(want))
    centre = api.traverse({"kind": "dataset", "ref": "test/0"}, [0.0] * n)
    assert np.abs(rgb(want) - rgb(centre)).max() > 0.05
    page.screenshot("traversal")
    page.check_clean()


def test_blend_sliders_follow_the_api(page, api):
    from vaelab.tasks.blend import blend_centroids

    page.slide("blend", "#blend-image", "#blend-w2", "ArrowRight", 10)  # Pullover 0 → 0.5
    want = blend_centroids(api.model, api.centroids[[0, 1, 2]], [1.0, 1.0, 0.5])
    assert close(page.source("#blend-image"), rgb(want))
    painted = page.timings("blend")  # counted before the change: its answer may be painted before the next line
    page.page.select_option("#blend-mean", "spherical")
    page.wait_for_timing("blend", painted + 1)
    page.settle("blend")
    assert close(page.source("#blend-image"), rgb(blend_centroids(api.model, api.centroids[[0, 1, 2]],
                                                                  [1.0, 1.0, 0.5], "spherical")))  # fmt: skip
    page.screenshot("blend")
    page.check_clean()


def test_every_control_has_a_label(page):
    unlabelled = page.page.evaluate(
        """() => [...document.querySelectorAll('input, select, button')].filter(e => {
            if (e.type === 'hidden') return false;
            const named = e.getAttribute('aria-label') || (e.tagName === 'BUTTON' && e.textContent.trim());
            return !named && !(e.labels && e.labels.length);
        }).map(e => e.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == []


def test_a_bad_upload_shows_one_line_and_the_page_keeps_working(page, tmp_path):
    page.tab("morph")
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    page.page.set_input_files("#morph-picker input[type=file]", [str(bad)])
    page.page.wait_for_selector("#error:not([hidden])")
    message = page.page.inner_text("#error")
    assert "notes.png" in message and "\n" not in message.strip()
    page.errors[:] = [e for e in page.errors if "400" not in e]  # the browser logs the refused upload itself
    assert page.page.locator("#morph-strip img").count() == 24  # the morph is still there


def test_the_colour_model_morphs_dog_into_bird_by_name(page):
    from tests.conftest import emoji_font_available

    from vaelab.tasks.morph import run_morph

    if not emoji_font_available():
        pytest.skip("needs Debian's fonts-noto-color-emoji (make data)")
    page.tab("morph")
    before = page.timings("morph")
    page.page.select_option("#model", "emoji")
    page.wait_for_timing("morph", before + 1)  # the uploads stay, and morph through the emoji model now
    page.settle("morph")
    chips = page.page.locator("#morph-picker .chip span").all_inner_texts()
    assert chips == ["upload-0.png", "upload-1.png"], chips
    for _ in chips:
        page.page.click("#morph-picker .chip button[aria-label^='remove']")
    assert page.page.locator("#morph-strip img").count() == 0  # fewer than two inputs: no stale morph
    before = page.timings("morph")
    for name in ("dog face", "bird"):
        page.page.fill("#morph-picker input[type=text]", name)
        page.page.keyboard.press("Enter")
    page.wait_for_timing("morph", before + 2)
    page.settle("morph")
    assert page.page.locator("#morph-picker .chip span").all_inner_texts() == ["dog face", "bird"]
    expected = run_morph("emoji", images=["emoji:dog face", "emoji:bird"], frames=24).frames
    page.press("#morph-scrub", "Home")
    page.press("#morph-scrub", "ArrowRight", 10)
    assert page.page.input_value("#morph-scrub") == "10"
    assert close(page.shown("#morph-frame", (64, 64)), rgb(expected[10]))
    page.screenshot("emoji-morph")
    page.check_clean()


def test_a_refused_input_is_taken_back_and_the_morph_stays(page):
    page.tab("morph")
    page.page.wait_for_selector("#morph-strip img:nth-child(24)")
    chips = page.page.locator("#morph-picker .chip span").all_inner_texts()
    page.page.fill("#morph-picker input[type=text]", "test/99999")
    page.page.keyboard.press("Enter")
    page.page.wait_for_selector("#error:not([hidden])")
    assert "test/99999" in page.page.inner_text("#error") and "give an index from 0" in page.page.inner_text("#error")
    for _ in range(100):
        if page.page.locator("#morph-picker .chip span").all_inner_texts() == chips:
            break
        page.page.wait_for_timeout(30)
    assert page.page.locator("#morph-picker .chip span").all_inner_texts() == chips  # the bad one is gone
    assert page.page.locator("#morph-strip img").count() == 24  # and the morph before it stays
    page.errors[:] = [e for e in page.errors if "400" not in e]  # the browser logs the refused request itself
