"""Dataset stage: the embedded synthetic dataset, raw ("FOR PROCESSING") digital mammograms with
microcalcifications.

Image formation, per pixel of 0.1 mm (canonical orientation: chest wall left, nipple right):

* breast outline: a half super-ellipse against the chest wall (CC), or a tilted one with a
  triangular pectoral muscle in the upper corner (MLO); air outside;
* compressed thickness ``T``: ``T0`` (40-70 mm) inside, rolling off towards the skin line as a half
  cylinder of radius ``T0 / 2`` (the compressed breast's rounded edge);
* tissue: glandular fraction ``g`` from a power-law texture, ``P(f) ~ f^-beta`` (generator beta
  in [2.4, 3.2]; measured on the images: 2.6-3.5, the range known for mammograms),
  plus a smooth density gradient, so each image has denser and fattier regions; linear attenuation
  ``mu = (1 - g) mu_adipose + g mu_glandular`` at about 20 keV;
* microcalcifications: calcium-like ellipsoids (0.1-1.0 mm, effective mu 0.3-1.0 /mm above the
  tissue) whose path length grows with size, rendered with 5x5 sub-pixel sampling into a
  transmission factor ``M``. **Where**: cluster centres and isolated MCs are drawn anywhere inside
  the breast (the thin periphery and the pectoral muscle of MLO views included; only an 8-pixel
  image border is excluded), with a density proportional to ``placement_floor + g``: more often in
  fibroglandular tissue, as MCs form in the ducts and lobules, but possible in fat as well;
  cluster members scatter around their centre and stay inside the breast;
* detector: ``N = N0 * exp(-integral mu dz) * M`` with automatic exposure control (``N0`` set so the
  median signal behind the breast is ``target_quanta``), Poisson quanta, a Gaussian detector PSF
  (indirect conversion: the noise is blurred too), a linear gain that puts the unattenuated beam
  (air) at ``air_level`` of the 14-bit range, so the skin line is not saturated, a little electronic
  noise; stored **linear in fluence as MONOCHROME1**, so the reader's inversion
  shows attenuating structures bright: ``I = 1 - D / 16383`` is linear in transmission, as in the
  GE raw images of the paper (dehazing's haze model needs a signal linear in transmission).

Each MC's contrast (relative dip in expected signal at its peak) and contrast-to-noise ratio (peak
dip over the local quantum-noise standard deviation) are written beside its centre, so the
difficulty of the dataset can be judged (``summary.json``).

**Annotation model.** A real dataset holds the MCs its annotator saw, not every speck in the breast.
An MC is *annotated* when it passes a Rose-type visibility rule: its contrast-to-noise ratio times
the square root of its projected area in pixels, ``cnr * sqrt(pi / 4 * (d / spacing)**2)``, is at
least ``annotate_min_rose`` (default 5, Rose's k for a signal seen with certainty), and its diameter
is at least ``annotate_min_diameter_mm``. The fainter MCs stay in the image but not in the
annotation CSV (``mcs.csv``, what the study reads); ``mcs_all.csv`` beside it lists every planted
MC with its ``annotated`` flag, and the summary counts both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, generate_uid

from mcdetect.data.layout import synthetic_plan

__all__ = [
    "SyntheticConfig",
    "SyntheticImage",
    "image_plan",
    "generate_image",
    "write_dicom",
    "synthesize",
    "power_law_field",
    "measure_beta",
]

MU_ADIPOSE = 0.0456  # 1/mm, about 20 keV
MU_GLANDULAR = 0.0797
MU_MUSCLE = 0.085
SOP_MG_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.2.1"
UID_ROOT = "1.2.826.0.1.3680043.10.1234."  # synthetic UIDs only

_GIVEN = ["ALMA", "BEATRIX", "CORA", "DAGNY", "ELOISE", "FENNA", "GRETA", "HILKE", "ISOLDE"]
_FAMILY = ["VANDERFAKE", "TESTERMAN", "NOONE", "PSEUDONIMA", "MOCKWELL", "SYNTHIA"]


@dataclass(frozen=True)
class SyntheticConfig:
    seed: int = 2019
    patients: int = 16
    lateralities: tuple[str, ...] = ("L", "R")
    views: tuple[str, ...] = ("CC", "MLO")
    rows: int = 1024
    cols: int = 832
    spacing_mm: float = 0.1
    mc_free_fraction: float = 0.25
    clusters_per_image: float = 1.5  # mean, Poisson, at least 1 on images with MCs
    cluster_size: tuple[int, int] = (3, 30)
    isolated_per_image: float = 2.0  # mean, Poisson
    diameter_mm: tuple[float, float] = (0.1, 1.0)
    size_exponent: float = 2.0  # p(d) ~ d^-exponent
    mc_mu_per_mm: tuple[float, float] = (0.3, 1.0)
    beta: tuple[float, float] = (2.4, 3.2)  # measured on the image: about +0.2 (trend, clipping)
    thickness_mm: tuple[float, float] = (40.0, 70.0)
    target_quanta: float = 6000.0
    psf_sigma_px: float = 0.7
    air_level: float = 0.95  # unattenuated signal as a fraction of the full 14-bit scale
    electronic_noise_adu: float = 0.5
    bits_stored: int = 14
    compression: str = "none"  # none | jpeg2000
    placement_floor: float = 0.1  # MC density ~ placement_floor + glandular fraction
    annotate_min_rose: float = 5.0  # annotated if cnr * sqrt(area in px) >= this ...
    annotate_min_diameter_mm: float = 0.0  # ... and diameter >= this

    @classmethod
    def from_dict(cls, d: dict) -> SyntheticConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k, v in list(known.items()):
            if isinstance(v, list):
                known[k] = tuple(v)
        return cls(**known)


@dataclass
class SyntheticImage:
    """One generated image and its ground truth (canonical orientation before any mirroring)."""

    stored: np.ndarray  # uint16 as written to DICOM (mirrored for R)
    laterality: str
    view: str
    # x, y in stored pixel coordinates, diameter_mm, cluster_id, contrast, cnr, gland
    mcs: list[dict]
    # canonical maps: mask, gland, thickness, expected_adu
    truth: dict = field(default_factory=dict)


def image_plan(cfg: SyntheticConfig) -> list[dict]:
    """The list of images (index, patient, laterality, view, file) the config describes."""
    return synthetic_plan(cfg.patients, cfg.lateralities, cfg.views)


def power_law_field(shape, beta: float, rng: np.random.Generator, f_min: float) -> np.ndarray:
    """Gaussian random field with power spectrum ~ f^-beta (f in cycles/pixel), unit std."""
    rows, cols = shape
    fy = np.fft.fftfreq(rows)[:, None]
    fx = np.fft.rfftfreq(cols)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    amp = np.power(np.maximum(f, f_min), -beta / 2.0)
    amp[0, 0] = 0.0
    noise = rng.standard_normal((rows, cols))
    spec = np.fft.rfft2(noise) * amp
    out = np.fft.irfft2(spec, s=(rows, cols))
    out -= out.mean()
    out /= out.std()
    return out.astype(np.float32)


def measure_beta(image: np.ndarray, mask: np.ndarray | None = None, roi: int = 128,
                 band=(0.02, 0.15)) -> float:
    """Exponent beta of the power spectrum P(f) ~ f^-beta of an image's texture.

    The periodograms of all non-overlapping ``roi`` x ``roi`` tiles lying wholly inside ``mask``
    (the whole image when None) are averaged, each tile mean-subtracted and Hann-windowed; beta is
    minus the slope of log P against log f over ``band`` (cycles/pixel; 0.2-1.5 cycles/mm at 0.1 mm,
    where anatomy dominates quantum noise), fitted on 15 log-spaced radial bins.
    """
    img = np.asarray(image, dtype=np.float64)
    if mask is None:
        mask = np.ones(img.shape, bool)
    win = np.outer(np.hanning(roi), np.hanning(roi))
    spec = np.zeros((roi, roi))
    tiles = 0
    for y in range(0, img.shape[0] - roi + 1, roi):
        for x in range(0, img.shape[1] - roi + 1, roi):
            if not mask[y:y + roi, x:x + roi].all():
                continue
            tile = img[y:y + roi, x:x + roi]
            spec += np.abs(np.fft.fft2((tile - tile.mean()) * win)) ** 2
            tiles += 1
    if tiles == 0:
        raise ValueError(f"no {roi}x{roi} tile lies wholly inside the mask")
    fy = np.fft.fftfreq(roi)[:, None]
    fx = np.fft.fftfreq(roi)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    edges = np.geomspace(band[0], band[1], 16)
    fc, pc = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (f >= lo) & (f < hi)
        if sel.any():
            fc.append(np.sqrt(lo * hi))
            pc.append(spec[sel].mean())
    slope, _ = np.polyfit(np.log(fc), np.log(pc), 1)
    return float(-slope)


def _diameters(rng, n, lo, hi, exponent):
    u = rng.random(n)
    if abs(exponent - 1.0) < 1e-9:
        return lo * (hi / lo) ** u
    k = 1.0 - exponent
    return (lo**k + u * (hi**k - lo**k)) ** (1.0 / k)


def _geometry(cfg: SyntheticConfig, view: str, rng):
    """Breast mask, normalised radius rho (1 at the skin line), pectoral thickness map."""
    rows, cols = cfg.rows, cfg.cols
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    a = rng.uniform(0.62, 0.88) * cols  # chest wall to nipple
    b = rng.uniform(0.36, 0.45) * rows
    p = rng.uniform(1.8, 2.5)
    if view == "MLO":
        # Tilted, taller outline that hugs the chest wall up to the axilla (top edge).
        yc = rng.uniform(0.58, 0.66) * rows
        b = rng.uniform(0.52, 0.60) * rows
        ang = np.deg2rad(rng.uniform(-30.0, -18.0))
        xr = xx * np.cos(ang) - (yy - yc) * np.sin(ang)
        yr = xx * np.sin(ang) + (yy - yc) * np.cos(ang)
    else:
        yc = rng.uniform(0.46, 0.54) * rows
        xr, yr = xx, yy - yc
    rho = np.power(np.abs(xr / a) ** p + np.abs(yr / b) ** 2, 1.0 / p)
    rho = np.where(xr < 0, np.abs(yr / b), rho)  # flat against the chest wall
    pect = np.zeros((rows, cols), np.float32)
    if view == "MLO":
        top = np.nonzero(rho[0] < 0.85)[0]  # where the outline meets the top edge
        width_top = (top.max() + 1) if top.size else 0.2 * cols
        px0 = min(rng.uniform(0.22, 0.34) * cols, 0.8 * width_top)
        py0 = rng.uniform(0.40, 0.60) * rows
        edge = px0 * (1.0 - yy / py0)  # the muscle's boundary, a line from (px0, 0) to (0, py0)
        inside = (xx < edge) & (rho < 1.0)
        pect = np.where(inside, np.sqrt(np.clip(1.0 - xx / np.maximum(edge, 1), 0, 1)), 0.0)
    mask = rho < 1.0
    return mask, rho.astype(np.float32), pect.astype(np.float32), (a, b)


def _render_mc(shape, xc, yc, a_px, b_px, theta, depth_mm, mu_excess, sub=5):
    """Transmission factor patch of one ellipsoidal MC (sub-pixel sampled) and its offset."""
    r = int(np.ceil(max(a_px, b_px))) + 2
    x0, y0 = int(round(xc)) - r, int(round(yc)) - r
    n = 2 * r + 1
    offs = (np.arange(n * sub) + 0.5) / sub - 0.5
    gx = x0 + offs[None, :] - xc
    gy = y0 + offs[:, None] - yc
    u = gx * np.cos(theta) + gy * np.sin(theta)
    v = -gx * np.sin(theta) + gy * np.cos(theta)
    q = 1.0 - (u / a_px) ** 2 - (v / b_px) ** 2
    path = depth_mm * np.sqrt(np.clip(q, 0.0, None))
    trans = np.exp(-mu_excess * path)
    trans = trans.reshape(n, sub, n, sub).mean(axis=(1, 3))
    return trans, x0, y0


def _place_mcs(cfg, rng, mask, gland):
    """MC centres: clusters and isolated MCs drawn with density ~ placement_floor + gland inside
    the breast (no exclusion but an 8-pixel image border), non-overlapping."""
    rows, cols = mask.shape
    sp = cfg.spacing_mm
    ok = mask.copy()
    ok[:8, :] = ok[-8:, :] = False
    ok[:, :8] = ok[:, -8:] = False
    weight = np.where(ok, cfg.placement_floor + gland, 0.0).ravel()
    cdf = np.cumsum(weight, dtype=np.float64)
    placed: list[tuple[float, float, float]] = []
    mcs = []

    def draw_site():
        k = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        return k % cols, k // cols

    def free(x, y, d):
        xi, yi = int(round(x)), int(round(y))
        if not (0 <= xi < cols and 0 <= yi < rows) or not ok[yi, xi]:
            return False
        for px, py, pd in placed:
            if np.hypot(px - x, py - y) * sp < (pd + d) / 2 + 0.15:
                return False
        return True

    n_clusters = max(1, rng.poisson(cfg.clusters_per_image))
    cid = 0
    for _attempt in range(5 * n_clusters):
        if cid == n_clusters:
            break
        cx, cy = draw_site()
        size = int(rng.integers(cfg.cluster_size[0], cfg.cluster_size[1] + 1))
        radius_px = rng.uniform(1.5, 6.0) / sp
        members = []
        for _ in range(size * 40):
            if len(members) == size:
                break
            x = cx + rng.normal(0, radius_px / 2)
            y = cy + rng.normal(0, radius_px / 2)
            d = float(_diameters(rng, 1, *cfg.diameter_mm, cfg.size_exponent)[0])
            if free(x, y, d):
                placed.append((x, y, d))
                members.append({"x": x, "y": y, "diameter_mm": d, "cluster_id": cid})
        if len(members) < cfg.cluster_size[0]:  # no room here: undo, try another centre
            del placed[len(placed) - len(members):]
            continue
        mcs.extend(members)
        cid += 1
    for _ in range(rng.poisson(cfg.isolated_per_image)):
        for _try in range(50):
            cx, cy = draw_site()
            x, y = cx + rng.random() - 0.5, cy + rng.random() - 0.5
            d = float(_diameters(rng, 1, *cfg.diameter_mm, cfg.size_exponent)[0])
            if free(x, y, d):
                placed.append((x, y, d))
                mcs.append({"x": x, "y": y, "diameter_mm": d, "cluster_id": -1})
                break
    return mcs


def rose_snr(cnr: float, diameter_mm: float, spacing_mm: float) -> float:
    """Rose's signal-to-noise ratio of a disc: the per-pixel contrast-to-noise ratio times the
    square root of the disc's area in pixels (Rose 1948; Burgess 1999, "The Rose model,
    revisited", JOSA A 16: 633)."""
    return float(cnr) * float(np.sqrt(np.pi / 4.0) * diameter_mm / spacing_mm)


