"""The tiny study on a real one-node SLURM cluster, through the SLURM profile (profiles/slurm).

The cluster (munged, slurmctld, slurmd on this host, one stand-in GPU) is configured by
``.ci/slurm/setup.sh`` (as root: installs slurm-wlm and munge, writes /etc/slurm/slurm.conf) and
started and stopped by ``.ci/slurm/cluster.sh`` from the fixture below. Without that set-up the test
is skipped, unless MCDETECT_REQUIRE_SLURM=1 (set by .ci/run), where it fails instead.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(3600)]

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
CLUSTER = REPO / ".ci/slurm/cluster.sh"
REQUIRED = os.environ.get("MCDETECT_REQUIRE_SLURM") == "1"
RUN_TIMEOUT_S = 3000  # the study itself; the whole test has 3600 s
GPU_RULES = {"train", "predict", "sweep_train", "sweep_predict"}  # one GPU each


def _missing():
    """Why the test cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "not root (the test cluster's daemons run as root)"
    tools = [t for t in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
             if shutil.which(t) is None]
    if tools:
        return f"{', '.join(tools)} not installed"
    conf = Path("/etc/slurm/slurm.conf")
    if not conf.is_file() or not conf.read_text().startswith("# mcdetect-test-cluster"):
        return "/etc/slurm/slurm.conf is not the test cluster's"
    return None


