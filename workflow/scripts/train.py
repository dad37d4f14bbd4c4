"""Rule train: one CNN (architecture) on the training folds of one preprocessing variant."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mcdetect.logs import run
from mcdetect.shards import fold_parts
from mcdetect.train import configure_device, train, training_curve


def fold_parts_with_data(folds, parts):
    return [d for f in folds for d in fold_parts(f, parts)]


def main(log):
    p = snakemake.params
    w = snakemake.wildcards
    configure_device(mixed_precision=p.mixed_precision, log=log.info)
    folds = snakemake.input.shards
    train([f"{d}/train" for d in folds], w.arch, p.hp, seed=p.seed,
          val_dirs=fold_parts_with_data(folds, ["val"]), select=p.select,
          fpr_range=p.fpr_range, model_out=snakemake.output.model,
          log_tsv=snakemake.output.log_tsv, checkpoint_dir=p.checkpoint_dir, log=log.info)
    training_curve(snakemake.output.log_tsv, snakemake.output.curve,
                   f"{w.arch}-like, {w.variant}, held-out fold {w.fold}")


run(main, snakemake.log[0])
