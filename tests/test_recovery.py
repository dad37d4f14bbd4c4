"""Recovery after a crash, as a power loss leaves a run: Snakemake and a training job killed with
SIGKILL. The next run stops on Snakemake's lock; ``--unlock`` and a rerun finish the study, the
training resuming from its last checkpoint (README, "After a crash")."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from conftest import REPO, SNAKEMAKE, snakemake
from test_reruns import copy_run

pytestmark = pytest.mark.slow

MODEL = "results/models/raw/vgg/fold0.keras"


def test_a_killed_run_recovers_with_unlock_and_resumes_training(tiny_run, tmp_path):
    work = copy_run(tiny_run, tmp_path / "work")
    (work / MODEL).unlink()  # a hard link to the shared run's model: only the copy loses it
    longer = tmp_path / "longer.yaml"  # enough epochs to be killed in the middle
    longer.write_text("train:\n  vgg:\n    epochs: 12\n")
    overlays = [REPO / "tests/config/tiny.yaml", longer]
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(work), "--cores", "2",
           MODEL, "--configfile", str(REPO / "config.yaml"), *map(str, overlays)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while not list((work / "results/checkpoints").glob("raw_vgg_fold0/*/*/epoch-*.keras")):
            assert proc.poll() is None, "the training ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint within 5 minutes"
            time.sleep(0.05)
    finally:
        # Snakemake and its job, as a power loss: every process of the run's session
        subprocess.run(["pkill", "-KILL", "-s", str(proc.pid)], check=False)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert not (work / MODEL).exists()

    locked = snakemake(work, MODEL, check=False, overlay=overlays)
    assert locked.returncode != 0 and "cannot be locked" in locked.stdout + locked.stderr
    snakemake(work, "--unlock", overlay=overlays)
    snakemake(work, MODEL, overlay=overlays)

    log = (work / "logs/train/raw_vgg_fold0.log").read_text()
    assert "resuming after epoch" in log and "epoch 12/12 done" in log
    assert (work / MODEL).is_file()
    assert not (work / "results/checkpoints/raw_vgg_fold0").exists()  # removed once finished
