"""Rule detect: MC detections on the held-out images of every fold, by one net (each fold's own)
or the first stage alone."""

from mcdetect.detection.study import detect_held_out
from mcdetect.logs import run


def main(log):
    inp, p = snakemake.input, snakemake.params
    images = dict(zip(p.image_ids, inp.images, strict=True))
    masks = dict(zip(p.image_ids, inp.masks, strict=True))
    tables = detect_held_out(images, masks, inp.folds, snakemake.output.detections,
                             model_paths=inp.models, card_paths=inp.cards, mode=p.mode,
                             max_candidates=p.max_candidates, floor=p.floor, nms_mm=p.nms_mm,
                             spacing_mm=p.spacing_mm, log=log.info)
    log.info("%s detections", " + ".join(str(len(t)) for t in tables))


run(main, snakemake.log[0])
