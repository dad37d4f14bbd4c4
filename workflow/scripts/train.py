"""Rule train: one CNN (architecture) on the training folds of one preprocessing variant."""

from mcdetect.cnn.train import train_model
from mcdetect.logs import run


def main(log):
    p, out = snakemake.params, snakemake.output
    train_model(snakemake.input.shards, p.arch, p.hp, seed=p.seed,
                mixed_precision=p.mixed_precision, select=p.select, fpr_range=p.fpr_range,
                checkpoint_dir=p.checkpoint_dir, model_out=out.model, log_tsv=out.log_tsv,
                curve_png=out.curve, title=p.title, standardise=p.standardise, log=log.info)


run(main, snakemake.log[0])
