"""Studio latency in the browser: time to URL, then input → new image painted per panel and model, beside the bare
Python API time of the same operation measured in this process.

Run: .venv/bin/python benchmarks/studio_latency.py [--events 60] [--morphs 20] [--starts 5]
     [--models fashion-mnist,emoji] [--json OUT]

Targets (the issue's, on this 2-core machine): `vaelab studio` prints its URL within 2 s; a slider (or a map click)
→ the new decoded image painted: p95 ≤ 50 ms on fashion-mnist (28×28 grey) and ≤ 80 ms on emoji (64×64 colour);
two uploads → the morph strip painted: ≤ 500 ms.

How:
- time to URL: `vaelab studio --port 0 --no-browser` started --starts times from an empty folder (so only the shipped
  models), the seconds until it prints its URL; beside `vaelab --help`, a whole CLI process that starts and exits;
- the browser figures are the page's own timings (window.vaelabTimings: from the input event's timeStamp until the
  new image is painted), in Debian's chromium driven by Playwright: focus a slider, press ArrowRight or ArrowLeft,
  wait for the timing entry, press the next key (--events per panel); click random points of the latent map; set two
  small PNG files (test images of the model's data) on the morph panel's file input, which uploads both and morphs
  through them (24 frames, slerp, the page's defaults); and scrub the morph strip (no request);
- per panel, the fetch of its API requests as the browser's Resource Timing API saw them, and each event split into
  phases on the page's clock (event → first request → last answer's headers → JSON → image decoded → painted), from
  marks the harness adds around fetch, Response.json and HTMLImageElement.decode (the page's files are unchanged);
- in this process: the bare API (OnnxModel.decode of one code, blend_centroids, combine_concepts, run_morph on the two
  files) and the server's work without HTTP (the studio's Workspace call and the PNG data URLs it answers with).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from vaelab.studio.catalog import find_models

TARGET_URL_S = 2.0
SLIDER_TARGET_MS = {"fashion-mnist": 50.0, "emoji": 80.0}
MORPH_TARGET_MS = 500.0
SLIDER_PANELS = ("traversal", "blend", "arithmetic", "map")
CHROMIUM = "/usr/bin/chromium"
VAELAB = str(Path(sys.executable).with_name("vaelab"))


# --- the studio as a subprocess (studio_load.py uses these too) --------------------------------------------------
class Studio:
    """`vaelab studio --port 0 --no-browser` in a subprocess, started in ``cwd``; its URL and the seconds to it."""

    def __init__(self, cwd: Path, args: tuple[str, ...] = (), timeout: float = 60):
        self.log = open(Path(cwd) / f"studio-{time.monotonic_ns()}.log", "w+")  # stderr: never a pipe that fills
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [VAELAB, "studio", "--port", "0", "--no-browser", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        line = self._first_line(timeout)
        self.seconds_to_url = time.perf_counter() - t0
        if "http://" not in line:
            self.stop()
            raise RuntimeError(f"vaelab studio printed {line!r}; its log:\n{self.stderr()}")
        self.url = line.split("vaelab studio: ", 1)[1].split()[0]
        self.pid = self.proc.pid

    def _first_line(self, timeout: float) -> str:
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = found[0] if found else ""
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain what follows
        return line

    def stderr(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def sample_pngs(data: str, folder: Path, n: int = 2, start: int = 2) -> list[Path]:
    """``n`` test images of a shipped data set as small PNG files (test/2, test/3, ...), as a user would upload."""
    import vaelab
    from vaelab.data.images import to_pil

    ds = vaelab.load_dataset(data)
    rows = ds.split("test")[start : start + n]
    paths = []
    for k, row in enumerate(rows):
        p = folder / f"{data}-{k}.png"
        to_pil(ds.images[row]).save(p)
        paths.append(p)
    return paths


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, float), q)) if len(values) else float("nan")


def median_ms(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_ticks() -> dict[int, tuple[int, int, str]]:
    """pid → (its parent, user + system clock ticks so far, its command line) for every process."""
    found = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            found[int(d.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), cmd or stat.split()[1])
    return found


def busy_processes(window: float = 2.0) -> list[str]:
    """The other processes that used over 10% of a core during the next ``window`` seconds (this one and its
    children left out): who shares the cores."""
    t0 = _cpu_ticks()
    time.sleep(window)
    t1 = _cpu_ticks()
    mine = {os.getpid()}
    for pid in t1:  # this process's descendants
        chain, q = [], pid
        while q in t1 and q not in mine and q > 1:
            chain.append(q)
            q = t1[q][0]
        if q in mine:
            mine.update(chain)
    hz = os.sysconf("SC_CLK_TCK")
    rows = []
    for pid, (_, ticks, cmd) in t1.items():
        used = (ticks - t0.get(pid, (0, 0, ""))[1]) / hz / window
        if used >= 0.1 and pid not in mine:
            rows.append((used, f"{cmd[:70]} (pid {pid}, {used:.0%})"))
    return [r for _, r in sorted(rows, reverse=True)]


class CoreWatch(threading.Thread):
    """busy_processes() over successive windows for as long as the benchmark runs: the other jobs seen on the cores,
    and the most of them at once."""

    def __init__(self, window: float = 5.0):
        super().__init__(daemon=True)
        self.window, self.seen, self.most = window, {}, 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            busy = busy_processes(self.window)
            self.most = max(self.most, len(busy))
            for row in busy:
                self.seen.setdefault(row.split(" (pid")[0], row)

    def stop(self) -> str:
        self._halt.set()
        self.join()
        names = "; ".join(self.seen) or "none"
        return f"other jobs on the cores during the run (>10% of a core over a {self.window:g} s window): {names}"


# --- time to URL -------------------------------------------------------------------------------------------------
def time_to_url(starts: int, cwd: Path) -> dict:
    to_url, to_answer = [], []
    for _ in range(starts):
        s = Studio(cwd)
        try:
            t0 = time.perf_counter() - s.seconds_to_url
            get_json(s.url + "api/models")
            to_answer.append(time.perf_counter() - t0)
            to_url.append(s.seconds_to_url)
        finally:
            s.stop()
    helps = []
    for _ in range(starts):
        t = time.perf_counter()
        subprocess.run([VAELAB, "--help"], check=True, capture_output=True)
        helps.append(time.perf_counter() - t)
    return {
        "url_s": statistics.median(to_url),
        "url_all_s": to_url,
        "first_answer_s": statistics.median(to_answer),
        "help_s": statistics.median(helps),
    }


# --- in process: the bare API and the server's work without HTTP ------------------------------------------------
def in_process(model_id: str, pngs: list[Path], reps: int) -> dict:
    """Median ms of each panel's operation: the bare API call, and the studio's Workspace call + its data URLs."""
    from vaelab.studio.app import data_url
    from vaelab.studio.uploads import Uploads
    from vaelab.studio.workspace import Workspace
    from vaelab.tasks.arithmetic import combine_concepts
    from vaelab.tasks.blend import blend_centroids
    from vaelab.tasks.morph import run_morph

    entry = next(e for e in find_models((), None) if e.id == model_id)
    uploads = Uploads()
    ws = Workspace(entry, uploads)
    m = ws.model
    classes = ws.class_names
    _ = ws.latent_map, ws.centroids
    dims = len(ws.traversal_dims())
    rng = np.random.default_rng(0)
    code = rng.normal(size=(1, m.latent_dim)).astype(np.float32)
    source = {"kind": "dataset", "ref": "test/0"}
    offsets = [0.5] + [0.0] * (dims - 1)
    weights = {classes[0]: 1.0, classes[1]: 0.5}
    terms = [{"sign": s, "source": {"kind": "class", "name": classes[k]}} for k, s in ((0, 1), (1, -1), (2, 1))]
    concepts = [(float(t["sign"]), ws.concept_of(t["source"])) for t in terms]
    cents = ws.centroids[[0, 1]]
    files = [p.read_bytes() for p in pngs]

    def server_arith():
        r = ws.arithmetic(terms, 0.5)
        return [data_url(i) for i in r.concept_images], data_url(r.image)

    def server_morph():
        ids = [uploads.add(b, p.name)["id"] for b, p in zip(files, pngs)]
        r, _ = ws.morph([{"kind": "upload", "id": i} for i in ids], "slerp", 24)
        return [data_url(f) for f in r.frames], [data_url(f) for f in r.inputs]

    few = max(5, reps // 10)
    return {
        "bare": {
            "traversal": median_ms(lambda: m.decode(code), reps),
            "blend": median_ms(lambda: blend_centroids(m, cents, np.array([1.0, 0.5])), reps),
            "arithmetic": median_ms(lambda: combine_concepts(m, concepts, strength=0.5), reps),
            "map": median_ms(lambda: m.decode(code), reps),
            "morph": median_ms(lambda: run_morph(m, images=list(pngs), frames=24), few),
        },
        "server": {
            "traversal": median_ms(lambda: data_url(ws.traverse(source, offsets)), reps),
            "blend": median_ms(lambda: data_url(ws.blend(weights)), reps),
            "arithmetic": median_ms(server_arith, reps),
            "map": median_ms(lambda: data_url(ws.decode_point(0.3, -0.2)), reps),
            "morph": median_ms(server_morph, few),
        },
    }


# --- in the browser ---------------------------------------------------------------------------------------------
# The harness's hook: resolve a wait as soon as the page pushes a timing (no polling between a key and its entry).
# It also marks, on the page's clock, each input/click/change event, each fetch call and its answer's headers, each
# JSON body parsed, each image decoded and each timing pushed (painted), so an event's time splits into phases.
HOOK = """() => {
  const t = window.vaelabTimings, push = t.push.bind(t);
  const marks = window.__benchMarks = [], mark = (what) => marks.push([what, performance.now()]);
  window.__benchWaiters = [];
  t.push = (...xs) => {
    mark("painted");
    const n = push(...xs);
    for (const w of window.__benchWaiters.splice(0)) w();
    return n;
  };
  for (const kind of ["input", "click", "change"]) {
    document.addEventListener(kind, (ev) => marks.push([kind, ev.timeStamp]), true);
  }
  const fetch = window.fetch;
  window.fetch = (...args) => { mark("fetch"); return fetch(...args).then((r) => { mark("headers"); return r; }); };
  const json = Response.prototype.json;
  Response.prototype.json = function () { return json.call(this).then((x) => { mark("json"); return x; }); };
  const decode = HTMLImageElement.prototype.decode;
  HTMLImageElement.prototype.decode = function () { return decode.call(this).finally(() => mark("decoded")); };
  performance.setResourceTimingBufferSize(100000);
}"""
PHASES = ("to request", "http", "body+json", "image decode", "to paint")
WAIT = """([n, panel, ms]) => new Promise((done) => {
  const check = () => {
    const hit = window.vaelabTimings.slice(n).find((e) => e.panel === panel);
    if (hit) done(hit.ms); else window.__benchWaiters.push(check);
  };
  setTimeout(() => done(null), ms);
  check();
})"""
FETCHES = """(paths) => performance.getEntriesByType("resource")
  .filter((e) => paths.some((p) => new URL(e.name).pathname.endsWith(p)))
  .map((e) => ({path: new URL(e.name).pathname, total: e.responseEnd - e.startTime,
                wait: e.responseStart - e.requestStart}))"""
API = {
    "traversal": ["/api/traversal"],
    "blend": ["/api/blend"],
    "arithmetic": ["/api/arithmetic"],
    "map": ["/api/map/decode"],
    "morph": ["/api/upload", "/api/morph"],
}


class Page:
    def __init__(self, page):
        self.page = page

    def count(self) -> int:
        return self.page.evaluate("() => window.vaelabTimings.length")

    def wait_timing(self, n: int, panel: str, timeout_s: float = 20) -> float:
        ms = self.page.evaluate(WAIT, [n, panel, int(timeout_s * 1000)])
        if ms is None:
            raise RuntimeError(f"no {panel} timing within {timeout_s} s; the page says: {self.error()}")
        return ms

    def error(self) -> str:
        return self.page.evaluate("() => document.getElementById('error').textContent")

    def poll(self, js: str, arg=None, timeout_s: float = 60) -> object:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            value = self.page.evaluate(js, arg)
            if value:
                return value
            time.sleep(0.02)
        raise RuntimeError(f"timed out waiting for {js[:60]}; the page says: {self.error()}")

    def fetches(self, panel: str) -> list[dict]:
        found = self.page.evaluate(FETCHES, API[panel])
        self.page.evaluate("() => performance.clearResourceTimings()")
        return found

    def phases(self, trigger: str) -> list[list[float]]:
        """Each event's phases (ms), from the marks since the last call: the ``trigger`` event → the first fetch
        ("to request") → the last answer's headers ("http") → its JSON parsed ("body+json") → the last image
        decoded ("image decode") → the timing pushed after the frame ("to paint")."""
        marks = self.page.evaluate("() => window.__benchMarks.splice(0)")
        out = []
        for i, (what, t0) in enumerate(marks):
            if what != trigger:
                continue
            later = marks[i + 1 :]
            end = next((t for w, t in later if w == "painted"), None)
            if end is None:
                continue
            during = [(w, t) for w, t in later if t <= end and w != trigger]
            firsts = [t for w, t in during if w == "fetch"]
            if not firsts:
                continue
            headers = _last(during, "headers", firsts[0])
            body = _last(during, "json", headers)
            decoded = _last(during, "decoded", body)
            out.append([firsts[0] - t0, headers - firsts[0], body - headers, decoded - body, end - decoded])
        return out


def _last(marks: list, kind: str, default: float) -> float:
    return max((t for w, t in marks if w == kind), default=default)


def open_model(p: Page, url: str, model_id: str) -> None:
    """Choose the model and wait until its panels are built and their first pictures painted."""
    info = get_json(f"{url}api/model?model={model_id}")
    want = {"dims": [f"trav-z{d['dim']}" for d in info["traversal_dims"]], "first": (info["classes"] or [""])[0]}
    n = 0  # the page opens its default model by itself, perhaps before this call
    if p.page.input_value("#model") != model_id:
        n = p.count()
        p.page.select_option("#model", model_id)
    p.poll(
        """(w) => {
          const ids = [...document.querySelectorAll('#trav-sliders input')].map((s) => s.id);
          const label = document.querySelector('label[for=blend-w0]');
          const classes = !w.first || (label && label.textContent === w.first);
          return JSON.stringify(ids) === JSON.stringify(w.dims) && classes;
        }""",
        want,
    )
    for panel in ("morph", "traversal", "arithmetic", "blend"):
        p.wait_timing(n, panel, 120)


def drive_slider(p: Page, tab: str, selector: str, panel: str, events: int, per_slider: int = 10) -> list[float]:
    """Press ArrowRight/ArrowLeft on the panel's sliders, one key per new timing; each slider bounces between its
    ends, and the keys move to the next slider every ``per_slider`` events."""
    p.page.click(f"#tab-{tab}")
    sliders = p.page.locator(selector)
    count = sliders.count()
    direction = [1] * count
    out = []
    for k in range(events):
        i = (k // per_slider) % count
        s = sliders.nth(i)
        v, lo, hi, step = s.evaluate("(e) => [Number(e.value), Number(e.min), Number(e.max), Number(e.step)]")
        if direction[i] > 0 and v + step > hi + 1e-9:
            direction[i] = -1
        elif direction[i] < 0 and v - step < lo - 1e-9:
            direction[i] = 1
        n = p.count()
        s.focus()
        p.page.keyboard.press("ArrowRight" if direction[i] > 0 else "ArrowLeft")
        out.append(p.wait_timing(n, panel))
    return out


def drive_map(p: Page, events: int, rng: random.Random) -> list[float]:
    """Click random points of the latent map; after every second click wait for the page's morph between them."""
    p.page.click("#tab-map")
    p.page.wait_for_selector("#map-plot .nsewdrag", timeout=60_000)
    p.page.evaluate("() => window.__benchMarks.splice(0)")  # opening the map is no click on it
    box = p.page.locator("#map-plot .nsewdrag").bounding_box()
    out = []
    for k in range(events):
        p.page.evaluate("() => { const f = document.querySelector('#map-strip').firstChild; if (f) f.__old = true; }")
        n = p.count()
        x = box["x"] + box["width"] * rng.uniform(0.1, 0.9)
        y = box["y"] + box["height"] * rng.uniform(0.1, 0.9)
        p.page.mouse.click(x, y)
        out.append(p.wait_timing(n, "map"))
        if k % 2 == 1:  # the second click of a pair morphs: let it finish before the next click
            p.poll("() => { const f = document.querySelector('#map-strip').firstChild; return f && !f.__old; }")
    return out


