"""The workflow as a Snakemake module, as snakedeploy sets it up: another folder's Snakefile with
``module`` + ``use rule * from mcdetect``, on a copy of the completed tiny study. The module sees
the study as its own (nothing to do), every path inside the rules resolving from the module's own
folder; a changed dehazing parameter with the stage target ``preprocessed`` reruns that variant's
preprocessing and figures and nothing after the stage."""

from __future__ import annotations

import subprocess

from helpers import REPO, SNAKEMAKE, TINY, copy_run, executed, overlay, parse_jobs, rules


def _module(work, *args, edit=None):
    """Snakemake in ``work`` on its module Snakefile, with config.yaml, tiny.yaml (and ``edit``)."""
    proc = subprocess.run(
        [SNAKEMAKE, "--cores", "2", *args, "--configfile", str(REPO / "config.yaml"), str(TINY),
         *([str(edit)] if edit else [])], cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + "\n" + proc.stderr


def test_the_workflow_runs_as_a_module_from_another_folder(tiny_run, tmp_path):
    work = copy_run(tiny_run, tmp_path / "my-study")
    (work / "Snakefile").write_text(
        "module mcdetect:\n"
        f'    snakefile: "{REPO / "workflow" / "Snakefile"}"\n'
        "    config: config\n\n\n"
        "use rule * from mcdetect\n"
    )
    assert "Nothing to be done" in _module(work, "-n")

    dehazed = sorted((work / "results/preprocessed/dehaze").glob("*.png"))
    before = {p: p.stat().st_mtime_ns for p in (work / "results").rglob("*") if p.is_file()}
    edit = overlay(tmp_path, {"preprocess": {"dehaze": {"omega": 0.8}}})
    jobs = executed(_module(work, "preprocessed", edit=edit))
    assert rules(jobs) == {"preprocess", "figures", "preprocessed"}, rules(jobs)
    assert {j.wildcards["variant"] for j in jobs if j.rule == "preprocess"} == {"dehaze"}
    assert sum(j.rule == "preprocess" for j in jobs) == len(dehazed) == 8
    changed = {p for p, t in before.items() if p.stat().st_mtime_ns != t}
    assert changed == {*dehazed, *(work / "results/figures").glob("fig[12]_*.png")}
    # The stage stops there: the dehazed shards are now out of date, and only a later stage's
    # target (here `patches`) makes them again.
    later = parse_jobs(_module(work, "patches", "-n", edit=edit))
    assert {j.wildcards.get("variant") for j in later if j.rule == "shards"} == {"dehaze"}
    assert not (REPO / "workflow" / "results").exists()  # nothing written beside the module
