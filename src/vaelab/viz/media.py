"""A morph's media: the GIF, the MP4 and the contact sheet of its frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

FRAMES_DIR, GIF_NAME, MP4_NAME, SHEET_NAME = "frames", "morph.gif", "morph.mp4", "contact_sheet.png"
SHEET_WIDTH = 2400  # pixels: a contact sheet wraps its frames into rows about this wide, so a viewer shows it whole
GIF_MIN_DELAY_MS = 20  # browsers slow a GIF frame of 10 ms or less down to 100 ms


def write_gif(frames: list[Image.Image], path: Path, fps: float = 12, pingpong: bool = False) -> None:
    """Looping GIF; ``pingpong`` plays forward then back (without repeating the end frames).

    A GIF frame lasts whole hundredths of a second, and browsers play 0 or 1 of them as 10, so the delay is
    rounded to hundredths and held at 2 or more: at most 50 fps (the MP4 keeps the exact rate)."""
    seq = frames + frames[-2:0:-1] if pingpong and len(frames) > 2 else frames
    seq = [paletted(f) if f.mode != "L" else f for f in seq]
    delay_ms = GIF_MIN_DELAY_MS if fps >= 1000 / GIF_MIN_DELAY_MS else 10 * max(2, round(100 / fps))
    seq[0].save(
        path, format="GIF", save_all=True, append_images=seq[1:], duration=delay_ms, loop=0, optimize=False, disposal=2
    )


def paletted(frame: Image.Image) -> Image.Image:
    """The frame in 256 colours by median cut. A frame enlarged by nearest neighbour (a block of s × s equal pixels
    for each decoded one, as morph frames are) is quantised at its decoded size and then enlarged: median cut
    counts each colour s² times as often in the enlarged frame, so the palette and the picture are the same, in
    about two thirds of the time on 64 × 64 frames shown at 256 × 256."""
    rgb = frame.convert("RGB")
    block = block_size(np.asarray(rgb))
    if block == 1:
        return rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small = rgb.resize((rgb.width // block, rgb.height // block), Image.Resampling.NEAREST)
    return small.quantize(colors=256, method=Image.Quantize.MEDIANCUT).resize(rgb.size, Image.Resampling.NEAREST)


def block_size(pixels: np.ndarray) -> int:
    """The largest s (up to 16) such that ``pixels`` (H, W, C) is made of s × s blocks of one colour each: a
    nearest-neighbour enlargement by s; 1 when it is none."""
    h, w = pixels.shape[:2]
    for s in range(16, 1, -1):
        if h % s or w % s:
            continue
        small = pixels[::s, ::s]
        if np.array_equal(pixels[s - 1 :: s, s - 1 :: s], small) and np.array_equal(
            np.repeat(np.repeat(small, s, axis=0), s, axis=1), pixels
        ):
            return s
    return 1


def write_mp4(frames: list[Image.Image], path: Path, fps: float = 12) -> None:
    """H.264 MP4 through imageio-ffmpeg's bundled ffmpeg; frames are padded to even sizes (yuv420p)."""
    import imageio_ffmpeg

    w, h = frames[0].size
    W, H = w + w % 2, h + h % 2
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (W, H),
        fps=fps,
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p",
        macro_block_size=1,
        quality=8,
        ffmpeg_log_level="error",
    )
    writer.send(None)
    try:
        for f in frames:
            arr = np.zeros((H, W, 3), np.uint8)
            arr[:h, :w] = np.asarray(f.convert("RGB"))
            writer.send(np.ascontiguousarray(arr))
    finally:
        writer.close()


def contact_sheet(
    inputs: list[Image.Image],
    recons: list[Image.Image],
    frames: list[Image.Image],
    labels: list[str] | None = None,
    pad: int = 4,
    per_row: int | None = None,
) -> Image.Image:
    """Top row: each input beside its reconstruction (the input alone when ``recons`` is empty, as for decoded
    class centroids); below: every frame, left to right, ``per_row`` a row (default: rows of equal length, each
    fitting in about SHEET_WIDTH pixels, 4 to 24 frames)."""
    w, h = frames[0].size
    if per_row is None:  # as many rows as the width needs, filled evenly (24 frames in two rows of 12, not 20 + 4)
        fit = min(24, max(4, SHEET_WIDTH // (w + pad)))
        per_row = -(-len(frames) // -(-len(frames) // fit))
    cap = 14
    rows = -(-len(frames) // per_row)
    names = [(labels[i] if labels else f"input {i + 1}")[:32] for i in range(len(inputs))]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    per_input = 2 * w + pad if recons else max([w, *(int(measure.textlength(n)) + pad for n in names)])
    top_w = len(inputs) * per_input + pad * (len(inputs) + 1)
    width = max(top_w, min(len(frames), per_row) * (w + pad) + pad)
    sheet = Image.new("RGB", (width, (h + cap) + rows * (h + pad) + cap + 2 * pad), "white")
    draw = ImageDraw.Draw(sheet)
    x = pad
    for i, a in enumerate(inputs):
        draw.text((x, pad), names[i], fill="black")
        sheet.paste(a.convert("RGB").resize((w, h), Image.Resampling.NEAREST), (x, pad + cap))
        if recons:
            draw.text((x + w + pad // 2, pad), "recon.", fill="gray")
            recon = recons[i].convert("RGB").resize((w, h), Image.Resampling.NEAREST)
            sheet.paste(recon, (x + w + pad // 2, pad + cap))
        x += per_input + pad
    y = 2 * pad + h + cap
    draw.text((pad, y), f"{len(frames)} frames", fill="black")
    for i, f in enumerate(frames):
        r, k = divmod(i, per_row)
        sheet.paste(f.convert("RGB"), (pad + k * (w + pad), y + cap + r * (h + pad)))
    return sheet
