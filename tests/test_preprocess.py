"""Preprocessing variants: dehazing (paper Eq. 8, 13, 15), CLAHE semantics, outputs, masks."""

import cv2
import numpy as np
import pytest
from scipy.ndimage import minimum_filter
from skimage.exposure import equalize_adapthist

from mcdetect.data.synthetic import SyntheticConfig, generate_image
from mcdetect.imageio import load_image, load_mask, save_image, save_mask
from mcdetect.preprocessing.mask import breast_mask
from mcdetect.preprocessing.variants import (
    apply_variant,
    clahe,
    dehaze,
    dehaze_guided,
    guided_filter,
    normalise,
)

CFG = SyntheticConfig(rows=768, cols=640)


@pytest.fixture(scope="module")
def mammos():
    """Three synthetic raw mammograms as the study preprocesses them: the reader's canonical
    intensities after the study's normalisation (mask from the reader's image)."""
    out = []
    for idx, (lat, view) in enumerate([("L", "CC"), ("R", "MLO"), ("L", "MLO")]):
        img = generate_image(CFG, idx, lat, view, patient_rng_seed=idx)
        i = 1.0 - img.stored.astype(np.float32) / 16383.0
        if lat == "R":
            i = np.ascontiguousarray(i[:, ::-1])
            for mc in img.mcs:
                mc["x"] = CFG.cols - 1 - mc["x"]
        img.truth["reader"] = i
        out.append((normalise(i, breast_mask(i)), img))
    return out


def test_normalisation_scales_the_signal_without_offset(mammos):
    for image, truth in mammos:
        reader = truth.truth["reader"]
        mask = breast_mask(reader)
        inside = mask & (image > 0)
        ratio = (1.0 - reader[inside]) / (1.0 - image[inside])  # constant: a pure scaling
        assert np.ptp(ratio) < 1e-4 * ratio.mean()
        assert (image[mask] == 0).mean() == pytest.approx(0.10, abs=0.01)  # 90th percentile
        assert np.median(image[mask]) > 0.5
    flat = np.full((8, 8), 0.5, np.float32)
    flat[0, 0] = 1.0
    out = normalise(flat, np.ones((8, 8), bool), 50)
    assert out[0, 0] == 1.0 and out[1, 1] == 0.0


def eq8(image, omega, window):
    """The paper's Eq. 8 evaluated independently: scipy minimum filter, float64."""
    i = image.astype(np.float64)
    return 1.0 - (1.0 - i) / (1.0 - omega * minimum_filter(i, size=window, mode="nearest"))


@pytest.mark.parametrize("omega, window", [(0.9, 11), (0.5, 3), (0.99, 21), (0.7, 1)])
def test_dehaze_equals_eq8_to_float_precision(mammos, omega, window):
    rng = np.random.default_rng(window)
    for image in (mammos[0][0], rng.random((97, 131), dtype=np.float32)):
        np.testing.assert_allclose(dehaze(image, omega, window), eq8(image, omega, window),
                                   rtol=0, atol=2e-6)


def test_dehazed_values_stay_in_the_unit_interval():
    rng = np.random.default_rng(1)
    image = rng.random((256, 256), dtype=np.float32)
    image[:20] = 0.0
    image[-20:] = 1.0
    image[100:110] = np.float32(1.0) - np.float32(2**-24)
    for omega in (0.01, 0.5, 0.9, 0.999):
        for out in (dehaze(image, omega, 11), dehaze_guided(image, omega, 11, 8, 1e-3)):
            assert out.min() >= 0.0 and out.max() <= 1.0
            assert (out[image > 0] > 0).all()  # R > 0 wherever I > 0; R = 0 only where I = 0
            assert (out[image == 1.0] == 1.0).all()


def test_mc_pixels_drop_by_less_than_the_eq13_bound(mammos):
    """Eq. 13: 0 < I(x) - R(x) < mu / (1 + Delta / eps) at an MC pixel, with eps = 1 - I(x),
    mu the window minimum and Delta = I(x) - mu. MCs close enough to the skin that their window
    reaches the background (mu = 0) keep their value (R = I), which the bound also says."""
    checked = total = 0
    for image, truth in mammos:
        r = dehaze(image, 0.9, 11)
        mu = minimum_filter(image, size=11, mode="nearest")
        for mc in truth.mcs:
            x, y = int(round(mc["x"])), int(round(mc["y"]))
            i, eps, m = float(image[y, x]), 1.0 - float(image[y, x]), float(mu[y, x])
            delta = i - m
            drop = i - float(r[y, x])
            total += 1
            if m == 0.0:
                assert drop == pytest.approx(0.0, abs=1e-6)
                continue
            assert 0 < drop < m / (1 + delta / eps) + 1e-6
            checked += 1
    assert checked >= 0.9 * total > 0


