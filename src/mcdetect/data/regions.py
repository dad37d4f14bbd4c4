"""Dataset stage: region annotations, cluster outlines and other areas, as opposed to individual MC
centres.

INbreast's 'Calcifications'/'Cluster' polygons, CBIS-DDSM's calcification masks and mini-MIAS's
circles all become rows of one table, so that a whole-image detector can later be scored at the
cluster level (a cluster is found when a detection falls inside its region).

Columns (``REGION_COLUMNS``): ``file`` (or ``image_id`` once in canonical coordinates),
``region_id`` (0, 1, ... within the image), ``label`` (the source's name for it), ``shape``
(``polygon`` | ``circle``), ``cx, cy`` (centre: the polygon's area centroid, the circle's centre),
``radius`` (circles; NaN for polygons), ``x0, y0, x1, y1`` (bounding box) and ``points`` (polygon
vertices ``"x y;x y;..."``, empty for circles). Coordinates follow the study's convention:
x = column, y = row, the centre of the top-left pixel at (0, 0).
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

__all__ = [
    "REGION_COLUMNS",
    "polygon_region",
    "circle_region",
    "mask_regions",
    "regions_table",
    "regions_to_canonical",
    "format_points",
    "parse_points",
    "inside_region",
]

REGION_COLUMNS = ["region_id", "label", "shape", "cx", "cy", "radius", "x0", "y0", "x1", "y1",
                  "points"]


def format_points(xs, ys) -> str:
    return ";".join(f"{x:.2f} {y:.2f}" for x, y in zip(xs, ys, strict=True))


def parse_points(text) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(text, str) or not text.strip():
        return np.zeros(0), np.zeros(0)
    pts = np.array([[float(v) for v in p.split()] for p in text.split(";")], dtype=float)
    return pts[:, 0], pts[:, 1]


def _centroid(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
    """Area centroid of a polygon (vertex mean when degenerate)."""
    if len(xs) >= 3:
        x1, y1 = np.roll(xs, -1), np.roll(ys, -1)
        cross = xs * y1 - x1 * ys
        area = cross.sum() / 2
        if abs(area) > 1e-9:
            return (float(((xs + x1) * cross).sum() / (6 * area)),
                    float(((ys + y1) * cross).sum() / (6 * area)))
    return float(np.mean(xs)), float(np.mean(ys))


def polygon_region(xs, ys, label: str) -> dict:
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    cx, cy = _centroid(xs, ys)
    return {"label": label, "shape": "polygon", "cx": cx, "cy": cy, "radius": np.nan,
            "x0": xs.min(), "y0": ys.min(), "x1": xs.max(), "y1": ys.max(),
            "points": format_points(xs, ys)}


def circle_region(cx: float, cy: float, radius: float, label: str) -> dict:
    return {"label": label, "shape": "circle", "cx": float(cx), "cy": float(cy),
            "radius": float(radius), "x0": cx - radius, "y0": cy - radius, "x1": cx + radius,
            "y1": cy + radius, "points": ""}


def mask_regions(mask: np.ndarray, label: str, min_area_px: int = 4) -> list[dict]:
    """One polygon per connected component (outer contour) of a binary mask."""
    u8 = (np.asarray(mask) > 0).astype(np.uint8)
    contours, _ = cv2.findContours(u8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        if cv2.contourArea(c) < min_area_px and len(contours) > 1:
            continue
        c = cv2.approxPolyDP(c, 1.0, True).reshape(-1, 2).astype(float)
        out.append(polygon_region(c[:, 0], c[:, 1], label))
    return out


def regions_table(rows: list[dict], key: str = "file") -> pd.DataFrame:
    """A region table from dicts that carry ``key`` and the fields of ``polygon_region`` /
    ``circle_region``; region ids are numbered within each image."""
    table = pd.DataFrame(rows, columns=[key, *REGION_COLUMNS[1:]])
    table.insert(1, "region_id", table.groupby(key).cumcount() if len(table) else [])
    return table.reset_index(drop=True)


def regions_to_canonical(regions: pd.DataFrame, header, image_id: str) -> pd.DataFrame:
    """Map one image's regions (source pixel coordinates) through ``header.to_canonical``."""
    sr, sc = header.shape[0] / header.src_rows, header.shape[1] / header.src_cols
    rows = []
    for _, r in regions.iterrows():
        if r["shape"] == "polygon":
            xs, ys = parse_points(r["points"])
            cx, cy = header.to_canonical(xs, ys)
            row = polygon_region(cx, cy, r["label"])
        else:
            (cx,), (cy,) = header.to_canonical([r["cx"]], [r["cy"]])
            row = circle_region(cx, cy, float(r["radius"]) * (sr + sc) / 2, r["label"])
        row["region_id"] = int(r["region_id"])
        rows.append(row)
    out = pd.DataFrame(rows, columns=REGION_COLUMNS)
    out.insert(0, "image_id", image_id)
    return out


def inside_region(region, xs, ys) -> np.ndarray:
    """Which points (x, y) lie inside one region (a row of a region table)."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    if region["shape"] == "circle":
        return (xs - region["cx"]) ** 2 + (ys - region["cy"]) ** 2 <= region["radius"] ** 2
    px, py = parse_points(region["points"])
    inside = np.zeros(xs.shape, bool)
    j = len(px) - 1
    for i in range(len(px)):  # even-odd ray casting
        cross = (py[i] > ys) != (py[j] > ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (px[j] - px[i]) * (ys - py[i]) / (py[j] - py[i]) + px[i]
        inside ^= cross & (xs < x_at)
        j = i
    return inside
