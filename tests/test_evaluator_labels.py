"""An evaluator trained on a column of the attribute table (`train-evaluator --label`, emoji's Unicode subgroup):
the relabelling, its rare values, the recorded label, and `evaluate` labelling its data the same way."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vaelab.cli import main
from vaelab.data.dataset import OTHER_CLASS, ImageDataset
from vaelab.errors import VaelabError
from vaelab.metrics.evaluate import check_evaluator, labelled_for
from vaelab.models.classifier import EvaluatorCNN, EvaluatorConfig, load_evaluator


def _kinds() -> ImageDataset:
    """Train: dog ×8, cat ×10, owl ×3, emu ×9; test: cat ×2, dog ×1, owl ×1 (no emu)."""
    train = ["dog"] * 8 + ["cat"] * 10 + ["owl"] * 3 + ["emu"] * 9
    kinds = np.array(train + ["cat", "cat", "dog", "owl"])
    n = len(kinds)
    return ImageDataset(
        images=np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(4, 2).repeat(4, 3),
        labels=np.zeros(n, np.int64),
        class_names=["animal", "plant"],
        attributes={"kind": kinds, "legs": np.where(kinds == "owl", 2, 4)},
        train_idx=np.arange(len(train)),
        test_idx=np.arange(len(train), n),
        name="zoo",
    )


def test_labelling_by_a_column_gives_its_values_as_classes_in_the_order_they_first_occur():
    ds = _kinds()
    by_kind = ds.labelled_by("kind")
    assert by_kind.class_names == ["dog", "cat", OTHER_CLASS]
    names = np.array(by_kind.class_names)[by_kind.labels]
    kinds = ds.attributes["kind"]
    assert (names[np.isin(kinds, ["cat", "dog"])] == kinds[np.isin(kinds, ["cat", "dog"])]).all()
    assert by_kind.label_source == "kind" and by_kind.spec()["label"] == "kind"
    assert by_kind.images is ds.images and (by_kind.test_idx == ds.test_idx).all()  # same images, same split
    assert ds.class_names == ["animal", "plant"] and ds.spec()["label"] is None  # the original is untouched


def test_rare_values_and_values_missing_from_the_test_split_share_the_other_class():
    by_kind = _kinds().labelled_by("kind")
    other = by_kind.class_names.index(OTHER_CLASS)
    kinds = by_kind.attributes["kind"]
    # owl: 3 training images, too few to learn; emu: 9, but no test image could score it
    assert (by_kind.labels[np.isin(kinds, ["owl", "emu"])] == other).all()
    assert (by_kind.labels[~np.isin(kinds, ["owl", "emu"])] != other).all()
    assert _kinds().labelled_by("kind", min_train=3).class_names == ["dog", "cat", "owl", OTHER_CLASS]
    assert _kinds().labelled_by("legs", min_train=3).class_names == ["2", "4"]  # numbers in order; none rare


def test_given_classes_label_every_image_whatever_the_split():
    ds = _kinds()
    ds.use_split(ds.test_idx, ds.train_idx)  # the counts would now give other classes
    again = ds.labelled_by("kind", classes=["dog", "cat", OTHER_CLASS])
    assert again.class_names == ["dog", "cat", OTHER_CLASS]
    assert (again.labels == _kinds().labelled_by("kind").labels).all()
    with pytest.raises(VaelabError, match="'emu' is none of the classes"):
        ds.labelled_by("kind", classes=["dog", "cat", "owl"])


def test_a_column_that_gives_fewer_than_two_classes_is_refused():
    with pytest.raises(VaelabError, match="fewer than 2 classes"):
        _kinds().labelled_by("kind", min_train=11)


def test_an_unknown_column_names_the_likeliest_one_meant():
    with pytest.raises(VaelabError, match=r"no attribute column 'knd' \(did you mean 'kind'\?\); it has: kind, legs"):
        _kinds().labelled_by("knd")
    plain = ImageDataset(images=np.zeros((4, 1, 2, 2), np.uint8))
    with pytest.raises(VaelabError, match="no attribute table"):
        plain.labelled_by("kind")


def test_evaluate_labels_its_data_as_the_evaluator_was_trained():
    ds = _kinds()
    trained_on = ds.labelled_by("kind")
    evaluator = EvaluatorCNN(EvaluatorConfig(channels=1, height=4, width=4, num_classes=3))
    evaluator.data_spec = trained_on.spec()
    with pytest.raises(VaelabError, match="knows 3 classes"):  # the data's own labels are not its classes
        check_evaluator(evaluator, ds)
    judged = labelled_for(evaluator, ds)
    check_evaluator(evaluator, judged)
    assert (judged.labels == trained_on.labels).all()
    evaluator.data_spec = {**trained_on.spec(), "label": "colour"}
    with pytest.raises(VaelabError, match="'colour', a column zoo lacks"):
        labelled_for(evaluator, ds)
    evaluator.data_spec = ds.spec()  # trained on the data's own labels: nothing to do
    assert labelled_for(evaluator, ds) is ds


# --- the CLI ---------------------------------------------------------------------------------------------


def test_train_evaluator_label_records_the_column_and_its_classes(tmp_path, capsys):
    out = tmp_path / "ev"
    args = ["train-evaluator", "--data", "sprites:300", "--label", "shape", "--epochs", "1", "--batch-size", "64"]
    assert main([*args, "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    assert "4 classes of shape" in capsys.readouterr().out
    doc = json.loads((out / "config.json").read_text())
    assert doc["data"]["label"] == "shape" and doc["data"]["class_names"] == ["0", "1", "2", "3"]
    assert load_evaluator(out).data_spec["label"] == "shape" and doc["evaluator"]["num_classes"] == 4


def test_train_evaluator_refuses_an_unknown_column_in_one_line(tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["train-evaluator", "--data", "sprites:20", "--label", "colr", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("vaelab: error:") and "Traceback" not in err
    assert "no attribute column 'colr' (did you mean 'colour'?)" in err
    assert not out.exists()


def test_the_shipped_emoji_evaluator_is_emojis_default_and_judges_its_subgroups():
    from vaelab.models.classifier import default_evaluator_for

    evaluator = default_evaluator_for("emoji")
    assert evaluator is not None and evaluator.data_spec["label"] == "subgroup"
    names = evaluator.data_spec["class_names"]
    assert len(names) == evaluator.cfg.num_classes > 9 and names[-1] == "(other)"  # finer than the 9 groups
    assert (evaluator.cfg.height, evaluator.cfg.width) == (64, 64)
    assert default_evaluator_for("emoji:32") is None and default_evaluator_for(None) is None


def test_the_histogram_line_names_every_class_of_a_small_set_and_the_commonest_of_a_large_one():
    from vaelab.metrics.evaluate import HISTOGRAM_SHOWN, histogram_line

    small = {"Bag": 0.25, "Shirt": 0.75}
    assert histogram_line(small) == "Bag 25.0%, Shirt 75.0%"  # in the classes' own order
    large = {f"c{i}": (i + 1) / sum(range(1, 31)) for i in range(30)}
    line = histogram_line(large)
    assert line.startswith("c29 ") and line.count("%,") == HISTOGRAM_SHOWN - 1
    shown = sum(large[f"c{i}"] for i in range(30 - HISTOGRAM_SHOWN, 30))
    assert line.endswith(f"the other {30 - HISTOGRAM_SHOWN} classes {1 - shown:.1%} (eval.json has each)")