def test_background_next_to_an_mc_is_darkened_as_eq15_predicts(mammos):
    """Eq. 14-15: where the window minimum is about the pixel itself, R = 1 - (1 - I)/(1 - omega I).
    Since the minimum is at most I, Eq. 15 bounds R from below; on the realistic background
    around synthetic MCs it predicts the darkening within 20% (median)."""
    rel = []
    for image, truth in mammos:
        r = dehaze(image, 0.9, 11)
        mu = minimum_filter(image, size=11, mode="nearest")
        for mc in truth.mcs:
            x, y = int(round(mc["x"])), int(round(mc["y"]))
            k = int(mc["diameter_mm"] / 0.1 / 2) + 3
            for dx, dy in ((k, 0), (-k, 0), (0, k), (0, -k)):
                if mu[y + dy, x + dx] == 0.0:  # window reaches the background: R = I
                    continue
                i, out = float(image[y + dy, x + dx]), float(r[y + dy, x + dx])
                predicted = 1.0 - (1.0 - i) / (1.0 - 0.9 * i)
                assert predicted - 1e-6 <= out < i  # darkened, never below Eq. 15
                rel.append((out - predicted) / (i - predicted))
    assert len(rel) > 100 and np.median(rel) < 0.2


def film_like(rows=700, cols=560, seed=3):
    """A digitised-film look-alike: a breast of power-law texture (beta 3) on a dark film base,
    quantised to 8 bits as mini-MIAS scans are, and its mask."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(rows)[:, None]
    fx = np.fft.rfftfreq(cols)[None, :]
    f = np.hypot(fx, fy)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) * f ** -1.5
    texture = np.fft.irfft2(spectrum, s=(rows, cols))
    texture = (texture - texture.mean()) / texture.std()
    yy, xx = np.mgrid[0:rows, 0:cols]
    mask = (xx / (0.75 * cols)) ** 2 + ((yy - rows / 2) / (0.45 * rows)) ** 2 < 1
    film = np.where(mask, 0.55 + 0.12 * texture, 0.05 + 0.01 * rng.normal(size=(rows, cols)))
    film = np.round(np.clip(film, 0, 1) * 255) / 255
    return film.astype(np.float32), mask


def test_clahe_with_skimage_semantics_matches_skimage_on_mammograms_and_film(mammos):
    cases = [(image, truth.truth["mask"]) for image, truth in mammos] + [film_like()]
    for image, mask in cases:
        ours = clahe(image, 0.01, (8, 8), 256, semantics="skimage")
        ref = equalize_adapthist(image, clip_limit=0.01, nbins=256,
                                 kernel_size=(image.shape[0] // 8, image.shape[1] // 8))
        assert np.corrcoef(ours[mask], ref[mask])[0, 1] >= 0.998
        assert ours[mask].std() / ref[mask].std() == pytest.approx(1.0, abs=0.02)
        assert ours.dtype == np.float32 and 0 <= ours.min() and ours.max() <= 1


def matlab_adapthisteq(image, clip_limit=0.01, tiles=(8, 8), nbins=256):
    """An independent, slow reference written from MATLAB's documented adapthisteq algorithm
    (NumTiles, ClipLimit, NBins, Range 'full', Distribution 'uniform'), step by step with loops:
    pad symmetrically so that the tiles have even sizes; per tile, a histogram of round(v (nbins -
    1)), a clip count of ceil(T / nbins) + round(clip (T - ceil(T / nbins))), the excess spread
    evenly and then one count at a time, the mapping min(1, cumsum / T); per pixel, the bilinear
    interpolation of the mappings of the tiles whose centres surround it."""
    rows, cols = image.shape
    size, pads = [], []
    for n, total in zip(tiles, (rows, cols), strict=True):
        d = int(np.ceil(total / n))
        if d % 2:
            d += 1
        size.append(d)
        pads.append(((d * n - total) // 2, d * n - total - (d * n - total) // 2))
    # single-precision input: the products in single precision, as MATLAB computes them
    padded = np.pad(np.clip(image.astype(np.float32), 0, 1), pads, mode="symmetric")
    bins = np.floor(padded * np.float32(nbins - 1) + np.float32(0.5)).astype(int)
    d_r, d_c = size
    t = d_r * d_c
    floor = int(np.ceil(t / nbins))
    limit = floor + int(round(clip_limit * (t - floor)))
    maps = np.zeros((tiles[0], tiles[1], nbins))
    for i in range(tiles[0]):
        for j in range(tiles[1]):
            hist = [0] * nbins
            for b in bins[i * d_r:(i + 1) * d_r, j * d_c:(j + 1) * d_c].ravel():
                hist[b] += 1
            excess = sum(max(h - limit, 0) for h in hist)
            incr = excess // nbins
            upper = limit - incr
            for k in range(nbins):
                if hist[k] > limit:
                    hist[k] = limit
                elif hist[k] > upper:
                    excess -= limit - hist[k]
                    hist[k] = limit
                else:
                    excess -= incr
                    hist[k] += incr
            start = 0
            while excess > 0:
                step = max(nbins // excess, 1)
                for k in range(start, nbins, step):
                    if hist[k] < limit:
                        hist[k] += 1
                        excess -= 1
                        if excess == 0:
                            break
                start = (start + 1) % nbins
            maps[i, j] = np.minimum(np.cumsum(hist) / t, 1.0)
    out = np.empty(padded.shape)
    for y in range(padded.shape[0]):
        u = (y - d_r / 2) / d_r
        i0 = int(np.floor(u))
        wy = u - i0
        i1 = min(max(i0 + 1, 0), tiles[0] - 1)
        i0 = min(max(i0, 0), tiles[0] - 1)
        v = (np.arange(padded.shape[1]) - d_c / 2) / d_c
        j0 = np.floor(v).astype(int)
        wx = v - j0
        j1 = np.clip(j0 + 1, 0, tiles[1] - 1)
        j0 = np.clip(j0, 0, tiles[1] - 1)
        b = bins[y]
        top = (1 - wx) * maps[i0, j0, b] + wx * maps[i0, j1, b]
        bottom = (1 - wx) * maps[i1, j0, b] + wx * maps[i1, j1, b]
        out[y] = (1 - wy) * top + wy * bottom
    (r0, _), (c0, _) = pads
    return out[r0:r0 + rows, c0:c0 + cols]


@pytest.mark.parametrize("shape, tiles, clip", [((213, 171), (8, 8), 0.01),
                                                ((256, 192), (4, 6), 0.05),
                                                ((97, 131), (3, 5), 0.002)])
def test_clahe_with_matlab_semantics_equals_the_documented_algorithm(mammos, shape, tiles, clip):
    image = cv2.resize(mammos[0][0], shape[::-1], interpolation=cv2.INTER_AREA)
    film, _ = film_like(*shape)
    for img in (image, film):
        ours = clahe(img, clip, tiles, 256, semantics="matlab")
        np.testing.assert_allclose(ours, matlab_adapthisteq(img, clip, tiles), rtol=0, atol=2e-6)


def test_clahe_output_is_not_quantised_and_the_default_is_matlab(mammos):
    image, truth = mammos[0]
    out = clahe(image)
    np.testing.assert_array_equal(out, clahe(image, 0.01, (8, 8), 256, semantics="matlab"))
    inside = out[truth.truth["mask"]]
    assert len(np.unique(inside)) > 20 * 256  # far more levels than 8 bits
    assert not np.allclose(inside * 255, np.round(inside * 255), atol=1e-4)
    np.testing.assert_array_equal(apply_variant(image, "clahe", {"semantics": "skimage"}),
                                  clahe(image, semantics="skimage"))
    with pytest.raises(ValueError, match="semantics"):
        clahe(image, semantics="opencv")


def test_guided_filter_preserves_the_guide_and_smooths_blocks():
    rng = np.random.default_rng(2)
    guide = cv2.GaussianBlur(rng.random((128, 128), dtype=np.float32), (0, 0), 3)
    np.testing.assert_allclose(guided_filter(guide, guide, 4, 1e-8), guide, atol=1e-3)
    blocky = minimum_filter(guide, size=11)
    smoothed = guided_filter(guide, blocky, 8, 1e-3)
    assert np.abs(np.diff(smoothed, axis=1)).mean() < np.abs(np.diff(blocky, axis=1)).mean()


def test_apply_variant_routes_parameters_and_rejects_unknown_variants(mammos):
    image = mammos[0][0]
    np.testing.assert_array_equal(apply_variant(image, "raw"), image)
    np.testing.assert_array_equal(apply_variant(image, "dehaze", {"omega": 0.8, "window": 5}),
                                  dehaze(image, 0.8, 5))
    with pytest.raises(ValueError, match="unknown preprocessing variant 'gamma'"):
        apply_variant(image, "gamma")


def test_outputs_are_lossless_16_bit_round_trips(tmp_path, mammos):
    image = dehaze(mammos[1][0])
    path = tmp_path / "sub" / "x.png"
    save_image(path, image)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape == image.shape
    back = load_image(path)
    assert np.abs(back - image).max() <= 0.5 / 65535 + 1e-7
    save_image(path, back)  # what was stored round-trips exactly
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), raw)
    assert path.stat().st_size < 0.8 * image.size * 2  # compressed
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]  # no temporary file left
    mask = image > 0.5
    save_mask(tmp_path / "m.png", mask)
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), mask)


def test_mask_covers_the_breast_and_not_the_air(mammos):
    for _, truth in mammos:
        true = truth.truth["mask"]  # truth maps are canonical
        mask = breast_mask(truth.truth["reader"])
        iou = (mask & true).sum() / (mask | true).sum()
        assert iou > 0.97
        assert (mask & ~true).sum() < 0.01 * (~true).sum()  # almost no air inside
        xs = np.array([int(round(mc["x"])) for mc in truth.mcs], int)
        ys = np.array([int(round(mc["y"])) for mc in truth.mcs], int)
        assert mask[ys, xs].all()  # every MC inside
