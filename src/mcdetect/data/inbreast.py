"""Dataset stage: an INbreast release -> the study's generic layout (DICOM folder + CSV of MC
centres).

Release folder (``dataset.path``)::

    AllDICOMs/<FileName>_<patientHash>_MG_<L|R>_<CC|ML|...>_ANON.dcm
    AllXML/<FileName>.xml        OsiriX plist, one per annotated image
    INbreast.csv                 ';'-separated: Patient ID; Patient age; Laterality; View;
                                 Acquisition date; File Name; ACR; Bi-Rads

Annotations (``read_osirix_xml``): ``plist['Images'][i]['ROIs']``, each ROI a dict with ``Name``
and ``Point_px``, a list of strings ``"(x, y)"`` (x = column, y = row, source pixels):

* ``Calcification`` with 1 or 2 points is one individual MC, at the point / the mean of the two;
* ``Calcifications`` and ``Cluster`` polygons are cluster outlines, kept as regions (and used to
  give the MCs inside them a ``cluster_id``), never as MCs;
* everything else (Mass, Distortion, Asymmetry, 'Point 1', Calcification outlines with more than
  two points, ...) is skipped and counted by name.

Images without an XML are images without MCs. The DICOMs are read, like every source's, by
``mcdetect.data.dicom`` (0.07 mm resampled to the study spacing, right breasts mirrored); the MC
centres written here stay in source pixels, and ``manifest`` maps them with the same transform.

Patient: ``Patient ID`` of INbreast.csv where it holds one (the public release has 'removed'
there), else the patient hash of the file name, else the DICOM PatientID; always pseudonymised
with ``dataset.pseudonym_key`` before it is written. Laterality and view: INbreast.csv, else the
file name; a disagreement between the two is a problem of that image (``on_bad_image``).
"""

from __future__ import annotations

import json
import plistlib
import re
from collections import Counter
from pathlib import Path
from xml.parsers.expat import ExpatError

import numpy as np
import pandas as pd

from mcdetect.data.layout import INBREAST_SPACING_MM, inbreast_layout
from mcdetect.data.regions import inside_region, polygon_region, regions_table
from mcdetect.data.sources import ANNOTATION_COLUMNS, DatasetError
from mcdetect.ids import pseudonym

__all__ = ["import_release",
    "INBREAST_SPACING_MM",
    "read_osirix_xml",
    "read_inbreast_csv",
    "parse_name",
    "import_inbreast",
    "write_import",
    "METADATA_COLUMNS",
]

MC_NAMES = {"calcification"}
CLUSTER_NAMES = {"calcifications", "cluster"}
METADATA_COLUMNS = ["file", "patient_id", "laterality", "view", "problem"]
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_POINT = re.compile(rf"^\s*[\(\[{{]?\s*({_NUMBER})\s*,\s*({_NUMBER})\s*(?:,\s*{_NUMBER}\s*)?"
                    rf"[\)\]}}]?\s*$")
_FILE_NAME = re.compile(r"^(?P<key>[^_]+)_(?P<patient>[^_]+)_MG_(?P<lat>[LR])_(?P<view>[A-Za-z]+)",
                        re.IGNORECASE)
_NO_VALUE = {"", "removed", "nan", "none", "-", "n/a", "na"}


def parse_point(text, where: str) -> tuple[float, float]:
    """``"(x, y)"`` -> (x, y); x = column, y = row."""
    m = _POINT.match(str(text))
    if not m:
        raise DatasetError(f"{where}: Point_px entry {text!r} is not of the form '(x, y)'")
    return float(m.group(1)), float(m.group(2))


