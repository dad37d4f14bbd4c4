"""Two published single-image dehazing methods as preprocessing variants, each checked against an
independent reference of its defining equations: Tarel & Hautiere's median-filter atmospheric
veil (2009) and Meng et al.'s boundary-constrained, contextually regularised transmission (2013)."""

import numpy as np
import pytest
from scipy.optimize import minimize

from mcdetect.preprocessing.variants import (
    KIRSCH_LAPLACE,
    apply_variant,
    atmospheric_veil,
    boundary_transmission,
    contextual_regularisation,
    dehaze_meng,
    dehaze_tarel,
)


def windows(img, size, mode):
    """Every size x size window of ``img`` (numpy padding ``mode``), one per pixel."""
    r = size // 2
    padded = np.pad(img, r, mode=mode)
    return np.array([[padded[i:i + size, j:j + size] for j in range(img.shape[1])]
                     for i in range(img.shape[0])])


@pytest.fixture
def image():
    """A smooth background with a few small bright specks and noise, in [0, 1]."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:29, :23]
    img = 0.35 + 0.4 * np.exp(-((xx - 9) ** 2 + (yy - 14) ** 2) / 200.0)
    img[5, 5] += 0.2
    img[20, 15] += 0.15
    return np.clip(img + 0.02 * rng.standard_normal(img.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("p, window", [(0.9, 5), (0.95, 7), (0.5, 3)])
def test_atmospheric_veil_is_tarels_median_of_median_rule(image, p, window):
    # Tarel & Hautiere (2009), Sec. 4.1, one channel: A = median(W), B = A - median(|W - A|),
    # V = max(min(p B, W), 0); scipy's 'reflect' border is numpy's 'symmetric'.
    a = np.median(windows(image.astype(np.float64), window, "symmetric"), axis=(2, 3))
    b = a - np.median(windows(np.abs(image - a), window, "symmetric"), axis=(2, 3))
    v = np.maximum(np.minimum(p * b, image), 0.0)
    np.testing.assert_allclose(atmospheric_veil(image, p, window), v, atol=1e-6)
    # restoration with I_s = 1: R = (I - V) / (1 - V / I_s)
    np.testing.assert_allclose(dehaze_tarel(image, p, window), (image - v) / (1 - v), atol=2e-6)


def test_tarel_keeps_the_unit_interval_and_the_specks():
    rng = np.random.default_rng(0)
    img = rng.random((40, 31), dtype=np.float32)
    img[[0, 5], [0, 7]] = [0.0, 1.0]
    out = dehaze_tarel(img, 0.95, 11)
    assert out.min() >= 0 and out.max() <= 1 and out[5, 7] == 1.0
    flat = np.full((40, 31), 0.6, np.float32)
    flat[20, 15] = 0.9  # one speck on a flat veil: V = 0.9 x 0.6 everywhere, the speck's
    r = dehaze_tarel(flat, 0.9, 11)  # contrast grows by 1 / (1 - V)
    np.testing.assert_allclose(r[[0, 20], [0, 15]], np.array([0.06, 0.36]) / 0.46, atol=1e-6)


@pytest.mark.parametrize("c0, window", [(0.08, 5), (0.2, 3), (0.0, 7)])
def test_boundary_transmission_is_the_closing_of_megs_bound(image, c0, window):
    # Meng et al. (2013), Eqs. 8-13 with A = 1: t_b = min((A - I) / (A - C0), 1), then
    # t(x) = min over y in w(x) of max over z in w(y) of t_b(z), borders replicated.
    tb = np.minimum((1.0 - image.astype(np.float64)) / (1.0 - c0), 1.0)
    dilated = windows(tb, window, "edge").max(axis=(2, 3))
    closed = windows(dilated, window, "edge").min(axis=(2, 3))
    np.testing.assert_allclose(boundary_transmission(image, c0, window), closed, atol=1e-6)


def circulant(kernel, shape):
    """The matrix of the circular convolution of an image of ``shape`` with a 3x3 kernel:
    (D t)[i, j] = sum_ab kernel[a, b] t[(i - a + 1) mod H, (j - b + 1) mod W]."""
    h, w = shape
    m = np.zeros((h * w, h * w))
    for i in range(h):
        for j in range(w):
            for a in range(3):
                for b in range(3):
                    m[i * w + j, ((i - a + 1) % h) * w + (j - b + 1) % w] += kernel[a, b]
    return m


def exact_regularisation(t_hat, image, lam, sigma):
    """The exact minimiser of lam / 2 ||t - t_hat||^2 + sum_j ||W_j o (D_j t)||_1 through its
    dual: t = t_hat - D^T z / lam with z = argmin ||D^T z||^2 / (2 lam) - z^T D t_hat over
    |z| <= W (a smooth, box-constrained problem, solved by L-BFGS-B)."""
    d = np.vstack([circulant(k.astype(np.float64), t_hat.shape) for k in KIRSCH_LAPLACE])
    w = np.exp(-(d @ image.ravel().astype(np.float64)) ** 2 / (2 * sigma ** 2))
    th = t_hat.ravel().astype(np.float64)

    def dual(z):
        g = d.T @ z
        return g @ g / (2 * lam) - z @ (d @ th), d @ g / lam - d @ th

    z = minimize(dual, np.zeros(len(w)), jac=True, method="L-BFGS-B",
                 bounds=list(zip(-w, w, strict=True)),
                 options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 20000}).x
    t = th - d.T @ z / lam
    objective = lam / 2 * np.sum((t - th) ** 2) + np.sum(w * np.abs(d @ t))
    return t.reshape(t_hat.shape), objective, d, w


def test_contextual_regularisation_reaches_the_exact_minimiser(image):
    img = image[:12, :10]
    t_hat = boundary_transmission(img, 0.08, 3)
    exact, best, d, w = exact_regularisation(t_hat, img, lam=1.0, sigma=0.5)

    def objective(t):
        t = t.ravel().astype(np.float64)
        return 0.5 * np.sum((t - t_hat.ravel()) ** 2) + np.sum(w * np.abs(d @ t))

    fine = contextual_regularisation(t_hat, img, 1.0, 0.5, beta_max=2.0 ** 16, beta_rate=2.0,
                                     inner=200)
    assert np.abs(fine - exact).max() < 2e-3
    assert objective(fine) <= best * (1 + 1e-3)
    # the published schedule (2 sqrt 2 up to 2^8, one step each) is a few steps short of it,
    # but already far below the objective of its starting point
    quick = contextual_regularisation(t_hat, img, 1.0, 0.5)
    assert objective(quick) - best < 0.2 * (objective(t_hat) - best)


def test_meng_restores_through_the_haze_model(image):
    t = contextual_regularisation(boundary_transmission(image, 0.08, 5), image, 1.0, 0.5)
    expect = np.clip(1 - (1 - image) / np.maximum(t, 1e-3), 0, 1)
    out = dehaze_meng(image, c0=0.08, window=5)
    np.testing.assert_allclose(out, expect, atol=1e-6)
    assert out.min() >= 0 and out.max() <= 1 and out.dtype == np.float32
    # apply_variant routes the config's parameters
    np.testing.assert_array_equal(
        apply_variant(image, "dehaze_meng", {"c0": 0.08, "window": 5, "lam": 1.0, "sigma": 0.5}),
        out)
    np.testing.assert_array_equal(apply_variant(image, "dehaze_tarel", {"p": 0.9, "window": 5}),
                                  dehaze_tarel(image, 0.9, 5))


@pytest.mark.parametrize("call, words", [
    (lambda: dehaze_tarel(np.zeros((8, 8), np.float32), p=1.5), "p must lie"),
    (lambda: dehaze_tarel(np.zeros((8, 8), np.float32), window=4), "odd"),
    (lambda: dehaze_meng(np.zeros((8, 8), np.float32), c0=1.0), "c0 must lie"),
    (lambda: boundary_transmission(np.zeros((8, 8), np.float32), window=0), "odd"),
])
def test_bad_parameters_are_named(call, words):
    with pytest.raises(ValueError, match=words):
        call()
