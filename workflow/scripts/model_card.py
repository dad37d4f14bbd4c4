"""Rule model_card: what scoring a new image with one trained net needs, beside the net."""

from mcdetect.cnn.card import write_model_card
from mcdetect.logs import run


def main(log):
    p = snakemake.params
    card = write_model_card(snakemake.output.card, arch=p.arch, variant=p.variant, fold=p.fold,
                            variant_params=p.variant_params, percentile=p.percentile,
                            spacing_mm=p.spacing_mm, size=p.size,
                            train_folds=snakemake.input.shards, standardise=p.standardise)
    log.info("model card: %s", card)


run(main, snakemake.log[0])
