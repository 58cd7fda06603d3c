"""`make demo`: the main job on the embedded default model, through the same paths a user takes."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from vaelab.data.emoji import FONT_PATH
from vaelab.data.images import to_pil
from vaelab.io.staging import check_out_folder, staged_folder
from vaelab.models.shipped import shipped_models
from vaelab.tasks.arithmetic import ArithmeticResult, arithmetic, write_arithmetic
from vaelab.tasks.morph import MorphResult, run_morph, write_morph_outputs
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


# With the shipped emoji model: the metamorphosis blog post's dog → bird, and "man cook − man + woman". Taken with
# one image per term, "woman − man" is the difference of two faces (mostly hair), and man cook plus it decodes to
# colour noise even when brought back to the codes. So man and woman are the sets of man and woman professions,
# whose mean difference is what they share: it is shorter than one pair's, hence the weight 2.
EMOJI_MORPH = ("emoji:dog face", "emoji:bird")
EMOJI_ARITHMETIC = "emoji:man cook - 2*attr:gender=man,subgroup=person-role + 2*attr:gender=woman,subgroup=person-role"
JOBS, INPUTS = ("morph", "class-morph", "path"), "inputs"


@dataclass
class DemoResult:
    """What the demo makes: its morphs, from Fashion-MNIST test images, and with the emoji model an arithmetic."""

    inputs: dict[str, Image.Image]  # "tshirt.png" → the test image, as saved in inputs/ and read back by the morphs
    morphs: dict[str, MorphResult]  # "morph", "class-morph", "path", and "emoji-morph" with the emoji model
    arithmetic: ArithmeticResult | None = None  # "man cook − man + woman", with the emoji model


def _with_emoji() -> bool:
    return "emoji" in shipped_models() and FONT_PATH.is_file()  # the emoji images are rendered from the font


def check_demo_out(out: str | Path, emoji: bool | None = None) -> None:
    """Refuse an ``out`` where one of the demo's folders cannot go, before any of them is written."""
    out = Path(out)
    names = [*JOBS, *["emoji-morph", "emoji-arithmetic"] * (_with_emoji() if emoji is None else emoji)]
    for folder in (out, out / INPUTS, *(out / name for name in names)):
        check_out_folder(folder)


def demo(frames: int = 24) -> DemoResult:
    """A two-image morph, a class-to-class morph and a closed multi-point path with the shipped Fashion-MNIST model;
    with the shipped emoji model, also a dog → bird morph and the arithmetic "man cook − man + woman" through it.
    The test images are saved as PNG files first (in a temp folder), so that the morphs read them as a user's would."""
    from vaelab.data.loaders import load_dataset

    ds = load_dataset("fashion-mnist")
    test = ds.split("test")
    inputs = {f"{name}.png": to_pil(ds.images[test[i]]) for name, i in DEMO_TEST_IMAGES.items()}
    morphs, emoji = {}, _with_emoji()
    with tempfile.TemporaryDirectory(prefix="vaelab-demo-") as tmp:
        png = {name: Path(tmp) / f"{name}.png" for name in DEMO_TEST_IMAGES}
        for name, picture in inputs.items():
            picture.save(Path(tmp) / name)
        jobs = {
            "morph": dict(images=[png["tshirt"], png["dress"]]),
            "class-morph": dict(classes=["Sneaker", "Ankle boot"]),
            "path": dict(images=[png["sneaker"], png["bag"], png["ankle-boot"]], closed=True),
        }
        if emoji:
            jobs["emoji-morph"] = dict(model="emoji", images=list(EMOJI_MORPH), upscale=2)
        for name, kw in jobs.items():
            kw = {"model": None, "upscale": 4, **kw}  # the shipped Fashion-MNIST model, unless the job names another
            morphs[name] = run_morph(frames=frames if name != "path" else 2 * frames, **kw)
    return DemoResult(inputs, morphs, arithmetic("emoji", EMOJI_ARITHMETIC) if emoji else None)


def write_demo(result: DemoResult, out: str | Path = "out/demo", log=print) -> dict[str, Path]:
    """Write the demo's inputs into ``out``/inputs and each of its outputs into a folder of ``out`` named after it;
    ``log`` says where each went. Returns the folders by name."""
    out = Path(out)
    check_demo_out(out, emoji=result.arithmetic is not None or "emoji-morph" in result.morphs)
    with staged_folder(out / INPUTS) as tmp:
        for name, picture in result.inputs.items():
            picture.save(tmp / name)
    written = {}
    for name, morph in result.morphs.items():
        write_morph_outputs(morph, out / name, fps=12, pingpong=name != "path", log=log)
        written[name] = out / name
        log(f"{name:12s} {out / name / GIF_NAME}  {out / name / SHEET_NAME}")
    if result.arithmetic is not None:
        write_arithmetic(result.arithmetic, out / "emoji-arithmetic", upscale=2)
        written["emoji-arithmetic"] = out / "emoji-arithmetic"
        log(f"{'emoji-arith':12s} {out / 'emoji-arithmetic' / 'arithmetic.png'}  ({EMOJI_ARITHMETIC})")
    log(f"demo outputs are in {out.resolve()}")
    return written


def run_demo(out: str | Path = "out/demo", frames: int = 24, log=print) -> dict[str, Path]:
    """:func:`demo` written into ``out`` by :func:`write_demo`, as `make demo` and `vaelab demo` run it; ``out`` is
    checked first, so that a folder the demo cannot write is refused before the morphs are computed."""
    check_demo_out(out)
    return write_demo(demo(frames), out, log=log)
