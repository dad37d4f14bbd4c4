"""Sample table, TFRecord shards and the tf.data readers."""

import json

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from mcdetect.cnn.streams import (
    _dihedral,
    combined_stats,
    eval_dataset,
    standardise_patches,
    train_dataset,
)
from mcdetect.patches.samples import SampleTableWriter, extract, image_seed, sample_image
from mcdetect.patches.shards import write_shards

SIZE = 12


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Six random 16-bit 'preprocessed' images with masks and MCs in two folds, a sample table."""
    root = tmp_path_factory.mktemp("patches")
    rng = np.random.default_rng(0)
    images, masks, mcs = {}, {}, {}
    writer = SampleTableWriter(root / "samples.parquet")
    for k in range(6):
        image_id = f"img-{k:010x}"
        img = rng.integers(0, 65535, (160, 130), dtype=np.uint16)
        cv2.imwrite(str(root / f"{image_id}.png"), img)
        mask = np.zeros(img.shape, bool)
        mask[10:150, :100] = True
        xy = rng.uniform([20, 20], [90, 140], (8, 2))
        xy[0] = (3.2, 80.0)  # too close to the left border: dropped, counted
        images[image_id], masks[image_id], mcs[image_id] = img, mask, xy
        s = sample_image(mask, xy, n_negatives=700, exclusion_radius=10, size=SIZE,
                         rng=np.random.default_rng(image_seed(5, image_id)))
        writer.add(image_id, k % 2, s)
    writer.close()
    table = pq.read_table(root / "samples.parquet").to_pandas()
    return root, images, masks, mcs, table


def write(root, table_path, fold, out, **kw):
    return write_shards(table_path, fold, lambda i: root / f"{i}.png", out, size=SIZE,
                        block=kw.pop("block", 256), shard_size=kw.pop("shard_size", 1000),
                        mix_buffer=kw.pop("mix_buffer", 900), seed=3, log=lambda *a: None, **kw)


def test_sample_table_conventions(study):
    root, images, masks, mcs, table = study
    for image_id, g in table.groupby("image_id"):
        pos, neg = g[g.label == 1], g[g.label == 0]
        assert len(pos) == 7 and len(neg) == 700  # one MC dropped at the border
        expected = np.floor(mcs[image_id][1:] + 0.5).astype(int)
        np.testing.assert_array_equal(pos[["x", "y"]].to_numpy(), expected)
        nxy = neg[["x", "y"]].to_numpy()
        assert masks[image_id][nxy[:, 1], nxy[:, 0]].all()  # inside the breast
        d = np.hypot(nxy[:, None, 0] - mcs[image_id][None, :, 0],
                     nxy[:, None, 1] - mcs[image_id][None, :, 1])
        assert d.min() > 10 - 0.5  # outside the exclusion radius of every MC (pixel centres)
        assert (nxy >= 6).all() and (nxy[:, 0] <= 130 - 6).all() and (nxy[:, 1] <= 160 - 6).all()
        assert len(np.unique(nxy, axis=0)) == len(nxy)  # without replacement
    assert table["sample_id"].is_unique and (np.diff(table["sample_id"]) == 1).all()


def test_patch_in_a_shard_equals_the_crop_read_with_plain_tfdata(study, tmp_path):
    root, images, _, _, table = study
    index = write(root, root / "samples.parquet", 0, tmp_path / "s")
    feats = {
        "count": tf.io.FixedLenFeature([], tf.int64),
        "size": tf.io.FixedLenFeature([], tf.int64),
        "patches": tf.io.FixedLenFeature([], tf.string),
        "labels": tf.io.FixedLenFeature([], tf.string),
        "sample_ids": tf.io.FixedLenFeature([], tf.string),
    }
    files = [str(tmp_path / "s" / f) for f in index["files"]]
    assert len(files) == 3 and index["patches"] == 3 * (7 + 700)  # shard_size 1000, block 256
    by_id = table.set_index("sample_id")
    seen = 0
    for rec in tf.data.TFRecordDataset(files):
        ex = tf.io.parse_single_example(rec, feats)
        patches = tf.reshape(tf.io.decode_raw(ex["patches"], tf.uint16), [-1, SIZE, SIZE]).numpy()
        ids = tf.io.decode_raw(ex["sample_ids"], tf.int64).numpy()
        labels = tf.io.decode_raw(ex["labels"], tf.uint8).numpy()
        assert int(ex["count"]) == len(ids) <= 256
        for p, i, lab in zip(patches, ids, labels, strict=True):
            row = by_id.loc[i]
            img = images[row.image_id]
            np.testing.assert_array_equal(p, img[row.y - 6 : row.y + 6, row.x - 6 : row.x + 6])
            assert lab == row.label
            seen += 1
    assert seen == index["patches"]
    stats = json.loads((tmp_path / "s" / "stats.json").read_text())
    crops = np.stack([extract(images[i], g[["x", "y"]].to_numpy()) for i, g in
                      table[table.fold == 0].groupby("image_id")]).astype(np.float64) / 65535
    assert stats["mean"] == pytest.approx(crops.mean(), rel=1e-9)
    assert stats["std"] == pytest.approx(crops.std(), rel=1e-6)
    crops = crops.reshape(-1, SIZE, SIZE)
    centred = crops - crops.mean(axis=(1, 2), keepdims=True)  # each patch minus its own mean
    assert stats["centred_std"] == pytest.approx(centred.std(), rel=1e-6)
    assert 0 < stats["centred_std"] < stats["std"]


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_same_seed_gives_byte_identical_shards(study, tmp_path, compression):
    root = study[0]
    a = write(root, root / "samples.parquet", 1, tmp_path / "a", compression=compression)
    b = write(root, root / "samples.parquet", 1, tmp_path / "b", compression=compression)
    assert a["files"] == b["files"]
    for f in a["files"] + ["positives.npz", "stats.json"]:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_evaluation_stream_yields_every_sample_once(study, tmp_path):
    root, _, _, _, table = study
    write(root, root / "samples.parquet", 1, tmp_path / "e", compression="gzip")
    stats = {"mean": 0.5, "std": 0.25}
    ids, labels = [], []
    for x, y, i in eval_dataset(tmp_path / "e", stats, batch=500):
        assert x.shape[1:] == (SIZE, SIZE, 1) and x.dtype == tf.float32
        ids.append(i.numpy())
        labels.append(y.numpy())
    ids = np.concatenate(ids)
    expected = table[table.fold == 1].set_index("sample_id")
    assert sorted(ids) == sorted(expected.index)
    np.testing.assert_array_equal(np.concatenate(labels), expected.loc[ids, "label"].to_numpy())


@pytest.mark.parametrize("mode", ["patch", "dataset"])
def test_both_readers_standardise_as_the_chosen_reading_says(study, tmp_path, mode):
    """The TensorFlow reader and the numpy one (whole-image detection) give the same inputs: each
    patch minus its own mean over the within-patch std (patch), or one affine map (dataset)."""
    root, _, _, _, table = study
    write(root, root / "samples.parquet", 1, tmp_path / "e")
    stats = combined_stats([tmp_path / "e"], mode)
    raw = {"mean": 0.0, "std": 1 / 65535.0, "standardise": "dataset"}  # the stored values
    got, stored = [], []
    for (x, _, _), (v, _, _) in zip(eval_dataset(tmp_path / "e", stats, batch=300),
                                    eval_dataset(tmp_path / "e", raw, batch=300), strict=True):
        got.append(x.numpy())
        stored.append(np.rint(v.numpy()[..., 0]).astype(np.uint16))
    x, v = np.concatenate(got), np.concatenate(stored)
    f = v.astype(np.float64) / 65535
    if mode == "patch":
        want = (f - f.mean(axis=(1, 2), keepdims=True)) / stats["centred_std"]
        np.testing.assert_allclose(x[..., 0].mean(axis=(1, 2)), 0, atol=1e-5)
    else:
        want = (f - stats["mean"]) / stats["std"]
    np.testing.assert_allclose(x[..., 0], want, rtol=0, atol=2e-4)
    assert 0.9 < x.std() < 1.1  # unit variance over the fold's patches
    np.testing.assert_allclose(standardise_patches(v, stats), x, rtol=0, atol=2e-5)


def test_statistics_pool_over_folds_and_name_old_shards(study, tmp_path):
    root = study[0]
    a = write(root, root / "samples.parquet", 0, tmp_path / "a")
    b = write(root, root / "samples.parquet", 1, tmp_path / "b")
    sa, sb = (json.loads((tmp_path / d / "stats.json").read_text()) for d in "ab")
    both = combined_stats([tmp_path / "a", tmp_path / "b"])
    n = np.array([a["patches"], b["patches"]], float)
    within = (n * np.array([sa["centred_std"], sb["centred_std"]]) ** 2).sum() / n.sum()
    assert both["centred_std"] == pytest.approx(np.sqrt(within), rel=1e-12)
    assert both["standardise"] == "patch" and both["patches"] == n.sum()
    with pytest.raises(ValueError, match="train.standardise"):
        combined_stats([tmp_path / "a"], "image")
    old = {k: v for k, v in sa.items() if k != "centred_std"}
    (tmp_path / "a" / "stats.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match=r"stats\.json has no centred_std.*forcerun shards"):
        combined_stats([tmp_path / "a"])


def test_training_stream_is_balanced_augmented_standardised_and_seeded(study, tmp_path):
    root = study[0]
    write(root, root / "samples.parquet", 0, tmp_path / "t")
    stats = json.loads((tmp_path / "t" / "stats.json").read_text())
    ds = train_dataset(tmp_path / "t", stats, batch=32, seed=1, with_transforms=True)
    xs, ys, ts = [], [], []
    for x, y, t in ds:
        assert x.shape[0] <= 32
        xs.append(x.numpy())
        ys.append(y.numpy())
        ts.append(t.numpy())
    y, t, x = np.concatenate(ys), np.concatenate(ts), np.concatenate(xs)
    assert y.sum() == (y == 0).sum() == 3 * 700  # every negative once, as many positives
    assert set(t[y == 1]) == set(range(8))  # all 8 flips/rotations in use
    assert abs(x.mean()) < 0.2 and 0.8 < x.std() < 1.2  # standardised
    again = np.concatenate([b[1].numpy() for b in train_dataset(tmp_path / "t", stats, seed=1)])
    np.testing.assert_array_equal(again, y)
    other = np.concatenate([b[1].numpy() for b in train_dataset(tmp_path / "t", stats, seed=2)])
    assert not np.array_equal(other, y)


def test_a_share_of_the_negatives_per_epoch_draws_a_new_subset_each_epoch(study, tmp_path):
    root = study[0]
    write(root, root / "samples.parquet", 0, tmp_path / "t")
    stats = json.loads((tmp_path / "t" / "stats.json").read_text())

    def negatives(epoch, seed=1):
        ds = train_dataset(tmp_path / "t", stats, batch=64, seed=seed, epoch=epoch,
                           negative_share=0.4)
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
        x, y = np.concatenate(xs), np.concatenate(ys)
        assert (y == 1).sum() == (y == 0).sum()  # still balanced
        return {p.tobytes() for p in x[y == 0]}

    first, second = negatives(0), negatives(1)
    assert 0.3 * 2100 < len(first) < 0.5 * 2100  # about 40% of the 2,100 negatives
    assert first == negatives(0)  # seeded: the same subset again
    assert len(first & second) < 0.6 * len(first)  # another epoch, another subset
    with pytest.raises(ValueError, match="negative_share"):
        train_dataset(tmp_path / "t", stats, negative_share=0)


def test_dihedral_transforms_are_the_eight_symmetries():
    p = np.arange(16, dtype=np.uint16).reshape(1, 4, 4)
    out = [_dihedral(tf.constant(p), tf.constant([t])).numpy()[0] for t in range(8)]
    expected = [np.rot90(p[0], -k) for k in range(4)]
    expected += [np.fliplr(e) for e in expected]
    for o, e in zip(out, expected, strict=True):
        np.testing.assert_array_equal(o, e)
    assert len({o.tobytes() for o in out}) == 8


def test_summary_counts_border_drops(tmp_path):
    mask = np.ones((40, 40), bool)
    s = sample_image(mask, np.array([[2.0, 20.0], [20.0, 38.0], [20.0, 20.0], [34.4, 34.4]]),
                     n_negatives=5, exclusion_radius=3, rng=np.random.default_rng(0))
    # x = 34 keeps the patch's last column at 39: inside; y = 38 does not fit, x = 2 neither
    assert s.dropped_border == 2
    np.testing.assert_array_equal(s.positives, [[20, 20], [34, 34]])
    assert len(s.negatives) == 5


def test_a_record_has_the_same_bytes_whatever_the_hash_seed():
    """Protobuf writes a map in hash order unless asked not to: the shards' bytes must depend on
    their data only, so one study run twice gives byte-identical files."""
    import subprocess
    import sys

    code = ("import hashlib, numpy as np\nfrom mcdetect.patches.shards import _example\n"
            "print(hashlib.sha1(_example(np.arange(288, dtype=np.uint16).reshape(2, 12, 12), "
            "np.array([0, 1], np.uint8), np.arange(2))).hexdigest())")
    runs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin"})
            for seed in (1, 2, 3)]  # side by side: each pays TensorFlow's start-up
    digests = {run.communicate()[0].strip() for run in runs}
    assert all(run.returncode == 0 for run in runs) and len(digests) == 1
