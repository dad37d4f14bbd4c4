"""Detection stage: a trained net on a user's own DICOM files -- each read through the one reader,
preprocessed as the net's training images were (its model card), scored, its MCs and clusters
written as CSV with an overlay PNG.

A model card (``<model>.json`` beside ``<model>.keras``, written by the workflow's ``model_card``
rule) holds what scoring needs besides the weights: the variant and its parameters, the
normalisation, the study spacing, and the standardisation statistics of the training folds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["load_model_card", "detect_file", "write_overlay", "CARD_KEYS"]

CARD_KEYS = ("arch", "variant", "variant_params", "percentile", "spacing_mm", "stats")


def load_model_card(model_path, card_path=None) -> dict:
    """The model card of ``model_path`` (default: the .json beside it); names the file and the
    missing keys when it is incomplete."""
    from mcdetect.errors import MCDetectError

    card_path = Path(card_path) if card_path else Path(model_path).with_suffix(".json")
    if not card_path.is_file():
        raise MCDetectError(f"{card_path}: no model card beside the model (the workflow writes "
                            "it with the model: snakemake models)")
    card = json.loads(card_path.read_text())
    missing = [k for k in CARD_KEYS if k not in card]
    if missing:
        raise MCDetectError(f"{card_path}: model card without {', '.join(missing)}")
    return card


def detect_file(dicom, model, card: dict, *, mode: str = "candidates", floor: float = 0.0,
                nms_mm: float = 0.3, max_candidates: int = 5000, stride: int = 1) -> dict:
    """Detections and clusters (with their members' rows in the detections) of one DICOM file:
    {"detections", "clusters", "image", "mask", "header"}. Detections carry canonical (x, y),
    source pixel (x_src, y_src) and mm coordinates and the score (log-odds)."""
    from mcdetect.data.dicom import read_mammogram
    from mcdetect.detection.clusters import group_clusters
    from mcdetect.detection.peaks import detect
    from mcdetect.detection.scoring import score_map
    from mcdetect.preprocessing.variants import preprocess_image

    mammogram = read_mammogram(dicom, card["spacing_mm"])
    image, mask = preprocess_image(mammogram.image, card["variant"], card["variant_params"],
                                   card["percentile"])
    scores = score_map(model, image, mask, card["stats"], mode=mode,
                       max_candidates=max_candidates, stride=stride)
    dets = detect(scores, mask, floor=floor, nms_mm=nms_mm, spacing_mm=card["spacing_mm"])
    xs, ys = mammogram.header.to_source(dets["x"], dets["y"])
    dets.insert(2, "x_src", np.round(xs, 2))
    dets.insert(3, "y_src", np.round(ys, 2))
    return {"detections": dets, "clusters": group_clusters(dets, members=True), "image": image,
            "mask": mask, "header": mammogram.header}


def write_overlay(path, image: np.ndarray, mask: np.ndarray, detections: pd.DataFrame,
                  clusters: pd.DataFrame, spacing_mm: float, top: int = 50) -> None:
    """The preprocessed image (percentile window inside the breast) with the ``top`` highest-
    scoring detections ringed (yellow) and the clusters' centroids boxed (red), as a PNG."""
    import cv2

    from mcdetect.preprocessing.figures import display_window

    grey = (255 * display_window(image, mask)).astype(np.uint8)
    rgb = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    for _, d in detections.head(top).iterrows():
        cv2.circle(rgb, (int(d["x"]), int(d["y"])), 8, (0, 255, 255), 1, cv2.LINE_AA)
    half = int(round(5.0 / spacing_mm))
    for _, c in clusters.iterrows():
        x, y = int(round(c["x_mm"] / spacing_mm)), int(round(c["y_mm"] / spacing_mm))
        cv2.rectangle(rgb, (x - half, y - half), (x + half, y + half), (0, 0, 255), 2)
    cv2.imwrite(str(path), rgb)