def annotated(cfg: SyntheticConfig, mc: dict) -> bool:
    """The annotation model: whether an annotator would have marked this MC (module docstring)."""
    return (rose_snr(mc["cnr"], mc["diameter_mm"], cfg.spacing_mm) >= cfg.annotate_min_rose
            and mc["diameter_mm"] >= cfg.annotate_min_diameter_mm)


def _tissue(cfg: SyntheticConfig, view: str, rng, g_mean: float, thickness0: float) -> dict:
    """The breast: outline, compressed thickness with a rounded edge of radius T0/2, glandular
    fraction (power-law texture plus a smooth trend), attenuation and the transmission."""
    sp = cfg.spacing_mm
    mask, rho, pect, (a, b) = _geometry(cfg, view, rng)
    rows, cols = mask.shape
    band = min(0.45, (thickness0 / 2) / (min(a, b) * sp))
    rho0 = 1.0 - band
    t = np.clip((rho - rho0) / band, 0.0, 1.0)
    thickness = np.where(mask, thickness0 * np.sqrt(np.clip(1.0 - t**2, 0.0, 1.0)), 0.0)

    beta = rng.uniform(*cfg.beta)
    tex = power_law_field((rows, cols), beta, rng, f_min=sp / 40.0)  # flat below 1/(40 mm)
    # Smooth density gradient: denser behind the nipple, fattier towards the skin and chest wall.
    trend = 0.12 * (np.exp(-(rho / 0.6) ** 2) - 0.5)
    gland = np.clip(g_mean + 0.14 * tex + trend, 0.0, 1.0).astype(np.float32)
    mu = (1.0 - gland) * MU_ADIPOSE + gland * MU_GLANDULAR
    line = thickness * mu + pect * 0.5 * thickness0 * (MU_MUSCLE - mu)
    return {"mask": mask, "pect": pect, "thickness": thickness, "beta": beta, "gland": gland,
            "mu": mu, "transmission": np.exp(-line).astype(np.float64)}


