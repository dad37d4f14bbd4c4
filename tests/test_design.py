"""The study design in the config: variants, labels, reference, comparisons (Bonferroni m = their
number) and CNNs; a design that cannot reach the tables stops at parse time naming the config key;
the tiny study turned into a two-variant study (raw and the guided-filter dehazing) trains only
the new variant and evaluates and reports only those two."""

import json
import re

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO, TINY, copy_run, overlay, run_jobs, snakemake
from mcdetect.design import DesignError, StudyDesign, SweepDesign

LABELS = {"raw": "UN", "clahe": "CL", "dehaze": "DH", "dehaze_guided": "DG"}


def test_default_design_is_the_papers_table3():
    d = StudyDesign.build(["raw", "clahe", "dehaze"], LABELS, "raw", [], ["alexnet", "vgg"])
    assert d.comparisons == (("clahe", "raw"), ("dehaze", "raw"), ("dehaze", "clahe"))
    assert d.compared == [("CL", "UN"), ("DH", "UN"), ("DH", "CL")] and d.m == 3
    assert StudyDesign.from_dict(json.loads(json.dumps(d.as_dict()))) == d


def test_default_comparisons_put_the_reference_first_and_grow_with_the_variants():
    d = StudyDesign.build(["clahe", "dehaze", "raw", "dehaze_guided"], LABELS, "raw", [],
                          ["vgg"])
    assert d.comparisons[:3] == (("clahe", "raw"), ("dehaze", "raw"), ("dehaze_guided", "raw"))
    assert d.m == 6 and ("dehaze_guided", "dehaze") in d.comparisons
    two = StudyDesign.build(["raw", "dehaze"], LABELS, "raw", [], ["vgg"])
    assert two.comparisons == (("dehaze", "raw"),) and two.m == 1


@pytest.mark.parametrize("variants, labels, reference, comparisons, key, words", [
    (["raw", "dehaze"], LABELS, "raw", [["clahe", "raw"]], "study.comparisons", "'clahe'"),
    (["raw", "dehaze"], LABELS, "raw", [["dehaze", "dehaze"]], "study.comparisons", "itself"),
    (["raw", "dehaze"], LABELS, "raw", [["dehaze", "raw"], ["raw", "dehaze"]],
     "study.comparisons", "twice"),
    (["raw", "dehaze"], {"raw": "UN"}, "raw", [], "study.labels", "no label for dehaze"),
    (["raw", "dehaze"], {"raw": "UN", "dehaze": "UN"}, "raw", [], "study.labels", "share"),
    (["dehaze", "clahe"], LABELS, "raw", [], "study.reference", "'raw'"),
    (["raw", "sharpen"], LABELS, "raw", [], "preprocess.variants", "sharpen"),
])
def test_a_design_that_cannot_reach_the_tables_names_its_config_key(variants, labels, reference,
                                                                     comparisons, key, words):
    with pytest.raises(DesignError) as err:
        StudyDesign.build(variants, labels, reference, comparisons, ["vgg"])
    assert err.value.key == key and str(err.value).startswith(f"config {key}:")
    assert words in str(err.value)


def test_a_comparison_naming_an_unknown_variant_stops_the_workflow_at_parse_time(tmp_path):
    overlay = tmp_path / "two.yaml"
    overlay.write_text(yaml.safe_dump({"preprocess": {"variants": ["raw", "dehaze"]},
                                       "study": {"comparisons": [["clahe", "raw"]]}}))
    proc = snakemake(tmp_path / "work", "-n", check=False, overlay=[TINY, overlay])
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "config study.comparisons: [clahe, raw] names 'clahe'" in out
    assert "Building DAG" not in out  # stopped while parsing, before any job was planned


@pytest.fixture(scope="module")
def two_variant_run(tiny_run, tmp_path_factory):
    """A copy of the tiny study with two variants, raw and the guided-filter dehazing, and the
    jobs that the change ran."""
    work = copy_run(tiny_run, tmp_path_factory.mktemp("two") / "work")
    edit = overlay(work.parent, {"preprocess": {"variants": ["raw", "dehaze_guided"]}})
    return work, run_jobs(work, overlays=[edit])


def test_a_two_variant_study_trains_only_the_new_variant(two_variant_run):
    """Only the new variant's jobs run, then what reads every variant (figures, evaluation,
    detection's FROC and overlays, report): nothing of raw, nothing before the preprocessing."""
    _, jobs = two_variant_run
    per_variant = {"preprocess": 8, "shards": 1, "baselines": 1, "train": 4, "model_card": 4,
                   "predict": 2, "detect": 2}  # 8 images; 2 nets x 2 folds; the vgg and dog
    for rule, n in per_variant.items():
        ran = [j for j in jobs if j.rule == rule]
        assert len(ran) == n and {j.wildcards["variant"] for j in ran} == {"dehaze_guided"}, rule
    shared = {"figures", "evaluate", "froc", "detection_overlays", "report", "study"}
    assert {j.rule for j in jobs} == set(per_variant) | shared


