"""Rules preprocess_raw / preprocess: one variant of one mammogram (and its mask, for raw)."""

from mcdetect.logs import run
from mcdetect.preprocessing.variants import preprocess_file


def main(log):
    p, out = snakemake.params, snakemake.output
    preprocess_file(snakemake.input.dicom, p.variant_name, p.variant, out.image,
                    out.get("mask"), spacing_mm=p.spacing_mm,
                    percentile=p.normalise["percentile"], png_compression=p.png_compression,
                    name=p.image_id, log=log)


run(main, snakemake.log[0])
