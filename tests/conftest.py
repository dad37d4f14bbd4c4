"""Fixtures of the test suite: the tiny study, built once per session, and the test SLURM cluster.

``tiny_run`` is one completed run of the tiny study (config.yaml + tests/config/tiny.yaml). Where
the one-node test cluster of .ci/slurm/ is set up (as in CI), it is built through the SLURM
profile (profiles/slurm) and what the cluster recorded of its jobs is kept for tests/test_slurm.py
(fixture ``slurm_build``); elsewhere it is built locally. The build starts with the session and
runs while the tests that need no built study run. Tests only read the built study or dry-run it;
a test that changes files works on a copy (``helpers.copy_run``), so only the jobs that its change
touches run.

Markers follow the fixtures: a test that uses ``tiny_run`` is marked ``slow``, one that uses
``slurm_build`` also ``slurm``; ``pytest -m "not slow"`` runs everything that needs no built study.
Slow tests run after the others.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import REPO, SNAKEMAKE, TINY
from mcdetect.data.synthetic import write_dicom

CLUSTER = REPO / ".ci/slurm/cluster.sh"
SLURM_DIR = Path(os.environ.get("MCDETECT_SLURM_DIR", "/var/tmp/mcdetect-slurm"))
# In CI (.ci/run) the SLURM tests must run: without the cluster they fail instead of skipping.
SLURM_REQUIRED = os.environ.get("MCDETECT_REQUIRE_SLURM") == "1"
# Building the tiny study takes a few minutes (longer through SLURM), and pytest-timeout counts
# fixtures in: the tests that need it get this limit instead of the default (pyproject.toml).
TINY_BUILD_TIMEOUT_S = 1800


def pytest_collection_modifyitems(config, items):
    """Mark the tests by the fixtures they use, and run the slow ones last."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "tiny_build" in names:
            item.add_marker(pytest.mark.slow)
            if not item.get_closest_marker("timeout"):
                item.add_marker(pytest.mark.timeout(TINY_BUILD_TIMEOUT_S))
        if "slurm_build" in names:
            item.add_marker(pytest.mark.slurm)
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


# ------------------------------------------------------------------ the test SLURM cluster


def slurm_missing() -> str | None:
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


@dataclass
class Cluster:
    """The running test cluster (``node``: scontrol's facts of its one node), or why there is
    none (``problem``)."""

    node: dict | None = None
    problem: str | None = None


@pytest.fixture(scope="session", autouse=True)
def slurm_cluster():
    """The one-node test cluster, running for the whole session where it is set up (started here
    unless it already runs, and then stopped by its pids). Every Snakemake start asks the cluster
    for its configuration (the SLURM executor plugin runs ``scontrol show config``): with the
    daemons installed but down that question waits 10 s, so the cluster runs for every test."""
    problem = slurm_missing()
    if problem:
        yield Cluster(problem=problem)
        return
    status = _cluster("status").stdout
    started = "not running" in status
    if started:
        out = _cluster("start")
        if out.returncode != 0:
            yield Cluster(problem=f"cluster start failed:\n{out.stdout}{out.stderr}")
            return
    try:
        node = subprocess.run(["scontrol", "show", "node", "-o"], capture_output=True,
                              text=True, check=True).stdout
        yield Cluster(node=dict(re.findall(r"(\w+)=(\S+)", node)))
    finally:
        if started:
            stopped = _cluster("stop")
            print(stopped.stdout, stopped.stderr)
            assert stopped.returncode == 0, (
                f"cluster stop failed:\n{stopped.stdout}{stopped.stderr}")
            assert "still alive" not in stopped.stderr


# ------------------------------------------------------------------ the tiny study


@dataclass
class SlurmRecord:
    """What the cluster recorded of the tiny study's build: the node, every job of the build
    that slurmctld holds (``scontrol show job``, as dicts of its fields), the Snakemake console
    and slurmctld's job completion log."""

    node: dict
    jobs: list[dict]
    console: str
    jobcomp: str


@dataclass
class TinyBuild:
    path: Path
    console: str
    slurm: SlurmRecord | None


