"""Rule import_inbreast: the release's OsiriX plists and INbreast.csv -> the generic layout."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mcdetect.data.inbreast import import_inbreast, write_import
from mcdetect.logs import run


def main(log):
    p = snakemake.params
    mcs, meta, regions, summary = import_inbreast(p.path, p.sources, p.pseudonym_key)
    write_import(dict(snakemake.output.items()), mcs, meta, regions, summary)
    for file, problem in zip(meta["file"], meta["problem"], strict=True):
        if problem:
            log.warning("%s: %s", file, problem)
    log.info("INbreast import: %s", {k: v for k, v in summary.items() if k != "xml_without_dicom"})
    if summary["xml_without_dicom"]:
        log.warning("XML without a DICOM (ignored): %s", ", ".join(summary["xml_without_dicom"]))


run(main, snakemake.log[0])
