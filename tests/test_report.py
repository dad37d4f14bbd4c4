"""The report's tables: dataset per fold, scale next to the paper, Table 3 beside the paper."""

import numpy as np
import pandas as pd
import pytest

from helpers import REPO, snakemake
from mcdetect.design import StudyDesign
from mcdetect.evaluation.study import table3_note
from mcdetect.reporting.tables import (
    PAPER,
    convergence_table,
    dataset_table,
    detectors_table,
    findings,
    froc_comparisons_table,
    froc_family,
    froc_table,
    gains_table,
    scale_table,
    summary_markdown,
    table3_with_paper,
    training_summary,
    write_html,
)

PAPER_DESIGN = StudyDesign.build(["raw", "clahe", "dehaze"], {"raw": "UN", "clahe": "CL",
                                  "dehaze": "DH"}, "raw", [], ["alexnet", "vgg"])
BOOT = {"unit": "image", "n_boot": 200, "seed": 17, "a": 1e-6, "b": 0.1, "n_negatives": 2400,
        "min_fpr": 1 / 2400, "a_below_resolution": True}


def small_study():
    folds = pd.DataFrame({"image_id": [f"img-{i}" for i in range(6)],
                          "patient_id": ["p1", "p1", "p2", "p3", "p3", "p3"],
                          "fold": [0, 0, 0, 1, 1, 1], "n_mcs": [3, 0, 5, 2, 2, 1]})
    samples = pd.DataFrame({"fold": [0, 1], "images": [3, 3], "positives": [7, 5],
                            "negatives": [600, 600], "dropped_border": [1, 0]})
    return folds, samples


def test_dataset_table_counts_per_fold_and_in_all():
    t = dataset_table(*small_study()).set_index("fold")
    assert list(t.index) == ["fold 0", "fold 1", "all"]
    assert t.loc["fold 0", "images"] == 3 and t.loc["fold 0", "patients"] == 2
    assert t.loc["fold 1", "patients"] == 1 and t.loc["all", "patients"] == 3
    assert t.loc["fold 0", "MCs"] == 8 and t.loc["all", "MCs"] == 13
    assert t.loc["all", "positive patches"] == 12 and t.loc["all", "negative patches"] == 1200


def test_convergence_detectors_gains_and_findings_read_their_inputs():
    logs = {
        ("raw", "vgg", 0): pd.DataFrame({"epoch": [1, 2, 3], "val_S": [5.0, 9.0, 9.6],
                                         "val_auc": [0.7, 0.8, 0.81], "selected": [0, 0, 1]}),
        ("raw", "vgg", 1): pd.DataFrame({"epoch": [1, 2, 3], "val_S": [5.0, 9.0, 11.0],
                                         "val_auc": [0.7, 0.8, 0.82], "selected": [0, 1, 0]}),
        ("raw", "alexnet", 0): pd.DataFrame({"epoch": [1], "val_S": [3.0], "val_auc": [0.6],
                                             "selected": [1]}),
    }
    conv = convergence_table(logs).set_index(["CNN", "held-out fold"])
    last = "last two epochs within 1 point"
    assert conv.loc[("vgg", 0), last] == "yes" and conv.loc[("vgg", 0), "epoch kept"] == 3
    assert conv.loc[("vgg", 1), last] == "no" and conv.loc[("vgg", 1), "epoch kept"] == 2
    assert conv.loc[("vgg", 1), "change (points)"] == 2.0
    assert conv.loc[("alexnet", 0), last].startswith("n/a")
    per_model = pd.DataFrame([
        {"model": f"{v}/{m}", "variant": v, "method": m, "kind": k, "S": s, "ci_low": s - 1,
         "ci_high": s + 1, "AUC": 0.8}
        for v in ("raw", "dehaze") for m, k, s in (("vgg", "cnn", 20.0), ("dog", "baseline", 15.0))
    ])
    det = detectors_table(per_model, ["raw", "dehaze"]).set_index("detector")
    assert det.loc["vgg", "S raw"] == "20.00 (19.00-21.00)" and det.loc["dog", "kind"] == "baseline"
    gains = pd.DataFrame([{"variant": "raw", "CNN": "vgg", "best baseline": "dog", "S_CNN": 20.0,
                           "S_baseline": 15.0, "gain": 5.0, "ci_low": 1.0, "ci_high": 9.0,
                           "p": 0.004, "beats": True},
                          {"variant": "raw", "CNN": "alexnet", "best baseline": "dog",
                           "S_CNN": 14.0, "S_baseline": 15.0, "gain": -1.0, "ci_low": -4.0,
                           "ci_high": 2.0, "p": 0.5, "beats": False}])
    g = gains_table(gains)
    assert list(g["CNN better (CI above 0)"]) == ["yes", "no"]
    t3 = pd.DataFrame([{"CNN": "vgg", "S_CL - S_UN": 1.0, "p (CL vs UN)": 0.2,
                        "significant (CL vs UN)": False, "S_DH - S_UN": 4.0,
                        "p (DH vs UN)": 0.002, "significant (DH vs UN)": True,
                        "S_DH - S_CL": 3.0, "p (DH vs CL)": 0.01,
                        "significant (DH vs CL)": True}])
    text = findings(t3, gains, convergence_table(logs), PAPER_DESIGN)
    assert "the validation S of 1 of 3 trainings moved by at most 1 point" in text
    assert "1 of 2 (CNN, variant) pairs" in text and "alexnet on raw (-1.00 points" in text
    assert "DH - UN = +4.00 points (p = 0.002, significant)" in text


