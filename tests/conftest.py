"""Shared fixtures: small DICOM writers and a tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcdetect.data.synthetic import write_dicom

REPO = Path(__file__).resolve().parents[1]


def spot_image(rows, cols, x, y, sigma=2.0, base=1000, peak=8000):
    """A flat image with one Gaussian spot centred at (x, y) (x = column), uint16."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    img = base + peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return np.rint(img).astype(np.uint16)


def breast_like(rows, cols, chest_wall="left", level=12000, air=500):
    """A half-disc 'breast' (bright in MONOCHROME2) against the chest wall, air elsewhere."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    x0 = 0 if chest_wall == "left" else cols - 1
    inside = ((xx - x0) / (0.7 * cols)) ** 2 + ((yy - rows / 2) / (0.4 * rows)) ** 2 < 1
    return np.where(inside, level, air).astype(np.uint16)


@pytest.fixture
def write(tmp_path):
    """write(name, pixels, **tags) -> path of a DICOM file in tmp_path."""

    def _write(name, pixels, **kw):
        kw.setdefault("photometric", "MONOCHROME2")
        path = tmp_path / name
        write_dicom(path, pixels, **kw)
        return path

    return _write
