"""Write docs/tour.ipynb from the cells below and run it once, so that the saved notebook shows its pictures.

Run: .venv/bin/python scripts/make-tour.py   (about a minute; tests/test_tour.py runs the same notebook)
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "docs" / "tour.ipynb"

CELLS = [
    (
        "md",
        """# A tour of vaelab

Everything here runs on a laptop's CPU in about a minute, with the two models that ship inside the package:
a Fashion-MNIST VAE (28×28 grey) and an emoji VAE (64×64 colour). The same functions sit behind the `vaelab`
commands and `vaelab studio`. Every picture below is the output of the cell above it.""",
    ),
    (
        "code",
        """import numpy as np
from IPython.display import display
from PIL import Image

import vaelab

TRAIN_IMAGES, EPOCHS, BATCH = 2000, 4, 32  # the short training near the end: seconds on an idle laptop


def strip(images, scale=3):
    \"\"\"PIL images, or arrays (N, C, H, W) in [0, 1], side by side and enlarged.\"\"\"
    from vaelab.data.images import to_pil
    pics = [im if isinstance(im, Image.Image) else to_pil(np.asarray(im)) for im in images]
    w, h = pics[0].size
    out = Image.new("RGB", (w * len(pics), h), "white")
    for i, p in enumerate(pics):
        out.paste(p.convert("RGB"), (i * w, 0))
    return out.resize((out.width * scale, out.height * scale), Image.NEAREST)""",
    ),
    (
        "md",
        """## 1. The shipped models

`vaelab models` lists them; in Python, a shipped model's name goes wherever a model folder does.""",
    ),
    (
        "code",
        """from vaelab.models.shipped import models_table, shipped_model_cards

print(models_table(shipped_model_cards()))
fm = vaelab.open_model("fashion-mnist")   # numpy in, numpy out, on onnxruntime: no torch
print(fm.class_names)""",
    ),
    (
        "md",
        """## 2. A morph

Two test images (`fashion-mnist:test/0` names the first test image), encoded, the latent path walked by slerp, every
frame decoded. `spacing="even"` re-times the frames so that each step changes the picture alike.""",
    ),
    (
        "code",
        """pair = ["fashion-mnist:test/0", "fashion-mnist:test/1"]
display(strip(vaelab.morph("fashion-mnist", pair, frames=10)))
display(strip(vaelab.morph("fashion-mnist", pair, frames=10, spacing="even")))""",
    ),
    (
        "md",
        """## 3. Class into class

The path between two classes' latent centroids, and the metamorphosis blog post's dog into bird, in colour.""",
    ),
    (
        "code",
        """display(strip(vaelab.class_morph("fashion-mnist", ["Sneaker", "Ankle boot"], frames=10)))
display(strip(vaelab.morph("emoji", ["emoji:dog face", "emoji:bird"], frames=10), scale=1))""",
    ),
    (
        "md",
        """## 4. Arithmetic

Each term is the mean code of its images; the result is decoded. `strength` scales what the later terms add.
"man cook − man + woman" with one image a term lands where the decoder knows little (a speckled cook); sets of
images work better: the man and the woman professions, whose mean difference keeps only what they share. This is
the expression `make demo` uses.""",
    ),
    (
        "code",
        """from vaelab.tasks.arithmetic import arithmetic

r = arithmetic("emoji", "emoji:man cook - 2*attr:gender=man,subgroup=person-role + 2*attr:gender=woman,subgroup=person-role")
display(strip([*r.concept_images, r.image], scale=1))   # man cook, the men's and the women's means, and the result
r = arithmetic("fashion-mnist", "class:Sneaker - class:Sandal + class:Bag", strength=0.5)
display(strip([*r.concept_images, r.image]))""",
    ),
    (
        "md",
        """## 5. A blend of classes

The weighted mean of class centroids, and the spherical mean, which stays at the codes' own distance from the
origin.""",
    ),
    (
        "code",
        """from vaelab.tasks.blend import blend_centroids
from vaelab.tasks.encoding import cached_class_centroids

cents = cached_class_centroids(fm)
idx = [fm.class_names.index(c) for c in ("Sneaker", "Sandal", "Ankle boot")]
display(strip([blend_centroids(fm, cents[idx], [2, 1, 1], mean) for mean in ("euclidean", "spherical")]))""",
    ),
    (
        "md",
        """## 6. The latent map

The test images' codes on their PCA plane, coloured by class.""",
    ),
    (
        "code",
        """import matplotlib.pyplot as plt

from vaelab.latent.projection import fit_projection
from vaelab.models.runtime import encode_batched

ds = vaelab.load_dataset("fashion-mnist")
test = ds.split("test")[:2000]
z = encode_batched(fm, ds.images[test], progress=False)
proj = fit_projection(z, 2)
xy = proj.transform(z)
fig, ax = plt.subplots(figsize=(6, 5))
points = ax.scatter(xy[:, 0], xy[:, 1], c=ds.labels[test], cmap="tab10", s=4)
ax.legend(points.legend_elements()[0], ds.class_names, fontsize=7, loc="upper right")
ax.set_xlabel(proj.axis_labels[0]); ax.set_ylabel(proj.axis_labels[1])
plt.show()
# a point of the plane, decoded: the inverse PCA gives its code
display(strip(fm.decode(proj.to_latent(np.array([[-2.0, -1.0], [0.0, 0.0], [2.0, -1.0]])).astype(np.float32))))""",
    ),
    (
        "md",
        """## 7. A short training

A VAE of latent 8 on the first 2000 training images, for four short epochs: enough to see it learn, not enough for
sharp pictures (it says so). `vaelab train --data fashion-mnist --limit 2000 --epochs 4 --batch-size 32 --out
runs/tour` does the same from the command line.""",
    ),
    (
        "code",
        """import tempfile

from vaelab.training.vae import train

small = vaelab.load_dataset("fashion-mnist")
small.limit_train(TRAIN_IMAGES)
run = tempfile.mkdtemp(prefix="vaelab-tour-")
cfg = vaelab.TrainConfig(epochs=EPOCHS, batch_size=BATCH)
model = train(vaelab.ModelConfig(latent_dim=8), small, run, cfg, progress=False)
display(strip(vaelab.morph(run, pair, frames=10)))   # the same morph, through the new model""",
    ),
    (
        "md",
        """## 8. Evaluation

What `vaelab evaluate` measures, on a few test images: −ELBO, reconstruction, the evaluator's fidelity, and the
morph quality of each kind of path against the pixel cross-fade.""",
    ),
    (
        "code",
        """from vaelab.metrics.evaluate import EvalConfig, evaluate_model, format_report
from vaelab.models.classifier import default_evaluator_for

report = evaluate_model(model, small, default_evaluator_for("fashion-mnist"),
                        EvalConfig(k=10, iwae_images=20, limit=300, pairs=20, frames=8, prior_samples=200))
print(format_report(report))""",
    ),
]


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, text in CELLS:
        nb.cells.append(nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text))
    return nb


def run(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 300) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


if __name__ == "__main__":
    notebook = run(build(), ROOT)
    nbformat.write(notebook, TOUR)
    print(f"wrote {TOUR}")
