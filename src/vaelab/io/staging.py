"""Write a whole output folder atomically: build it in a temp folder beside the target, move it in at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vaelab.errors import VaelabError


def check_out_folder(out: Path, in_place: bool = False) -> None:
    """An --out that exists must be a folder: refused before anything is written, as is one that cannot be
    written. ``in_place``: the outputs are written in the folder itself (a model folder), not staged beside it."""
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise VaelabError(f"--out {out} is a link to {os.readlink(out)}, which does not exist")
    if out.exists() and not out.is_dir():
        raise VaelabError(f"--out {out} exists and is not a folder")
    check_writable(out, beside=not in_place)


def check_writable(out: Path, beside: bool = True) -> None:
    """Refuse an --out that cannot be written, before any work, by making and removing a temp folder (nothing is
    left behind) in each place the outputs are made: in ``out`` when it is an existing folder, and, with ``beside``
    (a staged folder or a file, made beside ``out`` and moved in) or when ``out`` does not exist yet, in the
    nearest existing folder above it."""
    path = Path(out).absolute()
    places = [path] if path.is_dir() else []
    if beside or not places:
        above = path.parent
        while not above.exists() and above != above.parent:
            above = above.parent
        places.append(above)
    for where in places:
        try:
            os.rmdir(tempfile.mkdtemp(dir=where, prefix=".vaelab-write-check-"))
        except OSError as e:
            raise VaelabError(f"cannot write --out {out}: {e.strerror or e}") from e


@contextmanager
def staged_folder(out: str | Path, replace: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a temp folder; on success move its entries into ``out`` (entries named in ``replace`` are
    removed from ``out`` first even when this run does not write them). On failure ``out`` is untouched."""
    out = Path(out)
    check_out_folder(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    except OSError as e:
        raise VaelabError(f"cannot write --out {out}: {e.strerror or e}") from e
    try:
        yield tmp
        out.mkdir(exist_ok=True)
        for name in set(replace) | {p.name for p in tmp.iterdir()}:
            old = out / name
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
        for item in tmp.iterdir():
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