def _mc_transmission(cfg: SyntheticConfig, rng, mcs: list[dict], mu, gland) -> np.ndarray:
    """The transmission of every MC (an ellipsoid of its excess attenuation over the tissue),
    multiplied into one map; each MC records the glandular fraction under it."""
    sp = cfg.spacing_mm
    mc_trans = np.ones(mu.shape, np.float64)
    for mc in mcs:
        d_px = mc["diameter_mm"] / sp
        elong = mc.pop("elongation", None) or rng.uniform(1.0, 1.8)
        a_px = d_px / 2 * np.sqrt(elong)
        b_px = d_px / 2 / np.sqrt(elong)
        mu_mc = mc.pop("mu_per_mm", None) or rng.uniform(*cfg.mc_mu_per_mm)
        theta = mc.pop("theta", None)
        theta = rng.uniform(0, np.pi) if theta is None else theta
        xi, yi = int(round(mc["x"])), int(round(mc["y"]))
        excess = mu_mc - float(mu[yi, xi])
        patch, x0, y0 = _render_mc(
            mu.shape, mc["x"], mc["y"], a_px, b_px, theta, mc["diameter_mm"], excess,
        )
        h, w = patch.shape
        mc_trans[y0:y0 + h, x0:x0 + w] *= patch
        mc["gland"] = float(gland[yi, xi])
    return mc_trans


