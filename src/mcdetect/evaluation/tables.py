"""Evaluation stage: the study's result tables from the bootstrap -- Table 3 as the study design
names it, every model's S and AUC, the CNNs' gains over the best baseline, and S per fold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mcdetect.evaluation.bootstrap import paired_bootstrap, paired_p_value
from mcdetect.evaluation.metrics import auc

__all__ = ["table3", "pool_scores", "model_summary", "gains_over_baselines", "per_fold_summary"]


def table3(result: dict, design) -> pd.DataFrame:
    """The paper's Table 3 as ``design`` (a ``mcdetect.design.StudyDesign``) names it: per CNN, S of
    every variant (percent, 95% CI; the paper's S_UN, S_CL, S_DH) and every comparison's
    difference with its two-sided paired p-value, Bonferroni-marked over the m comparisons."""
    rows = []
    for arch in design.archs:
        row = {"CNN": arch}
        for variant in design.variants:
            short, key = design.label(variant), f"{variant}/{arch}"
            lo, hi = np.percentile(result["boot"][key], [2.5, 97.5])
            row[f"S_{short}"] = 100 * result["S"][key]
            row[f"S_{short} 95% CI"] = f"{100 * lo:.2f}-{100 * hi:.2f}"
        for vx, vy in design.comparisons:
            x, y = design.label(vx), design.label(vy)
            p = paired_p_value(result["boot"][f"{vx}/{arch}"], result["boot"][f"{vy}/{arch}"])
            row[f"S_{x} - S_{y}"] = row[f"S_{x}"] - row[f"S_{y}"]
            row[f"p ({x} vs {y})"] = p
            row[f"significant ({x} vs {y})"] = bool(p < design.alpha / design.m)
        rows.append(row)
    return pd.DataFrame(rows)


def pool_scores(sample_ids: np.ndarray, tables: dict) -> dict:
    """Each model's scores aligned with ``sample_ids`` (ascending): ``tables`` maps a model name to
    one or more DataFrames of (sample_id, score), e.g. the held-out predictions of every fold.
    Raises unless they cover every sample exactly once."""

    pooled = {}
    for name, parts in tables.items():
        parts = parts if isinstance(parts, (list, tuple)) else [parts]
        table = pd.concat(parts).sort_values("sample_id")
        if not np.array_equal(table["sample_id"].to_numpy(), np.asarray(sample_ids)):
            raise ValueError(f"{name}: the scores do not cover every sample exactly once")
        pooled[name] = table["score"].to_numpy(np.float64)
    return pooled


def model_summary(result: dict, scores: dict, labels, kinds: dict) -> pd.DataFrame:
    """One row per model: variant, method, kind (``cnn`` / ``baseline``), S in percent with its 95%
    bootstrap CI, and the AUC. Model names are ``variant/method``; ``kinds`` maps a method to its
    kind."""

    labels = np.asarray(labels)
    rows = []
    for name in result["S"]:
        variant, method = name.split("/", 1)
        lo, hi = np.percentile(result["boot"][name], [2.5, 97.5])
        s = np.asarray(scores[name])
        rows.append({"model": name, "variant": variant, "method": method,
                     "kind": kinds.get(method, "cnn"), "S": 100 * result["S"][name],
                     "ci_low": 100 * lo, "ci_high": 100 * hi,
                     "AUC": auc(s[labels == 1], s[labels == 0])})
    return pd.DataFrame(rows)


def gains_over_baselines(result: dict, variants, archs, baselines, alpha: float = 0.05):
    """For every CNN and variant: the best baseline of that variant (highest S on the data as they
    are), and the CNN's gain over it in S (percentage points) with its 95% paired-bootstrap CI and
    two-sided p-value; ``beats`` when the whole CI lies above zero."""

    rows = []
    for variant in variants:
        names = [f"{variant}/{b}" for b in baselines if f"{variant}/{b}" in result["S"]]
        if not names:
            continue
        best = max(names, key=lambda k: result["S"][k])
        for arch in archs:
            cnn = f"{variant}/{arch}"
            if cnn not in result["S"]:
                continue
            d = 100 * (np.asarray(result["boot"][cnn]) - np.asarray(result["boot"][best]))
            lo, hi = np.percentile(d, [100 * alpha / 2, 100 * (1 - alpha / 2)])
            rows.append({"variant": variant, "CNN": arch, "best baseline": best.split("/", 1)[1],
                         "S_CNN": 100 * result["S"][cnn], "S_baseline": 100 * result["S"][best],
                         "gain": 100 * (result["S"][cnn] - result["S"][best]),
                         "ci_low": lo, "ci_high": hi,
                         "p": paired_p_value(result["boot"][cnn], result["boot"][best]),
                         "beats": bool(lo > 0)})
    return pd.DataFrame(rows)


def per_fold_summary(scores: dict, labels, folds, units=None, *, n_boot: int, seed: int,
                     a: float, b: float, workers: int = 1, log=print) -> pd.DataFrame:
    """S (percent, 95% CI) and AUC of every model on each fold's samples alone (each fold its own
    paired bootstrap, seeded from ``seed`` and the fold)."""

    labels, folds = np.asarray(labels), np.asarray(folds)
    rows = []
    for fold in np.unique(folds):
        sel = folds == fold
        sub = {k: np.asarray(v)[sel] for k, v in scores.items()}
        res = paired_bootstrap(sub, labels[sel], None if units is None else np.asarray(units)[sel],
                               n_boot=n_boot, seed=[int(seed), int(fold)], a=a, b=b,
                               workers=workers, log=log)
        for name, s in sub.items():
            lo, hi = np.percentile(res["boot"][name], [2.5, 97.5])
            y = labels[sel]
            rows.append({"model": name, "fold": int(fold), "S": 100 * res["S"][name],
                         "ci_low": 100 * lo, "ci_high": 100 * hi,
                         "AUC": auc(s[y == 1], s[y == 0]), "positives": int((y == 1).sum()),
                         "negatives": int((y == 0).sum())})
    return pd.DataFrame(rows)
