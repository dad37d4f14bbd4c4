"""Mean sensitivity (the paper's Eq. 16), computed exactly, and the paired stratified bootstrap.

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

The bootstrap draws the same resample for every model (paired), positives and negatives separately
(class-stratified), with replacement, by unit: ``sample`` (the paper's protocol) or ``image`` /
``patient`` (all samples of a drawn unit come together; case-level, as careful reviewers expect).
At the paper's scale (27 million negatives) it stays exact and fast: each model's negatives are
ordered once, and only its top ``~bN`` negatives (those that can lie above FPR b) carry individual
weights; the rest enter as a count. For the sample unit the weights of the union U of those top
sets are drawn exactly as the multinomial's marginal: ``Binomial(N, |U| / N)`` draws land in U,
each uniformly on one of its members. If a resample ever puts fewer than ``bN`` draws into a
model's top set (vanishingly rare), that model falls back to its full order for that resample.
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "auc", "mean_sensitivity", "weighted_mean_sensitivity", "sensitivity_curve",
    "bootstrap_weights", "resolution", "paired_bootstrap", "paired_p_value", "table3",
    "pool_scores", "model_summary", "gains_over_baselines", "per_fold_summary",
]


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


def bootstrap_weights(labels: np.ndarray, units: np.ndarray | None, rng) -> np.ndarray:
    """Integer weights of one class-stratified bootstrap resample, drawn directly on every sample
    (the plain reference; ``paired_bootstrap`` draws the same distribution faster).

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


def _top_size(n: int, b: float, by_unit: bool) -> int:
    """How many of a model's negatives carry individual weights: all of those above FPR b, with
    a margin that a resample almost never exhausts (sample unit: 10 standard deviations of the
    binomial count; by unit, counts vary more: twice bN)."""
    bn = b * n
    k = 2 * bn + 1000 if by_unit else bn + 10 * math.sqrt(bn) + 100
    return min(n, math.ceil(k))


class _Ranked:
    """One model's scores, ordered once: positives descending; its top negatives descending."""

    def __init__(self, pos: np.ndarray, neg: np.ndarray, k: int):
        self.neg = neg
        self.p_order = np.argsort(-pos, kind="stable")
        self.pos_sorted = pos[self.p_order]
        if k >= len(neg):
            top = np.argsort(-neg, kind="stable")
        else:
            top = np.argpartition(-neg, k - 1)[:k]
            top = top[np.argsort(-neg[top], kind="stable")]
        self.top, self.r = self._ranks(top)
        self._full = None

    def _ranks(self, top):
        scores = self.neg[top]
        # r_j: top negatives scoring >= p_j; -1 where p_j is not above every negative outside
        r = np.searchsorted(-scores, -self.pos_sorted, side="right")
        if len(top) < len(self.neg):
            r[self.pos_sorted <= scores[-1]] = -1
        return top, r

    def full(self):
        """The full order, for the rare resample that exhausts the top set."""
        if self._full is None:
            self._full = self._ranks(np.argsort(-self.neg, kind="stable"))
        return self._full

    def counts(self, top_w: np.ndarray, r: np.ndarray, n_total: float, b: float):
        """W_j (inf beyond FPR b) from the weights of the ordered negatives ``top_w``; None if
        those weigh no more than bN, so that positives below them might still count."""
        cum = np.empty(len(top_w) + 1, dtype=np.float64)
        cum[0] = 0.0
        np.cumsum(top_w, out=cum[1:])
        if len(top_w) < len(self.neg) and not cum[-1] > b * n_total:
            return None
        w_j = cum[np.maximum(r, 0)]
        w_j[r < 0] = np.inf
        return w_j


