"""evaluate_on: the tiny study's nets and first stage on an evaluation-only release (a mini-MIAS
fixture): only the external jobs run, the release's file names stay in private/, and the
cluster-level FROC finds the outlined cluster of bright specks."""

import json

import numpy as np
import pandas as pd
import pytest

from helpers import (
    TINY,
    breast_like,
    copy_run,
    make_cbis,
    overlay,
    planned,
    rules,
    snakemake,
    spot_image,
    write_pgm,
)
from mcdetect.detection.external import import_external, read_canonical


def mini_mias(root):
    """Four 1024x1024 films: mdb001 (a left breast) with a cluster of six bright specks inside a
    CALC circle, two normal films and one more CALC film whose circle holds nothing."""
    root.mkdir(parents=True, exist_ok=True)
    base = breast_like(1024, 1024, level=150, air=10).astype(np.int32)
    cx, cy = 300, 480  # row, as the pixels are stored; Info.txt counts y from the bottom
    specks = sum(spot_image(1024, 1024, cx + dx, cy + dy, sigma=1.0, base=0, peak=90)
                 .astype(np.int32) for dx, dy in ((0, 0), (6, 3), (-5, 4), (3, -6), (8, 8),
                                                  (-7, -4)))
    write_pgm(root / "mdb001.pgm", np.clip(base + specks, 0, 255))
    for n in (2, 3, 4):
        write_pgm(root / f"mdb00{n}.pgm",
                  breast_like(1024, 1024, chest_wall="right" if n % 2 else "left",
                              level=140 + n, air=10))
    (root / "Info.txt").write_text(
        f"mdb001 G CALC B {cx} {1023 - cy} 25\nmdb002 F NORM\nmdb003 D CALC M 700 500 20\n"
        "mdb004 F NORM\n")
    return root


def test_import_writes_pseudonymous_tables_and_keeps_file_names_private(tmp_path):
    root = mini_mias(tmp_path / "MIAS")
    out = {k: tmp_path / f"{k}.tsv" for k in ("images", "regions", "private")}
    out["summary"] = tmp_path / "summary.json"
    summary = import_external("mini_mias", root, out, spacing_mm=0.1, nominal_spacing_mm=0.05,
                              pseudonym_key="k", log=lambda *_: None)
    assert summary["images"] == 4 and summary["cluster_outlines"] == 2
    assert json.loads(out["summary"].read_text()) == summary
    for key in ("images", "regions", "summary"):
        assert "mdb" not in out[key].read_text() and str(root) not in out[key].read_text()
    private = pd.read_csv(out["private"], sep="\t")
    assert sorted(private["source"]) == [f"mdb00{n}.pgm" for n in (1, 2, 3, 4)]
    with pytest.raises(ValueError, match="evaluate_on.source"):
        import_external("inbreast", root, out, spacing_mm=0.1, nominal_spacing_mm=0.05,
                        pseudonym_key="k")


def test_cbis_ddsm_release_is_imported_and_its_images_read_in_the_study_geometry(tmp_path):
    csv, _ = make_cbis(tmp_path / "CBIS")
    out = {k: tmp_path / f"{k}.tsv" for k in ("images", "regions", "private")}
    out["summary"] = tmp_path / "summary.json"
    summary = import_external("cbis_ddsm", tmp_path / "CBIS", out, csv=[csv], spacing_mm=0.1,
                              nominal_spacing_mm=0.05, pseudonym_key="k", log=lambda *_: None)
    assert (summary["images"], summary["cluster_outlines"]) == (1, 1)
    images = pd.read_csv(out["images"], sep="\t")
    for key in ("images", "regions", "summary"):
        assert "Calc-Test" not in out[key].read_text() and "P_00001" not in out[key].read_text()
    path = pd.read_csv(out["private"], sep="\t")["path"].iloc[0]
    image = read_canonical("cbis_ddsm", path, spacing_mm=0.1, nominal_spacing_mm=0.05,
                           pseudonym_key="k")
    assert image.shape == (images["rows"].iloc[0], images["cols"].iloc[0]) == (200, 150)


def test_tiny_study_nets_score_clusters_on_an_evaluation_only_release(tiny_run, tmp_path):
    work = copy_run(tiny_run, tmp_path / "work")
    root = mini_mias(tmp_path / "MIAS")
    edit = overlay(tmp_path, {"evaluate_on": {"source": "mini_mias", "path": str(root)}})
    jobs = planned(work, edit)
    external = {"external_import", "external_detect", "external_froc"}
    assert external <= rules(jobs) <= external | {"study", "all", "external"}  # nothing reruns
    snakemake(work, "external", overlay=[TINY, edit])
    d = work / "results/external"
    summaries = pd.read_csv(d / "froc.tsv", sep="\t")
    methods = {f"{v}/{m}" for v in ("raw", "clahe", "dehaze") for m in ("vgg", "dog")}
    assert set(summaries["method"]) == methods and set(summaries["level"]) == {"cluster"}
    assert list(dict.fromkeys(summaries["fp_over"])) == ["normal", "all"]  # mdb002, mdb004: NORM
    recall = summaries[(summaries["summary"] == "sens@all")
                       & (summaries["fp_over"] == "all")].set_index("method")["value"]
    assert recall["raw/dog"] == 0.5  # the specks' cluster; mdb003's circle holds nothing
    assert summaries["value"].between(0, 1000).all()
    comparisons = pd.read_csv(d / "froc_comparisons.tsv", sep="\t")
    assert "dehaze/vgg - raw/vgg" in set(comparisons["comparison"])
    marks = pd.read_parquet(d / "detection/dehaze/vgg.parquet")
    images = pd.read_csv(d / "images.tsv", sep="\t")
    assert set(marks["image_id"]) <= set(images["image_id"]) and len(images) == 4
    assert (work / "results/figures/fig_external_froc.png").stat().st_size > 10_000
    for path in d.rglob("*"):  # the release's file names stay in private/
        if path.is_file():
            assert b"mdb0" not in path.read_bytes() and str(root).encode() not in \
                path.read_bytes(), path
    assert "mdb001.pgm" in (work / "private/external_sources.tsv").read_text()

