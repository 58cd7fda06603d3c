"""Side by side with peers: one epoch of the same reference model on the same data, in one process, by
(a) a hand-written plain PyTorch loop, (b) vaelab's trainer and (c) pythae 0.1.2's TrainingPipeline; and, with
--quality, the training time each of vaelab and pythae takes to reach a test -ELBO.

Run: .venv/bin/pip install -c constraints.txt '.[bench]'   # pythae, an optional benchmark extra
     .venv/bin/python benchmarks/peers.py [--reps 1] [--limit N]
     .venv/bin/python benchmarks/peers.py --quality [--budget-minutes 12] [--levels 250,245] [--limit N]

Prints img/s of each (the batch loop, and the whole call including evaluation and saving), the ratios b/a
and b/c, and the test -ELBO of each after its epoch. All three train the reference model of
BENCHMARKS.md (Conv 1→32→64→128, latent 32, Bernoulli likelihood) with Adam at lr 1e-3 and batch 128 on the
60k Fashion-MNIST training images. pythae's pitfalls are handled: its "bce" loss expects probabilities, so
its decoder ends in a sigmoid, and its defaults (lr 1e-4, batch 64) are overridden to match.

--quality: time to quality, what a user meets. vaelab's trainer and pythae's TrainingPipeline each train the
reference model from the same initial weights, (1) with each tool's own defaults (vaelab: TrainConfig's, which
`vaelab train` takes on Fashion-MNIST, lr 1e-3 and batch 128; pythae: BaseTrainerConfig's, lr 1e-4 and batch 64)
and (2) with matched settings (both lr 1e-3, batch 128), one run at a time in this one process. After every
epoch the test -ELBO of the 10k test images is scored by vaelab.training.evaluation.evaluate_elbo (seed 0) on the
weights in vaelab's ConvVAE (pythae trains those very modules; vaelab's trainer scores its epochs with this same
call, which the run checks at its end). The clock is the training clock: the sum of the epochs' batch loops,
from the first batch to the last step; scoring, pythae's eval loop, vaelab's saving and pictures are excluded
from it (the wall clock of the whole run, which includes them, is printed beside it). A run stops once every
level is reached, or once its training clock has passed --budget-minutes; a level reached after the budget
counts as not reached. Times have an epoch's granularity: each is the training clock at the end of the first
epoch whose score is at or below the level.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vaelab  # noqa: E402
from train_throughput import PlainVAE, plain_loop  # noqa: E402  (the plain loop of the throughput benchmark, reused as is)
from vaelab.models.config import ModelConfig  # noqa: E402
from vaelab.models.registry import build_model  # noqa: E402
from vaelab.training import loop as vaelab_loop  # noqa: E402
from vaelab.training.config import TrainConfig  # noqa: E402
from vaelab.training.evaluation import evaluate_elbo  # noqa: E402
from vaelab.training.vae import train  # noqa: E402

LR, BATCH = 1e-3, 128
LEVELS = (250.0, 245.0)  # nats of test -ELBO, the time-to-quality levels
TOOLS, SETTINGS = ("vaelab", "pythae"), ("defaults", "matched")
DEFAULTS_GOAL = 3.0  # vaelab's defaults should reach each level at least this many times sooner than pythae's


def as_vaelab_model(plain: PlainVAE):
    """The plain model's weights in vaelab's ConvVAE, so that all three are scored by the same -ELBO code.
    The two nets have the same layers in the same order; only the names differ."""
    model = build_model(ModelConfig())
    ours = model.state_dict()
    theirs = list(plain.state_dict().values())
    assert [v.shape for v in ours.values()] == [v.shape for v in theirs]
    model.load_state_dict(dict(zip(ours, theirs)))
    return model.eval()


def run_plain(train_images: torch.Tensor) -> tuple[dict, object]:
    torch.manual_seed(0)
    model = PlainVAE()
    t = time.perf_counter()
    loop_ips = plain_loop(train_images, bs=BATCH, model=model)
    wall = time.perf_counter() - t
    return {"loop": loop_ips, "wall": len(train_images) / wall}, as_vaelab_model(model)


def run_vaelab(ds, out: Path) -> tuple[dict, object]:
    t = time.perf_counter()
    model = train(ModelConfig(), ds, out, TrainConfig(epochs=1, batch_size=BATCH, lr=LR), progress=True)
    wall = time.perf_counter() - t
    rec = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"loop": rec[-1]["img_per_s"], "wall": len(ds.train_idx) / wall}, model


def pythae_reference_vae():
    """pythae's VAE around the reference model's own modules, seeded as vaelab's trainer seeds its model (so that
    both start from the same weights): (the pythae VAE, the vaelab ConvVAE whose modules it trains)."""
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    logging.getLogger("pythae").setLevel(logging.WARNING)
    torch.manual_seed(0)
    ref = build_model(ModelConfig())  # pythae trains these very modules, so vaelab's -ELBO code can score them

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.encoder, self.to_stats = ref.encoder, ref.to_stats

        def forward(self, x):
            mu, logvar = self.to_stats(self.encoder(x)).chunk(2, dim=1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.from_latent, self.decoder = ref.from_latent, ref.decoder

        def forward(self, z):
            # pythae's "bce" is F.binary_cross_entropy on probabilities, not on logits
            return ModelOutput(reconstruction=torch.sigmoid(self.decoder(self.from_latent(z))))

    vae = VAE(
        VAEConfig(input_dim=(1, 28, 28), latent_dim=32, reconstruction_loss="bce"), encoder=Encoder(), decoder=Decoder()
    )
    return vae, ref


def run_pythae(train_x: torch.Tensor, test_x: torch.Tensor, out: Path) -> tuple[dict, object]:
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    vae, ref = pythae_reference_vae()

    class LoopTimer(TrainingCallback):
        """From the start of the epoch's batch loop to the end of its last step."""

        def on_train_step_begin(self, training_config, **kwargs):
            self.start = time.perf_counter()

        def on_train_step_end(self, training_config, **kwargs):
            self.end = time.perf_counter()

    cfg = BaseTrainerConfig(
        output_dir=str(out),
        num_epochs=1,
        learning_rate=LR,
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=BATCH,
        no_cuda=not torch.cuda.is_available(),
        seed=0,
    )
    timer = LoopTimer()
    t = time.perf_counter()
    TrainingPipeline(model=vae, training_config=cfg)(train_data=train_x, eval_data=test_x, callbacks=[timer])
    wall = time.perf_counter() - t
    return {"loop": len(train_x) / (timer.end - timer.start), "wall": len(train_x) / wall}, ref.eval()