def test_a_two_variant_study_evaluates_and_reports_only_its_variants(two_variant_run):
    work, _ = two_variant_run
    t3 = pd.read_csv(work / "results/evaluation/table3.csv")
    assert [c for c in t3.columns if c.startswith("S_") and "CI" not in c] == [
        "S_UN", "S_DG", "S_DG - S_UN"]
    assert "significant (DG vs UN)" in t3.columns  # m = 1: p < 0.05
    md = (work / "results/evaluation/table3.md").read_text()
    assert "Bonferroni, m = 1" in md
    per_model = pd.read_csv(work / "results/evaluation/mean_sensitivity.tsv", sep="\t")
    assert set(per_model["variant"]) == {"raw", "dehaze_guided"}
    for name in ("cnn_vs_baselines.tsv", "per_fold.tsv", "average_roc.tsv"):
        table = pd.read_csv(work / "results/evaluation" / name, sep="\t")
        column = "variant" if "variant" in table else "model"
        values = set(table[column].astype(str))
        assert any("dehaze_guided" in v for v in values), name
        assert not any(v.startswith(("clahe", "dehaze/")) or v == "dehaze" for v in values), name
    froc = pd.read_csv(work / "results/detection/froc.tsv", sep="\t")
    assert {m.split("/")[0] for m in froc["method"]} == {"raw", "dehaze_guided"}
    summary = (work / "results/report/summary.md").read_text()
    assert "S_DG" in summary and "S_CL" not in summary and "m = 1" in summary
    for page in ("table3", "detectors", "cnn_vs_baselines", "per_fold", "convergence"):
        html = (work / f"results/report/{page}.html").read_text()
        assert "DG" in html or "dehaze_guided" in html, page
        assert "clahe" not in html and "S_CL" not in html, page
    assert len(list((work / "results/training/dehaze_guided").rglob("*.png"))) == 4
    # Fig. 2 has one panel per variant (3.3 inches each at 150 dpi); Fig. 3 is drawn per CNN
    fig2 = cv2.imread(str(work / "results/figures/fig2_dehazing_example.png"))
    assert fig2.shape[1] == round(3.3 * 2 * 150)
    assert (work / "results/figures/fig3_average_roc.png").stat().st_size > 0


def test_every_variant_of_the_config_is_trained_evaluated_and_reported(tmp_path):
    """dehaze_guided added to the paper's three: the dry run plans its preprocessing, shards,
    baselines, trainings and predictions, all inputs of the one evaluate and report jobs."""
    overlay = tmp_path / "four.yaml"
    overlay.write_text(yaml.safe_dump(
        {"preprocess": {"variants": ["raw", "clahe", "dehaze", "dehaze_guided"]}}))
    proc = snakemake(tmp_path / "work", "-n", overlay=[TINY, overlay])
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M))
    assert counts["train"] == str(4 * 2 * 2)  # variants x CNNs x folds
    assert counts["predict"] == str(4 * 2)  # variants x CNNs, every fold in one job
    assert counts["shards"] == counts["baselines"] == "4"
    assert counts["evaluate"] == counts["report"] == "1"


def test_published_dehazing_methods_join_the_design_as_variants(tmp_path):
    """Tarel's veil and Meng's boundary-constrained transmission as variants of the study: the dry
    run plans their preprocessing of every image, their shards, baselines, trainings and
    predictions; their labels (DT, DM) name them in the tables."""
    overlay = tmp_path / "methods.yaml"
    overlay.write_text(yaml.safe_dump(
        {"preprocess": {"variants": ["raw", "dehaze_tarel", "dehaze_meng"]}}))
    proc = snakemake(tmp_path / "work", "-n", overlay=[TINY, overlay])
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M))
    assert counts["train"] == str(3 * 2 * 2)  # variants x CNNs x folds
    assert counts["predict"] == str(3 * 2)  # variants x CNNs
    assert counts["shards"] == counts["baselines"] == "3"
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["preprocess"]["variants"] = ["raw", "dehaze_tarel", "dehaze_meng"]
    assert StudyDesign.from_config(config).compared == [("DT", "UN"), ("DM", "UN"), ("DM", "DT")]


def sweep_config(**sweep):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["sweep"] |= sweep
    return config


def test_a_sweep_is_every_combination_of_its_grid_over_the_studys_parameters():
    config = sweep_config(grid={"omega": [0.7, 0.9], "percentile": [90, 99]})
    sweep = SweepDesign.from_config(config, StudyDesign.from_config(config))
    assert sweep.enabled and sweep.reference == "raw" and sweep.archs == ("vgg",)
    table = sweep.table()
    assert list(table.columns) == ["omega", "percentile"] and len(table) == 4
    assert table.iloc[1].tolist() == [0.7, 99]  # the last key varies fastest
    # a setting overrides what it names; the rest keeps the study's values (window 11)
    assert sweep.setting({"omega": np.float64(0.7), "percentile": np.int64(99)}) == (
        {"omega": 0.7, "window": 11}, 99)
    off = SweepDesign.from_config(sweep_config(), StudyDesign.from_config(config))
    assert not off.enabled and off.table().empty


@pytest.mark.parametrize("sweep, key, words", [
    ({"grid": {"radius": [5]}}, "sweep.grid", "'radius' is not a parameter of dehaze"),
    ({"variant": "clahe", "grid": {"tiles": [4, 8]}}, "sweep.grid", "not a single value"),
    ({"grid": {"omega": [0.9, 0.9]}}, "sweep.grid", "distinct"),
    ({"grid": {"omega": [0.9]}, "archs": ["resnet"]}, "sweep.archs", "not among"),
])
def test_a_sweep_that_cannot_run_is_named_at_parse_time(sweep, key, words):
    config = sweep_config(**sweep)
    with pytest.raises(DesignError, match=words) as err:
        SweepDesign.from_config(config, StudyDesign.from_config(config))
    assert err.value.key == key
