"""Detection stage in the study: detections on the held-out images of every chosen net (and of the
non-learned first stage alone), and their FROC at the MC and the cluster level with a paired
bootstrap by image or patient, the comparisons of the study design, bands and a figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["detect_images", "detect_held_out", "froc_study", "froc_tables", "write_froc",
           "overlays_study", "load_nets", "score_image", "DOG", "FP_OVER", "FAMILY_SUMMARIES",
           "fp_modes"]

DOG = "dog"  # the first stage alone: candidates scored by their difference-of-Gaussians response
DETECTION_COLUMNS = ["image_id", "x", "y", "x_mm", "y_mm", "score"]


def load_nets(model_paths=(), card_paths=()) -> list:
    """(model, model card) of every net of ``model_paths`` (cards: the .json beside each, or
    ``card_paths``)."""
    if not model_paths:
        return []
    import keras

    import mcdetect.cnn.models  # noqa: F401  (registers the custom layers for loading)
    from mcdetect.detection.files import load_model_card

    cards = list(card_paths) or [None] * len(model_paths)
    return [(keras.models.load_model(m), load_model_card(m, c))
            for m, c in zip(model_paths, cards, strict=True)]


def score_image(nets: list, image: np.ndarray, mask: np.ndarray, *, mode: str,
                max_candidates: int) -> np.ndarray:
    """The score map of a preprocessed image: the mean log-odds of ``nets`` ([(model, card)]),
    or without nets the first stage's own DoG response at its candidates (NaN elsewhere)."""
    from mcdetect.detection.scoring import candidates, dog_response, score_map

    if not nets:
        xy = candidates(image, mask, max_candidates)
        scores = np.full(image.shape, np.nan, np.float32)
        scores[xy[:, 1], xy[:, 0]] = dog_response(image)[xy[:, 1], xy[:, 0]]
        return scores
    maps = [score_map(model, image, mask, card["stats"], mode=mode,
                      max_candidates=max_candidates) for model, card in nets]
    return maps[0] if len(maps) == 1 else np.mean(maps, axis=0)


def detect_images(image_ids: list, load, nets: list, out_parquet, *, mode: str,
                  max_candidates: int, floor: float, nms_mm: float, spacing_mm: float,
                  what: str = "", log=print) -> pd.DataFrame:
    """Detections on every image of ``image_ids`` (``load(image_id)`` gives its preprocessed
    image and mask) by ``nets`` (``score_image``), written to ``out_parquet`` (columns
    DETECTION_COLUMNS), with progress in the log."""
    import time

    from mcdetect.detection.peaks import detect

    tables, start = [], time.perf_counter()
    for k, image_id in enumerate(image_ids, 1):
        image, mask = load(image_id)
        scores = score_image(nets, image, mask, mode=mode, max_candidates=max_candidates)
        dets = detect(scores, mask, floor=floor, nms_mm=nms_mm, spacing_mm=spacing_mm)
        tables.append(dets.assign(image_id=image_id)[DETECTION_COLUMNS])
        if k % max(1, len(image_ids) // 5) == 0 or k == len(image_ids):
            log(f"[detect] {what}{k}/{len(image_ids)} images, "
                f"{time.perf_counter() - start:.0f} s")
    table = (pd.concat(tables, ignore_index=True) if tables
             else pd.DataFrame(columns=DETECTION_COLUMNS))
    table.to_parquet(out_parquet, index=False)
    return table


def detect_held_out(images: dict, masks: dict, folds_tsv, out_parquets: list, *,
                    model_paths=(), card_paths=(), mode: str, max_candidates: int,
                    floor: float, nms_mm: float, spacing_mm: float, log=print) -> list:
    """Detections on the held-out images of every fold ({image_id: preprocessed PNG},
    {image_id: mask PNG}; fold k's into ``out_parquets[k]``): fold k's net (``model_paths[k]``)
    or, without models, the first stage's own DoG response at its candidates. Returns the
    tables."""
    from mcdetect.imageio import load_image, load_mask

    folds = pd.read_csv(folds_tsv, sep="\t")
    models = list(model_paths) or [None] * len(out_parquets)
    cards = list(card_paths) or [None] * len(out_parquets)
    tables = []
    for fold, (out, model, card) in enumerate(zip(out_parquets, models, cards, strict=True)):
        held_out = [i for i in folds.loc[folds["fold"] == fold, "image_id"] if i in images]
        nets = load_nets([model] if model else [], [card] if card else [])
        tables.append(detect_images(
            held_out, lambda i: (load_image(images[i]), load_mask(masks[i])), nets, out,
            mode=mode, max_candidates=max_candidates, floor=floor, nms_mm=nms_mm,
            spacing_mm=spacing_mm, what=f"fold {fold}: ", log=log))
    return tables


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
               spacing_mm: float, n_boot: int, unit: str, seed: int, link_mm: float,
               min_mcs: int, regions_tsv=None, workers: int = 1, log=print) -> pd.DataFrame:
    """FROC of every method ({(variant, method): [detection parquets of the folds]}) on all
    held-out images, at the MC level and the cluster level (``mcdetect.detection.clusters``:
    marks linked within ``link_mm``, at least ``min_mcs``; true clusters from ``regions_tsv``
    where the dataset has outlines, else from the MCs' cluster labels): curves, summaries with
    95% CIs, the design's comparisons per method and level (paired bootstrap by ``unit``,
    Bonferroni over the comparisons), bootstrap bands and the figure. ``out``: curves,
    summaries, comparisons, bands (TSV), figure (PNG). Every table has a ``level`` column."""
    from mcdetect.detection.clusters import ClusterFroc, true_clusters
    from mcdetect.detection.froc import FrocData

    folds = pd.read_csv(folds_tsv, sep="\t")
    mcs = pd.read_csv(mcs_tsv, sep="\t")
    regions = pd.read_csv(regions_tsv, sep="\t") if regions_tsv else None
    truth = true_clusters(mcs, regions, min_mcs=min_mcs, margin=hit_mm / spacing_mm)
    n_truth = mcs.groupby("image_id").size()
    images = pd.DataFrame({"image_id": folds["image_id"],
                           "n_truth": folds["image_id"].map(n_truth).fillna(0).astype(int)})
    units = None if unit == "image" else folds["patient_id"].to_numpy()
    levels = {"MC": {}, "cluster": {}}
    for (variant, method), paths in detections.items():
        table = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
        name = f"{variant}/{method}"
        levels["MC"][name] = FrocData(_hits(table, mcs, hit_mm / spacing_mm), images)
        levels["cluster"][name] = ClusterFroc(table, truth, images, spacing_mm=spacing_mm,
                                              link_mm=link_mm, min_mcs=min_mcs)
    log(f"{len(mcs)} annotated MCs, {len(truth)} annotated clusters on {len(images)} images")
    tables = froc_tables(design, levels, images, units=units, n_boot=n_boot, seed=seed,
                         workers=workers)
    write_froc(tables, out, design.variants)
    log(f"FROC summaries:\n{tables['summaries'].to_string(index=False)}")
    return tables["summaries"]


