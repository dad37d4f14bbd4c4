"""Preprocessing variants of a canonical mammogram (float32 in [0, 1], attenuating bright)."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["dehaze"]


def dehaze(image: np.ndarray, omega: float = 0.9, window: int = 11) -> np.ndarray:
    """Dark-channel dehazing of a greyscale image, the paper's Eq. 8:

    ``R(x) = 1 - (1 - I(x)) / (1 - omega * min_{z in Omega(x)} I(z))``,
    Omega a ``window`` x ``window`` square.

    R stays in (0, 1] for I in [0, 1] and 0 < omega < 1. The minimum is a grey erosion (cv2.erode
    with a square kernel, border pixels replicated).
    """
    img = np.asarray(image, dtype=np.float32)
    kernel = np.ones((window, window), np.uint8)
    dark = cv2.erode(img, kernel, borderType=cv2.BORDER_REPLICATE)
    # t = 1 - omega * dark, then R = 1 - (1 - I) / t, computed in place.
    dark *= np.float32(-omega)
    dark += np.float32(1.0)
    out = np.subtract(np.float32(1.0), img)
    out /= dark
    np.subtract(np.float32(1.0), out, out=out)
    return out
