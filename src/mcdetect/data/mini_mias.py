"""mini-MIAS: 322 digitised-film mammograms and cluster *circles*, for evaluation only.

``Info.txt`` rows: ``ref tissue class [severity x y radius]``, e.g. ``mdb209 G CALC M 647 503 87``;
CALC rows give a cluster's centre and radius, not individual MCs, so the patch CNNs cannot be
trained on it (``mcdetect.data.layout.require_trainable``). The coordinates' origin is the
BOTTOM-left corner: row = 1023 - y, column = x, in pixels of 200 um. An image may have several rows
(several findings); a row of the chosen classes without coordinates is a problem of that image,
which cannot be scored per cluster without it.

Images: ``mdbNNN.pgm``, 1024 x 1024, 8-bit binary PGM (P5; P2 and 16-bit are read as well),
normalised by the PGM's maxval (its stored range), resampled from 0.2 mm to the study spacing and
mirrored to the canonical orientation (chest wall left), decided from the pixels as for a DICOM
without laterality. Other sizes are a problem of that image, since the bottom-left origin is only
known for 1024 rows. Patient: MIAS numbers the two breasts of a woman consecutively (mdb001 and
mdb002, ...), so the patient key is the pair, pseudonymised.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mcdetect.data.dicom import Mammogram, MammogramError, MammogramHeader, flip_from_image
from mcdetect.data.layout import image_id, pseudonym
from mcdetect.data.regions import REGION_COLUMNS, circle_region, regions_to_canonical
from mcdetect.data.sources import DatasetError, raise_or_exclude

__all__ = ["read_pgm", "read_info", "read_mias_image", "read_mini_mias", "MIAS_SPACING_MM",
           "MIAS_SIZE", "TRAINABLE"]

TRAINABLE = False  # cluster circles only: no individual MC points
MIAS_SPACING_MM = 0.2
MIAS_SIZE = 1024
_ROW = re.compile(r"^(mdb\d{3})\s+(\S+)\s+(\S+)(?:\s+(\S+))?(?:\s+(\S+))?(?:\s+(\S+))?"
                  r"(?:\s+(\S+))?", re.IGNORECASE)


def read_pgm(path) -> tuple[np.ndarray, int]:
    """(pixels, maxval) of a PGM file (P5 binary or P2 text, 8 or 16 bit)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MammogramError(path, f"cannot be read ({exc.strerror})") from None
    tokens, pos = [], 0
    while len(tokens) < 4:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if pos < len(data) and data[pos : pos + 1] == b"#":
            pos = data.find(b"\n", pos)
            pos = len(data) if pos < 0 else pos
            continue
        end = pos
        while end < len(data) and not data[end : end + 1].isspace():
            end += 1
        if end == pos:
            break
        tokens.append(data[pos:end])
        pos = end
    if len(tokens) < 4 or tokens[0] not in (b"P5", b"P2"):
        raise MammogramError(path, "not a PGM file (no P5/P2 header)")
    try:
        cols, rows, maxval = (int(t) for t in tokens[1:4])
    except ValueError:
        text = b" ".join(tokens).decode(errors="replace")
        raise MammogramError(path, f"malformed PGM header {text!r}") from None
    if cols < 1 or rows < 1 or not 0 < maxval < 65536:
        raise MammogramError(path, f"PGM header out of range: {cols} x {rows}, maxval {maxval}")
    if tokens[0] == b"P2":
        values = np.array(data[pos:].split(), dtype=np.int64)
        if values.size < rows * cols:
            raise MammogramError(path, f"truncated PGM: {values.size} of {rows * cols} values")
        pixels = values[: rows * cols].reshape(rows, cols).astype(np.uint16)
    else:
        dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")
        start = pos + 1  # one whitespace after maxval
        need = rows * cols * dtype.itemsize
        if len(data) - start < need:
            raise MammogramError(path, f"truncated PGM: {len(data) - start} of {need} pixel bytes")
        pixels = np.frombuffer(data, dtype=dtype, count=rows * cols, offset=start).reshape(rows,
                                                                                         cols)
    if pixels.max() > maxval:
        raise MammogramError(path, f"pixel values above the header's maxval {maxval}")
    return np.ascontiguousarray(pixels), maxval


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return np.nan


def read_info(path) -> pd.DataFrame:
    """Rows of Info.txt: ref, tissue, cls, severity, x, y, radius (NaN where absent)."""
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror})") from None
    rows = []
    for line in lines:
        m = _ROW.match(line.strip())
        if not m:
            continue
        ref, tissue, cls, severity, x, y, radius = m.groups()
        if severity is not None and _number(severity) == _number(severity):  # no severity given
            severity, x, y, radius = None, severity, x, y
        rows.append({"ref": ref.lower(), "tissue": tissue, "cls": cls.upper(),
                     "severity": severity or "", "x": _number(x), "y": _number(y),
                     "radius": _number(radius)})
    if not rows:
        raise DatasetError(f"{path}: no row of the form 'mdbNNN tissue class ...'")
    return pd.DataFrame(rows)


