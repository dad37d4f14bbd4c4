"""Preprocessing stage: contrast-limited adaptive histogram equalisation (CLAHE) in floating point,
with the semantics of MATLAB's ``adapthisteq`` or of scikit-image's ``equalize_adapthist``.

Both divide the image into a grid of tiles, build a histogram of ``nbins`` bins per tile, clip it
at a limit and spread the clipped excess over the bins, map every bin through the tile's
cumulative histogram, and interpolate bilinearly, for every pixel, between the mappings of the four
tiles whose centres surround it (the mapping of the nearest tile beyond the outermost centres). The
output is that interpolation in float32, never rounded to 8 bits. What differs:

* input range: ``matlab`` (``adapthisteq``, the paper's tool) the fixed range [0, 1] (``Range``
  ``full``); ``skimage`` (``equalize_adapthist``) the image's own min..max, through 16 and then
  14 bits.
* bin of a value v: ``matlab`` ``round(v (nbins - 1))`` (centred bins, halves rounded up);
  ``skimage`` ``g // (1 + 16384 // nbins)`` of the 14-bit value g (253 of 256 bins used).
* tiles: ``matlab`` exactly ``tiles`` (rows, cols), the image padded symmetrically so that every
  tile has an even number of rows and columns; ``skimage`` tiles of ``rows // tiles`` x
  ``cols // tiles`` pixels from the top left, the last, partial ones filled by reflection (9
  tiles where a side is not a multiple of 8).
* clip count for T pixels per tile: ``matlab`` ``m + round(clip (T - m))`` with the floor
  ``m = ceil(T / nbins)``; ``skimage`` ``max(1, int(clip T))``.
* the excess: each its own redistribution (MATLAB steps through the bins one count at a time).
* mapping of bin b: ``matlab`` ``min(1, cumsum(h)[b] / T)``; ``skimage``
  ``floor(16383 min(1, cumsum(h)[b] / T))``, and the output rescaled to its min..max.

The MATLAB semantics are written from the documented algorithm (``adapthisteq``: ``NumTiles``,
``ClipLimit``, ``NBins``, ``Range``, ``Distribution`` uniform; tiles padded to even sizes, bilinear
interpolation between tile mappings) and tested against an independent slow implementation of the
same steps; the scikit-image semantics are tested against scikit-image itself. For nbins <= 256 the
four mappings of each interpolation block are applied with OpenCV lookup tables.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["clahe", "SEMANTICS", "clip_matlab", "clip_skimage", "matlab_layout"]

SEMANTICS = ("matlab", "skimage")
_SK_GRAY = 2**14  # scikit-image's internal grey levels


def clahe(image: np.ndarray, clip_limit: float = 0.01, tiles=(8, 8), nbins: int = 256,
          semantics: str = "matlab") -> np.ndarray:
    """CLAHE of a float image in [0, 1]; float32 output in [0, 1] (see the module docstring).

    ``clip_limit``: the normalised clip limit (0.01, MATLAB's default and the paper's);
    ``tiles``: the number of tiles (rows, cols) (8 x 8); ``nbins``: histogram bins (256);
    ``semantics``: ``matlab`` (default) or ``skimage``.
    """
    if semantics not in SEMANTICS:
        raise ValueError(f"clahe: semantics must be one of {', '.join(SEMANTICS)}, "
                         f"got {semantics!r}")
    if not 0.0 < clip_limit <= 1.0:
        raise ValueError(f"clahe: clip_limit must lie in (0, 1], got {clip_limit}")
    if not 2 <= int(nbins) <= 65536:
        raise ValueError(f"clahe: nbins must lie in 2..65536, got {nbins}")
    img = np.asarray(image, dtype=np.float32)
    rows, cols = int(tiles[0]), int(tiles[1])
    if img.ndim != 2 or rows < 1 or cols < 1:
        raise ValueError(f"clahe: a 2-D image and positive tile counts, got {img.shape}, {tiles}")
    if semantics == "matlab":
        return _clahe_matlab(img, clip_limit, rows, cols, int(nbins))
    return _clahe_skimage(img, clip_limit, rows, cols, int(nbins))


# ------------------------------------------------------------------------------------- MATLAB


def matlab_layout(size: int, n: int) -> tuple[int, int, int]:
    """(tile size, padding before, padding after) along one axis for ``n`` tiles: the tile size
    is ``ceil(size / n)`` made even, and the padding is split floor / ceil."""
    d = -(-size // n)
    d += d % 2
    pad = d * n - size
    return d, pad // 2, pad - pad // 2


def clip_matlab(hist: np.ndarray, limit: int) -> np.ndarray:
    """MATLAB's clipping and redistribution of one histogram (integer counts)."""
    h = hist.astype(np.int64).copy()
    nbins = h.size
    excess = int(np.maximum(h - limit, 0).sum())
    incr = excess // nbins
    upper = limit - incr
    over = h > limit
    near = ~over & (h > upper)
    excess -= int((limit - h[near]).sum()) + incr * int((~over & ~near).sum())
    h[over | near] = limit
    h[~over & ~near] += incr
    start = 0
    while excess > 0:
        step = max(nbins // excess, 1)
        idx = np.arange(start, nbins, step)
        idx = idx[h[idx] < limit][:excess]
        h[idx] += 1
        excess -= idx.size
        start = (start + 1) % nbins
    return h


def _clahe_matlab(img, clip_limit, n_r, n_c, nbins):
    rows, cols = img.shape
    d_r, pre_r, post_r = matlab_layout(rows, n_r)
    d_c, pre_c, post_c = matlab_layout(cols, n_c)
    bins = _bin_index(img, nbins - 1)  # round(v * (nbins - 1)), v clipped to [0, 1]
    if pre_r or post_r or pre_c or post_c:  # MATLAB's padarray(..., 'symmetric')
        bins = cv2.copyMakeBorder(bins, pre_r, post_r, pre_c, post_c, cv2.BORDER_REFLECT)
    t = d_r * d_c
    floor = -(-t // nbins)
    limit = floor + int(round(clip_limit * (t - floor)))
    maps = np.empty((n_r, n_c, nbins), np.float32)
    for i in range(n_r):
        for j in range(n_c):
            tile = bins[i * d_r:(i + 1) * d_r, j * d_c:(j + 1) * d_c]
            h = clip_matlab(_histogram(tile, nbins), limit)
            maps[i, j] = np.minimum(np.cumsum(h) / t, 1.0)
    out = _interpolate(bins, maps, d_r, d_c, d_r // 2, d_c // 2)
    return out[pre_r:pre_r + rows, pre_c:pre_c + cols]


# ------------------------------------------------------------------------------------ skimage


def clip_skimage(hist: np.ndarray, limit: int) -> np.ndarray:
    """scikit-image's clipping and redistribution of one histogram (integer counts)."""
    h = hist.astype(np.int64).copy()
    over = h > limit
    excess = int(h[over].sum()) - int(over.sum()) * limit
    h[over] = limit
    incr = excess // h.size
    upper = limit - incr
    low = h < upper
    excess -= int(low.sum()) * incr
    h[low] += incr
    mid = (h >= upper) & (h < limit)
    excess += int(h[mid].sum()) - int(mid.sum()) * limit
    h[mid] = limit
    while excess > 0:
        before = excess
        for index in range(h.size):
            under = h < limit
            step = max(1, int(under.sum()) // excess)
            under = under[index::step]
            h[index::step][under] += 1
            excess -= int(under.sum())
            if excess <= 0:
                break
        if before == excess:
            break
    return h


def _clahe_skimage(img, clip_limit, n_r, n_c, nbins):
    rows, cols = img.shape
    k_r, k_c = max(rows // n_r, 1), max(cols // n_c, 1)
    # img_as_uint, then the image's own range onto 14 bits, then the bin of each grey level:
    # one lookup table from the 65,536 16-bit levels to the bins
    u16 = cv2.multiply(img, 65535.0, dtype=cv2.CV_16U)  # rounded, saturated to 0..65535
    lo, hi = (int(v) for v in cv2.minMaxLoc(u16)[:2])
    levels = np.arange(65536, dtype=np.float64)
    grey = np.round((levels - lo) * ((_SK_GRAY - 1) / (hi - lo))) if hi > lo else 0 * levels
    lut = (np.clip(grey, 0, _SK_GRAY - 1).astype(np.int64) // (1 + _SK_GRAY // nbins)).astype(
        np.uint8 if nbins <= 256 else np.uint16)
    bins = np.take(lut, u16)
    t_r, t_c = math.ceil(rows / k_r), math.ceil(cols / k_c)
    # tiles from the top left; the partial last ones (and the interpolation's last half block)
    # filled by reflection without repeating the edge (numpy's 'reflect')
    pad_r = t_r * k_r - rows + k_r
    pad_c = t_c * k_c - cols + k_c
    bins = cv2.copyMakeBorder(bins, 0, pad_r, 0, pad_c, cv2.BORDER_REFLECT_101)
    t = k_r * k_c
    limit = int(max(clip_limit * t, 1))
    maps = np.empty((t_r, t_c, nbins), np.float32)
    for i in range(t_r):
        for j in range(t_c):
            tile = bins[i * k_r:(i + 1) * k_r, j * k_c:(j + 1) * k_c]
            h = clip_skimage(_histogram(tile, nbins), limit)
            cdf = np.minimum(np.cumsum(h) * ((_SK_GRAY - 1) / t), _SK_GRAY - 1)
            maps[i, j] = np.floor(cdf)
    out = _interpolate(bins, maps, k_r, k_c, k_r // 2, k_c // 2, shape=(rows, cols))
    lo, hi = cv2.minMaxLoc(out)[:2]
    if hi > lo:  # the output rescaled to its own range, as scikit-image does
        out -= np.float32(lo)
        out *= np.float32(1.0 / (hi - lo))
    return out


# ------------------------------------------------------------------------------------- shared


def _bin_index(img: np.ndarray, top: int) -> np.ndarray:
    """floor(clip(img, 0, 1) * top + 0.5) (MATLAB's round, halves away from zero) as uint8
    (top < 256) or uint16."""
    t = np.multiply(img, np.float32(top), dtype=np.float32)
    t += np.float32(0.5)
    np.clip(t, 0.0, top + 0.25, out=t)
    return t.astype(np.uint8 if top < 256 else np.uint16)  # truncation: floor of t >= 0


def _histogram(tile: np.ndarray, nbins: int) -> np.ndarray:
    if tile.dtype == np.uint8:
        return cv2.calcHist([tile], [0], None, [nbins], [0, nbins]).ravel().astype(np.int64)
    return np.bincount(tile.ravel(), minlength=nbins)[:nbins]


def _apply(bins: np.ndarray, lut: np.ndarray) -> np.ndarray:
    if bins.dtype == np.uint8 and lut.size == 256:
        return cv2.LUT(bins, lut.reshape(1, 256))
    return np.take(lut, bins)


def _interpolate(bins, maps, d_r, d_c, h_r, h_c, shape=None):
    """Bilinear interpolation between tile mappings: the mapping of tile (i, j) applies fully at
    offset (h_r, h_c) from the tile's top left, pixels between four such points blend the four
    mappings linearly, pixels beyond the outermost points take the nearest mapping. ``shape``:
    the top-left part of ``bins`` to compute (default: all of it)."""
    n_r, n_c = maps.shape[:2]
    rows, cols = shape or bins.shape
    out = np.empty((rows, cols), np.float32)
    # block b spans [b d - h, (b + 1) d - h): between the points of tiles b - 1 and b
    for br in range(n_r + 1):
        r0, r1 = max(br * d_r - h_r, 0), min((br + 1) * d_r - h_r, rows)
        if r0 >= r1:
            continue
        top, bottom = min(max(br - 1, 0), n_r - 1), min(br, n_r - 1)
        wr = ((np.arange(r0, r1) + h_r - br * d_r) / d_r).astype(np.float32)[:, None]
        for bc in range(n_c + 1):
            c0, c1 = max(bc * d_c - h_c, 0), min((bc + 1) * d_c - h_c, cols)
            if c0 >= c1:
                continue
            left, right = min(max(bc - 1, 0), n_c - 1), min(bc, n_c - 1)
            wc = ((np.arange(c0, c1) + h_c - bc * d_c) / d_c).astype(np.float32)[None, :]
            block = bins[r0:r1, c0:c1]
            ul, ur = maps[top, left], maps[top, right]
            bl, br_ = maps[bottom, left], maps[bottom, right]
            # out = ul + wc (ur - ul) + wr ((bl - ul) + wc (br - bl - ur + ul))
            a = _apply(block, ul)
            if left != right:
                b = _apply(block, ur - ul)
                b *= wc
                a += b
            if top != bottom:
                c = _apply(block, bl - ul)
                if left != right:
                    d = _apply(block, br_ - bl - ur + ul)
                    d *= wc
                    c += d
                c *= wr
                a += c
            out[r0:r1, c0:c1] = a
    return out
