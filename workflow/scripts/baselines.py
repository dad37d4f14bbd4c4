"""Rule baselines: the non-learned detectors' scores of every sample, on one variant."""

from mcdetect.baselines import score_samples
from mcdetect.logs import run


def main(log):
    images = dict(zip(snakemake.params.image_ids, snakemake.input.images, strict=True))
    n = score_samples(snakemake.input.samples, images.__getitem__, snakemake.output.scores,
                      size=snakemake.params.size, log=log.info)
    log.info("%d samples scored by every baseline", n)


run(main, snakemake.log[0])
