"""Detection stage: microcalcification clusters from MC detections, and their hits on annotated
cluster outlines.

Grouping rule (the common clinical definition is "at least three MCs within 1 cm2"): detections
closer than ``link_mm`` (default 5 mm) are linked, single linkage, and a connected group of at least
``min_mcs`` (default 3) detections is a cluster. The 5-mm link keeps a group of three inside about a
square centimetre when its members sit within one link of each other. A cluster's score is its
``min_mcs``-th highest member score: the threshold at or below which the cluster has enough
members to count. Its position is the centroid of its members.

A detected cluster is a hit when its centroid lies inside an annotated cluster outline (INbreast
polygons, mini-MIAS circles, CBIS-DDSM mask outlines, or a synthetic cluster's convex hull, see
``mcdetect.data.regions``) not already hit by a higher-scoring cluster; otherwise it is a false
positive. Cluster FROC then follows ``mcdetect.detection.froc`` with outlines in place of MCs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["group_clusters", "match_clusters", "LINK_MM", "MIN_MCS"]

LINK_MM = 5.0
MIN_MCS = 3


def group_clusters(detections: pd.DataFrame, *, link_mm: float = LINK_MM,
                   min_mcs: int = MIN_MCS) -> pd.DataFrame:
    """Clusters of one image's detections (x_mm, y_mm, score): cluster_id, x_mm, y_mm (centroid),
    n_mcs, score (the ``min_mcs``-th highest member score), by descending score."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    columns = ["cluster_id", "x_mm", "y_mm", "n_mcs", "score"]
    if len(detections) < min_mcs:
        return pd.DataFrame(columns=columns)
    xy = detections[["x_mm", "y_mm"]].to_numpy(np.float64)
    pairs = cKDTree(xy).query_pairs(link_mm, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                       shape=(len(xy), len(xy))) if len(pairs) else coo_matrix((len(xy),) * 2)
    _, labels = connected_components(graph, directed=False)
    scores = detections["score"].to_numpy(np.float64)
    rows = []
    for label in np.unique(labels):
        members = labels == label
        if members.sum() < min_mcs:
            continue
        rows.append({"x_mm": float(xy[members, 0].mean()), "y_mm": float(xy[members, 1].mean()),
                     "n_mcs": int(members.sum()),
                     "score": float(np.sort(scores[members])[::-1][min_mcs - 1])})
    table = pd.DataFrame(rows, columns=columns[1:])
    table = table.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "cluster_id", np.arange(len(table)))
    return table


def match_clusters(clusters: pd.DataFrame, regions: pd.DataFrame,
                   spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """One image: which detected clusters hit an annotated outline (``regions`` in canonical
    pixels, ``mcdetect.data.regions``), one-to-one by descending score, and the index (row of
    ``regions``) each one took (-1: a false positive)."""
    from mcdetect.data.regions import inside_region

    taken = np.full(len(clusters), -1, dtype=np.int64)
    free = np.ones(len(regions), bool)
    xs = clusters["x_mm"].to_numpy(np.float64) / spacing_mm
    ys = clusters["y_mm"].to_numpy(np.float64) / spacing_mm
    inside = np.array([inside_region(r, xs, ys) for _, r in regions.iterrows()]).reshape(
        len(regions), len(clusters))
    for i in np.argsort(-clusters["score"].to_numpy(np.float64), kind="stable"):
        hits = np.nonzero(inside[:, i] & free)[0]
        if len(hits):
            free[hits[0]] = False
            taken[i] = hits[0]
    return taken >= 0, taken