def _detector(cfg: SyntheticConfig, rng, tissue: dict, mc_trans, thickness0: float) -> dict:
    """Exposure and detector: AEC, Poisson quanta, PSF, gain, electronic noise, 14 bits; with the
    noiseless expectations (with and without the MCs) in ADU."""
    transmission, thickness = tissue["transmission"], tissue["thickness"]
    inside = tissue["mask"] & (thickness > 0.9 * thickness0)
    n0 = cfg.target_quanta / float(np.median(transmission[inside]))
    expected_quanta = n0 * transmission * mc_trans
    quanta = rng.poisson(expected_quanta).astype(np.float32)
    ksize = int(2 * np.ceil(4 * cfg.psf_sigma_px) + 1)

    def psf(img):
        return cv2.GaussianBlur(img, (ksize, ksize), cfg.psf_sigma_px,
                                borderType=cv2.BORDER_REFLECT)

    full = 2**cfg.bits_stored - 1
    gain = cfg.air_level * full / n0  # ADU per quantum
    adu = psf(quanta) * gain
    adu += rng.normal(0.0, cfg.electronic_noise_adu, adu.shape).astype(np.float32)
    return {"n0": n0, "adu": adu, "stored": np.clip(np.rint(adu), 0, full).astype(np.uint16),
            "expected": psf(expected_quanta.astype(np.float32)) * gain,
            "background": psf((n0 * transmission).astype(np.float32)) * gain}


