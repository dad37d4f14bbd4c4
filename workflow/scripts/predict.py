"""Rule predict: score every sample of the held-out fold with the model that did not see it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mcdetect.logs import run
from mcdetect.shards import fold_parts
from mcdetect.train import combined_stats, configure_device, predict


def main(log):
    configure_device(log=log.info)
    # standardise as in training: the statistics of the training folds' train/ parts
    stats = combined_stats([f"{d}/train" for d in snakemake.input.train_shards])
    predict(snakemake.input.model, fold_parts(snakemake.input.shards), stats,
            snakemake.output.scores, log=log.info)


run(main, snakemake.log[0])
