"""Every output file goes through vaelab.io.atomic: never half-written, the permissions of a plain open(), and errors
that name the file asked for."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from vaelab.io.atomic import atomic_path, write_text_atomic


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
    p = subprocess.run(
        [sys.executable, "-m", "vaelab.cli", "report", "--out", "/proc/x.html"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    # refused before the page is built (it used to fail at the end, naming its temp file /proc/.x.html.tmp)
    assert (
        p.returncode == 2
        and p.stderr.strip() == "vaelab: error: cannot write --out /proc/x.html: No such file or directory"
    )
    # a folder output is checked before any work: train-evaluator used to fail only after training
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "vaelab.cli",
            "train-evaluator",
            "--out",
            "/proc/evaluator",
            "--epochs",
            "1",
            "--limit",
            "200",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == "vaelab: error: cannot write --out /proc/evaluator: No such file or directory"


def test_the_write_check_tries_the_folder_outputs_are_staged_in_and_leaves_nothing(tmp_path, monkeypatch):
    import tempfile

    from vaelab.errors import VaelabError
    from vaelab.io.staging import check_out_folder, check_writable
    from vaelab.models.config import check_model_folder

    out = tmp_path / "parent" / "out"
    out.mkdir(parents=True)
    check_out_folder(out)
    assert sorted(p.name for p in (tmp_path / "parent").iterdir()) == ["out"] and not any(out.iterdir())
    real = tempfile.mkdtemp
    tried = []

    def read_only_parent(dir=None, prefix=None):  # out itself is writable; the folder above it is not
        tried.append(Path(dir))
        if Path(dir) == out.parent:
            raise PermissionError(13, "Permission denied", str(dir))
        return real(dir=dir, prefix=prefix)

    monkeypatch.setattr(tempfile, "mkdtemp", read_only_parent)
    with pytest.raises(VaelabError, match="cannot write --out .*out: Permission denied"):
        check_out_folder(out)
    assert set(tried) == {out, out.parent}
    tried.clear()
    check_writable(tmp_path / "new" / "deeper" / "page.html")  # a file: the nearest existing folder
    assert tried == [tmp_path] and not (tmp_path / "new").exists()
    tried.clear()
    check_model_folder(out, evaluator=False)  # a model folder is written in place: out alone is tried
    assert tried == [out]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux's /proc, where no file can be made")
@pytest.mark.parametrize(
    "command", [["explore"], ["blend"], ["arithmetic", "class:0"], ["attribute", "--attr", "class=0"]]
)
def test_commands_that_encode_refuse_an_unwritable_out_first(command, tiny_model_dir, monkeypatch, capsys):
    import vaelab.tasks.encoding
    from vaelab.cli import main

    monkeypatch.setattr(
        vaelab.tasks.encoding, "encode_batched", lambda *a, **k: pytest.fail("encoded before the check")
    )
    assert main([*command, "--model", str(tiny_model_dir), "--out", "/proc/nope"]) == 2
    assert capsys.readouterr().err.strip() == "vaelab: error: cannot write --out /proc/nope: No such file or directory"
