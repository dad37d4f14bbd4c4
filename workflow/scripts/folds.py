"""Rule folds: patient-level K-fold split stratified by MC presence, or a split read from a file
(folds.from_file), checked for patients in more than one fold either way."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import pandas as pd

from mcdetect.data.folds import assign_folds, assign_validation, folds_from_file
from mcdetect.data.sources import require_trainable
from mcdetect.logs import run


def main(log):
    # folds exist to train the patch CNNs: refuse region-only sources (also refused at parse time)
    require_trainable(snakemake.config["dataset"]["source"])
    images = pd.read_csv(snakemake.input.images, sep="\t", keep_default_na=False)
    p = snakemake.params.folds
    from_file = snakemake.input.get("from_file")
    if from_file:  # matched by file name too: the private map of source files
        sources = pd.read_csv(snakemake.input.sources, sep="\t", keep_default_na=False)
        named = images.merge(sources[["image_id", "source"]], on="image_id", how="left")
        folds = folds_from_file(named, from_file, k=p["k"])
        log.info("folds read from %s", from_file)
    else:
        folds = assign_folds(images, k=p["k"], seed=p["seed"])
    folds = assign_validation(folds, p["validation_fraction"], seed=p["seed"])
    folds.to_csv(snakemake.output.folds, sep="\t", index=False)
    per_fold = folds.groupby("fold").agg(
        images=("image_id", "size"), patients=("patient_id", "nunique"),
        images_with_mcs=("n_mcs", lambda s: int((s > 0).sum())), mcs=("n_mcs", "sum"),
        validation_images=("validation", "sum"),
    )
    log.info("folds:\n%s", per_fold.to_string())


run(main, snakemake.log[0])
