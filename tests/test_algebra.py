"""Latent algebra: expressions, attribute vectors with balancing, blends, the analogy score, and the CLI."""

from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import run_vaelab
from vaelab.data.dataset import ImageDataset, query_mask
from vaelab.errors import VaelabError
from vaelab.latent.arithmetic import (
    attribute_vector,
    combine,
    parse_expression,
    parse_strengths,
    spherical_mean,
    weighted_centroid,
)
from vaelab.metrics.analogy import analogy_hit_rate
from vaelab.models.runtime import InferenceModel


class PlantedModel(InferenceModel):
    """Codes are planted: image i (its first pixel holds i) has code table[i]; decode is a fixed linear map."""

    def __init__(self, table: np.ndarray, class_names):
        doc = {
            "model": {"channels": 1, "height": 4, "width": 4, "latent_dim": table.shape[1]},
            "data": {"name": "planted", "class_names": class_names},
        }
        super().__init__(None, doc)
        self.table = table

    def embed(self, x):
        return self.table[np.rint(x[:, 0, 0, 0] * 255).astype(int)]

    def decode(self, z):
        return np.tile(z[:, :1, None, None], (1, 1, 4, 4)).astype(np.float32)


def _planted(n=30, d=5, seed=0):
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(n, d))
    images = np.zeros((n, 1, 4, 4), np.uint8)
    images[:, 0, 0, 0] = np.arange(n)
    labels = np.arange(n) % 3
    ds = ImageDataset(
        images=images,
        labels=labels,
        class_names=["a", "b", "c"],
        name="planted",
        attributes={"tall": labels == 1, "colour": np.array(["red", "blue"] * (n // 2))},
    )
    return PlantedModel(table, ["a", "b", "c"]), ds, table, labels


def test_arithmetic_on_planted_latents_gives_the_exact_vector():
    from vaelab.tasks.arithmetic import arithmetic

    m, ds, table, labels = _planted()
    r = arithmetic(m, "class:a - class:b + 0.5*attr:colour=red", data=ds, correction="none")
    red = ds.attributes["colour"] == "red"
    expected = table[labels == 0].mean(0) - table[labels == 1].mean(0) + 0.5 * table[red].mean(0)
    np.testing.assert_allclose(r.vector, expected, rtol=1e-5)
    assert [w for w, _ in r.terms] == [1.0, -1.0, 0.5]
    assert [len(c.images) for _, c in r.terms] == [10, 10, 15]
    np.testing.assert_allclose(r.image[0, 0, 0], expected[0], rtol=1e-5)  # the result is what gets decoded


def test_rescale_gives_the_terms_mean_norm():
    v = np.array([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]])
    out = combine(v, [1, -1, 1], rescale=True)
    assert np.linalg.norm(out) == pytest.approx(np.linalg.norm(v, axis=1).mean())
    np.testing.assert_allclose(out / np.linalg.norm(out), np.array([4.0, 3.0]) / 5)


def test_expression_parsing_keeps_hyphenated_names_and_rejects_garbage():
    terms = parse_expression("class:T-shirt/top - 2*[a.png b.png] + attr:gender=woman,skin=none")
    assert [(t.weight, t.concept) for t in terms] == [
        (1.0, "class:T-shirt/top"),
        (-2.0, "[a.png b.png]"),
        (1.0, "attr:gender=woman,skin=none"),
    ]
    for bad in ["", "class:A +", "class:A class:B", "+ - x"]:
        with pytest.raises(VaelabError):
            parse_expression(bad)
    quoted = parse_expression("reds/ - \"grüne sachen/\" + 2e-1*'my set' - 1.5E1*class:Bag")
    assert [(t.weight, t.concept) for t in quoted] == [
        (1.0, "reds/"),
        (-1.0, "grüne sachen/"),
        (0.2, "my set"),
        (-15.0, "class:Bag"),
    ]
    with pytest.raises(VaelabError, match="put spaces around"):
        parse_expression("class:blue_square-class:red circle")
    with pytest.raises(VaelabError, match="without the other end"):
        parse_expression("[a.png - b/")
    with pytest.raises(VaelabError, match="an empty quoted name"):
        parse_expression('"" - class:Bag')  # not "." and every image below it
    with pytest.raises(VaelabError, match=r"the quote in '\"my' is not closed; .* goes in a bracketed list"):
        parse_expression('"my - set/" + class:Bag')


def test_balancing_removes_a_planted_correlation():
    rng = np.random.default_rng(0)
    n = 4000
    attr = rng.random(n) < 0.5
    other = np.where(attr, rng.random(n) < 0.9, rng.random(n) < 0.1)  # strongly correlated with attr
    true_dir, other_dir = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    z = attr[:, None] * true_dir + 2.0 * other[:, None] * other_dir + 0.05 * rng.normal(size=(n, 3))
    plain = attribute_vector(z, attr)
    balanced = attribute_vector(z, attr, balance_on=[other])
    assert plain[1] > 1.2  # the correlated attribute leaks in: about 2 × (0.9 − 0.1)
    assert abs(balanced[1]) < 0.02 and balanced[0] == pytest.approx(1.0, abs=0.02)


def test_balancing_on_two_columns_leaves_out_one_sided_cells_and_says_how_many():
    from vaelab.latent.arithmetic import balanced_cells

    attr = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    skin, group = np.array([0, 1, 2, 2, 0, 1, 0, 1]), np.array(["a", "b", "a", "a", "a", "b", "a", "b"])
    cells = balanced_cells(attr, [skin, group])
    assert cells.tolist() == [0, 1, -1, -1, 0, 1, 0, 1]  # (2, a) has no image without the attribute
    z = np.arange(16, dtype=np.float64).reshape(8, 2) ** 2
    # cell (0,a): with z0, without z4 and z6; cell (1,b): with z1, without z5 and z7; each cell counts once
    expected = (z[0] + z[1]) / 2 - ((z[4] + z[6]) / 2 + (z[5] + z[7]) / 2) / 2
    np.testing.assert_allclose(attribute_vector(z, attr, [skin, group]), expected)


def test_attribute_true_for_all_or_none_is_an_error():
    z = np.zeros((4, 2))
    with pytest.raises(VaelabError, match="every"):
        attribute_vector(z, np.ones(4, bool))
    with pytest.raises(VaelabError, match="no image"):
        attribute_vector(z, np.zeros(4, bool))


def test_spherical_mean_of_equal_norm_vectors_keeps_the_norm():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(7, 16))
    v *= 4.0 / np.linalg.norm(v, axis=1, keepdims=True)
    s = spherical_mean(v, rng.random(7))
    assert np.linalg.norm(s) == pytest.approx(4.0)
    assert np.linalg.norm(weighted_centroid(v)) < 0.6 * 4.0  # while the Euclidean mean shrinks


def test_float32_vectors_that_cancel_and_bad_weights_are_errors():
    v = np.random.default_rng(2).normal(size=8).astype(np.float32)
    with pytest.raises(VaelabError, match="cancel out"):
        spherical_mean(np.stack([v, -3 * v]))  # float32 rounding leaves ~1e-8 of "direction"
    for bad in ([1.0, -0.5], [np.nan, 1.0], [np.inf, 1.0], [0.0, 0.0]):
        with pytest.raises(VaelabError, match="finite non-negative weights"):
            weighted_centroid(np.eye(2), bad)
        with pytest.raises(VaelabError, match="finite non-negative weights"):
            spherical_mean(np.eye(2) + 0.1, bad)


def test_query_mask_and_its_errors():
    _, ds, _, labels = _planted()
    np.testing.assert_array_equal(query_mask(ds, "tall=true"), labels == 1)
    assert query_mask(ds, "colour=red|blue").all()
    # a labelled set answers 'class' by class name, so `vaelab attribute --attr class=b` works on any of them
    np.testing.assert_array_equal(
        query_mask(ds, "class=b|c,colour=red"), (labels > 0) & (ds.attributes["colour"] == "red")
    )
    with pytest.raises(VaelabError, match=r"unknown attribute 'size'; planted has: class, colour, tall"):
        query_mask(ds, "size=big")
    with pytest.raises(VaelabError, match="its values are: blue, red"):
        query_mask(ds, "colour=green")


def test_a_quoted_value_may_hold_commas_bars_and_apostrophes():
    names = np.array(["kiss: woman, man", "kiss: woman", "a|b", "don't", "man"])
    ds = ImageDataset(images=np.zeros((5, 1, 2, 2), np.uint8), attributes={"name": names}, name="n")
    assert query_mask(ds, "name='kiss: woman, man'").tolist() == [True, False, False, False, False]
    assert query_mask(ds, 'name="kiss: woman, man"|man').tolist() == [True, False, False, False, True]
    assert query_mask(ds, "name= 'a|b'").tolist() == [False, False, True, False, False]
    assert query_mask(ds, "name=don't").tolist() == [False, False, False, True, False]  # not a quote: a letter
    with pytest.raises(
        VaelabError,
        match=r"condition 'man' needs the form name=value \(a value with a comma in it "
        "goes in quotes",
    ):
        query_mask(ds, "name=kiss: woman, man")  # said before 'kiss: woman' alone is looked up
    with pytest.raises(VaelabError, match="opens a quote ' and does not close it"):
        query_mask(ds, "name='kiss: woman")


def test_strength_specs():
    np.testing.assert_allclose(parse_strengths("-2:2:5"), [-2, -1, 0, 1, 2])
    np.testing.assert_allclose(parse_strengths("0,1.5"), [0, 1.5])
    with pytest.raises(VaelabError):
        parse_strengths("2:x")


def test_analogy_hit_rate_finds_a_planted_offset_and_the_zero_baseline_does_not():
    rng = np.random.default_rng(2)
    P, d = 12, 6
    offset = np.zeros(d)
    offset[0] = 3.0
    z_a = rng.normal(size=(P, d))
    z_b = z_a + offset + 0.05 * rng.normal(size=(P, d))
    decode = lambda z: np.tile(z[:, None, None, :], (1, 1, 2, 1)).astype(np.float32) / 10  # noqa: E731
    x_a, x_b = decode(z_a), decode(z_b)
    r = analogy_hit_rate(z_a, z_b, x_a, x_b, decode, evaluate=np.arange(6), use=np.arange(6, 12))
    assert r["hit_rate"] == 1.0 and r["baseline_zero"] == 0.0 and r["n"] == 6
    shuffled = analogy_hit_rate(z_a, z_a[rng.permutation(P)], x_a, decode(z_a[rng.permutation(P)]), decode)
    assert shuffled["hit_rate"] < 0.9  # no shared offset, no reliable hits


def test_an_analogy_offset_leaves_out_the_pair_it_predicts():
    rng = np.random.default_rng(0)
    za, zb = rng.uniform(0.2, 0.4, (4, 3)), rng.uniform(0.5, 0.8, (4, 3))
    images = lambda z: z.reshape(len(z), 1, 1, 3).astype(np.float32)  # noqa: E731  decode: the code is the image
    r = analogy_hit_rate(za, zb, images(za), images(zb), decode=images)
    for p in range(4):  # pair p's own difference would pull its prediction onto its target
        others = [q for q in range(4) if q != p]
        np.testing.assert_allclose(r["predictions"][p].ravel(), za[p] + (zb - za)[others].mean(0), rtol=1e-6)


def test_analogy_pixel_baseline_is_the_same_on_uint8_images():
    rng = np.random.default_rng(4)
    x_a = rng.integers(0, 120, (8, 1, 2, 2)).astype(np.float32) / 255
    x_b = x_a + np.float32(100 / 255)  # every pair brightens by the same step: pixel arithmetic hits every time
    z = np.zeros((8, 2))
    decode = lambda z: np.zeros((len(z), 1, 2, 2), np.float32)  # noqa: E731
    as_float = analogy_hit_rate(z, z, x_a, x_b, decode)
    as_uint8 = analogy_hit_rate(
        z, z, np.round(x_a * 255).astype(np.uint8), np.round(x_b * 255).astype(np.uint8), decode
    )
    assert as_float["baseline_pixel"] == 1.0 and as_uint8["baseline_pixel"] == 1.0  # b − a must not wrap around


def test_cluster_bootstrap_widens_the_interval_when_a_clusters_analogies_fail_together():
    from vaelab.metrics.analogy import cluster_bootstrap_interval

    hits = np.repeat(np.arange(40) < 28, 6)  # 40 professions in 6 tones each: 28 always hit, 12 never
    professions = np.repeat(np.arange(40), 6)
    lo, hi = cluster_bootstrap_interval(hits, professions, np.random.default_rng(0))
    lo1, hi1 = cluster_bootstrap_interval(hits, np.arange(240), np.random.default_rng(0))  # as if independent
    assert lo < 0.7 < hi and lo1 < 0.7 < hi1
    assert 1.8 < (hi - lo) / (hi1 - lo1) < 3.2  # about √6: 40 independent outcomes, not 240
    assert cluster_bootstrap_interval(np.ones(12, bool), np.arange(12) % 3, np.random.default_rng(0)) == (1.0, 1.0)
    # clusters of unequal size: a draw's rate pools its analogies (1 hit of 10 is 0.1), it does not average the
    # clusters' rates (which would give 0.5); the two-cluster draws give 1.0, 0.1 or 0.0, so the median is 0.1
    lopsided = cluster_bootstrap_interval(
        np.array([1] + [0] * 9, bool), np.array([0] + [1] * 9), np.random.default_rng(0), level=0.0
    )
    assert lopsided == pytest.approx((0.1, 0.1))
    with pytest.raises(ValueError, match="at least one"):
        cluster_bootstrap_interval(np.zeros(0, bool), np.zeros(0), np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least two"):  # one cluster would give a zero-width interval
        cluster_bootstrap_interval(np.array([1, 0, 1, 0], bool), np.zeros(4), np.random.default_rng(0))


def test_spherical_offset_keeps_the_length_that_the_arithmetic_mean_averages_away():
    # Each pair's difference is 55° off a shared axis, each towards a direction of its own: their arithmetic
    # mean points along the axis but is only cos 55° as long, too short to cross the half-way point; the
    # spherical mean (mean direction, mean length) reaches it.
    rng = np.random.default_rng(3)
    P = 10
    theta, length = np.deg2rad(55), 4.0
    diffs = np.zeros((P, 1 + P))
    diffs[:, 0] = length * np.cos(theta)
    diffs[np.arange(P), 1 + np.arange(P)] = length * np.sin(theta)
    z_a = rng.normal(size=(P, 1 + P))
    decode = lambda z: np.asarray(z, np.float32)[:, None, None, :]  # noqa: E731
    x_a, x_b = decode(z_a), decode(z_a + diffs)
    mean = analogy_hit_rate(z_a, z_a + diffs, x_a, x_b, decode)
    spherical = analogy_hit_rate(z_a, z_a + diffs, x_a, x_b, decode, offset="spherical")
    assert mean["hit_rate"] == 0.0 and spherical["hit_rate"] == 1.0
    with pytest.raises(ValueError):
        analogy_hit_rate(z_a, z_a + diffs, x_a, x_b, decode, offset="median")


def test_blend_returns_k_centres_and_a_confusion_table(tiny_model_dir):
    from vaelab.tasks.blend import blend

    r = blend(tiny_model_dir, "all", k=4, eigen=5)
    assert r.kmeans_centres.shape[0] == 4 and r.confusion.shape == (4, 3)
    assert r.confusion.sum() == 300  # every training image is in exactly one cluster
    assert r.eigen_images.shape == (5, 1, 28, 28) and np.all(np.diff(r.explained) <= 1e-9)
    w = np.array([1.0, 0, 0])
    only_first = blend(tiny_model_dir, ["0", "1", "2"], weights=w, k=2, eigen=3)
    np.testing.assert_allclose(only_first.euclidean, only_first.class_images[0], atol=1e-6)
    np.testing.assert_allclose(only_first.spherical, only_first.class_images[0], atol=1e-5)


def test_blend_of_identical_images_warns_of_empty_clusters_and_reports_no_variance(tiny_model_dir):
    from vaelab.errors import VaelabWarning
    from vaelab.tasks.blend import blend

    same = ImageDataset(images=np.full((6, 1, 28, 28), 128, np.uint8), name="grey")  # one distinct image
    with pytest.warns(VaelabWarning, match="only 1 distinct ones, so 2 of the 3 k-means clusters stay empty"):
        r = blend(tiny_model_dir, data=same, k=3, eigen=2)
    assert sorted(r.cluster_sizes.tolist()) == [0, 0, len(same.split("train"))]
    assert np.isfinite(r.explained).all() and r.explained.sum() == 0  # not nan: the pixels never vary


def test_a_weighted_blend_matches_the_class_means_computed_by_hand(tiny_model_dir):
    import vaelab
    from vaelab.models.runtime import encode_batched
    from vaelab.tasks.blend import blend

    m = vaelab.open_model(tiny_model_dir)
    ds = vaelab.load_dataset(m.data_name)
    train = ds.split("train")
    z, labels = encode_batched(m, ds.images[train]).astype(np.float64), ds.labels[train]
    pixels = ds.images[train].reshape(len(train), -1) / 255.0
    w = np.array([0.5, 0.2, 0.3])  # classes 2, 0, 1, in that order
    r = blend(tiny_model_dir, ["2", "0", "1"], weights=w * 4, k=3, eigen=1000)
    np.testing.assert_allclose(r.weights, w)
    codes = np.stack([z[labels == c].mean(0) for c in (2, 0, 1)])
    np.testing.assert_allclose(r.euclidean, m.decode((w @ codes)[None].astype(np.float32))[0], atol=1e-5)
    assert r.confusion.sum(0).tolist() == np.bincount(labels, minlength=3).tolist()  # each column is one class
    # With every component kept, pixel PCA reconstructs exactly: its blend is the weighted mean of class means.
    means = np.stack([pixels[labels == c].mean(0) for c in (2, 0, 1)])
    np.testing.assert_allclose(r.pixel_pca.reshape(-1), np.clip(w @ means, 0, 1), atol=1e-4)
    # k-means on a sample of the codes; the class centroids are still every training image's, as morph's are
    sampled = blend(tiny_model_dir, ["2", "0", "1"], weights=w, k=3, eigen=2, max_points=60)
    assert sampled.confusion.sum() == 60
    np.testing.assert_allclose(sampled.class_images, m.decode(codes.astype(np.float32)), atol=1e-5)


def test_long_class_names_are_cut_in_the_middle_so_that_they_stay_distinct():
    from vaelab.viz.figures import short_label

    names = [f"Alphabet_of_the_Magi/character{i:02d}" for i in (1, 2, 11)]
    short = [short_label(n) for n in names]
    assert len(set(short)) == 3 and all(len(s) == 20 and s.startswith("Alphabet") for s in short)
    assert short_label("Sneaker") == "Sneaker"


def test_a_concept_folder_takes_every_image_below_it_and_leaves_out_hidden_and_unreadable_ones(
    tmp_path, tiny_model_dir
):
    from PIL import Image

    import vaelab
    from vaelab.tasks.concepts import ConceptResolver

    folder = tmp_path / "smiles"
    (folder / "more").mkdir(parents=True)
    Image.new("L", (28, 28), 200).save(folder / "a.png")
    Image.new("L", (28, 28), 100).save(folder / "more" / "b.png")
    (folder / "._a.png").write_bytes(b"\x00\x05\x16\x07")  # macOS companion file: hidden, not an image
    (folder / "broken.png").write_text("not an image")
    p = run_vaelab("arithmetic", f"{folder} - {folder / 'a.png'}", "--model", tiny_model_dir, "--out", tmp_path / "o")
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines() == [
        l for l in p.stderr.splitlines() if l.startswith("vaelab: warning: left out 1 of 3")
    ]
    assert len(p.stderr.splitlines()) == 1 and "broken.png" in p.stderr
    assert f"{folder} (2)" in p.stdout  # a.png and more/b.png
    m = vaelab.open_model(tiny_model_dir)
    concept = ConceptResolver(m).resolve(f"[{folder / 'a.png'} {folder / 'more' / 'b.png'}]")
    from vaelab.errors import VaelabWarning

    with pytest.warns(VaelabWarning, match="broken.png"):
        whole = ConceptResolver(m).resolve(str(folder))
    np.testing.assert_allclose(whole.vector, concept.vector, rtol=1e-6)
    # a pattern inside the quoted expression, which the shell leaves alone, is expanded here
    Image.new("L", (28, 28), 30).save(folder / "more" / "c.png")
    pattern = ConceptResolver(m).resolve(f"[{folder / 'more' / '*.png'} {folder / 'a.png'}]")
    assert len(pattern.images) == 3
    np.testing.assert_allclose(
        pattern.vector,
        ConceptResolver(m)
        .resolve(f"[{folder / 'more' / 'b.png'} {folder / 'more' / 'c.png'} {folder / 'a.png'}]")
        .vector,
        rtol=1e-6,
    )
    assert len(ConceptResolver(m).resolve(str(folder / "?.png")).images) == 1
    with pytest.warns(VaelabWarning, match="broken.png"):  # matched, not named: left out as a folder's would be
        assert len(ConceptResolver(m).resolve(str(folder / "*.png")).images) == 1
    with pytest.raises(VaelabError, match=r"the pattern .*/x\*.png matches no files"):
        ConceptResolver(m).resolve(str(folder / "x*.png"))


def test_cli_arithmetic_and_blend_end_to_end(tmp_path, tiny_model_dir):
    from PIL import Image

    p = run_vaelab("arithmetic", "class:0 - class:1 + class:2", "--model", tiny_model_dir, "--out", tmp_path / "a")
    assert p.returncode == 0, p.stderr
    assert Image.open(tmp_path / "a" / "result.png").size == (112, 112)
    assert (tmp_path / "a" / "arithmetic.png").is_file() and (tmp_path / "a" / "histograms.png").is_file()
    from vaelab.tasks.arithmetic import arithmetic
    from vaelab.viz.algebra_figures import vector_histograms

    r = arithmetic(tiny_model_dir, "class:0 - class:1 + class:2")
    counts = vector_histograms(r, tmp_path / "h.png", bins=10)
    vectors = [c.vector for _, c in r.terms] + [r.vector]
    lim = max(3.0, max(np.abs(v).max() for v in vectors))
    assert counts.tolist() == [np.histogram(v, np.linspace(-lim, lim, 11))[0].tolist() for v in vectors]
    assert (counts.sum(1) == 8).all()  # every one of the 8 values lands in a bin
    # an expression that starts with a minus sign and has no space is the expression, not an unknown option
    p = run_vaelab("arithmetic", "-1*class:2", "--model", tiny_model_dir, "--out", tmp_path / "neg")
    assert p.returncode == 0 and "-1·class:2" in p.stdout, p.stderr
    np.testing.assert_allclose(
        arithmetic(tiny_model_dir, " -1*class:2").vector, -arithmetic(tiny_model_dir, "class:2").vector, rtol=1e-6
    )
    p = run_vaelab("blend", "--model", tiny_model_dir, "--k", "3", "--eigen", "4", "--out", tmp_path / "b")
    assert p.returncode == 0, p.stderr
    names = {f.name for f in (tmp_path / "b").iterdir()}
    assert names == {
        "blend.png",
        "kmeans_centres.png",
        "kmeans_confusion.png",
        "kmeans_confusion.csv",
        "eigen_images.png",
    }
    rows = (tmp_path / "b" / "kmeans_confusion.csv").read_text().splitlines()
    assert rows[0] == "cluster,0,1,2" and len(rows) == 4
    # a class is an attribute of any labelled set; the vector is saved readable like every other output
    p = run_vaelab("attribute", "--attr", "class=1", "--model", tiny_model_dir, "--out", tmp_path / "v")
    assert p.returncode == 0, p.stderr
    saved = tmp_path / "v" / "attribute_class=1.safetensors"
    mask = os.umask(0)
    os.umask(mask)
    assert saved.stat().st_mode & 0o777 == 0o666 & ~mask  # as open() makes files, not mkstemp's private 0600


def test_a_saved_vector_is_applied_again_and_is_a_term_of_arithmetic(tmp_path, tiny_model_dir):
    from vaelab.io.vectors import load_vector
    from vaelab.tasks.arithmetic import arithmetic
    from vaelab.tasks.attribute import apply_vector, attribute

    p = run_vaelab("attribute", "--attr", "class=1", "--model", tiny_model_dir, "--out", tmp_path / "v")
    assert p.returncode == 0, p.stderr
    saved = tmp_path / "v" / "attribute_class=1.safetensors"
    vector = load_vector(saved)
    np.testing.assert_allclose(vector, attribute(tiny_model_dir, "class=1").vector)
    from safetensors import safe_open

    with safe_open(str(saved), "np") as f:
        assert f.metadata()["data"].startswith("mnist:")  # what it was computed on
    image = tmp_path / "img.png"
    from PIL import Image

    Image.new("L", (28, 28), 90).save(image)
    p = run_vaelab(
        "attribute",
        "--vector",
        saved,
        "--apply",
        image,
        "--strengths",
        "0,1",
        "--model",
        tiny_model_dir,
        "--out",
        tmp_path / "w",
    )
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in (tmp_path / "w").iterdir()) == ["strip_class=1_img.png"]  # nothing else saved
    Image.new("L", (28, 28), 200).save(tmp_path / "other.png")  # a second image's strip goes beside the first
    assert (
        run_vaelab(
            "attribute",
            "--vector",
            saved,
            "--apply",
            tmp_path / "other.png",
            "--model",
            tiny_model_dir,
            "--out",
            tmp_path / "w",
        ).returncode
        == 0
    )
    assert sorted(f.name for f in (tmp_path / "w").iterdir()) == ["strip_class=1_img.png", "strip_class=1_other.png"]
    # as a term: img.png + 1·vector decodes code(img) + vector, which apply_vector gives at strength 1
    r = arithmetic(tiny_model_dir, f"{image} + {saved}", correction="none")
    np.testing.assert_allclose(
        r.image, apply_vector(tiny_model_dir, image, vector, [1.0], correction="none")[0], atol=1e-5
    )
    assert len(r.terms[1][1].images) == 0
    p = run_vaelab("arithmetic", f"{image} - 2*{saved}", "--model", tiny_model_dir, "--out", tmp_path / "a")
    assert p.returncode == 0 and f"-2·{saved} (vector)" in p.stdout, p.stderr
    wrong = tmp_path / "short.safetensors"
    from vaelab.io.vectors import save_vector

    save_vector(wrong, np.ones(3, np.float32), {})
    p = run_vaelab("arithmetic", f"{image} + {wrong}", "--model", tiny_model_dir, "--out", tmp_path / "b")
    assert p.returncode == 2 and "holds a vector of 3 numbers; this model's codes have 8" in p.stderr


@pytest.mark.parametrize(
    "args,words",
    [
        (["arithmetic", "class:0 - class:Zebra"], ["unknown class 'Zebra'"]),
        (["arithmetic", "class:0 class:1"], ["expected + or -"]),
        (["arithmetic", "class:0 - {tmp}/empty"], ["holds no images"]),
        (["arithmetic", "attr:x=1 + class:0"], ["unknown attribute"]),
        (["attribute", "--attr", "x=1"], ["unknown attribute"]),
        (["blend", "--classes", "0,1", "--weights", "1,2,3"], ["weights"]),
        (["blend", "--classes", "0,1", "--weights", "nan,1"], ["finite", "got 'nan,1'"]),
        (["blend", "--classes", "0,1", "--weights", "inf,1"], ["finite"]),
        (["blend", "--classes", "0,1,0"], ["0 named more than once"]),
        (["blend", "--max-points", "4", "--k", "5"], ["--k 5 is more than the 4 training codes", "--max-points 4"]),
        (["attribute", "--attr", "x=1", "--strengths", ""], ["an empty argument after --strengths"]),
        (["attribute", "--attr", "x=1", "--strengths", "nan,inf"], ["finite numbers"]),
        (["attribute"], ["give --attr", "or --vector FILE"]),
        (["attribute", "--attr", "class=1", "--vector", "{tmp}/v.safetensors"], ["give --attr", "or --vector FILE"]),
        (["attribute", "--vector", "{tmp}/v.safetensors"], ["it needs --apply IMAGE"]),
        (["attribute", "--attr", "class=1", "--apply", "{tmp}/empty"], ["is a folder, not an image"]),
        (["attribute", "--attr", "class=1", "--balance-on", "class"], ["no combination of the --balance-on"]),
    ],
)
def test_algebra_bad_input(tmp_path, tiny_model_dir, args, words):
    (tmp_path / "empty").mkdir()
    p = run_vaelab(*[a.format(tmp=tmp_path) for a in args], "--model", tiny_model_dir, "--out", tmp_path / "o")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    for w in words:
        assert w in p.stderr
    assert not (tmp_path / "o").exists()


def test_blend_on_data_without_classes_clusters_it_and_draws_eigen_images(tmp_path):
    import torch
    from PIL import Image

    from vaelab.models.config import ModelConfig
    from vaelab.models.registry import build_model

    flat = tmp_path / "flat"
    flat.mkdir()
    rng = np.random.default_rng(0)
    for i in range(30):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(flat / f"{i}.png")
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=4, widths=(8,))).save_pretrained(
        tmp_path / "m",
        {"name": f"folder:{flat}", "channels": 1, "size": [28, 28], "background": 0, "class_names": None},
        onnx=False,
    )
    (tmp_path / "b").mkdir()  # an earlier blend of classes there, and a file of the user's
    for name in ("blend.png", "kmeans_confusion.csv", "notes.txt"):
        (tmp_path / "b" / name).write_text("old")
    p = run_vaelab("blend", "--model", model, "--eigen", "3", "--out", tmp_path / "b")
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in (tmp_path / "b").iterdir()) == [
        "eigen_images.png",
        "kmeans_centres.png",
        "kmeans_clusters.csv",
        "notes.txt",
    ]
    rows = (tmp_path / "b" / "kmeans_clusters.csv").read_text().splitlines()
    assert rows[0] == "cluster,images" and len(rows) == 9  # 8 clusters by default
    assert sum(int(r.split(",")[1]) for r in rows[1:]) == 27  # the 90 % training split of 30 images
    assert "no classes to blend; k-means with 8 clusters" in p.stdout
    p = run_vaelab("blend", "--model", model, "--classes", "a,b", "--out", tmp_path / "c")
    assert p.returncode == 2 and "leave out --classes and --weights to cluster" in p.stderr