def _slurm_jobs() -> list[dict]:
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True,
                         check=True).stdout
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines()
            if line.startswith("JobId=")]  # not "No jobs in the system"


def _slurm_command(work: Path, node: dict) -> list[str]:
    """The tiny study through --workflow-profile profiles/slurm on the test node."""
    return [
        SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(work),
        "--workflow-profile", str(REPO / "profiles/slurm"),
        # The test node: no account; its memory as the largest job or group, and jobs of one CPU
        # each, so that its CPUs (and two stand-in GPUs) run jobs side by side; the per-image
        # jobs in groups of 12, so that the groups run side by side too.
        "--slurm-no-account", "--cores", "1", "--resources", f"mem_mb={node['RealMemory']}",
        "--group-components", "preprocess=12",
        # No slurmdbd here (sacct needs one): job status from squeue, finished jobs are kept for
        # an hour (MinJobAge); the first check 5 s after a submission, so that the short jobs
        # follow each other quickly.
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5",
        "--slurm-keep-successful-logs",
        "--configfile", str(REPO / "config.yaml"), str(TINY),
    ]


class _Build:
    """The tiny study building in the background (its own process group), its console in a
    file."""

    def __init__(self, work: Path, cluster: Cluster):
        self.work, self.cluster = work, cluster
        self.log = work.parent / f"{work.name}-console.log"
        on_slurm = cluster.node is not None
        self.before = {j["JobId"] for j in _slurm_jobs()} if on_slurm else set()
        cmd = (_slurm_command(work, cluster.node) if on_slurm else
               [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(work), "--cores",
                "2", "--configfile", str(REPO / "config.yaml"), str(TINY)])
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def result(self) -> TinyBuild:
        self.proc.wait()
        console = self.log.read_text()
        assert self.proc.returncode == 0, f"the tiny study's build failed:\n{console[-8000:]}"
        if self.cluster.node is None:
            return TinyBuild(self.work, console, None)
        jobs = [j for j in _slurm_jobs() if j["JobId"] not in self.before]
        jobcomp = SLURM_DIR / "jobcomp.log"
        record = SlurmRecord(node=self.cluster.node, jobs=jobs, console=console,
                             jobcomp=jobcomp.read_text() if jobcomp.is_file() else "")
        return TinyBuild(self.work, console, record)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait()


@pytest.fixture(scope="session", autouse=True)
def tiny_build_started(request, slurm_cluster, tmp_path_factory):
    """Starts building the tiny study with the session, where a selected test needs it, so that
    the tests that need none run while it builds (through SLURM, the build leaves most of the
    CPU idle); stops it if the session ends first."""
    if not any("tiny_build" in item.fixturenames for item in request.session.items):
        yield None
        return
    build = _Build(tmp_path_factory.mktemp("tiny"), slurm_cluster)
    try:
        yield build
    finally:
        build.stop()


@pytest.fixture(scope="session")
def tiny_build(tiny_build_started) -> TinyBuild:
    """The tiny study, built once: through SLURM where the test cluster runs, else locally."""
    return tiny_build_started.result()


@pytest.fixture(scope="session")
def tiny_run(tiny_build) -> Path:
    """The folder of the completed tiny study (see ``tiny_build``)."""
    return tiny_build.path


@pytest.fixture(scope="session")
def slurm_build(tiny_build, slurm_cluster) -> TinyBuild:
    """The tiny study as built through SLURM, with the cluster's record of its jobs."""
    if tiny_build.slurm is None:
        msg = (f"no test SLURM cluster: {slurm_cluster.problem} "
               "(set it up as root: bash .ci/slurm/setup.sh)")
        if SLURM_REQUIRED:
            pytest.fail(msg + "; MCDETECT_REQUIRE_SLURM=1")
        pytest.skip(msg)
    return tiny_build


# ------------------------------------------------------------------ small files


@pytest.fixture
def write(tmp_path):
    """write(name, pixels, **tags) -> path of a DICOM file in tmp_path."""

    def _write(name, pixels, **kw):
        kw.setdefault("photometric", "MONOCHROME2")
        path = tmp_path / name
        write_dicom(path, pixels, **kw)
        return path

    return _write
