"""Exact reruns after a config edit: every parameter reaches a rule through ``params:`` (only the
part that rule uses), so Snakemake's params trigger reruns the changed stages and nothing else.

Each test dry-runs (``-n``) the completed tiny study (``tiny_run``, tests/conftest.py) with one
extra overlay, after tiny.yaml, and checks the planned jobs and their wildcards. The shared run is
never modified: a test that runs jobs works on a copy (``helpers.copy_run``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO, TINY, copy_run, overlay, planned, rules, show, snakemake, wildcard_set

VARIANTS = ("raw", "dehaze", "clahe")
ARCHS = ("alexnet", "vgg")
FOLDS = ("0", "1")
DATASET_RULES = {"synthesize", "validate", "manifest", "folds"}
PREPROCESS_RULES = {"preprocess_raw", "preprocess"}
PATCH_RULES = {"samples", "shards", "baselines"}
SWEEP_DATA_RULES = {"sweep_preprocess", "sweep_shards"}
SWEEP_RULES = SWEEP_DATA_RULES | {"sweep_train", "sweep_predict"}


@pytest.fixture(scope="module")
def image_ids(tiny_run):
    return set(pd.read_csv(tiny_run / "results/dataset/images.tsv", sep="\t")["image_id"])


@pytest.mark.parametrize(
    "variant, edit",
    [
        ("clahe", {"clahe": {"clip_limit": 0.02}}),
        ("clahe", {"clahe": {"tiles": [4, 4]}}),
        ("dehaze", {"dehaze": {"omega": 0.8}}),
    ],
    ids=["clahe-clip", "clahe-tiles", "dehaze-omega"],
)
def test_preprocessing_edit_reruns_only_its_variant(tiny_run, tmp_path, image_ids, variant, edit):
    jobs = planned(tiny_run, overlay(tmp_path, {"preprocess": edit}))
    assert not rules(jobs) & (DATASET_RULES | {"preprocess_raw", "samples"})
    other = [j for j in jobs if j.wildcards.get("variant", variant) != variant]
    assert not other, f"jobs of other variants planned: {show(other)}"
    # Every image of the variant, because its parameters changed ...
    pre = [j for j in jobs if j.rule == "preprocess"]
    assert {j.wildcards["image"] for j in pre} == image_ids and len(pre) == len(image_ids)
    assert all(j.reason.startswith("Params have changed") for j in pre)
    # ... then its shards and baselines, the trainings and predictions, and the evaluation.
    assert [j.wildcards["variant"] for j in jobs if j.rule == "shards"] == [variant]
    assert wildcard_set(jobs, "baselines", "variant") == {variant}
    assert wildcard_set(jobs, "train", "arch", "fold") == {(a, f) for a in ARCHS for f in FOLDS}
    assert sorted(j.wildcards["arch"] for j in jobs if j.rule == "predict") == sorted(ARCHS)
    assert "evaluate" in rules(jobs)


@pytest.mark.parametrize(
    "edit", [{"base_lr": 0.002}, {"epochs": 3}], ids=["lr", "epochs"]
)
def test_architecture_edit_reruns_only_its_trainings(tiny_run, tmp_path, edit):
    jobs = planned(tiny_run, overlay(tmp_path, {"train": {"vgg": edit}}))
    assert not rules(jobs) & (DATASET_RULES | PREPROCESS_RULES | PATCH_RULES | {"figures"})
    other = [j for j in jobs if j.wildcards.get("arch", "vgg") != "vgg"]
    assert not other, f"jobs of other architectures planned: {show(other)}"
    train = [j for j in jobs if j.rule == "train"]
    assert wildcard_set(jobs, "train", "variant", "fold") == {(v, f) for v in VARIANTS
                                                               for f in FOLDS}
    assert sorted(j.wildcards["variant"] for j in jobs if j.rule == "predict") == sorted(VARIANTS)
    assert all(j.reason.startswith("Params have changed") for j in train)
    assert "evaluate" in rules(jobs)


def test_a_standardisation_edit_retrains_every_net_and_keeps_the_data(tiny_run, tmp_path):
    """train.standardise reaches training, prediction and the model cards (and the sweep's
    trainings and predictions): every net is trained and scored again, the report says so, and
    nothing before the trainings reruns."""
    jobs = planned(tiny_run, overlay(tmp_path, {"train": {"standardise": "dataset"}}))
    assert not rules(jobs) & (DATASET_RULES | PREPROCESS_RULES | PATCH_RULES | SWEEP_DATA_RULES
                              | {"figures"})
    expect = {(v, a, f) for v in VARIANTS for a in ARCHS for f in FOLDS}
    for rule in ("train", "model_card"):
        assert wildcard_set(jobs, rule, "variant", "arch", "fold") == expect, rule
    assert wildcard_set(jobs, "predict", "variant", "arch") == {(v, a) for v in VARIANTS
                                                                 for a in ARCHS}
    assert all("Params have changed" in j.reason for j in jobs if j.rule == "train")
    # the sweep's 2 settings x the VGG-like net: trained per fold, predicted per setting
    assert sum(j.rule == "sweep_train" for j in jobs) == 2 * len(FOLDS)
    assert sum(j.rule == "sweep_predict" for j in jobs) == 2
    assert {"evaluate", "sweep_evaluate", "report"} <= rules(jobs)


def test_an_added_net_trains_only_itself_and_joins_every_table(tiny_run, tmp_path):
    """The residual net, added to the design's list of nets: only its trainings and predictions
    are planned (then the evaluation and the report), and one of them trains with the study's
    protocol on the tiny shards."""
    edit = overlay(tmp_path, {"train": {"architectures": ["alexnet", "vgg", "resnet"],
                                        "resnet": {"epochs": 1}}})
    jobs = planned(tiny_run, edit)
    assert not rules(jobs) & (DATASET_RULES | PREPROCESS_RULES | PATCH_RULES | {"figures"})
    expect = {(v, "resnet", f) for v in VARIANTS for f in FOLDS}
    for rule in ("train", "model_card"):
        assert wildcard_set(jobs, rule, "variant", "arch", "fold") == expect, rule
    assert wildcard_set(jobs, "predict", "variant", "arch") == {(v, "resnet") for v in VARIANTS}
    assert {"evaluate", "report"} <= rules(jobs)
    work = copy_run(tiny_run, tmp_path / "work")
    snakemake(work, "results/predictions/raw/resnet/fold0.parquet", overlay=[TINY, edit])
    log = pd.read_csv(work / "results/training/raw/resnet/fold0.tsv", sep="\t")
    assert len(log) == 1 and np.isfinite(log["val_S"]).all()
    scores = pd.read_parquet(work / "results/predictions/raw/resnet/fold0.parquet")
    samples = pd.read_parquet(work / "results/patches/samples.parquet")
    assert len(scores) == (samples["fold"] == 0).sum() and scores["score"].notna().all()





def test_a_sweep_edit_reruns_only_the_changed_settings(tiny_run, tmp_path):
    """The tiny sweep (omega 0.7, 0.9 x percentile 90): an added omega plans only its setting's
    jobs, then the sweep's evaluation and the report; a changed study parameter that no setting
    names (the dehazing window) reruns every setting and the study's own dehazing."""
    grid = {"omega": [0.7, 0.8, 0.9], "percentile": [90]}
    jobs = planned(tiny_run, overlay(tmp_path, {"sweep": {"grid": grid}}))
    new = {"omega~0.8_percentile~90"}
    for rule in SWEEP_RULES:
        assert wildcard_set(jobs, rule, "setting") == new, rule
    assert wildcard_set(jobs, "sweep_train", "arch", "fold") == {("vgg", f) for f in FOLDS}
    assert rules(jobs) == SWEEP_RULES | {"sweep_evaluate", "report", "study"}, show(jobs)

    jobs = planned(tiny_run, overlay(tmp_path, {"preprocess": {"dehaze": {"window": 7}}}))
    settings = {f"omega~{o}_percentile~90" for o in (0.7, 0.9)}
    assert wildcard_set(jobs, "sweep_preprocess", "setting") == settings
    assert wildcard_set(jobs, "train", "variant") == {"dehaze"}
    assert all(j.reason.startswith("Params have changed")
               for j in jobs if j.rule == "sweep_preprocess")


