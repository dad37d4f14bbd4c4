"""Rule external_froc: cluster-level FROC of every detector on an evaluation-only release, with
the design's comparisons (paired bootstrap by image or patient), bands and the figure."""

from mcdetect.design import StudyDesign
from mcdetect.detection.external import external_froc_study
from mcdetect.logs import run


def main(log):
    inp, p = snakemake.input, snakemake.params
    detections = {tuple(key): path for key, path in zip(p.external_keys, inp.detections,
                                                         strict=True)}
    external_froc_study(StudyDesign.from_dict(p.design), detections, inp.images, inp.regions,
                        dict(snakemake.output.items()), spacing_mm=p.spacing_mm,
                        link_mm=p.link_mm, min_mcs=p.min_mcs, n_boot=p.n_boot, unit=p.unit,
                        seed=p.seed, log=log.info)


run(main, snakemake.log[0])
