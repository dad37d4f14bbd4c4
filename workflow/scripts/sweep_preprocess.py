"""Rule sweep_preprocess: every valid image through one setting of the swept variant."""

import os

from mcdetect.logs import run
from mcdetect.preprocessing.variants import preprocess_file


def main(log):
    p, out = snakemake.params, snakemake.output.images
    params, percentile = p.setting
    log.info("%s with %s, normalisation percentile %s", p.variant_name, params, percentile)
    os.makedirs(out, exist_ok=True)
    for n, (image_id, dicom) in enumerate(zip(p.image_ids, snakemake.input.dicoms, strict=True)):
        preprocess_file(dicom, p.variant_name, params, f"{out}/{image_id}.png",
                        spacing_mm=p.spacing_mm, percentile=percentile,
                        png_compression=p.png_compression, name=image_id, log=log)
        if (n + 1) % 50 == 0:
            log.info("%d/%d images", n + 1, len(p.image_ids))


run(main, snakemake.log[0])
