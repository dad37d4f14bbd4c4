"""The non-learned baselines: each against an independent computation of its definition, and
their behaviour on a bright spot."""

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi

from mcdetect.baselines import BASELINES, patch_scores, score_image


@pytest.fixture(scope="module")
def patches():
    rng = np.random.default_rng(3)
    p = rng.normal(0.5, 0.05, (64, 12, 12))
    p[::2, 5:7, 5:7] += 0.3  # a bright 2x2 "MC" at the centre of every other patch
    return p


def test_contrast_and_mean_follow_their_definitions(patches):
    s = patch_scores(patches)
    ring = np.ones((12, 12), bool)
    ring[2:10, 2:10] = False
    for k, p in enumerate(patches):
        centre = p[5:7, 5:7].mean()
        assert s["mean"][k] == pytest.approx(p.mean())
        assert s["contrast"][k] == pytest.approx((centre - p[ring].mean()) / p[ring].std())


def test_tophat_equals_opencv_on_each_patch_alone(patches):
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    s = patch_scores(patches)
    for k, p in enumerate(patches):
        th = cv2.morphologyEx(p.astype(np.float32), cv2.MORPH_TOPHAT, disc,
                              borderType=cv2.BORDER_REPLICATE)
        assert s["tophat"][k] == pytest.approx(th[5:7, 5:7].mean(), abs=1e-6)


def test_dog_equals_scipy_gaussians_with_reflected_borders(patches):
    s = patch_scores(patches)
    g1 = ndi.gaussian_filter(patches, (0, 1, 1), mode="reflect", truncate=4.0)
    g2 = ndi.gaussian_filter(patches, (0, 2, 2), mode="reflect", truncate=4.0)
    dog = g1 - g2
    ref = dog[:, 5:7, 5:7].mean(axis=(1, 2)) / np.sqrt((dog**2).mean(axis=(1, 2)))
    np.testing.assert_allclose(s["dog"], ref, rtol=1e-9)


def test_every_baseline_but_the_mean_finds_the_spot_whatever_the_brightness(patches):
    s = patch_scores(patches)
    brighter = patch_scores(patches + 0.2)  # a brighter region: local detectors do not move
    spot = np.arange(len(patches)) % 2 == 0
    for b in BASELINES:
        if b == "mean":
            continue
        assert s[b][spot].min() > s[b][~spot].max(), b
        np.testing.assert_allclose(brighter[b], s[b], rtol=1e-6, atol=1e-9)
    assert (brighter["mean"] > s["mean"]).all()


def test_score_image_reads_the_patch_at_each_sample():
    img = np.random.default_rng(0).normal(0.4, 0.02, (60, 80)).astype(np.float32)
    img[29:31, 39:41] += 0.5  # central 2x2 of the sample at (x, y) = (40, 30)
    s = score_image(img, np.array([[40, 30], [20, 20]]))
    assert s["dog"][0] > 3 * abs(s["dog"][1]) and s["contrast"][0] > 10
    np.testing.assert_allclose(s["mean"][0], img[24:36, 34:46].mean(), rtol=1e-6)
