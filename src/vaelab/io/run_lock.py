"""One writer per run folder: a run holds an exclusive lock on its folder for as long as it writes there, so that a
second `vaelab train` (or train-cycle, train-evaluator, sweep) given the same --out is refused at once instead of
mixing its config and weights with the first's.

The lock is the operating system's, taken through the filelock library (``flock`` on POSIX, ``msvcrt`` on
Windows) on a file in the folder; a second file beside it names the holder's process, and both go when the run
ends. The system releases the lock when the process ends, however it ends, so the files a killed run leaves never
block the next one. Once the lock is
held, the temp folders that an interrupted save left (``.saving-*``) are swept away: no other process can be
writing them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from vaelab.errors import VaelabError

LOCK_NAME, HOLDER_NAME = ".vaelab-run.lock", ".vaelab-run.pid"
STALE_PREFIXES = (".saving-",)  # temp folders of an interrupted save_pretrained


@contextmanager
def run_folder_lock(out: str | Path) -> Iterator[Path]:
    """Hold ``out`` (made if missing) for one writer while the block runs; a second writer gets a one-line
    :class:`VaelabError` naming the holder's process ID."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out / LOCK_NAME, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise VaelabError(
            f"{out} is in use by another vaelab run (process {_holder(out)}); wait for it to finish, or choose "
            "another --out"
        ) from None
    try:
        (out / HOLDER_NAME).write_text(f"{os.getpid()}\n")
        sweep_stale_saves(out)
        yield out
    finally:  # the folder is left as a model folder, without the lock's files
        for name in (HOLDER_NAME, LOCK_NAME):
            (out / name).unlink(missing_ok=True)
        lock.release()


def _holder(out: Path) -> str:
    try:
        return (out / HOLDER_NAME).read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def sweep_stale_saves(out: Path) -> list[str]:
    """Remove the temp folders that an interrupted save left in ``out``; returns their names."""
    stale = [p for p in out.iterdir() if p.is_dir() and p.name.startswith(STALE_PREFIXES)]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return [p.name for p in stale]
