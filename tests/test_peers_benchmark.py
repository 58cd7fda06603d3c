"""benchmarks/peers.py --quality, the time-to-quality comparison with pythae, on a tiny subset of Fashion-MNIST: the
record it writes, its times and levels, and that each run is scored by vaelab's evaluate_elbo. The vaelab side runs
without pythae (an optional benchmark extra that `make test` does not install); the two-tool run needs it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import fashion_mnist_available

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "benchmarks" / "peers.py"
LEVELS = (10000.0, 9000.0, 1.0)  # any first epoch scores below the first two; nothing reaches 1 nat
NEEDS_DATA = pytest.mark.skipif(
    not fashion_mnist_available(), reason="needs Debian's dataset-fashion-mnist (make test installs it)"
)


def run_quality(tmp_path: Path, tools: str, epochs: int = 2) -> tuple[dict, str]:
    """peers.py --quality on the first 300 training images, at most ``epochs`` epochs a run: (its JSON, its stdout)."""
    out = tmp_path / "quality.json"
    args = [sys.executable, str(PEERS), "--quality", "--tools", tools, "--limit", "300", "--max-epochs", str(epochs)]
    args += ["--budget-minutes", "5", "--levels", ",".join(f"{v:g}" for v in LEVELS), "--json", str(out)]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def check_run(run: dict, epochs: int) -> None:
    """One run's record: its epochs in order on a growing clock, each level's time the first epoch at or below it,
    and the levels reached in order (a higher level no later than a lower one)."""
    assert run["stopped"] == "max epochs" and len(run["epochs"]) == epochs
    assert [e["epoch"] for e in run["epochs"]] == list(range(1, epochs + 1))
    clock = [e["train_s"] for e in run["epochs"]]
    assert all(t > 0 for t in clock) and clock == sorted(clock) and run["train_s"] == clock[-1]
    assert all(e["wall_s"] >= e["train_s"] for e in run["epochs"])  # the wall clock adds scoring and saving
    assert all(math.isfinite(e["neg_elbo"]) and 0 < e["neg_elbo"] < 1000 for e in run["epochs"])
    assert run["best"] == min(run["epochs"], key=lambda e: e["neg_elbo"])
    assert set(run["levels"]) == {f"{v:g}" for v in LEVELS}
    for level, hit in run["levels"].items():
        first = next((e for e in run["epochs"] if e["neg_elbo"] <= float(level)), None)
        assert hit == (None if first is None else {k: first[k] for k in ("epoch", "train_s", "wall_s")})
    assert run["levels"]["10000"] is not None and run["levels"]["1"] is None
    reached = [run["levels"][f"{v:g}"] for v in LEVELS]  # from the highest level down
    for higher, lower in zip(reached, reached[1:]):
        if higher and lower:
            assert higher["train_s"] <= lower["train_s"]
        assert higher or not lower  # a lower level is never reached before a higher one is
    assert run["others_cores"] is None or run["others_cores"] >= 0


@pytest.mark.slow
@NEEDS_DATA
def test_quality_vaelab_side_without_pythae(tmp_path):
    doc, stdout = run_quality(tmp_path, "vaelab")
    assert doc["train_images"] == 300 and doc["levels"] == list(LEVELS) and doc["budget_minutes"] == 5
    runs = doc["runs"]
    assert [(r["setting"], r["tool"]) for r in runs] == [("defaults", "vaelab"), ("matched", "vaelab")]
    for run in runs:
        check_run(run, 2)
        assert (run["lr"], run["batch"]) == (1e-3, 128)  # TrainConfig's defaults are the matched settings
        # the trainer's own epoch score is evaluate_elbo's on the weights it returns
        assert run["rescored"] == pytest.approx(run["epochs"][-1]["neg_elbo"], abs=1e-3)
    # the same seed and settings train the same model: only the clock differs
    assert [e["neg_elbo"] for e in runs[0]["epochs"]] == [e["neg_elbo"] for e in runs[1]["epochs"]]
    assert "not in 5 min" in stdout and "training seconds to test -ELBO" in stdout


@pytest.mark.slow
@NEEDS_DATA
def test_quality_vaelab_against_pythae(tmp_path):
    pytest.importorskip(
        "pythae", reason="pythae is the optional benchmark extra: pip install -c constraints.txt '.[bench]'"
    )
    doc, stdout = run_quality(tmp_path, "vaelab,pythae")
    runs = {(r["setting"], r["tool"]): r for r in doc["runs"]}
    # one at a time, the order alternating from one setting to the next
    assert [(r["setting"], r["tool"]) for r in doc["runs"]] == [
        ("defaults", "vaelab"),
        ("defaults", "pythae"),
        ("matched", "pythae"),
        ("matched", "vaelab"),
    ]
    for run in runs.values():
        check_run(run, 2)
    assert (runs["defaults", "pythae"]["lr"], runs["defaults", "pythae"]["batch"]) == (1e-4, 64)  # pythae's own
    assert (runs["matched", "pythae"]["lr"], runs["matched", "pythae"]["batch"]) == (1e-3, 128)
    # matched, from the same initial weights, both train the same thing: their scores agree after each epoch
    for ours, theirs in zip(runs["matched", "vaelab"]["epochs"], runs["matched", "pythae"]["epochs"]):
        assert ours["neg_elbo"] == pytest.approx(theirs["neg_elbo"], abs=5)
    assert len(doc["goals"]) == 2 * len(LEVELS) and all("goal" in line for line in doc["goals"])
    assert "≤ 10000, own defaults: pythae/vaelab" in stdout