def drive_morph(p: Page, pngs: list[Path], events: int) -> list[float]:
    """Empty the morph panel's inputs, then set the two PNG files on its file input: upload, morph, strip painted."""
    p.page.click("#tab-morph")
    out = []
    for _ in range(events):
        remove = p.page.locator("#morph-picker .chip button[aria-label^=remove]")
        while remove.count():
            remove.first.click()
        p.page.wait_for_timeout(50)  # the removals' own (empty) morph entries land first
        n = p.count()
        p.page.set_input_files("#morph-picker input[type=file]", [str(f) for f in pngs])
        out.append(p.wait_timing(n, "morph"))
    return out


def browser_run(url: str, model_id: str, pngs: list[Path], events: int, morphs: int, seed: int) -> dict:
    from playwright.sync_api import sync_playwright

    rng = random.Random(seed)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.goto(url)
            page.wait_for_selector("#model option", state="attached")
            page.evaluate(HOOK)
            p = Page(page)
            open_model(p, url, model_id)
            p.fetches("traversal")  # clears the resource timings of the start
            p.phases("input")  # and the marks
            ms, fetched, phases = {}, {}, {}
            ms["traversal"] = drive_slider(p, "traversal", "#trav-sliders input", "traversal", events)
            fetched["traversal"], phases["traversal"] = p.fetches("traversal"), p.phases("input")
            ms["blend"] = drive_slider(p, "blend", "#blend-sliders input", "blend", events)
            fetched["blend"], phases["blend"] = p.fetches("blend"), p.phases("input")
            ms["arithmetic"] = drive_slider(p, "arithmetic", "#arith-strength", "arithmetic", events, per_slider=events)
            fetched["arithmetic"], phases["arithmetic"] = p.fetches("arithmetic"), p.phases("input")
            ms["map"] = drive_map(p, events, rng)
            fetched["map"], phases["map"] = p.fetches("map"), p.phases("click")
            ms["morph"] = drive_morph(p, pngs, morphs)
            fetched["morph"], phases["morph"] = p.fetches("morph"), p.phases("change")
            ms["scrub"] = drive_slider(p, "morph", "#morph-scrub", "scrub", events, per_slider=events)
            shown = p.error()
        finally:
            browser.close()
    return {"ms": ms, "fetches": fetched, "phases": phases, "problems": problems, "error_shown": shown}


