"""Rule validate: integrity check of every source file before any other work."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mcdetect.data.manifest import split_private, validate_dataset
from mcdetect.data.sources import read_annotations, read_metadata
from mcdetect.logs import run


def main(log):
    p = snakemake.params
    annotations = read_annotations(snakemake.input.annotations, known_files=p.sources)
    metadata = snakemake.input.get("metadata")  # sources with an import step (INbreast)
    table, excluded = validate_dataset(
        snakemake.input.dicoms, p.sources, annotations, spacing_mm=p.spacing_mm,
        pseudonym_key=p.pseudonym_key, on_bad_image=p.on_bad_image,
        workers=snakemake.threads, log=log.info,
        metadata=read_metadata(metadata) if metadata else None,
        expected_spacing_mm=p.get("expected_spacing_mm"),
    )
    private, public = split_private(table, snakemake.input.dicoms)
    private.to_csv(snakemake.output.sources, sep="\t", index=False)  # names files: outside results/
    public.to_csv(snakemake.output.validation, sep="\t", index=False)
    public.loc[public["status"] != "ok", ["image_id", "problem"]].to_csv(
        snakemake.output.excluded, sep="\t", index=False)
    for source, problem in zip(excluded["source"], excluded["problem"], strict=True):
        log.warning("excluded %s: %s", source, problem)  # the log is outside results/ too
    log.info("%d image(s) valid, %d excluded", len(table) - len(excluded), len(excluded))


run(main, snakemake.log[0])
