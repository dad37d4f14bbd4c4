"""Preprocessing stage: the breast mask, the breast (bright, attenuating) against the air (dark) of
a canonical image (the dataset check uses it too, to place annotations inside the breast)."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["breast_mask"]


def breast_mask(image: np.ndarray, downsample: int = 4, fraction: float = 0.1) -> np.ndarray:
    """Boolean mask of the breast in a canonical image (float in [0, 1], breast bright).

    On a downsampled copy: Otsu's split into air and breast, a threshold ``fraction`` of the way
    from the air's mean to the breast's mean (so the thin periphery stays in), the largest connected
    component, holes filled; then scaled back to full size. Works on raw (linear) images, where air
    is dark and the breast bright, and on processed ones, where the breast is still brighter.
    """
    img = np.asarray(image, dtype=np.float32)
    rows, cols = img.shape
    small = cv2.resize(
        img,
        (max(1, cols // downsample), max(1, rows // downsample)),
        interpolation=cv2.INTER_AREA,
    )
    u8 = np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(u8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Otsu separates air from the bulk of the breast; the thin periphery towards the skin line lies
    # in between, so the cut is placed near the air: 10% of the way between the two class means.
    air = u8[u8 <= otsu]
    tissue = u8[u8 > otsu]
    if air.size and tissue.size:
        level = air.mean() + fraction * (tissue.mean() - air.mean())
    else:
        level = otsu
    fg = (u8 > level).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if count <= 1:
        return np.zeros((rows, cols), bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    keep = (labels == largest).astype(np.uint8)
    # Fill holes: flood the background from the border of a padded copy.
    padded = np.pad(keep, 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    filled = keep | (1 - flood[1:-1, 1:-1])
    full = cv2.resize(filled, (cols, rows), interpolation=cv2.INTER_NEAREST)
    return full.astype(bool)
