"""Rule folds: patient-level K-fold split stratified by MC presence."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import pandas as pd

from mcdetect.data.folds import assign_folds
from mcdetect.logs import run


def main(log):
    images = pd.read_csv(snakemake.input.images, sep="\t")
    folds = assign_folds(images, k=snakemake.params.k, seed=snakemake.params.seed)
    folds.to_csv(snakemake.output.folds, sep="\t", index=False)
    per_fold = folds.groupby("fold").agg(
        images=("image_id", "size"), patients=("patient_id", "nunique"),
        images_with_mcs=("n_mcs", lambda s: int((s > 0).sum())), mcs=("n_mcs", "sum"),
    )
    log.info("folds:\n%s", per_fold.to_string())


run(main, snakemake.log[0])
