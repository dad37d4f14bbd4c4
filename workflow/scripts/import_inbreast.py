"""Rule import_inbreast: the release's OsiriX plists and INbreast.csv -> the generic layout."""

from mcdetect.data.inbreast import import_release
from mcdetect.logs import run


def main(log):
    p = snakemake.params
    import_release(p.path, p.sources, p.pseudonym_key, dict(snakemake.output.items()), log)


run(main, snakemake.log[0])
