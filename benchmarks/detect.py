"""Benchmark of whole-mammogram detection. Run: .venv/bin/python benchmarks/detect.py

On one synthetic 2294x1914 mammogram (the paper's image size at 0.1 mm), dehazed, for each net
(untrained weights: speed does not depend on them):

* the project's scorer (``mcdetect.detection.scoring.score_positions``: patches cut from the
  16-bit image by a strided view, standardised, ``predict_on_batch`` in batches of 4,096) against
  the baseline in the same run, ``model.predict`` on the same patches cut out beforehand (the way
  the shards feed prediction), on the same 20,000 breast positions: patches per second and ratio;
* the time of the candidates mode on the whole image (first stage + scoring 5,000 candidates),
  and the dense mode's time extrapolated from the measured rate to every breast position.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from mcdetect.cnn.models import build_model
from mcdetect.data.synthetic import SyntheticConfig, generate_image
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

STATS = {"mean": 0.5, "std": 0.2}


def timed(fn, repeat=3):
    fn()  # warm-up (graph tracing)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
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
    print(f"{'net':8} {'scorer/s':>10} {'predict/s':>10} {'ratio':>6} {'candidates s':>13} "
          f"{'dense s (extrap.)':>18}")
    for arch in ("vgg", "alexnet"):
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


if __name__ == "__main__":
    main()
