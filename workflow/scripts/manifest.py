"""Rule manifest: pseudonymised images.tsv and mcs.tsv (canonical coordinates) and a summary;
for sources with region annotations (INbreast's cluster outlines) also regions.tsv."""

from mcdetect.data.manifest import write_manifest
from mcdetect.logs import run


def main(log):
    p, inp = snakemake.params, snakemake.input
    write_manifest(inp.dicoms, p.sources, dict(inp.items()), dict(snakemake.output.items()),
                   spacing_mm=p.spacing_mm, pseudonym_key=p.pseudonym_key, log=log)


run(main, snakemake.log[0])
