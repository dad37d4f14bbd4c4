"""Dataset stage: the data sources, where the DICOM files and the MC annotations of a dataset are.

Every source ends as the *generic* layout the rest of the study reads:

* a folder of DICOM files (any depth; ``pattern`` selects them, default ``**/*.dcm``);
* a CSV of individual MC centres with the columns

  ========== ========================================================================
  file        path of the DICOM file relative to the folder (``/`` separators)
  x, y        MC centre in *source* pixel coordinates: x = column, y = row, the
              centre of the top-left pixel is (0, 0)
  diameter_mm optional, MC diameter in mm
  cluster_id  optional, integer cluster label within the image (-1 or empty: isolated)
  ========== ========================================================================

  Other columns are ignored. Images with no row are images without MCs.

The synthetic source (``mcdetect.data.synthetic``) writes exactly this layout, and the INbreast
import (``mcdetect.data.inbreast``) converts the release's OsiriX plists to it, with a per-file
metadata table (``read_metadata``: pseudonymous patient, laterality, view, known problems).

Trainable sources (individual MC points): synthetic, generic, inbreast. CBIS-DDSM and mini-MIAS
carry regions only (``mcdetect.data.cbis_ddsm``, ``mcdetect.data.mini_mias``): evaluation at
cluster level; ``require_trainable`` rejects them with a clear error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mcdetect.data.layout import (
    EVALUATION_ONLY_SOURCES,
    TRAINABLE_SOURCES,
    require_trainable,
)
from mcdetect.errors import MCDetectError

__all__ = [
    "DatasetError",
    "read_annotations",
    "read_metadata",
    "ANNOTATION_COLUMNS",
    "TRAINABLE_SOURCES",
    "EVALUATION_ONLY_SOURCES",
    "require_trainable",
    "raise_or_exclude",
]

ANNOTATION_COLUMNS = ["file", "x", "y", "diameter_mm", "cluster_id"]


class DatasetError(MCDetectError):
    """A dataset-level problem (annotation table, configuration, failed validation)."""


def read_annotations(csv_path, known_files=None) -> pd.DataFrame:
    """Read and check an MC-centre CSV; returns the columns of ``ANNOTATION_COLUMNS``."""
    path = Path(csv_path)
    if not path.is_file():
        raise DatasetError(f"{path}: annotation CSV not found")
    try:
        table = pd.read_csv(path, dtype={"file": str})
    except Exception as exc:  # pandas raises several kinds for malformed text
        raise DatasetError(f"{path}: not a readable CSV ({exc})") from exc
    missing = [c for c in ("file", "x", "y") if c not in table.columns]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"expected file, x, y[, diameter_mm, cluster_id]"
        )
    for col in ("x", "y"):
        values = pd.to_numeric(table[col], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy())
        if bad.size:
            lines = ", ".join(str(i + 2) for i in bad[:5])
            raise DatasetError(f"{path}: column {col} is not a number on line(s) {lines}")
        table[col] = values.astype(float)
    if "diameter_mm" not in table:
        table["diameter_mm"] = np.nan
    table["diameter_mm"] = pd.to_numeric(table["diameter_mm"], errors="coerce")
    if "cluster_id" not in table:
        table["cluster_id"] = -1
    table["cluster_id"] = (
        pd.to_numeric(table["cluster_id"], errors="coerce").fillna(-1).astype(int)
    )
    if known_files is not None:
        unknown = sorted(set(table["file"]) - set(known_files))
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise DatasetError(
                f"{path}: {len(unknown)} annotated file(s) not among the DICOM files: {shown}"
            )
    return table[ANNOTATION_COLUMNS].reset_index(drop=True)


def read_metadata(path) -> pd.DataFrame:
    """Per-file metadata of a source (tab-separated: file, patient_id, laterality, view, problem);
    empty values mean "ask the DICOM header"."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable metadata table ({exc})") from exc
    if "file" not in table.columns:
        raise DatasetError(f"{path}: no 'file' column")
    for col in ("patient_id", "laterality", "view", "problem"):
        if col not in table.columns:
            table[col] = ""
    return table[["file", "patient_id", "laterality", "view", "problem"]]


SKIP_HINT = "set dataset.on_bad_image: skip to leave them out"  # the workflow's key
READER_SKIP_HINT = 'pass on_bad_image="skip" to leave them out'  # a reader function's argument


def raise_or_exclude(table: pd.DataFrame, on_bad_image: str, path_col: str = "path",
                     skip_hint: str = SKIP_HINT):
    """Apply ``on_bad_image`` to a per-file table with ``status`` and ``problem`` columns: 'fail'
    raises one DatasetError listing every bad file (by ``path_col``) with its problem and
    ``skip_hint`` (how to leave them out: the config key in the workflow, the argument in a
    reader); 'skip' returns the excluded rows. Either way, a table with no usable file raises."""
    if on_bad_image not in ("fail", "skip"):
        raise DatasetError(f"on_bad_image must be 'fail' or 'skip', not {on_bad_image!r}")
    bad = table[table["status"] != "ok"]
    if len(bad) and on_bad_image == "fail":
        lines = "\n".join(f"  {p}: {q}" for p, q in zip(bad[path_col], bad["problem"],
                                                          strict=True))
        raise DatasetError(
            f"{len(bad)} of {len(table)} image(s) failed validation "
            f"({skip_hint}):\n{lines}"
        )
    if len(table) == len(bad):
        raise DatasetError(f"no usable image: all {len(bad)} excluded")
    return bad.reset_index(drop=True)