def test_figures_name_folder_and_file_terms_by_their_own_names_with_sign_and_weight():
    from vaelab.tasks.concepts import Concept
    from vaelab.viz.algebra_figures import term_title

    def concept(label):
        return Concept(label, np.zeros((0, 1, 2, 2), np.uint8), np.zeros((1, 2)))

    assert concept("/tmp/me/photos/beach balls/").name == "beach balls"
    assert concept('["/tmp/me/a b.png" /tmp/c.jpg]').name == "[a b.png,c.jpg]"
    assert concept("class:Sneaker").name == "class:Sneaker"
    assert term_title(1.0, concept("/tmp/me/sunsets"), 0, 22) == "sunsets"
    assert term_title(-1.0, concept("/tmp/me/night sky"), 1, 22) == "− night sky"
    assert term_title(0.5, concept("class:Sneaker"), 2, 22) == "+ 0.5·class:Sneaker"


def test_attribute_file_names_keep_queries_apart_and_stay_short():
    from vaelab.tasks.attribute import MAX_SLUG, query_slug

    assert query_slug("gender=woman") == "gender=woman"
    assert query_slug("gender=woman|man") == "gender=woman-or-man" != query_slug("gender=woman,skin=none")
    names = [
        f"name={'|'.join(f'waving hand: {t} skin tone' for t in tones)}"
        for tones in (["light", "dark"] * 6, ["dark", "light"] * 6)
    ]
    slugs = [query_slug(n) for n in names]
    assert all(len(s.encode()) <= MAX_SLUG for s in slugs) and slugs[0] != slugs[1]  # cut, with a hash of the whole
    assert len(query_slug("名前=" + "猫" * 100).encode()) <= MAX_SLUG  # bytes, not characters


