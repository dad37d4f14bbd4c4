"""Rule froc: FROC of every detector on the held-out images at the MC and the cluster level, with
the design's comparisons (paired bootstrap by image or patient), bands and the figure."""

from mcdetect.design import StudyDesign
from mcdetect.detection.study import froc_study
from mcdetect.logs import run


def main(log):
    inp, p = snakemake.input, snakemake.params
    detections = {}
    for (variant, method, _fold), path in zip(p.detect_keys, inp.detections, strict=True):
        detections.setdefault((variant, method), []).append(path)
    froc_study(StudyDesign.from_dict(p.design), detections, inp.mcs, inp.folds,
               dict(snakemake.output.items()), hit_mm=p.hit_mm, spacing_mm=p.spacing_mm,
               n_boot=p.n_boot, unit=p.unit, seed=p.seed, link_mm=p.link_mm,
               min_mcs=p.min_mcs, regions_tsv=inp.get("regions"), workers=snakemake.threads,
               log=log.info)


run(main, snakemake.log[0])
