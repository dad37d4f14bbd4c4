"""Rule figures: paper Fig. 1 (Eq. 15 for several omega) and Fig. 2 (an example mammogram in
every variant of the study)."""

from mcdetect.logs import run
from mcdetect.preprocessing.figures import example_figures


def main(log):
    p = snakemake.params
    n = example_figures(snakemake.output.fig1, snakemake.output.fig2, p.image,
                        dict(zip(p.variants, snakemake.input.images, strict=True)),
                        snakemake.input.mask, snakemake.input.mcs, omegas=p.omegas,
                        variant_params=p.variant_params)
    log.info("figures written for example image %s (%d MCs)", p.image, n)


run(main, snakemake.log[0])