# false positives per image counted on images without annotated MCs (the field's convention for
# MC detection, the headline) or on every image
FP_OVER = {"normal": "per normal image", "all": "per image (all images)"}
# the summaries whose comparisons form the significance family (as the report shows them)
FAMILY_SUMMARIES = ("sens@1", "area[0,10]")


def fp_modes(levels: dict) -> list[str]:
    """How false positives are counted: on normal images first (the headline) where the images
    include any (each method's ``normal``), then on all images."""
    normal = any(data.normal.any() for methods in levels.values() for data in methods.values())
    return (["normal"] if normal else []) + ["all"]


def _comparisons(design, methods: dict) -> list[tuple[str, str]]:
    """The design's comparisons per method, and each net against the first stage alone on the
    same variant."""
    names = sorted({k.split("/", 1)[1] for k in methods})
    pairs = [(f"{x}/{m}", f"{y}/{m}") for m in names for x, y in design.comparisons
             if f"{x}/{m}" in methods and f"{y}/{m}" in methods]
    return pairs + [(f"{v}/{m}", f"{v}/{DOG}") for m in names if m != DOG
                    for v in design.variants
                    if f"{v}/{m}" in methods and f"{v}/{DOG}" in methods]


def froc_tables(design, levels: dict, images: pd.DataFrame, *, units, n_boot: int,
                seed: int, workers: int = 1) -> dict:
    """Curves, summaries, comparisons and bands of every level ({level: {"variant/method":
    FrocData or ClusterFroc}}) and way of counting false positives (``fp_modes``), each table
    with ``level`` and ``fp_over`` columns. Comparisons: the design's per method and level, and
    each net against the first stage alone on the same variant (paired bootstrap by ``units``;
    every counting mode on the same resamples). Significance: Bonferroni over the family of every
    comparison of every level in FAMILY_SUMMARIES under the headline count (its size in column
    ``m``); the other count's p-values are descriptive (``significant`` false)."""
    from mcdetect.detection.froc import froc_bootstrap

    modes = fp_modes(levels)
    pairs = {level: _comparisons(design, methods) for level, methods in levels.items()}
    m = max(1, sum(len(c) for c in pairs.values()) * len(FAMILY_SUMMARIES))
    smallest_p = 2 / (n_boot + 1)
    if smallest_p >= design.alpha / m:
        import warnings

        warnings.warn(f"detection: {n_boot} resamples cannot reach p < {design.alpha / m:.2g} "
                      f"(Bonferroni, m = {m}); the smallest p is {smallest_p:.2g}", stacklevel=2)
    tables = {key: [] for key in ("curves", "summaries", "comparisons", "bands")}
    for level, methods in levels.items():
        for mode in modes:
            normal = mode == "normal"
            for name, data in methods.items():
                f, s, t = data.curve(normal_only=normal)
                tables["curves"].append(pd.DataFrame({
                    "level": level, "fp_over": mode, "model": name, "fp_per_image": f,
                    "sensitivity": s, "threshold": t}))
            summary, diffs, bands = froc_bootstrap(methods, images, pairs[level], units=units,
                                                   n_boot=n_boot, seed=seed, normal_only=normal,
                                                   alpha=design.alpha, m=m, workers=workers)
            if len(diffs):
                diffs["significant"] &= (mode == modes[0]) & diffs["summary"].isin(
                    FAMILY_SUMMARIES)
                diffs["m"] = m
            for key, table in zip(("summaries", "comparisons", "bands"),
                                  (summary, diffs, bands), strict=True):
                tables[key].append(table.assign(level=level, fp_over=mode)[
                    ["level", "fp_over", *table.columns]])
    return {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}


