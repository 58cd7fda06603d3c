"""The density's covariance floor against the component count it leads the held-out score to choose: for each model
and floor, the held-out codes' log-likelihood of each count (the split `vaelab fit-density` uses), and the KID of
1000 decoded samples of each count's mixture refitted on every code, in the evaluator's features, against the test
images. The table is in docs/benchmarks/density-fit.md#how-many-components-2026-12-07.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/density_floor.py --data emoji emoji runs/beta05 runs/control198
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from vaelab.data.loaders import load_dataset
from vaelab.latent.density import MAX_CODES, as_mixture, fit_mixture, held_out_split, sample_mixture, subsample
from vaelab.metrics.realism import evaluator_features, kid, standardiser
from vaelab.models.classifier import default_evaluator_for
from vaelab.models.runtime import decode_batched, encode_batched, open_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model folders, or shipped models' names, all trained on --data")
    p.add_argument("--data", default="emoji")
    p.add_argument("--floors", default="1e-4,1e-2", help="reg_covar values, comma-separated")
    p.add_argument("--counts", default="10,25,50")
    args = p.parse_args()
    ds = load_dataset(args.data)
    test, train = ds.images[ds.split("test")], ds.images[ds.split("train")]
    evaluator = default_evaluator_for(args.data)
    real = evaluator_features(evaluator, test)
    scale = standardiser(real)
    real = scale(real)
    for name in args.models:
        m = open_model(name)
        codes = np.asarray(encode_batched(m, train[subsample(len(train), MAX_CODES, 0)], progress=False), np.float64)
        held, fit = held_out_split(codes)
        for floor in (float(f) for f in args.floors.split(",")):
            row = {}
            for count in (int(c) for c in args.counts.split(",")):
                every = as_mixture(fit_mixture(codes, count, reg_covar=floor))
                drawn = sample_mixture(every, 1000, seed=0).astype(np.float32)
                k = kid(real, scale(evaluator_features(evaluator, decode_batched(m, drawn))), seed=0)
                held_out = float(fit_mixture(fit, count, reg_covar=floor).score(held))
                row[count] = {"held_out": round(held_out, 2), "kid": round(k["kid"], 4)}
            chosen = max(row, key=lambda c: row[c]["held_out"])
            print(json.dumps({"model": name, "floor": floor, "chosen": chosen, "counts": row}), flush=True)


if __name__ == "__main__":
    main()
