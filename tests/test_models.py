"""The CNNs of Tables 1-2, Caffe-style LRN and SGD, and resumable, reproducible training."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from mcdetect.cnn.models import CaffeLRN, CaffeSGD, build_model, margin
from mcdetect.cnn.predict import predict
from mcdetect.cnn.streams import combined_stats, fold_parts
from mcdetect.cnn.train import learning_rate, train, validation_metrics
from mcdetect.evaluation.metrics import mean_sensitivity
from mcdetect.patches.samples import SampleTableWriter, image_seed, sample_image
from mcdetect.patches.shards import write_fold

HP = {"epochs": 2, "batch": 32, "base_lr": 0.01, "lr_gamma": 0.1, "lr_step_epochs": 1,
      "momentum": 0.9, "weight_decay": 5e-4, "dropout": 0.5}


@pytest.mark.parametrize(
    "arch, params, shapes",
    [
        ("alexnet", 6_206_146, [("conv1", (12, 12, 96)), ("lrn1", (12, 12, 96)),
                                ("pool1", (6, 6, 96)), ("conv2", (6, 6, 256)),
                                ("pool2", (3, 3, 256)), ("conv3", (3, 3, 384)),
                                ("conv4", (3, 3, 384)), ("conv5", (5, 5, 256)),
                                ("pool5", (3, 3, 256)), ("fc1", (1024,)), ("fc2", (512,)),
                                ("fc_out", (2,))]),
        ("vgg", 168_354, [("conv1_1", (12, 12, 32)), ("conv1_2", (12, 12, 32)),
                          ("pool1", (6, 6, 32)), ("conv2_2", (6, 6, 32)), ("pool2", (3, 3, 32)),
                          ("fc1", (256,)), ("fc2", (256,)), ("fc_out", (2,))]),
        ("resnet", 316_930, [("conv1", (12, 12, 32)), ("res2a_add", (12, 12, 32)),
                             ("res2b_relu", (12, 12, 32)), ("pool2", (6, 6, 32)),
                             ("res3a_proj", (6, 6, 64)), ("res3b_relu", (6, 6, 64)),
                             ("pool3", (3, 3, 64)), ("fc1", (256,)), ("fc_out", (2,))]),
    ],
)
def test_models_follow_the_tables(arch, params, shapes):
    model = build_model(arch)
    assert model.count_params() == params
    out = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    for name, shape in shapes:
        assert out[name] == shape, name
    y = np.asarray(model(np.random.default_rng(0).normal(size=(3, 12, 12, 1)).astype("float32"),
                         training=False))
    assert y.shape == (3, 2) and y.dtype == np.float32  # two logits, no softmax
    assert not np.allclose(y.sum(axis=1), 1.0)


@pytest.mark.parametrize("arch", ["alexnet", "vgg", "resnet"])
def test_initialisation_is_caffes_xavier_filler(arch):
    """Caffe's "xavier" (variance_norm FAN_IN): uniform in +-sqrt(3 / fan_in), zero biases;
    Glorot's fan-average would give conv1 of the AlexNet-like net a limit of 0.083, not 0.577."""
    model = build_model(arch, seed=3)
    for layer in model.layers:
        if not layer.weights:
            continue
        kernel, bias = (np.asarray(w) for w in layer.weights)
        fan_in = int(np.prod(kernel.shape[:-1]))
        limit = np.sqrt(3.0 / fan_in)
        assert np.abs(kernel).max() <= limit
        assert np.abs(kernel).max() > 0.95 * limit, layer.name  # fills the whole range
        assert kernel.var() == pytest.approx(1.0 / fan_in, rel=0.15), layer.name
        assert not bias.any()
    again = build_model(arch, seed=3)
    np.testing.assert_array_equal(model.get_weights()[0], again.get_weights()[0])