def test_evaluation_edit_reruns_only_the_evaluation(tiny_run, tmp_path):
    jobs = planned(tiny_run, overlay(tmp_path, {"evaluation": {"n_boot": 100}}))
    assert "evaluate" in rules(jobs)
    assert not rules(jobs) & (
        DATASET_RULES | PREPROCESS_RULES | PATCH_RULES | {"figures", "train", "predict"}
    )


@pytest.mark.parametrize(
    "edit",
    [
        None,
        # the values again, spelt differently: params compare by value (their repr)
        "preprocess:\n  clahe: {clip_limit: 1.0e-2, tiles: [8, 8]}\n"
        "train:\n  vgg:\n    epochs: 2\n    base_lr: 2.0e-2\n",
        # a variant the study does not run, and keys only the generic source reads
        {"preprocess": {"dehaze_guided": {"omega": 0.5, "radius": 5}}},
        {"dataset": {"dicom_dir": "/nowhere", "annotations": "/nowhere.csv"}},
    ],
    ids=["no-change", "same-values", "unused-variant", "generic-only-keys"],
)
def test_no_effective_change_plans_nothing(tiny_run, tmp_path, edit):
    overlays = [] if edit is None else [overlay(tmp_path, edit)]
    jobs = planned(tiny_run, *overlays)
    assert not jobs, show(jobs)


