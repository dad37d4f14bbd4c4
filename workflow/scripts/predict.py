"""Rule predict: score every sample of the held-out fold with the model that did not see it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mcdetect.logs import run
from mcdetect.train import combined_stats, configure_device, predict


def main(log):
    configure_device(log=log.info)
    stats = combined_stats(snakemake.input.train_shards)  # standardise as in training
    predict(snakemake.input.model, snakemake.input.shards, stats, snakemake.output.scores,
            log=log.info)


run(main, snakemake.log[0])
