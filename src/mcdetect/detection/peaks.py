"""Detection stage: detections from a score map -- its local maxima inside the breast above a floor,
thinned by non-maximum suppression within a radius, each with its score, in canonical pixel
coordinates and in millimetres."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["local_maxima", "suppress", "detect"]


def local_maxima(score_map: np.ndarray, mask: np.ndarray | None = None,
                 floor: float = -np.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (x, y) and scores of the pixels that equal the maximum of their 3x3
    neighbourhood, lie inside ``mask`` and score above ``floor``; NaN (unscored) pixels are never
    maxima. On a plateau every pixel of it is a maximum; ``suppress`` keeps one."""
    from scipy.ndimage import maximum_filter

    s = np.asarray(score_map, dtype=np.float64)
    filled = np.where(np.isnan(s), -np.inf, s)
    peak = (filled == maximum_filter(filled, size=3, mode="nearest")) & (filled > floor)
    if mask is not None:
        peak &= np.asarray(mask, bool)
    ys, xs = np.nonzero(peak)
    return xs, ys, filled[ys, xs]


def suppress(xy: np.ndarray, scores: np.ndarray, radius: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the points kept, by descending score (ties: the
    earlier point first); a point within ``radius`` of a kept one is dropped."""
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    if radius <= 0 or len(xy) < 2:
        return order
    tree = cKDTree(xy)
    dropped = np.zeros(len(xy), bool)
    keep = []
    for i in order:
        if dropped[i]:
            continue
        keep.append(i)
        dropped[tree.query_ball_point(xy[i], radius)] = True
    return np.asarray(keep, dtype=np.int64)


def detect(score_map: np.ndarray, mask: np.ndarray | None, *, floor: float, nms_mm: float,
           spacing_mm: float) -> pd.DataFrame:
    """Detections of one image: local maxima of ``score_map`` above ``floor`` inside ``mask``,
    suppressed within ``nms_mm``; columns x, y (canonical pixels), x_mm, y_mm, score, by
    descending score."""
    xs, ys, scores = local_maxima(score_map, mask, floor)
    keep = suppress(np.stack([xs, ys], axis=1), scores, nms_mm / spacing_mm)
    xs, ys, scores = xs[keep], ys[keep], scores[keep]
    return pd.DataFrame({"x": xs.astype(np.int64), "y": ys.astype(np.int64),
                         "x_mm": xs * spacing_mm, "y_mm": ys * spacing_mm, "score": scores})
