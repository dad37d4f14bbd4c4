"""Dataset stage, CBIS-DDSM: full mammograms and calcification *regions* (ROI masks), for evaluation
only.

CBIS-DDSM outlines each calcification finding with a mask (a cluster envelope), not individual MCs,
so the patch CNNs cannot be trained on it (``mcdetect.data.layout.require_trainable``); the regions
returned here let a whole-image detector be scored per cluster.

Layout as downloaded from TCIA (the folder names do not match the CSV's UID paths)::

    <root>/Calc-Training_P_00005_RIGHT_CC/<date>-DDSM-<n>/1.000000-full mammogram images-<n>/1-1.dcm
    <root>/Calc-Training_P_00005_RIGHT_CC_1/<date>-DDSM-<n>/<series>/1-1.dcm (+ 1-2.dcm)

and ``calc_case_description_{train,test}_set.csv`` with the columns patient_id, left or right
breast, image view, abnormality id, abnormality type, calc type, calc distribution, pathology,
image file path, cropped image file path, ROI mask file path. Files are found from the first
component of each CSV path (the case folder), or from the path itself when it exists.

Mask or crop? The release swaps them (``1-1.dcm`` is sometimes the mask, sometimes the crop), so
file names are not trusted: a mask is a *binary* image (at most two values) about the size of its
full mammogram; a crop is a small greyscale image. A mask that differs a little in size from its
image (e.g. 4688x3088 vs 4624x3056) is resized to it (nearest neighbour) and the fact recorded; a
larger mismatch is a problem of that image. Spacing: CBIS-DDSM files carry no pixel spacing tag;
the nominal ``nominal_spacing_mm`` (42-50 um depending on the scanner, unverified; default 0.05) is
used only then.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mcdetect.data.dicom import MammogramError, read_header, read_mammogram, read_pixels
from mcdetect.data.regions import REGION_COLUMNS, mask_regions, regions_to_canonical
from mcdetect.data.sources import READER_SKIP_HINT, DatasetError, raise_or_exclude
from mcdetect.ids import image_id, pseudonym

__all__ = ["read_case_table", "classify_roi_files", "read_cbis_ddsm", "NOMINAL_SPACING_MM",
           "TRAINABLE"]

TRAINABLE = False  # regions only: no individual MC points
NOMINAL_SPACING_MM = 0.05
MASK_SIZE_TOLERANCE = 0.05  # relative size difference of mask and image that is resized away
MIN_MASK_AREA_FRACTION = 0.5  # a mask covers about its image; a crop much less


def read_case_table(csv_paths) -> pd.DataFrame:
    """The case-description CSV(s), column names normalised (lower case, '_' -> ' ')."""
    tables = []
    for path in [csv_paths] if isinstance(csv_paths, str | Path) else csv_paths:
        path = Path(path)
        try:
            t = pd.read_csv(path, dtype=str, keep_default_na=False)
        except Exception as exc:
            raise DatasetError(f"{path}: not a readable CSV ({exc})") from exc
        t.columns = [str(c).strip().lower().replace("_", " ") for c in t.columns]
        need = ["patient id", "image file path", "roi mask file path"]
        missing = [c for c in need if c not in t.columns]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
        t["csv"] = str(path)
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)
    for col in ("left or right breast", "image view", "abnormality id", "abnormality type",
                "pathology", "cropped image file path"):
        if col not in table.columns:
            table[col] = ""
    for col in table.columns:
        table[col] = table[col].astype(str).str.strip()
    return table


def _case_folder(path_text: str) -> str:
    return path_text.replace("\\", "/").strip("/").split("/")[0]


def _candidates(root: Path, *path_texts) -> list[Path]:
    """DICOM files a CSV path may refer to: the path itself, else every .dcm of its case folder."""
    found = []
    for text in path_texts:
        if not text:
            continue
        literal = root / text.strip().replace("\\", "/")
        if literal.is_file():
            found.append(literal)
        folder = root / _case_folder(text)
        if folder.is_dir():
            found.extend(sorted(folder.rglob("*.dcm")))
    return list(dict.fromkeys(found))


def classify_roi_files(files, full_shape) -> tuple[Path | None, np.ndarray | None, list[str]]:
    """Pick the ROI mask among ``files`` by content: binary and about the full image's size.

    Returns (mask path, mask array, notes); the notes say what the other files were taken for.
    """
    full_area = float(full_shape[0] * full_shape[1])
    best, notes = None, []
    for f in files:
        px = read_pixels(f)
        values = np.unique(px[:: max(1, px.shape[0] // 512), :: max(1, px.shape[1] // 512)])
        binary = len(values) <= 2 and len(np.unique(px)) <= 2
        fraction = px.size / full_area
        if binary and fraction >= MIN_MASK_AREA_FRACTION:
            if best is None or px.size > best[1].size:
                best = (f, px)
        elif binary:
            notes.append(f"{f.name}: binary but {px.shape[0]} x {px.shape[1]}, far smaller than "
                         f"the image: not taken for its mask")
        else:
            notes.append(f"{f.name}: greyscale {px.shape[0]} x {px.shape[1]}: a cropped image")
    if best is None:
        return None, None, notes
    return best[0], best[1], notes


def _fit_mask(mask: np.ndarray, shape, mask_path) -> tuple[np.ndarray, str]:
    if mask.shape == tuple(shape):
        return mask, ""
    diff = max(abs(mask.shape[0] / shape[0] - 1), abs(mask.shape[1] / shape[1] - 1))
    if diff > MASK_SIZE_TOLERANCE:
        raise MammogramError(mask_path, f"mask {mask.shape[0]} x {mask.shape[1]} does not match "
                                        f"its image {shape[0]} x {shape[1]}")
    resized = cv2.resize((mask > 0).astype(np.uint8), (shape[1], shape[0]),
                         interpolation=cv2.INTER_NEAREST)
    note = (f"{Path(mask_path).name}: mask {mask.shape[0]} x {mask.shape[1]} resized to its "
            f"image's {shape[0]} x {shape[1]}")
    return resized, note


def _one_image(root, full_text, rows, spacing_mm, nominal_spacing_mm, pseudonym_key):
    """Image record and regions (canonical) of one full mammogram and its findings."""
    full = _candidates(root, full_text)
    record = {"source": full_text, "path": str(root / _case_folder(full_text)), "notes": ""}
    if not full:
        raise MammogramError(record["path"], "full mammogram not found")
    if len(full) > 1:  # prefer the series named so, else the largest image
        named = [f for f in full if "full" in f.parent.name.lower()]
        full = named if len(named) == 1 else sorted(
            full, key=lambda f: -np.prod(read_header(f, default_spacing_mm=1.0).shape))
    path = full[0]
    record["path"] = str(path)
    mammo = read_mammogram(path, spacing_mm, pseudonym_key, default_spacing_mm=nominal_spacing_mm)
    h = mammo.header
    notes, tables = [], []
    for _, r in rows.iterrows():
        files = _candidates(root, r["roi mask file path"], r["cropped image file path"])
        files = [f for f in files if f != path]
        where = root / _case_folder(r["roi mask file path"])
        if not files:
            raise MammogramError(where, f"no ROI file for abnormality {r['abnormality id']}")
        mask_path, mask, found = classify_roi_files(files, (h.src_rows, h.src_cols))
        notes += found
        if mask is None:
            raise MammogramError(where, f"no binary ROI mask of about the image's size among "
                                        f"{', '.join(f.name for f in files)}")
        mask, note = _fit_mask(mask, (h.src_rows, h.src_cols), mask_path)
        notes += [note] if note else []
        regions = mask_regions(mask, f"{r['abnormality type'] or 'calcification'} "
                                     f"{r['abnormality id']}".strip())
        if not regions:
            raise MammogramError(mask_path, "empty ROI mask")
        src = pd.DataFrame(regions)
        src.insert(0, "region_id", 0)
        tables.append((src, r))
    iid = image_id(pseudonym_key, full_text)
    out = []
    for src, r in tables:
        canon = regions_to_canonical(src, h, iid)
        canon["abnormality_id"] = r["abnormality id"]
        canon["pathology"] = r["pathology"]
        out.append(canon)
    regions = pd.concat(out, ignore_index=True)
    regions["region_id"] = np.arange(len(regions))
    lat = rows["left or right breast"].iloc[0].upper()[:1]
    record.update(
        image_id=iid, status="ok", problem="",
        patient_id=pseudonym(pseudonym_key, f"cbis:{rows['patient id'].iloc[0]}", "pat"),
        laterality=h.laterality or (lat if lat in ("L", "R") else ""),
        view=h.view or rows["image view"].iloc[0], photometric=h.photometric,
        spacing_source=h.spacing_source, src_rows=h.src_rows, src_cols=h.src_cols,
        rows=h.shape[0], cols=h.shape[1], flipped=h.flipped, n_regions=len(regions),
        notes="; ".join(notes),
    )
    return record, regions


def read_cbis_ddsm(root, csv_paths, *, spacing_mm=0.1, nominal_spacing_mm=NOMINAL_SPACING_MM,
                   pseudonym_key="mcdetect", on_bad_image="fail", types=("calcification",)):
    """Images and calcification regions of CBIS-DDSM, in canonical coordinates.

    Returns ``(images, regions, excluded)``: one row per full mammogram (pseudonymous ids,
    canonical size, orientation, notes on swapped/resized masks), the regions (see
    ``mcdetect.data.regions``, plus abnormality_id and pathology) and the excluded images with
    their problem (``on_bad_image='skip'``; 'fail' raises one error listing every bad file).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: CBIS-DDSM image folder not found")
    table = read_case_table(csv_paths)
    if types:
        keep = table["abnormality type"].str.lower().isin([t.lower() for t in types])
        table = table[keep | (table["abnormality type"] == "")]
    records, region_tables = [], []
    for full_text, rows in table.groupby("image file path", sort=True):
        try:
            record, regions = _one_image(root, full_text, rows, spacing_mm, nominal_spacing_mm,
                                         pseudonym_key)
        except MammogramError as exc:
            record = {"image_id": image_id(pseudonym_key, full_text), "source": full_text,
                      "path": exc.path, "status": "excluded", "problem": exc.problem}
            regions = None
        except Exception as exc:  # never lose the file's name
            record = {"image_id": image_id(pseudonym_key, full_text), "source": full_text,
                      "path": str(root / _case_folder(full_text)), "status": "excluded",
                      "problem": f"unexpected error ({type(exc).__name__}: {exc})"}
            regions = None
        records.append(record)
        if regions is not None:
            region_tables.append(regions)
    images = pd.DataFrame(records)
    excluded = raise_or_exclude(images, on_bad_image, skip_hint=READER_SKIP_HINT)
    ok = images[images["status"] == "ok"].drop(columns=["status", "problem"])
    columns = ["image_id", *REGION_COLUMNS, "abnormality_id", "pathology"]
    regions = (pd.concat(region_tables, ignore_index=True)[columns] if region_tables
               else pd.DataFrame(columns=columns))
    return ok.reset_index(drop=True), regions, excluded[["image_id", "source", "path", "problem"]]
