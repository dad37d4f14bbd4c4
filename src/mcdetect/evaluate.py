"""Mean sensitivity (the paper's Eq. 16), computed exactly, and the paired stratified bootstrap.

Sensitivity at false-positive fraction f, for an empirical ROC with N negatives and P positives:
``s(f)`` is the highest sensitivity among operating points whose FPR is at most f. With the
negatives' scores sorted in descending order ``n_0 >= n_1 >= ...`` and ``m = floor(f N)``, the
best such threshold lies just above ``n_m``, so ``s(f) = #{positives > n_m} / P`` (ties of a
positive with ``n_m`` count as misses), and s is constant on every ``[m / N, (m + 1) / N)``.
Below the smallest non-zero FPR the data can resolve, 1/N, s is the sensitivity at FPR 0 (m = 0).

``S(a, b) = 1 / (ln b - ln a) * integral_a^b s(f) / f df`` is then a finite sum over those steps,
each weighted by the length of its interval in ln f: no grid, no approximation.

The bootstrap draws the same resample for every model (paired), positives and negatives separately
(class-stratified), with replacement, by unit: ``sample`` (the paper's protocol) or ``image`` /
``patient`` (all samples of a drawn unit come together; case-level, as careful reviewers expect).
A resample is applied as integer weights (how often each sample was drawn), and the weighted ROC
is exact: s(f) counts weighted positives above the negative whose cumulative weight first exceeds
``floor(f N)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "mean_sensitivity", "weighted_mean_sensitivity", "sensitivity_curve", "bootstrap_weights",
    "resolution", "paired_bootstrap", "paired_p_value", "table3",
]


def resolution(n_negatives: int, a: float) -> dict:
    """Whether the lower bound a lies below the data's FPR resolution 1/N."""
    return {"n_negatives": int(n_negatives), "min_fpr": 1.0 / n_negatives,
            "a_below_resolution": bool(a < 1.0 / n_negatives)}


def _prepare(pos, neg, pos_w, neg_w):
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    pos_w = np.ones(len(pos)) if pos_w is None else np.asarray(pos_w, dtype=np.float64)
    neg_w = np.ones(len(neg)) if neg_w is None else np.asarray(neg_w, dtype=np.float64)
    neg, neg_w = neg[neg_w > 0], neg_w[neg_w > 0]
    pos, pos_w = pos[pos_w > 0], pos_w[pos_w > 0]
    if neg_w.sum() <= 0 or pos_w.sum() <= 0:
        raise ValueError("need at least one positive and one negative")
    order = np.argsort(-neg, kind="stable")
    p_order = np.argsort(pos, kind="stable")
    return (pos[p_order], np.cumsum(pos_w[p_order]), neg[order], np.cumsum(neg_w[order]))


def _sensitivity_at_ranks(prepared, ms: np.ndarray) -> np.ndarray:
    """s for weighted negative ranks m (m = floor(f N)): positives strictly above the negative
    at weighted rank m (the first i whose cumulative weight exceeds m)."""
    p_sorted, p_cum, neg, cum = prepared
    idx = np.searchsorted(cum, ms, side="right")
    thresholds = np.where(idx < len(neg), neg[np.minimum(idx, len(neg) - 1)], -np.inf)
    below_or_equal = np.searchsorted(p_sorted, thresholds, side="right")
    covered = np.where(below_or_equal > 0, p_cum[np.maximum(below_or_equal - 1, 0)], 0.0)
    return (p_cum[-1] - covered) / p_cum[-1]


def sensitivity_curve(pos, neg, fprs, pos_w=None, neg_w=None) -> np.ndarray:
    """s(f) at the false-positive fractions ``fprs`` (the ROC read vertically)."""
    prepared = _prepare(pos, neg, pos_w, neg_w)
    n_total = prepared[3][-1]
    return _sensitivity_at_ranks(prepared, np.floor(np.asarray(fprs) * n_total))


def weighted_mean_sensitivity(pos: np.ndarray, neg: np.ndarray, pos_w=None, neg_w=None,
                              a: float = 1e-6, b: float = 0.1) -> float:
    """Exact S(a, b) of scores ``pos`` and ``neg`` with integer weights (None = all 1)."""
    if not 0 < a < b <= 1:
        raise ValueError(f"need 0 < a < b <= 1, got a={a}, b={b}")
    prepared = _prepare(pos, neg, pos_w, neg_w)
    n_total = prepared[3][-1]
    # Steps m = floor(f N) from floor(a N) to floor(b N), each constant on [m / N, (m + 1) / N).
    ms = np.arange(int(np.floor(a * n_total)), int(np.floor(b * n_total)) + 1, dtype=np.float64)
    sens = _sensitivity_at_ranks(prepared, ms)
    lo = np.maximum(ms / n_total, a)
    hi = np.minimum((ms + 1) / n_total, b)
    width = np.log(hi) - np.log(lo)
    width[hi <= lo] = 0.0
    return float((sens * width).sum() / (np.log(b) - np.log(a)))


