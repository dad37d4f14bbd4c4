"""Shared fixtures: small DICOM writers, a tiny synthetic dataset, and one completed run of the
tiny study (``tiny_run``) shared by the workflow and rerun tests of the session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcdetect.data.synthetic import write_dicom

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests/config/tiny.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: needs the completed tiny study (a few minutes, once per session)"
    )


# The first test that needs the tiny study builds it (the whole study and its sweep: 10-15 min on
# 2 cores), and pytest-timeout counts fixtures in: such tests get this limit instead of the
# default (pyproject.toml), unless they set their own.
TINY_RUN_TIMEOUT_S = 2400


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tiny_run" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
                "timeout"):
            item.add_marker(pytest.mark.timeout(TINY_RUN_TIMEOUT_S))


def snakemake(workdir, *args, check=True, overlay=TINY):
    """Run the workflow in ``workdir`` with config.yaml and ``overlay`` (one path or a list of
    paths, applied in order); ``args`` (targets and options) go before --configfile, whose file
    list would swallow them."""
    overlays = list(overlay) if isinstance(overlay, (list, tuple)) else [overlay]
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2",
           *args, "--configfile", str(REPO / "config.yaml"), *map(str, overlays)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One completed run of the tiny study (config.yaml + tests/config/tiny.yaml), shared by every
    test of the session: tests only read it or dry-run it (``-n``); a test that must change files
    works on a copy (see tests/test_reruns.py)."""
    work = tmp_path_factory.mktemp("tiny")
    snakemake(work)
    return work


def spot_image(rows, cols, x, y, sigma=2.0, base=1000, peak=8000):
    """A flat image with one Gaussian spot centred at (x, y) (x = column), uint16."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    img = base + peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return np.rint(img).astype(np.uint16)


def breast_like(rows, cols, chest_wall="left", level=12000, air=500):
    """A half-disc 'breast' (bright in MONOCHROME2) against the chest wall, air elsewhere."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    x0 = 0 if chest_wall == "left" else cols - 1
    inside = ((xx - x0) / (0.7 * cols)) ** 2 + ((yy - rows / 2) / (0.4 * rows)) ** 2 < 1
    return np.where(inside, level, air).astype(np.uint16)


@pytest.fixture
def write(tmp_path):
    """write(name, pixels, **tags) -> path of a DICOM file in tmp_path."""

    def _write(name, pixels, **kw):
        kw.setdefault("photometric", "MONOCHROME2")
        path = tmp_path / name
        write_dicom(path, pixels, **kw)
        return path

    return _write