def read_mias_image(path, spacing_mm: float = 0.1, pseudonym_key: str = "mcdetect",
                    source_spacing_mm: float = MIAS_SPACING_MM) -> Mammogram:
    """A mini-MIAS PGM as a canonical Mammogram (same geometry as the DICOM reader's)."""
    pixels, maxval = read_pgm(path)
    number = re.search(r"(\d+)", Path(path).stem)
    pair = (int(number.group(1)) + 1) // 2 if number else Path(path).stem
    header = MammogramHeader(
        path=str(path), src_rows=pixels.shape[0], src_cols=pixels.shape[1],
        bits_stored=int(maxval).bit_length(), photometric="MONOCHROME2",
        src_spacing_mm=(source_spacing_mm, source_spacing_mm), spacing_source="nominal",
        target_spacing_mm=float(spacing_mm), laterality="", view="MLO",
        presentation_intent="FOR PRESENTATION", transfer_syntax="", flipped=False,
        patient_key=pseudonym(pseudonym_key, f"mias:{pair}", "pat"),
    )
    image = pixels.astype(np.float32) / np.float32(maxval)
    rows, cols = header.shape
    if (rows, cols) != image.shape:
        interp = cv2.INTER_AREA if rows < image.shape[0] else cv2.INTER_LINEAR
        image = cv2.resize(image, (cols, rows), interpolation=interp)
    flip = flip_from_image(image)
    if flip:
        image = np.ascontiguousarray(image[:, ::-1])
    return Mammogram(header=replace(header, flipped=flip), image=image)


def read_mini_mias(root, info="Info.txt", *, spacing_mm=0.1, pseudonym_key="mcdetect",
                   on_bad_image="fail", classes=("CALC",)):
    """Images of Info.txt and the circles of its ``classes`` rows, in canonical coordinates.

    Returns ``(images, regions, excluded)`` like ``cbis_ddsm.read_cbis_ddsm``; every image listed
    in Info.txt is an image (those without a row of ``classes`` have no region: negatives).
    """
    root = Path(root)
    info_path = Path(info) if Path(info).is_absolute() else root / info
    table = read_info(info_path)
    wanted = {c.upper() for c in classes}
    records, region_tables = [], []
    for ref, rows in table.groupby("ref", sort=True):
        path = root / f"{ref}.pgm"
        iid = image_id(pseudonym_key, path.name)
        record = {"image_id": iid, "source": path.name, "path": str(path), "status": "ok",
                  "problem": ""}
        try:
            mammo = read_mias_image(path, spacing_mm, pseudonym_key)
            h = mammo.header
            if (h.src_rows, h.src_cols) != (MIAS_SIZE, MIAS_SIZE):
                raise MammogramError(path, f"{h.src_rows} x {h.src_cols} pixels, mini-MIAS "
                                           f"images are {MIAS_SIZE} x {MIAS_SIZE}")
            found = rows[rows["cls"].isin(wanted)]
            unlocated = found[found[["x", "y", "radius"]].isna().any(axis=1)]
            if len(unlocated):
                raise MammogramError(path, f"{info_path.name}: {len(unlocated)} "
                                           f"{'/'.join(sorted(wanted))} row(s) without x, y, "
                                           f"radius")
            src = pd.DataFrame(
                [circle_region(r["x"], (h.src_rows - 1) - r["y"], r["radius"],
                               f"{r['cls']} {r['severity']}".strip())
                 for _, r in found.iterrows()], columns=REGION_COLUMNS[1:])
            src.insert(0, "region_id", np.arange(len(src)))
            canon = regions_to_canonical(src, h, iid)
            canon["severity"] = list(found["severity"])
            region_tables.append(canon)
            record.update(patient_id=h.patient_key, laterality="", view=h.view,
                          photometric=h.photometric, spacing_source=h.spacing_source,
                          src_rows=h.src_rows, src_cols=h.src_cols, rows=h.shape[0],
                          cols=h.shape[1], flipped=h.flipped, n_regions=len(canon),
                          classes=",".join(sorted(set(rows["cls"]))))
        except MammogramError as exc:
            record.update(status="excluded", problem=exc.problem)
        except Exception as exc:  # never lose the file's name
            record.update(status="excluded",
                          problem=f"unexpected error ({type(exc).__name__}: {exc})")
        records.append(record)
    images = pd.DataFrame(records)
    excluded = raise_or_exclude(images, on_bad_image)
    ok = images[images["status"] == "ok"].drop(columns=["status", "problem"])
    columns = ["image_id", *REGION_COLUMNS, "severity"]
    regions = (pd.concat(region_tables, ignore_index=True)[columns] if region_tables
               else pd.DataFrame(columns=columns))
    return ok.reset_index(drop=True), regions, excluded[["image_id", "source", "path", "problem"]]
