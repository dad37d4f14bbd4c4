"""Detection stage in the study: detections on the held-out images of every chosen net (and of the
non-learned first stage alone), and their MC-level FROC with a paired bootstrap by image or
patient, the comparisons of the study design, and a figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["detect_held_out", "froc_study", "DOG"]

DOG = "dog"  # the first stage alone: candidates scored by their difference-of-Gaussians response
DETECTION_COLUMNS = ["image_id", "x", "y", "x_mm", "y_mm", "score"]


def detect_held_out(images: dict, masks: dict, folds_tsv, fold: int, out_parquet, *,
                    model_path=None, card_path=None, mode: str, max_candidates: int,
                    floor: float, nms_mm: float, spacing_mm: float, log=print) -> pd.DataFrame:
    """Detections on every image of held-out ``fold`` ({image_id: preprocessed PNG},
    {image_id: mask PNG}): the net's (``model_path``) or, without a model, the first stage's own
    DoG response at its candidates."""
    import time

    from mcdetect.detection.peaks import detect
    from mcdetect.detection.scoring import candidates, dog_response, score_map
    from mcdetect.imageio import load_image, load_mask

    folds = pd.read_csv(folds_tsv, sep="\t")
    held_out = [i for i in folds.loc[folds["fold"] == fold, "image_id"] if i in images]
    model = card = None
    if model_path:
        import keras

        import mcdetect.cnn.models  # noqa: F401  (registers the custom layers for loading)
        from mcdetect.detection.files import load_model_card

        model, card = keras.models.load_model(model_path), load_model_card(model_path, card_path)
    tables, start = [], time.perf_counter()
    for k, image_id in enumerate(held_out, 1):
        image, mask = load_image(images[image_id]), load_mask(masks[image_id])
        if model is None:
            xy = candidates(image, mask, max_candidates)
            scores = np.full(image.shape, np.nan, np.float32)
            scores[xy[:, 1], xy[:, 0]] = dog_response(image)[xy[:, 1], xy[:, 0]]
        else:
            scores = score_map(model, image, mask, card["stats"], mode=mode,
                               max_candidates=max_candidates)
        dets = detect(scores, mask, floor=floor, nms_mm=nms_mm, spacing_mm=spacing_mm)
        tables.append(dets.assign(image_id=image_id)[DETECTION_COLUMNS])
        if k % max(1, len(held_out) // 5) == 0 or k == len(held_out):
            log(f"[detect] fold {fold}: {k}/{len(held_out)} images, "
                f"{time.perf_counter() - start:.0f} s")
    table = (pd.concat(tables, ignore_index=True) if tables
             else pd.DataFrame(columns=DETECTION_COLUMNS))
    table.to_parquet(out_parquet, index=False)
    return table


def _hits(detections: pd.DataFrame, mcs: pd.DataFrame, hit_px: float) -> pd.DataFrame:
    """Each detection with its hit flag (one-to-one greedy matching per image)."""
    from mcdetect.detection.froc import match

    truth = {k: g[["x", "y"]].to_numpy(float) for k, g in mcs.groupby("image_id")}
    parts = []
    for image_id, g in detections.groupby("image_id", sort=False):
        hit, _ = match(g[["x", "y"]].to_numpy(float), g["score"].to_numpy(float),
                       truth.get(image_id, np.zeros((0, 2))), hit_px)
        parts.append(g.assign(hit=hit))
    if not parts:
        return detections.assign(hit=pd.Series(dtype=bool))
    return pd.concat(parts, ignore_index=True)


def froc_study(design, detections: dict, mcs_tsv, folds_tsv, out: dict, *, hit_mm: float,
               spacing_mm: float, n_boot: int, unit: str, seed: int, log=print) -> pd.DataFrame:
    """MC-level FROC of every method ({(variant, method): [detection parquets of the folds]})
    on all held-out images: curves, summaries with 95% CIs, the design's comparisons per method
    (paired bootstrap by ``unit``, Bonferroni over the comparisons), and the figure. ``out``:
    curves, summaries, comparisons (TSV), figure (PNG)."""
    from mcdetect.detection.froc import froc_bootstrap, froc_curve

    folds = pd.read_csv(folds_tsv, sep="\t")
    mcs = pd.read_csv(mcs_tsv, sep="\t")
    n_truth = mcs.groupby("image_id").size()
    images = pd.DataFrame({"image_id": folds["image_id"],
                           "n_truth": folds["image_id"].map(n_truth).fillna(0).astype(int)})
    units = None if unit == "image" else folds["patient_id"].to_numpy()
    methods = {}
    for (variant, method), paths in detections.items():
        table = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
        methods[f"{variant}/{method}"] = _hits(table, mcs, hit_mm / spacing_mm)
    curves = pd.concat([froc_curve(d, images).assign(model=k) for k, d in methods.items()])
    curves.to_csv(out["curves"], sep="\t", index=False, float_format="%.6g")
    names = sorted({k.split("/", 1)[1] for k in methods})
    comparisons = [(f"{x}/{m}", f"{y}/{m}") for m in names for x, y in design.comparisons
                   if f"{x}/{m}" in methods and f"{y}/{m}" in methods]
    # Bonferroni over the design's comparisons, per method as in Table 3
    summary, diffs = froc_bootstrap(methods, images, comparisons, units=units, n_boot=n_boot,
                                    seed=seed, alpha=design.alpha, m=design.m)
    summary.to_csv(out["summaries"], sep="\t", index=False, float_format="%.4f")
    diffs.to_csv(out["comparisons"], sep="\t", index=False, float_format="%.4f")
    froc_figure(out["figure"], curves, design.variants)
    log(f"FROC summaries:\n{summary.to_string(index=False)}")
    return summary


def froc_figure(path, curves: pd.DataFrame, variants) -> None:
    """MC-level FROC curves, one panel per method (CNN or first stage), every variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mcdetect.evaluation.figures import PALETTE

    curves = curves.assign(variant=curves["model"].str.split("/").str[0],
                           method=curves["model"].str.split("/").str[1])
    methods = sorted(curves["method"].unique())
    fig, axes = plt.subplots(1, len(methods), figsize=(4.4 * len(methods), 3.8), dpi=130,
                             sharey=True, squeeze=False)
    for ax, method in zip(axes[0], methods, strict=True):
        for v in variants:
            c = curves[(curves["method"] == method) & (curves["variant"] == v)]
            if len(c):
                ax.step(c["fp_per_image"], c["sensitivity"], where="post", label=v,
                        color=PALETTE.get(v, "k"))
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 1)
        ax.set_xlabel("false positives per image")
        ax.set_title(method if method == DOG else f"{method}-like CNN", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("MC sensitivity")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