def _cluster(action):
    return subprocess.run(["bash", str(CLUSTER), action], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def slurm_node():
    """A running one-node cluster: yields the node's facts (scontrol show node); every daemon
    started is stopped by its pid afterwards, whatever the test's outcome."""
    why = _missing()
    if why:
        msg = f"no test SLURM cluster: {why} (set it up as root: bash .ci/slurm/setup.sh)"
        if REQUIRED:
            pytest.fail(msg + "; MCDETECT_REQUIRE_SLURM=1")
        pytest.skip(msg)
    try:
        started = _cluster("start")
        assert started.returncode == 0, f"cluster start failed:\n{started.stdout}{started.stderr}"
        node = subprocess.run(["scontrol", "show", "node", "-o"], capture_output=True,
                              text=True, check=True).stdout
        yield dict(re.findall(r"(\w+)=(\S+)", node))
    finally:
        stopped = _cluster("stop")
        print(stopped.stdout, stopped.stderr)
        assert stopped.returncode == 0, f"cluster stop failed:\n{stopped.stdout}{stopped.stderr}"
        assert "still alive" not in stopped.stderr


def _slurm_jobs():
    """Every job slurmctld still holds (MinJobAge is an hour), as dicts of scontrol's fields."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True,
                         check=True).stdout
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def slurm_run(slurm_node, tmp_path_factory):
    """The tiny study through --workflow-profile profiles/slurm, sized to the test node."""
    work = tmp_path_factory.mktemp("slurm")
    cmd = [
        SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(work),
        "--workflow-profile", str(REPO / "profiles/slurm"),
        # The test node: no account, its CPUs and memory as the largest job or group.
        "--slurm-no-account",
        "--cores", slurm_node["CPUTot"], "--resources", f"mem_mb={slurm_node['RealMemory']}",
        # No slurmdbd here (sacct needs one): job status from squeue, finished jobs are kept for
        # an hour (MinJobAge); polled every 5 s so that the short jobs follow each other quickly.
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5",
        "--slurm-keep-successful-logs",
        "--configfile", str(REPO / "config.yaml"), str(REPO / "tests/config/tiny.yaml"),
    ]
    log = work / "snakemake.out"
    with open(log, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_S)
    text = log.read_text()
    assert proc.returncode == 0, f"snakemake on SLURM failed:\n{text[-8000:]}"
    return work, text, _slurm_jobs()


def test_slurm_run_produces_the_study(slurm_run):
    work, _, _ = slurm_run
    results = work / "results"
    assert "Bonferroni" in (results / "evaluation/table3.md").read_text()
    for variant in ("raw", "dehaze", "clahe"):
        for arch in ("alexnet", "vgg"):
            for fold in (0, 1):
                assert (results / f"predictions/{variant}/{arch}/fold{fold}.parquet").is_file()
    assert (results / "figures/fig3_average_roc.png").stat().st_size > 10_000
    images = (results / "dataset/images.tsv").read_text().splitlines()[1:]
    assert len(images) == 16  # tests/config/tiny.yaml
    assert len(list((results / "preprocessed").glob("*/*.png"))) == 3 * len(images)


def _rule(job):
    return re.sub(r"_wildcards_.*", "", job["Comment"]).removeprefix("rule_")


def test_every_job_went_through_slurm_and_completed(slurm_run):
    work, out, jobs = slurm_run
    assert jobs, "slurmctld holds no job"
    assert {j["JobState"] for j in jobs} == {"COMPLETED"}
    assert {j["Partition"] for j in jobs} == {"main"}
    rules = {_rule(j) for j in jobs}
    for rule in ("synthesize", "validate", "manifest", "folds", "figures", "samples", "shards",
                 "train", "predict", "evaluate", "sweep_preprocess", "sweep_evaluate"):
        assert rule in rules
    # the tiny sweep: one SLURM job per training (2 omegas x 2 percentiles x 2 folds, VGG-like)
    assert sum(_rule(j) == "sweep_train" for j in jobs) == 8
    # One plugin log per SLURM job, and the run ids of the jobs are the one of this run.
    logs = list((work / ".snakemake/slurm_logs").rglob("*.log"))
    assert sorted(p.stem for p in logs) == sorted(j["JobId"] for j in jobs)
    run_ids = set(re.findall(r"SLURM run ID: (\S+)", out))
    assert len(run_ids) == 1 and {j["JobName"] for j in jobs} == run_ids
    # The job completion log of slurmctld (kept beyond MinJobAge) lists the same jobs.
    jobcomp = Path(os.environ.get("MCDETECT_SLURM_DIR", "/var/tmp/mcdetect-slurm"))
    done = re.findall(r"JobId=(\d+) .*?JobState=COMPLETED",
                      (jobcomp / "jobcomp.log").read_text())
    assert sorted(done) == sorted(j["JobId"] for j in jobs)


def test_training_and_prediction_jobs_requested_the_gpu(slurm_run):
    work, _, jobs = slurm_run
    gpu_jobs = [j for j in jobs if _rule(j) in GPU_RULES]
    models = [*(work / "results/models").glob("*/*/fold*.keras"),
              *(work / "results/sweep").glob("*/*/models/*/fold*.keras")]  # and the sweep's
    assert len(gpu_jobs) == 2 * len(models) > 0  # one training and one prediction per model
    for job in gpu_jobs:
        assert re.fullmatch(r"gres[:/]gpu:1", job.get("TresPerJob", "")), job
    others = [j for j in jobs if _rule(j) not in GPU_RULES]
    assert others and not any("gpu" in j.get("TresPerJob", "") for j in others)


def test_preprocessing_jobs_went_to_slurm_as_groups(slurm_run, slurm_node):
    work, out, jobs = slurm_run
    groups = [j for j in jobs if _rule(j).startswith("preprocess_")]
    assert groups and all(_rule(j) == "preprocess_preprocess_preprocess_raw" for j in groups)
    assert len(groups) < 3 * 16  # 48 per-image jobs (16 images x 3 variants) in fewer SLURM jobs
    assert not any(_rule(j) in ("preprocess", "preprocess_raw") for j in jobs)
    # Each group job fits the node: its CPUs and memory are bounded by --cores / --resources.
    for job in groups:
        assert int(job["NumCPUs"]) <= int(slurm_node["CPUTot"])
    assert out.count("Group job preprocess") == len(groups)
    logs = list((work / ".snakemake/slurm_logs").glob("group_preprocess*/**/*.log"))
    assert len(logs) == len(groups)
