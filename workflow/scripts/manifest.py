"""Rule manifest: pseudonymised images.tsv and mcs.tsv (canonical coordinates) and a summary;
for sources with region annotations (INbreast's cluster outlines) also regions.tsv."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import pandas as pd

from mcdetect.data.manifest import build_manifest, build_regions, summarize, write_summary
from mcdetect.data.sources import read_annotations
from mcdetect.logs import run


def main(log):
    p = snakemake.params
    validation = pd.read_csv(snakemake.input.validation, sep="\t", keep_default_na=False)
    sources = pd.read_csv(snakemake.input.sources, sep="\t", keep_default_na=False)
    validation = validation.merge(sources[["image_id", "source"]], on="image_id", how="left")
    excluded = pd.read_csv(snakemake.input.excluded, sep="\t", keep_default_na=False)
    annotations = read_annotations(snakemake.input.annotations)
    images, mcs = build_manifest(
        snakemake.input.dicoms, p.sources, validation, annotations, spacing_mm=p.spacing_mm,
        pseudonym_key=p.pseudonym_key,
    )
    images.drop(columns="source").to_csv(snakemake.output.images, sep="\t", index=False)
    mcs.to_csv(snakemake.output.mcs, sep="\t", index=False, float_format="%.4f")
    regions = None
    if "regions" in snakemake.output.keys():
        source_regions = pd.read_csv(snakemake.input.source_regions, sep="\t",
                                     keep_default_na=False, na_values=[""])
        regions = build_regions(snakemake.input.dicoms, p.sources, validation, source_regions,
                                spacing_mm=p.spacing_mm, pseudonym_key=p.pseudonym_key)
        regions.to_csv(snakemake.output.regions, sep="\t", index=False, float_format="%.3f")
    source = None
    if snakemake.input.get("source_summary"):
        source = json.loads(Path(snakemake.input.source_summary).read_text())
        source.pop("xml_without_dicom", None)  # file names; in the import's own summary
    summary = summarize(images, mcs, excluded, regions=regions, source=source)
    write_summary(summary, snakemake.output.summary_json, snakemake.output.summary_md)
    log.info("manifest: %s", summary)


run(main, snakemake.log[0])
