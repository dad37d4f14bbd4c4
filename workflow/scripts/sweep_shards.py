"""Rule sweep_shards: TFRecord shards of one fold of one sweep setting (the study's sample table,
the setting's preprocessed images)."""

from mcdetect.logs import run
from mcdetect.patches.shards import write_fold


def main(log):
    p, folder = snakemake.params, snakemake.input.images
    parts = write_fold(snakemake.input.samples, p.fold, lambda i: f"{folder}/{i}.png",
                       snakemake.output.shards, size=p.size, log=log.info, **p.shards)
    for part, index in parts.items():
        log.info("fold %s %s: %d patches (%d positive) in %d file(s)", p.fold, part,
                 index["patches"], index["positives"], len(index["files"]))


run(main, snakemake.log[0])