# --- time to quality (--quality) ----------------------------------------------------------------------------------


def settings_of(tool: str, setting: str) -> dict:
    """The learning rate and batch size a tool trains with: its own defaults, or the matched LR and BATCH."""
    if setting == "matched":
        return {"lr": LR, "batch": BATCH}
    if tool == "vaelab":  # `vaelab train` on Fashion-MNIST: TrainConfig's own (recipe.GREY_RECIPE sets nothing)
        cfg = TrainConfig()
        return {"lr": cfg.lr, "batch": cfg.batch_size}
    from pythae.trainers import BaseTrainerConfig

    cfg = BaseTrainerConfig()
    return {"lr": cfg.learning_rate, "batch": cfg.per_device_train_batch_size}


class CpuShare:
    """How busy the machine's cores were with other processes over an interval: the busy time of all cores
    (/proc/stat) less this process's own CPU time, per second of wall clock (in cores). None off Linux."""

    def __init__(self):
        self.start = self._now()

    @staticmethod
    def _now():
        try:
            with open("/proc/stat") as f:
                ticks = [int(v) for v in f.readline().split()[1:]]
        except OSError:
            return None
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait
        own = os.times()
        return busy, own.user + own.system, time.perf_counter()

    def others(self) -> float | None:
        end = self._now()
        if self.start is None or end is None:
            return None
        busy, own, wall = (e - s for e, s in zip(end, self.start))
        return max(0.0, busy - own) / wall if wall > 0 else None


