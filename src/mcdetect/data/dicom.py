"""Dataset stage: the one mammogram reader every data source goes through.

``read_header`` reads the tags only (cheap); ``read_mammogram`` decodes the pixels as well and
returns the image in the study's canonical form:

1. modality rescale (Rescale Slope/Intercept or a Modality LUT), never VOI (display only);
2. normalised to [0, 1] by the *stored bit range* (``2**BitsStored - 1`` through the modality LUT),
   not by the image maximum, so that intensities keep their physical meaning across images;
3. MONOCHROME1 inverted to MONOCHROME2, so attenuating structures (MCs) are bright in every image;
4. resampled to the study spacing (default 0.1 mm, the paper's) from PixelSpacing, or else from
   ImagerPixelSpacing divided by EstimatedRadiographicMagnificationFactor; never assumed (a source
   whose files carry no spacing, e.g. digitised film, passes its nominal ``default_spacing_mm``);
5. flipped left-right to one canonical orientation: **chest wall on the left image edge, nipple
   pointing right** (the usual orientation of a left breast). See :func:`needs_flip`.

Annotations given in source pixel coordinates (x = column, y = row, pixel centres at integers) are
mapped with the same transform by :meth:`MammogramHeader.to_canonical`.

Every failure, malformed tags included, raises :class:`MammogramError`, whose message starts with
the file's path.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from mcdetect.errors import MCDetectError
from mcdetect.ids import pseudonym

__all__ = [
    "MammogramError",
    "MammogramHeader",
    "Mammogram",
    "read_header",
    "read_mammogram",
    "pseudonym",
    "needs_flip",
    "flip_from_image",
    "read_pixels",
]


class MammogramError(MCDetectError):
    """A mammogram file that cannot be used; ``str()`` is ``"<path>: <problem>"``."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class MammogramHeader:
    """What the study needs from a DICOM header; carries no patient data in clear."""

    path: str
    src_rows: int
    src_cols: int
    bits_stored: int
    photometric: str
    src_spacing_mm: tuple[float, float]  # (row, col)
    spacing_source: str  # PixelSpacing | ImagerPixelSpacing | nominal
    target_spacing_mm: float
    laterality: str  # L | R | '' (unknown)
    view: str
    presentation_intent: str
    transfer_syntax: str
    flipped: bool
    patient_key: str  # keyed pseudonym of PatientID (never the ID itself)

    @property
    def scale(self) -> tuple[float, float]:
        """Resampling factor (rows, cols): source spacing / target spacing."""
        return (
            self.src_spacing_mm[0] / self.target_spacing_mm,
            self.src_spacing_mm[1] / self.target_spacing_mm,
        )

    @property
    def shape(self) -> tuple[int, int]:
        """Canonical (rows, cols) after resampling."""
        sr, sc = self.scale
        return max(1, round(self.src_rows * sr)), max(1, round(self.src_cols * sc))

    def to_canonical(self, x, y):
        """Map source pixel coordinates (x = column, y = row) to canonical coordinates.

        Pixel centres sit at integer coordinates; resampling keeps the image's outer edges fixed
        (as cv2.resize does), so ``x' = (x + 0.5) * s - 0.5``; then the left-right flip
        ``x'' = cols - 1 - x'``.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        rows, cols = self.shape
        xs = (x + 0.5) * (cols / self.src_cols) - 0.5
        ys = (y + 0.5) * (rows / self.src_rows) - 0.5
        if self.flipped:
            xs = (cols - 1) - xs
        return xs, ys

    def to_source(self, x, y):
        """Map canonical coordinates back to source pixel coordinates (``to_canonical``'s
        inverse), e.g. to mark a detection on the original image."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        rows, cols = self.shape
        if self.flipped:
            x = (cols - 1) - x
        return (x + 0.5) * (self.src_cols / cols) - 0.5, (y + 0.5) * (self.src_rows / rows) - 0.5


@dataclass
class Mammogram:
    header: MammogramHeader
    image: np.ndarray  # float32, canonical orientation, [0, 1], attenuating = bright


def _first(ds, *names):
    for name in names:
        value = ds.get(name)
        if value not in (None, ""):
            return value
    return None


def _pair(ds, name, path):
    """A two-value spacing tag as positive floats, None when absent; malformed -> error."""
    value = ds.get(name)
    if value is None or value == "":
        return None
    try:
        pair = (float(value[0]), float(value[1])) if len(value) == 2 else None
    except (TypeError, ValueError, IndexError):
        pair = None
    if pair is None or not (pair[0] > 0 and pair[1] > 0):
        raise MammogramError(path, f"malformed {name} {value!r} (expected two positive numbers)")
    return pair


