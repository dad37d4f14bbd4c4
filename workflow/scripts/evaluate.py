"""Rule evaluate: pooled held-out scores, exact mean sensitivity, paired bootstrap, Table 3."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import numpy as np
import pandas as pd

from mcdetect.evaluate import paired_bootstrap, resolution, table3
from mcdetect.figures import average_roc_figure
from mcdetect.logs import run
from mcdetect.report import table3_note


def main(log):
    p = SimpleNamespace(archs=snakemake.params.archs, **snakemake.params.evaluation)
    samples = pd.read_parquet(snakemake.input.samples, columns=["sample_id", "image_id", "label"])
    folds = pd.read_csv(snakemake.input.folds, sep="\t")
    samples["patient_id"] = samples["image_id"].map(folds.set_index("image_id")["patient_id"])
    samples = samples.sort_values("sample_id").reset_index(drop=True)
    scores = {}
    for path in snakemake.input.predictions:
        variant, arch = Path(path).parts[-3], Path(path).parts[-2]
        scores.setdefault(f"{variant}/{arch}", []).append(pd.read_parquet(path))
    pooled = {}
    for key, parts in scores.items():
        table = pd.concat(parts).sort_values("sample_id")
        if not np.array_equal(table["sample_id"].to_numpy(), samples["sample_id"].to_numpy()):
            raise ValueError(f"{key}: the held-out predictions do not cover every sample once")
        pooled[key] = table["score"].to_numpy(np.float64)
    labels = samples["label"].to_numpy()
    units = None if p.unit == "sample" else samples[f"{p.unit}_id"].to_numpy()
    res = paired_bootstrap(pooled, labels, units, n_boot=p.n_boot, seed=p.seed, a=p.a, b=p.b,
                           workers=snakemake.threads, log=log.info)
    per_model = pd.DataFrame([
        {"model": k, "S": 100 * res["S"][k],
         "ci_low": 100 * np.percentile(res["boot"][k], 2.5),
         "ci_high": 100 * np.percentile(res["boot"][k], 97.5)} for k in sorted(pooled)
    ])
    per_model.to_csv(snakemake.output.per_model, sep="\t", index=False, float_format="%.3f")
    t3 = table3(res, p.archs)
    t3.to_csv(snakemake.output.table3_csv, index=False, float_format="%.4g")
    info = resolution(int((labels == 0).sum()), p.a)
    summary = {"unit": p.unit, "n_boot": p.n_boot, "seed": p.seed, "a": p.a, "b": p.b, **info,
               "fallbacks": res["fallbacks"], "individual_negatives": res["top"]}
    note = table3_note(summary)
    Path(snakemake.output.table3_md).write_text(
        "# Table 3 (replica)\n\n" + t3.to_markdown(index=False, floatfmt=".4g") + "\n\n"
        + note + "\n")
    Path(snakemake.output.summary).write_text(json.dumps(summary, indent=2) + "\n")
    curves = {tuple(reversed(k.split("/"))): c for k, c in res["roc"].items()}
    average_roc_figure(snakemake.output.fig3, res["grid"], curves, p.a, p.b)
    pd.DataFrame(
        [{"model": k, "fpr": f, "sensitivity": m, "ci_low": lo, "ci_high": hi}
         for k, c in sorted(res["roc"].items())
         for f, m, lo, hi in zip(res["grid"], c.mean(0), *np.percentile(c, [2.5, 97.5], 0),
                                 strict=True)]
    ).to_csv(snakemake.output.roc, sep="\t", index=False, float_format="%.6g")
    log.info("Table 3:\n%s\n%s", t3.to_string(index=False), note)


run(main, snakemake.log[0])
