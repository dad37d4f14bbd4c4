"""Benchmark of whole-mammogram detection. Run: .venv/bin/python benchmarks/detect.py
[--part all|scorer|dense] [--nets vgg alexnet]

On one synthetic 2294x1914 mammogram (the paper's image size at 0.1 mm), dehazed, for each net
(untrained weights: speed does not depend on them), part ``scorer``:

* the project's scorer (``mcdetect.detection.scoring.score_positions``: patches cut from the
  16-bit image by a strided view, standardised, ``predict_on_batch`` in batches of 4,096) against
  the baseline in the same run, ``model.predict`` on the same patches cut out beforehand (the way
  the shards feed prediction), on the same 20,000 breast positions: patches per second and ratio;
* the time of the candidates mode on the whole image (first stage + scoring 5,000 candidates),
  and the time of scoring every breast position patch by patch (the dense mode's path at a
  stride above 1) extrapolated from the measured rate.

Part ``dense``: the dense mode's exact convolutional form (``mcdetect.detection.dense``, through
``score_map(..., mode="dense")``) on the whole image, every scorable breast position, one run
after a warm-up on a crop, against the baseline in the same run: ``model.predict`` (batch 4,096)
on the same positions' patches cut out beforehand -- every position for the VGG-like net, for
the AlexNet-like net (about 1,000 patches/s) the fixed sample of 20,000 positions, its time
scaled per position. Printed: seconds per image, the ratio of the times per position, the
largest difference between the two scores at the baseline's positions, and the
multiply-accumulates per position (dense form) and per patch, whose ratio bounds the gain of
the arithmetic.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from mcdetect.cnn.models import build_model, margin
from mcdetect.data.synthetic import SyntheticConfig, generate_image
from mcdetect.detection.dense import mac_counts
from mcdetect.detection.scoring import (
    candidates,
    dense_positions,
    quantise,
    score_map,
    score_positions,
)
from mcdetect.patches.samples import extract
from mcdetect.preprocessing.mask import breast_mask
from mcdetect.preprocessing.variants import dehaze, normalise

# One affine map for every patch (train.standardise: dataset), the standardisation that has the
# exact convolutional form (under the default, patch, the dense mode scores patch by patch).
STATS = {"mean": 0.5, "std": 0.2, "standardise": "dataset"}


def timed(fn, repeat=3):
    fn()  # warm-up (graph tracing)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scorer_part(image, mask, image16, dense, xy, nets) -> None:
    print(f"{'net':8} {'scorer/s':>10} {'predict/s':>10} {'ratio':>6} {'candidates s':>13} "
          f"{'dense s (extrap.)':>18}")
    for arch in nets:
        model = build_model(arch, seed=1)
        t_ours = timed(lambda m=model: score_positions(m, image16, xy, STATS))
        patches = extract(image16, xy).astype(np.float32)
        x = ((patches / 65535.0 - STATS["mean"]) / STATS["std"])[..., None]
        t_base = timed(lambda m=model, x=x: m.predict(x, batch_size=4096, verbose=0))
        t_cand = timed(lambda m=model: score_map(m, image, mask, STATS, max_candidates=5000),
                       repeat=1)
        rate = len(xy) / t_ours
        print(f"{arch:8} {rate:10,.0f} {len(xy) / t_base:10,.0f} {t_base / t_ours:6.2f} "
              f"{t_cand:13.1f} {len(dense) / rate:18,.0f}")
    n_cand = len(candidates(image, mask, 5000))
    print(f"candidates per image: {n_cand:,} (at most 5,000)")


def predict_margins(model, image16, xy, chunk=100_000):
    """``model.predict`` margins of the patches at ``xy``, cut out beforehand chunk by chunk
    (untimed); returns the margins and the seconds spent in ``predict``."""
    out, spent = np.empty(len(xy), np.float32), 0.0
    for start in range(0, len(xy), chunk):
        patches = extract(image16, xy[start:start + chunk]).astype(np.float32)
        x = (patches * np.float32(1 / (65535.0 * STATS["std"]))
             - np.float32(STATS["mean"] / STATS["std"]))[..., None]
        t0 = time.perf_counter()
        logits = model.predict(x, batch_size=4096, verbose=0)
        spent += time.perf_counter() - t0
        out[start:start + chunk] = np.asarray(margin(np.asarray(logits, np.float32)))
    return out, spent


def dense_part(image, mask, image16, dense, xy, nets) -> None:
    print(f"{'net':8} {'dense s':>8} {'us/pos':>7} {'baseline pos':>12} {'predict s (all)':>16} "
          f"{'us/pos':>7} {'ratio':>6} {'max |diff|':>10} {'MAC/pos dense':>14} "
          f"{'MAC/patch':>11} {'bound':>6}")
    for arch in nets:
        model = build_model(arch, seed=1)
        macs = mac_counts(model)
        score_map(model, image[1000:1300, 200:500], mask[1000:1300, 200:500], STATS,
                  mode="dense")  # warm-up
        start = time.perf_counter()
        scores = score_map(model, image, mask, STATS, mode="dense")
        t_dense = time.perf_counter() - start
        n = int(np.isfinite(scores).sum())
        assert n == len(dense)
        base_xy = dense if arch == "vgg" else xy
        model.predict(np.zeros((4096, 12, 12, 1), np.float32), batch_size=4096, verbose=0)
        want, t_base = predict_margins(model, image16, base_xy)
        diff = float(np.abs(scores[base_xy[:, 1], base_xy[:, 0]] - want).max())
        per_dense, per_base = t_dense / n, t_base / len(base_xy)
        print(f"{arch:8} {t_dense:8,.0f} {per_dense * 1e6:7.1f} {len(base_xy):12,} "
              f"{per_base * n:16,.0f} {per_base * 1e6:7.1f} {per_base / per_dense:6.2f} "
              f"{diff:10.1e} {macs['dense']:14,} {macs['patch']:11,} {macs['bound']:6.2f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "scorer", "dense"), default="all")
    parser.add_argument("--nets", nargs="+", choices=("vgg", "alexnet"),
                        default=["vgg", "alexnet"])
    args = parser.parse_args()
    cfg = SyntheticConfig(rows=2294, cols=1914)
    stored = generate_image(cfg, 0, "L", "CC").stored
    image = stored.astype(np.float32) / (2**cfg.bits_stored - 1)
    image = 1.0 - image  # attenuating = bright, as the reader gives it
    mask = breast_mask(image)
    image = dehaze(normalise(image, mask, 90))
    image16 = quantise(image)
    dense = dense_positions(mask)
    rng = np.random.default_rng(0)
    xy = dense[rng.choice(len(dense), 20_000, replace=False)]
    print(f"image 2294x1914, {len(dense):,} breast positions; 20,000 sampled")
    if args.part in ("all", "scorer"):
        scorer_part(image, mask, image16, dense, xy, args.nets)
    if args.part in ("all", "dense"):
        dense_part(image, mask, image16, dense, xy, args.nets)


if __name__ == "__main__":
    main()
