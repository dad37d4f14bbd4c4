"""Rule shards: TFRecord shards of one (variant, fold), with its positive pool and statistics."""

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mcdetect.logs import run
from mcdetect.shards import write_fold


def main(log):
    p = SimpleNamespace(size=snakemake.params.size, **snakemake.params.shards)
    variant = snakemake.wildcards.variant
    parts = write_fold(
        snakemake.input.samples, int(snakemake.wildcards.fold),
        lambda image_id: f"results/preprocessed/{variant}/{image_id}.png",
        snakemake.output.shards, size=p.size, block=p.block, shard_size=p.shard_size,
        compression=p.compression, mix_buffer=p.mix_buffer, seed=p.seed, log=log.info,
    )
    for part, index in parts.items():
        log.info("%s fold %s %s: %d patches (%d positive) in %d file(s)", variant,
                 snakemake.wildcards.fold, part, index["patches"], index["positives"],
                 len(index["files"]))


run(main, snakemake.log[0])
