"""Detection stage: microcalcification clusters from MC detections, and their hits on annotated
cluster outlines.

Grouping rule (the common clinical definition is "at least three MCs within 1 cm2"): detections
closer than ``link_mm`` (default 5 mm) are linked, single linkage, and a connected group of at least
``min_mcs`` (default 3) detections is a cluster. The 5-mm link keeps a group of three inside about a
square centimetre when its members sit within one link of each other. A cluster's score is its
``min_mcs``-th highest member score: the threshold at or below which the cluster has enough
members to count. Its position is the centroid of its members.

A detected cluster is a hit when its centroid lies inside an annotated cluster outline (INbreast
polygons, mini-MIAS circles, CBIS-DDSM mask outlines, see ``mcdetect.data.regions``) not already
hit by a higher-scoring cluster; otherwise it is a false positive. Where a dataset annotates MCs
with a cluster label and no outline (the synthetic dataset, a generic CSV's ``cluster_id``), a true
cluster is a label with at least ``min_mcs`` annotated MCs, and its outline is the convex hull of
discs of radius ``margin`` (the MC hit distance) around them (``true_clusters``).

Cluster FROC (``ClusterFroc``): clusters depend on the threshold (a lower threshold adds marks that
join, merge or start clusters), so they are formed anew at each threshold of a grid: the scores of
the k-th highest mark over all images, k on a geometric grid from 1 to every mark. Each threshold
gives per image the hits (true clusters found) and false clusters; the operating points (false
clusters per image, cluster sensitivity) need not grow together, so the curve is their upper
envelope: at f false clusters per image, the best sensitivity of a threshold with at most f. Its
summaries, bootstrap and comparisons are those of ``mcdetect.detection.froc``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["group_clusters", "match_clusters", "true_clusters", "disc_hull", "ClusterFroc",
           "LINK_MM",
           "MIN_MCS", "N_THRESHOLDS"]

LINK_MM = 5.0
MIN_MCS = 3
N_THRESHOLDS = 80  # thresholds of the cluster FROC


def _link_pairs(xy: np.ndarray, link: float) -> np.ndarray:
    """Pairs (i < j) of points closer than ``link``."""
    from scipy.spatial import cKDTree

    return cKDTree(xy).query_pairs(link, output_type="ndarray").reshape(-1, 2)


def _group(xy: np.ndarray, scores: np.ndarray, pairs: np.ndarray, min_mcs: int,
           members: bool = False):
    """Clusters of points sorted by descending score, linked by ``pairs``: centroids (k x 2),
    scores (the ``min_mcs``-th highest member) and sizes, by descending score (and with
    ``members`` each cluster's point indices, ascending)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(xy)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    keep = np.nonzero(sizes >= min_mcs)[0]
    centroids = np.stack([np.bincount(labels, xy[:, k]) for k in (0, 1)], axis=1)
    centroids = centroids[keep] / sizes[keep, None]
    # members come in descending score: a cluster's score is that of its min_mcs-th member
    rank = np.zeros(n, np.int64)
    order = np.argsort(labels, kind="stable")
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    rank[order] = np.arange(n) - np.repeat(starts, sizes)
    nth = np.zeros(len(sizes))
    pick = rank == min_mcs - 1
    nth[labels[pick]] = scores[pick]
    order = np.argsort(-nth[keep], kind="stable")
    found = centroids[order], nth[keep][order], sizes[keep][order]
    if members:
        return (*found, [np.flatnonzero(labels == k) for k in keep[order]])
    return found


def group_clusters(detections: pd.DataFrame, *, link_mm: float = LINK_MM,
                   min_mcs: int = MIN_MCS, members: bool = False) -> pd.DataFrame:
    """Clusters of one image's detections (x_mm, y_mm, score): cluster_id, x_mm, y_mm (centroid),
    n_mcs, score (the ``min_mcs``-th highest member score), by descending score; with
    ``members``, also each cluster's detections (row positions in ``detections``, ascending)."""
    columns = ["cluster_id", "x_mm", "y_mm", "n_mcs", "score", *(["members"] if members else [])]
    if len(detections) < min_mcs:
        return pd.DataFrame(columns=columns)
    order = np.argsort(-detections["score"].to_numpy(np.float64), kind="stable")
    xy = detections[["x_mm", "y_mm"]].to_numpy(np.float64)[order]
    found = _group(xy, detections["score"].to_numpy(np.float64)[order],
                   _link_pairs(xy, link_mm), min_mcs, members=members)
    centroids, scores, sizes = found[:3]
    table = pd.DataFrame({"cluster_id": np.arange(len(scores)), "x_mm": centroids[:, 0],
                          "y_mm": centroids[:, 1], "n_mcs": sizes.astype(np.int64),
                          "score": scores})
    if members:
        table["members"] = [np.sort(order[m]) for m in found[3]]
    return table


def _match(xs: np.ndarray, ys: np.ndarray, scores: np.ndarray, outlines: list) -> np.ndarray:
    """Index of the outline each cluster (canonical pixels) takes, one-to-one by descending
    score (-1: a false positive)."""
    from mcdetect.data.regions import inside_region

    taken = np.full(len(xs), -1, dtype=np.int64)
    if not outlines or not len(xs):
        return taken
    inside = np.array([inside_region(r, xs, ys) for r in outlines], dtype=bool)
    free = np.ones(len(outlines), bool)
    for i in np.argsort(-scores, kind="stable"):
        hits = np.nonzero(inside[:, i] & free)[0]
        if len(hits):
            free[hits[0]] = False
            taken[i] = hits[0]
    return taken


def match_clusters(clusters: pd.DataFrame, regions: pd.DataFrame,
                   spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """One image: which detected clusters hit an annotated outline (``regions`` in canonical
    pixels, ``mcdetect.data.regions``), one-to-one by descending score, and the index (row of
    ``regions``) each one took (-1: a false positive)."""
    taken = _match(clusters["x_mm"].to_numpy(np.float64) / spacing_mm,
                   clusters["y_mm"].to_numpy(np.float64) / spacing_mm,
                   clusters["score"].to_numpy(np.float64), regions.to_dict("records"))
    return taken >= 0, taken


def disc_hull(points: np.ndarray, radius) -> np.ndarray:
    """The convex hull (k x 2 vertices) of 16-gons of ``radius`` (one value, or (x, y) radii)
    around ``points`` (n x 2): a cluster's outline from its MCs that encloses an area even when
    they lie on a line."""
    import cv2

    rx, ry = np.broadcast_to(np.asarray(radius, np.float64), (2,))
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ring = np.stack([rx * np.cos(angles), ry * np.sin(angles)], axis=1)
    pts = (np.asarray(points, np.float64)[:, None, :] + ring[None]).reshape(-1, 2)
    return cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)


def true_clusters(mcs: pd.DataFrame, regions: pd.DataFrame | None = None, *,
                  min_mcs: int = MIN_MCS, margin: float = 7.0) -> pd.DataFrame:
    """The annotated clusters (image_id and the region columns of ``mcdetect.data.regions``, in
    canonical pixels): the dataset's own outlines where it has them (``regions``, e.g.
    INbreast's polygons), else one outline per cluster label (``mcs.cluster_id`` >= 0) with at
    least ``min_mcs`` annotated MCs: the convex hull of discs of radius ``margin`` pixels around
    its MCs."""
    from mcdetect.data.regions import REGION_COLUMNS, polygon_region

    if regions is not None and len(regions):
        return regions[["image_id", *REGION_COLUMNS]].reset_index(drop=True)
    rows = []
    clustered = mcs[mcs["cluster_id"] >= 0] if "cluster_id" in mcs else mcs.iloc[:0]
    for (image_id, cid), g in clustered.groupby(["image_id", "cluster_id"], sort=True):
        if len(g) < min_mcs:
            continue
        hull = disc_hull(g[["x", "y"]].to_numpy(np.float64), margin)
        rows.append({"image_id": image_id, **polygon_region(hull[:, 0], hull[:, 1],
                                                            f"cluster {int(cid)}")})
    table = pd.DataFrame(rows, columns=["image_id", *REGION_COLUMNS[1:]])
    table.insert(1, "region_id", table.groupby("image_id").cumcount() if len(table) else [])
    return table


class ClusterFroc:
    """Cluster-level operating points of one method, with the interface of
    ``mcdetect.detection.froc.FrocData`` (``curve(weights, normal_only)``).

    ``detections``: image_id, x_mm, y_mm, score; ``truth``: ``true_clusters`` of the images;
    ``images``: image_id in the order the bootstrap weights follow. Clusters are formed at each
    of ``n_thresholds`` thresholds (the module's docstring); ``tp`` and ``fp`` hold, per image and
    threshold, the true clusters found and the false clusters."""

    def __init__(self, detections: pd.DataFrame, truth: pd.DataFrame, images: pd.DataFrame, *,
                 spacing_mm: float, link_mm: float = LINK_MM, min_mcs: int = MIN_MCS,
                 n_thresholds: int = N_THRESHOLDS):
        ranked = np.sort(detections["score"].to_numpy(np.float64))[::-1]
        if len(ranked):
            k = np.unique(np.geomspace(1, len(ranked), n_thresholds).round().astype(int))
            self.thresholds = np.unique(ranked[k - 1])[::-1]
        else:
            self.thresholds = np.zeros(0)
        index = {image_id: i for i, image_id in enumerate(images["image_id"])}
        self.n_truth = images["image_id"].map(truth.groupby("image_id").size()).fillna(0)
        self.n_truth = self.n_truth.to_numpy(np.float64)
        # normal images: without an annotated MC where ``images`` counts them (n_truth), else
        # without an annotated cluster
        self.normal = (images["n_truth"].to_numpy() == 0 if "n_truth" in images
                       else self.n_truth == 0)
        self.tp = np.zeros((len(images), len(self.thresholds)))
        self.fp = np.zeros_like(self.tp)
        outlines = {k: g.to_dict("records") for k, g in truth.groupby("image_id")}
        for image_id, g in detections.groupby("image_id", sort=False):
            g = g.sort_values("score", ascending=False, kind="stable")
            scores = g["score"].to_numpy(np.float64)
            xy = g[["x_mm", "y_mm"]].to_numpy(np.float64)
            pairs = _link_pairs(xy, link_mm)  # of all marks; a threshold keeps a prefix
            for j, t in enumerate(self.thresholds):
                n = int(np.searchsorted(-scores, -t, side="right"))  # marks scoring >= t
                if n < min_mcs:
                    continue
                centroids, c_scores, _ = _group(xy[:n], scores[:n],
                                                pairs[pairs[:, 1] < n], min_mcs)
                taken = _match(centroids[:, 0] / spacing_mm, centroids[:, 1] / spacing_mm,
                               c_scores, outlines.get(image_id, []))
                self.tp[index[image_id], j] = np.sum(taken >= 0)
                self.fp[index[image_id], j] = np.sum(taken < 0)

    def curve(self, weights: np.ndarray | None = None, normal_only: bool = False):
        """Operating points (false clusters per image, cluster sensitivity, threshold), the upper
        envelope by false clusters per image, from (0, 0, +inf)."""
        w = np.ones(len(self.n_truth)) if weights is None else np.asarray(weights, float)
        fp_w = w * self.normal if normal_only else w
        n_img = float(np.sum(fp_w))
        n_truth = float(np.sum(w * self.n_truth))
        f = np.r_[0.0, fp_w @ self.fp / n_img if n_img > 0 else np.full(len(self.thresholds),
                                                                        np.nan)]
        s = np.r_[0.0, w @ self.tp / n_truth if n_truth > 0 else np.full(len(self.thresholds),
                                                                         np.nan)]
        t = np.r_[np.inf, self.thresholds]
        order = np.argsort(f, kind="stable")
        return f[order], np.maximum.accumulate(s[order]), t[order]
