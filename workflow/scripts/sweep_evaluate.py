"""Rule sweep_evaluate: every sweep setting against the study's reference-variant nets on the same
samples (one paired bootstrap), its table (TSV, Markdown, HTML) and the gain figure."""

import pandas as pd

from mcdetect.evaluation.sweep import evaluate_sweep
from mcdetect.logs import run
from mcdetect.reporting.tables import write_html


def main(log):
    inp, p, out = snakemake.input, snakemake.params, snakemake.output
    settings = pd.DataFrame(p.settings)
    table, note = evaluate_sweep(
        settings, dict(zip(map(tuple, p.prediction_keys), inp.predictions, strict=True)),
        dict(zip(map(tuple, p.reference_keys), inp.reference, strict=True)), inp.samples,
        inp.folds, dict(out.items()), variant=p.variant, reference_variant=p.reference,
        workers=snakemake.threads, log=log.info, **p.evaluation)
    shown = table.round(2).assign(p=table["p"].round(4))
    write_html(out.html, f"Sweep of {p.variant}: S (%) and gain over {p.reference} with 95% CI",
               shown, note)


run(main, snakemake.log[0])