def _spacing(ds, path, default_mm=None) -> tuple[tuple[float, float], str]:
    ps = _pair(ds, "PixelSpacing", path)
    if ps is not None:
        return ps, "PixelSpacing"
    ips = _pair(ds, "ImagerPixelSpacing", path)
    if ips is not None:
        mag = ds.get("EstimatedRadiographicMagnificationFactor")
        try:
            mag = float(mag) if mag not in (None, "") else 1.0
        except (TypeError, ValueError):
            raise MammogramError(
                path, f"malformed EstimatedRadiographicMagnificationFactor {mag!r}"
            ) from None
        mag = mag if mag > 0 else 1.0
        return (ips[0] / mag, ips[1] / mag), "ImagerPixelSpacing"
    if default_mm is not None:
        return (float(default_mm), float(default_mm)), "nominal"
    raise MammogramError(
        path, "no pixel spacing (neither PixelSpacing nor ImagerPixelSpacing is present)"
    )


def needs_flip(laterality: str, orientation, horizontal_flip: str | None) -> bool | None:
    """Whether the image must be mirrored to put the chest wall on the left.

    PatientOrientation's first value is the patient direction of increasing column index: 'A'
    (towards the nipple) means the chest wall is on the left already, 'P' means it is on the right.
    Without it, the DICOM display convention is used: a right breast has its chest wall on the
    right, inverted when FieldOfViewHorizontalFlip is YES. Returns None when neither is known (the
    caller then decides from the image).
    """
    if orientation is not None and len(orientation) >= 1:
        first = str(orientation[0]).upper()
        if first.startswith("A"):
            return False
        if first.startswith("P"):
            return True
    if laterality in ("L", "R"):
        flip = laterality == "R"
        if str(horizontal_flip or "").upper() == "YES":
            flip = not flip
        return flip
    return None


def flip_from_image(image: np.ndarray) -> bool:
    """Orientation from the pixels: the breast (bright) lies against the chest wall, so the image
    is mirrored when its right half is brighter than its left half."""
    half = image.shape[1] // 2
    return bool(image[:, half:].mean() > image[:, :half].mean())


def _dcmread(path, stop_before_pixels: bool):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        raise MammogramError(path, "not a DICOM file (no 'DICM' preamble)") from None
    except FileNotFoundError:
        raise MammogramError(path, "file not found") from None
    except Exception as exc:  # truncated headers and other malformed files
        raise MammogramError(
            path, f"unreadable DICOM header ({type(exc).__name__}: {exc})"
        ) from exc


def _header(ds, path, target_spacing_mm, pseudonym_key, default_spacing_mm=None):
    """The header, or MammogramError naming the file, whatever is wrong with the tags."""
    try:
        return _parse_header(ds, path, target_spacing_mm, pseudonym_key, default_spacing_mm)
    except MammogramError:
        raise
    except Exception as exc:  # malformed values (a text where a number belongs, ...)
        raise MammogramError(path, f"malformed header ({type(exc).__name__}: {exc})") from exc


def _parse_header(ds, path, target_spacing_mm: float, pseudonym_key: str,
                  default_spacing_mm=None) -> MammogramHeader:
    for tag in ("Rows", "Columns"):
        if tag not in ds:
            raise MammogramError(path, f"no {tag} tag: not an image")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames != 1:
        raise MammogramError(path, f"{frames} frames: only single-frame mammograms are supported")
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise MammogramError(path, "not a greyscale image (SamplesPerPixel != 1)")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise MammogramError(path, f"PhotometricInterpretation {photometric} is not greyscale")
    spacing, source = _spacing(ds, path, default_spacing_mm)
    laterality = str(_first(ds, "ImageLaterality", "Laterality") or "").upper()[:1]
    flip = needs_flip(
        laterality, ds.get("PatientOrientation"), ds.get("FieldOfViewHorizontalFlip")
    )
    patient = str(ds.get("PatientID", "") or "")
    # Without a PatientID each image is its own patient (safe for patient-level folds).
    patient_key = pseudonym(pseudonym_key, patient or f"file:{Path(path).name}", "pat")
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    if not 1 <= bits <= 32:
        raise MammogramError(path, f"BitsStored {bits} out of range")
    if int(ds.Rows) < 1 or int(ds.Columns) < 1:
        raise MammogramError(path, f"empty image ({ds.Rows} x {ds.Columns} pixels)")
    return MammogramHeader(
        path=str(path),
        src_rows=int(ds.Rows),
        src_cols=int(ds.Columns),
        bits_stored=bits,
        photometric=photometric,
        src_spacing_mm=spacing,
        spacing_source=source,
        target_spacing_mm=float(target_spacing_mm),
        laterality=laterality,
        view=str(ds.get("ViewPosition", "") or ""),
        presentation_intent=str(ds.get("PresentationIntentType", "") or ""),
        transfer_syntax=str(getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "")),
        flipped=bool(flip),  # None (unknown) is resolved from the image in read_mammogram
        patient_key=patient_key,
    )