def test_froc_table_and_its_comparisons_sit_beside_table3():
    summaries = pd.DataFrame([
        {"level": level, "fp_over": fp_over, "method": f"{v}/vgg", "summary": key,
         "value": value + shift, "ci_low": value + shift - 0.01, "ci_high": value + shift + 0.01}
        for level in ("MC", "cluster") for fp_over, shift in (("normal", 0.0), ("all", -0.05))
        for v, value in (("raw", 0.10), ("dehaze", 0.25))
        for key in ("sens@1", "area[0,10]", "sens@all")])
    table = froc_table(summaries, ["raw", "clahe", "dehaze"]).set_index(
        ["level", "FP counted on", "detector"])
    assert table.loc[("MC", "normal images", "vgg"), "sens@1 dehaze"] == "25.00 (24.00-26.00)"
    assert table.loc[("MC", "all images", "vgg"), "sens@1 dehaze"] == "20.00 (19.00-21.00)"
    assert "sens@all raw" not in table and "sens@1 clahe" not in table  # absent variant
    comparisons = pd.DataFrame([
        {"level": "cluster", "fp_over": fp_over, "comparison": comparison, "summary": key,
         "difference": diff, "ci_low": diff - 0.1, "ci_high": diff + 0.1, "p": 0.004,
         "significant": fp_over == "normal", "m": 4}
        for fp_over, diff in (("normal", 0.15), ("all", 0.05))
        for comparison in ("dehaze/vgg - raw/vgg", "raw/vgg - raw/dog")
        for key in ("sens@1", "area[0,10]")])
    table = froc_comparisons_table(comparisons, PAPER_DESIGN)
    c = table.iloc[0]
    assert (c["comparison"], c["detector"], c["FP counted on"]) == ("DH - UN", "vgg",
                                                                    "normal images")
    assert tuple(table.iloc[1][["detector", "comparison"]]) == ("vgg - dog", "UN")
    assert c["area[0,10] difference (95% CI)"] == "+15.00 (+5.00 to +25.00)"
    assert c["p (area[0,10])"] == "0.004*" and table.iloc[2]["p (area[0,10])"] == "0.004"
    assert froc_family(comparisons).startswith(
        "Bonferroni over m = 4: every comparison of the table at both levels, for sens@1 and "
        "area[0,10], with false positives counted on normal images (significant if p < 0.013)")
    logs = {("raw", "vgg", 0): pd.DataFrame({"epoch": [1, 2], "val_S": [5.0, 5.1],
                                             "val_auc": [0.7, 0.7], "selected": [0, 1]})}
    text = findings(pd.DataFrame(), pd.DataFrame(), convergence_table(logs), PAPER_DESIGN,
                    comparisons)
    assert ("Whole-image detection, FROC area over [0, 10] false positives per image (counted "
            "on normal images) in points: vgg-like, cluster level: DH - UN = +15.00 (p = 0.004, "
            "significant), vgg - dog on UN = +15.00 (CI +5.00 to +25.00).") in text