def write_froc(tables: dict, out: dict, variants) -> None:
    """The FROC tables as TSV (``out``: curves, summaries, comparisons, bands) and the figure."""
    for key, table in tables.items():
        table.to_csv(out[key], sep="\t", index=False,
                     float_format="%.6g" if key in ("curves", "bands") else "%.4f")
    froc_figure(out["figure"], tables["curves"], tables["bands"], variants)


def froc_figure(path, curves: pd.DataFrame, bands: pd.DataFrame, variants) -> None:
    """FROC curves with their 95% bootstrap bands: one row per level (MC, cluster), one panel per
    method (CNN or first stage), every variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mcdetect.evaluation.figures import PALETTE

    def split(table, column):  # "variant/method" into its two parts
        parts = table[column].str.split("/")
        return table.assign(variant=parts.str[0], method=parts.str[1])

    headline = curves["fp_over"].iloc[0] if "fp_over" in curves and len(curves) else "all"
    if "fp_over" in curves:
        curves = curves[curves["fp_over"] == headline]
        bands = bands[bands["fp_over"] == headline]
    curves, bands = split(curves, "model"), split(bands, "method")
    methods, levels = sorted(curves["method"].unique()), list(dict.fromkeys(curves["level"]))
    fig, axes = plt.subplots(len(levels), len(methods), figsize=(4.4 * len(methods),
                                                                 3.6 * len(levels)),
                             dpi=130, sharey=True, squeeze=False)
    for row, level in zip(axes, levels, strict=True):
        for ax, method in zip(row, methods, strict=True):
            for v in variants:
                pick = (curves["level"] == level) & (curves["method"] == method)
                c = curves[pick & (curves["variant"] == v)]
                b = bands[(bands["level"] == level) & (bands["method"] == method)
                          & (bands["variant"] == v)]
                if not len(c):
                    continue
                color = PALETTE.get(v, "k")
                ax.step(c["fp_per_image"], c["sensitivity"], where="post", label=v,
                        color=color)
                ax.fill_between(b["fp_per_image"], b["ci_low"], b["ci_high"], step="post",
                                color=color, alpha=0.15, linewidth=0)
            ax.set_xscale("symlog", linthresh=0.1)
            ax.set_xlim(0, 10)
            ax.set_ylim(0, 1)
            unit = "MCs" if level == "MC" else "clusters"
            ax.set_xlabel(f"false {'positives' if level == 'MC' else 'clusters'} "
                          + FP_OVER[headline])
            net = method if method == DOG else f"{method}-like CNN"
            ax.set_title(f"{net}: {unit}", fontsize=10)
            ax.legend(fontsize=7, loc="lower right")
        row[0].set_ylabel(f"{level} sensitivity")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def overlays_study(images: dict, masks: dict, detections: dict, curves_tsv, mcs_tsv, out_png, *,
                   method: str, image_ids: list, n_images: int, fp_per_image: float,
                   crop_mm: float, hit_mm: float, spacing_mm: float, log=print) -> list:
    """The overlay figure of ``method`` (``mcdetect.detection.overlays``): ``images``
    {variant: {image_id: preprocessed PNG}}, ``masks`` {image_id: mask PNG}, ``detections``
    {variant: [detection parquets of the folds]}. Returns the image ids shown."""
    from mcdetect.detection.overlays import operating_threshold, overlay_figure, pick_images
    from mcdetect.imageio import load_image, load_mask

    mcs = pd.read_csv(mcs_tsv, sep="\t")
    curves = pd.read_csv(curves_tsv, sep="\t")
    curves = curves[curves["level"] == "MC"]
    curves = curves[curves["fp_over"] == curves["fp_over"].iloc[0]]  # the headline count
    shown = pick_images(mcs, image_ids, n_images)
    thresholds = {v: operating_threshold(curves[curves["model"] == f"{v}/{method}"],
                                         fp_per_image) for v in images}
    overlay_figure(out_png,
                   {v: {i: load_image(paths[i]) for i in shown} for v, paths in images.items()},
                   {i: load_mask(masks[i]) for i in shown},
                   {v: pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
                    for v, paths in detections.items()},
                   mcs, thresholds, shown, method=method,
                   crop_px=int(round(crop_mm / spacing_mm)), hit_px=hit_mm / spacing_mm,
                   fp_per_image=fp_per_image)
    log(f"overlays of {len(shown)} images; thresholds at {fp_per_image:g} FP/image: "
        + ", ".join(f"{v} {t:.3g}" for v, t in thresholds.items()))
    return shown
