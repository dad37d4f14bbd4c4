"""Benchmark of the paired bootstrap.

Run: .venv/bin/python benchmarks/bootstrap.py [--negatives 27000000] [--n-boot 1000]

* Scale: ``mcdetect.evaluation.bootstrap.paired_bootstrap`` on synthetic scores of 6 correlated
  models, ``--negatives`` negatives and 7,600 positives, ``--n-boot`` paired resamples, 2 worker
  processes (the CI machine's cores), by sample (the paper's protocol, the baseline) and by
  patient (the default: ``--patients`` patients, 267 = the paper's 1,066 mammograms over four
  views, every sample assigned to one at random), one after the other in the same run. Peak
  memory: the proportional set size (PSS, shared pages split between processes) of this process
  and its workers together, sampled every 0.2 s.
* Side by side at 2 million negatives: the same code (one process) against the plain way,
  resample every sample + ``sklearn.metrics.roc_curve`` per model + S integrated exactly over the
  ROC's steps, on a few resamples (per-resample times compared). Both give the same S on the same
  weights (checked here, to 1e-9).
Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np

from mcdetect.evaluation.bootstrap import _Plan, paired_bootstrap
from mcdetect.evaluation.metrics import weighted_mean_sensitivity

REPO = Path(__file__).resolve().parents[1]

N_POS, N_MODELS, A, B = 7_600, 6, 1e-6, 0.1


def make_scores(n_neg: int, seed: int = 0, dtype=np.float32):
    """Scores of 6 models sharing a latent 'hardness' (correlation ~0.6), like nets trained on
    the same patches; positives shifted by 2 to 3 standard deviations."""
    rng = np.random.default_rng(seed)
    n = n_neg + N_POS
    labels = np.zeros(n, dtype=np.int8)
    labels[:N_POS] = 1
    latent = rng.standard_normal(n, dtype=np.float32)
    scores = {}
    for k in range(N_MODELS):
        s = rng.standard_normal(n, dtype=np.float32)
        s *= 0.65
        s += 0.75 * latent
        s[:N_POS] += 2.0 + 0.2 * k
        scores[f"model{k}"] = s.astype(dtype, copy=False)
    return scores, labels


class PeakPss:
    """Peak of the summed PSS of this process and its children, sampled in a thread."""

    def __init__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _pss_kb(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _pids(self):
        me = os.getpid()
        pids = [me]
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                        pids.append(int(d.name))
                except (OSError, IndexError, ValueError):
                    pass
        return pids

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(self._pss_kb(p) for p in self._pids()))
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def s_from_roc_curve(fpr, tpr, a, b) -> float:
    """S over the ROC points of sklearn: s(f) = tpr at the last point with fpr <= f."""
    nxt = np.r_[fpr[1:], np.inf]
    with np.errstate(divide="ignore"):
        width = np.log(np.minimum(nxt, b)) - np.log(np.maximum(fpr, a))
    return float(np.sum(tpr * np.maximum(width, 0)) / np.log(b / a))


def plain_resample(scores, labels, rng, a, b):
    """One resample the plain way: draw every sample, sklearn's ROC per model."""
    from sklearn.metrics import roc_curve

    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    idx = np.r_[pos[rng.integers(0, len(pos), len(pos))], neg[rng.integers(0, len(neg), len(neg))]]
    y = labels[idx]
    out = {}
    for k, v in scores.items():
        fpr, tpr, _ = roc_curve(y, v[idx])
        out[k] = s_from_roc_curve(fpr, tpr, a, b)
    return out, idx


def side_by_side(n_neg: int, plain_reps: int, fast_reps: int) -> dict:
    scores, labels = make_scores(n_neg, seed=1, dtype=np.float64)
    rng = np.random.default_rng(3)
    t0 = time.perf_counter()
    for _ in range(plain_reps):
        plain, idx = plain_resample(scores, labels, rng, A, B)
    t_plain = (time.perf_counter() - t0) / plain_reps
    # the same weights through the exact weighted S: equal to the plain ROC's S
    w = np.bincount(idx, minlength=len(labels))
    for k, v in scores.items():
        mine = weighted_mean_sensitivity(v[labels == 1], v[labels == 0], w[labels == 1],
                                         w[labels == 0], A, B)
        assert abs(mine - plain[k]) < 1e-9, (k, mine, plain[k])
    plan = _Plan(scores, labels, None, A, B, np.geomspace(A, B, 61), seed=0)
    t0 = time.perf_counter()
    for r in range(fast_reps):
        plan.resample(r)
    t_fast = (time.perf_counter() - t0) / fast_reps
    return {"plain": t_plain, "fast": t_fast, "union": len(plan.union)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--negatives", type=int, default=27_000_000)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--patients", type=int, default=267)
    ap.add_argument("--compare-negatives", type=int, default=2_000_000)
    ap.add_argument("--plain-reps", type=int, default=3)
    args = ap.parse_args()

    cmp = side_by_side(args.compare_negatives, args.plain_reps, 100)

    scores, labels = make_scores(args.negatives)
    patients = np.random.default_rng(5).integers(0, args.patients, len(labels)).astype(np.int32)
    rows = []
    for unit in ("sample", "patient"):
        with PeakPss() as mem:
            t0 = time.perf_counter()
            res = paired_bootstrap(scores, labels, None if unit == "sample" else patients,
                                   n_boot=args.n_boot, seed=17, a=A, b=B, workers=args.workers,
                                   log=lambda m: None)
            total = time.perf_counter() - t0
        lo, hi = np.percentile(res["boot"]["model0"], [2.5, 97.5])
        own = res["union"] if res["union"] is not None else max(res["top"].values())
        rows.append((unit, own, total, mem.peak, res["fallbacks"], res["S"]["model0"], lo, hi))

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}\n")
    print("| unit | negatives | positives | models | resamples | workers | negatives with own "
          "weights | time | ratio to sample | peak memory (PSS) | fallbacks | model0 S (95% CI) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for unit, own, total, peak, fallbacks, s0, lo, hi in rows:
        print(f"| {unit} | {args.negatives:,} | {N_POS:,} | {N_MODELS} | {args.n_boot} | "
              f"{args.workers} | {own:,} ({own / args.negatives:.0%}) | {total:.0f} s | "
              f"{total / rows[0][2]:.2f} | {peak / 2**20:.2f} GB | {fallbacks} | "
              f"{100 * s0:.2f}% ({100 * lo:.2f}-{100 * hi:.2f}) |")
    print(f"\nBy patient: {args.patients} patients, every sample assigned to one at random; own "
          "weights: the sample unit's union of top sets, the patient unit's largest top set.\n")
    n = args.compare_negatives
    print(f"Side by side at {n:,} negatives ({cmp['union']:,} in the union of top sets), "
          f"one process, per resample of 6 models:\n")
    print("| method | s per resample | 1000 resamples | speed-up |")
    print("| --- | --- | --- | --- |")
    print(f"| resample every sample + sklearn roc_curve ({args.plain_reps} resamples) | "
          f"{cmp['plain']:.3f} | {cmp['plain'] * 1000 / 60:.0f} min | 1x |")
    print(f"| paired_bootstrap (100 resamples) | {cmp['fast']:.4f} | "
          f"{cmp['fast'] * 1000:.0f} s | {cmp['plain'] / cmp['fast']:.0f}x |")


if __name__ == "__main__":
    main()
