"""Rule external_import: an evaluation-only release read through its reader: pseudonymous images,
cluster outlines in canonical pixels, counts, and the private map to its files."""

from mcdetect.detection.external import import_external
from mcdetect.logs import run


def main(log):
    p = snakemake.params
    import_external(p.source, p.path, dict(snakemake.output.items()), csv=p.csv,
                    spacing_mm=p.spacing_mm, nominal_spacing_mm=p.nominal_spacing_mm,
                    pseudonym_key=p.pseudonym_key, log=log.info)


run(main, snakemake.log[0])
