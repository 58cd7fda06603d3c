"""Disentanglement metrics, probes and the β-VAE's capacity annealing.

Each metric gets disentanglement_lib's sanity checks on data whose observations *are* the factors: the factors
themselves (also permuted and rescaled) score about 1; noise or a constant scores about 0 (or chance, for the
scores that are accuracies); a duplicated dimension costs the metrics that reward one code per factor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelab.metrics import disentanglement as dm
from vaelab.metrics.probes import cross_predictors, leakage_probes


class FactorsAsObservations:
    """Ground truth whose observations are the factor tuples themselves (disentanglement_lib's dummy data)."""

    factor_sizes = (4, 5, 6, 3)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, k, n) for k in self.factor_sizes], 1)

    def images_from_factors(self, factors):
        return np.asarray(factors, np.float64)


DATA = FactorsAsObservations()
PERM, SCALE = np.array([2, 0, 3, 1]), np.array([1.0, -2.0, 0.5, 3.0])


def _noise(x):  # a fresh draw every call, seeded by the call's content so runs repeat
    return np.random.default_rng(int(x.sum() * 7 + len(x))).normal(size=(len(x), 4))


REPRESENTATIONS = {
    "identity": lambda x: x,
    "permuted and rescaled": lambda x: x[:, PERM] * SCALE,
    "noise": _noise,
    "constant": lambda x: np.zeros((len(x), 4)),
    "duplicated": lambda x: np.hstack([x, x[:, :1]]),
}


@pytest.fixture(scope="module")
def scores():
    out = {}
    for name, fn in REPRESENTATIONS.items():
        rng = np.random.default_rng(0)
        out[name] = {
            "mig": dm.mig(fn, DATA, rng, num_train=2000)["mig"],
            "beta_vae": dm.beta_vae_score(fn, DATA, rng, batch_size=16, num_train=300, num_eval=200)["eval_accuracy"],
            "factor_vae": dm.factor_vae_score(
                fn, DATA, rng, batch_size=16, num_train=300, num_eval=200, num_variance_estimate=1000
            )["eval_accuracy"],
            "dci": dm.dci(fn, DATA, rng, num_train=400, num_test=200),
            "sap": dm.sap(fn, DATA, rng, num_train=1000, num_test=500, continuous_factors=True)["sap"],
        }
    return out


@pytest.mark.parametrize("name", ["identity", "permuted and rescaled"])
def test_the_true_factors_score_about_one_on_every_metric(scores, name):
    s = scores[name]
    assert s["mig"] > 0.95
    assert s["beta_vae"] > 0.95
    assert s["factor_vae"] > 0.95
    assert s["dci"]["disentanglement"] > 0.95 and s["dci"]["completeness"] > 0.95
    assert s["dci"]["informativeness_test"] > 0.95
    assert s["sap"] > 0.95


@pytest.mark.parametrize("name", ["noise", "constant"])
def test_useless_codes_score_about_zero_or_chance(scores, name):
    s, chance = scores[name], 1 / len(DATA.factor_sizes)
    assert s["mig"] < 0.05
    assert s["sap"] < 0.05
    assert s["dci"]["disentanglement"] < 0.1 and s["dci"]["completeness"] < 0.1
    assert s["dci"]["informativeness_test"] < 0.35  # ≈ the majority class of each factor
    assert s["beta_vae"] < chance + 0.15  # an accuracy: chance is 1/4, not 0
    assert s["factor_vae"] < chance + 0.1  # a constant has every dim pruned and scores exactly 0
    if name == "constant":
        assert s["factor_vae"] == 0.0


def test_a_duplicated_dimension_costs_mig_sap_and_completeness_but_not_the_rest(scores):
    s = scores["duplicated"]
    # Factor 0 is held twice, so its gap between the two best codes is 0: MIG and SAP lose a quarter.
    assert s["mig"] == pytest.approx(0.75, abs=0.03)
    assert s["sap"] == pytest.approx(0.75, abs=0.03)
    assert s["dci"]["completeness"] < 0.93  # factor 0 is spread over two codes
    assert s["dci"]["disentanglement"] > 0.95  # each code still holds one factor
    assert s["beta_vae"] > 0.95 and s["factor_vae"] > 0.95