def test_scores_are_log_odds_margins_that_never_saturate():
    """A net whose softmax says exactly 1.0 for many samples still ranks them by its margin, and
    S of the margins equals S of the exact (float64) log-odds."""
    import keras

    rng = np.random.default_rng(4)
    inputs = keras.Input((12, 12, 1))
    logits = keras.layers.Dense(2, name="fc_out")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, logits)
    w = np.zeros((144, 2), np.float32)
    w[:, 1] = rng.normal(0, 1.0, 144)
    model.get_layer("fc_out").set_weights([w, np.zeros(2, np.float32)])
    x = rng.normal(0, 3.0, (4000, 12, 12, 1)).astype(np.float32)
    labels = (rng.random(4000) < 0.05).astype(int)
    x[labels == 1] += 0.4 * np.sign(w[:, 1]).reshape(1, 12, 12, 1)  # positives lean to the MC class
    out = np.asarray(model(x))
    prob = np.asarray(keras.ops.softmax(out))[:, 1]
    assert (prob == 1.0).sum() > 200  # float32 softmax saturates: ties at the top
    exact = x.reshape(len(x), -1).astype(np.float64) @ w[:, 1].astype(np.float64)
    scores = np.asarray(margin(out))
    assert len(np.unique(scores[prob == 1.0])) == (prob == 1.0).sum()  # all ranked
    np.testing.assert_allclose(scores, exact, rtol=1e-4, atol=1e-3)
    s_margin = mean_sensitivity(scores[labels == 1], scores[labels == 0])
    s_exact = mean_sensitivity(exact[labels == 1], exact[labels == 0])
    s_prob = mean_sensitivity(prob[labels == 1], prob[labels == 0])
    assert s_margin == pytest.approx(s_exact, abs=1e-9)
    assert s_prob < s_exact - 0.01  # the saturated softmax loses sensitivity at low FPR


def test_validation_metrics_match_their_definitions():
    rng = np.random.default_rng(1)
    labels = np.r_[np.ones(50, int), np.zeros(500, int)]
    m = np.r_[rng.normal(2, 1, 50), rng.normal(0, 1, 500)]
    v = validation_metrics(labels, m)
    pos, neg = m[:50], m[50:]
    loss = 0.5 * (np.mean(np.log1p(np.exp(-pos))) + np.mean(np.log1p(np.exp(neg))))
    assert v["val_loss"] == pytest.approx(loss)
    assert v["val_auc"] == pytest.approx(np.mean(pos[:, None] > neg[None, :]))
    assert v["val_S"] == pytest.approx(100 * mean_sensitivity(pos, neg))


