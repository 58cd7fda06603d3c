"""The evaluator classifier: it learns, it saves as config.json + safetensors, and `vaelab evaluate` and
`vaelab train-evaluator` work end to end and fail cleanly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import fashion_mnist_available, run_vaelab, write_omniglot
from vaelab.cli import main
from vaelab.data.dataset import ImageDataset
from vaelab.data.loaders import load_dataset
from vaelab.errors import VaelabError
from vaelab.models.classifier import DEFAULT_EVALUATOR, load_evaluator
from vaelab.training.classifier import ClassifierTrainConfig, classifier_accuracy, train_classifier


@pytest.fixture(scope="module")
def toy(toy_idx_dir):
    return load_dataset(f"mnist:{toy_idx_dir}")


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluator") / "ev"
    model, history = train_classifier(
        toy, out, ClassifierTrainConfig(epochs=2, batch_size=32, log_every=2, device="cpu"), progress=False
    )
    return out, model, history


def test_evaluator_training_lowers_its_loss_and_learns_the_classes(trained):
    _, _, history = trained
    losses = history["step_loss"]
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    assert history["epochs"][1]["train_loss"] < history["epochs"][0]["train_loss"]
    assert history["test_accuracy"] >= 0.9  # bar, column and square are easy to tell apart


def test_evaluator_training_is_seeded(toy):
    cfg = ClassifierTrainConfig(epochs=1, batch_size=64, device="cpu")
    a, _ = train_classifier(toy, None, cfg, progress=False)
    b, _ = train_classifier(toy, None, cfg, progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_evaluator_saves_like_a_model_and_loads_back_the_same(trained, toy):
    out, model, history = trained
    # the evaluator's folder, and the run's files beside it; the checkpoint loads with weights_only (no pickle)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "config.json",
        "features.onnx",
        "loss_curve.png",
        "metrics.jsonl",
        "model.safetensors",
    ]
    doc = json.loads((out / "config.json").read_text())
    assert doc["kind"] == "evaluator-cnn" and doc["evaluator"]["num_classes"] == 3
    assert doc["metrics"]["test_accuracy"] == history["test_accuracy"]
    loaded = load_evaluator(out)
    x = torch.from_numpy(toy.images[:16]).float() / 255
    assert torch.equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.data_spec["class_names"] == toy.class_names
    # features.onnx: the hidden layer standardised by the test images, as the realism numbers compute it
    from vaelab.metrics.realism import evaluator_features, standardise
    from vaelab.models.perceptual import FeatureSpace

    test = toy.images[toy.split("test")]
    want = standardise(evaluator_features(model, test), evaluator_features(model, toy.images[:16]))[1]
    np.testing.assert_allclose(FeatureSpace(out).features(toy.images[:16]), want, atol=1e-4)


def test_a_vae_folder_is_not_an_evaluator(tiny_model_dir):
    with pytest.raises(VaelabError, match="not an evaluator"):
        load_evaluator(tiny_model_dir)


def test_a_set_split_by_class_cannot_train_or_feed_an_evaluator(tmp_path, trained):
    from vaelab.metrics.evaluate import check_evaluator

    ds = load_dataset(f"omniglot:{write_omniglot(tmp_path / 'omni')}")
    assert ds.split_by_class()
    with pytest.raises(VaelabError, match="split by class"):
        train_classifier(ds, None, ClassifierTrainConfig(epochs=1))
    with pytest.raises(VaelabError, match="--evaluator none"):
        check_evaluator(trained[1], ds)
    ds.train_idx = np.arange(len(ds))  # once a test character is also trained on, the classes are shared
    assert not ds.split_by_class()


def test_an_evaluator_and_a_vae_never_overwrite_each_other(tmp_path, toy, tiny_model_dir, trained):
    import shutil

    from vaelab.models.config import ModelConfig
    from vaelab.training.config import TrainConfig
    from vaelab.training.vae import train

    vae = shutil.copytree(tiny_model_dir, tmp_path / "vae")
    before = (vae / "model.safetensors").read_bytes()
    with pytest.raises(VaelabError, match="holds a vae-conv model"):
        train_classifier(toy, vae, ClassifierTrainConfig(epochs=1))
    assert (vae / "model.safetensors").read_bytes() == before
    evaluator = shutil.copytree(trained[0], tmp_path / "ev")
    with pytest.raises(VaelabError, match="holds an evaluator"):
        train(ModelConfig(latent_dim=4, widths=(8,)), toy, evaluator, TrainConfig(epochs=1), progress=False)
    assert load_evaluator(evaluator).cfg.num_classes == 3


def test_unlabelled_data_cannot_train_an_evaluator():
    ds = ImageDataset(images=np.zeros((10, 1, 28, 28), np.uint8))
    with pytest.raises(VaelabError, match="no labels"):
        train_classifier(ds, None, ClassifierTrainConfig(epochs=1))


@pytest.mark.skipif(not fashion_mnist_available(), reason="needs Debian's dataset-fashion-mnist")
def test_shipped_evaluator_reaches_90_percent_on_fashion_mnist():
    ds = load_dataset("fashion-mnist")
    test = ds.split("test")
    assert classifier_accuracy(load_evaluator(DEFAULT_EVALUATOR), ds.images[test], ds.labels[test]) >= 0.90


# --- the CLI ---------------------------------------------------------------------------------------------


def test_train_evaluator_command_writes_a_loadable_evaluator(tmp_path, toy_idx_dir, capsys):
    out = tmp_path / "ev"
    assert (
        main(
            [
                "train-evaluator",
                "--data",
                f"mnist:{toy_idx_dir}",
                "--epochs",
                "1",
                "--batch-size",
                "32",
                "--out",
                str(out),
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "test accuracy" in capsys.readouterr().out
    assert load_evaluator(out).cfg.num_classes == 3


def test_evaluate_command_prints_a_table_and_writes_eval_json(tmp_path, tiny_model_dir, toy_idx_dir, trained, capsys):
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(tiny_model_dir),
                "--data",
                f"mnist:{toy_idx_dir}",
                "--evaluator",
                str(trained[0]),
                "--k",
                "20",
                "--iwae-images",
                "10",
                "--pairs",
                "8",
                "--frames",
                "5",
                "--prior-samples",
                "50",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    for words in ("-ELBO", "-IWAE, k=20", "PSNR", "SSIM", "semantic fidelity", "prior samples", "slerp", "cdf",
                  "sharpness", "edge fidelity", "KID, reconstructions", "KID, midpoints"):  # fmt: skip
        assert words in table
    report = json.loads((out / "eval.json").read_text())
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    from vaelab.models.config import weights_id

    assert report["model"]["weights"] == weights_id(tiny_model_dir) != ""  # report checks eval.json against it
    assert report["iwae"]["k"] == 20 and report["iwae"]["n"] == 10
    assert report["iwae"]["neg_iwae"] < report["iwae"]["neg_elbo_same_images"]
    assert 0 < report["fidelity"]["fidelity"] <= 1.5
    assert set(report["prior_samples"]["histogram"]) == {"0", "1", "2"}
    realism = report["realism"]  # in the evaluator's hidden features, against the test images
    assert realism["features"] == 128 and realism["prior_samples"]["n"] == 50
    # a toy VAE of three epochs decodes images far from the data, in every set
    assert all(
        realism[k]["kid"] > 0.1 and realism[k]["fd"] > 1 for k in ("reconstructions", "prior_samples", "midpoints")
    )
    assert realism["prior_samples"]["subset_size"] == 50  # each subset takes every one of the 50 samples
    assert 0 < report["reconstruction"]["sharpness"] < float("inf")  # the toy's flat shapes hold little detail
    assert 0 < report["reconstruction"]["edge_fidelity"] < 1
    from vaelab.metrics.evaluate import format_report

    del report["reconstruction"]["edge_fidelity"]  # as an eval.json written before it was measured
    older = next(line for line in format_report(report).splitlines() if "edge fidelity" in line)
    assert older.split()[3] == "—"
    slerp = report["interpolation"]["slerp"]
    assert len(slerp["target_prob_curve"]) == 5 and slerp["target_prob_mid"] == pytest.approx(
        slerp["target_prob_curve"][2]
    )
    # the model's own data is the default; with an even number of frames, t = 0.5 lies between the middle two
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(tiny_model_dir),
                "--evaluator",
                str(trained[0]),
                "--k",
                "2",
                "--iwae-images",
                "4",
                "--limit",
                "20",
                "--pairs",
                "6",
                "--frames",
                "6",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    curves = [
        m
        for m in json.loads((out / "eval.json").read_text())["interpolation"].values()
        if isinstance(m, dict) and "target_prob_mid" in m
    ]
    assert curves and all(m["target_prob_mid"] == pytest.approx(np.mean(m["target_prob_curve"][2:4])) for m in curves)


@pytest.mark.parametrize(
    "case",
    ["vae-as-evaluator", "wrong-size-evaluator", "other-classes-evaluator", "same-count-other-names", "no-model"],
)
def test_evaluate_bad_input_is_one_line_and_exit_2(case, tmp_path, tiny_model_dir, trained):
    if case == "vae-as-evaluator":
        proc = run_vaelab("evaluate", "--model", tiny_model_dir, "--evaluator", tiny_model_dir)
        words = ["not an evaluator"]
    elif case == "wrong-size-evaluator":
        from vaelab.models.classifier import EvaluatorCNN, EvaluatorConfig

        EvaluatorCNN(EvaluatorConfig(height=32, width=32, num_classes=3)).save_pretrained(tmp_path / "ev32", {})
        proc, words = run_vaelab("evaluate", "--model", tiny_model_dir, "--evaluator", tmp_path / "ev32"), ["32×32"]
    elif case == "other-classes-evaluator":
        from vaelab.models.classifier import EvaluatorCNN, EvaluatorConfig

        EvaluatorCNN(EvaluatorConfig(num_classes=10)).save_pretrained(tmp_path / "ev10", {})
        proc, words = (
            run_vaelab("evaluate", "--model", tiny_model_dir, "--evaluator", tmp_path / "ev10"),
            ["10 classes"],
        )
    elif case == "same-count-other-names":  # three classes, like the tiny model's data, but not its 0, 1, 2
        from vaelab.models.classifier import EvaluatorCNN, EvaluatorConfig

        EvaluatorCNN(EvaluatorConfig(num_classes=3)).save_pretrained(
            tmp_path / "ev3", {"class_names": ["cat", "dog", "owl"]}
        )
        proc = run_vaelab("evaluate", "--model", tiny_model_dir, "--evaluator", tmp_path / "ev3")
        words = ["other classes", "'cat'"]
    else:
        proc, words = run_vaelab("evaluate", "--model", tmp_path / "nothing"), ["no such model folder"]
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("vaelab: error:")
    assert all(w in err for w in words), err


def test_random_pairs_are_distinct_and_no_more_than_there_are():
    from vaelab.metrics.paths import random_pairs

    few = random_pairs(5, 100, np.random.default_rng(0))
    assert len(few) == 10 and len({tuple(sorted(p)) for p in few.tolist()}) == 10 and (few[:, 0] != few[:, 1]).all()
    many = random_pairs(300, 100, np.random.default_rng(0))
    assert many.shape == (100, 2) and len(np.unique(many)) == 200  # disjoint when there are enough images
    assert many.tolist() == np.random.default_rng(0).permutation(300)[:200].reshape(100, 2).tolist()
    wide = random_pairs(6000, 3001, np.random.default_rng(0))  # too many pairs to list: drawn, none repeated
    assert len(wide) == 3001 and len({tuple(p) for p in wide.tolist()}) == 3001 and (wide[:, 0] != wide[:, 1]).all()