def _measure_mcs(cfg: SyntheticConfig, mcs: list[dict], det: dict) -> None:
    """Per-MC contrast and contrast-to-noise from the noiseless expectations, and whether a
    reader would annotate it (Rose's criterion, ``annotated``)."""
    expected, background = det["expected"], det["background"]
    noise = det["adu"] - expected
    local_var = cv2.blur(noise * noise, (15, 15))
    for mc in mcs:
        r = int(np.ceil(mc["diameter_mm"] / cfg.spacing_mm / 2)) + 1
        xi, yi = int(round(mc["x"])), int(round(mc["y"]))
        sl = (slice(max(yi - r, 0), yi + r + 1), slice(max(xi - r, 0), xi + r + 1))
        dip = background[sl] - expected[sl]
        k = np.unravel_index(np.argmax(dip), dip.shape)
        peak = float(dip[k])
        mc["contrast"] = peak / float(background[sl][k])
        mc["cnr"] = peak / float(np.sqrt(local_var[yi, xi]))
        mc["annotated"] = annotated(cfg, mc)


def generate_image(cfg: SyntheticConfig, index: int, laterality: str, view: str,
                   patient_rng_seed: int | None = None,
                   mcs: list[dict] | None = None) -> SyntheticImage:
    """Generate one raw mammogram, deterministic for (cfg.seed, index).

    ``mcs`` replaces the random MCs by given ones (canonical x, y, diameter_mm; optional
    ``mu_per_mm``, ``elongation``, ``theta``, ``cluster_id``), for controlled experiments.
    """
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, index]))
    # Density is a property of the patient: both breasts share it.
    prng = np.random.default_rng(
        np.random.SeedSequence([cfg.seed, 10_000_000 + (patient_rng_seed or index)])
    )
    g_mean = prng.uniform(0.12, 0.5)
    thickness0 = prng.uniform(*cfg.thickness_mm)
    tissue = _tissue(cfg, view, rng, g_mean, thickness0)

    # Microcalcifications (skip on the MC-free share of images).
    has_mcs = rng.random() >= cfg.mc_free_fraction
    if mcs is None:
        mcs = _place_mcs(cfg, rng, tissue["mask"], tissue["gland"]) if has_mcs else []
    else:
        mcs = [{"cluster_id": -1, **mc} for mc in mcs]
    mc_trans = _mc_transmission(cfg, rng, mcs, tissue["mu"], tissue["gland"])
    det = _detector(cfg, rng, tissue, mc_trans, thickness0)
    _measure_mcs(cfg, mcs, det)

    truth = {
        "mask": tissue["mask"],
        "gland": tissue["gland"],
        "thickness": tissue["thickness"],
        "expected_adu": det["expected"],
        "pectoral": tissue["pect"] > 0,
        "beta": tissue["beta"],
        "n0": det["n0"],
    }
    stored = det["stored"]
    if laterality == "R":  # a right breast is stored with its chest wall on the right
        stored = np.ascontiguousarray(stored[:, ::-1])
        cols = stored.shape[1]
        for mc in mcs:
            mc["x"] = cols - 1 - mc["x"]
    return SyntheticImage(stored=stored, laterality=laterality, view=view, mcs=mcs, truth=truth)