def test_discrete_sap_scores_the_gap_over_chance_for_binary_factors():
    class Binary(FactorsAsObservations):
        factor_sizes = (2, 2, 2)

    good = dm.sap(lambda x: x, Binary(), np.random.default_rng(0), num_train=600, num_test=300)["sap"]
    bad = dm.sap(lambda x: _noise(x)[:, :3], Binary(), np.random.default_rng(0), num_train=600, num_test=300)["sap"]
    # A dim that knows nothing still guesses a binary factor half the time, so the best gap is 1 − 0.5.
    assert good == pytest.approx(0.5, abs=0.03) and bad < 0.05


def test_metrics_repeat_with_the_same_seed():
    a = dm.mig(_noise, DATA, np.random.default_rng(5), num_train=500)
    b = dm.mig(_noise, DATA, np.random.default_rng(5), num_train=500)
    assert a == b


def test_mig_matches_a_hand_computed_gap():
    # Code 0 copies a 2-valued factor; code 1 is constant; so MIG = (H − 0) / H = 1 for it, and the other factor,
    # uncorrelated with both codes, has gap 0: the mean is 0.5.
    f = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 50)
    codes = np.stack([f[:, 0].astype(float), np.zeros(len(f))], 1)
    r = dm.mig_from_codes(codes, f)
    assert r["mig_per_factor"] == pytest.approx([1.0, 0.0], abs=1e-9)
    assert r["mig"] == pytest.approx(0.5)


def test_discretize_cuts_each_code_into_the_number_of_bins_asked_for():
    bins = dm.discretize(np.linspace(0, 1, 1000)[:, None], 20)
    values, counts = np.unique(bins, return_counts=True)
    assert len(values) == 20 and counts.tolist() == [50] * 20  # equal widths over the code's own range


def test_dci_disentanglement_weights_each_code_by_its_share_of_the_importance():
    # two codes that each explain one factor, and a third nearly unused code whose importance is split evenly:
    # weighted by importance, D stays near 1; a plain mean over the three codes would give about 2/3
    d, c = dm.dci_from_importance(np.array([[1.0, 0.0], [0.0, 1.0], [0.01, 0.01]]))
    assert d > 0.98 and c > 0.9


def test_dci_chance_is_the_majority_share_of_each_factor():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.permutation(np.r_[np.zeros(170, int), np.ones(30, int)]), rng.integers(0, 4, 200)], 1)
    codes = factors + 0.01 * rng.normal(size=factors.shape)
    r = dm.dci_from_codes(codes[:100], factors[:100], codes[100:], factors[100:], rng)
    expected = np.mean([np.bincount(factors[100:, j]).max() / 100 for j in range(2)])
    assert r["chance"] == pytest.approx(expected) and r["chance"] > 0.5  # the lopsided factor: 0.8, not 1/2


def test_factor_vae_eval_accuracy_is_scored_on_votes_it_was_not_fitted_on():
    # one training vote fixes the majority class of one code dimension only; the other factors' dimensions
    # are unseen, so on fresh votes the classifier is right far less often than on its single training vote
    r = dm.factor_vae_score(lambda x: x, DATA, 0, batch_size=16, num_train=1, num_eval=200, num_variance_estimate=500)
    assert r["train_accuracy"] == 1.0 and r["eval_accuracy"] < 0.75


