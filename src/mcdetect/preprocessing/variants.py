"""Preprocessing stage: the variants of a canonical mammogram.

Input: the reader's canonical image (``mcdetect.data.dicom.read_mammogram``), float32 in [0, 1]
by the stored bit range, attenuating structures bright, and the breast mask
(``mcdetect.preprocessing.mask.breast_mask``).

**Normalisation (one rule, shared by every variant), :func:`normalise`.** On a raw ("FOR
PROCESSING") image the reader gives ``I = 1 - S`` with ``S`` the detector signal, linear in the
transmitted fluence, and I = 1 at zero fluence: the atmospheric light A = 1 of the paper's Eq. 2.
The breast, though, occupies only a sliver of the range (behind 50 mm of tissue S is a few % of the
air signal), so that omega = 0.9 would hardly act and CLAHE's 256 bins would hold the breast in a
dozen. The rule therefore scales the signal by a robust maximum inside the breast,
``I_n = 1 - S / s`` with ``s`` the ``percentile``-th percentile of S over the breast mask (default
90: the thinnest tenth of the breast, at the skin line, saturates at 0). A pure scaling keeps the
signal linear in transmission with A = 1 (no offset), which is what lets dehazing divide out the
background transmission; the densest tissue comes out
near white, as the paper's "white-balanced" input. Images that are not raw (FOR PRESENTATION,
log-like) go through the same rule; the manifest records which kind each image is.

Variants (of the normalised image):

* ``raw``: the normalised image itself.
* ``dehaze``: the paper's Eq. 8 with a square window (:func:`dehaze`).
* ``dehaze_guided``: the same with the transmission map refined by a guided filter (He et al.),
  beyond the paper's closed form (:func:`dehaze_guided`).
* ``dehaze_tarel``: beyond the paper, the atmospheric veil of Tarel & Hautiere (2009), inferred
  by median filters, which the authors designed for grey-level images too (:func:`dehaze_tarel`).
* ``dehaze_meng``: beyond the paper, the boundary-constrained transmission of Meng et al. (2013)
  with their weighted-L1 contextual regularisation (:func:`dehaze_meng`).
* ``clahe``: contrast-limited adaptive histogram equalisation in floating point, with MATLAB
  ``adapthisteq`` (default) or scikit-image ``equalize_adapthist`` semantics (:func:`clahe`).

Every dehazing variant recovers the image through the same haze model with A = 1,
``R = 1 - (1 - I) / t`` (the paper's Eq. 3); they differ in how they estimate the transmission t.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["preprocess_file", "preprocess_image",
    "VARIANTS", "normalise", "dehaze", "dehaze_guided", "guided_filter", "clahe", "apply_variant",
    "dehaze_tarel", "atmospheric_veil", "dehaze_meng", "boundary_transmission",
    "contextual_regularisation", "KIRSCH_LAPLACE",
]

VARIANTS = ("raw", "dehaze", "dehaze_guided", "dehaze_tarel", "dehaze_meng", "clahe")


def normalise(image: np.ndarray, mask: np.ndarray, percentile: float = 90.0) -> np.ndarray:
    """The study's normalisation: ``I_n = 1 - (1 - I) / s``, s = percentile of (1 - I) in the
    breast; clipped to [0, 1]. Returns float32; ``I_n = 1`` exactly where ``I = 1``."""
    img = np.asarray(image, dtype=np.float32)
    signal = np.float32(1.0) - img
    values = signal[mask] if mask.any() else signal
    scale = float(np.percentile(values, percentile))
    if scale <= 0:
        raise ValueError("normalise: no signal inside the breast mask (an all-white image?)")
    signal *= np.float32(1.0 / scale)
    np.subtract(np.float32(1.0), signal, out=signal)
    return np.clip(signal, 0.0, 1.0, out=signal)


def _dark(img: np.ndarray, window: int) -> np.ndarray:
    """min over a window x window square (grey erosion, border pixels replicated)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    return cv2.erode(img, kernel, borderType=cv2.BORDER_REPLICATE)


def _recover(img: np.ndarray, haze: np.ndarray) -> np.ndarray:
    """Eq. 3 with A = 1 and t = 1 - haze: ``R = 1 - (1 - I) / t``, evaluated as the algebraically
    equal ``(I - haze) / (1 - haze)`` (``haze`` is overwritten). Where 0 <= haze <= I <= 1, as for
    haze = omega * min_Omega I, correct rounding keeps 0 <= R <= 1 exactly, with no clipping."""
    out = np.subtract(img, haze)
    np.subtract(np.float32(1.0), haze, out=haze)
    np.divide(out, haze, out=out)
    return out


