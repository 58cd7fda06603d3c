"""The standard disentanglement metrics, each as disentanglement_lib shapes them: a pure function of
(representation function, ground-truth data, random state, sample sizes) that returns a dict.

- ``representation_fn``: observations (B, ...) → codes (B, D) as one array (numpy, or a torch tensor); codes
  of another shape (a tuple such as (mu, logvar), a transposed array) or with NaN or inf are an error, not
  reshaped into numbers;
- ``data``: any ground-truth data with ``factor_sizes``, ``sample_factors(n, rng)`` and
  ``images_from_factors(factors)`` (`vaelab.data.sprites.Sprites` is one, with uint8 (B, C, H, W) images); the
  metrics never look inside the observations, so tests can use the factors themselves as observations;
- ``rng``: a numpy Generator, an int seed or a RandomState; the same seed gives the same numbers.

A factor with a single value carries nothing to find: every metric leaves it out (MIG's mean, the fixed factor
of BetaVAE and FactorVAE, DCI's importances and informativeness, SAP's mean).

Default sizes are disentanglement_lib's (its `unsupervised_study_v1` settings); tests pass smaller ones.
The scores that are classifier accuracies (BetaVAE, FactorVAE, DCI informativeness) sit at chance, not 0, for
a useless representation, so those dicts carry ``chance`` too. Every randomised scikit-learn model gets a
seed drawn from ``rng`` (SAP's LinearSVC is deterministic).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score
from sklearn.svm import LinearSVC

from vaelab.errors import VaelabError
from vaelab.models.runtime import encode_batched
from vaelab.rng import as_generator

RepresentationFn = Callable[[np.ndarray], np.ndarray]


class GroundTruthData(Protocol):
    factor_sizes: tuple[int, ...]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def images_from_factors(self, factors: np.ndarray) -> np.ndarray: ...


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


def _codes(out, n: int) -> np.ndarray:
    """One call's output as float64 (n, D); anything that is not n rows of finite codes is an error."""
    if isinstance(out, (tuple, list)):
        raise VaelabError(
            f"the representation function returned a {type(out).__name__} of {len(out)}; it must "
            "return one array of codes (B, D), such as the posterior means"
        )
    if hasattr(out, "detach"):  # a torch tensor
        out = out.detach().cpu().numpy()
    codes = np.asarray(out, np.float64)
    if codes.ndim == 1:
        codes = codes[:, None]
    if codes.ndim != 2 or len(codes) != n:
        raise VaelabError(
            f"the representation function gave codes of shape {codes.shape} for {n} observations; it must give ({n}, D)"
        )
    if not np.isfinite(codes).all():
        raise VaelabError("the representation function gave NaN or infinite codes")
    return codes


def _represent(
    representation_fn: RepresentationFn, data: GroundTruthData, factors: np.ndarray, batch_size: int
) -> np.ndarray:
    """Codes (n, D) of the observations rendered from factors (n, K), ``batch_size`` at a time."""
    parts = [
        _codes(
            representation_fn(data.images_from_factors(factors[i : i + batch_size])), len(factors[i : i + batch_size])
        )
        for i in range(0, len(factors), batch_size)
    ]
    return np.concatenate(parts)


def _at_least(minimum: int, **sizes: int) -> None:
    for name, value in sizes.items():
        if value < minimum:
            raise VaelabError(f"{name} must be at least {minimum}, not {value}")


def varying_columns(factors: np.ndarray) -> np.ndarray:
    """(K,) bool: which factor columns of a sample (n, K) take more than one value."""
    return (factors != factors[:1]).any(axis=0)


def _varying(data: GroundTruthData) -> np.ndarray:
    """Indices of the factors with more than one value; an error when there are none."""
    live = np.flatnonzero(np.asarray(data.factor_sizes) > 1)
    if not len(live):
        raise VaelabError("no factor of this data has more than one value")
    return live


