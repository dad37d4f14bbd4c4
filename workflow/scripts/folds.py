"""Rule folds: patient-level K-fold split stratified by MC presence, or a split read from a file
(folds.from_file), checked for patients in more than one fold either way."""

from mcdetect.data.folds import write_folds
from mcdetect.logs import run


def main(log):
    write_folds(snakemake.input.images, snakemake.output.folds, **snakemake.params.folds,
                from_file=snakemake.input.get("from_file"),
                sources_tsv=snakemake.input.get("sources"), log=log)


run(main, snakemake.log[0])
