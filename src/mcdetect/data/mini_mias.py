"""Dataset stage, mini-MIAS: 322 digitised-film mammograms and cluster *circles*, for evaluation
only.

``Info.txt`` rows: ``ref tissue class [severity x y radius]``, e.g. ``mdb209 G CALC M 647 503 87``;
CALC rows give a cluster's centre and radius, not individual MCs, so the patch CNNs cannot be
trained on it (``mcdetect.data.layout.require_trainable``). The coordinates' origin is the
BOTTOM-left corner: row = 1023 - y, column = x, in pixels of 200 um. An image may have several rows
(several findings).

The published release has quirks, which the reader reports and never fails on:

* rows of the chosen classes without coordinates (mdb216, mdb233 and mdb245 among the CALC rows):
  the image is kept with an *unlocalised* finding (``n_unlocalised``), usable for image-level
  analyses, with no region;
* circles whose centre lies outside the breast (mdb212): kept, with a warning naming the image;
* breasts that fill the frame, where the pixels do not show the chest wall's side: the
  orientation comes from the release's numbering (even numbers left breasts, odd numbers right
  breasts, MIAS numbering a woman's two breasts consecutively; a right breast has its chest wall
  on the right of the film and is mirrored), and a disagreement with the pixels' brightness
  heuristic is a warning.

Warnings are in the images table (``warnings``) and counted by ``reader_summary``.

Images: ``mdbNNN.pgm``, 1024 x 1024, 8-bit binary PGM (P5; P2 and 16-bit are read as well),
normalised by the PGM's maxval (its stored range), resampled from 0.2 mm to the study spacing and
mirrored to the canonical orientation (chest wall left). Other sizes are a problem of that image
(the bottom-left origin is only known for 1024 rows). Patient: the pair of consecutive numbers
(mdb001 and mdb002, ...), pseudonymised.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mcdetect.data.dicom import Mammogram, MammogramError, MammogramHeader, flip_from_image
from mcdetect.data.regions import REGION_COLUMNS, circle_region, regions_to_canonical
from mcdetect.data.sources import READER_SKIP_HINT, DatasetError, raise_or_exclude
from mcdetect.ids import image_id, pseudonym
from mcdetect.preprocessing.mask import breast_mask

__all__ = ["read_pgm", "read_info", "read_mias_image", "read_mini_mias", "reader_summary",
           "laterality_of", "MIAS_SPACING_MM", "MIAS_SIZE", "TRAINABLE"]

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


def laterality_of(path) -> str:
    """The breast of a mini-MIAS file by the release's numbering: even numbers left ("L"), odd
    numbers right ("R"); "" for a name without a number."""
    number = re.search(r"(\d+)", Path(path).stem)
    return "" if number is None else ("L" if int(number.group(1)) % 2 == 0 else "R")


def read_mias_image(path, spacing_mm: float = 0.1, pseudonym_key: str = "mcdetect",
                    source_spacing_mm: float = MIAS_SPACING_MM) -> Mammogram:
    """A mini-MIAS PGM as a canonical Mammogram (same geometry as the DICOM reader's): mirrored
    when the numbering says a right breast (the pixels decide only for a name without a
    number)."""
    pixels, maxval = read_pgm(path)
    number = re.search(r"(\d+)", Path(path).stem)
    pair = (int(number.group(1)) + 1) // 2 if number else Path(path).stem
    laterality = laterality_of(path)
    header = MammogramHeader(
        path=str(path), src_rows=pixels.shape[0], src_cols=pixels.shape[1],
        bits_stored=int(maxval).bit_length(), photometric="MONOCHROME2",
        src_spacing_mm=(source_spacing_mm, source_spacing_mm), spacing_source="nominal",
        target_spacing_mm=float(spacing_mm), laterality=laterality, view="MLO",
        presentation_intent="FOR PRESENTATION", transfer_syntax="", flipped=False,
        patient_key=pseudonym(pseudonym_key, f"mias:{pair}", "pat"),
    )
    image = pixels.astype(np.float32) / np.float32(maxval)
    rows, cols = header.shape
    if (rows, cols) != image.shape:
        interp = cv2.INTER_AREA if rows < image.shape[0] else cv2.INTER_LINEAR
        image = cv2.resize(image, (cols, rows), interpolation=interp)
    flip = laterality == "R" if laterality else flip_from_image(image)
    if flip:
        image = np.ascontiguousarray(image[:, ::-1])
    return Mammogram(header=replace(header, flipped=flip), image=image)


def read_mini_mias(root, info="Info.txt", *, spacing_mm=0.1, pseudonym_key="mcdetect",
                   on_bad_image="fail", classes=("CALC",)):
    """Images of Info.txt and the circles of its ``classes`` rows, in canonical coordinates.

    Returns ``(images, regions, excluded)`` like ``cbis_ddsm.read_cbis_ddsm``; every image listed
    in Info.txt is an image (those without a row of ``classes`` have no region: negatives). The
    release's quirks are warnings (module docstring), not problems: with the defaults every image
    of the published release is read. A problem (an unreadable file, another size) excludes
    the image with ``on_bad_image="skip"`` and raises with ``"fail"``.
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
            warnings = []
            if h.laterality and flip_from_image(mammo.image):
                side = {"L": "left", "R": "right"}[h.laterality]
                warnings.append(f"the numbering says a {side} breast, the pixels' brightness "
                                f"the other side; the numbering is followed")
            found = rows[rows["cls"].isin(wanted)]
            unlocated = found[found[["x", "y", "radius"]].isna().any(axis=1)]
            located = found.drop(index=unlocated.index)
            src = pd.DataFrame(
                [circle_region(r["x"], (h.src_rows - 1) - r["y"], r["radius"],
                               f"{r['cls']} {r['severity']}".strip())
                 for _, r in located.iterrows()], columns=REGION_COLUMNS[1:])
            src.insert(0, "region_id", np.arange(len(src)))
            canon = regions_to_canonical(src, h, iid)
            canon["severity"] = list(located["severity"])
            if len(canon):
                mask = breast_mask(mammo.image)
                for _, reg in canon.iterrows():
                    cx = int(np.clip(np.rint(reg["cx"]), 0, h.shape[1] - 1))
                    cy = int(np.clip(np.rint(reg["cy"]), 0, h.shape[0] - 1))
                    if not mask[cy, cx]:
                        warnings.append(f"{reg['label']} circle {reg['region_id']} centred "
                                        f"outside the breast")
            region_tables.append(canon)
            record.update(patient_id=h.patient_key, laterality=h.laterality, view=h.view,
                          photometric=h.photometric, spacing_source=h.spacing_source,
                          src_rows=h.src_rows, src_cols=h.src_cols, rows=h.shape[0],
                          cols=h.shape[1], flipped=h.flipped, n_regions=len(canon),
                          n_unlocalised=len(unlocated),
                          classes=",".join(sorted(set(rows["cls"]))),
                          warnings="; ".join(warnings))
        except MammogramError as exc:
            record.update(status="excluded", problem=exc.problem)
        except Exception as exc:  # never lose the file's name
            record.update(status="excluded",
                          problem=f"unexpected error ({type(exc).__name__}: {exc})")
        records.append(record)
    images = pd.DataFrame(records)
    excluded = raise_or_exclude(images, on_bad_image, skip_hint=READER_SKIP_HINT)
    ok = images[images["status"] == "ok"].drop(columns=["status", "problem"])
    columns = ["image_id", *REGION_COLUMNS, "severity"]
    regions = (pd.concat(region_tables, ignore_index=True)[columns] if region_tables
               else pd.DataFrame(columns=columns))
    return ok.reset_index(drop=True), regions, excluded[["image_id", "source", "path", "problem"]]


def reader_summary(images: pd.DataFrame, regions: pd.DataFrame, excluded: pd.DataFrame) -> dict:
    """Counts of a mini-MIAS read: images, excluded, regions, unlocalised findings, and every
    warning by image id."""
    warned = images[images.get("warnings", pd.Series("", index=images.index)) != ""]
    return {
        "images": int(len(images)),
        "excluded": int(len(excluded)),
        "regions": int(len(regions)),
        "images_with_unlocalised_findings": int((images["n_unlocalised"] > 0).sum()),
        "unlocalised_findings": int(images["n_unlocalised"].sum()),
        "warnings": dict(zip(warned["image_id"], warned["warnings"], strict=True)),
    }