# --- the report ----------------------------------------------------------------------------------------------------
def fetch_summary(fetches: list[dict]) -> tuple[float, float]:
    """(median ms of HTTP per event: from a request's start to its last byte, summed over the event's requests
    (a morph event: its two uploads and the morph); median ms from a request sent to the first byte of its answer,
    which is the server's time plus loopback)."""
    if not fetches:
        return float("nan"), float("nan")
    per_event, open_sum = [], 0.0
    for f in fetches:  # in the order they started; an event ends with its panel's last request
        open_sum += f["total"]
        if f["path"] != "/api/upload":
            per_event.append(open_sum)
            open_sum = 0.0
    return statistics.median(per_event), statistics.median(f["wait"] for f in fetches)


def report(results: dict, boot: dict) -> None:
    urls = ", ".join(f"{s:.2f}" for s in boot["url_all_s"])
    print(
        f"time to URL: median {boot['url_s']:.2f} s of {len(boot['url_all_s'])} starts ({urls}); first /api/models "
        f"answer {boot['first_answer_s']:.2f} s; `vaelab --help` {boot['help_s']:.2f} s "
        f"(x{boot['url_s'] / boot['help_s']:.2f}); target ≤ {TARGET_URL_S:g} s: "
        f"{'met' if boot['url_s'] <= TARGET_URL_S else 'MISSED'}"
    )
    print(
        "\nbrowser: input event → new image painted (p50, p95). http: the event's requests, start to last byte;"
        "\nwait: request sent → first byte (server + loopback); page: p50 − http (input handling, JSON, image decode,"
        "\nthe frame to paint). server: the Workspace call + its data URLs in this process; bare: the Python API call"
        "\nalone in this process. Medians in ms."
    )
    print(
        f"{'model':14s} {'panel':10s} {'n':>4s} {'p50':>6s} {'p95':>6s} {'target':>6s} {'':6s} "
        f"{'http':>6s} {'wait':>5s} {'page':>6s} {'server':>6s} {'bare':>6s} {'p50/bare':>8s}"
    )
    nan = float("nan")
    for model_id, r in results.items():
        for panel, values in r["browser"]["ms"].items():
            target = {"morph": MORPH_TARGET_MS, "scrub": nan}.get(panel, SLIDER_TARGET_MS.get(model_id, nan))
            p50, p95 = percentile(values, 50), percentile(values, 95)
            verdict = "" if target != target else ("met" if p95 <= target else "MISSED")
            http, wait = fetch_summary(r["browser"]["fetches"].get(panel, []))
            server = r["in_process"]["server"].get(panel, nan)
            bare = r["in_process"]["bare"].get(panel, nan)
            print(
                f"{model_id:14s} {panel:10s} {len(values):4d} {p50:6.1f} {p95:6.1f} {target:6.0f} {verdict:6s} "
                f"{http:6.1f} {wait:5.1f} {p50 - http:6.1f} {server:6.2f} {bare:6.2f} {p50 / bare:8.0f}"
            )
        if r["browser"]["problems"] or r["browser"]["error_shown"]:
            print(f"  {model_id}: page problems: {r['browser']['problems'][:5]} shown: {r['browser']['error_shown']!r}")
    print("\nwhere an event's time goes, medians in ms (the page's clock; each phase's median, so they need not sum):")
    print(f"{'model':14s} {'panel':10s} {'n':>4s} " + " ".join(f"{h:>12s}" for h in PHASES))
    for model_id, r in results.items():
        for panel, rows in r["browser"].get("phases", {}).items():
            cols = [statistics.median(c) for c in zip(*rows)] if rows else [nan] * len(PHASES)
            print(f"{model_id:14s} {panel:10s} {len(rows):4d} " + " ".join(f"{c:12.1f}" for c in cols))
    for model_id, r in results.items():
        ms = r["browser"]["ms"]
        sliders = [v for panel in SLIDER_PANELS for v in ms[panel]]
        worst = max(SLIDER_PANELS, key=lambda panel: percentile(ms[panel], 95))
        target = SLIDER_TARGET_MS.get(model_id, nan)
        print(
            f"headline {model_id}: slider → painted p95 {percentile(sliders, 95):.1f} ms over the slider panels "
            f"(worst: {worst} {percentile(ms[worst], 95):.1f} ms), target ≤ {target:g} ms; two uploads → morph "
            f"strip painted p95 {percentile(ms['morph'], 95):.0f} ms, target ≤ {MORPH_TARGET_MS:g} ms"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=60, help="key presses (or map clicks) per slider panel")
    ap.add_argument("--morphs", type=int, default=20, help="two-file uploads per model")
    ap.add_argument("--starts", type=int, default=5, help="studio starts for the time to URL")
    ap.add_argument("--models", default="fashion-mnist,emoji")
    ap.add_argument("--reps", type=int, default=200, help="repetitions of each in-process call")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="save every figure here")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    before = {"load": load_average(), "busy": busy_processes()}
    print(f"before: load average {before['load']}; other busy processes: {before['busy'] or 'none'}")
    watch = CoreWatch()
    watch.start()
    with tempfile.TemporaryDirectory(prefix="studio-latency-") as tmp:
        tmp = Path(tmp)
        boot = time_to_url(args.starts, tmp)
        results = {}
        for model_id in models:
            entry = next(e for e in find_models((), None) if e.id == model_id)
            pngs = sample_pngs(entry.card()["data"], tmp)
            results[model_id] = {"in_process": in_process(model_id, pngs, args.reps), "pngs": [str(p) for p in pngs]}
        studio = Studio(tmp)  # one server for both models, as a user starts it
        try:
            for model_id in models:
                pngs = [Path(p) for p in results[model_id]["pngs"]]
                results[model_id]["browser"] = browser_run(
                    studio.url, model_id, pngs, args.events, args.morphs, args.seed
                )
            server_log = studio.stderr()
        finally:
            studio.stop()
    shared = watch.stop()
    after = {"load": load_average(), "busy": busy_processes(), "during": list(watch.seen.values())}
    report(results, boot)
    print(shared)
    if server_log.strip():
        print("server log:\n" + server_log[-2000:])
    print(f"after: load average {after['load']}; other busy processes: {after['busy'] or 'none'}")
    if args.json:
        args.json.write_text(json.dumps({"boot": boot, "results": results, "before": before, "after": after}, indent=1))


if __name__ == "__main__":
    main()
