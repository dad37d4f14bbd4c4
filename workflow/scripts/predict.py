"""Rule predict: score every sample of the held-out fold with the model that did not see it."""

from mcdetect.cnn.predict import predict_fold
from mcdetect.logs import run


def main(log):
    inp = snakemake.input
    predict_fold(inp.model, inp.shards, inp.train_shards, snakemake.output.scores,
                 standardise=snakemake.params.standardise, log=log.info)


run(main, snakemake.log[0])
