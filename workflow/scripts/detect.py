"""Rule detect: MC detections on the held-out images of one fold, by one net or the first stage."""

from mcdetect.detection.study import detect_held_out
from mcdetect.logs import run


def main(log):
    inp, p = snakemake.input, snakemake.params
    images = dict(zip(p.image_ids, inp.images, strict=True))
    masks = dict(zip(p.image_ids, inp.masks, strict=True))
    table = detect_held_out(images, masks, inp.folds, p.fold, snakemake.output.detections,
                            model_path=inp.model or None, card_path=inp.card or None,
                            mode=p.mode, max_candidates=p.max_candidates, floor=p.floor,
                            nms_mm=p.nms_mm, spacing_mm=p.spacing_mm, log=log.info)
    log.info("%d detections", len(table))


run(main, snakemake.log[0])
