"""Evaluation stage: the whole evaluation of a study, as rule ``evaluate`` runs it -- the held-out
scores of every CNN (all folds pooled) and the baselines' scores of the same samples, exact mean
sensitivity, one paired bootstrap over every model, Table 3 as the study design names it, the CNNs'
gains over the best baseline of their variant, S per fold, the averaged ROC curves and Fig. 3."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mcdetect.baselines import BASELINES
from mcdetect.evaluation.bootstrap import paired_bootstrap
from mcdetect.evaluation.metrics import resolution
from mcdetect.evaluation.tables import (
    gains_over_baselines,
    model_summary,
    per_fold_summary,
    pool_scores,
    table3,
)

__all__ = ["evaluate_study", "model_scores", "read_samples", "table3_note", "unit_phrase"]


def read_samples(samples_parquet, folds_tsv, columns=()) -> pd.DataFrame:
    """The sample table's ids, images, folds and labels (and ``columns``), with each image's
    patient, by sample id."""
    samples = pd.read_parquet(samples_parquet,
                              columns=["sample_id", "image_id", "fold", "label", *columns])
    folds = pd.read_csv(folds_tsv, sep="\t")
    samples["patient_id"] = samples["image_id"].map(folds.set_index("image_id")["patient_id"])
    return samples.sort_values("sample_id").reset_index(drop=True)


def model_scores(samples, predictions: dict, baselines: dict) -> dict:
    """Every model's scores aligned with the samples: ``variant/arch`` from the held-out predictions
    of every fold ({(variant, arch, fold): parquet}), ``variant/baseline`` from the baselines'
    tables ({variant: parquet})."""
    tables = {}
    for (variant, arch, _fold), path in predictions.items():
        tables.setdefault(f"{variant}/{arch}", []).append(pd.read_parquet(path))
    for variant, path in baselines.items():
        table = pd.read_parquet(path)
        for b in BASELINES:
            tables[f"{variant}/{b}"] = table[["sample_id", b]].rename(columns={b: "score"})
    return pool_scores(samples["sample_id"].to_numpy(), tables)


def table3_note(summary: dict, m: int) -> str:
    """How Table 3 was computed, from the evaluation's bootstrap.json and the number of
    comparisons m."""
    b = summary
    return (f"Mean sensitivity S in percent over FPR [{b['a']:g}, {b['b']:g}]; {b['n_boot']} "
            f"paired bootstrap resamples ({unit_phrase(b)}; seed {b['seed']}); "
            f"two-sided p-values, significant (Bonferroni, m = {m}) if p < {0.05 / m:.4f}. "
            f"{b['n_negatives']:,} negatives: the smallest resolvable FPR is {b['min_fpr']:.2g}"
            + (", above a: below it s is the sensitivity at FPR 0." if b["a_below_resolution"]
               else "."))


def unit_phrase(summary: dict) -> str:
    """The bootstrap unit as Table 3's note names it, with the number of units where known."""
    unit, n = summary["unit"], summary.get("n_units")
    if unit == "sample":
        return "by sample, class-stratified as the paper"
    count = f"{n} {unit}s, " if n else ""
    return f"by {unit}: {count}each drawn with all its positives and negatives"


def _roc_table(res: dict) -> pd.DataFrame:
    """Bootstrap mean and 95% band of every model's sensitivity on the FPR grid."""
    return pd.DataFrame(
        [{"model": k, "fpr": f, "sensitivity": m, "ci_low": lo, "ci_high": hi}
         for k, c in sorted(res["roc"].items())
         for f, m, lo, hi in zip(res["grid"], c.mean(0), *np.percentile(c, [2.5, 97.5], 0),
                                 strict=True)])


