"""TFRecord shards of patches, and the tf.data readers that feed training and evaluation.

On disk, per (variant, fold), a folder of ``shard-NNNNN.tfrecord`` files (``.tfrecord.gz`` with
``compression: gzip``). Every record is one ``tf.train.Example`` holding a *block* of patches
(one record per patch is far too slow to read: about 26,000 patches/s against 1.4 million for
blocks of 1,024, measured on 2 cores):

==============  ===========================  =================================================
feature         spec                         content
==============  ===========================  =================================================
``count``       ``FixedLenFeature([], int64)``   n, patches in this record
``size``        ``FixedLenFeature([], int64)``   patch side (12)
``patches``     ``FixedLenFeature([], string)``  n*size*size uint16, little-endian, C order
                                                 (patch, row, column); value / 65535 = intensity
``labels``      ``FixedLenFeature([], string)``  n uint8 (1 = MC)
``sample_ids``  ``FixedLenFeature([], string)``  n int64, little-endian (the sample table's ids)
==============  ===========================  =================================================

Plain tf.data reads them::

    ds = tf.data.TFRecordDataset(files, compression_type="")   # or "GZIP"
    ex = ds.map(lambda r: tf.io.parse_single_example(r, FEATURES))
    patches = tf.reshape(tf.io.decode_raw(ex["patches"], tf.uint16), [-1, 12, 12])

A fold's folder holds two such shard sets: ``train/`` (its training images) and ``val/`` (its
validation images, held out of training and scored after every epoch; empty when
``folds.validation_fraction`` is 0). A model trains on the ``train/`` parts of its training folds,
validates on their ``val/`` parts, and scores both parts of its held-out fold.

Beside the shards: ``index.json`` (counts, files, feature spec), and the two small files training
needs: ``positives.npz`` (the fold's positive patches and ids: the pool the balanced stream
resamples) and ``stats.json`` (mean and standard deviation of the fold's patch intensities, in
[0, 1] units).

Writing streams image by image; patches are mixed across images in a seeded buffer of
``mix_buffer`` patches before they are cut into records, so a record is not one image's patches.
Memory is bounded by that buffer and one image, never by the number of patches.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from mcdetect.patches import extract, iter_image_samples

__all__ = ["write_shards", "write_fold", "fold_parts", "eval_dataset", "train_dataset",
           "load_stats", "FEATURE_DOC", "PARTS"]

PARTS = ("train", "val")  # a fold's training images and its validation images (sample table flag)

FEATURE_DOC = {
    "count": "int64 scalar: n patches in the record",
    "size": "int64 scalar: patch side",
    "patches": "bytes: n*size*size uint16 little-endian, C order (patch, row, col); /65535",
    "labels": "bytes: n uint8, 1 = MC",
    "sample_ids": "bytes: n int64 little-endian",
}


def _features():
    import tensorflow as tf

    return {
        "count": tf.io.FixedLenFeature([], tf.int64),
        "size": tf.io.FixedLenFeature([], tf.int64),
        "patches": tf.io.FixedLenFeature([], tf.string),
        "labels": tf.io.FixedLenFeature([], tf.string),
        "sample_ids": tf.io.FixedLenFeature([], tf.string),
    }


def _example(patches: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> bytes:
    import tensorflow as tf

    def b(x):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[x]))

    def i(x):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[x]))

    feats = {
        "count": i(len(labels)),
        "size": i(patches.shape[1]),
        "patches": b(np.ascontiguousarray(patches, dtype="<u2").tobytes()),
        "labels": b(np.ascontiguousarray(labels, dtype=np.uint8).tobytes()),
        "sample_ids": b(np.ascontiguousarray(ids, dtype="<i8").tobytes()),
    }
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def _moments(patches: np.ndarray, s1: int, s2: int, chunk: int = 16384):
    """Add the sum and the sum of squares of uint16 patches to s1, s2, exactly (integers), in
    chunks so the uint32 squares never take more than a few MB."""
    flat = patches.reshape(len(patches), -1)
    for start in range(0, len(flat), chunk):
        part = flat[start : start + chunk]
        s1 += int(part.sum(dtype=np.uint64))
        s2 += int(np.square(part, dtype=np.uint32).sum(dtype=np.uint64))
    return s1, s2


def _read_png16(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.dtype != np.uint16:
        raise OSError(f"{path}: not a 16-bit PNG")
    return img


def write_fold(sample_table, fold: int, image_path, out_dir, **kwargs) -> dict:
    """Write both parts of one fold of one variant, ``out_dir/train`` and ``out_dir/val``;
    returns {part: index}. ``kwargs`` go to ``write_shards``."""
    return {part: write_shards(sample_table, fold, image_path, Path(out_dir) / part,
                               validation=part == "val", **kwargs) for part in PARTS}


def fold_parts(fold_dir, parts=PARTS) -> list[Path]:
    """The shard folders of a fold's parts that hold any patches."""
    out = []
    for part in parts:
        d = Path(fold_dir) / part
        if json.loads((d / "index.json").read_text())["patches"] > 0:
            out.append(d)
    return out


