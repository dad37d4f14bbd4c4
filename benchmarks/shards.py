"""Benchmark of patch sharding and the input pipeline.

Run: .venv/bin/python benchmarks/shards.py [--patches 5000000]

* Writing: ``mcdetect.patches.shards.write_shards`` on 20 random 2294x1914 16-bit PNGs with
  patches/20 samples each (positions may overlap; 0.1% positives), in a child process whose
  peak resident memory is reported; beside it the one-Example-per-patch baseline on 200,000 patches.
* Reading: the evaluation stream (read + parse + decode + standardise, every patch once) and the
  balanced training stream (plus resampling and augmentation of positives, batches of 256), beside
  the baseline of one Example per patch parsed with parse_single_example.
Prints Markdown for BENCHMARKS.md. Uses 2 threads, like the CI machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]

ROWS, COLS, N_IMAGES = 2294, 1914, 20


def make_inputs(root: Path, patches: int):
    from mcdetect.patches.samples import ImageSamples, SampleTableWriter

    rng = np.random.default_rng(0)
    writer = SampleTableWriter(root / "samples.parquet")
    per = patches // N_IMAGES
    for k in range(N_IMAGES):
        image_id = f"img-{k:010x}"
        img = rng.integers(0, 65535, (ROWS, COLS), dtype=np.uint16)
        cv2.imwrite(str(root / f"{image_id}.png"), img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        xy = np.stack([rng.integers(6, COLS - 6, per), rng.integers(6, ROWS - 6, per)], 1)
        n_pos = max(1, per // 1000)
        writer.add(image_id, 0, ImageSamples(xy[:n_pos].astype(np.int32),
                                             xy[n_pos:].astype(np.int32), 0))
    writer.close()


def child_write(root: str, out: str):
    """Run in a child process: write the shards, print elapsed seconds and the patch count."""
    import tensorflow as tf  # noqa: F401  (imported before the clock starts)

    from mcdetect.patches.shards import write_shards

    start = time.perf_counter()
    index = write_shards(Path(root) / "samples.parquet", 0,
                         lambda i: Path(root) / f"{i}.png", out, log=lambda *a: None)
    print(json.dumps({"seconds": time.perf_counter() - start, "patches": index["patches"]}))


def per_patch_baseline(root: Path, n: int):
    """One Example per patch: write n patches, then read them back with parse_single_example."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    patches = rng.integers(0, 65535, (n, 12, 12), dtype=np.uint16)
    path = str(root / "per_patch.tfrecord")
    start = time.perf_counter()
    with tf.io.TFRecordWriter(path) as w:
        for k in range(n):
            feats = {
                "patch": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[patches[k].tobytes()])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[0])),
                "sample_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[k])),
            }
            w.write(tf.train.Example(features=tf.train.Features(feature=feats))
                    .SerializeToString())
    write_rate = n / (time.perf_counter() - start)
    spec = {"patch": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64),
            "sample_id": tf.io.FixedLenFeature([], tf.int64)}

    def parse(r):
        ex = tf.io.parse_single_example(r, spec)
        x = tf.cast(tf.reshape(tf.io.decode_raw(ex["patch"], tf.uint16), [12, 12, 1]), tf.float32)
        return (x / 65535.0 - 0.5) / 0.25, ex["label"], ex["sample_id"]

    ds = tf.data.TFRecordDataset(path).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(4096).prefetch(tf.data.AUTOTUNE)
    start = time.perf_counter()
    count = sum(int(b[0].shape[0]) for b in ds)
    read_rate = count / (time.perf_counter() - start)
    return write_rate, read_rate


def read_rates(shards: Path):
    import tensorflow as tf

    from mcdetect.cnn.streams import eval_dataset, load_stats, train_dataset

    stats = load_stats(shards)
    start = time.perf_counter()
    count = sum(int(b[0].shape[0]) for b in eval_dataset(shards, stats, batch=4096))
    eval_rate = count / (time.perf_counter() - start)
    start = time.perf_counter()
    count = 0
    for x, _ in train_dataset(shards, stats, batch=256, seed=0):
        count += int(x.shape[0])
    train_rate = count / (time.perf_counter() - start)
    del tf
    return eval_rate, train_rate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--patches", type=int, default=5_000_000)
    parser.add_argument("--baseline", type=int, default=200_000)
    args = parser.parse_args()
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "2")
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_inputs(root, args.patches)
        out = root / "shards"
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(root), str(out)],
            capture_output=True, text=True, check=True,
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        write_rate = result["patches"] / result["seconds"]
        base_write, base_read = per_patch_baseline(root, args.baseline)
        eval_rate, train_rate = read_rates(out)
        size_gb = sum(f.stat().st_size for f in out.iterdir()) / 1e9
    print(f"Machine: {os.cpu_count()} cores; {result['patches']:,} patches of 12x12 uint16 from "
          f"{N_IMAGES} PNGs of {ROWS}x{COLS}; blocks of 1024, 1M patches per file, uncompressed "
          f"({size_gb:.2f} GB).\n")
    print("| stage | blocks (this project) | one Example per patch (baseline) | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| write, patches/s (incl. PNG decode, extraction, mixing) | {write_rate:,.0f} | "
          f"{base_write:,.0f} | {write_rate / base_write:.1f}x |")
    print(f"| read + decode + standardise, patches/s (evaluation stream) | {eval_rate:,.0f} | "
          f"{base_read:,.0f} | {eval_rate / base_read:.1f}x |")
    print(f"| balanced training stream (resampling, augmentation, batches of 256), patches/s | "
          f"{train_rate:,.0f} | | |")
    print(f"\nPeak resident memory of the process writing {result['patches']:,} patches "
          f"(TensorFlow included): {peak_gb:.2f} GB.")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child_write(sys.argv[2], sys.argv[3])
    else:
        main()
