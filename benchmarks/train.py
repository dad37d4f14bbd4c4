"""Benchmark of CNN training speed (issue 5). Run: .venv/bin/python benchmarks/train.py

Training samples/s of both nets at batch 32 and 256 on this machine's CPU, fed (a) by the real
shard input (``mcdetect.shards.train_dataset``: read, decode, balance, augment, standardise) and
(b) from memory (the same standardised patches in a repeated in-memory tf.data pipeline), so the
input pipeline's cost shows as the ratio (issue 5 allows at most 10%). Then the hours one training
of the paper's protocol (30 epochs of 844,297 iterations of 32 samples) would take at the measured
speed. Works under any Keras backend for the in-memory part (KERAS_BACKEND=jax|torch).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

# The paper: 844,297 iterations of 32 per epoch (27.0M samples), 30 epochs.
PAPER_SAMPLES = 844_297 * 32 * 30
STEPS = {("vgg", 32): 400, ("vgg", 256): 80, ("alexnet", 32): 60, ("alexnet", 256): 12}


def make_shards(root: Path, negatives: int = 60_000):
    import cv2

    from mcdetect.patches import ImageSamples, SampleTableWriter
    from mcdetect.shards import write_shards

    rng = np.random.default_rng(0)
    writer = SampleTableWriter(root / "samples.parquet")
    for k in range(4):
        image_id = f"img-{k:010x}"
        img = rng.integers(0, 65535, (1024, 832), dtype=np.uint16)
        cv2.imwrite(str(root / f"{image_id}.png"), img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        xy = np.stack([rng.integers(6, 826, negatives // 4 + 200),
                       rng.integers(6, 1018, negatives // 4 + 200)], 1).astype(np.int32)
        writer.add(image_id, 0, ImageSamples(xy[:200], xy[200:], 0))
    writer.close()
    write_shards(root / "samples.parquet", 0, lambda i: root / f"{i}.png", root / "fold0",
                 log=lambda *a: None)
    return root / "fold0"


def rate(model, data, steps, batch):
    model.fit(data, steps_per_epoch=max(2, steps // 10), epochs=1, verbose=0)  # warm-up
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (time.perf_counter() - start)


def main():
    import keras
    import tensorflow as tf

    from mcdetect.models import CaffeSGD, build_model
    from mcdetect.shards import load_stats, train_dataset

    with tempfile.TemporaryDirectory() as tmp:
        shard_dir = make_shards(Path(tmp))
        stats = load_stats(shard_dir)
        rng = np.random.default_rng(1)
        memory_x = rng.normal(size=(8192, 12, 12, 1)).astype(np.float32)
        memory_y = rng.integers(0, 2, 8192).astype(np.int32)
        rows = []
        for arch in ("vgg", "alexnet"):
            for batch in (32, 256):
                steps = STEPS[(arch, batch)]
                results = {}
                for source in ("shards", "memory"):
                    keras.utils.set_random_seed(0)
                    model = build_model(arch)
                    model.compile(optimizer=CaffeSGD(1e-3, 0.9, 5e-4),
                                  loss="sparse_categorical_crossentropy")
                    if source == "shards":
                        data = train_dataset(shard_dir, stats, batch=batch, seed=0).repeat()
                    else:
                        data = (tf.data.Dataset.from_tensor_slices((memory_x, memory_y))
                                .repeat().batch(batch).prefetch(tf.data.AUTOTUNE))
                    results[source] = rate(model, data, steps, batch)
                rows.append((arch, batch, results["shards"], results["memory"]))
    print(f"Machine: {os.cpu_count()} CPU cores, Keras backend {keras.backend.backend()}, "
          f"TensorFlow {tf.__version__}.\n")
    print("| net | batch | samples/s, shard input | samples/s, from memory | input cost | "
          "hours per paper training (30 epochs x 27.0M) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for arch, batch, shards, memory in rows:
        cost = 1 - shards / memory
        print(f"| {arch}-like | {batch} | {shards:,.0f} | {memory:,.0f} | {cost:+.0%} | "
              f"{PAPER_SAMPLES / shards / 3600:,.0f} |")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