class QualityClock:
    """One run's record: the training clock and the test -ELBO after each epoch, when each level was first
    reached, and whether the run should stop."""

    def __init__(self, levels, budget_s: float, max_epochs: int | None):
        self.levels = sorted(levels, reverse=True)
        self.budget_s, self.max_epochs = budget_s, max_epochs
        self.epochs: list[dict] = []
        self.reached: dict[str, dict | None] = {level_key(lv): None for lv in self.levels}
        self.train_s, self.stopped = 0.0, None
        self.t0, self.cpu = time.perf_counter(), CpuShare()

    def epoch_done(self, seconds: float, neg_elbo: float) -> bool:
        """Record an epoch whose batch loop took ``seconds`` and whose test -ELBO is ``neg_elbo``; True when the run
        should stop here."""
        self.train_s += seconds
        rec = {
            "epoch": len(self.epochs) + 1,
            "train_s": round(self.train_s, 3),
            "wall_s": round(time.perf_counter() - self.t0, 3),
            "neg_elbo": round(neg_elbo, 4),
        }
        self.epochs.append(rec)
        print(
            f"    epoch {rec['epoch']}: test -ELBO {neg_elbo:.2f}  training {rec['train_s']:.1f} s, "
            f"wall {rec['wall_s']:.1f} s",
            flush=True,
        )
        for lv in self.levels:
            key = level_key(lv)
            if self.reached[key] is None and neg_elbo <= lv and self.train_s <= self.budget_s:
                self.reached[key] = {k: rec[k] for k in ("epoch", "train_s", "wall_s")}
        if all(self.reached.values()):
            self.stopped = "every level reached"
        elif self.train_s >= self.budget_s:
            self.stopped = "budget"
        elif self.max_epochs and len(self.epochs) >= self.max_epochs:
            self.stopped = "max epochs"
        return self.stopped is not None

    def result(self, **extra) -> dict:
        best = min(self.epochs, key=lambda r: r["neg_elbo"]) if self.epochs else None
        others = self.cpu.others()
        return {
            **extra,
            "levels": self.reached,
            "epochs": self.epochs,
            "best": best,
            "stopped": self.stopped,
            "train_s": round(self.train_s, 3),
            "wall_s": round(time.perf_counter() - self.t0, 3),
            "others_cores": None if others is None else round(others, 2),
            "loadavg_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        }


def level_key(level: float) -> str:
    return f"{level:g}"


def quality_vaelab(ds, test_u8, out: Path, lr: float, batch: int, clock: QualityClock) -> dict:
    """vaelab's trainer, as `vaelab train` runs it on Fashion-MNIST at this lr and batch, until the clock stops it.
    Its own end-of-epoch record holds the epoch's batch-loop seconds and its test -ELBO, scored by evaluate_elbo
    (seed 0); the run ends as a --minutes budget ends one, by setting its last epoch to the current one."""
    # epochs: only the bound of the loop (the learning rate is constant); pictures every epoch, as a run of 10 draws
    cfg = TrainConfig(epochs=clock.max_epochs or 100_000, lr=lr, batch_size=batch, picture_every=1)
    end_epoch = vaelab_loop.end_epoch

    def scored_epoch(kind, run, seconds, train_values):
        stop = end_epoch(kind, run, seconds, train_values)
        record = run.records[-1]
        if clock.epoch_done(record["epoch_seconds"], record["test_neg_elbo"]):
            cfg.epochs = run.epoch
        return stop

    with mock.patch.object(vaelab_loop, "end_epoch", scored_epoch):
        model = train(ModelConfig(), ds, out, cfg, progress=True)
    rescored = evaluate_elbo(model, test_u8, seed=0)["neg_elbo"]
    if clock.epochs and abs(rescored - clock.epochs[-1]["neg_elbo"]) > 1e-3:
        raise RuntimeError(f"vaelab's epoch score {clock.epochs[-1]['neg_elbo']} is not evaluate_elbo's {rescored}")
    return clock.result(rescored=round(rescored, 4))


class _Stop(Exception):
    """Raised from a pythae callback to end its training, which has no other way out."""


def quality_pythae(train_x, test_x, test_u8, out: Path, lr: float, batch: int, clock: QualityClock) -> dict:
    """pythae's TrainingPipeline at this lr and batch (its other settings its defaults; eval data given, as its
    examples do), until the clock stops it."""
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    vae, ref = pythae_reference_vae()

    class Scorer(TrainingCallback):
        """Times each epoch's batch loop (its start to the end of its last step), and after the epoch (its eval
        loop and its progress bars closed) scores the weights with vaelab's evaluate_elbo."""

        def on_train_step_begin(self, training_config, **kwargs):
            self.start = time.perf_counter()

        def on_train_step_end(self, training_config, **kwargs):
            self.end = time.perf_counter()

        def on_log(self, training_config, logs, **kwargs):
            if clock.epoch_done(self.end - self.start, evaluate_elbo(ref, test_u8, seed=0)["neg_elbo"]):
                raise _Stop

    cfg = BaseTrainerConfig(
        output_dir=str(out),
        num_epochs=clock.max_epochs or 100_000,
        learning_rate=lr,
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=batch,
        no_cuda=not torch.cuda.is_available(),
        seed=0,
    )
    try:
        TrainingPipeline(model=vae, training_config=cfg)(train_data=train_x, eval_data=test_x, callbacks=[Scorer()])
    except _Stop:
        pass
    return clock.result()


def time_to_quality(
    ds,
    out: Path,
    tools=TOOLS,
    settings=SETTINGS,
    levels=LEVELS,
    budget_s: float = 12 * 60,
    max_epochs: int | None = None,
) -> list[dict]:
    """Each (setting, tool) run in turn, one at a time in this process; the tools' order alternates from one
    setting to the next, so that a drift in the machine's load does not always favour the same tool."""
    train_u8 = torch.from_numpy(ds.images[ds.split("train")])
    test_u8 = ds.images[ds.split("test")]
    train_f, test_f = train_u8.float() / 255, torch.from_numpy(test_u8).float() / 255
    runs = []
    for i, setting in enumerate(settings):
        for tool in tools if i % 2 == 0 else tools[::-1]:
            s = settings_of(tool, setting)
            print(f"  {setting}, {tool}: lr {s['lr']:g}, batch {s['batch']}", flush=True)
            clock = QualityClock(levels, budget_s, max_epochs)
            where = out / f"{setting}-{tool}"
            info = dict(setting=setting, tool=tool, **s, budget_s=budget_s, loadavg_start=list(os.getloadavg()))
            if tool == "vaelab":
                res = quality_vaelab(ds, test_u8, where, s["lr"], s["batch"], clock)
            else:
                res = quality_pythae(train_f, test_f, test_u8, where, s["lr"], s["batch"], clock)
            runs.append({**info, **res})
    return runs


def ratio(slow: dict | None, fast: dict | None, budget_s: float) -> tuple[float | None, str]:
    """slow/fast of two levels' times: (ratio or its bound, how to read it) — '>' where only ``fast`` was reached
    (``slow`` took longer than the budget), '<' where only ``slow`` was."""
    if fast and slow:
        return slow["train_s"] / fast["train_s"], "="
    if fast:
        return budget_s / fast["train_s"], ">"
    if slow:
        return slow["train_s"] / budget_s, "<"
    return None, "neither reached"


def goals(runs: list[dict], levels) -> list[str]:
    """The issue's goals, one line each: vaelab's defaults at least DEFAULTS_GOAL× sooner than pythae's, and vaelab
    no later than pythae with matched settings."""
    by = {(r["setting"], r["tool"]): r for r in runs}
    lines = []
    for lv in sorted(levels, reverse=True):
        key = level_key(lv)
        if ("defaults", "vaelab") in by and ("defaults", "pythae") in by:
            v, p = by["defaults", "vaelab"], by["defaults", "pythae"]
            r, how = ratio(p["levels"][key], v["levels"][key], v["budget_s"])
            met = r is not None and how in ("=", ">") and r >= DEFAULTS_GOAL
            shown = "neither reached it" if r is None else f"pythae/vaelab {'' if how == '=' else how + ' '}{r:.2f}"
            lines.append(f"≤ {key}, own defaults: {shown} (goal ≥ {DEFAULTS_GOAL:g}: {'met' if met else 'NOT met'})")
        if ("matched", "vaelab") in by and ("matched", "pythae") in by:
            v, p = by["matched", "vaelab"]["levels"][key], by["matched", "pythae"]["levels"][key]
            met = bool(v) and (not p or v["train_s"] <= p["train_s"])
            r, how = ratio(p, v, by["matched", "vaelab"]["budget_s"])
            shown = "neither reached it" if r is None else f"pythae/vaelab {'' if how == '=' else how + ' '}{r:.2f}"
            lines.append(f"≤ {key}, matched: {shown} (goal: vaelab no later: {'met' if met else 'NOT met'})")
    return lines


def print_quality(runs: list[dict], levels) -> None:
    keys = [level_key(lv) for lv in sorted(levels, reverse=True)]
    budget_min = runs[0]["budget_s"] / 60 if runs else 0
    print(
        f"\ntraining seconds to test -ELBO ≤ each level (epoch); runs stop at {budget_min:g} min of training; "
        "wall: the whole run, scoring and saving included"
    )
    head = f"{'setting':9s} {'tool':7s} {'lr':>7s} {'batch':>5s} " + " ".join(f"{'≤ ' + k:>16s}" for k in keys)
    print(head + f" {'best -ELBO (epoch)':>19s} {'train s':>8s} {'wall s':>7s} {'others, cores':>13s}  stopped")
    for r in runs:
        cells = []
        for k in keys:
            hit = r["levels"][k]
            cells.append(f"{hit['train_s']:.1f} s ({hit['epoch']})" if hit else f"not in {budget_min:g} min")
        best = f"{r['best']['neg_elbo']:.2f} ({r['best']['epoch']})" if r["best"] else "-"
        others = "-" if r["others_cores"] is None else f"{r['others_cores']:.2f}"
        print(
            f"{r['setting']:9s} {r['tool']:7s} {r['lr']:7g} {r['batch']:5d} "
            + " ".join(f"{c:>16s}" for c in cells)
            + f" {best:>19s} {r['train_s']:8.1f} {r['wall_s']:7.1f} {others:>13s}  {r['stopped']}"
        )
    for line in goals(runs, levels):
        print(line)


def main_quality(args, pythae) -> None:
    tools = tuple(t for t in args.tools.split(",") if t)
    if "pythae" in tools and pythae is None:
        tools = tuple(t for t in tools if t != "pythae")
    levels = tuple(float(v) for v in args.levels.split(","))
    ds = vaelab.load_dataset("fashion-mnist")
    if args.limit:
        ds.limit_train(args.limit)
    print(
        f"time to quality: {len(ds.split('train'))} training images, levels {', '.join(map(level_key, levels))} nats, "
        f"budget {args.budget_minutes:g} min of training a run; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads" + (f"; pythae {importlib.metadata.version('pythae')}" if pythae else ""),
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        runs = time_to_quality(
            ds,
            Path(tmp),
            tools=tools,
            settings=tuple(s for s in args.settings.split(",") if s),
            levels=levels,
            budget_s=args.budget_minutes * 60,
            max_epochs=args.max_epochs,
        )
    print_quality(runs, levels)
    if args.json:
        doc = {
            "levels": list(levels),
            "budget_minutes": args.budget_minutes,
            "train_images": len(ds.split("train")),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "pythae": importlib.metadata.version("pythae") if pythae else None,
            "runs": runs,
            "goals": goals(runs, levels),
        }
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1, help="interleaved repetitions (median reported)")
    ap.add_argument(
        "--limit",
        type=int,
        help="train on the first N training images only: shorter runs, so that "
        "more interleaved repetitions fit on a noisy machine",
    )
    q = ap.add_argument_group("time to quality")
    q.add_argument("--quality", action="store_true", help="measure the training time to each test -ELBO level instead")
    q.add_argument("--budget-minutes", type=float, default=12.0, help="of training clock a run (default 12)")
    q.add_argument("--levels", default=",".join(map(level_key, LEVELS)), help="test -ELBO levels in nats")
    q.add_argument("--max-epochs", type=int, help="stop a run after this many epochs too (default: the budget only)")
    q.add_argument("--tools", default=",".join(TOOLS), help="vaelab,pythae (default both)")
    q.add_argument("--settings", default=",".join(SETTINGS), help="defaults,matched (default both)")
    q.add_argument("--threads", type=int, help="torch threads, the same for every run (default: torch's)")
    q.add_argument("--json", help="also write the runs, epoch by epoch, to this JSON file")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        import pythae
    except ImportError:
        pythae = None
        print(
            "pythae is not installed (pip install -c constraints.txt '.[bench]'); measuring "
            + ("vaelab only" if args.quality else "(a) and (b) only")
        )
    if args.quality:
        return main_quality(args, pythae)

    ds = vaelab.load_dataset("fashion-mnist")
    if args.limit:
        ds.limit_train(args.limit)
    train_u8 = torch.from_numpy(ds.images[ds.split("train")])
    test_u8 = ds.images[ds.split("test")]
    train_f, test_f = train_u8.float() / 255, torch.from_numpy(test_u8).float() / 255
    print(
        f"{len(train_u8)} training images; torch {torch.__version__}, {torch.get_num_threads()} threads"
        + (f"; pythae {importlib.metadata.version('pythae')}" if pythae else "")
    )
    results: dict[str, list[dict]] = {"a": [], "b": [], "c": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.reps):  # interleaved, so that machine noise hits all three alike
            for key in ("a", "b", "c"):
                if key == "a":
                    res, model = run_plain(train_u8)
                elif key == "b":
                    res, model = run_vaelab(ds, Path(tmp) / f"vaelab{r}")
                elif pythae is not None:
                    res, model = run_pythae(train_f, test_f, Path(tmp) / f"pythae{r}")
                else:
                    continue
                res["neg_elbo"] = evaluate_elbo(model, test_u8, seed=0)["neg_elbo"]
                results[key].append(res)
                print(
                    f"  rep {r + 1} ({key}): batch loop {res['loop']:.0f} img/s, whole call {res['wall']:.0f} img/s, "
                    f"test -ELBO {res['neg_elbo']:.2f}",
                    flush=True,
                )

    names = {"a": "(a) plain PyTorch loop", "b": "(b) vaelab trainer", "c": "(c) pythae 0.1.2 TrainingPipeline"}
    med = {
        k: {m: statistics.median(x[m] for x in v) for m in ("loop", "wall", "neg_elbo")}
        for k, v in results.items()
        if v
    }
    print(f"\n{'':36s} {'loop img/s':>10s} {'whole img/s':>11s} {'test -ELBO':>10s}")
    for k, m in med.items():
        print(f"{names[k]:36s} {m['loop']:10.0f} {m['wall']:11.0f} {m['neg_elbo']:10.2f}")
    b = med["b"]
    print(f"b/a: {b['loop'] / med['a']['loop']:.2f} (batch loop), {b['wall'] / med['a']['wall']:.2f} (whole call)")
    if "c" in med:
        print(
            f"b/c: {b['loop'] / med['c']['loop']:.2f} (batch loop), {b['wall'] / med['c']['wall']:.2f} (whole call)"
            "   goal ≥ 1.3"
        )


if __name__ == "__main__":
    sys.exit(main())
