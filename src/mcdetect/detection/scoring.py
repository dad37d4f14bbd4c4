"""Detection stage: a trained patch CNN applied to a whole preprocessed mammogram.

The net scores the 12x12 patch centred on a position exactly as it scored the study's samples:
the image quantised to 16 bits as the preprocessing stage stores it, standardised with the
training folds' statistics, the log-odds margin as the score (``mcdetect.cnn``). Two modes:

``candidates`` (the default)
    a cheap first stage proposes positions -- the local maxima inside the breast of a
    difference of Gaussians (sigma 1 and 2 px, bright spots of about an MC's size), at most
    ``max_candidates`` per image, the strongest first -- and the net scores those. Its recall
    (the share of annotated MCs with a candidate within the hit radius) bounds the sensitivity.
``dense``
    every breast position on a grid of ``stride`` pixels is scored, so the map has no first-stage
    misses. At ``stride`` 1, for nets whose inputs are standardised by one affine map
    (``train.standardise: dataset``), the map comes from the nets' exact convolutional form
    (``mcdetect.detection.dense``: every position at once, the same scores as patch by patch,
    about 2x faster for the VGG-like net and 2.4x for the AlexNet-like one on 2 CPU cores,
    ``benchmarks/detect.py``; it needs threadpoolctl to be faster, and without it the scorer
    stays patch by patch). Otherwise patch by patch: on a coarser grid, where most positions are
    not wanted; for a net whose layers the dense form does not handle (the residual net); and for
    nets whose patches are each centred on their own mean (``patch``, the default), since a shift
    that differs from patch to patch cannot be shared between overlapping patches.

Both give the same score at the same position (to float32 rounding); the map of a mode holds NaN
where it did not score.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dog_response", "candidates", "dense_positions", "score_positions", "score_map",
           "quantise", "standardise"]

PATCH = 12


def quantise(image: np.ndarray) -> np.ndarray:
    """The 16-bit values the preprocessing stage stores (``mcdetect.imageio``)."""
    from mcdetect.imageio import to_uint16

    return to_uint16(image)


def dog_response(image: np.ndarray) -> np.ndarray:
    """Difference of Gaussians (sigma 1 minus sigma 2 px): positive on bright spots of about an
    MC's size."""
    import cv2

    img = np.asarray(image, np.float32)
    g1 = cv2.GaussianBlur(img, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    g2 = cv2.GaussianBlur(img, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)
    return g1 - g2


def _scorable(mask: np.ndarray, size: int = PATCH) -> np.ndarray:
    """Breast positions whose whole patch lies inside the image (the sample table's rule)."""
    ok = np.asarray(mask, bool).copy()
    h = size // 2
    ok[:h], ok[ok.shape[0] - h + 1:] = False, False
    ok[:, :h], ok[:, ok.shape[1] - h + 1:] = False, False
    return ok


def candidates(image: np.ndarray, mask: np.ndarray, max_candidates: int = 5000) -> np.ndarray:
    """Positions (x, y) of the first stage: local maxima of the DoG response inside the breast,
    the strongest ``max_candidates`` first."""
    from mcdetect.detection.peaks import local_maxima

    xs, ys, r = local_maxima(dog_response(image), _scorable(mask), floor=0.0)
    order = np.argsort(-r, kind="stable")[:max_candidates]
    return np.stack([xs[order], ys[order]], axis=1).astype(np.int64)


def dense_positions(mask: np.ndarray, stride: int = 1) -> np.ndarray:
    """Every scorable breast position on a grid of ``stride`` pixels, as (x, y)."""
    ok = _scorable(mask)
    grid = np.zeros_like(ok)
    grid[::stride, ::stride] = True
    ys, xs = np.nonzero(ok & grid)
    return np.stack([xs, ys], axis=1).astype(np.int64)


def standardise(image16: np.ndarray, stats: dict) -> np.ndarray:
    """The whole 16-bit image standardised as ``score_positions`` standardises its patches (the
    same float32 operations, so the same values), for a standardisation that is one affine map
    for every patch (``dataset``); a per-patch one (``patch``) has no whole-image form."""
    from mcdetect.cnn.streams import standardisation

    scale, shift, centre = standardisation(stats)
    if centre:
        raise ValueError("standardise: each patch is centred on its own mean (standardise "
                         "'patch'); a whole image has no such form, score its patches")
    return np.asarray(image16).astype(np.float32) * np.float32(scale) - np.float32(shift)


def score_positions(model, image16: np.ndarray, xy: np.ndarray, stats: dict,
                    batch: int = 4096) -> np.ndarray:
    """The net's log-odds margins of the patches centred on ``xy`` of a 16-bit image, standardised
    with ``stats`` as the shards' readers do (``mcdetect.cnn.streams.standardise_patches``)."""
    from mcdetect.cnn.models import margin
    from mcdetect.cnn.streams import standardise_patches
    from mcdetect.patches.samples import extract

    out = np.empty(len(xy), np.float32)
    for start in range(0, len(xy), batch):
        p = extract(image16, xy[start:start + batch], PATCH)
        logits = model.predict_on_batch(standardise_patches(p, stats))
        out[start:start + batch] = np.asarray(margin(np.asarray(logits, np.float32)))
    return out


def score_map(model, image: np.ndarray, mask: np.ndarray, stats: dict, *,
              mode: str = "candidates", max_candidates: int = 5000, stride: int = 1,
              batch: int = 4096) -> np.ndarray:
    """The detection map of one preprocessed image (float in [0, 1]): the net's score at every
    position the mode scores, NaN elsewhere. The dense mode at ``stride`` 1 scores through the
    nets' exact convolutional form (``mcdetect.detection.dense``) where it is the faster
    (``fast_here``); ``batch`` is the per-patch scorer's."""
    if mode == "candidates":
        xy = candidates(image, mask, max_candidates)
    elif mode == "dense":
        from mcdetect.cnn.streams import standardisation
        from mcdetect.detection.dense import dense_margins, fast_here, supported

        centred = standardisation(stats)[2]  # a per-patch shift: no shared dense form
        if stride == 1 and not centred and fast_here() and supported(model):
            return dense_margins(model, standardise(quantise(image), stats), _scorable(mask))
        xy = dense_positions(mask, stride)
    else:
        raise ValueError(f"detection mode must be candidates or dense, got {mode!r}")
    out = np.full(image.shape, np.nan, np.float32)
    out[xy[:, 1], xy[:, 0]] = score_positions(model, quantise(image), xy, stats, batch)
    return out
