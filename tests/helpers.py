"""What the tests share: running the workflow and reading its plans, copies of the completed tiny
study, and small synthetic inputs (images, DICOM files, the files of public releases).

Fixtures live in conftest.py; test files import from here, never from each other.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from mcdetect.data.synthetic import write_dicom

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests/config/tiny.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

# ------------------------------------------------------------------ running the workflow



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


def overlay(tmp_path, cfg: dict | str, name="edit.yaml"):
    """A config overlay file in ``tmp_path``: a dict, or YAML text as a user would write it."""
    path = Path(tmp_path) / name
    path.write_text(cfg if isinstance(cfg, str) else yaml.safe_dump(cfg))
    return path


def copy_run(src, dst):
    """A copy of a completed run (mtimes kept, .snakemake metadata included). The trained models,
    which a copy never writes in place (a job that retrains one deletes it first), are hard
    links; resumable-training checkpoints, locks and SLURM logs are left out."""

    def copy(s, d):
        if f"{os.sep}results{os.sep}models{os.sep}" in s:
            os.link(s, d)
        else:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, symlinks=True, copy_function=copy,
                    ignore=shutil.ignore_patterns("checkpoints", "locks", "slurm_logs"))
    return Path(dst)


# ------------------------------------------------------------------ reading a dry run's plan


@dataclass(frozen=True)
class Job:
    rule: str
    wildcards: dict = field(default_factory=dict, hash=False)
    reason: str = field(default="", repr=False)
    local: bool = field(default=False, repr=False, compare=False)  # "localrule X:" on a cluster

    def __str__(self):
        return f"{self.rule}[{','.join(f'{k}={v}' for k, v in self.wildcards.items())}]"


def show(jobs, limit=20):
    """A short listing of jobs for assertion messages."""
    names = sorted(map(str, jobs))
    return ", ".join(names[:limit]) + (f" ... ({len(names)} jobs)" if len(names) > limit else "")


_HEADER = re.compile(r"^\s*(?P<local>local)?(?:rule|checkpoint) (?P<rule>\w+):$")
_FIELD = re.compile(r"^\s+(?P<key>\w+): (?P<value>.*)$")
_STAT = re.compile(r"^(?P<rule>\w+)\s+(?P<count>\d+)$")


def parse_jobs(text: str) -> list[Job]:
    """The jobs of a run or a dry run, from its job blocks ("rule X:" / "checkpoint X:", with
    "local" before them for a job on this host under a cluster executor, indented inside a group
    job; then indented "key: value" lines: reason, wildcards, ...). Wildcard values here never
    hold ", "."""
    jobs, rule, local, fields = [], None, False, {}

    def close():
        if rule is not None:
            wc = fields.get("wildcards", "")
            wildcards = dict(item.split("=", 1) for item in wc.split(", ")) if wc else {}
            jobs.append(Job(rule, wildcards, fields.get("reason", ""), local))

    for line in text.splitlines():
        if m := _HEADER.match(line):
            close()
            rule, local, fields = m["rule"], bool(m["local"]), {}
        elif rule is not None and (m := _FIELD.match(line)):
            fields[m["key"]] = m["value"]
        elif rule is not None:  # any other line ends the block
            close()
            rule, fields = None, {}
    close()
    return jobs


def parse_job_stats(text: str) -> Counter:
    """The first "Job stats:" table of a dry run (jobs per rule), without the total."""
    lines = text.splitlines()
    try:
        start = lines.index("Job stats:")
    except ValueError:
        return Counter()
    counts = Counter()
    for line in lines[start + 3:]:  # after the header and the dashes
        m = _STAT.match(line.strip())
        if not m or m["rule"] == "total":
            break
        counts[m["rule"]] = int(m["count"])
    return counts


def planned(workdir, *overlays, extra=()) -> list[Job]:
    """The jobs ``snakemake -n`` plans in ``workdir`` with tiny.yaml and then ``overlays``.

    The parsed job blocks must agree, rule by rule, with the run's own job statistics, so that a
    change of Snakemake's output format fails here rather than passing with no jobs."""
    proc = snakemake(workdir, "-n", *extra, overlay=[TINY, *overlays])
    text = proc.stdout + "\n" + proc.stderr
    jobs = parse_jobs(text)
    assert Counter(j.rule for j in jobs) == parse_job_stats(text), text[-3000:]
    if not jobs:
        assert "Nothing to be done" in text, text[-3000:]
    return jobs


def wildcard_set(jobs, rule, *names):
    """The values of wildcards ``names`` (a tuple if several) over the jobs of ``rule``."""
    values = [tuple(j.wildcards[n] for n in names) for j in jobs if j.rule == rule]
    return {v if len(names) > 1 else v[0] for v in values}


