"""Recovery after a crash, as a power loss leaves a run: Snakemake and a training job killed with
SIGKILL. The next run stops on Snakemake's lock; ``--unlock`` and a rerun finish the study, the
training resuming from its last checkpoint (README, "After a crash") across a step of the learning
rate schedule."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from helpers import REPO, SNAKEMAKE, TINY, copy_run, overlay, snakemake

MODEL = "results/models/raw/vgg/fold0.keras"


def test_a_killed_run_recovers_with_unlock_and_resumes_training(tiny_run, tmp_path):
    work = copy_run(tiny_run, tmp_path / "work")
    (work / MODEL).unlink()  # a hard link to the shared run's model: only the copy loses it
    # Enough epochs to be killed in the middle (about 0.3 s each); tiny.yaml steps the rate
    # down at epoch 1, so the resumed epochs run at the lower rate.
    longer = overlay(tmp_path, {"train": {"vgg": {"epochs": 4}}}, name="longer.yaml")
    overlays = [TINY, longer]
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(work), "--cores", "2",
           MODEL, "--configfile", str(REPO / "config.yaml"), *map(str, overlays)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while not list((work / "results/checkpoints").glob("raw_vgg_fold0/*/*/epoch-*.keras")):
            assert proc.poll() is None, "the training ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint within 5 minutes"
            time.sleep(0.02)
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
    assert "resuming after epoch" in log and "epoch 4/4 done" in log
    assert (work / MODEL).is_file()
    assert not (work / "results/checkpoints/raw_vgg_fold0").exists()  # removed once finished
    epochs = pd.read_csv(work / "results/training/raw/vgg/fold0.tsv", sep="\t")
    assert list(epochs["epoch"]) == [1, 2, 3, 4]
    assert list(epochs["learning_rate"]) == pytest.approx([0.02, 0.002, 0.002, 0.002])
