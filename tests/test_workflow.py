"""The workflow end to end on the tiny study (tests/config/tiny.yaml, built once per session by
tests/conftest.py): every stage's outputs, nothing left to do, no patient data in results/; and
the dataset stage of a generic DICOM source with a bad file."""

import json

import numpy as np
import pandas as pd
import pytest

from helpers import REPO, breast_like, snakemake, spot_image
from mcdetect.data.synthetic import read_dicom_phi

N_IMAGES = 8  # tests/config/tiny.yaml: 4 patients x 2 breasts x 1 view


def test_tiny_study_produces_manifest_and_folds(tiny_run):
    d = tiny_run / "results/dataset"
    images = pd.read_csv(d / "images.tsv", sep="\t")
    mcs = pd.read_csv(d / "mcs.tsv", sep="\t")
    folds = pd.read_csv(d / "folds.tsv", sep="\t")
    assert len(images) == N_IMAGES and images["patient_id"].nunique() == 4
    assert set(images["laterality"]) == {"L", "R"} and set(images["view"]) == {"CC"}
    assert (images["presentation_intent"] == "FOR PROCESSING").all()
    assert len(mcs) == images["n_mcs"].sum() > 0
    assert ((mcs["x"] >= 0) & (mcs["x"] < 416) & (mcs["y"] >= 0) & (mcs["y"] < 512)).all()
    # the planted MCs that the annotations leave out, in the same canonical frame
    planted = pd.read_csv(tiny_run / "data/synthetic/mcs_all.csv")
    faint = pd.read_csv(d / "mcs_unannotated.tsv", sep="\t")
    assert len(faint) == (~planted["annotated"]).sum() > 0
    assert len(mcs) == planted["annotated"].sum()
    assert set(faint["image_id"]) <= set(images["image_id"])
    assert ((faint["x"] >= 0) & (faint["x"] < 416) & (faint["y"] >= 0) & (faint["y"] < 512)).all()
    assert folds.groupby("patient_id")["fold"].nunique().max() == 1
    assert set(folds["fold"]) == {0, 1}
    for rule in ("synthesize", "validate", "manifest", "folds"):
        assert (tiny_run / f"logs/{rule}.log").stat().st_size > 0


