"""`vaelab explore`: the latent maths (PCA through scikit-learn, histograms, KL, traversals) on planted data,
then the command end to end on tiny models, including the awkward ones (no class names, a latent of size
1 or 2, a plain autoencoder, no images at all)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from conftest import run_vaelab
from vaelab.latent.projection import fit_projection, plane_grid
from vaelab.latent.stats import active_units, kl_per_dimension, latent_histograms
from vaelab.latent.traversal import order_by, traversal_codes
from vaelab.tasks.explore import (
    CLASS_HISTOGRAMS,
    GIF_STEPS,
    INTERACTIVE,
    KL_BARS,
    OUTPUT_NAMES,
    SCATTER_2D,
    SCATTER_3D,
    SUMMARY,
    TRAVERSALS,
    explore,
)


def _quiet(*args, **kwargs):
    pass


def _planted(n=2000, d=10, seed=0):
    """Codes with variance 9, 4 and 1 along three known orthonormal directions, plus a little noise."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(d, 3)))
    coeffs = rng.normal(size=(n, 3)) * np.array([3.0, 2.0, 1.0])
    return coeffs @ basis.T + 0.01 * rng.normal(size=(n, d)) + 5.0, basis.T


# --- the latent maths ------------------------------------------------------------------------------------
def test_pca_projection_matches_scikit_learn_on_planted_data():
    from sklearn.decomposition import PCA

    x, directions = _planted()
    proj = fit_projection(x, 3)
    np.testing.assert_allclose(proj.transform(x), PCA(3, svd_solver="full").fit_transform(x), atol=1e-8)
    # the 2-D plot reuses the 3-D fit: the same as fitting two components
    np.testing.assert_allclose(proj.leading(2).transform(x), PCA(2, svd_solver="full").fit_transform(x), atol=1e-8)
    # it found the planted directions, in order of variance
    cos = np.abs(np.sum(proj.pca.components_ * directions, axis=1))
    assert np.all(cos > 0.999), cos
    np.testing.assert_allclose(proj.explained_variance_ratio, np.array([9, 4, 1]) / 14, atol=0.02)
    assert proj.axis_labels[0].startswith("PC1 (6")  # 9/14 ≈ 64% of the variance
    # plot coordinates map back to codes on the plane: the projection of each code, recovered
    back = proj.leading(2).to_latent(proj.leading(2).transform(x[:5]))
    np.testing.assert_allclose(proj.leading(2).transform(back), proj.leading(2).transform(x[:5]), atol=1e-9)


@pytest.mark.parametrize("d", [1, 2])
def test_a_latent_of_size_one_or_two_keeps_its_raw_axes(d):
    x = np.random.default_rng(0).normal(size=(100, d))
    proj = fit_projection(x, 3)
    assert proj.pca is None and proj.n_axes == d
    np.testing.assert_array_equal(proj.transform(x), x)
    assert proj.axis_labels == [f"z{i}" for i in range(d)]
    np.testing.assert_array_equal(proj.to_latent(x[:3]), x[:3])


def test_plane_grid_spans_the_central_range_top_row_first():
    coords = np.random.default_rng(0).uniform(-2, 2, size=(5000, 2))
    grid = plane_grid(coords, 5, quantile=0.0)
    assert grid.shape == (5, 5, 2)
    np.testing.assert_allclose(grid[0, 0], [coords[:, 0].min(), coords[:, 1].max()])
    np.testing.assert_allclose(grid[-1, -1], [coords[:, 0].max(), coords[:, 1].min()])


def test_histogram_counts_sum_to_n_overall_and_per_class():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1000, 4))
    z[:7, 0] = 50.0  # far outside the edges: counted in the end bins, not dropped
    labels = rng.integers(0, 3, 1000)
    hist = latent_histograms(z, labels, 3, edges=np.linspace(-4, 4, 17))
    assert hist.overall.shape == (4, 16) and hist.per_class.shape == (3, 4, 16)
    np.testing.assert_array_equal(hist.overall.sum(1), [1000] * 4)
    np.testing.assert_array_equal(hist.per_class.sum(0), hist.overall)
    np.testing.assert_array_equal(hist.per_class[:, 2].sum(1), np.bincount(labels, minlength=3))
    assert hist.overall[0, -1] >= 7
    inside = z[np.abs(z[:, 1]) < 4, 1]  # where nothing is clipped the counts are numpy's
    np.testing.assert_array_equal(hist.overall[1], np.histogram(inside, np.linspace(-4, 4, 17))[0])