class _Plan:
    """Everything a resample needs, prepared once (shared with worker processes by fork)."""

    def __init__(self, scores: dict, labels, units, a, b, grid, seed):
        labels = np.asarray(labels)
        pos, neg = labels == 1, labels == 0
        self.n_pos, self.n_neg = int(pos.sum()), int(neg.sum())
        if self.n_pos == 0 or self.n_neg == 0:
            raise ValueError("need at least one positive and one negative sample")
        self.a, self.b, self.grid, self.seed = a, b, grid, seed
        self.by_unit = units is not None
        k = _top_size(self.n_neg, b, self.by_unit)
        self.models = {name: _Ranked(np.asarray(v)[pos], np.asarray(v)[neg], k)
                       for name, v in scores.items()}
        if self.by_unit:
            units = np.asarray(units)
            _, self.pos_codes = np.unique(units[pos], return_inverse=True)
            _, neg_codes = np.unique(units[neg], return_inverse=True)
            self.neg_codes = neg_codes
            self.n_pos_units = int(self.pos_codes.max()) + 1
            self.neg_sizes = np.bincount(neg_codes).astype(np.float64)
            self.keys = {n: neg_codes[m.top] for n, m in self.models.items()}
            self.union = None
        else:
            self.union = np.unique(np.concatenate([m.top for m in self.models.values()]))
            self.keys = {n: np.searchsorted(self.union, m.top).astype(np.int64)
                         for n, m in self.models.items()}
            self._complement = None

    def complement(self):
        if self._complement is None:
            keep = np.ones(self.n_neg, dtype=bool)
            keep[self.union] = False
            self._complement = np.flatnonzero(keep)
        return self._complement

    def full_data(self) -> tuple[dict, dict]:
        """S and s(grid) of every model on the data as they are (all weights 1)."""
        s, roc = {}, {}
        ones = np.ones(self.n_pos)
        for name, m in self.models.items():
            w_j = m.counts(np.ones(len(m.top)), m.r, self.n_neg, self.b)
            s[name] = _s_from_counts(w_j, ones, self.n_neg, self.a, self.b)
            roc[name] = _curve_from_counts(w_j, ones, self.n_neg, self.grid)
        return s, roc

    def _draw(self, rng):
        """One resample's positive weights, the weights behind the model keys, their total N."""
        if self.by_unit:
            cp = np.bincount(rng.integers(0, self.n_pos_units, self.n_pos_units),
                             minlength=self.n_pos_units)
            n_units = len(self.neg_sizes)
            table = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
            return cp[self.pos_codes], table, float(table @ self.neg_sizes), None
        pw = np.bincount(rng.integers(0, self.n_pos, self.n_pos), minlength=self.n_pos)
        size = len(self.union)
        in_union = self.n_neg if size == self.n_neg else rng.binomial(self.n_neg,
                                                                      size / self.n_neg)
        table = np.bincount(rng.integers(0, size, in_union), minlength=size)
        return pw, table, float(self.n_neg), in_union

    def _all_negative_weights(self, table, in_union, rng) -> np.ndarray:
        """Every negative's weight in this resample (completes the draws outside the union)."""
        if self.by_unit:
            return table[self.neg_codes]
        weights = np.zeros(self.n_neg, dtype=np.int64)
        weights[self.union] = table
        rest = self.complement()
        weights[rest] = np.bincount(rng.integers(0, len(rest), self.n_neg - in_union),
                                    minlength=len(rest))
        return weights

    def _rng(self, r: int):
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(r,)))

    def weights(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Resample r as plain weights of every positive and negative (for checks)."""
        rng = self._rng(r)
        pw, table, _, in_union = self._draw(rng)
        return pw, self._all_negative_weights(table, in_union, rng)

    def resample(self, r: int):
        """S and s(grid) of every model on paired resample r (its own seeded stream)."""
        rng = self._rng(r)
        pw, table, n_total, in_union = self._draw(rng)
        everything = None
        out, fallbacks = {}, 0
        for name, m in self.models.items():
            w_j = m.counts(table[self.keys[name]], m.r, n_total, self.b)
            if w_j is None:  # the resample put too little weight on the top set
                fallbacks += 1
                if everything is None:
                    everything = self._all_negative_weights(table, in_union, rng)
                top, r_full = m.full()
                w_j = m.counts(everything[top], r_full, n_total, self.b)
            p = pw[m.p_order].astype(np.float64)
            out[name] = (_s_from_counts(w_j, p, n_total, self.a, self.b),
                         _curve_from_counts(w_j, p, n_total, self.grid))
        return out, fallbacks


_PLAN: _Plan | None = None


def _run_resamples(rs) -> list:
    return [_PLAN.resample(r) for r in rs]


def paired_bootstrap(scores: dict, labels: np.ndarray, units=None, *, n_boot: int = 1000,
                     seed: int = 0, a: float = 1e-6, b: float = 0.1, grid=None, workers: int = 1,
                     log=print) -> dict:
    """S of every model on the full data and on ``n_boot`` paired, class-stratified resamples.

    ``scores`` maps a model name to its scores, all aligned with ``labels`` (and ``units``, None
    for the sample unit). Resample r is drawn from its own stream (seed, r), so the result does
    not depend on ``workers`` (processes; 1 runs in this one). Returns {"S": {model: S},
    "boot": {model: n_boot S}, "grid": FPRs, "roc_full": {model: s(grid)}, "roc": {model:
    (n_boot, len(grid)) sensitivities of each resample}, "fallbacks": resamples x models that
    needed a full order, "top": negatives with individual weights per model}.
    """
    global _PLAN
    _check_range(a, b)
    grid = np.geomspace(a, b, 61) if grid is None else np.asarray(grid, dtype=np.float64)
    if grid.max() > b:
        raise ValueError(f"the FPR grid must stay within b = {b}")
    plan = _Plan(scores, labels, units, a, b, grid, seed)
    full, roc_full = plan.full_data()
    boot = {k: np.empty(n_boot) for k in scores}
    roc = {k: np.empty((n_boot, len(grid))) for k in scores}
    chunks = [c for c in np.array_split(np.arange(n_boot), max(1, min(n_boot, 20))) if len(c)]
    done = fallbacks = 0

    def collect(rs, results):
        nonlocal done, fallbacks
        for r, (out, fb) in zip(rs, results, strict=True):
            fallbacks += fb
            for k, (s, curve) in out.items():
                boot[k][r], roc[k][r] = s, curve
        done += len(rs)
        log(f"[bootstrap] {done}/{n_boot} resamples")

    workers = max(1, min(int(workers), len(chunks)))
    _PLAN = plan  # the forked workers inherit it
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        for rs in chunks:
            collect(rs, _run_resamples(rs))
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as ex:
            for rs, results in zip(chunks, ex.map(_run_resamples, chunks), strict=True):
                collect(rs, results)
    _PLAN = None
    return {"S": full, "boot": boot, "grid": grid, "roc_full": roc_full, "roc": roc,
            "fallbacks": fallbacks, "top": {k: len(m.top) for k, m in plan.models.items()},
            "union": None if plan.union is None else len(plan.union)}


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


def pool_scores(sample_ids: np.ndarray, tables: dict) -> dict:
    """Each model's scores aligned with ``sample_ids`` (ascending): ``tables`` maps a model name to
    one or more DataFrames of (sample_id, score), e.g. the held-out predictions of every fold.
    Raises unless they cover every sample exactly once."""
    import pandas as pd

    pooled = {}
    for name, parts in tables.items():
        parts = parts if isinstance(parts, (list, tuple)) else [parts]
        table = pd.concat(parts).sort_values("sample_id")
        if not np.array_equal(table["sample_id"].to_numpy(), np.asarray(sample_ids)):
            raise ValueError(f"{name}: the scores do not cover every sample exactly once")
        pooled[name] = table["score"].to_numpy(np.float64)
    return pooled


def model_summary(result: dict, scores: dict, labels, kinds: dict) -> pd.DataFrame:
    """One row per model: variant, method, kind (``cnn`` / ``baseline``), S in percent with its 95%
    bootstrap CI, and the AUC. Model names are ``variant/method``; ``kinds`` maps a method to its
    kind."""
    import pandas as pd

    labels = np.asarray(labels)
    rows = []
    for name in result["S"]:
        variant, method = name.split("/", 1)
        lo, hi = np.percentile(result["boot"][name], [2.5, 97.5])
        s = np.asarray(scores[name])
        rows.append({"model": name, "variant": variant, "method": method,
                     "kind": kinds.get(method, "cnn"), "S": 100 * result["S"][name],
                     "ci_low": 100 * lo, "ci_high": 100 * hi,
                     "AUC": auc(s[labels == 1], s[labels == 0])})
    return pd.DataFrame(rows)


def gains_over_baselines(result: dict, variants, archs, baselines, alpha: float = 0.05):
    """For every CNN and variant: the best baseline of that variant (highest S on the data as they
    are), and the CNN's gain over it in S (percentage points) with its 95% paired-bootstrap CI and
    two-sided p-value; ``beats`` when the whole CI lies above zero."""
    import pandas as pd

    rows = []
    for variant in variants:
        names = [f"{variant}/{b}" for b in baselines if f"{variant}/{b}" in result["S"]]
        if not names:
            continue
        best = max(names, key=lambda k: result["S"][k])
        for arch in archs:
            cnn = f"{variant}/{arch}"
            if cnn not in result["S"]:
                continue
            d = 100 * (np.asarray(result["boot"][cnn]) - np.asarray(result["boot"][best]))
            lo, hi = np.percentile(d, [100 * alpha / 2, 100 * (1 - alpha / 2)])
            rows.append({"variant": variant, "CNN": arch, "best baseline": best.split("/", 1)[1],
                         "S_CNN": 100 * result["S"][cnn], "S_baseline": 100 * result["S"][best],
                         "gain": 100 * (result["S"][cnn] - result["S"][best]),
                         "ci_low": lo, "ci_high": hi,
                         "p": paired_p_value(result["boot"][cnn], result["boot"][best]),
                         "beats": bool(lo > 0)})
    return pd.DataFrame(rows)


def per_fold_summary(scores: dict, labels, folds, units=None, *, n_boot: int, seed: int,
                     a: float, b: float, workers: int = 1, log=print) -> pd.DataFrame:
    """S (percent, 95% CI) and AUC of every model on each fold's samples alone (each fold its own
    paired bootstrap, seeded from ``seed`` and the fold)."""
    import pandas as pd

    labels, folds = np.asarray(labels), np.asarray(folds)
    rows = []
    for fold in np.unique(folds):
        sel = folds == fold
        sub = {k: np.asarray(v)[sel] for k, v in scores.items()}
        res = paired_bootstrap(sub, labels[sel], None if units is None else np.asarray(units)[sel],
                               n_boot=n_boot, seed=[int(seed), int(fold)], a=a, b=b,
                               workers=workers, log=log)
        for name, s in sub.items():
            lo, hi = np.percentile(res["boot"][name], [2.5, 97.5])
            y = labels[sel]
            rows.append({"model": name, "fold": int(fold), "S": 100 * res["S"][name],
                         "ci_low": 100 * lo, "ci_high": 100 * hi,
                         "AUC": auc(s[y == 1], s[y == 0]), "positives": int((y == 1).sum()),
                         "negatives": int((y == 0).sum())})
    return pd.DataFrame(rows)
