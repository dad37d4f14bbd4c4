"""Preprocessing stage: its figures (paper Figs. 1 and 2) -- the dehazing transform of the
background, and one mammogram in every variant with close-ups of its densest MC group."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

__all__ = ["background_transform_figure", "dehazing_example_figure", "display_window",
           "densest_box_centre", "variant_title", "example_figures"]


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
    """Fig. 2: a mammogram in every variant of ``images`` ({title: image}; the paper: raw, dehazed,
    CLAHE) (top), with close-ups of the MC cluster around the densest group of annotated MCs
    (bottom; MC centres marked by ticks)."""
    names = list(images)
    rows, cols = mask.shape
    centre = densest_box_centre(mcs_xy, box_px) if len(mcs_xy) else np.array([cols / 2, rows / 2])
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


def densest_box_centre(xy: np.ndarray, box: int) -> np.ndarray:
    """Centre of the box (side ``box``) holding the most points, among boxes centred on points."""
    counts = [
        np.sum((np.abs(xy[:, 0] - x) < box / 2) & (np.abs(xy[:, 1] - y) < box / 2)) for x, y in xy
    ]
    best = xy[int(np.argmax(counts))]
    near = xy[(np.abs(xy[:, 0] - best[0]) < box / 2) & (np.abs(xy[:, 1] - best[1]) < box / 2)]
    return near.mean(axis=0)


def variant_title(variant: str, params: dict) -> str:
    """A variant's name with its parameters, for a figure panel."""
    if variant == "dehaze_tarel":
        return f"Tarel veil (p {params['p']:g}, {params['window']}x{params['window']} median)"
    if variant == "dehaze_meng":
        return (f"Meng boundary (c0 {params['c0']:g}, {params['window']}x{params['window']}, "
                f"λ {params['lam']:g})")
    if variant.startswith("dehaze"):
        w = params["window"]
        extra = ", guided filter" if variant == "dehaze_guided" else ""
        return f"{variant} (ω {params['omega']:g}, {w}x{w}{extra})"
    if variant == "clahe":
        return f"CLAHE (clip {params['clip_limit']:g}, {params['tiles'][0]}x{params['tiles'][1]})"
    return variant


def example_figures(fig1, fig2, image_id: str, images: dict, mask_png, mcs_tsv, *, omegas,
                    variant_params: dict) -> int:
    """Figs. 1 and 2 of the study: the background transform for ``omegas``, and the example image
    ``image_id`` in every variant ({variant: PNG}). Returns the number of its annotated MCs."""
    import pandas as pd

    from mcdetect.imageio import load_image, load_mask

    background_transform_figure(fig1, omegas)
    mcs = pd.read_csv(mcs_tsv, sep="\t")
    xy = mcs.loc[mcs["image_id"] == image_id, ["x", "y"]].to_numpy()
    panels = {variant_title(v, variant_params.get(v, {})): load_image(png)
              for v, png in images.items()}
    dehazing_example_figure(fig2, panels, load_mask(mask_png), xy,
                            title=f"{image_id}: {len(xy)} annotated MCs")
    return len(xy)
