"""Rule shards: TFRecord shards of every fold of one variant, with their positive pools and
statistics."""

from mcdetect.logs import run
from mcdetect.patches.shards import write_folds


def main(log):
    p = snakemake.params
    images = dict(zip(p.image_ids, snakemake.input.images, strict=True))
    write_folds(snakemake.input.samples, p.folds, images.__getitem__, snakemake.output.shards,
                size=p.size, log=log.info, **p.shards)


run(main, snakemake.log[0])