def mean_sensitivity(pos, neg, a: float = 1e-6, b: float = 0.1) -> float:
    """Exact S(a, b) (Eq. 16) of positive and negative scores."""
    return weighted_mean_sensitivity(pos, neg, None, None, a, b)


def bootstrap_weights(labels: np.ndarray, units: np.ndarray | None, rng) -> np.ndarray:
    """Integer weights of one class-stratified bootstrap resample.

    ``units`` None resamples samples; otherwise each class's units (e.g. image ids of its
    samples) are drawn with replacement and every sample of a drawn unit gets the unit's count.
    """
    labels = np.asarray(labels)
    weights = np.zeros(len(labels), dtype=np.int64)
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        if units is None:
            draws = rng.integers(0, len(idx), len(idx))
            weights[idx] = np.bincount(draws, minlength=len(idx))
        else:
            codes, inverse = np.unique(np.asarray(units)[idx], return_inverse=True)
            draws = rng.integers(0, len(codes), len(codes))
            counts = np.bincount(draws, minlength=len(codes))
            weights[idx] = counts[inverse]
    return weights


def paired_bootstrap(scores: dict, labels: np.ndarray, units=None, *, n_boot: int = 1000,
                     seed: int = 0, a: float = 1e-6, b: float = 0.1, grid=None,
                     log=print) -> dict:
    """S of every model on the full data and on ``n_boot`` paired, class-stratified resamples.

    ``scores`` maps a model name to its scores, all aligned with ``labels`` (and ``units``).
    Returns {"S": {model: S}, "boot": {model: n_boot S}, "grid": FPRs, "roc": {model: the
    (n_boot, len(grid)) sensitivities of each resample at the FPR grid}} (for average ROCs).
    """
    grid = np.geomspace(a, b, 61) if grid is None else np.asarray(grid)
    labels = np.asarray(labels)
    pos, neg = labels == 1, labels == 0
    full = {k: mean_sensitivity(v[pos], v[neg], a, b) for k, v in scores.items()}
    rng = np.random.default_rng(seed)
    boot = {k: np.empty(n_boot) for k in scores}
    roc = {k: np.empty((n_boot, len(grid))) for k in scores}
    for r in range(n_boot):
        w = bootstrap_weights(labels, units, rng)  # one resample for every model: paired
        for k, v in scores.items():
            boot[k][r] = weighted_mean_sensitivity(v[pos], v[neg], w[pos], w[neg], a, b)
            roc[k][r] = sensitivity_curve(v[pos], v[neg], grid, w[pos], w[neg])
        if (r + 1) % max(1, n_boot // 10) == 0:
            log(f"[bootstrap] {r + 1}/{n_boot} resamples")
    return {"S": full, "boot": boot, "grid": grid, "roc": roc}


def paired_p_value(boot_x: np.ndarray, boot_y: np.ndarray) -> float:
    """Two-sided bootstrap p-value of S_x - S_y = 0 from paired resamples: twice the smaller
    share of resampled differences on either side of 0 (at most 1)."""
    d = np.asarray(boot_x) - np.asarray(boot_y)
    below = (np.sum(d <= 0) + 1) / (len(d) + 1)
    above = (np.sum(d >= 0) + 1) / (len(d) + 1)
    return float(min(1.0, 2 * min(below, above)))


def table3(result: dict, archs, alpha: float = 0.05, m: int = 3):
    """The paper's Table 3: S_UN, S_CL, S_DH (percent, 95% CI) and the three differences with
    two-sided paired p-values, Bonferroni-marked over m comparisons."""
    import pandas as pd

    rows = []
    for arch in archs:
        row = {"CNN": arch}
        for short, variant in (("UN", "raw"), ("CL", "clahe"), ("DH", "dehaze")):
            key = f"{variant}/{arch}"
            lo, hi = np.percentile(result["boot"][key], [2.5, 97.5])
            row[f"S_{short}"] = 100 * result["S"][key]
            row[f"S_{short} 95% CI"] = f"{100 * lo:.2f}-{100 * hi:.2f}"
        for x, y in (("CL", "UN"), ("DH", "UN"), ("DH", "CL")):
            vx = {"UN": "raw", "CL": "clahe", "DH": "dehaze"}[x]
            vy = {"UN": "raw", "CL": "clahe", "DH": "dehaze"}[y]
            p = paired_p_value(result["boot"][f"{vx}/{arch}"], result["boot"][f"{vy}/{arch}"])
            row[f"S_{x} - S_{y}"] = row[f"S_{x}"] - row[f"S_{y}"]
            row[f"p ({x} vs {y})"] = p
            row[f"significant ({x} vs {y})"] = bool(p < alpha / m)
        rows.append(row)
    return pd.DataFrame(rows)
