"""Rule samples: the sample table (positives at MC centres, negatives in the breast), per image."""

from mcdetect.logs import run
from mcdetect.patches.samples import write_sample_table


def main(log):
    masks = dict(zip(snakemake.params.image_ids, snakemake.input.masks, strict=True))
    write_sample_table(masks, snakemake.input.mcs, snakemake.input.folds,
                       snakemake.output.samples, snakemake.output.summary,
                       **snakemake.params.patches, log=log)


run(main, snakemake.log[0])