def test_kl_per_dimension_matches_a_hand_computed_case():
    mu = np.array([[1.0, 0.0], [-1.0, 2.0]])
    logvar = np.array([[0.0, np.log(4.0)], [0.0, 0.0]])
    # dim 0: ½(1 + 1 − 1 − 0) = 0.5 for both images; dim 1: ½(0 + 4 − 1 − ln 4) and ½(4 + 1 − 1 − 0) = 2
    expected = [0.5, (0.5 * (3.0 - np.log(4.0)) + 2.0) / 2]
    np.testing.assert_allclose(kl_per_dimension(mu, logvar), expected, rtol=1e-12)
    assert kl_per_dimension(np.zeros((3, 5)), np.zeros((3, 5))).tolist() == [0.0] * 5  # the prior itself: 0
    assert active_units(np.array([0.5, 1.4, 0.009, 0.011])) == 3


def test_traversal_moves_one_dimension_from_minus_to_plus_span_sigma():
    center = np.arange(6, dtype=float)
    dims = order_by(np.array([0.1, 3.0, 0.0, 2.0, 0.5, 0.0]))
    assert dims.tolist() == [1, 3, 4, 0, 2, 5]  # most first, ties by index
    codes = traversal_codes(center, dims[:3], steps=7, span=3.0, sigma=np.full(6, 0.5))
    assert codes.shape == (3, 7, 6)
    for row, d in enumerate(dims[:3]):
        moved = codes[row] - center
        assert np.all(moved[:, np.arange(6) != d] == 0)
        np.testing.assert_allclose(moved[:, d], np.linspace(-1.5, 1.5, 7))


def test_traversal_grid_has_dims_times_steps_tiles():
    from vaelab.viz.traversals import PAD, traversal_grid

    images = np.random.default_rng(0).random((5, 9, 1, 28, 28)).astype(np.float32)
    grid = traversal_grid(images)
    assert grid.size == (9 * (28 + PAD) + PAD, 5 * (28 + PAD) + PAD)
    tile = np.asarray(grid)[PAD + 2 * (28 + PAD) :][:28, PAD + 4 * (28 + PAD) :][:, :28]  # row 2, column 4
    np.testing.assert_allclose(tile / 255.0, images[2, 4, 0], atol=0.5 / 255 + 1e-6)


def test_scatter_legend_names_the_classes_and_is_absent_without_them(monkeypatch, tmp_path):
    from vaelab.viz import latent_maps

    figures = []
    monkeypatch.setattr(latent_maps, "save_figure", lambda fig, path, **kw: figures.append(fig) or path)
    coords = np.random.default_rng(0).normal(size=(60, 2))
    latent_maps.plot_scatter_2d(
        coords, np.arange(60) % 3, ["bar", "column", "square"], ["x", "y"], tmp_path / "a.png", ""
    )
    latent_maps.plot_scatter_2d(coords, None, None, ["x", "y"], tmp_path / "b.png", "")
    legend = figures[0].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["bar", "column", "square"]
    assert figures[1].axes[0].get_legend() is None


# --- the command end to end --------------------------------------------------------------------------------
def _untrained_model(folder, toy_idx_dir, latent_dim=8, kind="vae-conv", class_names=("0", "1", "2")):
    """A model folder that is quick to make (no training, no ONNX): enough to draw every figure."""
    import torch

    from vaelab.models.config import ModelConfig
    from vaelab.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, latent_dim=latent_dim, widths=(8, 16), hidden=(64,)))
    spec = {
        "name": f"mnist:{toy_idx_dir}",
        "channels": 1,
        "size": [28, 28],
        "background": 0,
        "class_names": list(class_names) if class_names else None,
    }
    return model.save_pretrained(folder, spec, onnx=False)


