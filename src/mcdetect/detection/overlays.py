"""Detection stage: overlays of held-out images with a detector's marks at one operating point --
hits, false positives and missed MCs -- on full-resolution crops around an annotated cluster, one
column per preprocessing variant, so a reader sees what the FROC counts.

The operating point of each variant is the lowest threshold at which its MC-level FROC stays at or
below ``fp_per_image`` false marks per image over all held-out images (``froc_curves.tsv``); a
mark is a hit as in the FROC (one-to-one within the hit radius, ``mcdetect.detection.froc``).
The images shown are the ``n_images`` with the largest annotated cluster (most annotated MCs with
one cluster label, ties: the first in the image list), each cropped to a square of ``crop_px``
around its densest group of annotated MCs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["operating_threshold", "pick_images", "overlay_figure"]


def operating_threshold(curve: pd.DataFrame, fp_per_image: float) -> float:
    """The lowest threshold of a FROC curve (fp_per_image, threshold) with at most
    ``fp_per_image`` false marks per image (+inf when even the first mark costs more)."""
    ok = curve[curve["fp_per_image"] <= fp_per_image]
    return float(ok["threshold"].min()) if len(ok) else float("inf")


def pick_images(mcs: pd.DataFrame, image_ids, n_images: int) -> list[str]:
    """The ``n_images`` images (of ``image_ids``, in their order) with the most annotated MCs in
    one cluster (isolated MCs count one each when an image has no cluster)."""
    mcs = mcs[mcs["image_id"].isin(set(image_ids))]
    label = mcs["cluster_id"] if "cluster_id" in mcs else pd.Series(-1, index=mcs.index)
    label = label.where(label >= 0, -1 - np.arange(len(mcs)))  # isolated: a group of one
    largest = mcs.assign(label=label).groupby(["image_id", "label"]).size().groupby(
        level=0).max()
    order = pd.Series(range(len(image_ids)), index=list(image_ids))
    ranked = pd.DataFrame({"n": largest, "order": order[largest.index]})
    ranked = ranked.sort_values(["n", "order"], ascending=[False, True], kind="stable")
    return list(ranked.index[:n_images])


def _marks(dets: pd.DataFrame, truth: np.ndarray, threshold: float, hit_px: float):
    """Marks at or above ``threshold``: (positions, hit flags) and the annotated MCs missed."""
    from mcdetect.detection.froc import match

    kept = dets[dets["score"] >= threshold]
    xy = kept[["x", "y"]].to_numpy(float)
    hit, taken = match(xy, kept["score"].to_numpy(float), truth, hit_px)
    found = np.zeros(len(truth), bool)
    found[taken[taken >= 0]] = True
    return xy, hit, truth[~found]


def overlay_figure(path, images: dict, masks: dict, detections: dict, mcs: pd.DataFrame,
                   thresholds: dict, image_ids: list, *, method: str, crop_px: int,
                   hit_px: float, fp_per_image: float) -> None:
    """The overlay figure: one row per image of ``image_ids``, one column per variant.

    ``images``: {variant: {image_id: preprocessed image}}; ``masks``: {image_id: mask};
    ``detections``: {variant: detections (image_id, x, y, score)}; ``thresholds``: {variant:
    operating threshold}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mcdetect.preprocessing.figures import densest_box_centre, display_window

    variants = list(images)
    fig, axes = plt.subplots(len(image_ids), len(variants), squeeze=False, dpi=130,
                             figsize=(3.4 * len(variants), 3.9 * len(image_ids)))
    for row, image_id in zip(axes, image_ids, strict=True):
        truth = mcs.loc[mcs["image_id"] == image_id, ["x", "y"]].to_numpy(float)
        mask = masks[image_id]
        rows, cols = mask.shape
        cx, cy = densest_box_centre(truth, crop_px) if len(truth) else (cols / 2, rows / 2)
        x0 = int(np.clip(round(cx - crop_px / 2), 0, max(cols - crop_px, 0)))
        y0 = int(np.clip(round(cy - crop_px / 2), 0, max(rows - crop_px, 0)))
        for ax, variant in zip(row, variants, strict=True):
            dets = detections[variant]
            xy, hit, missed = _marks(dets[dets["image_id"] == image_id], truth,
                                     thresholds[variant], hit_px)
            crop = images[variant][image_id][y0:y0 + crop_px, x0:x0 + crop_px]
            ax.imshow(display_window(crop, mask[y0:y0 + crop_px, x0:x0 + crop_px]),
                      cmap="gray", interpolation="nearest",
                      extent=(x0 - 0.5, x0 + crop.shape[1] - 0.5, y0 + crop.shape[0] - 0.5,
                              y0 - 0.5))
            inside = ((xy[:, 0] >= x0) & (xy[:, 0] < x0 + crop_px) & (xy[:, 1] >= y0)
                      & (xy[:, 1] < y0 + crop_px))
            ax.scatter(*xy[inside & hit].T, s=60, facecolors="none", edgecolors="lime",
                       linewidths=1.2, label="hit")
            ax.scatter(*xy[inside & ~hit].T, s=50, marker="s", facecolors="none",
                       edgecolors="red", linewidths=1.2, label="false positive")
            if len(missed):
                ax.scatter(*missed.T, s=40, marker="x", c="yellow", linewidths=1.0,
                           label="missed MC")
            ax.set_xlim(x0 - 0.5, x0 + crop.shape[1] - 0.5)
            ax.set_ylim(y0 + crop.shape[0] - 0.5, y0 - 0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{variant}: {int(hit.sum())}/{len(truth)} MCs found, "
                         f"{int((~hit).sum())} false marks", fontsize=8)
        row[0].set_ylabel(image_id, fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes.flat:  # a panel without some kind of mark still names every kind
        h, lab = ax.get_legend_handles_labels()
        if len(h) > len(handles):
            handles, labels = h, lab
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    net = method if method == "dog" else f"{method}-like CNN"
    fig.suptitle(f"{net} at {fp_per_image:g} false mark per image (whole held-out set); "
                 f"crops of {crop_px} px at full resolution", fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    fig.savefig(path)
    plt.close(fig)
