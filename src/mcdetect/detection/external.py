"""Detection stage on an evaluation-only dataset (config ``evaluate_on``): the study's trained nets,
and the non-learned first stage, mark MCs on the mammograms of a public release that outlines
calcification clusters but not individual MCs (mini-MIAS circles, CBIS-DDSM masks), and are scored
by cluster-level FROC there.

No image of such a release trains or tunes anything, so every image is a test image for the nets
of every fold. A net of the study is the pair of its folds' nets: an image's score at a position is
the mean of the two folds' log-odds (an ensemble; each fold's net alone saw half the study's
patients). Images are read through the release's reader (``mcdetect.data.mini_mias``,
``mcdetect.data.cbis_ddsm``) in the study's canonical geometry, then masked, normalised and
preprocessed exactly as the study's images (``mcdetect.preprocessing``), and scored as the study's
held-out images are (``mcdetect.detection.scoring``). Clusters and their FROC follow
``mcdetect.detection.clusters`` with the release's outlines as the true clusters.

Nothing under ``results/`` names a source file: the release's file names (mini-MIAS's ``mdbNNN``,
CBIS-DDSM's patient folders) are kept in the private map only.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

__all__ = ["EXTERNAL_SOURCES", "import_external", "read_canonical", "detect_external",
           "external_froc_study"]

EXTERNAL_SOURCES = ("mini_mias", "cbis_ddsm")
PUBLIC_COLUMNS = ["image_id", "patient_id", "laterality", "view", "rows", "cols", "flipped",
                  "n_regions", "n_unlocalised"]


def import_external(source: str, root, out: dict, *, csv=(), spacing_mm: float,
                    nominal_spacing_mm: float, pseudonym_key: str, log=print) -> dict:
    """Read an evaluation-only release (every readable image; a bad one is excluded with its
    problem) and write ``out``: images (pseudonymous, no file names), regions (the cluster
    outlines in canonical pixels), summary (JSON counts) and private (image_id -> source file,
    status, problem). Returns the summary."""
    from mcdetect.data.regions import REGION_COLUMNS

    if source == "mini_mias":
        from mcdetect.data.mini_mias import read_mini_mias

        images, regions, excluded = read_mini_mias(root, spacing_mm=spacing_mm,
                                                   pseudonym_key=pseudonym_key,
                                                   on_bad_image="skip")
    elif source == "cbis_ddsm":
        from mcdetect.data.cbis_ddsm import read_cbis_ddsm

        images, regions, excluded = read_cbis_ddsm(root, list(csv), spacing_mm=spacing_mm,
                                                   nominal_spacing_mm=nominal_spacing_mm,
                                                   pseudonym_key=pseudonym_key,
                                                   on_bad_image="skip")
    else:
        raise ValueError(f"evaluate_on.source: {source!r} is not one of "
                         f"{', '.join(EXTERNAL_SOURCES)}")
    private = pd.concat([images[["image_id", "source", "path"]].assign(status="ok", problem=""),
                         excluded.assign(status="excluded")], ignore_index=True)
    private.to_csv(out["private"], sep="\t", index=False)
    images[[c for c in PUBLIC_COLUMNS if c in images]].to_csv(out["images"], sep="\t",
                                                              index=False)
    regions[["image_id", *REGION_COLUMNS]].to_csv(out["regions"], sep="\t", index=False)
    summary = {"source": source, "images": int(len(images)), "excluded": int(len(excluded)),
               "patients": int(images["patient_id"].nunique()) if len(images) else 0,
               "images_with_clusters": int(regions["image_id"].nunique()),
               "cluster_outlines": int(len(regions))}
    with open(out["summary"], "w") as fh:
        json.dump(summary, fh, indent=2)
    for _, r in excluded.iterrows():  # the job's log may name files: it stays under logs/
        log(f"excluded {r['image_id']} ({r['path']}): {r['problem']}")
    log(f"{source}: {summary}")
    return summary


def read_canonical(source: str, path, *, spacing_mm: float, nominal_spacing_mm: float,
                   pseudonym_key: str) -> np.ndarray:
    """One image of the release in the study's canonical geometry (float32 in [0, 1])."""
    if source == "mini_mias":
        from mcdetect.data.mini_mias import read_mias_image

        return read_mias_image(path, spacing_mm, pseudonym_key).image
    from mcdetect.data.dicom import read_mammogram

    return read_mammogram(path, spacing_mm, pseudonym_key,
                          default_spacing_mm=nominal_spacing_mm).image


def detect_external(images_tsv, private_tsv, out_parquet, *, source: str, model_paths=(),
                    card_paths=(), variant: str, variant_params: dict, percentile: float,
                    mode: str, max_candidates: int, floor: float, nms_mm: float,
                    spacing_mm: float, nominal_spacing_mm: float, pseudonym_key: str,
                    log=print) -> pd.DataFrame:
    """Detections on every image of the release by the nets of ``model_paths`` (the folds of one
    net, their log-odds averaged) or, without models, by the first stage alone."""
    from mcdetect.detection.study import detect_images, load_nets
    from mcdetect.preprocessing.variants import preprocess_image

    nets = load_nets(model_paths, card_paths)
    for _, card in nets:
        if card["variant"] != variant or card["percentile"] != percentile:
            raise ValueError(f"model card of variant {card['variant']} (percentile "
                             f"{card['percentile']}) used for {variant} (percentile "
                             f"{percentile})")
    images = pd.read_csv(images_tsv, sep="\t")
    path_of = pd.read_csv(private_tsv, sep="\t").set_index("image_id")["path"]

    def load(image_id):
        image = read_canonical(source, path_of[image_id], spacing_mm=spacing_mm,
                               nominal_spacing_mm=nominal_spacing_mm,
                               pseudonym_key=pseudonym_key)
        return preprocess_image(image, variant, variant_params, percentile)

    return detect_images(list(images["image_id"]), load, nets, out_parquet, mode=mode,
                         max_candidates=max_candidates, floor=floor, nms_mm=nms_mm,
                         spacing_mm=spacing_mm, log=log)


def external_froc_study(design, detections: dict, images_tsv, regions_tsv, out: dict, *,
                        spacing_mm: float, link_mm: float, min_mcs: int, n_boot: int,
                        unit: str, seed: int, log=print) -> pd.DataFrame:
    """Cluster-level FROC of every method ({(variant, method): detections parquet}) on the
    release, with the design's comparisons, bands and the figure (``out`` as for
    ``mcdetect.detection.study.froc_study``)."""
    from mcdetect.detection.clusters import ClusterFroc
    from mcdetect.detection.study import froc_tables, write_froc

    images = pd.read_csv(images_tsv, sep="\t")
    truth = pd.read_csv(regions_tsv, sep="\t")
    units = None if unit == "image" else images["patient_id"].to_numpy()
    levels = {"cluster": {
        f"{variant}/{method}": ClusterFroc(pd.read_parquet(path), truth, images,
                                           spacing_mm=spacing_mm, link_mm=link_mm,
                                           min_mcs=min_mcs)
        for (variant, method), path in detections.items()}}
    log(f"{len(truth)} cluster outlines on {len(images)} images")
    tables = froc_tables(design, levels, images, units=units, n_boot=n_boot, seed=seed)
    write_froc(tables, out, design.variants)
    log(f"cluster FROC summaries:\n{tables['summaries'].to_string(index=False)}")
    return tables["summaries"]