def sample_codes(
    representation_fn: RepresentationFn, data: GroundTruthData, n: int, rng: np.random.Generator, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """n random points: (codes (n, D), factors (n, K))."""
    factors = data.sample_factors(n, rng)
    return _represent(representation_fn, data, factors, batch_size), factors


# --- MIG ----------------------------------------------------------------------------------------------------
def discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Each column of codes (n, D) cut into ``num_bins`` equal-width bins over its own range → ints (n, D)."""
    out = np.zeros(codes.shape, np.int64)
    for i in range(codes.shape[1]):
        out[:, i] = np.digitize(codes[:, i], np.histogram(codes[:, i], num_bins)[1][:-1])
    return out


def mutual_information(codes_discrete: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """I(code_i; factor_j) in nats for discrete codes (n, D) and factors (n, K) → (D, K)."""
    return np.array(
        [
            [mutual_info_score(factors[:, j], codes_discrete[:, i]) for j in range(factors.shape[1])]
            for i in range(codes_discrete.shape[1])
        ]
    ).reshape(codes_discrete.shape[1], factors.shape[1])


def mig_from_codes(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict:
    """MIG of codes (n, D) against discrete factors (n, K): the mean over factors of the gap between the two
    codes most informative about it, divided by the factor's entropy. Factors that never vary are skipped, and
    their ``mig_per_factor`` entry is None (as in SAP)."""
    m = mutual_information(discretize(codes, num_bins), factors)
    entropy = np.array([mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])
    top = np.sort(m, axis=0)[::-1]
    second = top[1] if len(top) > 1 else np.zeros(factors.shape[1])
    varies = entropy > 0
    gaps = (top[0] - second) / np.where(varies, entropy, 1.0)
    return {
        "mig": float(np.mean(gaps[varies])) if varies.any() else 0.0,
        "mig_per_factor": [float(g) if v else None for g, v in zip(gaps, varies)],
        "mutual_information": m.tolist(),
        "factor_entropy": entropy.tolist(),
    }


def mig(
    representation_fn: RepresentationFn,
    data: GroundTruthData,
    rng: np.random.Generator,
    num_train: int = 10_000,
    num_bins: int = 20,
    batch_size: int = 64,
) -> dict:
    """Mutual Information Gap (Chen et al. 2018), on ``num_train`` random points, ``num_bins`` bins per code."""
    _at_least(2, num_train=num_train, num_bins=num_bins)
    codes, factors = sample_codes(representation_fn, data, num_train, as_generator(rng), batch_size)
    return mig_from_codes(codes, factors, num_bins)


# --- BetaVAE score --------------------------------------------------------------------------------------------
def _beta_vae_points(
    representation_fn, data, rng, batch_size: int, num_points: int, chunk: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Features mean|r1 − r2| over ``batch_size`` pairs that share one random factor, and that factor's index."""
    k, live = len(data.factor_sizes), _varying(data)
    features, labels = [], []
    for start in range(0, num_points, chunk):
        p = min(chunk, num_points - start)
        index = live[rng.integers(0, len(live), p)]
        f1 = data.sample_factors(p * batch_size, rng).reshape(p, batch_size, k)
        f2 = data.sample_factors(p * batch_size, rng).reshape(p, batch_size, k)
        f2[np.arange(p), :, index] = f1[np.arange(p), :, index]
        r = _represent(representation_fn, data, np.concatenate([f1, f2]).reshape(-1, k), 2 * p * batch_size)
        r1, r2 = r.reshape(2, p, batch_size, -1)
        features.append(np.abs(r1 - r2).mean(1))
        labels.append(index)
    return np.concatenate(features), np.concatenate(labels)


def beta_vae_score(
    representation_fn: RepresentationFn,
    data: GroundTruthData,
    rng: np.random.Generator,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
) -> dict:
    """BetaVAE score (Higgins et al. 2017): accuracy of a logistic regression that names the fixed factor from
    mean |r1 − r2| over a batch of pairs sharing that factor."""
    _at_least(2, num_train=num_train, num_eval=num_eval)
    _at_least(1, batch_size=batch_size)
    rng = as_generator(rng)
    x, y = _beta_vae_points(representation_fn, data, rng, batch_size, num_train)
    model = LogisticRegression(max_iter=1000, random_state=_seed(rng)).fit(x, y)
    x_eval, y_eval = _beta_vae_points(representation_fn, data, rng, batch_size, num_eval)
    return {
        "train_accuracy": float(model.score(x, y)),
        "eval_accuracy": float(model.score(x_eval, y_eval)),
        "chance": 1.0 / len(_varying(data)),
    }


# --- FactorVAE score ----------------------------------------------------------------------------------------
def _factor_vae_votes(
    representation_fn,
    data,
    rng,
    batch_size: int,
    num_points: int,
    global_var: np.ndarray,
    active: np.ndarray,
    chunk: int = 16,
) -> np.ndarray:
    """Votes (K, D): for each point, a batch with one factor fixed votes (that factor, the active code dim
    whose variance relative to its global variance is smallest)."""
    k, live = len(data.factor_sizes), _varying(data)
    dims = np.flatnonzero(active)
    votes = np.zeros((k, len(global_var)), np.int64)
    for start in range(0, num_points, chunk):
        p = min(chunk, num_points - start)
        index = live[rng.integers(0, len(live), p)]
        f = data.sample_factors(p * batch_size, rng).reshape(p, batch_size, k)
        f[np.arange(p), :, index] = f[np.arange(p), 0, index][:, None]
        r = _represent(representation_fn, data, f.reshape(-1, k), p * batch_size).reshape(p, batch_size, -1)
        local = r[:, :, dims].var(1, ddof=1) / global_var[dims]
        np.add.at(votes, (index, dims[local.argmin(1)]), 1)
    return votes


def factor_vae_score(
    representation_fn: RepresentationFn,
    data: GroundTruthData,
    rng: np.random.Generator,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    prune_threshold: float = 0.05,
) -> dict:
    """FactorVAE score (Kim & Mnih 2018): accuracy of the majority-vote classifier from the argmin of
    normalised variance to the fixed factor. Dims whose std is below ``prune_threshold`` (collapsed to the
    prior) take no part; with none left the score is 0."""
    _at_least(2, batch_size=batch_size, num_variance_estimate=num_variance_estimate)  # variances need two
    _at_least(1, num_train=num_train, num_eval=num_eval)
    rng = as_generator(rng)
    codes, _ = sample_codes(representation_fn, data, num_variance_estimate, rng, batch_size)
    global_var = codes.var(0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    chance = 1.0 / len(_varying(data))
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0, "chance": chance}
    votes = _factor_vae_votes(representation_fn, data, rng, batch_size, num_train, global_var, active)
    classifier = votes.argmax(0)  # each code dim predicts the factor it was most often the argmin for
    cols = np.arange(votes.shape[1])
    eval_votes = _factor_vae_votes(representation_fn, data, rng, batch_size, num_eval, global_var, active)
    return {
        "train_accuracy": float(votes[classifier, cols].sum() / votes.sum()),
        "eval_accuracy": float(eval_votes[classifier, cols].sum() / eval_votes.sum()),
        "num_active_dims": int(active.sum()),
        "chance": chance,
    }


# --- DCI ----------------------------------------------------------------------------------------------------
def importance_gbt(
    codes: np.ndarray, factors: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, float, float]:
    """Importance matrix (D, K) from one gradient-boosted tree classifier per factor, and their mean train and
    test accuracies. A factor with a single value is left out: its column stays 0, and it is not in the means."""
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    train_acc, test_acc, varies = [], [], varying_columns(factors)
    for j in range(factors.shape[1]):
        if not varies[j]:  # nothing to predict
            continue
        model = GradientBoostingClassifier(random_state=_seed(rng)).fit(codes, factors[:, j])
        importance[:, j] = np.abs(model.feature_importances_)
        train_acc.append(float(model.score(codes, factors[:, j])))
        test_acc.append(float(model.score(codes_test, factors_test[:, j])))
    if not train_acc:
        raise VaelabError("no factor varies in this sample, so there is nothing to predict")
    return importance, float(np.mean(train_acc)), float(np.mean(test_acc))


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix (D, K), as Eastwood & Williams define them."""
    if importance.sum() == 0:
        importance = np.ones_like(importance)
    d, k = importance.shape
    # 1 − entropy of each code's importance over factors (base K), weighted by the code's share of importance.
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=k) if k > 1 else np.ones(d)
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=d) if d > 1 else np.ones(k)
    total = importance.sum()
    return (float(np.sum(per_code * importance.sum(1) / total)), float(np.sum(per_factor * importance.sum(0) / total)))


def dci(
    representation_fn: RepresentationFn,
    data: GroundTruthData,
    rng: np.random.Generator,
    num_train: int = 10_000,
    num_test: int = 5_000,
    batch_size: int = 64,
) -> dict:
    """DCI (Eastwood & Williams 2018): disentanglement, completeness and informativeness from gradient-boosted
    tree importances."""
    _at_least(2, num_train=num_train)
    _at_least(1, num_test=num_test)
    rng = as_generator(rng)
    codes, factors = sample_codes(representation_fn, data, num_train, rng, batch_size)
    codes_test, factors_test = sample_codes(representation_fn, data, num_test, rng, batch_size)
    return dci_from_codes(codes, factors, codes_test, factors_test, rng)


def dci_from_codes(
    codes: np.ndarray, factors: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray, rng: np.random.Generator
) -> dict:
    """DCI of given train/test codes (n, D) and factors (n, K); factors with a single value are left out."""
    importance, train_acc, test_acc = importance_gbt(codes, factors, codes_test, factors_test, as_generator(rng))
    live = np.flatnonzero(varying_columns(factors))
    disentanglement, completeness = dci_from_importance(importance[:, live])
    chance = float(np.mean([np.bincount(factors_test[:, j]).max() / len(factors_test) for j in live]))
    return {
        "disentanglement": disentanglement,
        "completeness": completeness,
        "informativeness_train": train_acc,
        "informativeness_test": test_acc,
        "chance": chance,
        "importance": importance.tolist(),
    }


# --- SAP ----------------------------------------------------------------------------------------------------
def sap_from_codes(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    continuous_factors: bool = False,
) -> dict:
    """SAP (Kumar et al. 2018): per factor, the score gap between its two most predictive single code dims.

    Discrete factors score a dim by the test accuracy of a linear SVM on that dim alone; continuous ones by
    the squared correlation (R² of a line)."""
    d, k = codes.shape[1], factors.shape[1]
    score, live = np.zeros((d, k)), varying_columns(factors)
    for i in range(d):
        for j in range(k):
            if continuous_factors:
                c = np.cov(codes[:, i], factors[:, j], ddof=1)
                score[i, j] = c[0, 1] ** 2 / (c[0, 0] * c[1, 1]) if c[0, 0] > 1e-12 and c[1, 1] > 0 else 0.0
            elif live[j]:
                svm = LinearSVC(C=0.01, class_weight="balanced").fit(codes[:, i : i + 1], factors[:, j])
                score[i, j] = np.mean(svm.predict(codes_test[:, i : i + 1]) == factors_test[:, j])
    top = np.sort(score, axis=0)[::-1]
    gaps = top[0] - (top[1] if d > 1 else 0.0)
    if not live.any():
        raise VaelabError("no factor varies in this sample, so there is nothing to predict")
    return {
        "sap": float(gaps[live].mean()),  # a factor with one value has no gap and is not in the mean
        "sap_per_factor": [float(g) if v else None for g, v in zip(gaps, live)],
        "score_matrix": score.tolist(),
    }


def sap(
    representation_fn: RepresentationFn,
    data: GroundTruthData,
    rng: np.random.Generator,
    num_train: int = 10_000,
    num_test: int = 5_000,
    batch_size: int = 64,
    continuous_factors: bool = False,
) -> dict:
    """SAP score on random points (discrete factors by default, as disentanglement_lib's study runs it)."""
    _at_least(2, num_train=num_train)
    _at_least(1, num_test=num_test)
    rng = as_generator(rng)
    codes, factors = sample_codes(representation_fn, data, num_train, rng, batch_size)
    codes_test, factors_test = sample_codes(representation_fn, data, num_test, rng, batch_size)
    return sap_from_codes(codes, factors, codes_test, factors_test, continuous_factors)


METRICS: dict[str, Callable[..., dict]] = {
    "mig": mig,
    "beta_vae": beta_vae_score,
    "factor_vae": factor_vae_score,
    "dci": dci,
    "sap": sap,
}


def check_scale(scale: float) -> None:
    if not (math.isfinite(scale) and 0 < scale <= 10):
        raise VaelabError(
            f"the metrics scale multiplies disentanglement_lib's sample sizes: above 0 and at most 10, not {scale}"
        )


def all_metrics(
    representation_fn: RepresentationFn,
    data: GroundTruthData,
    rng: np.random.Generator,
    scale: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Every metric at disentanglement_lib's sample sizes times ``scale`` (0.1 for a quick look)."""
    check_scale(scale)
    rng = as_generator(rng)

    def n(size: int) -> int:
        return max(10, int(round(size * scale)))

    sizes = {
        "mig": {"num_train": n(10_000)},
        "beta_vae": {"num_train": n(10_000), "num_eval": n(5_000)},
        "factor_vae": {"num_train": n(10_000), "num_eval": n(5_000), "num_variance_estimate": n(10_000)},
        "dci": {"num_train": n(10_000), "num_test": n(5_000)},
        "sap": {"num_train": n(10_000), "num_test": n(5_000)},
    }
    results = {}
    for name, fn in METRICS.items():
        if progress:
            progress(name)
        results[name] = fn(representation_fn, data, rng, **sizes[name])
    return results


def model_representation(model, dims: slice | np.ndarray | None = None, batch_size: int = 256) -> RepresentationFn:
    """A representation function from an inference model (`vaelab.models.runtime`): uint8 images (B, C, H, W)
    → posterior means (B, D), or the columns ``dims`` of them (for a cycle-VAE's z or s)."""

    def represent(images: np.ndarray) -> np.ndarray:
        codes = encode_batched(model, images, batch_size, progress=False)
        return codes if dims is None else codes[:, dims]

    return represent
