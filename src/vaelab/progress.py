"""How work in progress reads: counts in a sentence ("1 face crop", "2 face crops"), and progress bars: tqdm, off
when the caller asks or when TQDM_DISABLE is set in the environment.

tqdm reads TQDM_DISABLE only for bars that leave ``disable`` at its default; vaelab's bars set it (off for small
jobs, or with ``progress=False``), so this keeps the variable working for all of them."""

from __future__ import annotations

import os

from tqdm import tqdm


def progress_bar(iterable=None, *, show: bool = True, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)``, shown only when ``show`` is true and TQDM_DISABLE is unset, empty or 0."""
    off = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")
    return tqdm(iterable, disable=not show or off, **kwargs)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` in the number it takes: "1 image", "3 images" (``plural`` when it is not noun + "s")."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
