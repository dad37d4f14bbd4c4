"""CNN stage: the tf.data streams that feed training and prediction from the shards written by
``mcdetect.patches.shards`` -- the balanced, augmented training stream of a fold, every sample of a
fold once for scoring, and the standardisation of the inputs by the training folds' statistics.

Standardisation (the paper: "mean subtraction and normalization to unit variance"), two readings,
``train.standardise``:

``patch`` (the default)
    each patch minus its own mean, divided by the training folds' within-patch standard deviation
    (``centred_std``): the net sees the patch's local structure at unit variance, not the
    brightness of the tissue it lies on.
``dataset``
    the training folds' pixel mean subtracted and their pixel standard deviation divided out, one
    affine map for every patch: brightness differences between tissues (standard deviation 0.28 in
    the default study's raw images, against 0.026 within patches) dominate the input's variance.

``standardisation(stats)`` gives the map as (scale, shift, centre) for the numpy and TensorFlow
readers alike: ``x = v * scale - shift``, then, with ``centre``, minus the patch's mean of x."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mcdetect.patches.shards import PARTS, features

__all__ = ["fold_parts", "load_stats", "combined_stats", "eval_dataset", "train_dataset",
           "standardisation", "standardise_patches", "STANDARDISE"]

STANDARDISE = ("patch", "dataset")


def fold_parts(fold_dir, parts=PARTS) -> list[Path]:
    """The shard folders of a fold's parts that hold any patches."""
    out = []
    for part in parts:
        d = Path(fold_dir) / part
        if json.loads((d / "index.json").read_text())["patches"] > 0:
            out.append(d)
    return out


def combined_stats(shard_dirs, standardise: str = "patch") -> dict:
    """The statistics of the patches of several folds, from each fold's stats.json: pixel mean
    and std, the within-patch std (``centred_std``, pooled over the folds' patches), and which
    standardisation uses them (``standardise``, one of ``STANDARDISE``)."""
    if standardise not in STANDARDISE:
        raise ValueError(f"train.standardise must be one of {', '.join(STANDARDISE)}, "
                         f"got {standardise!r}")
    stats = []
    for d in shard_dirs:
        s = json.loads((Path(d) / "stats.json").read_text())
        if "centred_std" not in s:
            raise ValueError(f"{Path(d) / 'stats.json'} has no centred_std: these shards were "
                             "written by an older mcdetect; write them again (snakemake "
                             "--forcerun shards)")
        stats.append(s)
    n = np.array([s["patches"] for s in stats], float)
    mean = np.array([s["mean"] for s in stats])
    var = np.array([s["std"] for s in stats]) ** 2
    total_mean = float((n * mean).sum() / n.sum())
    total_var = float((n * (var + (mean - total_mean) ** 2)).sum() / n.sum())
    within = float((n * np.array([s["centred_std"] for s in stats]) ** 2).sum() / n.sum())
    return {"mean": total_mean, "std": float(np.sqrt(total_var)),
            "centred_std": float(np.sqrt(within)), "patches": int(n.sum()),
            "standardise": standardise}


def standardisation(stats: dict) -> tuple[float, float, bool]:
    """(scale, shift, centre) of the standardisation ``stats`` describe, for 16-bit values v:
    ``x = v * scale - shift``, then minus each patch's own mean of x when ``centre``. Statistics
    without ``standardise`` (model cards written before the choice existed) are ``dataset``."""
    mode = stats.get("standardise", "dataset")
    if mode == "patch":
        return 1.0 / (65535.0 * stats["centred_std"]), 0.0, True
    if mode == "dataset":
        return 1.0 / (65535.0 * stats["std"]), stats["mean"] / stats["std"], False
    raise ValueError(f"unknown standardisation {mode!r}; known: {', '.join(STANDARDISE)}")


def standardise_patches(patches: np.ndarray, stats: dict) -> np.ndarray:
    """16-bit patches (n, s, s) standardised as the TensorFlow readers do, float32 (n, s, s, 1)."""
    scale, shift, centre = standardisation(stats)
    x = np.asarray(patches).astype(np.float32) * np.float32(scale) - np.float32(shift)
    if centre:
        x = x - x.mean(axis=(1, 2), keepdims=True, dtype=np.float32)
    return x[..., None]


def load_stats(shard_dir) -> dict:
    return json.loads((Path(shard_dir) / "stats.json").read_text())


def _files(shard_dir):
    index = json.loads((Path(shard_dir) / "index.json").read_text())
    files = [str(Path(shard_dir) / f) for f in index["files"]]
    return files, ("GZIP" if index["compression"] == "gzip" else ""), index


def _parse(size):
    import tensorflow as tf

    feats = features()

    def parse(record):
        ex = tf.io.parse_single_example(record, feats)
        patches = tf.reshape(tf.io.decode_raw(ex["patches"], tf.uint16), [-1, size, size])
        labels = tf.io.decode_raw(ex["labels"], tf.uint8)
        ids = tf.io.decode_raw(ex["sample_ids"], tf.int64)
        return patches, labels, ids

    return parse