def test_swapping_two_values_of_a_section_is_seen(tiny_run, tmp_path):
    """Snakemake compares the sorted values of params, not their names: rules get a config
    section as one named dict, so that swapping two of its values is a change."""
    patches = yaml.safe_load((REPO / "config.yaml").read_text())["patches"]
    patches |= yaml.safe_load(TINY.read_text()).get("patches", {})
    swapped = {"exclusion_radius_px": patches["seed"], "seed": patches["exclusion_radius_px"]}
    assert "samples" in rules(planned(tiny_run, overlay(tmp_path, {"patches": swapped})))


TRIGGERS = ("--rerun-triggers", "mtime", "params", "code", "software-env")


def test_adding_a_mammogram_preprocesses_only_that_image(tiny_run, tmp_path, image_ids):
    """A generic DICOM folder with one new file: only that file is preprocessed.

    The copy reads its synthetic files as a generic source (same folder, same relative paths, so
    the same image ids and inputs: nothing to do), then one new mammogram and its MC centres are
    added to the folder and the CSV. Only the synthetic source knows its unannotated MCs (an input
    of the manifest and the evaluation there), so the plans leave out Snakemake's trigger for a
    changed set of inputs and keep the others (modification times, params, code, environment)."""
    from mcdetect.data.synthetic import SyntheticConfig, generate_image, write_dicom

    work = copy_run(tiny_run, tmp_path / "work")
    generic = overlay(tmp_path, {"dataset": {
        "source": "generic", "dicom_dir": "data/synthetic/dicom",
        "annotations": "data/synthetic/mcs.csv",
    }}, name="generic.yaml")
    jobs = planned(work, generic, extra=TRIGGERS)
    assert not jobs, show(jobs)

    new = "synth_0099.dcm"  # the tiny study has synth_0000 ... synth_0007
    img = generate_image(SyntheticConfig(rows=512, cols=416), 99, "L", "CC", patient_rng_seed=99)
    write_dicom(work / "data/synthetic/dicom" / new, img.stored, laterality="L", view="CC",
                orientation=["A", "R"], patient={"id": "NEWPATIENT", "name": "NEW^PATIENT"},
                uid_seed="rerun-test-new")
    assert img.mcs
    csv = work / "data/synthetic/mcs.csv"
    columns = csv.read_text().splitlines()[0].split(",")
    rows = pd.DataFrame([{"file": new, **mc} for mc in img.mcs])[columns]
    rows.to_csv(csv, mode="a", header=False, index=False, float_format="%.4f")

    # validate is a checkpoint: until it has run, the jobs behind it (the preprocessing of the
    # valid images) are unknown to a dry run, so that only plans the dataset stage ...
    jobs = planned(work, generic, extra=TRIGGERS)
    assert {"validate", "manifest", "folds"} <= rules(jobs)
    assert not rules(jobs) & (PREPROCESS_RULES | {"synthesize"})
    # ... so run the checkpoint (a few seconds) and dry-run the rest.
    snakemake(work, "results/dataset/validation.tsv", overlay=[TINY, generic])
    validation = pd.read_csv(work / "results/dataset/validation.tsv", sep="\t")
    sources = pd.read_csv(work / "private/sources.tsv", sep="\t")  # pseudonym -> file
    new_id = sources.set_index("source").loc[new, "image_id"]
    assert (validation["status"] == "ok").all() and new_id not in image_ids

    jobs = planned(work, generic, extra=TRIGGERS)
    assert wildcard_set(jobs, "preprocess_raw", "image") == {new_id}
    assert wildcard_set(jobs, "preprocess", "variant", "image") == {
        (v, new_id) for v in VARIANTS if v != "raw"
    }
    assert "synthesize" not in rules(jobs)
    # what depends on the dataset follows: new folds, samples, shards, trainings, evaluation
    assert {"manifest", "folds", "samples", "shards", "train", "predict", "evaluate"} <= rules(jobs)