def test_scale_and_table3_sit_beside_the_paper(tmp_path):
    dataset = dataset_table(*small_study())
    logs = {(v, arch, f): pd.DataFrame({"epoch": range(1, e + 1), "samples": [1200] * e,
                                        "seconds": [10.0] * e,
                                        "learning_rate": [0.01, 0.001][:e]})
            for v in ("raw", "clahe", "dehaze") for arch, e in (("alexnet", 1), ("vgg", 2))
            for f in (0, 1)}
    training = training_summary(logs).set_index("arch")
    assert training.loc["vgg", "epochs"] == 2 and training.loc["vgg", "samples"] == 2400
    assert training.loc["alexnet", "trainings"] == 6
    scale = scale_table(dataset, training.reset_index(), BOOT).set_index("quantity")
    assert scale.loc["mammograms", "paper"] == "1,066"
    assert scale.loc["mammograms", "this run"] == "6"
    assert scale.loc["negative patches", "paper"] == "27,017,503"
    assert scale.loc["vgg: samples seen per training", "this run"] == "2,400"
    assert scale.loc["bootstrap unit", "this run"] == "image"
    assert "input standardisation" not in scale.index  # without the train section
    hp = {"standardise": "patch", "vgg": {"batch": 64, "negative_share": 0.5}}
    scale = scale_table(dataset, training.reset_index(), BOOT, hp).set_index("quantity")
    assert scale.loc["input standardisation", "this run"].startswith("each patch minus its own")
    assert scale.loc["vgg: batch", "this run"] == "64"

    t3 = pd.DataFrame([{"CNN": "vgg", "S_UN": 10.0, "S_UN 95% CI": "9-11", "S_CL": 12.0,
                        "S_CL 95% CI": "11-13", "S_DH": 15.0, "S_DH 95% CI": "14-16",
                        "S_CL - S_UN": 2.0, "p (CL vs UN)": 0.03,
                        "significant (CL vs UN)": False, "S_DH - S_UN": 5.0,
                        "p (DH vs UN)": 0.001, "significant (DH vs UN)": True,
                        "S_DH - S_CL": 3.0, "p (DH vs CL)": 0.01,
                        "significant (DH vs CL)": True}])
    both = table3_with_paper(t3, PAPER_DESIGN).set_index("source")
    assert both.loc["paper", "S_DH"] == f"{PAPER['table3']['vgg']['dehaze']:.2f}"
    assert both.loc["this run", "S_DH - S_UN"] == "+5.00 (p = 0.001) *"
    assert both.loc["this run", "S_CL - S_UN"] == "+2.00 (p = 0.03)"
    note = table3_note(BOOT, PAPER_DESIGN.m)
    assert "resamples (by image: each drawn with all its positives and negatives; seed 17)" in note
    assert "below it s is the sensitivity at FPR 0" in note
    write_html(tmp_path / "t.html", "Table 3", both.reset_index(), note)
    html = (tmp_path / "t.html").read_text()
    assert html.count("<tr") == 3 and "<style>" in html and "Bonferroni" in html
    md = summary_markdown(dataset, scale.reset_index(), both.reset_index(), note, BOOT, m=3)
    assert "## Dataset per fold" in md and "| fold 0 |" in md


def _embedded(html: str) -> bytes:
    """Every file embedded in a Snakemake report (base64 data URIs), decoded."""
    import base64
    import re

    return b"\n".join(base64.b64decode(m) for m in
                      re.findall(r'data:[^"\s]*?;base64,([A-Za-z0-9+/=]+)', html))


