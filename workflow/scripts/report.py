"""Rule report: the dataset table, the run's scale next to the paper's, Table 3 beside the paper's
values (HTML for the Snakemake report), and a Markdown summary of the study."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import pandas as pd

from mcdetect.logs import run
from mcdetect.report import (
    dataset_table,
    read_json,
    scale_table,
    summary_markdown,
    table3_note,
    table3_with_paper,
    training_summary,
    write_html,
)


def main(log):
    inp, out = snakemake.input, snakemake.output
    dataset = dataset_table(pd.read_csv(inp.folds, sep="\t"), pd.read_csv(inp.samples, sep="\t"))
    dataset.to_csv(out.dataset_csv, index=False)
    logs = {}
    for path in inp.training:
        p = Path(path)
        logs[(p.parts[-3], p.parts[-2], int(p.stem.removeprefix("fold")))] = pd.read_csv(
            p, sep="\t")
    bootstrap = read_json(inp.bootstrap)
    scale = scale_table(dataset, training_summary(logs), bootstrap)
    t3 = table3_with_paper(pd.read_csv(inp.table3))
    note = table3_note(bootstrap)
    write_html(out.dataset, "Dataset per fold", dataset,
               "Patients never span folds; positive patches are centred on annotated MCs (those "
               "too close to the image border are dropped), negatives are drawn in the breast "
               "away from every MC.")
    write_html(out.scale, "Scale of this run next to the paper's", scale,
               "The paper: 1,066 private GE mammograms, 30 epochs per training in Caffe on GPUs. "
               "S is not comparable across scales: fewer epochs and patches give lower S.")
    write_html(out.table3, "Table 3: mean sensitivity S (%), this run next to the paper", t3,
               note + " *: significant after Bonferroni (m = 3).")
    Path(out.summary).write_text(summary_markdown(dataset, scale, t3, note, bootstrap))
    log.info("dataset:\n%s\nscale:\n%s", dataset.to_string(index=False),
             scale.to_string(index=False))


run(main, snakemake.log[0])
