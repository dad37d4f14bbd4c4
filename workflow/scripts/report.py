"""Rule report: the dataset table, the run's scale next to the paper's, Table 3 beside the paper's
values and whole-image detection (FROC) beside it, every detector beside the non-learned baselines,
the CNNs' gains over the best baseline, per-fold S and the convergence of every training (HTML for
the Snakemake report), and a Markdown summary of the study that states what this run shows."""

from mcdetect.design import StudyDesign
from mcdetect.logs import run
from mcdetect.reporting.study import report_study


def main(log):
    inp, p = snakemake.input, snakemake.params
    logs = dict(zip(map(tuple, p.training_keys), inp.training, strict=True))
    text = report_study(StudyDesign.from_dict(p.design), dict(inp.items()), logs,
                        dict(snakemake.output.items()), train=p.train,
                        spacing_mm=p.spacing_mm)
    log.info("%s", text)


run(main, snakemake.log[0])