def test_tiny_study_preprocesses_every_image_in_every_variant(tiny_run):
    import cv2

    images = pd.read_csv(tiny_run / "results/dataset/images.tsv", sep="\t")
    for image_id, rows, cols in zip(images["image_id"], images["rows"], images["cols"],
                                    strict=True):
        for variant in ("raw", "dehaze", "clahe"):
            png = cv2.imread(str(tiny_run / f"results/preprocessed/{variant}/{image_id}.png"),
                             cv2.IMREAD_UNCHANGED)
            assert png.dtype == np.uint16 and png.shape == (rows, cols)
        mask = cv2.imread(str(tiny_run / f"results/masks/{image_id}.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (rows, cols) and 0.2 < (mask > 0).mean() < 0.95
    for fig in ("fig1_dehaze_transform.png", "fig2_dehazing_example.png"):
        assert (tiny_run / "results/figures" / fig).stat().st_size > 10_000


def test_tiny_study_shards_every_sample_of_every_fold_and_variant(tiny_run):
    import json

    samples = pd.read_parquet(tiny_run / "results/patches/samples.parquet")
    folds = pd.read_csv(tiny_run / "results/dataset/folds.tsv", sep="\t")
    assert set(samples["image_id"]) == set(folds["image_id"])
    fold_of = folds.set_index("image_id")["fold"]
    assert (samples["fold"] == samples["image_id"].map(fold_of)).all()
    assert (samples["validation"] == samples["image_id"].map(
        folds.set_index("image_id")["validation"])).all()
    assert folds.groupby("patient_id")["validation"].nunique().max() == 1
    for variant in ("raw", "dehaze", "clahe"):
        for fold in (0, 1):
            for part, flag in (("train", 0), ("val", 1)):
                d = tiny_run / f"results/shards/{variant}/fold{fold}/{part}"
                index = json.loads((d / "index.json").read_text())
                expect = samples[(samples["fold"] == fold) & (samples["validation"] == flag)]
                assert index["patches"] == len(expect) > 0
                assert index["positives"] == int(expect["label"].sum()) > 0
                assert all((d / f).is_file() for f in index["files"])
                stats = json.loads((d / "stats.json").read_text())
                assert 0 < stats["mean"] < 1 and 0 < stats["centred_std"] < stats["std"] < 1


def test_tiny_study_ends_with_table3_over_every_held_out_sample(tiny_run):
    d = tiny_run / "results/evaluation"
    t3 = pd.read_csv(d / "table3.csv")
    assert list(t3["CNN"]) == ["alexnet", "vgg"]
    for col in ("S_UN", "S_CL", "S_DH"):
        assert t3[col].between(0, 100).all()
    assert ((t3["S_DH - S_UN"] - (t3["S_DH"] - t3["S_UN"])).abs() < 1e-9).all()
    assert t3["p (DH vs UN)"].between(0, 1).all()
    assert "Bonferroni" in (d / "table3.md").read_text()
    roc = pd.read_csv(d / "average_roc.tsv", sep="\t")
    cnns = {f"{v}/{a}" for v in ("raw", "clahe", "dehaze") for a in ("alexnet", "vgg")}
    assert cnns <= set(roc["model"]) and roc["model"].nunique() == 18  # and 12 baselines
    assert roc["sensitivity"].between(0, 1).all()
    assert (roc["ci_low"] <= roc["sensitivity"] + 1e-12).all()
    assert (tiny_run / "results/figures/fig3_average_roc.png").stat().st_size > 10_000
    models = pd.read_csv(d / "mean_sensitivity.tsv", sep="\t")
    assert set(models["method"]) == {"alexnet", "vgg", "mean", "contrast", "tophat", "dog"}
    assert len(models) == 18 and models["AUC"].between(0, 1).all()
    assert (models["ci_low"] <= models["S"] + 1e-9).all()
    gains = pd.read_csv(d / "cnn_vs_baselines.tsv", sep="\t")
    assert len(gains) == 6 and set(gains["best baseline"]) <= {"mean", "contrast", "tophat", "dog"}
    per_fold = pd.read_csv(d / "per_fold.tsv", sep="\t")
    assert len(per_fold) == 36 and set(per_fold["fold"]) == {0, 1}
    summary = json.loads((d / "bootstrap.json").read_text())
    assert summary["unit"] == "patient" and summary["n_units"] == summary["n_patients"] == 4
    faint = pd.read_csv(d / "negatives_on_unannotated_mcs.tsv", sep="\t")
    assert set(faint.loc[faint["kind"] == "model", "model"]) == set(roc["model"])
    assert len(faint[faint["kind"] == "difference"]) == 6  # 2 CNNs x 3 comparisons
    assert (faint["negatives removed"] == summary["negatives_on_unannotated_mcs"]).all()



def test_tiny_study_marks_mcs_on_held_out_images_and_scores_them_by_froc(tiny_run):
    d = tiny_run / "results/detection"
    folds = pd.read_csv(tiny_run / "results/dataset/folds.tsv", sep="\t")
    for variant in ("raw", "clahe", "dehaze"):
        for method in ("vgg", "dog"):  # detection.archs, and the first stage alone
            marks = pd.concat([pd.read_parquet(d / f"{variant}/{method}/fold{f}.parquet")
                               for f in (0, 1)])
            # every held-out image once: fold f's marks come from fold f's images only
            assert set(marks["image_id"]) <= set(folds["image_id"])
            for f in (0, 1):
                fold = pd.read_parquet(d / f"{variant}/{method}/fold{f}.parquet")
                assert set(fold["image_id"]) <= set(folds.loc[folds.fold == f, "image_id"])
            assert marks.groupby("image_id").size().max() <= 1000  # detection.max_candidates
    summaries = pd.read_csv(d / "froc.tsv", sep="\t")
    methods = {f"{v}/{m}" for v in ("raw", "clahe", "dehaze") for m in ("vgg", "dog")}
    for level in ("MC", "cluster"):
        assert set(summaries.loc[summaries["level"] == level, "method"]) == methods
    mcs = pd.read_csv(tiny_run / "results/dataset/mcs.tsv", sep="\t")
    normal = ~folds["image_id"].isin(set(mcs["image_id"]))
    # false positives counted on the normal images (the headline) where there are any, and on all
    assert list(dict.fromkeys(summaries["fp_over"])) == ["normal", "all"][0 if normal.any() else 1:]
    recall = summaries[(summaries["summary"] == "sens@all") & (summaries["level"] == "MC")
                       & (summaries["fp_over"] == "all")]
    assert len(recall) == 6 and recall["value"].between(0.2, 1).all()  # the first stage finds MCs
    assert summaries["value"].between(0, 1000).all()
    clusters = summaries[summaries["level"] == "cluster"]
    assert clusters.loc[clusters["summary"] == "sens@all", "value"].gt(0).any()  # some found
    comparisons = pd.read_csv(d / "froc_comparisons.tsv", sep="\t")
    for level in ("MC", "cluster"):
        assert {"clahe/vgg - raw/vgg", "dehaze/vgg - raw/vgg", "dehaze/vgg - clahe/vgg",
                "raw/vgg - raw/dog", "dehaze/vgg - dehaze/dog"} <= set(
            comparisons.loc[comparisons["level"] == level, "comparison"])  # and net - 1st stage
    assert comparisons["p"].between(0, 1).all()
    bands = pd.read_csv(d / "froc_bands.tsv", sep="\t")
    assert (bands["ci_low"] <= bands["ci_high"]).all() and set(bands["level"]) == {"MC",
                                                                                  "cluster"}
    for figure in ("fig_froc.png", "fig_detection_overlays.png"):
        assert (tiny_run / "results/figures" / figure).stat().st_size > 10_000

def test_tiny_sweep_compares_every_setting_with_the_raw_nets_in_the_report(tiny_run):
    """The tiny study's sweep (two omegas x one percentile, tests/config/tiny.yaml): every
    setting trained on both folds and scored on the study's samples, its table and figure in the
    report; the setting equal to the study's own dehazing reproduces its dehazed VGG-like S."""
    root = tiny_run / "results/sweep/dehaze"
    settings = [f"omega~{o}_percentile~90" for o in (0.7, 0.9)]
    samples = pd.read_parquet(tiny_run / "results/patches/samples.parquet")
    for setting in settings:
        images = sorted((root / setting / "preprocessed").glob("*.png"))
        assert len(images) == N_IMAGES
        scores = pd.concat(pd.read_parquet(root / setting / f"predictions/vgg/fold{f}.parquet")
                           for f in (0, 1))
        assert sorted(scores["sample_id"]) == sorted(samples["sample_id"])
        log = pd.read_csv(root / setting / "training/vgg/fold0.tsv", sep="\t")
        assert len(log) == 2 and np.isfinite(log["val_S"]).all()  # tiny: 2 epochs
    table = pd.read_csv(root / "sweep.tsv", sep="\t")
    assert len(table) == 2 and set(table["CNN"]) == {"vgg"}
    assert (table["gain_ci_low"] <= table["gain"]).all() and table["p"].between(0, 1).all()
    t3 = pd.read_csv(tiny_run / "results/evaluation/table3.csv").set_index("CNN")
    same = table[(table["omega"] == 0.9) & (table["percentile"] == 90)].iloc[0]
    assert same["S"] == pytest.approx(t3.loc["vgg", "S_DH"], abs=1e-3)  # deterministic training
    assert same["S_raw"] == pytest.approx(t3.loc["vgg", "S_UN"], abs=1e-3)
    assert (tiny_run / "results/figures/fig_sweep_dehaze.png").stat().st_size > 10_000
    summary = (tiny_run / "results/report/summary.md").read_text()
    assert "## Sweep of dehaze: S (%) and gain over raw per setting" in summary
    assert "Sweep of dehaze (2 settings), vgg-like" in summary
    assert "Bonferroni, m = 2" in (root / "sweep.html").read_text()


def test_tiny_study_trainings_log_validation_every_epoch(tiny_run):
    for variant in ("raw", "dehaze", "clahe"):
        for arch in ("alexnet", "vgg"):
            for fold in (0, 1):
                log = pd.read_csv(tiny_run / f"results/training/{variant}/{arch}/fold{fold}.tsv",
                                  sep="\t")
                assert {"val_loss", "val_auc", "val_S", "selected"} <= set(log.columns)
                assert log["val_auc"].between(0, 1).all() and log["selected"].sum() == 1
                if arch == "vgg":  # tiny.yaml: base rate, then the step at epoch 1
                    assert list(log["learning_rate"]) == pytest.approx([0.02, 0.002])
    scores = pd.read_parquet(tiny_run / "results/predictions/raw/vgg/fold0.parquet")
    assert not scores["score"].between(0, 1).all()  # log-odds margins, not probabilities


def test_no_patient_data_reaches_results(tiny_run):
    phi = set()
    for dcm in (tiny_run / "data/synthetic/dicom").glob("*.dcm"):
        phi.update(read_dicom_phi(dcm))
    assert len(phi) > 12  # names, ids, dates, accession numbers, UIDs
    phi |= {name.split("^")[0] for name in phi if "^" in name}  # family names alone too
    leaks = []
    for f in (tiny_run / "results").rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            leaks += [(f.name, s) for s in phi if s.encode() in data]
    assert not leaks


def test_second_run_and_every_stage_target_have_nothing_to_do(tiny_run):
    """On the completed study neither the default target nor any stage target (given before
    --configfile) has anything left to do."""
    stages = ("dataset", "preprocessed", "patches", "models", "evaluation", "detection", "sweep",
              "report", "study")
    proc = snakemake(tiny_run, *stages, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_generic_source_with_a_bad_file_fails_or_is_skipped_and_names_no_file(tmp_path, write):
    """A hospital's folder named after its patient, files named by MRN: the console names the bad
    file; under results/ only pseudonyms appear, the names are in private/sources.tsv."""
    data = tmp_path / "DOE_JANE_MRN4711"
    data.mkdir()
    good = spot_image(220, 180, 30, 110, base=0, peak=16000)
    write("DOE_JANE_MRN4711/MRN4711_a.dcm", np.maximum(good, breast_like(220, 180)),
          patient={"id": "MRN4711"})
    write("DOE_JANE_MRN4711/MRN4711_b.dcm", breast_like(220, 180, level=11000),
          patient={"id": "MRN4712"})
    write("DOE_JANE_MRN4711/MRN4711_c.dcm", breast_like(220, 180, level=10000),
          patient={"id": "MRN4713"})
    (data / "MRN4711_broken.dcm").write_bytes(b"\0" * 200)
    (tmp_path / "mcs.csv").write_text("file,x,y\nMRN4711_a.dcm,30,110\n")
    overlay = tmp_path / "generic.yaml"
    overlay.write_text(
        f"dataset:\n  source: generic\n  dicom_dir: {data}\n  annotations: {tmp_path}/mcs.csv\n"
    )
    work = tmp_path / "work"
    target = "dataset"  # the dataset stage (3 images are too few to train on)
    failed = snakemake(work, target, overlay=overlay, check=False)
    assert failed.returncode != 0
    assert f"{data}/MRN4711_broken.dcm: not a DICOM file" in failed.stdout + failed.stderr
    log = (work / "logs/validate.log").read_text()
    assert f"{data}/MRN4711_broken.dcm: not a DICOM file" in log
    snakemake(work, target, "--config", "dataset={'on_bad_image': 'skip'}", overlay=overlay)
    sources = pd.read_csv(work / "private/sources.tsv", sep="\t")
    excluded = pd.read_csv(work / "results/dataset/excluded.tsv", sep="\t")
    assert list(excluded.columns) == ["image_id", "problem"]
    assert excluded["problem"][0].startswith("not a DICOM file")
    assert sources.set_index("image_id").loc[excluded["image_id"][0], "source"] == (
        "MRN4711_broken.dcm")
    images = pd.read_csv(work / "results/dataset/images.tsv", sep="\t")
    assert "source" not in images.columns and len(images) == 3
    assert sorted(sources.loc[sources["status"] == "ok", "source"]) == [
        "MRN4711_a.dcm", "MRN4711_b.dcm", "MRN4711_c.dcm"]
    leaks = [(p.relative_to(work), s) for p in (work / "results").rglob("*") if p.is_file()
             for s in ("MRN471", "DOE", "JANE") if s.encode() in p.read_bytes()]
    assert not leaks


def test_slurm_profile_groups_the_per_image_jobs(tiny_run):
    proc = snakemake(tiny_run, "-n", "--workflow-profile", str(REPO / "profiles/slurm"),
                     "--forcerun", "preprocess")
    out = proc.stdout + proc.stderr
    assert "Group job preprocess" in out
