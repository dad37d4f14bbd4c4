"""Patches stage: TFRecord shards of patches, per (variant, fold), and their record format.
The tf.data readers that feed training and prediction are in ``mcdetect.cnn.streams``.

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

from mcdetect.patches.samples import extract, iter_image_samples

__all__ = ["write_shards", "write_fold", "write_folds", "features", "FEATURE_DOC", "PARTS"]

PARTS = ("train", "val")  # a fold's training images and its validation images (sample table flag)

FEATURE_DOC = {
    "count": "int64 scalar: n patches in the record",
    "size": "int64 scalar: patch side",
    "patches": "bytes: n*size*size uint16 little-endian, C order (patch, row, col); /65535",
    "labels": "bytes: n uint8, 1 = MC",
    "sample_ids": "bytes: n int64 little-endian",
}


def features():
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
    # deterministic: the features map in key order, so a shard's bytes do not depend on the
    # process's hash seed (the same data give the same file)
    example = tf.train.Example(features=tf.train.Features(feature=feats))
    return example.SerializeToString(deterministic=True)


def _moments(patches: np.ndarray, s1: int, s2: int, s3: int, chunk: int = 16384):
    """Add to s1, s2, s3 the sum of the values of uint16 patches, the sum of their squares and the
    sum of the squared patch sums, exactly (Python integers; each chunk's partial sums fit in
    uint64), in chunks so the squares never take more than a few MB."""
    flat = patches.reshape(len(patches), -1)
    for start in range(0, len(flat), chunk):
        part = flat[start : start + chunk]
        sums = part.sum(axis=1, dtype=np.uint64)
        s1 += int(sums.sum(dtype=np.uint64))
        s2 += int(np.square(part, dtype=np.uint32).sum(dtype=np.uint64))
        s3 += int(np.square(sums).sum(dtype=np.uint64))
    return s1, s2, s3


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


def write_folds(sample_table, folds, image_path, out_dirs, log=print, **kwargs) -> dict:
    """Write every fold of one variant (``folds[k]`` into ``out_dirs[k]``, see ``write_fold``),
    logging each part's counts; returns {fold: {part: index}}."""
    written = {}
    for fold, out_dir in zip(folds, out_dirs, strict=True):
        written[fold] = write_fold(sample_table, fold, image_path, out_dir, log=log, **kwargs)
        for part, index in written[fold].items():
            log(f"fold {fold} {part}: {index['patches']} patches ({index['positives']} positive)"
                f" in {len(index['files'])} file(s)")
    return written


