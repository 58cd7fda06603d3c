"""Write a file so that nothing is half-written: into a temp file beside it, renamed onto it once complete.

Every output file of vaelab goes through :func:`atomic_path`. A reader (or a run killed half-way) sees the old
file or the new one, never a torn one; the finished file gets the permissions a plain open() would give it; and
an error of the file system names the file the user asked for, not the temp file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def move_into_place(tmp: str | Path, dest: str | Path) -> None:
    """Rename a finished temp file onto ``dest`` with the permissions a plain open() would have given it
    (mkstemp makes files private, which a saved model should not be)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    os.replace(tmp, dest)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path`` to write; when the block ends, move it onto ``path``. On an error the temp
    file is removed and ``path`` is left as it was; an OSError is raised again naming ``path``."""
    path = Path(path)
    tmp = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        yield tmp
        move_into_place(tmp, path)
    except OSError as e:
        if (
            e.errno is None
            or e.filename is None
            or str(e.filename) == str(path)
            or (tmp is not None and str(e.filename) != str(tmp))
        ):
            raise
        raise type(e)(e.errno, e.strerror, str(path)) from e  # the temp name, or the folder mkstemp tried
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
