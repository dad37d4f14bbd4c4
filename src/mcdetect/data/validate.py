"""Dataset stage: the integrity check (``validate``) of every source file before any work.

``validate_dataset`` decodes every file through the one reader and checks, per image:
it decodes; it has a pixel spacing; every annotation falls inside the image and inside the breast;
it is not a duplicate (same decoded pixels) of an earlier file. With ``on_bad_image='fail'`` any
problem stops the run with one message listing every bad file; with ``'skip'`` bad images are
left out and listed, with the reason, in ``excluded.tsv``. Input files are only read. Whatever goes
wrong with one file (malformed tags, an unexpected decoder error) becomes that file's problem, so
no file can stop the run without its name. A source may add per-file ``metadata`` (patient,
laterality, view, problems found while importing it, see ``sources.read_metadata``) and its nominal
``expected_spacing_mm``, which the header's spacing is checked against.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np
import pandas as pd

from mcdetect.data.dicom import MammogramError, read_mammogram
from mcdetect.data.sources import DatasetError, raise_or_exclude
from mcdetect.ids import image_id
from mcdetect.preprocessing.mask import breast_mask

SKIN_TOLERANCE_MM = 1.0  # an annotation this close to the estimated breast mask is inside

__all__ = ["validate_sources", "validate_dataset", "split_private", "VALIDATION_COLUMNS",
           "MIN_SIDE_PX"]

MIN_SIDE_PX = 32  # smallest image side, in pixels at the study spacing, worth keeping

VALIDATION_COLUMNS = [
    "image_id", "source", "status", "problem", "patient_id", "laterality", "view",
    "presentation_intent", "photometric", "bits_stored", "spacing_source", "src_spacing_mm",
    "src_rows", "src_cols", "rows", "cols", "flipped", "transfer_syntax", "n_mcs",
]


def _check_one(args):
    source, key = args[1], args[5]
    row = {"image_id": image_id(key, source), "source": source, "status": "ok", "problem": ""}
    try:
        return _check(row, *args)
    except Exception as exc:  # never lose a file's name to an unexpected error
        row.update(status="excluded",
                   problem=f"unexpected error while checking it ({type(exc).__name__}: {exc})")
        return row, None


def _check(row, path, source, xs, ys, spacing, key, meta=None, expected_spacing_mm=None):
    meta = meta or {}
    problems = [meta["problem"]] if meta.get("problem") else []
    try:
        mammo = read_mammogram(path, spacing, key)
    except MammogramError as exc:
        row.update(status="excluded", problem="; ".join([exc.problem, *problems]))
        return row, None
    h = mammo.header
    laterality = h.laterality or meta.get("laterality", "")
    if h.laterality and meta.get("laterality") and meta["laterality"] != h.laterality:
        problems.append(f"laterality {meta['laterality']} in the source's metadata but "
                        f"{h.laterality} in the DICOM header")
    if expected_spacing_mm:
        worst = max(abs(s / expected_spacing_mm - 1) for s in h.src_spacing_mm)
        if worst > 0.02:
            problems.append(
                f"{h.spacing_source} {h.src_spacing_mm[0]:.5g}/{h.src_spacing_mm[1]:.5g} mm "
                f"differs from the source's nominal {expected_spacing_mm:g} mm"
            )
    if min(h.shape) < MIN_SIDE_PX:
        problems.append(f"image too small: {h.shape[0]} x {h.shape[1]} pixels at "
                        f"{h.target_spacing_mm:g} mm (under {MIN_SIDE_PX} on a side)")
    row.update(
        patient_id=meta.get("patient_id") or h.patient_key, laterality=laterality,
        view=h.view or meta.get("view", ""),
        presentation_intent=h.presentation_intent, photometric=h.photometric,
        bits_stored=h.bits_stored, spacing_source=h.spacing_source,
        src_spacing_mm=f"{h.src_spacing_mm[0]:.5g}/{h.src_spacing_mm[1]:.5g}",
        src_rows=h.src_rows, src_cols=h.src_cols, rows=h.shape[0], cols=h.shape[1],
        flipped=h.flipped, transfer_syntax=h.transfer_syntax, n_mcs=len(xs),
    )
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
            # The estimated mask may miss the last pixels of the thin skin line, where MCs
            # occur too: an annotation counts as inside within SKIN_TOLERANCE_MM of it.
            r = int(np.ceil(SKIN_TOLERANCE_MM / h.target_spacing_mm))
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            mask = cv2.dilate(breast_mask(mammo.image).astype(np.uint8), disc).astype(bool)
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
                     pseudonym_key="mcdetect", on_bad_image="fail", workers=1, log=print,
                     metadata: pd.DataFrame | None = None, expected_spacing_mm=None):
    """Check every source file; returns (validation table, excluded table).

    ``paths`` are the files to read, ``sources`` their names relative to the dataset folder (the
    names the annotation CSV uses), in the same order. ``metadata`` (optional, by ``file``):
    patient_id / laterality / view used where the header has none (a laterality that disagrees
    with the header's is a problem), and import ``problem``s of the file.
    """
    if on_bad_image not in ("fail", "skip"):
        raise DatasetError(f"on_bad_image must be 'fail' or 'skip', not {on_bad_image!r}")
    if len(paths) != len(sources):
        raise DatasetError(f"{len(paths)} paths for {len(sources)} source names")
    path_of = dict(zip(sources, map(str, paths), strict=True))
    by_file = {f: g for f, g in annotations.groupby("file")}
    meta_of = {}
    if metadata is not None:
        meta_of = {str(r["file"]): {k: str(v) for k, v in r.items()}
                   for r in metadata.fillna("").to_dict("records")}
    jobs = []
    for src in sources:
        g = by_file.get(src)
        xs = g["x"].to_numpy(float) if g is not None else np.zeros(0)
        ys = g["y"].to_numpy(float) if g is not None else np.zeros(0)
        jobs.append((path_of[src], src, xs, ys, spacing_mm, pseudonym_key, meta_of.get(src),
                     expected_spacing_mm))
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
    bad = raise_or_exclude(table.assign(path=table["source"].map(path_of)), on_bad_image)
    return table, bad[["image_id", "source", "problem"]]


PRIVATE_COLUMNS = ["image_id", "patient_id", "source", "status", "problem"]


def split_private(table: pd.DataFrame, paths=()):
    """The validation table in two: the private map of pseudonyms to source files (image id,
    patient pseudonym, source file, status, problem, and the path as read), and the shareable
    table without any file name: no ``source`` column, and every source name or path quoted in a
    problem (a duplicate's original, an error message) replaced by that file's image id
    (``mcdetect.privacy``)."""
    from mcdetect.privacy import replacements, scrub

    private = table.reindex(columns=PRIVATE_COLUMNS)
    private["path"] = [str(p) for p in (list(paths) or table["source"])]
    names = replacements(private)
    public = table.drop(columns=["source"]).assign(
        problem=table["problem"].fillna("").map(lambda problem: scrub(problem, names)))
    return private, public


def validate_sources(dicoms, sources, annotations_csv, out: dict, *, spacing_mm: float,
                     pseudonym_key: str, on_bad_image: str, workers: int = 1, metadata_tsv=None,
                     expected_spacing_mm: float | None = None, log) -> pd.DataFrame:
    """Rule validate: check every source file (``dicoms``, named ``sources`` relative to their
    dataset folder) and write the private map of sources (``out["sources"]``, outside results/)
    and the shareable validation and exclusion tables (``out["validation"]``,
    ``out["excluded"]``). Excluded files are named in the log only. Returns the full table."""
    from mcdetect.data.sources import read_annotations, read_metadata

    annotations = read_annotations(annotations_csv, known_files=sources)
    table, excluded = validate_dataset(
        dicoms, sources, annotations, spacing_mm=spacing_mm, pseudonym_key=pseudonym_key,
        on_bad_image=on_bad_image, workers=workers, log=log.info,
        metadata=read_metadata(metadata_tsv) if metadata_tsv else None,
        expected_spacing_mm=expected_spacing_mm,
    )
    private, public = split_private(table, dicoms)
    private.to_csv(out["sources"], sep="\t", index=False)
    public.to_csv(out["validation"], sep="\t", index=False)
    public.loc[public["status"] != "ok", ["image_id", "problem"]].to_csv(
        out["excluded"], sep="\t", index=False)
    for source, problem in zip(excluded["source"], excluded["problem"], strict=True):
        log.warning("excluded %s: %s", source, problem)
    log.info("%d image(s) valid, %d excluded", len(table) - len(excluded), len(excluded))
    return table