def test_an_attribute_strip_shows_the_input_first_under_a_title():
    from vaelab.viz.algebra_figures import strip_image

    edited = np.stack([np.full((3, 8, 8), v, np.float32) for v in (0.0, 0.5, 1.0)])
    original = np.zeros((3, 8, 8), np.float32)
    original[0] = 1.0  # red
    strip = strip_image(edited, [-1, 0, 1], scale=2, original=original, title="a.png along smile")
    assert strip.size == (16 + 12 + 3 * (16 + 4) + 4, 16 + 16 + 22)
    assert strip.getpixel((4 + 8, 16 + 4 + 8)) == (255, 0, 0)  # the input, first
    assert strip.getpixel((4 + 28 + 2 * 20 + 8, 16 + 4 + 8)) == (255, 255, 255)  # strength +1's tile
    assert np.asarray(strip)[:14].min() < 128  # the title is written above
    plain = strip_image(edited, [-1, 0, 1], scale=2)
    assert plain.size == (3 * 20 + 4, 16 + 22) and plain.getpixel((4 + 8, 4 + 8)) == (0, 0, 0)


def test_a_class_with_no_training_row_takes_the_mean_of_all_its_rows():
    from vaelab.latent.centroids import centroids_with_fallback

    codes = np.arange(24, dtype=float).reshape(8, 3)
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    idx = np.array([0, 1, 2, 3])  # class 2 has no row here (a set split by class)
    cents = centroids_with_fallback(lambda rows: codes[rows], labels, idx, 4)
    np.testing.assert_allclose(cents[:2], [codes[[0, 1]].mean(0), codes[[2, 3]].mean(0)])  # from idx only
    np.testing.assert_allclose(cents[2], codes[labels == 2].mean(0))  # every row of class 2
    assert np.isnan(cents[3]).all()  # no row anywhere


def test_only_the_expression_slot_of_arithmetic_is_shielded_from_argparse():
    from vaelab.cli import _join_negative_values, build_parser

    parser = build_parser()
    join = lambda *argv: _join_negative_values(list(argv), parser)  # noqa: E731
    assert join("arithmetic", "-1*class:Bag") == ["arithmetic", " -1*class:Bag"]
    assert join("--debug", "arithmetic", "--rescale", "--out", "o", "-1*class:Bag") == [
        "--debug",
        "arithmetic",
        "--rescale",
        "--out",
        "o",
        " -1*class:Bag",
    ]
    # option values and other commands are left as they are: argparse judges them
    assert join("arithmetic", "class:Bag", "--out", "-neg") == ["arithmetic", "class:Bag", "--out", "-neg"]
    assert join("arithmetic", "--model", "-x", "class:Bag") == ["arithmetic", "--model", "-x", "class:Bag"]
    assert join("morph", "-1*class:Bag") == ["morph", "-1*class:Bag"]
    assert join("arithmetic", "--", "-1*class:Bag") == ["arithmetic", "--", "-1*class:Bag"]
