"""Every output file goes through vaelab.atomic: never half-written, the permissions of a plain open(), and errors
that name the file asked for."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from vaelab.atomic import atomic_path, write_text_atomic


def test_a_finished_file_replaces_the_old_one_with_plain_permissions(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    write_text_atomic(target, "new ü")
    assert target.read_text(encoding="utf-8") == "new ü"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's private 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp file left


def test_a_failure_half_way_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]


def test_an_unwritable_place_is_named_as_asked_not_by_its_temp_file(tmp_path):
    missing = tmp_path / "no" / "such" / "x.html"
    with pytest.raises(FileNotFoundError) as e:
        write_text_atomic(missing, "page")
    assert e.value.filename == str(missing)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux's /proc, where no file can be made")
def test_cli_errors_name_the_out_path(tmp_path):
    import subprocess

    env = {**os.environ, "TQDM_DISABLE": "1"}
    p = subprocess.run([sys.executable, "-m", "vaelab.cli", "report", "--out", "/proc/x.html"], capture_output=True,
                       text=True, env=env, cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.strip() == "vaelab: error: /proc/x.html: No such file or directory"
    # a folder output is checked before any work: train-evaluator used to fail only after training
    p = subprocess.run([sys.executable, "-m", "vaelab.cli", "train-evaluator", "--out", "/proc/evaluator", "--epochs",
                        "1", "--limit", "200"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == "vaelab: error: cannot write --out /proc/evaluator: No such file or directory"
