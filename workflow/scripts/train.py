"""Rule train: one CNN (architecture) on the training folds of one preprocessing variant."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mcdetect.logs import run
from mcdetect.train import configure_device, train, training_curve


def main(log):
    p = snakemake.params
    w = snakemake.wildcards
    configure_device(mixed_precision=p.mixed_precision, log=log.info)
    train(snakemake.input.shards, w.arch, p.hp, seed=p.seed, model_out=snakemake.output.model,
          log_tsv=snakemake.output.log_tsv, checkpoint_dir=p.checkpoint_dir, log=log.info)
    training_curve(snakemake.output.log_tsv, snakemake.output.curve,
                   f"{w.arch}-like, {w.variant}, held-out fold {w.fold}")


run(main, snakemake.log[0])
