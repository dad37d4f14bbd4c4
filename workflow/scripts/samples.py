"""Rule samples: the sample table (positives at MC centres, negatives in the breast), per image."""

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import numpy as np
import pandas as pd

from mcdetect.imageio import load_mask
from mcdetect.logs import run
from mcdetect.patches import SampleTableWriter, image_seed, sample_image


def main(log):
    p = SimpleNamespace(**snakemake.params.patches)
    folds = pd.read_csv(snakemake.input.folds, sep="\t").set_index("image_id")
    mcs = pd.read_csv(snakemake.input.mcs, sep="\t")
    by_image = {k: g[["x", "y"]].to_numpy() for k, g in mcs.groupby("image_id")}
    writer = SampleTableWriter(snakemake.output.samples)
    rows = []
    for k, mask_path in enumerate(snakemake.input.masks):
        image_id = Path(mask_path).stem
        rng = np.random.default_rng(image_seed(p.seed, image_id))
        s = sample_image(load_mask(mask_path), by_image.get(image_id, np.zeros((0, 2))),
                         n_negatives=p.negatives_per_image, exclusion_radius=p.exclusion_radius_px,
                         size=p.size, rng=rng)
        fold, validation = int(folds.at[image_id, "fold"]), int(folds.at[image_id, "validation"])
        writer.add(image_id, fold, s, validation=bool(validation))
        rows.append({"image_id": image_id, "fold": fold, "validation": validation,
                     "positives": len(s.positives),
                     "negatives": len(s.negatives), "dropped_border": s.dropped_border})
        if (k + 1) % max(1, len(snakemake.input.masks) // 10) == 0:
            log.info("%d/%d images sampled", k + 1, len(snakemake.input.masks))
    writer.close()
    per_image = pd.DataFrame(rows)
    summary = per_image.groupby("fold")[["positives", "negatives", "dropped_border"]].sum()
    summary.insert(0, "images", per_image.groupby("fold").size())
    val = per_image[per_image["validation"] == 1].groupby("fold")
    summary["validation_images"] = val.size().reindex(summary.index, fill_value=0)
    summary["validation_positives"] = val["positives"].sum().reindex(summary.index, fill_value=0)
    summary["validation_negatives"] = val["negatives"].sum().reindex(summary.index, fill_value=0)
    summary.to_csv(snakemake.output.summary, sep="\t")
    log.info("samples per fold:\n%s", summary.to_string())


run(main, snakemake.log[0])
