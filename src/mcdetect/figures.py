"""Report figures of the preprocessing stage (paper Figs. 1 and 2)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

__all__ = ["background_transform_figure", "dehazing_example_figure", "display_window"]


def background_transform_figure(path, omegas=(0.5, 0.7, 0.8, 0.9, 0.95, 0.99)) -> None:
    """Fig. 1: the transform of Eq. 15, R = 1 - (1 - I) / (1 - omega I), on the background next
    to an MC, for several omega; the identity for reference."""
    i = np.linspace(0.0, 1.0, 501)
    fig, ax = plt.subplots(figsize=(4.8, 4.4), dpi=150)
    ax.plot(i, i, color="0.6", ls="--", lw=1, label="identity (no dehazing)")
    cmap = plt.get_cmap("viridis")
    for k, omega in enumerate(sorted(omegas)):
        r = 1.0 - (1.0 - i) / (1.0 - omega * i)
        ax.plot(i, r, color=cmap(k / max(1, len(omegas) - 1)), lw=1.6, label=f"ω = {omega:g}")
    ax.set_xlabel("I(x), background intensity")
    ax.set_ylabel("R(x), after dehazing")
    ax.set_title("Eq. 15: dehazing darkens the background near MCs", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def display_window(image: np.ndarray, mask: np.ndarray | None = None, lo=0.5, hi=99.8):
    """Percentile display window of an image (inside ``mask`` when given), mapped to [0, 1]."""
    values = image[mask] if mask is not None and mask.any() else image
    a, b = np.percentile(values, [lo, hi])
    return np.clip((image - a) / max(b - a, 1e-6), 0.0, 1.0)


def dehazing_example_figure(path, images: dict, mask: np.ndarray, mcs_xy: np.ndarray,
                            box_px: int = 120, title: str = "") -> None:
    """Fig. 2: a mammogram raw, dehazed and CLAHE-processed (top), with close-ups of the MC
    cluster around the densest group of annotated MCs (bottom; MC centres marked by ticks)."""
    names = list(images)
    rows, cols = mask.shape
    centre = _densest(mcs_xy, box_px) if len(mcs_xy) else np.array([cols / 2, rows / 2])
    x0 = int(np.clip(centre[0] - box_px / 2, 0, cols - box_px))
    y0 = int(np.clip(centre[1] - box_px / 2, 0, rows - box_px))
    fig, axes = plt.subplots(2, len(names), figsize=(3.3 * len(names), 7.2), dpi=150,
                             gridspec_kw={"height_ratios": [rows / cols, 1.0]})
    for k, name in enumerate(names):
        img = images[name]
        top, bottom = axes[0, k], axes[1, k]
        top.imshow(display_window(img, mask), cmap="gray", interpolation="lanczos")
        top.add_patch(Rectangle((x0, y0), box_px, box_px, fill=False, ec="red", lw=1))
        top.set_title(name, fontsize=10)
        crop = img[y0 : y0 + box_px, x0 : x0 + box_px]
        bottom.imshow(display_window(crop), cmap="gray", interpolation="nearest")
        inside = ((mcs_xy[:, 0] >= x0) & (mcs_xy[:, 0] < x0 + box_px) &
                  (mcs_xy[:, 1] >= y0) & (mcs_xy[:, 1] < y0 + box_px)) if len(mcs_xy) else []
        for x, y in mcs_xy[inside] if len(mcs_xy) else []:
            bottom.plot([x - x0 + 3, x - x0 + 5], [y - y0 - 3, y - y0 - 5], color="yellow", lw=0.7)
        bottom.set_xlim(-0.5, box_px - 0.5)
        bottom.set_ylim(box_px - 0.5, -0.5)
        bottom.set_title(f"close-up {box_px * 0.1:g} mm", fontsize=8)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _densest(xy: np.ndarray, box: int) -> np.ndarray:
    """Centre of the box (side ``box``) holding the most points, among boxes centred on points."""
    counts = [
        np.sum((np.abs(xy[:, 0] - x) < box / 2) & (np.abs(xy[:, 1] - y) < box / 2)) for x, y in xy
    ]
    best = xy[int(np.argmax(counts))]
    near = xy[(np.abs(xy[:, 0] - best[0]) < box / 2) & (np.abs(xy[:, 1] - best[1]) < box / 2)]
    return near.mean(axis=0)


def average_roc_figure(path, grid: np.ndarray, curves: dict, a: float, b: float) -> None:
    """Fig. 3: bootstrap-averaged ROC per CNN (one panel each), the three preprocessing variants
    with their 95% bands, FPR on a log axis over [a, b]. ``curves[(arch, variant)]`` is the
    (n_boot, len(grid)) array of resampled sensitivities."""
    import pandas as pd
    import seaborn as sns

    archs = sorted({arch for arch, _ in curves})
    rows = []
    for (arch, variant), c in curves.items():
        lo, hi = np.percentile(c, [2.5, 97.5], axis=0)
        rows += [{"CNN": arch, "variant": variant, "fpr": f, "sensitivity": m, "lo": l_, "hi": h}
                 for f, m, l_, h in zip(grid, c.mean(axis=0), lo, hi, strict=True)]
    df = pd.DataFrame(rows)
    palette = {"raw": "0.45", "clahe": "tab:blue", "dehaze": "tab:red"}
    fig, axes = plt.subplots(1, len(archs), figsize=(4.6 * len(archs), 4.0), dpi=150,
                             sharey=True, squeeze=False)
    for ax, arch in zip(axes[0], archs, strict=True):
        sub = df[df["CNN"] == arch]
        sns.lineplot(data=sub, x="fpr", y="sensitivity", hue="variant", palette=palette, ax=ax,
                     hue_order=[v for v in ("raw", "clahe", "dehaze") if v in set(sub.variant)])
        for variant, g in sub.groupby("variant"):
            ax.fill_between(g["fpr"], g["lo"], g["hi"], color=palette.get(variant, "k"),
                            alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_xlim(a, b)
        ax.set_ylim(0, 1)
        ax.set_xlabel("false positive fraction")
        ax.set_title(f"{arch}-like CNN", fontsize=10)
    axes[0][0].set_ylabel("sensitivity (bootstrap mean, 95% band)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
