"""Uploaded images, held in memory only: each is checked by the same decoder as the CLI's image files (decompression
bombs, truncated and empty files, files that are no image), then kept under a random id, the least recently used
going first when they fill their bound."""

from __future__ import annotations

import re

from PIL import Image

from vaelab.data.images import image_from_bytes
from vaelab.errors import VaelabError
from vaelab.studio.store import LRUStore

MAX_UPLOAD_BYTES = 20 * 2**20  # one upload
MAX_UPLOADS = 256
MAX_HELD_BYTES = 256 * 2**20  # all held uploads, by their decoded pixels
HELD_SIDE = 2048  # a larger picture is held reduced to this side; models take far smaller images


def safe_label(name: str | None) -> str:
    """A file name as a caption: its last part, printable characters only, at most 60 of them."""
    name = re.split(r"[\\/]", name or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:60] or "upload"


class Uploads:
    def __init__(self, max_items: int = MAX_UPLOADS, max_bytes: int = MAX_HELD_BYTES):
        self._store = LRUStore(max_items, max_bytes, prefix="u")

    def add(self, data: bytes, name: str | None = None) -> dict:
        """Check and keep one uploaded file; its id, caption and size. Bad input raises a one-line VaelabError."""
        label = safe_label(name)
        if len(data) > MAX_UPLOAD_BYTES:
            raise VaelabError(f"{label}: {len(data) / 2**20:.1f} MB; an upload may be at most 20 MB")
        img = image_from_bytes(data, label)
        size = img.size
        if max(size) > HELD_SIDE and img.mode in ("L", "RGB", "RGBA"):  # preprocessing's Lanczos reduction, begun once
            img.thumbnail((HELD_SIDE, HELD_SIDE), Image.Resampling.LANCZOS)
        held = img.width * img.height * max(1, len(img.getbands()))
        key = self._store.put((img, label), held)
        return {"id": key, "label": label, "width": size[0], "height": size[1]}

    def image(self, key) -> tuple[Image.Image, str]:
        """(the image, its caption) under ``key``."""
        found = self._store.get(key) if isinstance(key, str) else None
        if found is None:
            raise VaelabError("that upload is no longer held (the studio keeps the most recent ones); upload it again")
        return found

    def __len__(self) -> int:
        return len(self._store)
