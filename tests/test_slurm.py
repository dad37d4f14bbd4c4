"""The tiny study on a real one-node SLURM cluster, through the SLURM profile (profiles/slurm).

The cluster (munged, slurmctld, slurmd on this host, one stand-in GPU) is configured by
``.ci/slurm/setup.sh`` (as root: installs slurm-wlm and munge, writes /etc/slurm/slurm.conf) and
started and stopped by ``.ci/slurm/cluster.sh`` from tests/conftest.py, which builds the session's
tiny study through it (``slurm_build``). Here: what the cluster recorded of that build. Without the
cluster these tests are skipped, unless MCDETECT_REQUIRE_SLURM=1 (set by .ci/run): then they fail.
"""

import re

from helpers import executed

GPU_RULES = {"train", "predict", "sweep_train", "sweep_predict"}  # one GPU each
# A group job's name in SLURM: the group's name, then its rules (profiles/slurm: groups)
PREPROCESS_GROUP = "preprocess_preprocess_preprocess_raw"


def _rule(job):
    return re.sub(r"_wildcards_.*", "", job["Comment"]).removeprefix("rule_")


def test_every_cluster_job_of_the_study_went_through_slurm_and_completed(slurm_build):
    work, record = slurm_build.path, slurm_build.slurm
    jobs = record.jobs
    assert jobs, "slurmctld holds no job of the build"
    assert {j["JobState"] for j in jobs} == {"COMPLETED"}
    assert {j["Partition"] for j in jobs} == {"main"}
    # Every job the console shows as a cluster job ("rule X:") is a SLURM job of that rule, and
    # the cheap rules of the workflow's localrules ran on this host ("localrule X:") instead.
    ran = executed(record.console)
    remote = [j.rule for j in ran if not j.local]
    slurm_rules = sorted(_rule(j) for j in jobs if _rule(j) != PREPROCESS_GROUP)
    grouped = sum(j.rule in ("preprocess", "preprocess_raw") for j in ran)
    assert sorted(r for r in remote if r not in ("preprocess", "preprocess_raw")) == slurm_rules
    assert grouped == 3 * 8  # 8 images x (raw, dehaze, clahe), in group jobs (below)
    local = {j.rule for j in ran if j.local}
    assert {"manifest", "folds", "model_card", "figures", "report"} <= local
    assert not local & {_rule(j) for j in jobs}
    for rule in ("synthesize", "validate", "samples", "shards", "baselines", "train", "predict",
                 "evaluate", "detect", "froc", "sweep_preprocess", "sweep_shards", "sweep_train",
                 "sweep_predict", "sweep_evaluate"):
        assert rule in slurm_rules, rule
    # the tiny sweep: one SLURM job per training (2 omegas x 1 percentile x 2 folds, VGG-like)
    assert slurm_rules.count("sweep_train") == 4
    # One plugin log per SLURM job, and the run ids of the jobs are the one of this run.
    logs = list((work / ".snakemake/slurm_logs").rglob("*.log"))
    assert sorted(p.stem for p in logs) == sorted(j["JobId"] for j in jobs)
    run_ids = set(re.findall(r"SLURM run ID: (\S+)", record.console))
    assert len(run_ids) == 1 and {j["JobName"] for j in jobs} == run_ids
    # The job completion log of slurmctld (kept beyond MinJobAge) lists the same jobs.
    done = re.findall(r"JobId=(\d+) .*?JobState=COMPLETED", record.jobcomp)
    assert set(j["JobId"] for j in jobs) <= set(done)


def test_training_and_prediction_jobs_requested_the_gpu(slurm_build):
    work, jobs = slurm_build.path, slurm_build.slurm.jobs
    gpu_jobs = [j for j in jobs if _rule(j) in GPU_RULES]
    models = [*(work / "results/models").glob("*/*/fold*.keras"),
              *(work / "results/sweep").glob("*/*/models/*/fold*.keras")]  # and the sweep's
    trainings = [j for j in gpu_jobs if _rule(j) in ("train", "sweep_train")]
    assert len(trainings) == len(models) > 0  # one training per model
    # one prediction job per (variant or setting, net) scores every fold
    assert len(gpu_jobs) - len(trainings) == len({m.parent for m in models})
    for job in gpu_jobs:
        assert re.fullmatch(r"gres[:/]gpu:1", job.get("TresPerJob", "")), job
    others = [j for j in jobs if _rule(j) not in GPU_RULES]
    assert others and not any("gpu" in j.get("TresPerJob", "") for j in others)


def test_preprocessing_jobs_went_to_slurm_as_groups(slurm_build):
    record = slurm_build.slurm
    groups = [j for j in record.jobs if _rule(j).startswith("preprocess")]
    assert groups and all(_rule(j) == PREPROCESS_GROUP for j in groups)
    assert len(groups) < 3 * 8  # 24 per-image jobs (8 images x 3 variants) in fewer SLURM jobs
    assert not any(_rule(j) in ("preprocess", "preprocess_raw") for j in record.jobs)
    # Each group job fits the node: its CPUs are bounded by --cores.
    for job in groups:
        assert int(job["NumCPUs"]) <= int(record.node["CPUTot"])
    assert record.console.count("Group job preprocess") == len(groups)
    logs = list((slurm_build.path / ".snakemake/slurm_logs").glob("group_preprocess*/**/*.log"))
    assert len(logs) == len(groups)
