"""One writer per run folder, and runs that stop cleanly: a second run on a folder in use is refused at once with
the holder's process ID, a lock left by a killed run does not block the next, a save interrupted half-way leaves
nothing the next run trips on, and SIGTERM stops a run as Ctrl-C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_vaelab
from vaelab.cli import main
from vaelab.errors import VaelabError
from vaelab.io.run_lock import run_folder_lock

HOLD = """
import sys, time
from vaelab.io.run_lock import run_folder_lock
with run_folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def held_elsewhere(tmp_path):
    """A run folder held by another process (which is killed at the end)."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield out, proc
    proc.kill()
    proc.wait()


def test_a_second_writer_is_refused_at_once_naming_the_holder(held_elsewhere, toy_idx_dir, capsys):
    out, holder = held_elsewhere
    with pytest.raises(VaelabError, match=rf"in use by another vaelab run \(process {holder.pid}\)"):
        with run_folder_lock(out):
            pass
    code = main(["train", "--data", f"mnist:{toy_idx_dir}", "--out", str(out), "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and f"process {holder.pid}" in err and len(err.strip().splitlines()) == 1
    assert not (out / "config.json").exists() and not (out / "checkpoint.pt").exists()  # nothing was written
    code = main(["train-evaluator", "--data", f"mnist:{toy_idx_dir}", "--out", str(out), "--epochs", "1"])
    assert code == 2 and f"process {holder.pid}" in capsys.readouterr().err


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(held_elsewhere):
    out, holder = held_elsewhere
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (out / ".vaelab-run.lock").exists()  # the killed holder could not tidy up
    with run_folder_lock(out):
        assert (out / ".vaelab-run.pid").read_text().strip() == str(os.getpid())
    assert not [p.name for p in out.iterdir()]  # and a finished run leaves no lock files


def test_the_temp_folders_of_an_interrupted_save_are_swept_when_the_folder_is_next_opened(tmp_path):
    out = tmp_path / "run"
    (out / ".saving-abc123").mkdir(parents=True)
    (out / ".saving-abc123" / "model.safetensors").write_bytes(b"half")
    (out / ".hidden-keep").mkdir()
    with run_folder_lock(out):
        pass
    assert sorted(p.name for p in out.iterdir()) == [".hidden-keep"]


def test_sigterm_stops_a_run_as_ctrl_c_does_and_it_resumes(tmp_path, toy_idx_dir):
    out = tmp_path / "run"
    args = ["--data", f"mnist:{toy_idx_dir}", "--latent", "4", "--widths", "4,8", "--batch-size", "16", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vaelab", "train", *args, "--epochs", "200", "--out", str(out)],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # into a later epoch, maybe mid-save
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert "go on with: vaelab train --out" in err and "--resume" in err
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp folder, no lock left behind
    done = run_vaelab("train", "--out", out, "--resume", "--epochs", "3", "--quiet")
    # the run saved at least one epoch: a resume to 3 goes on, or says the plan is already done
    assert done.returncode == 0 or "has already trained" in done.stderr, done.stderr