def read_osirix_xml(path) -> dict:
    """MCs, cluster outlines and skipped ROI names of one OsiriX plist.

    Returns ``{"mcs": [(x, y), ...], "clusters": [(xs, ys, name), ...], "skipped": Counter}``.
    Raises DatasetError naming the file when it is not a readable plist of that shape.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            plist = plistlib.load(f)
    except (plistlib.InvalidFileException, ExpatError, ValueError, TypeError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable OsiriX plist ({exc})") from exc
    images = plist.get("Images") if isinstance(plist, dict) else None
    if not isinstance(images, list):
        raise DatasetError(f"{path}: no 'Images' array (not an OsiriX ROI plist)")
    mcs, clusters, skipped = [], [], Counter()
    for i, image in enumerate(images):
        rois = image.get("ROIs", []) if isinstance(image, dict) else None
        if not isinstance(rois, list):
            raise DatasetError(f"{path}: Images[{i}] has no 'ROIs' array")
        for j, roi in enumerate(rois):
            where = f"{path}: Images[{i}].ROIs[{j}]"
            if not isinstance(roi, dict):
                raise DatasetError(f"{where} is not a dictionary")
            name = str(roi.get("Name", "") or "").strip()
            raw = roi.get("Point_px", []) or []
            if isinstance(raw, str):
                raw = [raw]
            pts = np.array([parse_point(t, where) for t in raw], dtype=float).reshape(-1, 2)
            key = name.lower()
            if key in MC_NAMES and 1 <= len(pts) <= 2:
                mcs.append((float(pts[:, 0].mean()), float(pts[:, 1].mean())))
            elif key in MC_NAMES:
                skipped[f"{name or 'Unnamed'} ({len(pts)} points)"] += 1
            elif key in CLUSTER_NAMES and len(pts) >= 3:
                clusters.append((pts[:, 0], pts[:, 1], name))
            elif key in CLUSTER_NAMES:
                skipped[f"{name} ({len(pts)} points)"] += 1
            else:
                skipped[name or "(no name)"] += 1
    return {"mcs": mcs, "clusters": clusters, "skipped": skipped}


def _clean(value) -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    text = text.strip()
    return text[:-2] if re.fullmatch(r"\d+\.0", text) else text


def read_inbreast_csv(path) -> pd.DataFrame:
    """INbreast.csv (';'-separated) -> columns key (File Name), patient, laterality, view."""
    path = Path(path)
    table = None
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            table = pd.read_csv(path, sep=";", dtype=str, encoding=encoding,
                                keep_default_na=False, skipinitialspace=True)
            break
        except UnicodeDecodeError:
            continue
        except Exception as exc:
            raise DatasetError(f"{path}: not a readable ';'-separated CSV ({exc})") from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    if "file name" not in table.columns:
        raise DatasetError(f"{path}: no 'File Name' column (columns: {', '.join(table.columns)}); "
                           f"INbreast.csv is ';'-separated")
    out = pd.DataFrame({
        "key": table["file name"].map(_clean),
        "patient": table.get("patient id", pd.Series("", index=table.index)).map(_clean),
        "laterality": table.get("laterality", pd.Series("", index=table.index)).map(_clean)
        .str.upper().str[:1],
        "view": table.get("view", pd.Series("", index=table.index)).map(_clean).str.upper(),
    })
    out = out[out["key"] != ""]
    dup = out["key"][out["key"].duplicated()]
    if len(dup):
        raise DatasetError(f"{path}: File Name {dup.iloc[0]} appears more than once")
    return out.reset_index(drop=True)


def parse_name(dicom_name: str) -> dict:
    """File-name fields of an INbreast DICOM: key (FileName), patient hash, laterality, view."""
    stem = Path(dicom_name).name
    m = _FILE_NAME.match(stem)
    if m:
        return {"key": m["key"], "patient": m["patient"], "laterality": m["lat"].upper(),
                "view": m["view"].upper()}
    return {"key": stem.split("_")[0].split(".")[0], "patient": "", "laterality": "", "view": ""}


def _cluster_of(mcs, clusters) -> list[int]:
    ids = np.full(len(mcs), -1, int)
    if not mcs:
        return list(ids)
    xs = np.array([m[0] for m in mcs])
    ys = np.array([m[1] for m in mcs])
    for k, (cx, cy, name) in enumerate(clusters):
        inside = inside_region(polygon_region(cx, cy, name), xs, ys)
        ids[(ids < 0) & inside] = k
    return list(ids)


def _image_facts(row, name: dict):
    """Patient, where it came from (csv, file_name, dicom), laterality, view and problems of one
    image, from its INbreast.csv row (None when it has none) and its parsed file name."""
    problems = []
    patient = row["patient"] if row is not None else ""
    if patient.lower() not in _NO_VALUE:
        source = "csv"
    elif name["patient"]:
        patient, source = name["patient"], "file_name"
    else:
        patient, source = "", "dicom"
    lat = row["laterality"] if row is not None and row["laterality"] in ("L", "R") else ""
    if lat and name["laterality"] and lat != name["laterality"]:
        problems.append(f"laterality {lat} in INbreast.csv but {name['laterality']} in the "
                        f"file name")
    lat = lat or name["laterality"]
    view = (row["view"] if row is not None else "") or name["view"]
    return patient, source, lat, view, problems


def _summary(dicom_files, mcs, meta, images_with_xml: int, cluster_count: int, skipped,
             patient_from, xml_without_dicom: list, csv_rows_without_dicom: int,
             images_in_csv: int) -> dict:
    """The counts an import found."""
    patients = meta["patient_id"].where(meta["patient_id"] != "", "file:" + meta["file"])
    return {
        "dataset": "inbreast",
        "images": len(dicom_files),
        "patients": int(patients.nunique()),
        "images_with_xml": images_with_xml,
        "images_without_xml": len(dicom_files) - images_with_xml,
        "images_with_mcs": int(mcs["file"].nunique()),
        "mcs": len(mcs),
        "mcs_in_cluster_outlines": int((mcs["cluster_id"] >= 0).sum()),
        "cluster_outlines": cluster_count,
        "skipped_rois": dict(sorted(skipped.items())),
        "patient_from": dict(sorted(patient_from.items())),
        "xml_without_dicom": xml_without_dicom,
        "csv_rows_without_dicom": int(csv_rows_without_dicom),
        "images_not_in_csv": int(len(dicom_files) - images_in_csv),
        "images_with_problems": int((meta["problem"] != "").sum()),
    }


def import_inbreast(root, dicom_files, pseudonym_key: str):
    """Convert the annotations of an INbreast release; the DICOMs are only named, not read.

    Returns ``(mcs, metadata, regions, summary)``: the MC centres in the generic layout (source
    pixels), per-file metadata (``METADATA_COLUMNS``: pseudonymous patient, laterality, view, and
    a problem that validate reports for that file), the cluster outlines (regions table, source
    pixels) and the counts found.
    """
    paths = inbreast_layout(root)
    csv = read_inbreast_csv(paths["csv"])
    by_key = csv.set_index("key")
    xml_of = {p.stem: p for p in sorted(Path(paths["xml_dir"]).glob("*.xml"))}
    xml_of.update({p.stem: p for p in sorted(Path(paths["xml_dir"]).glob("*.XML"))})
    mc_rows, meta_rows, region_rows = [], [], []
    skipped, patient_from = Counter(), Counter()
    used_xml, used_csv = set(), set()
    images_with_xml = cluster_count = 0
    for file in dicom_files:
        name = parse_name(file)
        key = name["key"]
        row = by_key.loc[key] if key in by_key.index else None
        if row is not None:
            used_csv.add(key)
        patient, source, lat, view, problems = _image_facts(row, name)
        patient_from[source] += 1
        xml = xml_of.get(key)
        if xml is not None:
            used_xml.add(key)
            images_with_xml += 1
            try:
                found = read_osirix_xml(xml)
            except DatasetError as exc:
                problems.append(str(exc))
                found = {"mcs": [], "clusters": [], "skipped": Counter()}
            skipped.update(found["skipped"])
            for (x, y), cid in zip(found["mcs"], _cluster_of(found["mcs"], found["clusters"]),
                                   strict=True):
                mc_rows.append({"file": file, "x": round(x, 3), "y": round(y, 3),
                                "diameter_mm": np.nan, "cluster_id": int(cid)})
            for xs, ys, label in found["clusters"]:
                region_rows.append({"file": file, **polygon_region(xs, ys, label)})
            cluster_count += len(found["clusters"])
        meta_rows.append({
            "file": file,
            "patient_id": pseudonym(pseudonym_key, f"inbreast:{patient}", "pat") if patient else "",
            "laterality": lat, "view": view, "problem": "; ".join(problems),
        })
    mcs = pd.DataFrame(mc_rows, columns=ANNOTATION_COLUMNS)
    meta = pd.DataFrame(meta_rows, columns=METADATA_COLUMNS)
    regions = regions_table(region_rows)
    summary = _summary(dicom_files, mcs, meta, images_with_xml, cluster_count, skipped,
                       patient_from, sorted(set(xml_of) - used_xml),
                       len(set(csv["key"]) - used_csv), len(used_csv))
    return mcs, meta, regions, summary


def write_import(out: dict, mcs, meta, regions, summary) -> None:
    """Write the import tables (paths in ``out``: mcs, metadata, regions, summary)."""
    mcs.to_csv(out["mcs"], index=False)
    meta.to_csv(out["metadata"], sep="\t", index=False)
    regions.to_csv(out["regions"], sep="\t", index=False)
    Path(out["summary"]).write_text(json.dumps(summary, indent=2) + "\n")


def import_release(path, sources, pseudonym_key: str, out: dict, log) -> dict:
    """Rule import_inbreast: convert the release's annotations and write them (``out``: mcs,
    metadata, regions, summary); every file with a problem is named in the log (``log``: a
    ``logging.Logger``), which stays outside results/. Returns the counts found."""
    mcs, meta, regions, summary = import_inbreast(path, sources, pseudonym_key)
    write_import(out, mcs, meta, regions, summary)
    for file, problem in zip(meta["file"], meta["problem"], strict=True):
        if problem:
            log.warning("%s: %s", file, problem)
    log.info("INbreast import: %s", {k: v for k, v in summary.items() if k != "xml_without_dicom"})
    if summary["xml_without_dicom"]:
        log.warning("XML without a DICOM (ignored): %s", ", ".join(summary["xml_without_dicom"]))
    return summary