def dehaze(image: np.ndarray, omega: float = 0.9, window: int = 11) -> np.ndarray:
    """Dark-channel dehazing of a greyscale image, the paper's Eq. 8:

    ``R(x) = 1 - (1 - I(x)) / (1 - omega * min_{z in Omega(x)} I(z))``,
    Omega a ``window`` x ``window`` square centred on x.

    For I in [0, 1] and 0 < omega < 1, R lies in [0, 1] (R = 0 only where I = 0, R = 1 where I = 1).
    Cost: one cv2 erosion and four passes over the image.
    """
    if not 0.0 < omega < 1.0:
        raise ValueError(f"omega must lie in (0, 1), got {omega}")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    img = np.asarray(image, dtype=np.float32)
    haze = _dark(img, window)
    haze *= np.float32(omega)  # omega * min_Omega I, so that t = 1 - haze (Eq. 7)
    return _recover(img, haze)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter (grey guide): edge-preserving smoothing of ``src`` by ``guide``."""
    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, cv2.CV_32F, ksize, borderType=cv2.BORDER_REFLECT)

    mean_i = box(guide)
    mean_p = box(src)
    cov_ip = box(guide * src) - mean_i * mean_p
    var_i = box(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def dehaze_guided(image: np.ndarray, omega: float = 0.9, window: int = 11, radius: int = 20,
                  eps: float = 1e-3) -> np.ndarray:
    """Eq. 8 with the transmission map ``t = 1 - omega * min_Omega I`` refined by a guided filter
    (guide: the image itself), which removes the blocky halos of the square window. The refined
    haze ``1 - t`` is kept within [0, omega I], the range of the closed form, so R stays in [0, 1]
    and R > 0 wherever I > 0."""
    if not 0.0 < omega < 1.0:
        raise ValueError(f"omega must lie in (0, 1), got {omega}")
    img = np.asarray(image, dtype=np.float32)
    haze = _dark(img, window)
    haze *= np.float32(omega)
    haze = guided_filter(img, haze, radius, eps)  # refining t = 1 - haze refines haze alike
    np.clip(haze, np.float32(0.0), img * np.float32(omega), out=haze)
    return _recover(img, haze)


def atmospheric_veil(image: np.ndarray, p: float = 0.9, window: int = 11) -> np.ndarray:
    """Tarel & Hautiere's atmospheric veil of a grey-level image (ICCV 2009, "Fast visibility
    restoration from a single color or gray level image", Sec. 4.1), with W = I (one channel):

    ``A = median_sv(W)``, ``B = A - median_sv(|W - A|)``, ``V = max(min(p B, W), 0)``,

    sv a ``window`` x ``window`` square (borders mirrored, scipy's ``reflect``). ``B`` is a local
    estimate of the veil robust to small bright objects: structures smaller than half the window,
    such as MCs, leave the medians alone. ``p`` in [0, 1] sets how much of it is removed."""
    from scipy.ndimage import median_filter

    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    w = np.asarray(image, dtype=np.float32)
    a = median_filter(w, size=window, mode="reflect")
    b = a - median_filter(np.abs(w - a), size=window, mode="reflect")
    return np.maximum(np.minimum(np.float32(p) * b, w), np.float32(0.0))


def dehaze_tarel(image: np.ndarray, p: float = 0.9, window: int = 11) -> np.ndarray:
    """Visibility restoration of Tarel & Hautiere (2009) for a grey-level image: the atmospheric
    veil V (:func:`atmospheric_veil`) removed by their Eq. 3 with the sky intensity I_s = 1 (the
    study's A = 1), ``R = (I - V) / (1 - V)``, i.e. ``t = 1 - V``; their final tone mapping is left
    out, as the study's variants stay linear in the recovered signal. The authors used p = 0.95
    on road scenes; the study's default, 0.9, is the paper's omega, and the window the paper's
    dark-channel window. Since 0 <= V <= I, R lies in [0, 1]. Cost: two median filters."""
    img = np.asarray(image, dtype=np.float32)
    return _recover(img, atmospheric_veil(img, p, window))


def _kirsch_laplace() -> tuple[np.ndarray, ...]:
    """Meng et al.'s filter bank: the eight Kirsch compass operators and a Laplacian, each scaled
    to unit L2 norm."""
    ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]  # clockwise border
    bank = []
    for r in range(8):
        k = np.full((3, 3), -3.0)
        k[1, 1] = 0.0
        for i in range(3):
            k[ring[(r + i) % 8]] = 5.0
        bank.append(k)
    bank.append(np.array([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]))
    return tuple((k / np.linalg.norm(k)).astype(np.float32) for k in bank)


KIRSCH_LAPLACE = _kirsch_laplace()


def boundary_transmission(image: np.ndarray, c0: float = 0.08, window: int = 11) -> np.ndarray:
    """Meng et al.'s patch-wise transmission from the boundary constraint (ICCV 2013, "Efficient
    image dehazing with boundary constraint and contextual regularization", Eqs. 8-13), for a
    grey-level image with A = 1: the radiance bound J >= c0 gives the pixel-wise lower bound
    ``t_b = min((1 - I) / (1 - c0), 1)`` (their upper bound C1 >= A cannot bind when A = 1), and
    the patch-wise transmission is its morphological closing over ``window`` x ``window`` squares,
    ``t_hat(x) = min_{y in w(x)} max_{z in w(y)} t_b(z)`` (borders replicated)."""
    if not 0.0 <= c0 < 1.0:
        raise ValueError(f"c0 must lie in [0, 1), got {c0}")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    img = np.asarray(image, dtype=np.float32)
    tb = np.minimum((np.float32(1.0) - img) / np.float32(1.0 - c0), np.float32(1.0))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    return cv2.erode(cv2.dilate(tb, kernel, borderType=cv2.BORDER_REPLICATE), kernel,
                     borderType=cv2.BORDER_REPLICATE)


def _circular(x: np.ndarray, kernel: np.ndarray, adjoint: bool = False) -> np.ndarray:
    """Circular (periodic) convolution of ``x`` with a 3x3 ``kernel``, or its adjoint (circular
    correlation), the boundary that the Fourier-domain step of the regularisation implies."""
    padded = cv2.copyMakeBorder(x, 1, 1, 1, 1, cv2.BORDER_WRAP)
    k = kernel if adjoint else kernel[::-1, ::-1]  # cv2.filter2D correlates
    return cv2.filter2D(padded, cv2.CV_32F, np.ascontiguousarray(k))[1:-1, 1:-1]


def _otf(kernel: np.ndarray, shape) -> np.ndarray:
    """Real-input Fourier transform of a 3x3 kernel centred on the origin of a ``shape`` grid."""
    from scipy import fft

    psf = np.zeros(shape, dtype=np.float64)
    psf[:3, :3] = kernel
    return fft.rfft2(np.roll(psf, (-1, -1), axis=(0, 1)))


def contextual_regularisation(t_hat: np.ndarray, image: np.ndarray, lam: float = 1.0,
                              sigma: float = 0.5, beta_max: float = 2.0 ** 8,
                              beta_rate: float = 2.0 * np.sqrt(2.0), inner: int = 1,
                              workers: int = -1) -> np.ndarray:
    """Meng et al.'s contextual regularisation of a transmission map (Eqs. 15-24):

    ``min_t  lam / 2 ||t - t_hat||^2 + sum_j ||W_j o (D_j * t)||_1``,
    ``W_j = exp(-|D_j * I|^2 / (2 sigma^2))``, D_j the bank KIRSCH_LAPLACE (circular boundary),

    solved by their variable splitting: u_j = D_j * t relaxed with a penalty beta / 2, alternately
    ``u_j = sign(D_j * t) max(|D_j * t| - W_j / beta, 0)`` and, in the Fourier domain,
    ``t = F^-1[(lam / beta F(t_hat) + sum_j conj(F(D_j)) F(u_j)) / (lam / beta + sum_j
    |F(D_j)|^2)]``, ``inner`` times per beta, beta growing from 1 by ``beta_rate`` up to
    ``beta_max`` (their schedule: 2 sqrt 2 up to 2^8)."""
    from scipy import fft

    t_hat = np.asarray(t_hat, dtype=np.float32)
    img = np.asarray(image, dtype=np.float32)
    shape = t_hat.shape
    weights = [np.exp(-(_circular(img, k) ** 2) / np.float32(2.0 * sigma ** 2))
               for k in KIRSCH_LAPLACE]
    denominator = sum(np.abs(_otf(k, shape)) ** 2 for k in KIRSCH_LAPLACE)
    f_hat = fft.rfft2(t_hat.astype(np.float64), workers=workers)
    t, beta = t_hat.copy(), 1.0
    while beta <= beta_max * (1 + 1e-9):
        for _ in range(inner):
            back = np.zeros(shape, dtype=np.float32)
            for k, w in zip(KIRSCH_LAPLACE, weights, strict=True):
                d = _circular(t, k)
                u = np.sign(d) * np.maximum(np.abs(d) - w / np.float32(beta), np.float32(0.0))
                back += _circular(u.astype(np.float32), k, adjoint=True)
            numerator = (lam / beta) * f_hat + fft.rfft2(back.astype(np.float64), workers=workers)
            t = fft.irfft2(numerator / (lam / beta + denominator), s=shape,
                           workers=workers).astype(np.float32)
        beta *= beta_rate
    return t


def dehaze_meng(image: np.ndarray, c0: float = 0.08, window: int = 11, lam: float = 1.0,
                sigma: float = 0.5) -> np.ndarray:
    """Single-image dehazing of Meng et al. (ICCV 2013) for a grey-level image with A = 1: the
    boundary-constrained transmission (:func:`boundary_transmission`), refined by the contextual
    regularisation (:func:`contextual_regularisation`), removed by the haze model (their Eq. 25
    with exponent delta = 1), ``R = 1 - (1 - I) / max(t, 1e-3)``, clipped to [0, 1]. Defaults:
    c0 = 20/255 (their C0 for 8-bit images), the paper's dark-channel window for the closing, and
    lam 1, sigma 0.5 for the regularisation."""
    img = np.asarray(image, dtype=np.float32)
    t = contextual_regularisation(boundary_transmission(img, c0, window), img, lam, sigma)
    t = np.maximum(t, np.float32(1e-3))
    out = np.float32(1.0) - (np.float32(1.0) - img) / t
    return np.clip(out, 0.0, 1.0, out=out)


def clahe(image: np.ndarray, clip_limit: float = 0.01, tiles=(8, 8), nbins: int = 256,
          semantics: str = "matlab") -> np.ndarray:
    """CLAHE in floating point with MATLAB ``adapthisteq`` (default, the paper's tool) or
    scikit-image ``equalize_adapthist`` semantics; see :mod:`mcdetect.preprocessing.clahe`.
    ``clip_limit`` is the normalised clip limit (0.01), ``tiles`` the number of tiles (rows, cols)
    (8 x 8), ``nbins`` the histogram bins (256). Output: float32 in [0, 1], not quantised."""
    from mcdetect.preprocessing.clahe import clahe as _clahe

    return _clahe(image, clip_limit=clip_limit, tiles=tiles, nbins=nbins, semantics=semantics)


def apply_variant(image: np.ndarray, variant: str, params: dict | None = None) -> np.ndarray:
    """One preprocessing variant of a canonical image, with that variant's parameters."""
    params = dict(params or {})
    if variant == "raw":
        return np.asarray(image, dtype=np.float32)
    if variant == "dehaze":
        return dehaze(image, omega=params.get("omega", 0.9), window=params.get("window", 11))
    if variant == "dehaze_guided":
        return dehaze_guided(image, **params)
    if variant == "dehaze_tarel":
        return dehaze_tarel(image, **params)
    if variant == "dehaze_meng":
        return dehaze_meng(image, **params)
    if variant == "clahe":
        return clahe(image, clip_limit=params.get("clip_limit", 0.01),
                     tiles=tuple(params.get("tiles", (8, 8))), nbins=params.get("nbins", 256),
                     semantics=params.get("semantics", "matlab"))
    raise ValueError(f"unknown preprocessing variant {variant!r}; known: {', '.join(VARIANTS)}")


def preprocess_image(image: np.ndarray, variant: str, params: dict,
                     percentile: float) -> tuple[np.ndarray, np.ndarray]:
    """The study's preprocessing of one canonical image (float in [0, 1]): its breast mask, and
    ``variant`` of the image normalised inside it. The one definition that the preprocessing
    stage, the detection of evaluation-only releases and ``mcdetect detect`` share."""
    from mcdetect.preprocessing.mask import breast_mask

    mask = breast_mask(image)
    return apply_variant(normalise(image, mask, percentile), variant, params), mask


def preprocess_file(dicom, variant: str, params: dict, out_image, out_mask=None, *,
                    spacing_mm: float, percentile: float, png_compression: int, name: str = "",
                    log) -> np.ndarray:
    """Rule preprocess: read one DICOM through the reader, normalise it inside its breast mask,
    apply ``variant`` and write it as a 16-bit PNG (and the mask, when ``out_mask`` is given)."""
    import time

    from mcdetect.data.dicom import read_mammogram
    from mcdetect.imageio import save_image, save_mask

    start = time.perf_counter()
    image = read_mammogram(dicom, spacing_mm).image
    read = time.perf_counter()
    out, mask = preprocess_image(image, variant, params, percentile)
    done = time.perf_counter()
    save_image(out_image, out, compression=png_compression)
    if out_mask:
        save_mask(out_mask, mask)
        log.info("breast mask: %.1f%% of the image", 100 * mask.mean())
    log.info("%s %s: %dx%d, read %.0f ms, mask+normalise+%s %.1f ms, write %.0f ms, "
             "range [%.4f, %.4f]", name, variant, *out.shape, 1e3 * (read - start), variant,
             1e3 * (done - read), 1e3 * (time.perf_counter() - done), out.min(), out.max())
    return out
