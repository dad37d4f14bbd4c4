"""Rule evaluate: every model's held-out scores and the baselines' scores of the same samples,
exact mean sensitivity, one paired bootstrap, Table 3 as the study design names it, the CNNs' gains
over the best baseline, per-fold S and Fig. 3; where the unannotated MCs are known (synthetic), S
without the negatives that lie on them."""

from mcdetect.design import StudyDesign
from mcdetect.evaluation.study import evaluate_study
from mcdetect.logs import run


def main(log):
    inp, p = snakemake.input, snakemake.params
    design = StudyDesign.from_dict(p.design)
    evaluate_study(
        design, inp.samples, inp.folds,
        dict(zip(map(tuple, p.prediction_keys), inp.predictions, strict=True)),
        dict(zip(design.variants, inp.baselines, strict=True)),
        dict(snakemake.output.items()), workers=snakemake.threads, log=log.info,
        unannotated_tsv=inp.get("unannotated"), exclusion_radius=p.exclusion_radius_px,
        **p.evaluation,
    )


run(main, snakemake.log[0])