# --- probes ----------------------------------------------------------------------------------------------
def test_leakage_probe_reads_the_label_from_the_part_that_holds_it():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 1200)
    s = np.eye(4)[labels] + 0.1 * rng.normal(size=(1200, 4))  # the label, noisily
    z = rng.normal(size=(1200, 4))  # nothing about it
    r = leakage_probes({"s": s, "z": z}, labels, np.random.default_rng(1), hidden=(32,))
    assert r["s"]["test_accuracy"] > 0.95
    assert abs(r["z"]["test_accuracy"] - 0.25) < 0.1
    assert r["chance"] == pytest.approx(0.25, abs=0.05)
    # chance is the most common label's share of all the codes: steady even when few codes are tested
    lopsided = np.r_[np.zeros(700, int), np.ones(500, int)]
    mixed = np.random.default_rng(3).permutation(lopsided)
    r = leakage_probes({"s": np.eye(2)[mixed]}, mixed, np.random.default_rng(2), hidden=(4,), max_iter=5)
    assert r["chance"] == pytest.approx(700 / 1200)
    many = np.r_[np.repeat(np.arange(24), 3), np.zeros(8, int)]  # 24 classes, 80 codes, 16 tested
    r = leakage_probes({"s": np.eye(24)[many]}, many, np.random.default_rng(0), hidden=(4,), max_iter=5)
    assert r["chance"] == pytest.approx(11 / 80) and r["n_test"] == 16


def test_cross_predictors_find_a_redundant_part_and_score_its_regeneration():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1000, 4))
    s = np.tanh(z[:, :2] @ np.array([[1.0, 0.5], [-0.5, 1.0]]))  # s is a function of z; half of z is not of s

    def decode(zz, ss):  # a planted decoder: pixel 0 shows z[0], pixel 1 shows s[0]
        return np.stack([zz[:, 0], ss[:, 0]], 1)[:, None, None, :].astype(np.float32)

    images = np.zeros((1000, 1, 1, 2), np.uint8)  # regeneration errors are then the decodings' squares
    r = cross_predictors(z, s, np.random.default_rng(1), decode=decode, images=images, hidden=(32,), examples=5)
    assert r["z_to_s"]["test_r2"] > 0.9
    assert r["s_to_z"]["test_r2"] < 0.6
    test_rows = np.sort(np.random.default_rng(1).permutation(1000)[:800])  # the probe's own split, replayed
    test = np.setdiff1d(np.arange(1000), test_rows)
    assert r["reconstruction_mse"] == pytest.approx(np.mean(decode(z[test], s[test]) ** 2), rel=1e-5)
    # z→s keeps z in pixel 0 and only predicts s: its error sits near the reconstruction's.
    assert abs(r["z_to_s"]["regeneration_mse"] - r["reconstruction_mse"]) < 0.1 * r["reconstruction_mse"]
    # the pictures: the first test rows, each decoding keeping the true part it did not predict
    ex = r["examples"]
    assert ex["index"].tolist() == test[:5].tolist()
    np.testing.assert_allclose(ex["reconstruction"], decode(z[test[:5]], s[test[:5]]))
    np.testing.assert_allclose(ex["z_to_s"][..., 0].ravel(), z[test[:5], 0], rtol=1e-6)  # z kept, s predicted
    np.testing.assert_allclose(ex["s_to_z"][..., 1].ravel(), s[test[:5], 0], rtol=1e-6)  # s kept, z predicted
    assert not np.allclose(ex["z_to_s"][..., 1].ravel(), s[test[:5], 0], atol=1e-4)  # a prediction, not the truth


# --- β-VAE capacity annealing ------------------------------------------------------------------------------
def test_capacity_makes_the_kl_term_its_distance_from_c():
    from vaelab.models.config import ModelConfig
    from vaelab.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=4, widths=(4, 8), beta=50.0))
    x, eps = torch.rand(6, 1, 28, 28), torch.randn(6, 4)
    plain = model.loss(x, eps=eps)
    annealed = model.loss(x, eps=eps, capacity=3.0)
    assert torch.allclose(plain.recon, annealed.recon) and torch.allclose(plain.kl, annealed.kl)
    assert plain.objective.item() == pytest.approx((plain.recon.mean() + 50.0 * plain.kl.mean()).item(), rel=1e-6)
    expected = annealed.recon.mean() + 50.0 * (annealed.kl.mean() - 3.0).abs()
    assert annealed.objective.item() == pytest.approx(expected.item(), rel=1e-6)


