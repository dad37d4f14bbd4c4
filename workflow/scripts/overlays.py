"""Rule detection_overlays: held-out images with one detector's hits, false positives and missed
MCs at one operating point, every variant side by side."""

from mcdetect.detection.study import overlays_study
from mcdetect.logs import run


def main(log):
    inp, p = snakemake.input, snakemake.params
    n = len(p.image_ids)
    images = {v: dict(zip(p.image_ids, inp.images[k * n : (k + 1) * n], strict=True))
              for k, v in enumerate(p.variants)}
    masks = dict(zip(p.image_ids, inp.masks, strict=True))
    k = len(inp.detections) // len(p.variants)
    detections = {v: inp.detections[j * k : (j + 1) * k] for j, v in enumerate(p.variants)}
    overlays_study(images, masks, detections, inp.curves, inp.mcs, snakemake.output.figure,
                   method=p.method, image_ids=p.image_ids, n_images=p.n_images,
                   fp_per_image=p.fp_per_image, crop_mm=p.crop_mm, hit_mm=p.hit_mm,
                   spacing_mm=p.spacing_mm, log=log.info)


run(main, snakemake.log[0])
