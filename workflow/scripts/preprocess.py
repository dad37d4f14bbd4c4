"""Rules preprocess_raw / preprocess: one variant of one mammogram (and its mask, for raw)."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mcdetect.data.dicom import read_mammogram
from mcdetect.imageio import save_image, save_mask
from mcdetect.logs import run
from mcdetect.mask import breast_mask
from mcdetect.preprocess import apply_variant, normalise


def main(log):
    p = snakemake.params
    variant = snakemake.wildcards.get("variant", "raw")
    start = time.perf_counter()
    image = read_mammogram(snakemake.input.dicom, p.spacing_mm).image
    mask = breast_mask(image)
    image = normalise(image, mask, p.normalise["percentile"])
    read = time.perf_counter()
    out = apply_variant(image, variant, p.variant)
    done = time.perf_counter()
    save_image(snakemake.output.image, out, compression=p.png_compression)
    if "mask" in snakemake.output.keys():
        save_mask(snakemake.output.mask, mask)
        log.info("breast mask: %.1f%% of the image", 100 * mask.mean())
    log.info("%s %s: %dx%d, read+normalise %.0f ms, %s %.1f ms, write %.0f ms, range [%.4f, %.4f]",
             snakemake.wildcards.image, variant, *out.shape, 1e3 * (read - start), variant,
             1e3 * (done - read), 1e3 * (time.perf_counter() - done), out.min(), out.max())


run(main, snakemake.log[0])