def _standardise(stats):
    import tensorflow as tf

    scale, shift, centre = standardisation(stats)

    def f(patches):
        x = tf.cast(patches, tf.float32) * scale - shift
        if centre:
            x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        return x[..., None]

    return f


def eval_dataset(shard_dirs, stats: dict, batch: int = 4096):
    """Every sample of the shards (one folder or a list) exactly once, unaugmented: (x, label,
    sample_id) batches, x standardised with ``stats`` (the *training* folds' statistics), shape
    (n, 12, 12, 1)."""
    import tensorflow as tf

    dirs = [shard_dirs] if isinstance(shard_dirs, (str, Path)) else list(shard_dirs)
    files, comp, index = [], "", None
    for d in dirs:
        f, comp, index = _files(d)
        files += f
    if index is None:
        raise ValueError("eval_dataset: no shard folder given")
    std = _standardise(stats)
    ds = tf.data.TFRecordDataset(files, compression_type=comp, num_parallel_reads=1)
    ds = ds.map(_parse(index["size"]), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.map(lambda p, lab, i: (std(p), tf.cast(lab, tf.int32), i),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.rebatch(batch).prefetch(tf.data.AUTOTUNE)


def _dihedral(x, t):
    """Apply dihedral transform t in 0..7 (rot90 by t % 4, then a left-right flip if t >= 4) to
    each patch of x (n, s, s), vectorised."""
    import tensorflow as tf

    r1 = tf.reverse(tf.transpose(x, [0, 2, 1]), [2])  # rot90 clockwise
    r2 = tf.reverse(x, [1, 2])
    r3 = tf.reverse(tf.transpose(x, [0, 2, 1]), [1])
    rots = tf.stack([x, r1, r2, r3], axis=0)
    allt = tf.concat([rots, tf.reverse(rots, [3])], axis=0)  # (8, n, s, s)
    n = tf.shape(x)[0]
    return tf.gather_nd(allt, tf.stack([t, tf.range(n)], axis=1))


def train_dataset(shard_dir, stats: dict, batch: int = 32, seed: int = 0, epoch: int = 0,
                  record_buffer: int = 256, with_transforms: bool = False,
                  negative_share: float = 1.0):
    """One epoch of the balanced, augmented training stream of a fold.

    Records are read in a seeded shuffled order; in each, the negatives are kept (each with
    probability ``negative_share``: 1 = every negative once, the paper's epoch; less gives shorter
    epochs that each see a different random subset) and as many positives are drawn (with
    replacement) from the fold's positive pool, each under a random one of the 8 flips/90-degree
    rotations; the mix is shuffled, standardised with ``stats`` and cut into batches of
    ``batch``. Random draws are stateless functions of (seed, epoch, record), so a rerun gives the
    same stream. Yields (x, label), or (x, label, transform) with ``with_transforms`` (transform
    -1 for negatives).
    """
    if not 0 < negative_share <= 1:
        raise ValueError(f"negative_share must be in (0, 1], got {negative_share}")
    import tensorflow as tf

    files, comp, index = _files(shard_dir)
    size = index["size"]
    pool = np.load(Path(shard_dir) / "positives.npz")["patches"]
    if len(pool) == 0:
        raise ValueError(f"{shard_dir}: no positive patches to balance the training stream with")
    pool = tf.constant(pool)
    m = int(pool.shape[0])
    std = _standardise(stats)
    rng = np.random.default_rng([int(seed), int(epoch)])
    order = [files[i] for i in rng.permutation(len(files))]
    ds = tf.data.TFRecordDataset(order, compression_type=comp)
    ds = ds.shuffle(record_buffer, seed=int(rng.integers(2**31)), reshuffle_each_iteration=False)
    ds = ds.map(_parse(size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.enumerate()
    base = int(rng.integers(2**31))

    def balance(k, patches, labels, ids):
        neg = tf.boolean_mask(patches, tf.equal(labels, 0))
        s = tf.stack([tf.cast(base, tf.int64), k])
        if negative_share < 1:
            keep = tf.random.stateless_uniform([tf.shape(neg)[0]], seed=s + 3) < negative_share
            neg = tf.boolean_mask(neg, keep)
        n = tf.shape(neg)[0]
        pick = tf.random.stateless_uniform([n], seed=s, maxval=m, dtype=tf.int32)
        t = tf.random.stateless_uniform([n], seed=s + 1, maxval=8, dtype=tf.int32)
        pos = _dihedral(tf.gather(pool, pick), t)
        x = tf.concat([neg, pos], axis=0)
        y = tf.concat([tf.zeros([n], tf.int32), tf.ones([n], tf.int32)], axis=0)
        tt = tf.concat([tf.fill([n], -1), t], axis=0)
        perm = tf.argsort(tf.random.stateless_uniform([2 * n], seed=s + 2))
        x, y, tt = tf.gather(x, perm), tf.gather(y, perm), tf.gather(tt, perm)
        return (std(x), y, tt) if with_transforms else (std(x), y)

    ds = ds.map(lambda k, rec: balance(k, *rec), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    return ds.rebatch(batch).prefetch(tf.data.AUTOTUNE)
