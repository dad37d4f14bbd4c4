"""Rule shards: TFRecord shards of one (variant, fold), with its positive pool and statistics."""

from mcdetect.logs import run
from mcdetect.patches.shards import write_fold


def main(log):
    p = snakemake.params
    images = dict(zip(p.image_ids, snakemake.input.images, strict=True))
    parts = write_fold(snakemake.input.samples, p.fold, images.__getitem__,
                       snakemake.output.shards, size=p.size, log=log.info, **p.shards)
    for part, index in parts.items():
        log.info("fold %s %s: %d patches (%d positive) in %d file(s)", p.fold, part,
                 index["patches"], index["positives"], len(index["files"]))


run(main, snakemake.log[0])
