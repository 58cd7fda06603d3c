"""`make demo`: the main job on the embedded default model, through the same paths a user takes."""

from __future__ import annotations

from pathlib import Path

from vaelab.data.emoji import FONT_PATH
from vaelab.data.images import to_pil
from vaelab.io.staging import check_out_folder, staged_folder
from vaelab.models.shipped import shipped_models
from vaelab.tasks.arithmetic import arithmetic, write_arithmetic
from vaelab.tasks.morph import run_morph, write_morph_outputs
from vaelab.viz.media import GIF_NAME, SHEET_NAME

# Fashion-MNIST test-set indices: a T-shirt, a dress, a sneaker, a bag, an ankle boot
DEMO_TEST_IMAGES = {"tshirt": 85, "dress": 13, "sneaker": 9, "bag": 18, "ankle-boot": 0}
DEMO_CLASSES = {
    "tshirt": "T-shirt/top",
    "dress": "Dress",
    "sneaker": "Sneaker",
    "bag": "Bag",
    "ankle-boot": "Ankle boot",
}


# With the shipped emoji model: the metamorphosis blog post's dog → bird, and "man cook − man + woman"
EMOJI_MORPH = ("emoji:dog face", "emoji:bird")
EMOJI_ARITHMETIC = "emoji:man cook - emoji:man + emoji:woman"


def run_demo(out: str | Path = "out/demo", frames: int = 24, log=print) -> dict[str, Path]:
    """Write a two-image morph, a class-to-class morph and a closed multi-point path under ``out``; with the shipped
    emoji model, also a dog → bird morph and the arithmetic "man cook − man + woman" through it."""
    from vaelab.data.loaders import load_dataset

    out = Path(out)
    inputs = out / "inputs"
    pngs = {name: inputs / f"{name}.png" for name in DEMO_TEST_IMAGES}
    jobs = {
        "morph": dict(images=[pngs["tshirt"], pngs["dress"]]),
        "class-morph": dict(classes=["Sneaker", "Ankle boot"]),
        "path": dict(images=[pngs["sneaker"], pngs["bag"], pngs["ankle-boot"]], closed=True),
    }
    emoji = "emoji" in shipped_models() and FONT_PATH.is_file()  # the emoji images are rendered from the font
    if emoji:
        jobs["emoji-morph"] = dict(model="emoji", images=list(EMOJI_MORPH), upscale=2)
    for folder in (out, inputs, *(out / name for name in [*jobs, *["emoji-arithmetic"] * emoji])):
        check_out_folder(folder)  # all of them before the first is written
    ds = load_dataset("fashion-mnist")
    test = ds.split("test")
    with staged_folder(inputs) as tmp:  # saved as files first, so the demo reads them as a user would
        for name, i in DEMO_TEST_IMAGES.items():
            to_pil(ds.images[test[i]]).save(tmp / pngs[name].name)
    written = {}
    for name, kw in jobs.items():
        kw = {"model": None, "upscale": 4, **kw}  # the shipped Fashion-MNIST model, unless the job names another
        result = run_morph(frames=frames if name != "path" else 2 * frames, **kw)
        write_morph_outputs(result, out / name, fps=12, pingpong=name != "path", log=log)
        written[name] = out / name
        log(f"{name:12s} {out / name / GIF_NAME}  {out / name / SHEET_NAME}")
    if emoji:
        write_arithmetic(arithmetic("emoji", EMOJI_ARITHMETIC), out / "emoji-arithmetic", upscale=2)
        written["emoji-arithmetic"] = out / "emoji-arithmetic"
        log(f"{'emoji-arith':12s} {out / 'emoji-arithmetic' / 'arithmetic.png'}  ({EMOJI_ARITHMETIC})")
    log(f"demo outputs are in {out.resolve()}")
    return written
