"""The exact convolutional ("dense") form of the patch CNNs: its score map equals the nets' own
per-patch margins at every scorable position (image borders and mask edges included), the
detection scorer's dense mode uses it, and its multiply-accumulate counts."""

import numpy as np
import pytest

from mcdetect.cnn.models import build_model, margin
from mcdetect.detection.dense import dense_margins, mac_counts, supported
from mcdetect.detection.scoring import (
    _scorable,
    dense_positions,
    quantise,
    score_map,
    score_positions,
    standardise,
)
from mcdetect.patches.samples import extract


def _net(arch, seed):
    """An untrained net with non-zero biases (so padded taps and bias-only terms matter) and
    margins of a few units."""
    model = build_model(arch, seed=seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.05, layer.bias.shape).astype("float32"))
    out = model.get_layer("fc_out")
    out.kernel.assign(out.kernel.numpy() * 20)
    return model


def _mask(rows, cols):
    """A breast-like mask: an ellipse touching the left and lower image borders, with a hole."""
    yy, xx = np.mgrid[:rows, :cols]
    mask = ((yy - rows) / (0.9 * rows)) ** 2 + (xx / (0.8 * cols)) ** 2 < 1.4
    mask[10:16, 20:24] = False
    return mask


@pytest.mark.parametrize("arch", ["vgg", "alexnet"])
def test_dense_map_equals_per_patch_predictions_at_every_scorable_position(arch):
    model = _net(arch, seed=7)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (40, 50)).astype(np.float32)
    x[5:9, 30:34] += 4  # a bright spot, so some margins are large
    mask = _mask(*x.shape)
    ok = _scorable(mask)
    got = dense_margins(model, x, mask, tile=16)  # several tiles, ragged at the edges
    assert np.array_equal(np.isfinite(got), ok)
    ys, xs = np.nonzero(ok)
    assert ys.min() == 6 and ys.max() == 40 - 6 and xs.min() == 6  # image borders reached
    logits = model.predict(extract(x, np.stack([xs, ys], 1))[..., None], verbose=0)
    want = np.asarray(margin(np.asarray(logits, np.float32)))
    assert np.abs(want).max() > 1  # margins of a few units, not all near zero
    np.testing.assert_allclose(got[ys, xs], want, rtol=0, atol=1e-4)
    # the whole image, one tile, no mask: the same values
    full = dense_margins(model, x)
    np.testing.assert_allclose(full[ys, xs], got[ys, xs], rtol=0, atol=1e-5)
    assert np.isfinite(full).sum() == (40 - 11) * (50 - 11)


def test_dense_mode_of_the_scorer_equals_scoring_patch_by_patch(monkeypatch):
    import mcdetect.detection.dense as dense

    model = _net("vgg", seed=3)
    rng = np.random.default_rng(2)
    image = np.clip(rng.normal(0.5, 0.15, (40, 50)), 0, 1)
    mask = _mask(*image.shape)
    stats = {"mean": 0.45, "std": 0.2, "standardise": "dataset"}
    monkeypatch.setattr(dense, "fast_here", lambda: True)  # the exact convolutional form
    scores = score_map(model, image, mask, stats, mode="dense")
    xy = dense_positions(mask)
    assert np.array_equal(np.isfinite(scores), _scorable(mask)) and len(xy) > 300
    want = score_positions(model, quantise(image), xy, stats, batch=97)
    np.testing.assert_allclose(scores[xy[:, 1], xy[:, 0]], want, rtol=0, atol=1e-4)
    monkeypatch.setattr(dense, "fast_here", lambda: False)  # patch by patch
    slow = score_map(model, image, mask, stats, mode="dense")
    assert np.array_equal(np.isfinite(slow), _scorable(mask))
    np.testing.assert_allclose(slow[xy[:, 1], xy[:, 0]], want, rtol=0, atol=1e-5)
    coarse = score_map(model, image, mask, stats, mode="dense", stride=3)  # patch by patch
    xy3 = dense_positions(mask, 3)
    np.testing.assert_allclose(coarse[xy3[:, 1], xy3[:, 0]], scores[xy3[:, 1], xy3[:, 0]],
                               rtol=0, atol=1e-4)
    assert np.isfinite(coarse).sum() == len(xy3)


def test_patches_centred_on_their_own_mean_are_scored_patch_by_patch(monkeypatch):
    """With the default standardisation (each patch minus its own mean) the shift differs from
    patch to patch, so the dense form does not apply: the dense mode scores patch by patch, and a
    score is the net's output on the patch centred and scaled by hand."""
    import mcdetect.detection.dense as dense

    model = _net("vgg", seed=6)
    rng = np.random.default_rng(7)
    image = np.clip(rng.normal(0.5, 0.15, (30, 34)), 0, 1)
    mask = _mask(*image.shape)
    stats = {"mean": 0.45, "std": 0.2, "centred_std": 0.05, "standardise": "patch"}
    monkeypatch.setattr(dense, "fast_here", lambda: True)
    monkeypatch.setattr(dense, "dense_margins", lambda *a, **k: pytest.fail("dense form used"))
    scores = score_map(model, image, mask, stats, mode="dense")
    xy = dense_positions(mask)
    p = extract(quantise(image), xy, 12).astype(np.float64) / 65535
    x = (p - p.mean(axis=(1, 2), keepdims=True)) / 0.05
    want = np.asarray(margin(np.asarray(model(x[..., None].astype(np.float32)))))
    np.testing.assert_allclose(scores[xy[:, 1], xy[:, 0]], want, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="own mean"):
        standardise(quantise(image), stats)


def test_a_net_the_dense_form_does_not_handle_is_scored_patch_by_patch():
    model = _net("resnet", seed=4)  # residual additions: not in the dense form
    assert not supported(model) and supported(_net("vgg", seed=4))
    rng = np.random.default_rng(5)
    image = np.clip(rng.normal(0.5, 0.15, (30, 34)), 0, 1)
    mask = _mask(*image.shape)
    stats = {"mean": 0.45, "std": 0.2, "standardise": "dataset"}
    scores = score_map(model, image, mask, stats, mode="dense")
    xy = dense_positions(mask)
    want = score_positions(model, quantise(image), xy, stats)
    np.testing.assert_allclose(scores[xy[:, 1], xy[:, 0]], want, rtol=0, atol=1e-5)


def _patch_macs(model):
    """Multiply-accumulates of one patch, from the Keras layers' own shapes."""
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            ky, kx, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += h * w * ky * kx * cin * cout
        elif isinstance(layer, layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def test_mac_counts_per_position_and_per_patch():
    vgg, alex = mac_counts(build_model("vgg", seed=0)), mac_counts(build_model("alexnet", seed=0))
    assert vgg["patch"] == _patch_macs(build_model("vgg", seed=0)) == 2_171_904
    assert alex["patch"] == _patch_macs(build_model("alexnet", seed=0)) == 52_996_608
    # VGG-like: conv1_1 9x1x32, conv1_2 and conv2_1 7x7 (class, tap) pairs x 32x32, conv2_2
    # 13x13 x 32x32, fc 9x32x256 + 256x256 + 256x2
    assert vgg["dense"] == 288 + 2 * 49 * 1024 + 169 * 1024 + 73_728 + 65_536 + 512 == 413_472
    assert alex["dense"] == 24_094_560 and alex["patch_nonzero"] == 29_291_904
    assert 5.2 < vgg["bound"] < 5.3 and 2.1 < alex["bound"] < 2.3