def _loss_calls(toy_idx_dir, tmp_path, monkeypatch, model_cfg, **train_settings) -> list[tuple]:
    """(kl_weight, capacity) of every loss call of one epoch of 6 steps (192 images, batch 32), then evaluation's."""
    from vaelab.data.loaders import load_dataset
    from vaelab.models.base import LatentModel
    from vaelab.training.config import TrainConfig
    from vaelab.training.vae import train

    calls = []
    original = LatentModel.loss

    def spy(self, x, kl_weight=1.0, eps=None, capacity=None):
        calls.append((kl_weight, capacity))
        return original(self, x, kl_weight, eps, capacity)

    monkeypatch.setattr(LatentModel, "loss", spy)
    ds = load_dataset(f"mnist:{toy_idx_dir}")
    ds.train_idx = ds.train_idx[:192]
    train(
        model_cfg,
        ds,
        tmp_path / "run",
        TrainConfig(epochs=1, batch_size=32, onnx=False, **train_settings),
        progress=False,
    )
    return calls


def test_trainer_raises_capacity_linearly_to_its_max(toy_idx_dir, tmp_path, monkeypatch):
    from vaelab.models.config import ModelConfig
    from vaelab.training.config import TrainConfig

    assert TrainConfig().capacity_max == 0.0  # off unless asked for: existing runs are unchanged
    seen = [
        c
        for _, c in _loss_calls(
            toy_idx_dir,
            tmp_path,
            monkeypatch,
            ModelConfig(latent_dim=4, widths=(4, 8), beta=20.0),
            capacity_max=8.0,
            capacity_steps=4,
        )
    ]
    assert seen[:6] == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0, 8.0])  # then evaluation calls loss plainly
    assert all(c is None for c in seen[6:])


def test_trainer_warms_the_kl_weight_up_linearly(toy_idx_dir, tmp_path, monkeypatch):
    from vaelab.models.config import ModelConfig

    weights = [
        w
        for w, _ in _loss_calls(
            toy_idx_dir, tmp_path, monkeypatch, ModelConfig(latent_dim=4, widths=(4, 8)), kl_warmup_steps=4
        )
    ]
    assert weights[:6] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])  # step i of 4 weighs i/4, then 1


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_a_metrics_scale_that_gives_no_sample_sizes_is_refused_before_any_work(scale, tiny_model_dir, monkeypatch):
    import vaelab.tasks.disentangle as dis
    from vaelab.errors import VaelabError

    monkeypatch.setattr(dis, "open_model", lambda *a: pytest.fail("the model was opened before the check"))
    with pytest.raises(VaelabError, match="metrics scale"):
        dis.disentangle(tiny_model_dir, metrics_scale=scale)


def test_probes_use_only_test_images_when_the_test_split_is_large_enough(tmp_path, tiny_model_dir, monkeypatch):
    import vaelab.tasks.disentangle as dis
    from conftest import write_mnist_folder
    from vaelab.data.loaders import load_dataset

    ds = load_dataset(f"mnist:{write_mnist_folder(tmp_path / 'idx', n_train=100, n_test=250)}")
    test_rows = {ds.images[i].tobytes() for i in ds.split("test")}
    encoded = []
    real = dis.encode_batched
    monkeypatch.setattr(dis, "encode_batched", lambda m, images, **kw: encoded.append(images) or real(m, images, **kw))
    r = dis.disentangle(tiny_model_dir, data=ds, grid=2, steps=2, probe_images=220)
    assert r.probe_source == "220 of the 250 test images"
    assert len(encoded[0]) == 220 and all(img.tobytes() in test_rows for img in encoded[0])
    # the pictures draw from a generator of their own: another --grid picks other rows, not other probe images
    wider = dis.disentangle(tiny_model_dir, data=ds, grid=5, steps=2, probe_images=220)
    np.testing.assert_array_equal(encoded[1], encoded[0])
    assert wider.probes == r.probes and len(wider.rows) == 5