def read_header(path, target_spacing_mm: float = 0.1, pseudonym_key: str = "mcdetect",
                default_spacing_mm: float | None = None):
    """Header only (no pixel decoding). When orientation is unknown, ``flipped`` is False here;
    ``read_mammogram`` decides it from the image, so use its header where that matters.
    ``default_spacing_mm``: the source's nominal spacing, used only when no spacing tag exists."""
    ds = _dcmread(path, stop_before_pixels=True)
    return _header(ds, path, target_spacing_mm, pseudonym_key, default_spacing_mm)


def _stored_range(ds, bits: int, signed: bool) -> tuple[float, float]:
    """The modality-rescaled values of the smallest and largest storable pixel value."""
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    ends = np.array([lo, hi], dtype=np.float64)
    if "ModalityLUTSequence" in ds or "RescaleSlope" in ds or "RescaleIntercept" in ds:
        ends = np.asarray(pydicom.pixels.apply_modality_lut(ends, ds), dtype=np.float64)
    return float(ends.min()), float(ends.max())


def _resample(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    rows, cols = shape
    if (rows, cols) == image.shape:
        return image
    shrinking = rows < image.shape[0] or cols < image.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (cols, rows), interpolation=interp)


def _pixel_array(ds, path) -> np.ndarray:
    """The stored 2-D pixel array of ``ds``; every failure raises MammogramError naming the file."""
    if "PixelData" not in ds:
        raise MammogramError(path, "no pixel data")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = ds.pixel_array
    except ValueError as exc:  # truncated pixel data
        raise MammogramError(
            path, f"pixel data cannot be decoded, file truncated? ({exc})"
        ) from exc
    except (RuntimeError, NotImplementedError) as exc:  # missing codec, unknown syntax
        syntax = getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "")
        raise MammogramError(
            path, f"pixel data cannot be decoded (transfer syntax {syntax}): {exc}"
        ) from exc
    except Exception as exc:
        raise MammogramError(
            path, f"pixel data cannot be decoded ({type(exc).__name__}: {exc})"
        ) from exc
    if raw.ndim != 2:
        raise MammogramError(path, f"pixel array has shape {raw.shape}, expected 2-D")
    return raw


def read_mammogram(
    path, target_spacing_mm: float = 0.1, pseudonym_key: str = "mcdetect",
    default_spacing_mm: float | None = None,
) -> Mammogram:
    """Decode a mammogram into the study's canonical float32 image in [0, 1]."""
    ds = _dcmread(path, stop_before_pixels=False)
    header = _header(ds, path, target_spacing_mm, pseudonym_key, default_spacing_mm)
    raw = _pixel_array(ds, path)
    if raw.shape != (header.src_rows, header.src_cols):
        raise MammogramError(path, f"pixel array {raw.shape} does not match Rows x Columns "
                                   f"({header.src_rows} x {header.src_cols})")

    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    try:
        values = np.asarray(pydicom.pixels.apply_modality_lut(raw, ds), dtype=np.float32)
        lo, hi = _stored_range(ds, header.bits_stored, signed)
    except Exception as exc:  # a malformed Modality LUT or rescale
        raise MammogramError(
            path, f"modality rescale cannot be applied ({type(exc).__name__}: {exc})"
        ) from exc
    if hi <= lo:
        raise MammogramError(path, f"degenerate stored range [{lo}, {hi}]")
    image = (values - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    np.clip(image, 0.0, 1.0, out=image)
    if header.photometric == "MONOCHROME1":
        np.subtract(np.float32(1.0), image, out=image)

    image = _resample(image, header.shape)
    flip = needs_flip(
        header.laterality, ds.get("PatientOrientation"), ds.get("FieldOfViewHorizontalFlip")
    )
    if flip is None:  # decide from the image: the breast (bright) lies against the chest wall
        flip = flip_from_image(image)
    if flip != header.flipped:
        header = replace(header, flipped=flip)
    if flip:
        image = np.ascontiguousarray(image[:, ::-1])
    return Mammogram(header=header, image=image)


def read_pixels(path) -> np.ndarray:
    """The stored pixel array of any single-frame DICOM (masks, crops), no transform applied;
    every failure raises MammogramError naming the file."""
    return _pixel_array(_dcmread(path, stop_before_pixels=False), path)