def test_explore_writes_every_figure_and_its_kl_matches_the_training_evaluation(tiny_model_dir, tmp_path):
    out = tmp_path / "explore"
    result = explore(
        tiny_model_dir, out=out, split="test", max_points=50, steps=5, grid=4, map_size=4, log=_quiet, progress=False
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_NAMES)
    s = json.loads((out / SUMMARY).read_text())
    assert s == json.loads(json.dumps(result.summary))
    assert (s["encoded"], s["plotted"], s["latent_dim"], s["projection"]["method"]) == (60, 50, 8, "PCA")
    # The KL per dimension, summed, is the test KL that training recorded (both analytic, same images).
    recorded = json.loads((tiny_model_dir / "config.json").read_text())["metrics"]["test"]["kl"]
    assert s["kl_total"] == pytest.approx(recorded, rel=1e-4)
    assert s["active_units"] == sum(v > 0.01 for v in s["kl_per_dim"])
    assert s["dims_by_rank"] == sorted(range(8), key=lambda k: (-s["kl_per_dim"][k], k))
    # the means are the ONNX encoder's, the same as the public API gives
    import vaelab

    ds = vaelab.load_dataset(s["data"])
    z = vaelab.encode_images(tiny_model_dir, list(ds.images[ds.split("test")][:3]))
    np.testing.assert_allclose(result.survey.latents[:3], z, atol=1e-5)
    with Image.open(out / "traversals.gif") as gif:
        assert gif.n_frames == 2 * GIF_STEPS - 2  # forward and back, the ends not repeated
    with Image.open(out / TRAVERSALS) as png:
        assert png.width > 5 * 28 and png.height > 8 * 28
    with Image.open(out / "reconstructions.png") as png:  # 4 wide, 2 blocks of inputs over decodings
        assert png.size[0] == 4 * (28 * 3 + 2 * 3) + 2 * 3 and png.height > 4 * 28 * 3
    page = (out / INTERACTIVE).read_text()
    assert "Plotly.newPlot" in page and "scatter3d" in page and "data:image/png;base64," in page
    assert not re.search(r"""<script[^>]*\ssrc=""", page)  # plotly.js is inline, not from its CDN


def test_explore_computes_without_writing_and_write_explore_writes_what_explore_with_an_out_folder_does(
    tiny_model_dir, tmp_path, monkeypatch
):
    from vaelab.tasks.explore import write_explore

    monkeypatch.chdir(tmp_path)
    kw = dict(split="test", max_points=40, steps=3, grid=2, map_size=3, seed=3, log=_quiet, progress=False)
    result = explore(tiny_model_dir, **kw)
    assert list(tmp_path.iterdir()) == [] and result.out is None and result.files == {}
    assert result.pictures.traversals.shape[:2] == (8, 3) and result.pictures.decoded_map.shape[:2] == (3, 3)
    files = write_explore(result, tmp_path / "later")
    assert sorted(files) == sorted(OUTPUT_NAMES) and result.files == files and result.out == tmp_path / "later"
    assert json.loads((tmp_path / "later" / SUMMARY).read_text()) == json.loads(json.dumps(result.summary))
    explore(tiny_model_dir, out=tmp_path / "at-once", **kw)
    for name in ("reconstructions.png", "samples.png", "traversals.gif", TRAVERSALS):
        assert (tmp_path / "later" / name).read_bytes() == (tmp_path / "at-once" / name).read_bytes(), name