@pytest.mark.parametrize(
    "bad,words",
    [
        (lambda x: (x, x), "returned a tuple of 2"),  # (mu, logvar)
        (lambda x: x.T, "must give"),  # transposed: (D, B)
        (lambda x: np.where(x == 1, np.nan, x), "NaN or infinite"),
    ],
)
def test_codes_that_are_not_one_finite_row_per_observation_are_refused(bad, words):
    from vaelab.errors import VaelabError

    for metric in (
        lambda f: dm.mig(f, DATA, 0, num_train=64),
        lambda f: dm.beta_vae_score(f, DATA, 0, batch_size=16, num_train=20, num_eval=20),
        lambda f: dm.factor_vae_score(f, DATA, 0, batch_size=16, num_train=20, num_eval=20, num_variance_estimate=64),
    ):
        with pytest.raises(VaelabError, match=words):
            metric(bad)


def test_codes_as_torch_tensors_or_float32_score_the_same_as_numpy():
    base = dm.mig(lambda x: x, DATA, 3, num_train=500)["mig"]
    assert dm.mig(lambda x: torch.tensor(x, requires_grad=True), DATA, 3, num_train=500)["mig"] == base
    assert dm.mig(lambda x: x.astype(np.float32), DATA, 3, num_train=500)["mig"] == base


def test_a_factor_with_a_single_value_is_left_out_by_every_metric():
    class WithAFixedFactor(FactorsAsObservations):
        factor_sizes = (4, 5, 1, 3)

    data, fn = WithAFixedFactor(), lambda x: x[:, [0, 1, 3]]  # a perfect code of the three factors that vary
    m = dm.mig(fn, data, 0, num_train=1000)
    assert m["mig"] > 0.95 and m["mig_per_factor"][2] is None and min(m["mig_per_factor"][i] for i in (0, 1, 3)) > 0.95
    assert dm.beta_vae_score(fn, data, 0, batch_size=16, num_train=200, num_eval=100)["eval_accuracy"] > 0.95
    fv = dm.factor_vae_score(fn, data, 0, batch_size=16, num_train=200, num_eval=100, num_variance_estimate=500)
    assert fv["eval_accuracy"] > 0.95 and fv["chance"] == pytest.approx(1 / 3)
    d = dm.dci(fn, data, 0, num_train=300, num_test=100)
    assert d["disentanglement"] > 0.95 and d["informativeness_test"] > 0.95
    noise = dm.dci(lambda x: _noise(x)[:, :3], data, 0, num_train=300, num_test=100)
    assert noise["disentanglement"] < 0.1 and noise["informativeness_test"] < 0.5  # not lifted by a free 1.0
    s = dm.sap(fn, data, 0, num_train=500, num_test=200, continuous_factors=True)
    assert s["sap"] > 0.95 and s["sap_per_factor"][2] is None


def test_sizes_too_small_to_mean_anything_are_refused():
    from vaelab.errors import VaelabError

    with pytest.raises(VaelabError, match="batch_size must be at least 2"):
        dm.factor_vae_score(lambda x: x, DATA, 0, batch_size=1)
    with pytest.raises(VaelabError, match="num_train must be at least 2"):
        dm.mig(lambda x: x, DATA, 0, num_train=1)


def test_seeds_and_randomstates_work_like_generators():
    from vaelab.data.sprites import Sprites

    fn = lambda x: x
    assert dm.mig(fn, DATA, 7, num_train=300) == dm.mig(fn, DATA, np.random.default_rng(7), num_train=300)
    state = lambda: np.random.RandomState(1)
    assert dm.mig(fn, DATA, state(), num_train=300) == dm.mig(fn, DATA, state(), num_train=300)
    sprites = Sprites()
    factors = sprites.sample_factors(3, np.random.RandomState(0))  # disentanglement_lib's random state
    assert sprites.factors_num_values == [4, 6, 6, 16, 16, 16] and sprites.num_factors == 6
    obs = sprites.sample_observations_from_factors(factors, np.random.RandomState(0))
    assert obs.shape == (3, 64, 64, 3) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs, sprites.images_from_factors(factors).transpose(0, 2, 3, 1) / np.float32(255))
