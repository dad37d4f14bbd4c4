"""Rule baselines: the non-learned detectors' scores of every sample, on one variant."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mcdetect.baselines import score_samples
from mcdetect.logs import run


def main(log):
    variant = snakemake.wildcards.variant
    start = time.perf_counter()
    n = score_samples(
        snakemake.input.samples,
        lambda image_id: f"results/preprocessed/{variant}/{image_id}.png",
        snakemake.output.scores,
        size=snakemake.params.size,
        log=log.info,
    )
    log.info("%s: %d samples scored by every baseline in %.1f s", variant, n,
             time.perf_counter() - start)


run(main, snakemake.log[0])
