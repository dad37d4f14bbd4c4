"""Preprocessed images on disk (written by the preprocessing stage, read by every later one): 16-bit
greyscale PNG (lossless, zlib-compressed, any viewer).

A float image in [0, 1] is stored as ``round(I * 65535)``; :func:`load_image` returns
``value / 65535``. The stored integers round-trip exactly; the float quantisation step, 1.5e-5, is
about a hundredth of the quantum noise of a raw mammogram. Masks are 8-bit PNGs (0 / 255).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["save_image", "load_image", "save_mask", "load_mask", "to_uint16"]

SCALE = 65535.0


def to_uint16(image: np.ndarray) -> np.ndarray:
    out = np.asarray(image, dtype=np.float32) * np.float32(SCALE)
    np.clip(out, 0.0, SCALE, out=out)
    np.rint(out, out=out)
    return out.astype(np.uint16)


def _write(path, array, compression: int):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")  # never leave a half-written file behind
    if not cv2.imwrite(str(tmp), array, [cv2.IMWRITE_PNG_COMPRESSION, compression]):
        raise OSError(f"{path}: could not write PNG")
    tmp.replace(path)


def save_image(path, image: np.ndarray, compression: int = 3) -> None:
    """Write a float image in [0, 1] as a 16-bit PNG (compression 0-9, zlib level)."""
    _write(path, to_uint16(image), compression)


def load_image(path) -> np.ndarray:
    """Read a 16-bit PNG written by :func:`save_image`: float32 in [0, 1]."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise OSError(f"{path}: not a readable image")
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise OSError(f"{path}: expected a 16-bit greyscale PNG, got {raw.dtype} {raw.shape}")
    return raw.astype(np.float32) * np.float32(1.0 / SCALE)


def save_mask(path, mask: np.ndarray) -> None:
    _write(path, np.where(mask, 255, 0).astype(np.uint8), 9)


def load_mask(path) -> np.ndarray:
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise OSError(f"{path}: not a readable image")
    return raw > 127
