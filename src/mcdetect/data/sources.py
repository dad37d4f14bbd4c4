"""Data sources: where the DICOM files and the MC annotations of a dataset are.

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

The synthetic source (``mcdetect.data.synthetic``) writes exactly this layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mcdetect.data.layout import LayoutError

__all__ = ["DatasetError", "read_annotations", "ANNOTATION_COLUMNS"]

ANNOTATION_COLUMNS = ["file", "x", "y", "diameter_mm", "cluster_id"]


class DatasetError(LayoutError):
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
