"""Studio under load: 20 clients on 127.0.0.1 for 30 s against `vaelab studio`, beside one client measured the same
way in this process, so the scaling is a ratio.

Run: .venv/bin/python benchmarks/studio_load.py [--clients 20] [--seconds 30] [--baseline-seconds 15] [--json OUT]

Targets (the issue's, on this 2-core machine): no errors, p95 ≤ 250 ms over every request, the server's RSS under
1 GB throughout; and the throughput per core.

Each run starts its own `vaelab studio --port 0 --no-browser` from an empty folder, as a user starts it (the shipped
models, nothing opened ahead but what the studio warms by itself). Each client is one person with a page open: it
opens both models (GET /api/model and /api/map of each, as the page does when a model is chosen and its map shown;
half the clients open emoji first), then sends one request after another with no pause, each to one of the two
models at random, as a page does while a slider is being dragged (one request in flight at a time):
- slider decodes: POST /api/traversal (a test image, 8 offsets), /api/blend (two or three classes),
  /api/map/decode (a point inside the map), /api/arithmetic (the page's A − B + C of the first three classes, at a
  random strength);
- uploads: POST /api/upload of two small PNG files (test images of the model's data), then POST /api/morph through
  them (24 frames, slerp).
An error is any answer that is not 2xx, or any exception (a timeout included). The server's RSS (VmRSS of its
process and its children) is sampled every 50 ms, and its VmHWM read at the end; its CPU time comes from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import threading
import time
from pathlib import Path

import httpx

from studio_latency import CoreWatch, Studio, busy_processes, load_average, percentile, sample_pngs

TARGET_P95_MS = 250.0
TARGET_RSS_MB = 1024.0
MODELS = ("fashion-mnist", "emoji")
# what a client does next, by weight: four slider decodes and, less often, an upload of two files and a morph
MIX = {"traversal": 30, "blend": 15, "map": 20, "arithmetic": 20, "upload+morph": 15}
CORES = os.cpu_count() or 2


# --- the server's memory and CPU -------------------------------------------------------------------------------
def _tree(pid: int) -> list[int]:
    """pid and its descendants."""
    kids = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            kids.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process tree so far."""
    total = 0
    for p in _tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class RSSSampler(threading.Thread):
    """Samples the server tree's summed VmRSS every ``every`` seconds until stopped; keeps the peak and the series."""

    def __init__(self, pid: int, every: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_kb, self.series = 0, []
        self._halt = threading.Event()

    def run(self) -> None:
        t0 = time.perf_counter()
        while not self._halt.is_set():
            kb = sum(_status_kb(p, "VmRSS") for p in _tree(self.pid))
            self.peak_kb = max(self.peak_kb, kb)
            self.series.append((round(time.perf_counter() - t0, 2), kb))
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()


# --- the clients ---------------------------------------------------------------------------------------------------
class Client:
    """One person's page: it opens both models, then each request goes to one of them at random."""

    def __init__(self, http: httpx.AsyncClient, pngs: dict[str, list[Path]], rng: random.Random, log: list):
        self.http, self.rng, self.log = http, rng, log
        self.files = {m: [(p.name, p.read_bytes()) for p in ps] for m, ps in pngs.items()}
        self.models: dict[str, dict] = {}

    async def timed(self, kind: str, model: str, method: str, path: str, **kw) -> httpx.Response | None:
        t = time.perf_counter()
        try:
            r = await self.http.request(method, path, **kw)
            ok, note = 200 <= r.status_code < 300, r.status_code
            if ok and r.headers.get("content-type", "").startswith("application/json"):
                r.json()
        except Exception as e:  # a timeout, a reset, a body that is not JSON
            r, ok, note = None, False, f"{type(e).__name__}: {str(e)[:80]}"
        self.log.append((t, time.perf_counter() - t, kind, model, ok, note))
        return r if ok else None

    async def open(self, model: str) -> bool:
        """What the page asks when a model is chosen and its map shown."""
        info = await self.timed("open", model, "GET", f"api/model?model={model}")
        plane = await self.timed("open", model, "GET", f"api/map?model={model}")
        if info is None or plane is None:
            return False
        info, plane = info.json(), plane.json()
        self.models[model] = {
            "classes": info["classes"],
            "dims": len(info["traversal_dims"]),
            "x": (min(plane["x"]), max(plane["x"])),
            "y": (min(plane["y"]), max(plane["y"])),
        }
        return True

    async def step(self) -> None:
        rng = self.rng
        m = rng.choice(list(self.models))
        got = self.models[m]
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "traversal":
            offsets = [round(rng.uniform(-3, 3), 1) if rng.random() < 0.3 else 0.0 for _ in range(got["dims"])]
            doc = {"model": m, "source": {"kind": "dataset", "ref": f"test/{rng.randrange(20)}"}, "offsets": offsets}
            await self.timed(kind, m, "POST", "api/traversal", json=doc)
        elif kind == "blend":
            weights = {n: round(rng.uniform(0.05, 1), 2) for n in rng.sample(got["classes"], rng.choice((2, 3)))}
            await self.timed(kind, m, "POST", "api/blend", json={"model": m, "weights": weights, "mean": "euclidean"})
        elif kind == "map":
            x, y = rng.uniform(*got["x"]), rng.uniform(*got["y"])
            await self.timed(kind, m, "POST", "api/map/decode", json={"model": m, "x": x, "y": y})
        elif kind == "arithmetic":  # the page's first example: A − B + C of the first three classes
            terms = [
                {"sign": s, "source": {"kind": "class", "name": got["classes"][k]}} for k, s in enumerate((1, -1, 1))
            ]
            doc = {"model": m, "terms": terms, "strength": round(rng.uniform(0, 2), 2)}
            await self.timed(kind, m, "POST", "api/arithmetic", json=doc)
        else:
            ids = []
            for name, data in self.files[m]:
                headers = {"content-type": "image/png", "x-filename": name}
                r = await self.timed("upload", m, "POST", "api/upload", content=data, headers=headers)
                if r is None:
                    return
                ids.append(r.json()["id"])
            doc = {"model": m, "inputs": [{"kind": "upload", "id": i} for i in ids], "method": "slerp", "frames": 24}
            await self.timed("morph", m, "POST", "api/morph", json=doc)


async def drive(url: str, clients: int, seconds: float, pngs: dict[str, list[Path]], seed: int) -> tuple[list, float]:
    """Run ``clients`` clients for ``seconds``; every request's (start, seconds, kind, model, ok, note) and the
    wall time from the first request to the last answer."""
    log: list = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)  # one connection per page, as a browser
    t0 = time.perf_counter()
    end = t0 + seconds

    async def person(k: int) -> None:
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
            c = Client(http, pngs, random.Random(seed * 1000 + k), log)
            for model in MODELS[k % 2 :] + MODELS[: k % 2]:  # half the clients open emoji first
                if not await c.open(model):
                    return
            while time.perf_counter() < end:
                await c.step()

    await asyncio.gather(*(person(k) for k in range(clients)))
    return log, time.perf_counter() - t0


