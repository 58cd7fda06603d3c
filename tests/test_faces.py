"""Face cropping on scikit-image's bundled astronaut (one face) and on an image with no face."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import run_vaelab

pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")


@pytest.fixture()
def photos(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    Image.fromarray(skdata.astronaut()).save(src / "astronaut.png")
    Image.fromarray(skdata.coffee()).save(src / "coffee.jpg")
    return src


def test_astronaut_has_one_face_in_the_right_place():
    from vaelab.data.faces import crop_face, detect_faces

    img = Image.fromarray(skdata.astronaut())
    boxes = detect_faces(img)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 160  # Eileen Collins' face, upper middle of the photo
    crop = np.asarray(crop_face(img, boxes[0], 64, margin=0.25))
    assert crop.shape == (64, 64, 3)
    centre = crop[24:40, 24:40].astype(int)
    assert centre[..., 0].mean() > centre[..., 2].mean() + 20  # skin tones, not the blue suit or the flag


def test_cli_faces_writes_crops_and_reports_images_without_a_face(tmp_path, photos):
    out = tmp_path / "crops"
    p = run_vaelab("faces", str(photos), str(out), "--size", "48")
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in out.iterdir()) == ["astronaut.png", "no_face.txt"]
    assert Image.open(out / "astronaut.png").size == (48, 48)
    assert (out / "no_face.txt").read_text().strip().endswith("coffee.jpg")
    assert "1 image held no face" in p.stdout


def test_faces_returns_the_crops_as_pictures_and_write_faces_saves_them_with_the_photos_left_out(tmp_path, photos):
    from vaelab.tasks.faces import faces, write_faces

    result = faces(photos, size=40, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]  # nothing written yet
    assert list(result.crops) == ["astronaut.png"] and result.crops["astronaut.png"].size == (40, 40)
    assert [p.name for p in result.no_face] == ["coffee.jpg"] and result.unreadable == []
    written = write_faces(result, tmp_path / "crops")
    assert written == [tmp_path / "crops" / "astronaut.png"]
    assert sorted(f.name for f in (tmp_path / "crops").iterdir()) == ["astronaut.png", "no_face.txt"]
    assert np.array_equal(np.asarray(Image.open(written[0])), np.asarray(result.crops["astronaut.png"]))


def test_faces_on_a_missing_folder_is_a_clear_error(tmp_path):
    p = run_vaelab("faces", str(tmp_path / "nope"), str(tmp_path / "o"))
    assert p.returncode == 2 and "no such file or folder" in p.stderr and not (tmp_path / "o").exists()


def test_crops_of_same_named_images_both_survive_unreadable_files_are_listed_and_the_output_is_not_reread(tmp_path):
    from vaelab.data.faces import crop_folder

    src = tmp_path / "photos"
    src.mkdir()
    Image.fromarray(skdata.astronaut()).save(src / "x.jpg")
    Image.fromarray(skdata.astronaut()).convert("L").save(src / "x.png")
    (src / "broken.jpg").write_text("not a photo")
    out = src / "crops"  # the output inside the photos: a rerun must not crop its own crops
    p = run_vaelab("faces", str(src), str(out), "--size", "32")
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in out.iterdir()) == ["unreadable.txt", "x.png", "x_png.png"]
    grey = [
        np.ptp(np.asarray(Image.open(out / n).convert("RGB")).astype(int), axis=2).max() == 0
        for n in ("x.png", "x_png.png")
    ]
    assert grey == [False, True]  # the colour x.jpg kept its name; the grey x.png got the other
    assert "broken.jpg" in (out / "unreadable.txt").read_text() and "2 face crops" in p.stdout
    (tmp_path / "again").mkdir()
    report = crop_folder(src, tmp_path / "again", size=32, skip=out, progress=False)
    assert len(report.written) == 2  # the crops already in photos/crops are not photos


def test_a_16_bit_photo_is_scaled_not_clipped_so_its_face_is_found_and_cropped(tmp_path):
    from vaelab.data.faces import crop_face, detect_faces
    from vaelab.data.images import open_image

    grey8 = np.asarray(Image.fromarray(skdata.astronaut()).convert("L"))
    Image.fromarray(grey8.astype(np.uint16) * 257).save(tmp_path / "grey16.png")  # 0..65535, mode I;16
    img = open_image(tmp_path / "grey16.png")
    assert img.mode.startswith("I")
    boxes = detect_faces(img)
    assert len(boxes) == 1 and boxes == detect_faces(Image.fromarray(grey8))
    crop = np.asarray(crop_face(img, boxes[0], 64, margin=0.25))
    expected = np.asarray(crop_face(Image.fromarray(grey8), boxes[0], 64, margin=0.25))
    assert np.abs(crop.astype(int) - expected).max() <= 1 and 60 < crop.mean() < 200  # the face, not white


def test_transparent_pixels_of_a_crop_are_white_as_in_folder_data():
    from vaelab.data.faces import crop_face

    clear = Image.new("RGBA", (100, 100), (10, 20, 30, 0))
    clear.paste((200, 150, 100, 255), (40, 40, 60, 60))
    crop = np.asarray(crop_face(clear, (40, 40, 20, 20), 32, margin=0.5))
    assert (crop[0, 0] == 255).all() and abs(int(crop[16, 16, 0]) - 200) <= 2
