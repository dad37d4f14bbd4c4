"""Evaluation stage: the paired bootstrap of every model's S on the same resamples.

Every resample is drawn once and serves every model (paired). Two units:

* ``sample`` (the paper's protocol): positives and negatives are drawn separately
  (class-stratified), each sample with replacement, as if independent.
* ``patient`` (this project's default) or ``image``: the units are drawn with replacement, once,
  and every sample of a drawn unit comes with it, positives and negatives together (so an
  image's MCs and its negatives stay paired). Samples of one patient are not independent (the MCs
  of a cluster, an image's negatives, one breast's texture); resampling them as if they were
  makes the confidence intervals too narrow (tests/test_evaluate.py measures how much). A
  resample that draws no positive (or no negative) is drawn again from the same stream.

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

import numpy as np

from mcdetect.evaluation.metrics import (
    _check_range,
    _curve_from_counts,
    _s_from_counts,
)

__all__ = ["bootstrap_weights", "paired_bootstrap", "paired_p_value"]


def bootstrap_weights(labels: np.ndarray, units: np.ndarray | None, rng) -> np.ndarray:
    """Integer weights of one bootstrap resample, drawn directly on every sample (the plain
    reference; ``paired_bootstrap`` draws the same distribution faster).

    ``units`` None: each class's samples are drawn with replacement (class-stratified).
    Otherwise the units (e.g. patient ids of the samples) are drawn with replacement, once for
    both classes, and every sample of a drawn unit gets the unit's count; a draw without a
    positive or without a negative is drawn again.
    """
    labels = np.asarray(labels)
    weights = np.zeros(len(labels), dtype=np.int64)
    if units is None:
        for cls in (0, 1):
            idx = np.flatnonzero(labels == cls)
            draws = rng.integers(0, len(idx), len(idx))
            weights[idx] = np.bincount(draws, minlength=len(idx))
        return weights
    _, codes = np.unique(np.asarray(units), return_inverse=True)
    n_units = int(codes.max()) + 1
    pos_units = np.bincount(codes[labels == 1], minlength=n_units) > 0
    neg_units = np.bincount(codes[labels == 0], minlength=n_units) > 0
    while True:
        counts = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
        if counts[pos_units].sum() > 0 and counts[neg_units].sum() > 0:
            return counts[codes]


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
            _, codes = np.unique(np.asarray(units), return_inverse=True)
            self.n_units = int(codes.max()) + 1
            self.pos_codes, self.neg_codes = codes[pos], codes[neg]
            self.pos_sizes = np.bincount(self.pos_codes, minlength=self.n_units)
            self.neg_sizes = np.bincount(self.neg_codes, minlength=self.n_units).astype(np.float64)
            self.keys = {n: self.neg_codes[m.top] for n, m in self.models.items()}
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
        if self.by_unit:  # units drawn once: a unit's positives and negatives together
            while True:
                table = np.bincount(rng.integers(0, self.n_units, self.n_units),
                                    minlength=self.n_units)
                n_total = float(table @ self.neg_sizes)
                if table @ self.pos_sizes > 0 and n_total > 0:
                    return table[self.pos_codes], table, n_total, None
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
    """S of every model on the full data and on ``n_boot`` paired resamples.

    ``scores`` maps a model name to its scores, all aligned with ``labels`` and ``units`` (one
    unit id per sample, e.g. its patient; None for the class-stratified sample unit). Resample
    r is drawn from its own stream (seed, r), so the result does not depend on ``workers``
    (processes; 1 runs in this one). Returns {"S": {model: S},
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