def test_explore_cli_prints_where_the_files_went(tiny_model_dir, tmp_path):
    out = tmp_path / "cli"
    proc = run_vaelab(
        "explore",
        "--model",
        tiny_model_dir,
        "--out",
        out,
        "--max-points",
        "40",
        "--steps",
        "3",
        "--grid",
        "2",
        "--map-size",
        "3",
        "--center",
        "5",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout and "360 " in proc.stdout and "40 plotted" in proc.stdout
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["traversal"]["center"] == "image #5"
    from vaelab.cli.explore import SAMPLED_FROM

    # the line says where samples.png's samples come from, as summary.json does (this folder has no density)
    assert summary["samples"] == "prior" and "samples from the prior N(0, I)" in proc.stdout
    assert set(SAMPLED_FROM) == {"prior", "density", "codes"}


def test_a_model_without_class_names_gets_plots_without_a_legend(tmp_path, toy_idx_dir):
    folder = _untrained_model(tmp_path / "m", toy_idx_dir, class_names=None)
    flat = tmp_path / "flat"
    flat.mkdir()
    from conftest import toy_images

    for i, img in enumerate(toy_images(12, seed=3)[0]):
        Image.fromarray(img).save(flat / f"{i}.png")
    result = explore(
        folder,
        data=f"folder:{flat}",
        out=tmp_path / "out",
        max_points=100,
        steps=3,
        grid=2,
        map_size=3,
        log=_quiet,
        progress=False,
    )
    assert result.summary["class_names"] is None and result.survey.labels is None
    assert CLASS_HISTOGRAMS not in result.files and SCATTER_2D in result.files
    assert '"showlegend":false' in (tmp_path / "out" / INTERACTIVE).read_text().replace(" ", "")


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_a_latent_of_size_one_or_two_is_plotted_on_its_raw_axes(tmp_path, toy_idx_dir, monkeypatch, latent_dim):
    from vaelab.viz import latent_maps

    drawn = {}
    real = latent_maps.plot_scatter_2d
    monkeypatch.setattr(
        latent_maps,
        "plot_scatter_2d",
        lambda coords, *a, **k: drawn.setdefault("coords", coords) is None or real(coords, *a, **k),
    )
    folder = _untrained_model(tmp_path / "m", toy_idx_dir, latent_dim=latent_dim)
    result = explore(
        folder, out=tmp_path / "out", max_points=100, steps=3, grid=2, map_size=3, log=_quiet, progress=False
    )
    assert result.summary["projection"] == {"method": "raw axes", "method_3d": None, "explained_variance_ratio": None}
    assert SCATTER_3D not in result.files and INTERACTIVE in result.files
    sv = result.survey
    np.testing.assert_allclose(drawn["coords"][:, 0], sv.latents[sv.plotted, 0])  # x is z0 itself
    if latent_dim == 2:
        np.testing.assert_allclose(drawn["coords"][:, 1], sv.latents[sv.plotted, 1])
    else:  # one dimension: the classes spread along y
        np.testing.assert_allclose(np.round(drawn["coords"][:, 1]), sv.labels[sv.plotted])
    assert '"type":"scatter"' in (tmp_path / "out" / INTERACTIVE).read_text().replace(" ", "")


def test_a_plain_autoencoder_has_no_kl_chart_and_ranks_dimensions_by_variance(tmp_path, toy_idx_dir):
    folder = _untrained_model(tmp_path / "ae", toy_idx_dir, latent_dim=4, kind="ae-mlp")
    result = explore(
        folder, out=tmp_path / "out", max_points=100, steps=3, grid=2, map_size=3, log=_quiet, progress=False
    )
    s = result.summary
    assert not s["variational"] and s["kl_per_dim"] is None and KL_BARS not in result.files
    variance = result.survey.latents.var(0)
    assert s["dims_by_rank"] == np.argsort(-variance, kind="stable").tolist()
    assert s["traversal"]["center"] == "the mean code"  # not the origin of a prior it does not have
    from vaelab.tasks.report import build_report

    page = build_report(
        folder, out=tmp_path / "ae.html", max_points=50, frames=3, progress=False, log=_quiet
    ).read_text(encoding="utf-8")
    for vae_only in ("β (KL weight)", "free bits", "KL warm-up", "ordered by KL", "against the N(0, 1) prior"):
        assert vae_only not in page, vae_only
    assert "ordered by variance" in page and "σ of its codes" in page


def test_rerunning_into_the_same_folder_drops_figures_this_run_does_not_make(tmp_path, toy_idx_dir):
    out = tmp_path / "out"
    explore(
        _untrained_model(tmp_path / "a", toy_idx_dir, latent_dim=4),
        out=out,
        max_points=50,
        steps=3,
        grid=2,
        map_size=3,
        log=_quiet,
        progress=False,
    )
    assert (out / SCATTER_3D).is_file()
    explore(
        _untrained_model(tmp_path / "b", toy_idx_dir, latent_dim=2),
        out=out,
        max_points=50,
        steps=3,
        grid=2,
        map_size=3,
        log=_quiet,
        progress=False,
    )
    assert not (out / SCATTER_3D).exists()  # a 3-D picture of the other model would mislead
    assert not list(tmp_path.glob(".out.tmp-*"))


@pytest.mark.parametrize("case", ["empty-folder", "empty-split"])
def test_no_images_is_a_one_line_error(tiny_model_dir, tmp_path, case):
    data = tmp_path / "data"
    data.mkdir()
    args = ["explore", "--model", tiny_model_dir, "--data", f"folder:{data}", "--out", tmp_path / "out"]
    if case == "empty-split":  # one image: the fixed 90/10 split leaves the test split empty
        Image.new("L", (28, 28)).save(data / "only.png")
        args += ["--split", "test"]
    proc = run_vaelab(*args)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("vaelab: error:") and "Traceback" not in proc.stderr
    assert ("no images" in err) if case == "empty-folder" else ("holds 0 images" in err and "at least 3" in err)
    assert not (tmp_path / "out").exists()


def test_traversal_centre_is_the_origin_the_mean_an_index_or_an_image_file(tiny_model_dir, tmp_path):
    import vaelab
    from vaelab.errors import VaelabError
    from vaelab.tasks.explore import traversal_center

    m = vaelab.open_model(tiny_model_dir)
    z = np.random.default_rng(0).normal(size=(10, 8))
    assert traversal_center("origin", z, m)[0].tolist() == [0.0] * 8
    np.testing.assert_allclose(traversal_center("mean", z, m)[0], z.mean(0))
    code, text = traversal_center(-1, z, m)
    assert text == "image #9" and np.array_equal(code, z[9])
    png = tmp_path / "bar.png"
    from conftest import toy_images

    Image.fromarray(toy_images(1, seed=1)[0][0]).save(png)
    code, text = traversal_center(str(png), z, m)
    assert text == "bar.png"
    np.testing.assert_allclose(code, vaelab.encode_images(tiny_model_dir, [png])[0], atol=1e-6)
    for bad in ("10", "orign"):
        with pytest.raises(VaelabError):
            traversal_center(bad, z, m)


def test_a_3d_latent_is_drawn_on_its_raw_axes_in_3d_and_pca_in_2d_and_the_summary_says_which(tmp_path, toy_idx_dir):
    folder = _untrained_model(tmp_path / "m", toy_idx_dir, latent_dim=3)
    result = explore(
        folder, out=tmp_path / "out", max_points=100, steps=3, grid=2, map_size=3, log=_quiet, progress=False
    )
    p = result.summary["projection"]
    assert (p["method"], p["method_3d"]) == ("PCA", "raw axes")
    from sklearn.decomposition import PCA

    expected = PCA(2).fit(result.survey.latents.astype(np.float64)).explained_variance_ratio_
    np.testing.assert_allclose(p["explained_variance_ratio"], expected, rtol=1e-6)  # the 2-D PCA's, not None


@pytest.mark.parametrize("n_images", [1, 2])
def test_explore_on_fewer_than_three_images_is_one_clear_error(tmp_path, toy_idx_dir, n_images):
    from PIL import Image

    from vaelab.errors import VaelabError

    folder = tmp_path / "few"
    folder.mkdir()
    for i in range(n_images):
        Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(folder / f"{i}.png")
    model = _untrained_model(tmp_path / "m", toy_idx_dir)
    with pytest.raises(VaelabError, match=f"holds {n_images} image.*at least 3"):
        explore(model, data=f"folder:{folder}", out=tmp_path / "out", split="all", log=_quiet, progress=False)
    assert not (tmp_path / "out").exists()


def test_a_traversal_figure_can_show_the_input_it_traverses_around(tmp_path, monkeypatch):
    from vaelab.viz import traversals

    images = np.random.default_rng(0).random((3, 5, 1, 8, 8))
    source = np.full((1, 8, 8), 0.25)
    seen = {}
    real = traversals.traversal_grid
    monkeypatch.setattr(
        traversals, "traversal_grid", lambda imgs, *a, **k: seen.setdefault("g", imgs) is None or real(imgs, *a, **k)
    )
    traversals.plot_traversals(images, ["a", "b", "c"], np.linspace(-2, 2, 5), tmp_path / "t.png", "t", source=source)
    grid = seen["g"]
    assert grid.shape == (3, 6, 1, 8, 8)  # one column more, first
    np.testing.assert_array_equal(grid[0, 0], source)
    assert (grid[1:, 0] == 1).all() and np.array_equal(grid[:, 1:], images)  # white below it; the rest as given
