"""Rule validate: integrity check of every source file before any other work."""

from mcdetect.data.validate import validate_sources
from mcdetect.logs import run


def main(log):
    p, inp = snakemake.params, snakemake.input
    validate_sources(inp.dicoms, p.sources, inp.annotations, dict(snakemake.output.items()),
                     spacing_mm=p.spacing_mm, pseudonym_key=p.pseudonym_key,
                     on_bad_image=p.on_bad_image, workers=snakemake.threads,
                     metadata_tsv=inp.get("metadata"),
                     expected_spacing_mm=p.get("expected_spacing_mm"), log=log)


run(main, snakemake.log[0])