def rules(jobs):
    return {j.rule for j in jobs}


_FINISHED = re.compile(r"^Finished jobid: \S+ \(Rule: (?P<rule>\w+)\)$", re.M)


def executed(text: str) -> list[Job]:
    """The jobs a run executed, from its console (the job blocks of a dry run), checked against
    the run's own "Finished jobid" lines, so that a change of Snakemake's output format fails
    here rather than passing with no jobs."""
    jobs = parse_jobs(text)
    assert Counter(j.rule for j in jobs) == Counter(_FINISHED.findall(text)), text[-3000:]
    return jobs


def run_jobs(workdir, *args, overlays=()) -> list[Job]:
    """Run the workflow in ``workdir`` (tiny.yaml, then ``overlays``); the jobs it executed."""
    proc = snakemake(workdir, *args, overlay=[TINY, *overlays])
    return executed(proc.stdout + "\n" + proc.stderr)


# ------------------------------------------------------------------ small synthetic inputs


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


def mammogram_with_spots(chest_wall, spots, rows, cols, level=12000):
    """A ``breast_like`` mammogram with a bright Gaussian spot at each (x, y) of ``spots``."""
    img = breast_like(rows, cols, chest_wall=chest_wall, level=level).astype(np.int32)
    for x, y in spots:
        img += spot_image(rows, cols, x, y, sigma=2.0, base=0, peak=3000)
    return np.clip(img, 0, 16383).astype(np.uint16)


CBIS_HEADER = ("patient_id,breast density,left or right breast,image view,abnormality id,"
               "abnormality type,calc type,calc distribution,assessment,pathology,subtlety,"
               "image file path,cropped image file path,ROI mask file path\n")


def make_cbis_case(root, patient="P_00001", mask_shape=(408, 306)):
    """One right CC mammogram (no spacing tag) with a calcification spot at (230, 150); its ROI
    folder holds the crop as 1-1.dcm and the mask (of a slightly different size) as 1-2.dcm.
    Returns its CSV row (paths in the release's UID form, which does not match the folders)."""
    rows, cols, x, y = 400, 300, 230.0, 150.0
    case = f"Calc-Test_{patient}_RIGHT_CC"
    full = root / case / "08-29-2017-DDSM-96009" / "1.000000-full mammogram images-63992"
    full.mkdir(parents=True)
    px = mammogram_with_spots("right", [(x, y)], rows, cols)
    write_dicom(full / "1-1.dcm", px, photometric="MONOCHROME2", spacing_mm=None,
                imager_spacing_mm=None, laterality=None)
    roi_dir = root / f"{case}_1" / "08-29-2017-DDSM-94682" / "1.000000-ROI mask images-81032"
    roi_dir.mkdir(parents=True)
    crop = px[int(y) - 20 : int(y) + 20, int(x) - 20 : int(x) + 20]
    write_dicom(roi_dir / "1-1.dcm", crop, photometric="MONOCHROME2", spacing_mm=None,
                imager_spacing_mm=None)
    mr, mc = mask_shape
    yy, xx = np.mgrid[0:mr, 0:mc]
    mx, my = (x + 0.5) * mc / cols - 0.5, (y + 0.5) * mr / rows - 0.5
    mask = np.where((xx - mx) ** 2 + (yy - my) ** 2 <= 12**2, 255, 0).astype(np.uint16)
    write_dicom(roi_dir / "1-2.dcm", mask, photometric="MONOCHROME2", bits_stored=8,
                spacing_mm=None, imager_spacing_mm=None)
    uid = "1.3.6.1.4.1.9590.100.1.2"
    return (f"{patient},2,RIGHT,CC,1,calcification,PLEOMORPHIC,CLUSTERED,4,MALIGNANT,3,"
            f"{case}/{uid}.1/{uid}.2/000000.dcm,{case}_1/{uid}.3/{uid}.4/000000.dcm,"
            f"{case}_1/{uid}.3/{uid}.4/000001.dcm\n")


def make_cbis(root, mask_shape=(408, 306)):
    """A CBIS-DDSM-layout release of one case (``make_cbis_case``): (its CSV, the spot)."""
    csv = root / "calc_case_description_test_set.csv"
    csv.write_text(CBIS_HEADER + make_cbis_case(root, mask_shape=mask_shape))
    return csv, (230.0, 150.0)


def write_pgm(path, pixels):
    """An 8-bit binary PGM, as mini-MIAS ships its films."""
    path.write_bytes(b"P5\n# mini-MIAS\n%d %d\n255\n" % (pixels.shape[1], pixels.shape[0])
                     + np.ascontiguousarray(pixels, np.uint8).tobytes())