def evaluate_study(design, samples_parquet, folds_tsv, predictions: dict, baselines: dict,
                   out: dict, *, a: float, b: float, n_boot: int, unit: str, seed: int,
                   workers: int = 1, unannotated_tsv=None, exclusion_radius: float = 0.0,
                   log=print) -> dict:
    """Evaluate every model of ``design`` (a ``mcdetect.design.StudyDesign``) and write ``out``'s
    files: per_model, gains, per_fold (TSV), table3_csv, table3_md, summary (JSON), roc (TSV) and
    fig3 (PNG); where the unannotated MCs are known (``unannotated_tsv``: image_id, x, y), also
    faint (TSV: S with and without the negatives within ``exclusion_radius`` of them,
    ``mcdetect.evaluation.faint``). Returns the bootstrap summary."""
    from mcdetect.evaluation.figures import average_roc_figure

    samples = read_samples(samples_parquet, folds_tsv, columns=["x", "y"])
    pooled = model_scores(samples, predictions, baselines)
    labels = samples["label"].to_numpy()
    units = None if unit == "sample" else samples[f"{unit}_id"].to_numpy()
    res = paired_bootstrap(pooled, labels, units, n_boot=n_boot, seed=seed, a=a, b=b,
                           workers=workers, log=log)
    kinds = {**{arch: "cnn" for arch in design.archs}, **{bl: "baseline" for bl in BASELINES}}
    per_model = model_summary(res, pooled, labels, kinds)
    per_model.to_csv(out["per_model"], sep="\t", index=False, float_format="%.4f")
    gains = gains_over_baselines(res, design.variants, design.archs, BASELINES)
    gains.to_csv(out["gains"], sep="\t", index=False, float_format="%.4f")
    log("per-fold bootstrap")
    per_fold = per_fold_summary(pooled, labels, samples["fold"].to_numpy(), units, n_boot=n_boot,
                                seed=seed, a=a, b=b, workers=workers, log=log)
    per_fold.to_csv(out["per_fold"], sep="\t", index=False, float_format="%.4f")
    t3 = table3(res, design)
    t3.to_csv(out["table3_csv"], index=False)
    summary = {"unit": unit, "n_units": None if units is None else int(len(np.unique(units))),
               "n_patients": int(samples["patient_id"].nunique()),
               "n_boot": n_boot, "seed": seed, "a": a, "b": b,
               **resolution(int((labels == 0).sum()), a),
               "positives": int((labels == 1).sum()), "fallbacks": res["fallbacks"],
               "individual_negatives": res["top"]}
    if unannotated_tsv:
        from mcdetect.evaluation.faint import faint_negatives, flag_near

        flagged = flag_near(samples, pd.read_csv(unannotated_tsv, sep="\t"), exclusion_radius)
        faint = faint_negatives(design, pooled, labels, flagged, a=a, b=b)
        faint.to_csv(out["faint"], sep="\t", index=False, float_format="%.4f")
        summary["negatives_on_unannotated_mcs"] = int(flagged.sum())
        log(f"{int(flagged.sum())} of {int((labels == 0).sum())} negatives lie within "
            f"{exclusion_radius:g} px of an unannotated MC; S without them:\n"
            f"{faint.to_string(index=False)}")
    note = table3_note(summary, design.m)
    Path(out["table3_md"]).write_text(
        "# Table 3 (replica)\n\n" + t3.to_markdown(index=False, floatfmt=".4g") + "\n\n"
        + note + "\n")
    Path(out["summary"]).write_text(json.dumps(summary, indent=2) + "\n")
    cnn_keys = [k for k in res["S"] if k.split("/", 1)[1] in design.archs]
    curves = {tuple(reversed(k.split("/"))): res["roc"][k] for k in cnn_keys}
    average_roc_figure(out["fig3"], res["grid"], curves, a, b, variants=design.variants)
    _roc_table(res).to_csv(out["roc"], sep="\t", index=False, float_format="%.6g")
    log(f"Table 3:\n{t3.to_string(index=False)}\n{note}")
    log(f"models:\n{per_model.to_string(index=False)}")
    log(f"CNN gains over the best baseline:\n{gains.to_string(index=False)}")
    return summary
