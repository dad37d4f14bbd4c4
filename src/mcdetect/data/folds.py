"""Patient-level K-fold split, stratified by MC presence, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mcdetect.data.sources import DatasetError

__all__ = ["assign_folds", "check_folds"]


def assign_folds(images: pd.DataFrame, k: int = 2, seed: int = 1) -> pd.DataFrame:
    """One fold per patient: no patient on both sides of any split.

    Patients are stratified by whether any of their images has MCs. Within a stratum, patients are
    shuffled with ``seed`` and, largest first, each goes to the fold that has the fewest images of
    that stratum so far, so folds get similar numbers of images with and without MCs.
    """
    if k < 2:
        raise DatasetError(f"folds.k must be at least 2, got {k}")
    patients = (
        images.assign(has_mcs=images["n_mcs"] > 0)
        .groupby("patient_id")
        .agg(n_images=("image_id", "size"), has_mcs=("has_mcs", "any"))
        .reset_index()
    )
    if len(patients) < k:
        raise DatasetError(f"{len(patients)} patient(s) cannot be split into {k} folds")
    rng = np.random.default_rng(seed)
    fold_of = {}
    for _, stratum in patients.groupby("has_mcs", sort=True):
        order = stratum.iloc[rng.permutation(len(stratum))]
        order = order.sort_values("n_images", ascending=False, kind="stable")
        load = np.zeros(k, int)
        start = int(rng.integers(k))  # who gets the first patient, so no fold is always favoured
        for _, p in order.iterrows():
            candidates = np.roll(np.arange(k), -start)
            fold = int(candidates[np.argmin(load[candidates])])
            fold_of[p["patient_id"]] = fold
            load[fold] += p["n_images"]
    out = images[["image_id", "patient_id", "n_mcs"]].copy()
    out["fold"] = out["patient_id"].map(fold_of).astype(int)
    check_folds(out)
    return out[["image_id", "patient_id", "fold", "n_mcs"]]


def check_folds(folds: pd.DataFrame) -> None:
    """Raise when a patient's images fall in more than one fold."""
    per_patient = folds.groupby("patient_id")["fold"].nunique()
    leaking = per_patient[per_patient > 1]
    if len(leaking):
        raise DatasetError(f"{len(leaking)} patient(s) appear in more than one fold")
