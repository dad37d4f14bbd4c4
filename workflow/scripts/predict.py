"""Rules predict / sweep_predict: every fold's held-out samples scored by the net that did not see
them, for one (variant or sweep setting, net)."""

from mcdetect.cnn.predict import predict_folds
from mcdetect.logs import run


def main(log):
    inp = snakemake.input
    predict_folds(inp.models, inp.shards, snakemake.output.scores,
                  standardise=snakemake.params.standardise, log=log.info)


run(main, snakemake.log[0])
