"""Progress bars: tqdm, off when the caller asks or when TQDM_DISABLE is set in the environment.

tqdm reads TQDM_DISABLE only for bars that leave ``disable`` at its default; vaelab's bars set it (off for small
jobs, or with ``progress=False``), so this keeps the variable working for all of them."""

from __future__ import annotations

import os

from tqdm import tqdm


def progress_bar(iterable=None, *, show: bool = True, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)``, shown only when ``show`` is true and TQDM_DISABLE is unset, empty or 0."""
    off = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")
    return tqdm(iterable, disable=not show or off, **kwargs)
