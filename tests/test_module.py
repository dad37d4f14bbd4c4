"""The workflow as a Snakemake module, as snakedeploy sets it up: another folder's Snakefile with
``module`` + ``use rule * from mcdetect`` runs the tiny study's dataset and preprocessing stages,
every path inside the rules resolving from the module's own folder."""

from __future__ import annotations

import subprocess

import pandas as pd

from conftest import REPO, SNAKEMAKE, TINY


def test_the_workflow_runs_as_a_module_from_another_folder(tmp_path):
    work = tmp_path / "my-study"
    work.mkdir()
    (work / "Snakefile").write_text(
        "module mcdetect:\n"
        f'    snakefile: "{REPO / "workflow" / "Snakefile"}"\n'
        "    config: config\n\n\n"
        "use rule * from mcdetect\n"
    )
    proc = subprocess.run(
        [SNAKEMAKE, "--cores", "2", "preprocessed", "--configfile", str(REPO / "config.yaml"),
         str(TINY)], cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    images = pd.read_csv(work / "results/dataset/images.tsv", sep="\t")
    assert len(images) == 16
    for variant in ("raw", "dehaze", "clahe"):
        assert len(list((work / f"results/preprocessed/{variant}").glob("*.png"))) == 16
    assert (work / "private/sources.tsv").is_file() and (work / "logs/validate.log").is_file()
    assert not (REPO / "workflow" / "results").exists()  # nothing written beside the module
