"""Dataset integrity check (``validate``) and the manifest (``images.tsv``, ``mcs.tsv``).

``validate_dataset`` decodes every file through the one reader and checks, per image:
it decodes; it has a pixel spacing; every annotation falls inside the image and inside the breast;
it is not a duplicate (same decoded pixels) of an earlier file. With ``on_bad_image='fail'`` any
problem stops the run with one message listing every bad file; with ``'skip'`` bad images are
left out and listed, with the reason, in ``excluded.tsv``. Input files are only read.

``build_manifest`` turns the validation table and the annotations into the study's manifest, with
pseudonymous image and patient ids and MC centres in canonical coordinates (study spacing,
chest wall on the left). No PatientName/ID, date or UID is written anywhere.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from mcdetect.data.dicom import MammogramError, read_header, read_mammogram
from mcdetect.data.layout import image_id
from mcdetect.data.sources import DatasetError
from mcdetect.mask import breast_mask

__all__ = ["validate_dataset", "build_manifest", "VALIDATION_COLUMNS"]

VALIDATION_COLUMNS = [
    "image_id", "source", "status", "problem", "patient_id", "laterality", "view",
    "presentation_intent", "photometric", "bits_stored", "spacing_source", "src_spacing_mm",
    "src_rows", "src_cols", "rows", "cols", "flipped", "transfer_syntax", "n_mcs",
]


def _check_one(args):
    path, source, xs, ys, spacing, key = args
    row = {"image_id": image_id(key, source), "source": source, "status": "ok", "problem": ""}
    try:
        mammo = read_mammogram(path, spacing, key)
    except MammogramError as exc:
        row.update(status="excluded", problem=exc.problem)
        return row, None
    h = mammo.header
    row.update(
        patient_id=h.patient_key, laterality=h.laterality, view=h.view,
        presentation_intent=h.presentation_intent, photometric=h.photometric,
        bits_stored=h.bits_stored, spacing_source=h.spacing_source,
        src_spacing_mm=f"{h.src_spacing_mm[0]:.5g}/{h.src_spacing_mm[1]:.5g}",
        src_rows=h.src_rows, src_cols=h.src_cols, rows=h.shape[0], cols=h.shape[1],
        flipped=h.flipped, transfer_syntax=h.transfer_syntax, n_mcs=len(xs),
    )
    problems = []
    if len(xs):
        cx, cy = h.to_canonical(xs, ys)
        rows, cols = h.shape
        outside = (cx < -0.5) | (cx >= cols - 0.5) | (cy < -0.5) | (cy >= rows - 0.5)
        for i in np.flatnonzero(outside)[:3]:
            problems.append(
                f"annotation at source (x={xs[i]:g}, y={ys[i]:g}) lies outside the image "
                f"({h.src_cols} x {h.src_rows} pixels)"
            )
        inside = ~outside
        if inside.any():
            mask = breast_mask(mammo.image)
            xi = np.clip(np.rint(cx[inside]).astype(int), 0, cols - 1)
            yi = np.clip(np.rint(cy[inside]).astype(int), 0, rows - 1)
            off = np.flatnonzero(~mask[yi, xi])
            src_idx = np.flatnonzero(inside)
            for j in off[:3]:
                i = src_idx[j]
                problems.append(
                    f"annotation at source (x={xs[i]:g}, y={ys[i]:g}) lies outside the breast"
                )
    if problems:
        row.update(status="excluded", problem="; ".join(problems))
    digest = hashlib.sha1(np.ascontiguousarray(mammo.image).tobytes()).hexdigest()
    return row, digest


def validate_dataset(paths, sources, annotations: pd.DataFrame, *, spacing_mm=0.1,
                     pseudonym_key="mcdetect", on_bad_image="fail", workers=1, log=print):
    """Check every source file; returns (validation table, excluded table).

    ``paths`` are the files to read, ``sources`` their names relative to the dataset folder (the
    names the annotation CSV uses), in the same order.
    """
    if on_bad_image not in ("fail", "skip"):
        raise DatasetError(f"on_bad_image must be 'fail' or 'skip', not {on_bad_image!r}")
    if len(paths) != len(sources):
        raise DatasetError(f"{len(paths)} paths for {len(sources)} source names")
    path_of = dict(zip(sources, map(str, paths), strict=True))
    by_file = {f: g for f, g in annotations.groupby("file")}
    jobs = []
    for src in sources:
        g = by_file.get(src)
        xs = g["x"].to_numpy(float) if g is not None else np.zeros(0)
        ys = g["y"].to_numpy(float) if g is not None else np.zeros(0)
        jobs.append((path_of[src], src, xs, ys, spacing_mm, pseudonym_key))
    rows, digests = [], []
    workers = max(1, min(int(workers), len(jobs)))
    step = max(1, len(jobs) // 20)
    if workers == 1:
        results = map(_check_one, jobs)
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        results = pool.map(_check_one, jobs, chunksize=max(1, len(jobs) // (8 * workers)))
    for n, (row, digest) in enumerate(results, 1):
        rows.append(row)
        digests.append(digest)
        if n % step == 0 or n == len(jobs):
            log(f"[validate] {n}/{len(jobs)} files checked")
    if workers > 1:
        pool.shutdown()
    first_of = {}
    for row, digest in zip(rows, digests, strict=True):
        if digest is None:
            continue
        if digest in first_of:
            row.update(status="excluded", problem=f"duplicate of {first_of[digest]}")
        else:
            first_of[digest] = row["source"]
    table = pd.DataFrame(rows).reindex(columns=VALIDATION_COLUMNS)
    bad = table[table["status"] != "ok"]
    if len(bad) and on_bad_image == "fail":
        lines = "\n".join(f"  {path_of[s]}: {p}" for s, p in zip(bad["source"], bad["problem"],
                                                                 strict=True))
        raise DatasetError(
            f"{len(bad)} of {len(table)} image(s) failed validation "
            f"(set dataset.on_bad_image: skip to leave them out):\n{lines}"
        )
    if len(table) == len(bad):
        raise DatasetError(f"no usable image: all {len(bad)} excluded")
    excluded = bad[["image_id", "source", "problem"]].reset_index(drop=True)
    return table, excluded


def build_manifest(paths, sources, validation: pd.DataFrame, annotations: pd.DataFrame, *,
                   spacing_mm=0.1, pseudonym_key="mcdetect"):
    """images.tsv and mcs.tsv tables for the images that passed validation."""
    path_of = dict(zip(sources, map(str, paths), strict=True))
    ok = validation[validation["status"] == "ok"].reset_index(drop=True)
    by_file = {f: g for f, g in annotations.groupby("file")}
    mc_tables = []
    for _, row in ok.iterrows():
        header = read_header(path_of[row["source"]], spacing_mm, pseudonym_key)
        flipped = str(row["flipped"]).lower() in ("true", "1")
        header = replace(header, flipped=flipped)  # as decided on the pixels by validate
        g = by_file.get(row["source"])
        if g is None:
            continue
        cx, cy = header.to_canonical(g["x"].to_numpy(float), g["y"].to_numpy(float))
        mc_tables.append(pd.DataFrame({
            "image_id": row["image_id"], "x": np.round(cx, 3), "y": np.round(cy, 3),
            "diameter_mm": g["diameter_mm"].to_numpy(), "cluster_id": g["cluster_id"].to_numpy(),
        }))
    columns = ["image_id", "x", "y", "diameter_mm", "cluster_id"]
    mcs = pd.concat(mc_tables, ignore_index=True) if mc_tables else pd.DataFrame(columns=columns)
    mcs.insert(0, "mc_id", np.arange(len(mcs)))
    images = ok.drop(columns=["status", "problem"]).copy()
    images["n_mcs"] = images["image_id"].map(mcs.groupby("image_id").size()).fillna(0).astype(int)
    return images, mcs


def summarize(images: pd.DataFrame, mcs: pd.DataFrame, excluded: pd.DataFrame) -> dict:
    return {
        "images": int(len(images)),
        "patients": int(images["patient_id"].nunique()),
        "images_with_mcs": int((images["n_mcs"] > 0).sum()),
        "mcs": int(len(mcs)),
        "excluded_images": int(len(excluded)),
        "lateralities": images["laterality"].value_counts().sort_index().to_dict(),
        "views": images["view"].value_counts().sort_index().to_dict(),
        "presentation_intent": images["presentation_intent"].value_counts().to_dict(),
        "spacing_source": images["spacing_source"].value_counts().to_dict(),
    }


def write_summary(summary: dict, json_path, md_path):
    Path(json_path).write_text(json.dumps(summary, indent=2) + "\n")
    lines = ["# Dataset summary", "", "| quantity | value |", "| --- | --- |"]
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        lines.append(f"| {key.replace('_', ' ')} | {value} |")
    Path(md_path).write_text("\n".join(lines) + "\n")