def write_dicom(path, pixels: np.ndarray, *, bits_stored: int = 14,
                photometric: str = "MONOCHROME1", spacing_mm: float | None = 0.1,
                imager_spacing_mm: float | None = 0.1, laterality: str | None = "L",
                view: str = "CC", orientation: list[str] | None = None,
                intent: str = "FOR PROCESSING", compression: str = "none",
                patient: dict | None = None, uid_seed: str = "", extra: dict | None = None):
    """Write a single-frame greyscale mammogram as a DICOM file (also used for test fixtures)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint16)
    patient = patient or {}
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_MG_FOR_PROCESSING
    sop_uid = generate_uid(prefix=UID_ROOT, entropy_srcs=[uid_seed or str(path), "sop"])
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SOP_MG_FOR_PROCESSING
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = patient.get("study_uid") or generate_uid(
        prefix=UID_ROOT, entropy_srcs=[uid_seed or str(path), "study"])
    ds.SeriesInstanceUID = generate_uid(prefix=UID_ROOT, entropy_srcs=[uid_seed or str(path), "se"])
    ds.Modality = "MG"
    ds.Manufacturer = "mcdetect synthetic"
    ds.PatientName = patient.get("name", "")
    ds.PatientID = patient.get("id", "")
    ds.PatientBirthDate = patient.get("birth_date", "")
    ds.PatientSex = "F"
    ds.StudyDate = patient.get("study_date", "")
    ds.AccessionNumber = patient.get("accession", "")
    ds.InstitutionName = patient.get("institution", "")
    ds.BodyPartExamined = "BREAST"
    ds.PresentationIntentType = intent
    if laterality:
        ds.ImageLaterality = laterality
    ds.ViewPosition = view
    if orientation:
        ds.PatientOrientation = orientation
    if spacing_mm:
        ds.PixelSpacing = [spacing_mm, spacing_mm]
    if imager_spacing_mm:
        ds.ImagerPixelSpacing = [imager_spacing_mm, imager_spacing_mm]
        ds.EstimatedRadiographicMagnificationFactor = 1.0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.RescaleSlope = 1
    ds.RescaleIntercept = 0
    ds.RescaleType = "US"
    for key, value in (extra or {}).items():
        setattr(ds, key, value)
    ds.PixelData = pixels.tobytes()
    if compression == "jpeg2000":
        ds.compress(JPEG2000Lossless, pixels)
    elif compression == "jpegls":  # encoding needs pyjpegls; decoding uses pylibjpeg-libjpeg
        ds.compress(JPEGLSLossless, pixels, encoding_plugin="pyjpegls")
    elif compression != "none":
        raise ValueError(f"unknown compression {compression!r}")
    ds.save_as(path, enforce_file_format=True)
    return ds


def _fake_patient(cfg: SyntheticConfig, p: int) -> dict:
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 20_000_000 + p]))
    birth = f"{rng.integers(1946, 1976)}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
    study = f"{rng.integers(2016, 2021)}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
    return {
        "name": f"{_FAMILY[p % len(_FAMILY)]}^{_GIVEN[p % len(_GIVEN)]}^P{p:03d}",
        "id": f"FAKEPID{cfg.seed % 1000:03d}X{p:04d}",
        "birth_date": birth,
        "study_date": study,
        "accession": f"ACCFAKE{p:05d}",
        "institution": "Synthetic Breast Centre Nowhere",
        "study_uid": generate_uid(prefix=UID_ROOT, entropy_srcs=[str(cfg.seed), str(p), "study"]),
    }


def _orientation(laterality: str, view: str) -> list[str]:
    if laterality == "R":
        return ["P", "FL" if view == "MLO" else "L"]
    return ["A", "FR" if view == "MLO" else "R"]


def synthesize(cfg: SyntheticConfig | dict, out_dir, annotations_csv, summary_json=None,
               log=print, all_mcs_csv=None):
    """Write the whole synthetic dataset: DICOM files, the annotation CSV (generic format: the
    annotated MCs only), every planted MC with its ``annotated`` flag (``all_mcs_csv``, default
    ``mcs_all.csv`` beside the annotations) and the summary. ``cfg``: a SyntheticConfig or the
    config's ``synthetic`` section."""
    import pandas as pd

    if isinstance(cfg, dict):
        cfg = SyntheticConfig.from_dict(cfg)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    all_mcs_csv = Path(all_mcs_csv or Path(annotations_csv).with_name("mcs_all.csv"))
    rows = []
    betas = []
    pos_means, neg_means = [], []
    plan = image_plan(cfg)
    for item in plan:
        img = generate_image(cfg, item["index"], item["laterality"], item["view"],
                             patient_rng_seed=item["patient"])
        write_dicom(
            out_dir / item["file"], img.stored, bits_stored=cfg.bits_stored,
            photometric="MONOCHROME1", spacing_mm=cfg.spacing_mm,
            imager_spacing_mm=cfg.spacing_mm, laterality=item["laterality"], view=item["view"],
            orientation=_orientation(item["laterality"], item["view"]),
            compression=cfg.compression, patient=_fake_patient(cfg, item["patient"]),
            uid_seed=f"{cfg.seed}-{item['index']}",
        )
        betas.append(_measured_beta(img))
        p, n = _patch_means(cfg, img, item["index"])
        pos_means.append(p)
        neg_means.append(n)
        for mc in img.mcs:
            rows.append({"file": item["file"], **mc})
        seen = sum(mc["annotated"] for mc in img.mcs)
        log(f"[synthesize] {item['index'] + 1}/{len(plan)} {item['file']} "
            f"{item['laterality']}-{item['view']} MCs={len(img.mcs)} annotated={seen}")
    cols = ["file", "x", "y", "diameter_mm", "cluster_id", "contrast", "cnr", "gland",
            "annotated"]
    table = pd.DataFrame(rows, columns=cols)
    table["annotated"] = table["annotated"].astype(bool)
    table.to_csv(all_mcs_csv, index=False, float_format="%.4f")
    table[table["annotated"]].drop(columns="annotated").to_csv(annotations_csv, index=False,
                                                               float_format="%.4f")
    summary = summarize(table, len(plan), cfg.patients, betas)
    summary["annotation_rule"] = (f"Rose SNR = cnr * sqrt(pi/4 * (d / {cfg.spacing_mm} mm)^2) >= "
                                  f"{cfg.annotate_min_rose:g} and d >= "
                                  f"{cfg.annotate_min_diameter_mm:g} mm")
    summary["patch_mean_auc"] = round(_auc(np.concatenate(pos_means),
                                           np.concatenate(neg_means)), 4)
    if summary_json:
        Path(summary_json).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


