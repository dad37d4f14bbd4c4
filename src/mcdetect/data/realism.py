"""Dataset stage: how the dataset's annotated MCs compare with a real one -- per image with MCs,
their count, size and spacing, beside INbreast's.

INbreast's figures (``INBREAST``) are statistics of a sample of its annotations: 68 of the 343
annotation XML files (every 5th), 'Calcification' ROIs only (an individual MC: a point, or an
outline whose equivalent diameter is its size; 61% are points without a size), centres at the
point or the outline's centroid, distances at its 0.07 mm pixels. INbreast itself: Moreira et al.,
"INbreast: toward a full-field digital mammographic database", Academic Radiology 19(2), 2012.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["mc_statistics", "realism_table", "INBREAST"]

QUANTILES = (10, 25, 50, 75, 90)

# quantity -> INbreast's value, in the wording of realism_table's rows
INBREAST = {
    "images with annotated MCs": "92.6% of annotated images (about 77% of all 410)",
    "MCs per image with MCs": "median 9 (quartiles 4-19), mean 21.5, max 142",
    "MC diameter (mm), 10/25/50/75/90%": "0.32 / 0.42 / 0.67 / 1.14 / 1.92 (outlined ones; "
                                         "30% above 1 mm)",
    "nearest-neighbour distance (mm), 10/25/50/75/90%": "0.60 / 0.94 / 2.07 / 6.6 / 17.6",
    "share of MCs with a neighbour within 1 mm": "27%",
    "median nearest-neighbour distance per image (mm)": "median 6.8 (quartiles 1.7-17.1)",
}


def _nearest(xy: np.ndarray) -> np.ndarray:
    """Each point's distance to its nearest other point (images with two or more MCs)."""
    from scipy.spatial import cKDTree

    d, _ = cKDTree(xy).query(xy, k=2)
    return d[:, 1]


def mc_statistics(mcs: pd.DataFrame, image_ids, spacing_mm: float) -> dict:
    """Statistics of the annotated MCs (``mcs``: image_id, x, y in pixels of ``spacing_mm``, and
    diameter_mm where known) on the images ``image_ids``: the share of images with MCs, MCs per
    such image, diameters, nearest-neighbour distances (pooled over MCs, and each image's
    median)."""
    image_ids = list(image_ids)
    mcs = mcs[mcs["image_id"].isin(set(image_ids))]
    counts = mcs.groupby("image_id").size()
    nearest, per_image = [], []
    for _, g in mcs.groupby("image_id"):
        if len(g) >= 2:
            d = _nearest(g[["x", "y"]].to_numpy(float)) * spacing_mm
            nearest.append(d)
            per_image.append(float(np.median(d)))
    nearest = np.concatenate(nearest) if nearest else np.zeros(0)
    diameters = (mcs["diameter_mm"].dropna().to_numpy(float) if "diameter_mm" in mcs
                 else np.zeros(0))

    def q(values, qs=QUANTILES):
        return [float(v) for v in np.percentile(values, qs)] if len(values) else None

    return {
        "images": len(image_ids), "images_with_mcs": int(len(counts)), "mcs": int(len(mcs)),
        "per_image": {"quartiles": q(counts, (25, 50, 75)),
                      "mean": float(counts.mean()) if len(counts) else None,
                      "max": int(counts.max()) if len(counts) else None},
        "diameter_mm": q(diameters),
        "share_above_1mm": float(np.mean(diameters > 1.0)) if len(diameters) else None,
        "nearest_mm": q(nearest),
        "share_within_1mm": float(np.mean(nearest < 1.0)) if len(nearest) else None,
        "median_nearest_per_image_mm": q(per_image, (25, 50, 75)),
    }


def _fmt(values, digits=2) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in values) if values else "n/a"


def realism_table(stats: dict) -> pd.DataFrame:
    """``mc_statistics`` of this dataset beside INbreast's (``INBREAST``), one row per quantity."""
    s = stats
    pi, nn = s["per_image"], s["median_nearest_per_image_mm"]
    ours = {
        "images with annotated MCs":
            f"{s['images_with_mcs'] / max(s['images'], 1):.1%} of {s['images']} images",
        "MCs per image with MCs":
            (f"median {pi['quartiles'][1]:g} (quartiles {pi['quartiles'][0]:g}-"
             f"{pi['quartiles'][2]:g}), mean {pi['mean']:.1f}, max {pi['max']}")
            if pi["quartiles"] else "n/a",
        "MC diameter (mm), 10/25/50/75/90%":
            _fmt(s["diameter_mm"]) + (f" ({s['share_above_1mm']:.0%} above 1 mm)"
                                      if s["share_above_1mm"] is not None else ""),
        "nearest-neighbour distance (mm), 10/25/50/75/90%": _fmt(s["nearest_mm"]),
        "share of MCs with a neighbour within 1 mm":
            f"{s['share_within_1mm']:.0%}" if s["share_within_1mm"] is not None else "n/a",
        "median nearest-neighbour distance per image (mm)":
            f"median {nn[1]:.2f} (quartiles {nn[0]:.2f}-{nn[2]:.2f})" if nn else "n/a",
    }
    return pd.DataFrame({"quantity": list(INBREAST), "INbreast": list(INBREAST.values()),
                         "this dataset": [ours[k] for k in INBREAST]})