@pytest.mark.parametrize("n", [3, 5])
def test_lrn_equals_caffes_formula(n):
    rng = np.random.default_rng(n)
    x = rng.normal(0, 20, (2, 4, 4, 11)).astype(np.float32)
    k, alpha, beta = 2.0, 1e-3, 0.75
    ref = np.empty_like(x, dtype=np.float64)
    for c in range(11):
        lo, hi = max(0, c - n // 2), min(11, c + n // 2 + 1)
        ref[..., c] = x[..., c] / (k + alpha / n * (x[..., lo:hi].astype(np.float64) ** 2)
                                   .sum(-1)) ** beta
    out = np.asarray(CaffeLRN(n=n, k=k, alpha=alpha, beta=beta)(x))
    np.testing.assert_allclose(out, ref, rtol=2e-6)
    tf_lrn = tf.nn.local_response_normalization(x, depth_radius=n // 2, bias=k, alpha=alpha,
                                                beta=beta).numpy()
    assert not np.allclose(tf_lrn, ref, rtol=1e-3)  # TF's alpha is not divided by n


def test_learning_rate_schedule():
    lrs = [learning_rate(e, 1e-3, 0.1, 6) for e in range(30)]
    assert lrs[:6] == [1e-3] * 6
    assert lrs[6] == pytest.approx(1e-4) and lrs[11] == pytest.approx(1e-4)
    assert lrs[29] == pytest.approx(1e-7)
    steps = [learning_rate(e, 0.02, 0.1, [9, 12]) for e in range(14)]
    assert steps[:9] == [0.02] * 9
    assert steps[9:12] == pytest.approx([0.002] * 3) and steps[12:] == pytest.approx([2e-4] * 2)


def test_caffe_weight_decay_enters_the_gradient_before_momentum():
    w0, b0 = np.array([[1.0], [-2.0]], np.float32), np.array([0.5], np.float32)
    kernel, bias = tf.Variable(w0), tf.Variable(b0)
    opt = CaffeSGD(learning_rate=0.1, momentum=0.9, decay=0.01)
    g = np.array([[0.3], [0.1]], np.float32)
    gb = np.array([0.2], np.float32)
    v_w, v_b = np.zeros_like(w0), np.zeros_like(b0)
    w, b = w0.copy(), b0.copy()
    for _ in range(3):
        opt.apply_gradients([(tf.constant(g), kernel), (tf.constant(gb), bias)])
        v_w = 0.9 * v_w - 0.1 * (g + 0.01 * w)  # Caffe: decay in the gradient, then momentum
        v_b = 0.9 * v_b - 0.1 * gb  # no decay on biases
        w, b = w + v_w, b + v_b
    np.testing.assert_allclose(kernel.numpy(), w, rtol=1e-6)
    np.testing.assert_allclose(bias.numpy(), b, rtol=1e-6)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Two folds of shards from small random images with bright 'MC' spots at the positives."""
    root = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    writer = SampleTableWriter(root / "samples.parquet")
    for k in range(6):  # images 4 and 5: validation images of folds 0 and 1
        image_id = f"img-{k:010x}"
        img = rng.normal(20000, 3000, (120, 120)).clip(0, 65535)
        xy = rng.uniform(15, 105, (10, 2))
        for x, y in np.floor(xy + 0.5).astype(int):
            img[y - 1 : y + 2, x - 1 : x + 2] += 15000
        cv2.imwrite(str(root / f"{image_id}.png"), img.astype(np.uint16))
        s = sample_image(np.ones((120, 120), bool), xy, n_negatives=300, exclusion_radius=8,
                         rng=np.random.default_rng(image_seed(1, image_id)))
        writer.add(image_id, k % 2, s, validation=k >= 4)
    writer.close()
    for fold in (0, 1):
        write_fold(root / "samples.parquet", fold, lambda i: root / f"{i}.png",
                   root / f"fold{fold}", block=128, mix_buffer=400, seed=2,
                   log=lambda *a: None)
    return root


def _train(root, out, epochs, ckpt=None, select="last"):
    hp = {**HP, "epochs": epochs}
    return train([root / "fold1/train"], "vgg", hp, seed=5, model_out=out / "model.keras",
                 log_tsv=out / "log.tsv", checkpoint_dir=ckpt or out / "ckpt",
                 val_dirs=fold_parts(root / "fold1", ["val"]), select=select,
                 log=lambda *a: None)


def _weights(path):
    import keras

    return [np.asarray(w) for w in keras.models.load_model(path).get_weights()]


def test_kill_and_resume_gives_the_same_weights_as_an_uninterrupted_run(shards, tmp_path):
    tf.config.experimental.enable_op_determinism()
    rows = _train(shards, tmp_path / "full", 2)
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["learning_rate"] == pytest.approx(1e-3)
    assert not (tmp_path / "full/ckpt").exists()  # a finished training keeps no checkpoint
    # A job killed in epoch 2 (before its checkpoint) leaves the checkpoint of epoch 1; started
    # again, it resumes from there.
    ckpt = tmp_path / "ckpt"

    def killed_in_epoch_2(line):
        if "epoch 2/2 done" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train([shards / "fold1/train"], "vgg", {**HP, "epochs": 2}, seed=5,
              model_out=tmp_path / "killed/model.keras", log_tsv=tmp_path / "killed.tsv",
              checkpoint_dir=ckpt, val_dirs=fold_parts(shards / "fold1", ["val"]),
              log=killed_in_epoch_2)
    assert [p.name for p in ckpt.glob("*/epoch-*.keras")] == ["epoch-001.keras"]
    resumed = _train(shards, tmp_path / "resumed", 2, ckpt)
    assert [r["epoch"] for r in resumed] == [1, 2]
    for a, b in zip(_weights(tmp_path / "full/model.keras"),
                    _weights(tmp_path / "resumed/model.keras"), strict=True):
        np.testing.assert_array_equal(a, b)
    log = pd.read_csv(tmp_path / "resumed/log.tsv", sep="\t")
    assert list(log.columns) == ["epoch", "loss", "accuracy", "learning_rate", "samples",
                                 "seconds", "samples_per_s", "val_loss", "val_auc", "val_S",
                                 "selected"]
    assert log["val_auc"].between(0, 1).all() and log["val_S"].between(0, 100).all()
    assert list(log["selected"]) == [0, 1]


def test_validation_images_are_never_trained_on_and_best_epoch_is_kept(shards, tmp_path):
    index = {p: json.loads((shards / f"fold1/{p}/index.json").read_text())
             for p in ("train", "val")}
    table = pd.read_parquet(shards / "samples.parquet")
    f1 = table[table.fold == 1]
    assert index["train"]["patches"] == int((f1.validation == 0).sum())
    assert index["val"]["patches"] == int((f1.validation == 1).sum()) > 0
    rows = _train(shards, tmp_path / "best", 3, select="best")
    best = max(range(3), key=lambda k: (rows[k]["val_S"], -k))
    assert [r["selected"] for r in rows] == [int(k == best) for k in range(3)]
    with pytest.raises(ValueError, match="validation"):
        train([shards / "fold1/train"], "vgg", HP, seed=5, model_out=tmp_path / "m.keras",
              log_tsv=tmp_path / "l.tsv", checkpoint_dir=tmp_path / "c", select="best",
              log=lambda *a: None)


def test_predictions_cover_the_held_out_fold_once_and_repeat_exactly(shards, tmp_path):
    tf.config.experimental.enable_op_determinism()
    stats = combined_stats([shards / "fold1/train"])
    scores = []
    for run in ("a", "b"):
        _train(shards, tmp_path / run, 1)
        predict(tmp_path / run / "model.keras", fold_parts(shards / "fold0"), stats,
                tmp_path / run / "scores.parquet", log=lambda *a: None)
        scores.append(pd.read_parquet(tmp_path / run / "scores.parquet"))
    pd.testing.assert_frame_equal(scores[0], scores[1])
    table = pd.read_parquet(shards / "samples.parquet")
    held_out = table[table.fold == 0]
    assert sorted(scores[0]["sample_id"]) == sorted(held_out["sample_id"])
    assert np.isfinite(scores[0]["score"]).all()  # log-odds margins, not probabilities
    n = sum(json.loads((shards / f"fold0/{p}/index.json").read_text())["patches"]
            for p in ("train", "val"))
    assert len(scores[0]) == n



def test_model_code_uses_keras_ops_only():
    """The models and the LRN are written against Keras 3's backend-neutral API: the module
    imports no backend (no tensorflow, jax or torch), so Keras's JAX and PyTorch backends can run
    it (numpy only builds the LRN's constant band matrix)."""
    import ast

    import mcdetect.cnn.models as models

    tree = ast.parse(open(models.__file__).read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "keras", "numpy"}, imported


def test_whole_image_scores_equal_the_held_out_predictions_of_the_same_model(shards, tmp_path):
    """The detection stage's scorer, fed from the image, gives the log-odds the shard pipeline
    gave the same samples (within 1e-4), in the dense map and at the first stage's candidates."""
    import keras

    from mcdetect.detection.scoring import candidates, score_map, score_positions
    from mcdetect.imageio import load_image

    _train(shards, tmp_path, 1)
    stats = combined_stats([shards / "fold1/train"])
    predict(tmp_path / "model.keras", fold_parts(shards / "fold0"), stats,
            tmp_path / "scores.parquet", log=lambda *a: None)
    held = pd.read_parquet(tmp_path / "scores.parquet").set_index("sample_id")["score"]
    table = pd.read_parquet(shards / "samples.parquet")
    model = keras.models.load_model(tmp_path / "model.keras")
    for image_id, rows in table[table.fold == 0].groupby("image_id"):
        raw = cv2.imread(str(shards / f"{image_id}.png"), cv2.IMREAD_UNCHANGED)
        image = load_image(shards / f"{image_id}.png")
        xy = rows[["x", "y"]].to_numpy()
        direct = score_positions(model, raw, xy, stats, batch=97)
        np.testing.assert_allclose(direct, held.loc[rows["sample_id"]].to_numpy(), atol=1e-4)
        dense = score_map(model, image, np.ones(image.shape, bool), stats, mode="dense")
        np.testing.assert_allclose(dense[xy[:, 1], xy[:, 0]], direct, atol=1e-4)
        cand = candidates(image, np.ones(image.shape, bool), max_candidates=50)
        sparse = score_map(model, image, np.ones(image.shape, bool), stats,
                           max_candidates=50)
        assert np.isfinite(sparse).sum() == len(cand) <= 50
        np.testing.assert_allclose(sparse[cand[:, 1], cand[:, 0]],
                                   dense[cand[:, 1], cand[:, 0]], atol=1e-4)