PATCH_MEAN_NEGATIVES = 200  # per image, for the patch-mean AUC of the summary


def _patch_means(cfg: SyntheticConfig, img: SyntheticImage, index: int, size: int = 12):
    """Patch means (reader intensities, canonical orientation) at the annotated MCs and at
    ``PATCH_MEAN_NEGATIVES`` breast positions at least 1 mm from them, with the sample table's
    conventions (``mcdetect.patches.samples``): the simplest location/brightness cue of the
    dataset."""
    from mcdetect.patches.samples import extract, sample_image

    i = 1.0 - img.stored.astype(np.float32) / (2**cfg.bits_stored - 1)
    xs = np.array([mc["x"] for mc in img.mcs if mc["annotated"]], dtype=float)
    ys = np.array([mc["y"] for mc in img.mcs if mc["annotated"]], dtype=float)
    if img.laterality == "R":
        i = i[:, ::-1]
        xs = cfg.cols - 1 - xs
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 30_000_000 + index]))
    s = sample_image(img.truth["mask"], np.stack([xs, ys], axis=1), size=size, rng=rng,
                     n_negatives=PATCH_MEAN_NEGATIVES, exclusion_radius=1.0 / cfg.spacing_mm)
    i = np.ascontiguousarray(i)
    return (extract(i, s.positives, size).mean(axis=(1, 2)),
            extract(i, s.negatives, size).mean(axis=(1, 2)))


