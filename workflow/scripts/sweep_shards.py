"""Rule sweep_shards: TFRecord shards of every fold of one sweep setting (the study's sample table,
the setting's preprocessed images)."""

from mcdetect.logs import run
from mcdetect.patches.shards import write_folds


def main(log):
    p, folder = snakemake.params, snakemake.input.images
    write_folds(snakemake.input.samples, p.folds, lambda i: f"{folder}/{i}.png",
                snakemake.output.shards, size=p.size, log=log.info, **p.shards)


run(main, snakemake.log[0])
