"""Patches stage: the sample table, which 12x12 patches the study uses, chosen once per image and
shared by every preprocessing variant (so the variants are compared on exactly the same samples, a
paired design).

Conventions (``size`` = 12, ``h = size // 2`` = 6):

* A sample at integer pixel (x, y) is the patch ``image[y - 6 : y + 6, x - 6 : x + 6]``: rows
  y-6..y+5, columns x-6..x+5. With an even size there is no centre pixel; (x, y) sits at patch
  index (6, 6), the lower-right of the four central pixels.
* Positives: one per annotated MC, at its centre rounded to the nearest pixel (halves up).
  A positive whose patch would leave the image (centre within 6 px of the top/left border or 5 px
  of the bottom/right one) is dropped and counted (``dropped_border`` in the summary).
* Negatives: drawn uniformly without replacement among the breast-mask pixels whose patch lies
  inside the image and whose distance to every annotated MC centre exceeds ``exclusion_radius``
  pixels; ``negatives_per_image`` of them (fewer when the breast is smaller).
* Every image's rows carry its fold and its ``validation`` flag (1: a validation image, held
  out of training when its fold is a training fold; ``mcdetect.data.folds.assign_validation``).
* Seeded per image (from the seed and the image id), so an image's samples do not depend on the
  other images, and the table is written image by image (one parquet row group each): memory is
  bounded by one image, never by the number of patches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["write_sample_table", "sample_image", "extract", "SampleTableWriter",
           "iter_image_samples", "SCHEMA"]

SCHEMA = pa.schema([
    ("sample_id", pa.int64()),
    ("image_id", pa.string()),
    ("fold", pa.int8()),
    ("validation", pa.int8()),
    ("x", pa.int32()),
    ("y", pa.int32()),
    ("label", pa.int8()),
])


@dataclass
class ImageSamples:
    positives: np.ndarray  # (n, 2) int32 x, y
    negatives: np.ndarray  # (m, 2) int32 x, y
    dropped_border: int


def image_seed(seed: int, image_id: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), int(image_id.split("-")[-1], 16)])


def sample_image(mask: np.ndarray, mc_xy: np.ndarray, *, n_negatives: int,
                 exclusion_radius: float, size: int = 12, rng=None) -> ImageSamples:
    """Positive and negative sample positions of one image (see the module's conventions)."""
    rng = rng if rng is not None else np.random.default_rng()
    rows, cols = mask.shape
    h = size // 2
    mc_xy = np.asarray(mc_xy, dtype=float).reshape(-1, 2)
    centres = np.floor(mc_xy + 0.5).astype(np.int64)
    inside = ((centres[:, 0] >= h) & (centres[:, 0] <= cols - (size - h)) &
              (centres[:, 1] >= h) & (centres[:, 1] <= rows - (size - h)))
    positives = centres[inside].astype(np.int32)

    allowed = np.zeros((rows, cols), np.uint8)
    allowed[h : rows - (size - h) + 1, h : cols - (size - h) + 1] = 1
    allowed &= mask.astype(np.uint8)
    radius = int(np.floor(exclusion_radius))
    for x, y in centres:  # a disc of radius r around every MC, border pixels included
        cv2.circle(allowed, (int(x), int(y)), radius, 0, thickness=-1)
    candidates = np.flatnonzero(allowed)
    take = min(int(n_negatives), candidates.size)
    chosen = np.sort(rng.choice(candidates.size, size=take, replace=False)) if take else []
    flat = candidates[chosen]
    negatives = np.stack([flat % cols, flat // cols], axis=1).astype(np.int32)
    return ImageSamples(positives, negatives, int((~inside).sum()))


def extract(image: np.ndarray, xy: np.ndarray, size: int = 12) -> np.ndarray:
    """Patches (n, size, size) of ``image`` at integer positions ``xy`` (module conventions)."""
    h = size // 2
    windows = np.lib.stride_tricks.sliding_window_view(image, (size, size))
    xy = np.asarray(xy)
    return windows[xy[:, 1] - h, xy[:, 0] - h]


class SampleTableWriter:
    """Writes the sample table image by image, numbering samples consecutively."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp")
        self._writer = pq.ParquetWriter(self._tmp, SCHEMA, compression="zstd")
        self.next_id = 0

    def add(self, image_id: str, fold: int, samples: ImageSamples,
            validation: bool = False) -> None:
        xy = np.concatenate([samples.positives, samples.negatives]).reshape(-1, 2)
        labels = np.r_[np.ones(len(samples.positives), np.int8),
                       np.zeros(len(samples.negatives), np.int8)]
        n = len(labels)
        table = pa.table({
            "sample_id": np.arange(self.next_id, self.next_id + n, dtype=np.int64),
            "image_id": pa.array([image_id] * n, pa.string()),
            "fold": np.full(n, fold, np.int8),
            "validation": np.full(n, int(bool(validation)), np.int8),
            "x": xy[:, 0].astype(np.int32),
            "y": xy[:, 1].astype(np.int32),
            "label": labels,
        }, schema=SCHEMA)
        self._writer.write_table(table)
        self.next_id += n

    def close(self) -> None:
        self._writer.close()
        self._tmp.replace(self.path)


def iter_image_samples(path, fold: int | None = None, validation: bool | None = None):
    """Yield (image_id, table) per image of a sample table (one row group at a time), optionally
    only the images of one fold and/or of one side of the validation split."""
    pf = pq.ParquetFile(path)
    for i in range(pf.num_row_groups):
        table = pf.read_row_group(i)
        if len(table) == 0:
            continue
        if fold is not None and int(table["fold"][0].as_py()) != fold:
            continue
        if validation is not None and bool(table["validation"][0].as_py()) != validation:
            continue
        yield str(table["image_id"][0].as_py()), table


def write_sample_table(masks: dict, mcs_tsv, folds_tsv, out_parquet, out_summary, *, size: int,
                       negatives_per_image: int, exclusion_radius_px: float, seed: int,
                       log):
    """Rule samples: sample every image ({image_id: breast-mask PNG}, in order) and write the
    sample table and its counts per fold (TSV). Returns the per-image counts."""
    import pandas as pd

    from mcdetect.imageio import load_mask

    folds = pd.read_csv(folds_tsv, sep="\t").set_index("image_id")
    mcs = pd.read_csv(mcs_tsv, sep="\t")
    by_image = {k: g[["x", "y"]].to_numpy() for k, g in mcs.groupby("image_id")}
    writer = SampleTableWriter(out_parquet)
    rows = []
    for k, (image_id, mask_path) in enumerate(masks.items()):
        rng = np.random.default_rng(image_seed(seed, image_id))
        s = sample_image(load_mask(mask_path), by_image.get(image_id, np.zeros((0, 2))),
                         n_negatives=negatives_per_image, exclusion_radius=exclusion_radius_px,
                         size=size, rng=rng)
        fold, validation = int(folds.at[image_id, "fold"]), int(folds.at[image_id, "validation"])
        writer.add(image_id, fold, s, validation=bool(validation))
        rows.append({"image_id": image_id, "fold": fold, "validation": validation,
                     "positives": len(s.positives),
                     "negatives": len(s.negatives), "dropped_border": s.dropped_border})
        if (k + 1) % max(1, len(masks) // 10) == 0:
            log.info("%d/%d images sampled", k + 1, len(masks))
    writer.close()
    per_image = pd.DataFrame(rows)
    summary = _fold_summary(per_image)
    summary.to_csv(out_summary, sep="\t")
    log.info("samples per fold:\n%s", summary.to_string())
    return per_image


def _fold_summary(per_image):
    """Images, positives, negatives and border drops per fold, and the validation share's."""
    summary = per_image.groupby("fold")[["positives", "negatives", "dropped_border"]].sum()
    summary.insert(0, "images", per_image.groupby("fold").size())
    val = per_image[per_image["validation"] == 1].groupby("fold")
    summary["validation_images"] = val.size().reindex(summary.index, fill_value=0)
    summary["validation_positives"] = val["positives"].sum().reindex(summary.index, fill_value=0)
    summary["validation_negatives"] = val["negatives"].sum().reindex(summary.index, fill_value=0)
    return summary
