"""Reporting stage: the whole report of a study, as rule ``report`` writes it -- the dataset
table, the run's scale next to the paper's, Table 3 beside the paper's values and whole-image
detection (FROC) beside it, every detector beside the non-learned baselines, the CNNs' gains over
the best baseline, per-fold S and the convergence of every training (HTML pages for the Snakemake
report), and a Markdown summary that states what this run shows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mcdetect.baselines import BASELINES, TOPHAT_DIAMETER
from mcdetect.data.realism import mc_statistics, realism_table
from mcdetect.evaluation.study import table3_note
from mcdetect.reporting.tables import (
    FAINT_NOTE,
    FAINT_TITLE,
    PLATEAU_POINTS,
    REALISM_NOTE,
    REALISM_TITLE,
    convergence_table,
    dataset_table,
    detectors_table,
    findings,
    froc_comparisons_table,
    froc_family,
    froc_table,
    gains_table,
    per_fold_table,
    read_json,
    scale_table,
    summary_markdown,
    sweep_findings,
    sweep_report_table,
    table3_with_paper,
    training_summary,
    write_html,
)

__all__ = ["report_study", "FROC_NOTE"]

FROC_NOTE = (
    "Beyond the paper: every chosen net, and the non-learned first stage alone (dog), marks MCs "
    "on whole held-out mammograms. sens@1: sensitivity at 1 false positive per image (MC level: "
    "the share of annotated MCs marked within the hit distance, one mark per MC; cluster level: "
    "the share of annotated clusters whose outline holds a detected cluster's centroid, against "
    "false clusters per image); area[0,10]: the FROC's mean sensitivity over 0 to 10 false "
    "positives per image. False positives are counted on the normal images (no annotated MC; "
    "the field's convention for MC detection, the headline) and, beside them, on all images. "
    "95% CIs and p from a paired bootstrap by patient (each drawn patient "
    "with all its images; detection.unit, or by image); differences in percentage points.")


def report_study(design, inp: dict, training_logs: dict, out: dict, *, train: dict,
                 spacing_mm: float) -> str:
    """Write every table of the report (``out``: summary, dataset_csv and one HTML page per table)
    from the evaluation's and detection's outputs (``inp``: folds, samples, table3, bootstrap,
    per_model, gains, per_fold, froc, froc_comparisons, mcs (at ``spacing_mm``), where known
    faint (S without the negatives on unannotated MCs); with a sweep, its table and summary:
    sweep, sweep_summary) and the per-epoch logs of every training
    ({(variant, arch, fold): TSV}). Returns what the run shows, in sentences."""
    dataset = dataset_table(pd.read_csv(inp["folds"], sep="\t"),
                            pd.read_csv(inp["samples"], sep="\t"))
    dataset.to_csv(out["dataset_csv"], index=False)
    logs = {tuple(key): pd.read_csv(path, sep="\t") for key, path in training_logs.items()}
    bootstrap = read_json(inp["bootstrap"])
    scale = scale_table(dataset, training_summary(logs), bootstrap, train)
    t3_raw = pd.read_csv(inp["table3"])
    t3 = table3_with_paper(t3_raw, design)
    note = table3_note(bootstrap, design.m)
    gains_raw = pd.read_csv(inp["gains"], sep="\t")
    detectors = detectors_table(pd.read_csv(inp["per_model"], sep="\t"), design.variants,
                                order=[*design.archs, *BASELINES])
    gains = gains_table(gains_raw)
    per_fold = per_fold_table(pd.read_csv(inp["per_fold"], sep="\t"))
    convergence = convergence_table(logs)
    froc_raw = pd.read_csv(inp["froc_comparisons"], sep="\t")
    froc = (froc_table(pd.read_csv(inp["froc"], sep="\t"), design.variants),
            froc_comparisons_table(froc_raw, design), FROC_NOTE + " *: " + froc_family(froc_raw))
    text = findings(t3_raw, gains_raw, convergence, design, froc_raw)
    sweep = None
    if inp.get("sweep"):
        raw, info = pd.read_csv(inp["sweep"], sep="\t"), read_json(inp["sweep_summary"])
        sweep = (f"Sweep of {info['variant']}: S (%) and gain over {info['reference']} per "
                 "setting", sweep_report_table(raw), info["note"] + " Figure: results/figures/"
                 f"fig_sweep_{info['variant']}.png; training curves: results/sweep/.")
        text += " " + sweep_findings(raw, info["variant"], info["reference"])
    folds = pd.read_csv(inp["folds"], sep="\t")
    realism = (realism_table(mc_statistics(pd.read_csv(inp["mcs"], sep="\t"),
                                           folds["image_id"], spacing_mm)), REALISM_NOTE)
    write_html(out["dataset"], "Dataset per fold", dataset,
               "Patients never span folds; positive patches are centred on annotated MCs (those "
               "too close to the image border are dropped), negatives are drawn in the breast "
               "away from every annotated MC. Validation images (a patient-level share of each "
               "fold) are held out of training when their fold is a training fold and tested "
               "like every other image when it is the held-out fold.",
               sections=[(REALISM_TITLE, *realism)])
    write_html(out["scale"], "Scale of this run next to the paper's", scale,
               "The paper: 1,066 private GE mammograms, 30 epochs per training in Caffe on GPUs. "
               "Where this run's learning rate, batch or share of negatives per epoch differ from "
               "the paper's, the run was scaled down to fit its machine (fewer, larger-lr steps; "
               "README: the default's scale). S is not comparable across scales: fewer epochs "
               "and patches give lower S.")
    faint = None
    if inp.get("faint"):
        faint = (pd.read_csv(inp["faint"], sep="\t"), FAINT_NOTE)
    write_html(out["table3"], "Table 3: mean sensitivity S (%), this run next to the paper", t3,
               note + f" *: significant after Bonferroni (m = {design.m}).",
               sections=[(FAINT_TITLE, faint[0].round(2), faint[1])] if faint else [])
    write_html(out["froc"], "Whole-image detection beside Table 3: FROC (%) with 95% CI",
               pd.concat([froc[0], froc[1]], keys=["summaries", "comparisons"]).reset_index(
                   level=0, names="table"), froc[2])
    write_html(out["detectors"], "Every detector on the same samples: S (%) with 95% CI, and AUC",
               detectors, note + " Baselines: mean = patch mean; contrast = centre 2x2 minus the "
               "2-pixel ring over the ring's std; tophat = white top-hat "
               f"({TOPHAT_DIAMETER}x{TOPHAT_DIAMETER} disc) at the "
               "centre; dog = difference of Gaussians (sigma 1, 2 px) over its local RMS at the "
               "centre (mcdetect.baselines).")
    write_html(out["gains"], "Each CNN against the best baseline of its variant", gains,
               "Gain = S(CNN) - S(best baseline) in percentage points on the same samples, with "
               "its 95% paired-bootstrap CI and two-sided p; the best baseline is the one with "
               "the highest S on that variant.")
    write_html(out["per_fold"], "S per fold", per_fold,
               "Each fold's held-out samples scored alone (its own paired bootstrap).")
    write_html(out["convergence"], "Convergence of every training", convergence,
               "How far the validation S moved over the last two epochs (within "
               f"{PLATEAU_POINTS:g} percentage point or not). At the schedule's smallest "
               "learning rates almost any training stays within it: this describes the end of a "
               "training and does not show convergence (BENCHMARKS.md: the default study with "
               "twice the budget). The curves are in the Training section.")
    Path(out["summary"]).write_text(summary_markdown(
        dataset, scale, t3, note, bootstrap, m=design.m, detectors=detectors, gains=gains,
        per_fold=per_fold, convergence=convergence, froc=froc, sweep=sweep, realism=realism,
        faint=faint, text=text))
    return text
