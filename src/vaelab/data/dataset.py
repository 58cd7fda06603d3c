"""The one dataset type every loader returns: uint8 images, optional labels and attributes, a fixed split."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace

import numpy as np

from vaelab.errors import VaelabError, did_you_mean

MIN_CLASS_TRAIN = 8  # training images a value needs to become a class of its own in labelled_by
OTHER_CLASS = "(other)"  # the class labelled_by gives the rarer values


@dataclass
class ImageDataset:
    """Images as uint8 (N, C, H, W) with optional labels, class names and an attribute table.

    The images stay a numpy array so that inference (morph, centroids) never needs torch;
    ``torch.from_numpy(ds.images)`` is a zero-copy uint8 tensor for training.
    ``train_idx``/``test_idx`` index the split; loaders with an official split fill them, the others get a
    fixed-seed random one from :meth:`with_random_split`.
    """

    images: np.ndarray
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    train_idx: np.ndarray | None = None
    test_idx: np.ndarray | None = None
    name: str = "dataset"
    background: int = 0  # the value alpha is composited onto and images are padded with (0..255)
    train_limit: int | None = None  # set by limit_train: training used only the first N training images
    split_source: str | None = None  # who made a split that loading ``name`` does not give (see use_split)
    dropped: np.ndarray | None = None  # the training images limit_train left out
    label_source: str | None = None  # the attribute column the labels come from (see labelled_by); None: the loader's

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {self.images.shape}")
        n = len(self.images)
        if n == 0:
            raise VaelabError(f"dataset {self.name!r} holds no images")
        if self.labels is not None and len(self.labels) != n:
            raise ValueError("labels and images differ in length")
        for key, col in self.attributes.items():
            if len(col) != n:
                raise ValueError(f"attribute {key!r} differs in length from images")
        if self.train_idx is None:
            self.with_random_split()
        else:
            self.use_split(
                self.train_idx, self.test_idx if self.test_idx is not None else np.zeros(0, np.int64), self.split_source
            )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        return self.images.shape[2], self.images.shape[3]

    def with_random_split(self, test_fraction: float = 0.1, seed: int = 0) -> ImageDataset:
        """Split by a fixed-seed permutation, so that every run and every tool sees the same test set."""
        perm = np.random.default_rng(seed).permutation(len(self))
        n_test = max(1, int(round(len(self) * test_fraction))) if len(self) > 1 else 0
        self.test_idx, self.train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])
        return self

    def use_split(self, train_idx, test_idx, source: str | None = None) -> ImageDataset:
        """Set the split to these indices, refusing one that leaves no training or no test image (a set of
        one image is the exception: it can only be trained on). ``source`` names whatever made a split that
        loading the data again will not give; spec() records it, so that ``vaelab train --resume`` refuses to
        go on with the loader's split instead."""
        train_idx, test_idx = np.asarray(train_idx, np.int64), np.asarray(test_idx, np.int64)
        if len(self) > 1 and not (len(train_idx) and len(test_idx)):
            raise VaelabError(
                f"the split of {self.name} leaves {len(train_idx)} training and {len(test_idx)} test "
                "images; both need at least one"
            )
        self.train_idx, self.test_idx, self.split_source = train_idx, test_idx, source
        return self

    def split(self, which: str) -> np.ndarray:
        """Indices of 'train', 'test' or 'all' (after :meth:`limit_train`, 'all' leaves out what it dropped)."""
        if which == "train":
            return self.train_idx
        if which == "test":
            return self.test_idx
        if which == "all":  # every image, less the training images a limit left out
            return np.arange(len(self)) if self.dropped is None else np.setdiff1d(np.arange(len(self)), self.dropped)
        raise ValueError(f"unknown split {which!r}")

    def split_by_class(self) -> bool:
        """True when no test image's class occurs among the training images (Omniglot's evaluation
        alphabets, Reed's test characters): a classifier trained on this set cannot be scored on its test split."""
        if self.labels is None or not len(self.test_idx):
            return False
        return not np.isin(self.labels[self.test_idx], self.labels[self.train_idx]).any()

    def class_index(self, name: str) -> int:
        """The label of a class name; the error lists the names there are."""
        if not self.class_names:
            raise VaelabError(f"dataset {self.name!r} has no class names")
        if name in self.class_names:
            return self.class_names.index(name)
        lowered = [c.lower() for c in self.class_names]
        if name.lower() in lowered:
            return lowered.index(name.lower())
        raise VaelabError(
            f"unknown class {name!r}{did_you_mean(name, self.class_names)}; {self.name} has: "
            + ", ".join(self.class_names)
        )

    def limit_train(self, n: int) -> None:
        """Keep the first ``n`` training images only; spec() records n, so that a resumed run keeps it too."""
        left_out = self.train_idx[n:]
        self.dropped = left_out if self.dropped is None else np.union1d(self.dropped, left_out)
        self.train_idx = self.train_idx[:n]
        self.train_limit = n

    def spec(self) -> dict:
        """What a model must remember of its data to preprocess new images the same way (and, after
        limit_train, to train on the same images again)."""
        return {
            "name": self.name,
            "channels": self.channels,
            "size": list(self.size),
            "background": self.background,
            "class_names": self.class_names,
            "limit": self.train_limit,  # None: every training image
            "split": self.split_source,  # None: the loader's own split
            "label": self.label_source,  # None: the loader's own labels
        }

    def labelled_by(
        self, column: str, min_train: int = MIN_CLASS_TRAIN, classes: list[str] | None = None
    ) -> ImageDataset:
        """A copy whose labels are the values of attribute ``column`` (images, attributes and split shared).

        The classes are the column's values, numbers in ascending order and text in the order it first occurs.
        A value becomes a class when at least ``min_train`` training images and one test image hold it: a
        classifier cannot learn a class of a few images, nor be scored on one the test split lacks. The rarer
        values share the last class, OTHER_CLASS, so that every image keeps a label and the test split stays
        whole. ``classes`` (an evaluator's recorded class names) fixes the classes instead.
        """
        col = self.attribute_column(column)
        values = col.astype(str)
        if classes is None:
            kept, counts = np.unique(values[self.train_idx], return_counts=True)
            kept = set(kept[counts >= min_train]) & set(values[self.test_idx])
            # numbers (a factor's index) in their order, text (emoji's subgroups) in the data's
            order = np.unique(col).astype(str).tolist() if col.dtype.kind in "biuf" else list(dict.fromkeys(values))
            classes = [v for v in order if v in kept]
            if len(classes) < len(order):
                classes.append(OTHER_CLASS)
        if len(classes) < 2:
            raise VaelabError(
                f"{column!r} gives {self.name} fewer than 2 classes (a class needs {min_train} training images "
                "and a test image); label by a column with more common values"
            )
        index = {name: i for i, name in enumerate(classes)}
        other = index.get(OTHER_CLASS)
        unknown = sorted(set(values.tolist()) - set(index)) if other is None else []
        if unknown:
            raise VaelabError(
                f"{self.name}'s {column} {unknown[0]!r} is none of the classes {_short(classes)}, which were made "
                "from other data"
            )
        labels = np.array([index.get(v, other) for v in values.tolist()], np.int64)
        return replace(self, labels=labels, class_names=list(classes), label_source=column)

    def attribute_column(self, column: str) -> np.ndarray:
        """The attribute table's column (N,); the error names the columns there are, and the likeliest meant."""
        if column in self.attributes:
            return self.attributes[column]
        if not self.attributes:
            raise VaelabError(f"{self.name} has no attribute table, so it has no column {column!r} to label by")
        guess = difflib.get_close_matches(column, list(self.attributes), n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        raise VaelabError(f"{self.name} has no attribute column {column!r}{hint}; it has: {', '.join(self.attributes)}")


def _short(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" … ({len(names)} in all)" if len(names) > 5 else "")


def _matches(column: np.ndarray, value: str) -> np.ndarray:
    """Rows of an attribute column equal to a value given as text ('woman', 'true', '-1' ...)."""
    if column.dtype == bool:
        truth = value.strip().lower()
        if truth not in ("true", "false", "1", "0", "yes", "no"):
            raise VaelabError(f"{value!r} is not a boolean; use true or false")
        return column == (truth in ("true", "1", "yes"))
    if np.issubdtype(column.dtype, np.number):
        try:
            return column == float(value)
        except ValueError:
            raise VaelabError(f"{value!r} is not a number") from None
    return column.astype(str) == value


QUOTES = "'\""


def split_query(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep``, except inside a quoted value: a quote opens one only where a value starts (at
    the start, or after =, | or ,), so that an apostrophe inside a name stays a letter."""
    parts, current, quote, at_start = [], [], None, True
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif at_start and ch in QUOTES:
            quote = ch
        elif ch == sep:
            parts.append("".join(current))
            current, at_start = [], True
            continue
        current.append(ch)
        if not quote:
            at_start = ch in "=|," or (at_start and ch.isspace())
    if quote:
        raise VaelabError(f"the attribute query {text!r} opens a quote {quote} and does not close it")
    return parts + ["".join(current)]


def _unquote(value: str) -> str:
    value = value.strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in QUOTES else value


def query_mask(ds: ImageDataset, query: str) -> np.ndarray:
    """``"gender=woman,skin=none"`` → boolean mask (N,): all conditions hold; ``a=x|y`` allows either value; a
    value with a comma or a | in it is quoted, ``name='kiss: woman, man'``."""
    conds = [c.strip() for c in split_query(query, ",") if c.strip()]
    if not conds:  # "attr:" would select every image
        raise VaelabError("an empty attribute query; write name=value, such as gender=woman")
    for cond in conds:  # every condition's form first: a comma inside a value shows as a part without '='
        if "=" not in cond:
            raise VaelabError(
                f"attribute condition {cond!r} needs the form name=value (a value with a comma in it "
                "goes in quotes: name='kiss: woman, man')"
            )
    columns = dict(ds.attributes)
    if "class" not in columns and ds.labels is not None and ds.class_names:  # every labelled set has 'class'
        columns["class"] = np.asarray(ds.class_names, dtype=object)[ds.labels]
    mask = np.ones(len(ds), bool)
    for cond in conds:
        key, _, value = cond.partition("=")
        key = key.strip()
        if key not in columns:
            known = ", ".join(sorted(columns)) or "none"
            raise VaelabError(f"unknown attribute {key!r}; {ds.name} has: {known}")
        col = columns[key]
        hit = np.zeros(len(ds), bool)
        for v in map(_unquote, split_query(value, "|")):  # each value of a|b must exist: a typo is not dropped
            one = _matches(col, v)
            if not one.any():
                values = sorted({str(x) for x in col.tolist()})
                shown = ", ".join(values[:15]) + (" ..." if len(values) > 15 else "")
                raise VaelabError(f"no image has {key}={v}; its values are: {shown}")
            hit |= one
        mask &= hit
    return mask