def _auc(pos, neg) -> float:
    from mcdetect.evaluation.metrics import auc

    return auc(pos, neg) if len(pos) and len(neg) else float("nan")


def _measured_beta(img: SyntheticImage) -> float:
    """Texture beta measured on the stored image (canonical, reader intensities), inside the
    full-thickness breast outside the pectoral muscle."""
    i = 1.0 - img.stored.astype(np.float64) / (2**14 - 1)
    if img.laterality == "R":
        i = i[:, ::-1]
    t = img.truth["thickness"]
    core = img.truth["mask"] & (t > 0.99 * t.max()) & ~img.truth["pectoral"]
    try:
        return measure_beta(i, core)
    except ValueError:  # breast too small for one tile
        return float("nan")


def summarize(table, n_images: int, n_patients: int, betas) -> dict:
    """Counts and quantiles of the planted MCs; size, contrast and CNR of the annotated ones
    (``annotated`` column; every MC counts as annotated when it is missing)."""
    q = [0.1, 0.25, 0.5, 0.75, 0.9]
    seen = table[table["annotated"]] if "annotated" in table else table

    def quant(col, t=seen):
        vals = t[col].to_numpy() if len(t) else np.array([np.nan])
        return {f"p{int(x * 100)}": round(float(np.quantile(vals, x)), 4) for x in q}

    per_image = seen.groupby("file").size()
    return {
        "images": n_images,
        "patients": n_patients,
        "images_with_mcs": int(per_image.size),
        "mcs": len(seen),
        "mcs_planted": len(table),
        "mcs_unannotated": len(table) - len(seen),
        "clustered_mcs": int((seen["cluster_id"] >= 0).sum()),
        "isolated_mcs": int((seen["cluster_id"] < 0).sum()),
        "diameter_mm": quant("diameter_mm"),
        "contrast": quant("contrast"),
        "cnr": quant("cnr"),
        "unannotated": {"diameter_mm": quant("diameter_mm", table[~table.index.isin(seen.index)]),
                        "cnr": quant("cnr", table[~table.index.isin(seen.index)])},
        "texture_beta_measured": {
            "min": round(float(np.nanmin(betas)), 3),
            "median": round(float(np.nanmedian(betas)), 3),
            "max": round(float(np.nanmax(betas)), 3),
        },
    }


def read_dicom_phi(path) -> list[str]:
    """Identifying strings of a DICOM file (for leak tests)."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    out = []
    for key in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "AccessionNumber",
                "InstitutionName", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        value = str(ds.get(key, "") or "")
        if value:
            out.append(value)
    return out