class External:
    """A server started elsewhere (e.g. uvicorn --workers 2): its URL and the pid whose process tree is measured."""

    def __init__(self, url: str, pid: int):
        self.url, self.pid = url.rstrip("/") + "/", pid

    def stderr(self) -> str:
        return ""

    def stop(self) -> None:
        pass


def run(tmp: Path, clients: int, seconds: float, pngs: dict[str, list[Path]], seed: int, external=None) -> dict:
    """One fresh server (or ``external``), ``clients`` clients for ``seconds``: the request log, the server's RSS
    and CPU."""
    studio = external or Studio(tmp)
    try:
        sampler = RSSSampler(studio.pid)
        sampler.start()
        cpu0, client_cpu0 = cpu_seconds(studio.pid), time.process_time()
        log, wall = asyncio.run(drive(studio.url, clients, seconds, pngs, seed))
        cpu, client_cpu = cpu_seconds(studio.pid) - cpu0, time.process_time() - client_cpu0
        sampler.stop()
        hwm = sum(_status_kb(p, "VmHWM") for p in _tree(studio.pid))  # a sum of peaks when there are workers
        end_rss = sum(_status_kb(p, "VmRSS") for p in _tree(studio.pid))
        server_log = studio.stderr()
    finally:
        studio.stop()
    t0 = min(t for t, *_ in log) if log else 0.0
    return {
        "clients": clients,
        "seconds": seconds,
        "wall_s": wall,
        "requests": [
            (round(t - t0, 4), round(s * 1000, 2), kind, model, ok, str(note)) for t, s, kind, model, ok, note in log
        ],
        "server_cpu_s": cpu,
        "client_cpu_s": client_cpu,
        "peak_rss_mb": sampler.peak_kb / 1024,
        "hwm_mb": hwm / 1024,
        "end_rss_mb": end_rss / 1024,
        "rss_series": sampler.series[:: max(1, len(sampler.series) // 200)],
        "server_log": server_log[-4000:],
    }


def memory_steps(tmp: Path) -> list[tuple[str, float, float]]:
    """A fresh studio's RSS and VmHWM (MB) as models are opened: when it prints its URL (nothing opened yet; the
    studio then opens its default model, fashion-mnist, by itself), after GET /api/map of each model, and after
    the requests the page sends when a model is chosen (its first arithmetic, blend, traversal and morph)."""

    def mb(pid: int) -> tuple[float, float]:
        return _status_kb(pid, "VmRSS") / 1024, _status_kb(pid, "VmHWM") / 1024

    studio = Studio(tmp)
    steps = [("URL printed: no model opened", *mb(studio.pid))]
    try:
        with httpx.Client(base_url=studio.url, timeout=120) as http:
            for m in MODELS:
                http.get(f"api/map?model={m}").raise_for_status()
                steps.append((f"+ GET /api/map?model={m}", *mb(studio.pid)))
            for m in MODELS:
                classes = http.get(f"api/model?model={m}").json()["classes"]
                dims = len(http.get(f"api/model?model={m}").json()["traversal_dims"])
                first = [{"kind": "dataset", "ref": f"test/{k}"} for k in (0, 1)]
                terms = [{"sign": s, "source": {"kind": "class", "name": classes[k]}} for k, s in enumerate((1, -1, 1))]
                for path, doc in (
                    ("api/arithmetic", {"model": m, "terms": terms, "strength": 1.0}),
                    ("api/blend", {"model": m, "weights": {classes[0]: 1.0, classes[1]: 1.0}}),
                    ("api/traversal", {"model": m, "source": first[0], "offsets": [0.0] * dims}),
                    ("api/morph", {"model": m, "inputs": first, "frames": 24}),
                ):
                    http.post(path, json=doc).raise_for_status()
                steps.append((f"+ the page's first requests on {m}", *mb(studio.pid)))
    finally:
        studio.stop()
    return steps


# --- the report ----------------------------------------------------------------------------------------------------
def summarise(r: dict, after_s: float = 0.0) -> dict:
    """Per kind (and model): n, errors, p50/p95/p99 ms; throughput; requests from ``after_s`` seconds on only."""
    rows = [q for q in r["requests"] if q[0] >= after_s]
    out = {}
    groups: dict[tuple, list] = {}
    for _, ms, kind, model, ok, note in rows:
        groups.setdefault((kind, model), []).append((ms, ok, note))
        groups.setdefault((kind, "both"), []).append((ms, ok, note))
        groups.setdefault(("all", "both"), []).append((ms, ok, note))
    for key, items in groups.items():
        ms = [m for m, ok, _ in items if ok]
        errors = [note for _, ok, note in items if not ok]
        out[key] = {
            "n": len(items),
            "errors": len(errors),
            "error_kinds": sorted(set(errors))[:5],
            "p50": percentile(ms, 50),
            "p95": percentile(ms, 95),
            "p99": percentile(ms, 99),
        }
    return out


def report(base: dict, load: dict) -> None:
    b, l = summarise(base), summarise(load)
    print(
        f"\n{'kind':12s} {'model':14s} | {'1 client: n':>11s} {'p50':>6s} {'p95':>6s} | "
        f"{load['clients']} clients: {'n':>5s} {'err':>4s} {'p50':>6s} {'p95':>6s} {'p99':>6s} | p95 ratio"
    )
    kinds = ["traversal", "blend", "map", "arithmetic", "upload", "morph", "open", "all"]
    for kind in kinds:
        for model in (*MODELS, "both"):
            if (kind, model) not in l or (kind == "all" and model != "both"):
                continue
            x, y = b.get((kind, model), {}), l[(kind, model)]
            bp95 = x.get("p95", float("nan"))
            print(
                f"{kind:12s} {model:14s} | {x.get('n', 0):11d} {x.get('p50', float('nan')):6.1f} {bp95:6.1f} | "
                f"{'':{len(str(load['clients'])) + 9}s}{y['n']:5d} {y['errors']:4d} {y['p50']:6.1f} {y['p95']:6.1f} "
                f"{y['p99']:6.1f} | {y['p95'] / bp95:8.1f}"
            )
            if y["errors"]:
                print(f"    errors: {y['error_kinds']}")
    for name, r, s in (("1 client", base, b), (f"{load['clients']} clients", load, l)):
        n = s[("all", "both")]["n"]
        rps = n / r["wall_s"]
        print(
            f"{name}: {n} requests in {r['wall_s']:.1f} s = {rps:.0f} req/s ({rps / CORES:.0f} per core of {CORES}); "
            f"server CPU {r['server_cpu_s']:.1f} s ({r['server_cpu_s'] / r['wall_s']:.2f} cores busy, "
            f"{n / max(r['server_cpu_s'], 1e-9):.0f} req per server CPU-second); load generator CPU "
            f"{r['client_cpu_s']:.1f} s; server RSS peak {r['peak_rss_mb']:.0f} MB (VmHWM {r['hwm_mb']:.0f} MB), "
            f"at the end {r['end_rss_mb']:.0f} MB"
        )
    steady = summarise(load, after_s=5.0)[("all", "both")]
    print(f"{load['clients']} clients from the 5th second on: p50 {steady['p50']:.1f} ms, p95 {steady['p95']:.1f} ms")
    rps_base = b[("all", "both")]["n"] / base["wall_s"]
    rps_load = l[("all", "both")]["n"] / load["wall_s"]
    total = l[("all", "both")]
    peak = max(load["peak_rss_mb"], load["hwm_mb"])
    fast = total["p95"] <= TARGET_P95_MS and not total["errors"]
    print(
        f"headline: {load['clients']} clients × {load['seconds']:g} s: {total['errors']} errors; "
        f"p95 {total['p95']:.0f} ms (target ≤ {TARGET_P95_MS:g}: {'met' if fast else 'MISSED'}); "
        f"{rps_load:.0f} req/s = {rps_load / CORES:.0f} per core, x{rps_load / rps_base:.2f} of one client's "
        f"{rps_base:.0f} req/s; server RSS peak {peak:.0f} MB "
        f"(target < {TARGET_RSS_MB:g}: {'met' if peak < TARGET_RSS_MB else 'MISSED'})"
    )
    for r in (base, load):
        if r["server_log"].strip():
            print(f"server log ({r['clients']} clients):\n{r['server_log'][-1500:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--baseline-seconds", type=float, default=15, help="the one-client run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--memory", action="store_true", help="first, a fresh studio's RSS as each model is opened")
    ap.add_argument("--url", help="load a server started elsewhere (e.g. uvicorn --workers 2) in place of a fresh one")
    ap.add_argument("--pid", type=int, help="with --url: the pid whose process tree's RSS and CPU are measured")
    ap.add_argument("--json", type=Path, help="save every figure (and every request) here")
    args = ap.parse_args()
    if args.url and not args.pid:
        ap.error("--url needs --pid")
    before = {"load": load_average(), "busy": busy_processes()}
    print(f"before: load average {before['load']}; other busy processes: {before['busy'] or 'none'}")
    external = External(args.url, args.pid) if args.url else None
    watch = CoreWatch()
    watch.start()
    with tempfile.TemporaryDirectory(prefix="studio-load-") as tmp:
        tmp = Path(tmp)
        memory = memory_steps(tmp) if args.memory else []
        pngs = {m: sample_pngs(m, tmp) for m in MODELS}  # the shipped models' data sets share their names
        base = run(tmp, 1, args.baseline_seconds, pngs, args.seed, external)
        load = run(tmp, args.clients, args.seconds, pngs, args.seed, external)
    shared = watch.stop()
    after = {"load": load_average(), "busy": busy_processes(), "during": list(watch.seen.values())}
    if memory:
        print("\nmemory of a fresh `vaelab studio` (MB)      VmRSS  VmHWM")
        for step, rss, hwm in memory:
            print(f"  {step:64s} {rss:6.0f} {hwm:6.0f}")
    report(base, load)
    print(shared)
    print(f"after: load average {after['load']}; other busy processes: {after['busy'] or 'none'}")
    if args.json:
        doc = {"baseline": base, "load": load, "memory": memory, "before": before, "after": after, "cores": CORES}
        args.json.write_text(json.dumps({**doc, "mix": MIX, "url": args.url}))


if __name__ == "__main__":
    main()
