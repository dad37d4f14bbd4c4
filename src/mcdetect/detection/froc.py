"""Detection stage: free-response ROC (FROC) of whole-image detections, as the field scores MC
detection -- sensitivity (the share of annotated MCs found) against the mean number of false marks
per image -- with its summaries and a paired bootstrap by image or patient.

Matching (``match``): one-to-one and greedy by score. Detections are taken by descending score;
each takes the nearest annotated MC within ``hit_radius`` not already taken (a hit), or else is a
false positive. A second mark on a found MC is a false positive, as in INbreast-style FROC
scoring (the customary radius there is 7 px at 0.07 mm, about 0.5 mm).

Curve (``froc_curve``): lowering the threshold through the detections' distinct scores gives the
operating points (false positives per image, sensitivity), from (0, 0). False positives per image
are counted over all images, or (``normal_only``) as the false marks on images without MCs over
the number of such images. The sensitivity at f false positives per image is that of the last
operating point with at most f (a step function; beyond the last point, all marks kept, it stays
at its last value). Summaries: the sensitivity at 0.1, 0.5, 1, 2 and 10 false positives per image,
and the normalised area under the step function over [0, 1] and [0, 10] (its mean over the range),
and the sensitivity and false positives per image with every mark kept (the recall of a detector
that marks only candidates).

Bootstrap (``froc_bootstrap``): images (or patients: all their images together) are drawn with
replacement; a drawn image counts as many times as it was drawn (its MCs, its marks, and itself as
an image). Every method is scored on the same resamples (paired), so differences between methods
get their own percentile CIs and two-sided p-values (``mcdetect.evaluation.bootstrap``); the
sensitivity on a grid of false positives per image gets pointwise percentile bands for the figure.
The same bootstrap scores clusters (``mcdetect.detection.clusters.ClusterFroc``).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

__all__ = ["match", "froc_curve", "froc_summary", "froc_bootstrap", "FP_POINTS", "AREA_RANGES",
           "BAND_GRID", "FrocData"]

FP_POINTS = (0.1, 0.5, 1.0, 2.0, 10.0)  # false positives per image
AREA_RANGES = ((0.0, 1.0), (0.0, 10.0))
# where the bootstrap bands of a FROC figure are drawn: false positives per image
BAND_GRID = np.unique(np.r_[np.linspace(0.0, 0.1, 11), np.geomspace(0.1, 10.0, 41)])


def match(det_xy, det_scores, truth_xy, hit_radius: float) -> tuple[np.ndarray, np.ndarray]:
    """One image: which detections hit an annotated MC (one-to-one, greedy by descending score,
    the nearest free MC within ``hit_radius``), and the index of the MC each one took (-1: a
    false positive). Both arrays follow the order of the detections."""
    from scipy.spatial import cKDTree

    det_xy = np.asarray(det_xy, dtype=np.float64).reshape(-1, 2)
    truth_xy = np.asarray(truth_xy, dtype=np.float64).reshape(-1, 2)
    taken = np.full(len(det_xy), -1, dtype=np.int64)
    if len(det_xy) == 0 or len(truth_xy) == 0:
        return taken >= 0, taken
    tree = cKDTree(truth_xy)
    free = np.ones(len(truth_xy), bool)
    for i in np.argsort(-np.asarray(det_scores, dtype=np.float64), kind="stable"):
        near = tree.query_ball_point(det_xy[i], hit_radius)
        near = [j for j in near if free[j]]
        if near:
            d = np.hypot(*(truth_xy[near] - det_xy[i]).T)
            j = near[int(np.argmin(d))]
            free[j] = False
            taken[i] = j
    return taken >= 0, taken


class FrocData:
    """The detections of one method on a set of images, ordered once for every threshold.

    ``detections``: image_id, score, hit (bool); ``images``: image_id, n_truth (annotated MCs),
    in the order the bootstrap weights follow."""

    def __init__(self, detections: pd.DataFrame, images: pd.DataFrame):
        index = {k: i for i, k in enumerate(images["image_id"])}
        unknown = set(detections["image_id"]) - set(index)
        if unknown:
            raise ValueError(f"detections on images not in the image list: {sorted(unknown)[:3]}")
        order = np.argsort(-detections["score"].to_numpy(np.float64), kind="stable")
        self.scores = detections["score"].to_numpy(np.float64)[order]
        self.hit = detections["hit"].to_numpy(bool)[order]
        self.image = detections["image_id"].map(index).to_numpy(np.int64)[order]
        self.n_truth = images["n_truth"].to_numpy(np.float64)
        self.normal = self.n_truth == 0
        # last index of each group of tied scores: a threshold keeps a whole group
        last = np.r_[self.scores[1:] != self.scores[:-1], True] if len(self.scores) else []
        self.ends = np.nonzero(last)[0]

    def curve(self, weights: np.ndarray | None = None, normal_only: bool = False):
        """Operating points (fp per image, sensitivity, threshold), from (0, 0, +inf)."""
        w_img = np.ones(len(self.n_truth)) if weights is None else np.asarray(weights, float)
        w = w_img[self.image]
        tp = np.cumsum(w * self.hit)[self.ends]
        fp_w = w * (~self.hit) * (self.normal[self.image] if normal_only else 1.0)
        fp = np.cumsum(fp_w)[self.ends]
        n_truth = float(np.sum(w_img * self.n_truth))
        n_img = float(np.sum(w_img[self.normal])) if normal_only else float(np.sum(w_img))
        sens = tp / n_truth if n_truth > 0 else np.full(len(tp), np.nan)
        fppi = fp / n_img if n_img > 0 else np.full(len(fp), np.nan)
        return (np.r_[0.0, fppi], np.r_[0.0, sens], np.r_[np.inf, self.scores[self.ends]])


def froc_curve(detections: pd.DataFrame, images: pd.DataFrame,
               normal_only: bool = False) -> pd.DataFrame:
    """The FROC operating points of one method: fp_per_image, sensitivity, threshold."""
    f, s, t = FrocData(detections, images).curve(normal_only=normal_only)
    return pd.DataFrame({"fp_per_image": f, "sensitivity": s, "threshold": t})


def _sens_at(f: np.ndarray, s: np.ndarray, points) -> np.ndarray:
    """The step function at ``points``: s of the last operating point with f <= point."""
    k = np.searchsorted(f, np.asarray(points, float), side="right") - 1
    return s[np.maximum(k, 0)]


def _area(f: np.ndarray, s: np.ndarray, lo: float, hi: float) -> float:
    """Mean of the step function over [lo, hi] (exact: a sum over its steps)."""
    edges = np.clip(np.r_[f, np.inf], lo, hi)
    return float(np.sum(s * np.diff(edges)) / (hi - lo))


def froc_summary(f: np.ndarray, s: np.ndarray) -> dict:
    """Sensitivity at FP_POINTS false positives per image and the normalised areas over
    AREA_RANGES, from operating points (f non-decreasing)."""
    out = {f"sens@{p:g}": float(v) for p, v in zip(FP_POINTS, _sens_at(f, s, FP_POINTS),
                                                    strict=True)}
    out.update({f"area[{lo:g},{hi:g}]": _area(f, s, lo, hi) for lo, hi in AREA_RANGES})
    # every mark kept: the detector's recall (for the candidates mode, the first stage's) and
    # the false positives per image that costs
    out.update({"sens@all": float(s[-1]), "fp@all": float(f[-1])})
    return out


_JOB = None  # (methods, weights, keys, normal_only) of the running bootstrap, for forked workers


def _score_resamples(rs) -> tuple[dict, dict]:
    """Summaries and band values of every method on resamples ``rs`` of the running bootstrap."""
    methods, weights, keys, normal_only = _JOB
    boot = {name: np.empty((len(rs), len(keys))) for name in methods}
    band = {name: np.empty((len(rs), len(BAND_GRID))) for name in methods}
    for i, r in enumerate(rs):
        for name, d in methods.items():
            f, s = d.curve(weights[r], normal_only=normal_only)[:2]
            summary = froc_summary(f, s)
            boot[name][i] = [summary[k] for k in keys]
            band[name][i] = _sens_at(f, s, BAND_GRID)
    return boot, band


def froc_bootstrap(methods: dict, images: pd.DataFrame, comparisons=(), *, units=None,
                   n_boot: int = 1000, seed: int = 0, normal_only: bool = False,
                   alpha: float = 0.05, m: int | None = None, workers: int = 1
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Summaries of every method (``methods``: name -> its operating points on ``images``, a
    ``FrocData`` or ``mcdetect.detection.clusters.ClusterFroc``) with 95% CIs, the differences of
    the ``comparisons`` (pairs of method names, x - y) with CIs, two-sided paired p-values and
    significance after Bonferroni over ``m`` comparisons (default: their number), and each
    method's pointwise 95% band of sensitivity on ``BAND_GRID`` false positives per image.
    ``images``: image_id in the order of the methods' weights; ``units``: one unit per image
    (e.g. the patient) drawn together; None draws images. ``workers`` processes share the
    resamples (forked; the result does not depend on their number)."""
    from mcdetect.evaluation.bootstrap import paired_p_value

    global _JOB
    codes = (np.arange(len(images)) if units is None
             else pd.factorize(np.asarray(units))[0])
    n_units = int(codes.max()) + 1 if len(codes) else 0
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1729]))
    curves = {name: d.curve(normal_only=normal_only)[:2] for name, d in methods.items()}
    point = {name: froc_summary(*c) for name, c in curves.items()}
    keys = list(next(iter(point.values()))) if point else []
    # every resample's image weights, drawn up front: the result does not depend on ``workers``
    weights = np.stack([np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)[codes]
                        for _ in range(n_boot)]).astype(np.float64) if n_boot else np.zeros((0, 0))
    _JOB = (methods, weights, keys, normal_only)
    chunks = [c for c in np.array_split(np.arange(n_boot), max(1, min(n_boot, 8 * workers)))
              if len(c)]
    if workers > 1 and len(chunks) > 1 and "fork" in multiprocessing.get_all_start_methods():
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as ex:
            parts = list(ex.map(_score_resamples, chunks))
    else:
        parts = [_score_resamples(c) for c in chunks]
    _JOB = None
    boot = {name: np.concatenate([b[name] for b, _ in parts]) if parts
            else np.empty((0, len(keys))) for name in methods}
    band = {name: np.concatenate([d[name] for _, d in parts]) if parts
            else np.empty((0, len(BAND_GRID))) for name in methods}
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    rows, bands = [], []
    for name in methods:
        lo, hi = np.nanpercentile(boot[name], q, axis=0)
        rows += [{"method": name, "summary": k, "value": point[name][k], "ci_low": lo[i],
                  "ci_high": hi[i]} for i, k in enumerate(keys)]
        lo, hi = np.nanpercentile(band[name], q, axis=0)
        bands.append(pd.DataFrame({"method": name, "fp_per_image": BAND_GRID,
                                   "sensitivity": _sens_at(*curves[name], BAND_GRID),
                                   "ci_low": lo, "ci_high": hi}))
    m = max(1, len(comparisons) if m is None else m)
    diffs = []
    for x, y in comparisons:
        for i, k in enumerate(keys):
            d = boot[x][:, i] - boot[y][:, i]
            lo, hi = np.nanpercentile(d, q)
            p = paired_p_value(boot[x][:, i], boot[y][:, i])
            diffs.append({"comparison": f"{x} - {y}", "summary": k,
                          "difference": point[x][k] - point[y][k], "ci_low": lo, "ci_high": hi,
                          "p": p, "significant": bool(p < alpha / m)})
    bands = pd.concat(bands, ignore_index=True) if bands else pd.DataFrame()
    return pd.DataFrame(rows), pd.DataFrame(diffs), bands