def test_tiny_study_report_holds_every_table_and_figure_and_no_patient_data(tiny_run, tmp_path):
    from mcdetect.data.synthetic import read_dicom_phi

    summary = (tiny_run / "results/report/summary.md").read_text()
    for heading in ("## What this run shows", "## Dataset per fold",
                    "## Annotated MCs beside INbreast's", "## Scale of this run",
                    "## Table 3", "## Whole-image detection beside Table 3",
                    "## Every detector on the same samples",
                    "## Each CNN against the best baseline", "## S per fold",
                    "## Convergence of every training"):
        assert heading in summary, heading
    dataset = pd.read_csv(tiny_run / "results/report/dataset.csv").set_index("fold")
    folds = pd.read_csv(tiny_run / "results/dataset/folds.tsv", sep="\t")
    assert dataset.loc["all", "images"] == len(folds) == 8
    assert dataset.loc["all", "patients"] == folds["patient_id"].nunique() == 4
    samples = pd.read_parquet(tiny_run / "results/patches/samples.parquet")
    assert dataset.loc["all", "positive patches"] == (samples["label"] == 1).sum()
    assert dataset.loc["all", "negative patches"] == (samples["label"] == 0).sum()

    out = tmp_path / "report.html"
    snakemake(tiny_run, "--report", str(out))
    html = out.read_text(errors="replace")
    files = _embedded(html)
    for name in ("dataset.html", "scale.html", "table3.html", "froc.html", "detectors.html",
                 "cnn_vs_baselines.html", "per_fold.html", "convergence.html",
                 "fig1_dehaze_transform.png", "fig2_dehazing_example.png",
                 "fig3_average_roc.png", "fold0.png", "fig_froc.png",
                 "fig_detection_overlays.png"):
        assert name in html, name
    assert b"Dataset per fold" in files and b"this run next to the paper" in files
    assert b"Annotated MCs beside INbreast" in files  # on the dataset page
    assert b"best baseline" in files and b"Convergence of every training" in files
    assert b"Whole-image detection beside Table 3" in files
    dicom = next((tiny_run / "data/synthetic/dicom").rglob("*.dcm"))
    for secret in [*read_dicom_phi(dicom), "mcdetect-default-key"]:
        assert secret not in html and secret.encode() not in files, secret
    # Snakemake's report lists every rule's input files, the source DICOMs among them; the
    # shareable copy names them by their pseudonyms only.
    from mcdetect.privacy import scrub_file

    assert "synth_0000.dcm" in html and "data/synthetic/dicom" in html
    shared = tmp_path / "shared.html"
    scrub_file(out, shared, tiny_run / "private/sources.tsv",
               [REPO / "config.yaml", REPO / "tests/config/tiny.yaml"])
    text = shared.read_text(errors="replace")
    sources = pd.read_csv(tiny_run / "private/sources.tsv", sep="\t")
    assert not any(s in text for s in sources["source"]) and "data/synthetic/dicom" not in text
    assert all(i in text for i in sources["image_id"])
    assert _embedded(text) == files  # the embedded tables and figures are untouched


def test_realism_table_counts_sizes_and_spacing_of_the_annotated_mcs():
    from mcdetect.data.realism import INBREAST, mc_statistics, realism_table

    mcs = pd.DataFrame({"image_id": ["a", "a", "a", "b", "b"],
                        "x": [0, 30, 100, 10, 10], "y": [0, 40, 40, 10, 25],
                        "diameter_mm": [0.2, 0.4, 1.5, 0.3, None]})
    stats = mc_statistics(mcs, ["a", "b", "c", "d"], spacing_mm=0.1)
    assert (stats["images"], stats["images_with_mcs"], stats["mcs"]) == (4, 2, 5)
    assert stats["per_image"]["quartiles"] == [2.25, 2.5, 2.75] and stats["per_image"]["max"] == 3
    # a: 0-1 at 5 mm, 1-2 at 7 mm, 0-2 at 10.8 mm; b: 1.5 mm apart
    nearest = np.sort([5.0, 5.0, 7.0, 1.5, 1.5])
    np.testing.assert_allclose(stats["nearest_mm"], np.percentile(nearest, [10, 25, 50, 75, 90]))
    assert stats["share_within_1mm"] == 0.0
    assert stats["median_nearest_per_image_mm"][1] == pytest.approx((5.0 + 1.5) / 2)
    assert stats["share_above_1mm"] == 0.25  # four known diameters
    table = realism_table(stats).set_index("quantity")
    assert list(table.index) == list(INBREAST)
    assert table.loc["images with annotated MCs", "this dataset"] == "50.0% of 4 images"
    assert table.loc["MCs per image with MCs", "this dataset"].startswith("median 2.5")