class _MixingWriter:
    """Patches in, records out: a seeded buffer of up to ``mix_buffer`` patches is shuffled and cut
    into records of ``block`` patches, ``shard_size`` patches per file."""

    def __init__(self, out: Path, rng, *, block: int, shard_size: int, mix_buffer: int,
                 compression: str):
        import tensorflow as tf

        self.tf, self.out, self.rng = tf, out, rng
        self.block, self.shard_size, self.mix_buffer = block, shard_size, mix_buffer
        self.suffix = ".tfrecord.gz" if compression == "gzip" else ".tfrecord"
        self.options = tf.io.TFRecordOptions(
            compression_type="GZIP" if compression == "gzip" else "")
        self.files, self.writer, self.in_file = [], None, 0
        self.buf_p, self.buf_l, self.buf_i, self.buffered = [], [], [], 0

    def add(self, patches, labels, ids) -> None:
        self.buf_p.append(np.ascontiguousarray(patches))
        self.buf_l.append(labels)
        self.buf_i.append(ids)
        self.buffered += len(labels)
        if self.buffered >= self.mix_buffer:
            self._flush()

    def _open_next(self) -> None:
        if self.writer is not None:
            self.writer.close()
        name = f"shard-{len(self.files):05d}{self.suffix}"
        self.files.append(name)
        self.writer = self.tf.io.TFRecordWriter(str(self.out / name), self.options)
        self.in_file = 0

    def _flush(self, final: bool = False) -> None:
        if not self.buffered:
            return
        p, lab = np.concatenate(self.buf_p), np.concatenate(self.buf_l)
        ids = np.concatenate(self.buf_i)
        order = self.rng.permutation(len(lab))
        p, lab, ids = np.take(p, order, axis=0), lab[order], ids[order]
        keep = len(lab) if final else (len(lab) // self.block) * self.block
        for start in range(0, keep, self.block):
            if self.writer is None or self.in_file >= self.shard_size:
                self._open_next()
            stop = min(start + self.block, keep)
            self.writer.write(_example(p[start:stop], lab[start:stop], ids[start:stop]))
            self.in_file += stop - start
        self.buf_p, self.buf_l, self.buf_i = [p[keep:]], [lab[keep:]], [ids[keep:]]
        self.buffered = len(lab) - keep

    def close(self) -> list[str]:
        """Write what is left; returns the shard file names."""
        self._flush(final=True)
        if self.writer is not None:
            self.writer.close()
        return self.files


def _write_fold_files(out: Path, fold: int, size: int, total: int, s1: int, s2: int, s3: int,
                      pos_patches: list, pos_ids: list) -> dict:
    """Beside the shards: ``positives.npz`` (the positive pool) and ``stats.json`` (in [0, 1]
    units, from exact integer sums: the mean and standard deviation of the values, and
    ``centred_std``, the standard deviation of the values minus their own patch's mean, i.e. the
    root of the mean within-patch variance). Returns the statistics."""
    n_pix = total * size * size
    mean_raw = s1 / n_pix if n_pix else 0.0
    var_raw = (s2 - s1 * s1 / n_pix) / n_pix if n_pix else 1.0
    within_raw = (size * size * s2 - s3) / (size * size * n_pix) if n_pix else 1.0
    mean = mean_raw / 65535.0
    std = float(np.sqrt(var_raw)) / 65535.0 if var_raw > 0 else 1.0
    centred_std = float(np.sqrt(within_raw)) / 65535.0 if within_raw > 0 else 1.0
    np.savez(out / "positives.npz",
             patches=np.concatenate(pos_patches) if pos_patches else np.zeros((0, size, size),
                                                                              np.uint16),
             sample_ids=np.concatenate(pos_ids) if pos_ids else np.zeros(0, np.int64))
    stats = {"fold": fold, "patches": total, "mean": mean, "std": std,
             "centred_std": centred_std, "scale": 65535}
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def write_shards(sample_table, fold: int, image_path, out_dir, *, size: int = 12,
                 block: int = 1024, shard_size: int = 1_000_000, compression: str = "none",
                 mix_buffer: int = 262_144, seed: int = 0, validation: bool | None = None,
                 log=print) -> dict:
    """Write the shards of one fold of one variant; returns the index (also ``index.json``).

    ``image_path(image_id)`` gives the preprocessed 16-bit PNG of an image; ``validation``
    True/False keeps only the fold's validation / training images (None: all of them).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    part = {None: "", True: " val", False: " train"}[validation]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(fold)]
                                                       + ([int(validation)] if part else [])))
    writer = _MixingWriter(out, rng, block=block, shard_size=shard_size, mix_buffer=mix_buffer,
                           compression=compression)
    total = positives_n = 0
    s1 = s2 = s3 = 0  # exact integer sums: values, their squares, squared patch sums
    pos_patches, pos_ids = [], []
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
            s1, s2, s3 = _moments(patches, s1, s2, s3)
            pos = labels == 1
            pos_patches.append(patches[pos].copy())
            pos_ids.append(ids[pos])
            writer.add(patches, labels, ids)
            total += len(labels)
            positives_n += int(pos.sum())
            if (k + 1) % max(1, len(items) // 10) == 0 or k + 1 == len(items):
                log(f"[shards] fold {fold}{part}: {k + 1}/{len(items)} images, {total} patches")
    files = writer.close()
    _write_fold_files(out, fold, size, total, s1, s2, s3, pos_patches, pos_ids)
    index = {
        "fold": fold, "patches": total, "positives": positives_n, "negatives": total - positives_n,
        "size": size, "block": block, "compression": compression, "files": files,
        "features": FEATURE_DOC,
    }
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index
