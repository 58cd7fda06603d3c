"""The emoji dataset: rendering, attributes, the cache, and attribute vectors on a model trained on it."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import emoji_font_available, run_vaelab

pytestmark = pytest.mark.skipif(
    not emoji_font_available(), reason="needs Debian's fonts-noto-color-emoji (make test installs it)"
)

HANDFUL = {
    "man cook": dict(gender="man", skin="none", face=False, group="People & Body"),
    "woman cook": dict(gender="woman", skin="none", face=False, group="People & Body"),
    "waving hand: dark skin tone": dict(gender="none", skin="dark", face=False, group="People & Body"),  # a hand
    "person: light skin tone": dict(gender="person", skin="light", face=False, group="People & Body"),
    "Mrs. Claus": dict(gender="woman", skin="none", face=False, group="People & Body"),
    "kiss: woman, man": dict(gender="person", skin="none", face=False, group="People & Body"),  # both
    "kiss: man, man": dict(gender="man", skin="none", face=False, group="People & Body"),  # after the colon
    "woman: red hair": dict(gender="woman", skin="none", face=False, group="People & Body"),
    "footprints": dict(gender="none", skin="none", face=False, group="People & Body"),
    "female sign": dict(gender="none", skin="none", face=False, group="Symbols"),  # a sign, not a woman
    "baby chick": dict(gender="none", skin="none", face=False, group="Animals & Nature"),  # a bird
    "grinning face": dict(gender="none", skin="none", face=True, group="Smileys & Emotion"),
    "red apple": dict(gender="none", skin="none", face=False, group="Food & Drink"),
    "flag: Japan": dict(gender="none", skin="none", face=False, group="Flags"),
}


def test_renderer_gives_non_blank_rgb_with_the_expected_attributes():
    from vaelab.data.emoji import read_emoji_test, render_emoji_set

    entries = [e for e in read_emoji_test() if e.name in HANDFUL]
    ds = render_emoji_set(entries, size=32, progress=False)
    assert ds.images.shape == (len(HANDFUL), 3, 32, 32) and ds.background == 255
    for i, name in enumerate(ds.attributes["name"]):
        img = ds.images[i].astype(int)
        assert (img < 200).mean() > 0.1, name  # not blank white
        assert (img.max(0) - img.min(0)).max() > 25, name  # in colour, not grey
        for key, value in HANDFUL[name].items():
            assert ds.attributes[key][i] == value, (name, key)
    names = list(ds.attributes["name"])
    cook_m, cook_w = ds.images[names.index("man cook")], ds.images[names.index("woman cook")]
    assert np.abs(cook_m.astype(int) - cook_w.astype(int)).mean() > 3  # the ZWJ sequences render apart


def test_a_damaged_cache_is_rendered_again(tmp_path, monkeypatch):
    import vaelab
    from vaelab.errors import VaelabWarning

    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path))
    first = vaelab.load_dataset("emoji:8")
    (cache,) = tmp_path.glob("emoji-8-*.npz")
    cache.write_bytes(cache.read_bytes()[:5000])  # a copy cut short
    with pytest.warns(VaelabWarning, match="could not be read"):
        again = vaelab.load_dataset("emoji:8")
    np.testing.assert_array_equal(again.images, first.images)
    assert cache.stat().st_size > 5000  # written whole again


def test_zwj_sequence_renders_as_one_glyph_not_its_parts():
    from vaelab.data.emoji import EmojiRenderer

    r = EmojiRenderer()
    assert r.render("\U0001f468\u200d\U0001f373") is not None  # man cook: one glyph
    assert r.render("\U0001f468\u200d\U0001f9a1") is None  # man + badger: no such emoji, falls apart


def test_full_set_is_cached_and_has_about_4k_emoji():
    import vaelab

    ds = vaelab.load_dataset("emoji:16")
    assert 3500 <= len(ds) <= 4500
    names = set(ds.attributes["name"].tolist())
    assert {"man cook", "woman farmer", "waving hand: dark skin tone"} <= names
    assert set(ds.attributes["skin"].tolist()) == {"none", "light", "medium-light", "medium", "medium-dark", "dark"}
    again = vaelab.load_dataset("emoji:16")  # from the .npz cache now
    np.testing.assert_array_equal(again.images, ds.images)
    np.testing.assert_array_equal(again.attributes["gender"], ds.attributes["gender"])
    assert again.class_names == ds.class_names


def test_pairs_for_the_ground_truth_analogies():
    import vaelab
    from vaelab.data.emoji import gender_pairs, tone_pairs
    from vaelab.errors import VaelabError

    ds = vaelab.load_dataset("emoji:16")
    names = ds.attributes["name"]
    pairs = {k: (names[a], names[b]) for k, a, b in gender_pairs(ds)}
    assert pairs["{G} cook"] == ("man cook", "woman cook")
    assert pairs["{G} holding hands"] == ("men holding hands", "women holding hands")  # plurals pair too
    assert len(pairs) > 50
    tones = {k: (names[a], names[b]) for k, a, b in tone_pairs(ds)}
    assert tones["waving hand"] == ("waving hand: light skin tone", "waving hand: dark skin tone")
    dark = {k: (names[a], names[b]) for k, a, b in gender_pairs(ds, skin="dark")}
    assert dark["{G} cook"] == ("man cook: dark skin tone", "woman cook: dark skin tone")
    assert set(dark) < set(pairs)  # the same keys: toned pairs line up with untoned ones
    with pytest.raises(VaelabError, match="unknown skin tone"):
        gender_pairs(ds, skin="green")
    from vaelab.data.emoji import EmojiEntry, skin_of

    two_tones = "\U0001f9d1\U0001f3fb\u200d\U0001f91d\u200d\U0001f9d1\U0001f3ff"  # people holding hands
    assert skin_of(EmojiEntry(two_tones, "people holding hands: light skin tone, dark skin tone", "", "")) == "light"


def test_cli_attribute_saves_a_vector_and_a_strip(tmp_path, tiny_emoji_model_dir):
    from PIL import Image
    from safetensors.numpy import load_file

    import vaelab

    ds = vaelab.load_dataset("emoji:16")
    Image.fromarray(ds.images[0].transpose(1, 2, 0)).save(tmp_path / "e.png")
    p = run_vaelab(
        "attribute",
        "--model",
        str(tiny_emoji_model_dir),
        "--attr",
        "gender=woman",
        "--balance-on",
        "skin,group",
        "--apply",
        str(tmp_path / "e.png"),
        "--strengths",
        "-1:1:5",
        "--out",
        str(tmp_path / "o"),
    )
    assert p.returncode == 0, p.stderr
    vec = load_file(str(tmp_path / "o" / "attribute_gender=woman.safetensors"))["vector"]
    assert vec.shape == (8,) and np.linalg.norm(vec) > 0
    strip = Image.open(tmp_path / "o" / "strip_gender=woman_e.png")
    assert strip.width > 5 * 32
    m = vaelab.open_model(tiny_emoji_model_dir)
    z = m.embed(ds.images.astype(np.float32) / 255)
    w = ds.attributes["gender"] == "woman"
    plain = z[w].mean(0) - z[~w].mean(0)
    assert not np.allclose(vec, plain, atol=1e-4)  # balancing changed it


def test_attribute_on_every_image_is_a_clear_error(tmp_path, tiny_emoji_model_dir):
    p = run_vaelab(
        "attribute",
        "--model",
        str(tiny_emoji_model_dir),
        "--attr",
        "skin=none|light|medium-light|medium|medium-dark|dark",
        "--out",
        str(tmp_path / "o"),
    )
    assert p.returncode == 2 and "true for every image" in p.stderr and "Traceback" not in p.stderr