def write_shards(sample_table, fold: int, image_path, out_dir, *, size: int = 12,
                 block: int = 1024, shard_size: int = 1_000_000, compression: str = "none",
                 mix_buffer: int = 262_144, seed: int = 0, validation: bool | None = None,
                 log=print) -> dict:
    """Write the shards of one fold of one variant; returns the index (also ``index.json``).

    ``image_path(image_id)`` gives the preprocessed 16-bit PNG of an image; ``validation``
    True/False keeps only the fold's validation / training images (None: all of them).
    """
    import tensorflow as tf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".tfrecord.gz" if compression == "gzip" else ".tfrecord"
    options = tf.io.TFRecordOptions(compression_type="GZIP" if compression == "gzip" else "")
    part = {None: "", True: " val", False: " train"}[validation]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(fold)]
                                                       + ([int(validation)] if part else [])))
    files, writer, in_file = [], None, 0
    total = positives_n = 0
    s1 = s2 = 0  # exact integer sums of the stored values and of their squares
    pos_patches, pos_ids = [], []
    buf_p, buf_l, buf_i, buffered = [], [], [], 0

    def open_next():
        nonlocal writer, in_file
        if writer is not None:
            writer.close()
        name = f"shard-{len(files):05d}{suffix}"
        files.append(name)
        writer = tf.io.TFRecordWriter(str(out / name), options)
        in_file = 0

    def flush(final=False):
        nonlocal buf_p, buf_l, buf_i, buffered, in_file
        if not buffered:
            return
        p, lab, ids = np.concatenate(buf_p), np.concatenate(buf_l), np.concatenate(buf_i)
        order = rng.permutation(len(lab))
        p, lab, ids = np.take(p, order, axis=0), lab[order], ids[order]
        keep = len(lab) if final else (len(lab) // block) * block
        for start in range(0, keep, block):
            if writer is None or in_file >= shard_size:
                open_next()
            stop = min(start + block, keep)
            writer.write(_example(p[start:stop], lab[start:stop], ids[start:stop]))
            in_file += stop - start
        buf_p, buf_l, buf_i = [p[keep:]], [lab[keep:]], [ids[keep:]]
        buffered = len(lab) - keep

    items = list(iter_image_samples(sample_table, fold, validation))
    with ThreadPoolExecutor(max_workers=1) as pool:  # decode the next PNG while writing
        pending = pool.submit(_read_png16, image_path(items[0][0])) if items else None
        for k, (_, table) in enumerate(items):
            image = pending.result()
            if k + 1 < len(items):
                pending = pool.submit(_read_png16, image_path(items[k + 1][0]))
            xy = np.stack([table["x"].to_numpy(), table["y"].to_numpy()], axis=1)
            patches = extract(image, xy, size)
            labels = table["label"].to_numpy().astype(np.uint8)
            ids = table["sample_id"].to_numpy()
            s1, s2 = _moments(patches, s1, s2)
            pos = labels == 1
            pos_patches.append(patches[pos].copy())
            pos_ids.append(ids[pos])
            buf_p.append(np.ascontiguousarray(patches))
            buf_l.append(labels)
            buf_i.append(ids)
            buffered += len(labels)
            total += len(labels)
            positives_n += int(pos.sum())
            if buffered >= mix_buffer:
                flush()
            if (k + 1) % max(1, len(items) // 10) == 0 or k + 1 == len(items):
                log(f"[shards] fold {fold}{part}: {k + 1}/{len(items)} images, {total} patches")
    flush(final=True)
    if writer is not None:
        writer.close()
    n_pix = total * size * size
    mean_raw = s1 / n_pix if n_pix else 0.0
    var_raw = (s2 - s1 * s1 / n_pix) / n_pix if n_pix else 1.0
    mean = mean_raw / 65535.0
    std = float(np.sqrt(var_raw)) / 65535.0 if var_raw > 0 else 1.0
    np.savez(out / "positives.npz",
             patches=np.concatenate(pos_patches) if pos_patches else np.zeros((0, size, size),
                                                                              np.uint16),
             sample_ids=np.concatenate(pos_ids) if pos_ids else np.zeros(0, np.int64))
    stats = {"fold": fold, "patches": total, "mean": mean, "std": std, "scale": 65535}
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    index = {
        "fold": fold, "patches": total, "positives": positives_n, "negatives": total - positives_n,
        "size": size, "block": block, "compression": compression, "files": files,
        "features": FEATURE_DOC,
    }
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def load_stats(shard_dir) -> dict:
    return json.loads((Path(shard_dir) / "stats.json").read_text())


def _files(shard_dir):
    index = json.loads((Path(shard_dir) / "index.json").read_text())
    files = [str(Path(shard_dir) / f) for f in index["files"]]
    return files, ("GZIP" if index["compression"] == "gzip" else ""), index


def _parse(size):
    import tensorflow as tf

    feats = _features()

    def parse(record):
        ex = tf.io.parse_single_example(record, feats)
        patches = tf.reshape(tf.io.decode_raw(ex["patches"], tf.uint16), [-1, size, size])
        labels = tf.io.decode_raw(ex["labels"], tf.uint8)
        ids = tf.io.decode_raw(ex["sample_ids"], tf.int64)
        return patches, labels, ids

    return parse


def _standardise(stats):
    import tensorflow as tf

    scale = 1.0 / (65535.0 * stats["std"])
    shift = stats["mean"] / stats["std"]

    def f(patches):
        x = tf.cast(patches, tf.float32) * scale - shift
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
