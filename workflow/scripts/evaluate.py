"""Rule evaluate: pooled held-out scores of the CNNs and the baselines' scores of the same samples,
exact mean sensitivity, one paired bootstrap over every model, Table 3, the CNNs' gains over the
best baseline of their variant, per-fold S, and Fig. 3."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import numpy as np
import pandas as pd

from mcdetect.baselines import BASELINES
from mcdetect.evaluate import (
    gains_over_baselines,
    model_summary,
    paired_bootstrap,
    per_fold_summary,
    pool_scores,
    resolution,
    table3,
)
from mcdetect.figures import average_roc_figure
from mcdetect.logs import run
from mcdetect.report import table3_note


def main(log):
    p = SimpleNamespace(archs=snakemake.params.archs, variants=snakemake.params.variants,
                        **snakemake.params.evaluation)
    samples = pd.read_parquet(snakemake.input.samples,
                              columns=["sample_id", "image_id", "fold", "label"])
    folds = pd.read_csv(snakemake.input.folds, sep="\t")
    samples["patient_id"] = samples["image_id"].map(folds.set_index("image_id")["patient_id"])
    samples = samples.sort_values("sample_id").reset_index(drop=True)
    ids = samples["sample_id"].to_numpy()
    tables = {}
    for (variant, arch, _fold), path in zip(snakemake.params.prediction_keys,
                                            snakemake.input.predictions, strict=True):
        tables.setdefault(f"{variant}/{arch}", []).append(pd.read_parquet(path))
    for variant, path in zip(p.variants, snakemake.input.baselines, strict=True):
        table = pd.read_parquet(path)
        for b in BASELINES:
            tables[f"{variant}/{b}"] = table[["sample_id", b]].rename(columns={b: "score"})
    pooled = pool_scores(ids, tables)
    labels = samples["label"].to_numpy()
    units = None if p.unit == "sample" else samples[f"{p.unit}_id"].to_numpy()
    res = paired_bootstrap(pooled, labels, units, n_boot=p.n_boot, seed=p.seed, a=p.a, b=p.b,
                           workers=snakemake.threads, log=log.info)
    kinds = {**{a: "cnn" for a in p.archs}, **{b: "baseline" for b in BASELINES}}
    per_model = model_summary(res, pooled, labels, kinds)
    per_model.to_csv(snakemake.output.per_model, sep="\t", index=False, float_format="%.4f")
    gains = gains_over_baselines(res, p.variants, p.archs, BASELINES)
    gains.to_csv(snakemake.output.gains, sep="\t", index=False, float_format="%.4f")
    log.info("per-fold bootstrap")
    per_fold = per_fold_summary(pooled, labels, samples["fold"].to_numpy(), units,
                                n_boot=p.n_boot, seed=p.seed, a=p.a, b=p.b,
                                workers=snakemake.threads, log=log.info)
    per_fold.to_csv(snakemake.output.per_fold, sep="\t", index=False, float_format="%.4f")
    cnn_keys = [k for k in res["S"] if k.split("/", 1)[1] in p.archs]
    cnn = {k: {"S": res["S"][k], "boot": res["boot"][k]} for k in cnn_keys}
    t3 = table3({"S": {k: v["S"] for k, v in cnn.items()},
                 "boot": {k: v["boot"] for k, v in cnn.items()}}, p.archs)
    t3.to_csv(snakemake.output.table3_csv, index=False)
    info = resolution(int((labels == 0).sum()), p.a)
    summary = {"unit": p.unit, "n_boot": p.n_boot, "seed": p.seed, "a": p.a, "b": p.b, **info,
               "positives": int((labels == 1).sum()), "fallbacks": res["fallbacks"],
               "individual_negatives": res["top"]}
    note = table3_note(summary)
    Path(snakemake.output.table3_md).write_text(
        "# Table 3 (replica)\n\n" + t3.to_markdown(index=False, floatfmt=".4g") + "\n\n"
        + note + "\n")
    Path(snakemake.output.summary).write_text(json.dumps(summary, indent=2) + "\n")
    curves = {tuple(reversed(k.split("/"))): res["roc"][k] for k in cnn_keys}
    average_roc_figure(snakemake.output.fig3, res["grid"], curves, p.a, p.b)
    pd.DataFrame(
        [{"model": k, "fpr": f, "sensitivity": m, "ci_low": lo, "ci_high": hi}
         for k, c in sorted(res["roc"].items())
         for f, m, lo, hi in zip(res["grid"], c.mean(0), *np.percentile(c, [2.5, 97.5], 0),
                                 strict=True)]
    ).to_csv(snakemake.output.roc, sep="\t", index=False, float_format="%.6g")
    log.info("Table 3:\n%s\n%s", t3.to_string(index=False), note)
    log.info("models:\n%s", per_model.to_string(index=False))
    log.info("CNN gains over the best baseline:\n%s", gains.to_string(index=False))


run(main, snakemake.log[0])
