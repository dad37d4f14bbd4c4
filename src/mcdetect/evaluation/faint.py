"""Evaluation stage: how much the negatives that lie on unannotated MCs weigh on S -- a
sensitivity analysis where the truth is known (the synthetic dataset plants MCs that its reader
model leaves unannotated, as a radiologist leaves the faintest ones).

The study draws negatives away from the annotated MCs only, as it must on real data. Some then sit
on a planted but unannotated MC, and a net that finds that MC is counted as a false positive.
``faint_negatives`` flags every negative within the exclusion radius of an unannotated MC and
computes S of every model, and the study design's differences, with and without those
negatives (point estimates on the same held-out samples).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mcdetect.evaluation.metrics import mean_sensitivity

__all__ = ["flag_near", "faint_negatives"]


def flag_near(samples: pd.DataFrame, points: pd.DataFrame, radius: float) -> np.ndarray:
    """Which rows of ``samples`` (image_id, x, y, label) are negatives within ``radius`` pixels
    of a point of ``points`` (image_id, x, y) on the same image."""
    from scipy.spatial import cKDTree

    flags = np.zeros(len(samples), dtype=bool)
    by_image = {k: g[["x", "y"]].to_numpy(float) for k, g in points.groupby("image_id")}
    negatives = samples["label"].to_numpy() == 0
    for image_id, rows in samples.groupby("image_id").indices.items():
        xy = by_image.get(image_id)
        if xy is None:
            continue
        rows = rows[negatives[rows]]
        d, _ = cKDTree(xy).query(samples[["x", "y"]].to_numpy(float)[rows])
        flags[rows[d <= radius]] = True
    return flags


def faint_negatives(design, scores: dict, labels: np.ndarray, flagged: np.ndarray, *,
                    a: float, b: float) -> pd.DataFrame:
    """S (percent) of every model of ``scores`` (aligned with ``labels``) with every negative and
    without the ``flagged`` ones, and per CNN the design's differences both ways. Rows: one per
    model (``kind`` model) and one per (CNN, comparison) (``kind`` difference)."""
    labels, flagged = np.asarray(labels), np.asarray(flagged, dtype=bool)
    keep = ~flagged
    s_all, s_kept = {}, {}
    for name, v in scores.items():
        v = np.asarray(v)
        s_all[name] = 100 * mean_sensitivity(v[labels == 1], v[labels == 0], a=a, b=b)
        s_kept[name] = 100 * mean_sensitivity(v[(labels == 1) & keep], v[(labels == 0) & keep],
                                              a=a, b=b)
    n_flagged, n_neg = int(flagged.sum()), int((labels == 0).sum())
    rows = [{"kind": "model", "model": name, "S (all negatives)": s_all[name],
             "S (without them)": s_kept[name], "change": s_kept[name] - s_all[name],
             "negatives removed": n_flagged, "negatives": n_neg} for name in scores]
    for arch in design.archs:
        for vx, vy in design.comparisons:
            x, y = f"{vx}/{arch}", f"{vy}/{arch}"
            if x in scores and y in scores:
                before, after = s_all[x] - s_all[y], s_kept[x] - s_kept[y]
                rows.append({"kind": "difference",
                             "model": f"{arch}: {design.label(vx)} - {design.label(vy)}",
                             "S (all negatives)": before, "S (without them)": after,
                             "change": after - before, "negatives removed": n_flagged,
                             "negatives": n_neg})
    return pd.DataFrame(rows)
