"""Benchmark of CNN training speed. Run: .venv/bin/python benchmarks/train.py

1. Training samples/s of both nets at batch 32 and 256 on this machine's CPU, fed (a) by the real
   shard input (``mcdetect.cnn.streams.train_dataset``: read, decode, balance, augment, standardise)
   and (b) from memory (the same standardised patches in a repeated in-memory tf.data pipeline), so
   the input pipeline's cost shows as the ratio. Then the hours one training of the paper's protocol
   (30 epochs of 844,297 iterations of 32 samples) would take at the measured speed.
2. Why the AlexNet-like net is slow on a CPU: its floating-point operations per training sample
   (forward counted from the layer shapes, backward about twice the forward) against the
   machine's measured float32 matrix-product rate, and the options: the project's LRN (one
   matrix product with a banded matrix) against the plain sum of shifted channel slices (the
   baseline, in the same run), and bfloat16 mixed precision.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

# The paper: 844,297 iterations of 32 per epoch (27.0M samples), 30 epochs.
PAPER_SAMPLES = 844_297 * 32 * 30
STEPS = {("vgg", 32): 400, ("vgg", 256): 80, ("alexnet", 32): 60, ("alexnet", 256): 12}


def make_shards(root: Path, negatives: int = 60_000):
    import cv2

    from mcdetect.patches.samples import ImageSamples, SampleTableWriter
    from mcdetect.patches.shards import write_shards

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

    from mcdetect.cnn.models import CaffeSGD, build_model
    from mcdetect.cnn.streams import load_stats, train_dataset

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
                                  loss=keras.losses.SparseCategoricalCrossentropy(
                                      from_logits=True))
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
    alexnet_options(memory_x, memory_y)


def forward_flops(model) -> int:
    """Multiply-adds x 2 of the conv and dense layers for one sample (from the layer shapes)."""
    total = 0
    for layer in model.layers:
        if not layer.weights or len(layer.weights[0].shape) < 2:
            continue
        kernel = layer.weights[0].shape
        out = layer.output.shape[1:-1]  # spatial output (empty for dense)
        total += 2 * int(np.prod(out, dtype=np.int64)) * int(np.prod(kernel, dtype=np.int64))
    return total


def matmul_gflops(dtype="float32", n=2048, reps=5) -> float:
    import tensorflow as tf

    a = tf.cast(tf.random.normal([n, n]), dtype)
    tf.linalg.matmul(a, a).numpy()
    start = time.perf_counter()
    for _ in range(reps):
        r = tf.linalg.matmul(a, a)
    r.numpy()
    return reps * 2 * n**3 / (time.perf_counter() - start) / 1e9


class SliceLRN:
    """The baseline LRN: the windowed sum over channels as a sum of n shifted slices."""

    @staticmethod
    def call(self, x):
        from keras import ops

        half = self.n // 2
        channels = x.shape[-1]
        padded = ops.pad(ops.square(x), [[0, 0]] * (len(x.shape) - 1) + [[half, half]])
        total = padded[..., 0:channels]
        for i in range(1, self.n):
            total = total + padded[..., i:i + channels]
        return x / ops.power(self.k + (self.alpha / self.n) * total, self.beta)


def alexnet_options(x, y, batch=64, steps=40):
    import keras
    import tensorflow as tf

    import mcdetect.cnn.models as models

    fwd = forward_flops(models.build_model("alexnet"))
    peak = {"float32": matmul_gflops("float32"), "bfloat16": matmul_gflops("bfloat16")}
    data = (tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch)
            .prefetch(tf.data.AUTOTUNE))
    rows = []
    band_call = models.CaffeLRN.call
    for name, lrn, policy in (("band-matrix LRN (project)", band_call, "float32"),
                              ("shifted-slice LRN (baseline)", SliceLRN.call, "float32"),
                              ("band-matrix LRN, mixed bfloat16", band_call, "mixed_bfloat16")):
        models.CaffeLRN.call = lrn
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        model = models.build_model("alexnet")
        model.compile(optimizer=models.CaffeSGD(1e-3, 0.9, 5e-4),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        rows.append((name, policy, rate(model, data, steps, batch)))
    models.CaffeLRN.call = band_call
    keras.mixed_precision.set_global_policy("float32")
    print(f"\nAlexNet-like: {fwd / 1e6:.1f} MFLOP forward per sample, about {3 * fwd / 1e6:.0f} "
          f"MFLOP per training sample (forward + backward); this machine's matrix product: "
          f"{peak['float32']:,.0f} GFLOP/s float32, {peak['bfloat16']:,.0f} GFLOP/s bfloat16.\n")
    print(f"| AlexNet-like, batch {batch}, from memory | samples/s | GFLOP/s | share of the "
          "matrix-product rate | vs baseline |")
    print("| --- | --- | --- | --- | --- |")
    base = rows[1][2]
    for name, policy, r in rows:
        gflops = r * 3 * fwd / 1e9
        share = gflops / peak["bfloat16" if "bfloat16" in policy else "float32"]
        print(f"| {name} | {r:,.0f} | {gflops:,.0f} | {share:.0%} | {r / base:.2f}x |")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
