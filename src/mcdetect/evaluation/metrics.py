"""Evaluation stage: the detection metrics of a set of scores -- AUC, the sensitivity curve and the
mean sensitivity S (the paper's Eq. 16), computed exactly.

Sensitivity at false-positive fraction f, for an empirical ROC with N negatives and P positives:
``s(f)`` is the highest sensitivity among operating points whose FPR is at most f. Sort the
negatives' scores in descending order ``n_0 >= n_1 >= ...``; with ``m = floor(f N)`` the best such
threshold lies just above ``n_m``, so ``s(f) = #{positives > n_m} / P`` (a positive tied with
``n_m`` is missed). Below the smallest non-zero FPR the data can resolve, 1/N, s is the
sensitivity at FPR 0 (m = 0).

Read per positive instead: positive j is found exactly when ``m >= W_j``, W_j the number of
negatives scoring at least as high as it. So s(f) = #{j : W_j <= f N} / P, a step function that
changes only at the P points ``F_j = W_j / N``, and

    S(a, b) = 1 / (ln b - ln a) * integral_a^b s(f) / f df
            = 1 / (P (ln b - ln a)) * sum_j max(0, ln b - ln max(F_j, a)).

No grid, no approximation: S needs only W_j, and only for positives with F_j < b, i.e. only the
negatives above FPR b. With integer weights (a bootstrap resample: how often each sample was
drawn) the same holds with weighted counts.
"""

from __future__ import annotations

import numpy as np

__all__ = ["auc", "mean_sensitivity", "weighted_mean_sensitivity", "sensitivity_curve",
           "resolution"]


def resolution(n_negatives: int, a: float) -> dict:
    """Whether the lower bound a lies below the data's FPR resolution 1/N."""
    return {"n_negatives": int(n_negatives), "min_fpr": 1.0 / n_negatives,
            "a_below_resolution": bool(a < 1.0 / n_negatives)}


def _check_range(a: float, b: float) -> None:
    if not 0 < a < b <= 1:
        raise ValueError(f"need 0 < a < b <= 1, got a={a}, b={b}")


def _s_from_counts(w_j, pw, n_total, a, b) -> float:
    """S(a, b) from each positive's weighted count W_j of negatives scoring >= it (inf: beyond
    FPR b), its weight pw and the total negative weight."""
    with np.errstate(divide="ignore"):
        gain = np.log(b) - np.log(np.maximum(np.asarray(w_j, dtype=np.float64) / n_total, a))
    return float(np.dot(pw, np.maximum(gain, 0.0)) / (pw.sum() * np.log(b / a)))


def _curve_from_counts(w_j, pw, n_total, fprs) -> np.ndarray:
    """s(f) = weighted share of positives with W_j <= f N; w_j must be non-decreasing."""
    cum = np.r_[0.0, np.cumsum(pw, dtype=np.float64)]
    found = np.searchsorted(w_j, np.floor(np.asarray(fprs) * n_total), side="right")
    return cum[found] / cum[-1]


def _counts(pos, neg, pos_w, neg_w):
    """Positives in descending score order with their weights and W_j, and the total N."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    pos_w = np.ones(len(pos)) if pos_w is None else np.asarray(pos_w, dtype=np.float64)
    neg_w = np.ones(len(neg)) if neg_w is None else np.asarray(neg_w, dtype=np.float64)
    if neg_w.sum() <= 0 or pos_w.sum() <= 0:
        raise ValueError("need at least one positive and one negative")
    order = np.argsort(-neg, kind="stable")
    cum = np.r_[0.0, np.cumsum(neg_w[order])]
    p_order = np.argsort(-pos, kind="stable")
    # r_j: negatives scoring >= p_j (a prefix of the descending order)
    r = np.searchsorted(-neg[order], -pos[p_order], side="right")
    return cum[r], pos_w[p_order], cum[-1]


def auc(pos, neg) -> float:
    """Area under the ROC curve: the probability that a positive scores above a negative, ties
    counting one half (Mann-Whitney U / (P N)), from ranks in O((P + N) log(P + N))."""
    pos = np.asarray(pos, dtype=np.float64).ravel()
    neg = np.asarray(neg, dtype=np.float64).ravel()
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("need at least one positive and one negative")
    both = np.concatenate([pos, neg])
    order = np.argsort(both, kind="stable")
    ranks = np.empty(len(both), dtype=np.float64)
    sorted_vals = both[order]
    # average ranks of ties (1-based)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_vals)) + 1]
    ends = np.r_[starts[1:], len(both)]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


def weighted_mean_sensitivity(pos: np.ndarray, neg: np.ndarray, pos_w=None, neg_w=None,
                              a: float = 1e-6, b: float = 0.1) -> float:
    """Exact S(a, b) of scores ``pos`` and ``neg`` with integer weights (None = all 1)."""
    _check_range(a, b)
    w_j, pw, n_total = _counts(pos, neg, pos_w, neg_w)
    return _s_from_counts(w_j, pw, n_total, a, b)


def mean_sensitivity(pos, neg, a: float = 1e-6, b: float = 0.1) -> float:
    """Exact S(a, b) (Eq. 16) of positive and negative scores."""
    return weighted_mean_sensitivity(pos, neg, None, None, a, b)


def sensitivity_curve(pos, neg, fprs, pos_w=None, neg_w=None) -> np.ndarray:
    """s(f) at the false-positive fractions ``fprs`` (the ROC read vertically)."""
    w_j, pw, n_total = _counts(pos, neg, pos_w, neg_w)
    return _curve_from_counts(w_j, pw, n_total, fprs)
