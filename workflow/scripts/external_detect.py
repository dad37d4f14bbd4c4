"""Rule external_detect: MC detections on every image of an evaluation-only release, by one net
of the study (its folds' nets averaged) or by the first stage alone."""

from mcdetect.detection.external import detect_external
from mcdetect.logs import run


def main(log):
    inp, p = snakemake.input, snakemake.params
    table = detect_external(inp.images, inp.private, snakemake.output.detections,
                            source=p.source, model_paths=list(inp.models),
                            card_paths=list(inp.cards), variant=p.variant,
                            variant_params=p.variant_params, percentile=p.percentile,
                            mode=p.mode, max_candidates=p.max_candidates, floor=p.floor,
                            nms_mm=p.nms_mm, spacing_mm=p.spacing_mm,
                            nominal_spacing_mm=p.nominal_spacing_mm,
                            pseudonym_key=p.pseudonym_key, log=log.info)
    log.info("%d detections", len(table))


run(main, snakemake.log[0])
