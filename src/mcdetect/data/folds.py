"""Dataset stage: the patient-level K-fold split, stratified by MC presence, seeded; or a published
split read from a file (``folds.from_file``), checked the same way: no patient in more than one
fold."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from mcdetect.data.sources import DatasetError

__all__ = ["write_folds", "assign_folds", "assign_validation", "check_folds", "folds_from_file",
           "read_folds_file"]

_ID_COLUMNS = ("image_id", "file", "filename", "file_name", "file name", "source", "image")
_FOLD_COLUMNS = ("fold", "split")


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


def assign_validation(folds: pd.DataFrame, fraction: float, seed: int = 1) -> pd.DataFrame:
    """Mark a patient-level share of every fold as validation data (column ``validation``, 0/1).

    A model trains on the other folds' non-validation images and is scored after every epoch on
    their validation images; every image is still tested once, by the model of its own fold. In
    each fold and stratum (patients with / without MCs) ``round(fraction * patients)`` patients,
    drawn with ``seed``, are validation patients; with ``fraction > 0`` every fold gets at least one
    patient with MCs (a validation set needs positives), and never all of a fold's patients.
    """
    if not 0 <= fraction < 1:
        raise DatasetError(f"folds.validation_fraction must be in [0, 1), got {fraction}")
    out = folds.copy()
    out["validation"] = 0
    if fraction == 0:
        return out
    rng = np.random.default_rng([int(seed), 7])
    has_mcs = out.groupby("patient_id")["n_mcs"].sum() > 0
    chosen = []
    for _, group in out.groupby("fold", sort=True):
        patients = group["patient_id"].unique()
        picked = []
        for flag in (True, False):
            stratum = np.sort([p for p in patients if bool(has_mcs[p]) == flag])
            n = int(round(fraction * len(stratum)))
            if flag and n == 0 and len(stratum) > 1:
                n = 1
            picked += list(rng.permutation(stratum)[:n])
        if len(picked) >= len(patients):  # keep at least one training patient
            picked = picked[: len(patients) - 1]
        chosen += picked
    out.loc[out["patient_id"].isin(chosen), "validation"] = 1
    return out


def check_folds(folds: pd.DataFrame, origin: str = "") -> None:
    """Raise when a patient's images fall in more than one fold; the message names the patients
    (pseudonyms), their images (``source`` when present) and folds, and ``origin`` (the file)."""
    per_patient = folds.groupby("patient_id")["fold"].nunique()
    leaking = per_patient[per_patient > 1]
    if len(leaking):
        name = "source" if "source" in folds.columns else "image_id"
        details = []
        for patient in leaking.index[:5]:
            rows = folds[folds["patient_id"] == patient].sort_values("fold")
            images = ", ".join(f"{n} (fold {f})" for n, f in zip(rows[name], rows["fold"],
                                                                  strict=True))
            details.append(f"patient {patient}: {images}")
        more = f"\n  ... and {len(leaking) - 5} more" if len(leaking) > 5 else ""
        where = f"{origin}: " if origin else ""
        raise DatasetError(
            f"{where}{len(leaking)} patient(s) appear in more than one fold (their images would "
            f"be trained on and tested on):\n  " + "\n  ".join(details) + more
        )


def read_folds_file(path) -> pd.DataFrame:
    """A split file: CSV/TSV with an image column (image_id, file/filename/source: a DICOM file
    name, its path relative to the dataset folder, or INbreast's numeric FileName) and a fold
    column (fold or split: integers or labels). Returns columns ``key``, ``fold_label``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: folds file not found (folds.from_file)")
    try:
        table = pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable CSV ({exc})") from exc
    cols = {str(c).strip().lower(): c for c in table.columns}
    key = next((cols[c] for c in _ID_COLUMNS if c in cols), None)
    fold = next((cols[c] for c in _FOLD_COLUMNS if c in cols), None)
    if key is None or fold is None:
        raise DatasetError(
            f"{path}: needs an image column ({', '.join(_ID_COLUMNS)}) and a fold column "
            f"({', '.join(_FOLD_COLUMNS)}); found {', '.join(map(str, table.columns))}"
        )
    out = pd.DataFrame({"key": table[key].str.strip(), "fold_label": table[fold].str.strip()})
    out = out[out["key"] != ""]
    empty = out.index[out["fold_label"] == ""]
    if len(empty):
        raise DatasetError(f"{path}: no fold on line(s) {', '.join(str(i + 2) for i in empty[:5])}")
    dup = out["key"][out["key"].duplicated()]
    if len(dup):
        raise DatasetError(f"{path}: image {dup.iloc[0]} listed more than once")
    return out.reset_index(drop=True)


def _keys_of(source: str) -> list[str]:
    """Names a split file may use for one image: its path, file name, stem, first token."""
    name = source.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return [source, name, stem, re.split(r"[_.]", stem)[0]]


def folds_from_file(images: pd.DataFrame, path, k: int) -> pd.DataFrame:
    """Folds of the manifest's images from a split file (see ``read_folds_file``).

    Fold labels are numbered in sorted order (0..k-1 stay as they are; 1..k become 0..k-1; text
    labels in alphabetical order). Every image of the manifest must be listed; listed files that
    are not in the manifest (excluded by validate, or not in this copy) are ignored. Raises
    DatasetError naming the file when a patient's images fall in more than one fold.
    """
    path = Path(path)
    split = read_folds_file(path)
    labels = sorted(split["fold_label"].unique(),
                    key=lambda v: (0, int(v), "") if re.fullmatch(r"-?\d+", v) else (1, 0, v))
    if len(labels) != k:
        raise DatasetError(f"{path}: {len(labels)} folds ({', '.join(labels)}) but folds.k is {k}")
    number = {label: i for i, label in enumerate(labels)}
    fold_of_key = dict(zip(split["key"], split["fold_label"].map(number), strict=True))
    fold, ambiguous = [], []
    for image, source in zip(images["image_id"], images.get("source", images["image_id"]),
                             strict=True):
        hits = {fold_of_key[n] for n in [image, *_keys_of(str(source))] if n in fold_of_key}
        if len(hits) > 1:
            ambiguous.append(str(source))
        fold.append(hits.pop() if len(hits) == 1 else -1)
    if ambiguous:
        raise DatasetError(f"{path}: image(s) matched by entries of different folds: "
                           f"{', '.join(ambiguous[:5])}")
    out = images[["image_id", "patient_id", "n_mcs"]].copy()
    if "source" in images.columns:
        out["source"] = images["source"]
    out["fold"] = np.array(fold, dtype=int)
    missing = out.loc[out["fold"] < 0, "source" if "source" in out else "image_id"]
    if len(missing):
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise DatasetError(f"{path}: {len(missing)} image(s) of the manifest are not in the "
                           f"folds file: {shown}")
    check_folds(out, origin=str(path))
    empty = sorted(set(range(k)) - set(out["fold"]))
    if empty:
        raise DatasetError(f"{path}: fold(s) {', '.join(map(str, empty))} have no image of "
                           f"the manifest")
    return out[["image_id", "patient_id", "fold", "n_mcs"]].reset_index(drop=True)


def write_folds(images_tsv, out_tsv, *, k: int, seed: int, validation_fraction: float,
                from_file=None, sources_tsv=None, log) -> pd.DataFrame:
    """Rule folds: patient-level folds of the manifest's images (or those of a published split,
    ``from_file``, matched by file name too through the private map of sources), each with its
    validation share, written to ``out_tsv``."""
    images = pd.read_csv(images_tsv, sep="\t", keep_default_na=False)
    if from_file:
        sources = pd.read_csv(sources_tsv, sep="\t", keep_default_na=False)
        named = images.merge(sources[["image_id", "source"]], on="image_id", how="left")
        folds = folds_from_file(named, from_file, k=k)
        log.info("folds read from %s", from_file)
    else:
        folds = assign_folds(images, k=k, seed=seed)
    folds = assign_validation(folds, validation_fraction, seed=seed)
    folds.to_csv(out_tsv, sep="\t", index=False)
    per_fold = folds.groupby("fold").agg(
        images=("image_id", "size"), patients=("patient_id", "nunique"),
        images_with_mcs=("n_mcs", lambda s: int((s > 0).sum())), mcs=("n_mcs", "sum"),
        validation_images=("validation", "sum"),
    )
    log.info("folds:\n%s", per_fold.to_string())
    return folds
