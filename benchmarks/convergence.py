"""Benchmark: is the default study converged within its training budget? A check that can fail.

Run (after `make run`, on its finished run):
    .venv/bin/python benchmarks/convergence.py [--fold 0] [--archs alexnet vgg]

Each net of the study is trained again on every variant for one held-out fold with twice the
budget: epochs doubled and the learning-rate schedule's milestones scaled with them (same
samples, shards, seeds and everything else). Both nets of each (variant, net) then score the same
held-out samples, and the change in S (doubled - default) gets a 95% CI from a paired bootstrap
by patient. Verdict per (variant, net): "converged within budget" where the change is below 1
point or its CI covers 0, otherwise "budget-limited by X points"; and whether the variants'
order (by S) changes. The doubled trainings run through the workflow in a separate folder
(benchmarks/out/convergence/) that holds hard links of the run's dataset, patches and shards,
so the default run is never touched. Writes convergence.tsv and convergence.md there and prints
the table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# what the doubled trainings need from the finished run: linked, never written
LINKED = ("data", "private", "results/dataset", "results/masks", "results/preprocessed",
          "results/patches", "results/shards")


def doubled_overlay(config: dict, archs) -> dict:
    """train.<arch>: epochs x 2, the milestones of the learning-rate schedule x 2."""
    out = {}
    for arch in archs:
        t = config["train"][arch]
        steps = t["lr_step_epochs"]
        steps = [2 * s for s in steps] if isinstance(steps, list) else 2 * steps
        out[arch] = {"epochs": 2 * t["epochs"], "lr_step_epochs": steps}
    return {"train": out}


def link_run(run: Path, work: Path) -> None:
    """Hard links of the run's inputs to the trainings (mtimes kept), nothing else."""
    for rel in LINKED:
        src, dst = run / rel, work / rel
        if src.exists() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, dst, copy_function=os.link)


def verdict(change: float, lo: float, hi: float) -> str:
    if change < 1.0 or lo <= 0.0 <= hi:
        return "converged within budget"
    return f"budget-limited by {change:.1f} points"


def compare(run: Path, work: Path, variants, archs, fold: int, design, *, n_boot: int,
            seed: int, a: float, b: float) -> pd.DataFrame:
    """S of the default and the doubled net of every (variant, net) on fold ``fold``'s held-out
    samples, the change with its patient-level 95% CI, and the verdict."""
    from mcdetect.evaluation.bootstrap import paired_bootstrap
    from mcdetect.evaluation.study import read_samples
    from mcdetect.evaluation.tables import pool_scores

    samples = read_samples(run / "results/patches/samples.parquet",
                           run / "results/dataset/folds.tsv")
    samples = samples[samples["fold"] == fold].reset_index(drop=True)
    tables = {}
    for v in variants:
        for arch in archs:
            name = f"results/predictions/{v}/{arch}/fold{fold}.parquet"
            tables[f"{v}/{arch}/default"] = pd.read_parquet(run / name)
            tables[f"{v}/{arch}/doubled"] = pd.read_parquet(work / name)
    scores = pool_scores(samples["sample_id"].to_numpy(), tables)
    res = paired_bootstrap(scores, samples["label"].to_numpy(), samples["patient_id"].to_numpy(),
                           n_boot=n_boot, seed=seed, a=a, b=b, log=lambda m: None)
    rows = []
    for arch in archs:
        order = {k: " > ".join(design.label(v) for v in sorted(
            variants, key=lambda v: -res["S"][f"{v}/{arch}/{k}"])) for k in ("default", "doubled")}
        for v in variants:
            x, y = f"{v}/{arch}/doubled", f"{v}/{arch}/default"
            d = 100 * (res["boot"][x] - res["boot"][y])
            lo, hi = np.percentile(d, [2.5, 97.5])
            change = 100 * (res["S"][x] - res["S"][y])
            rows.append({"CNN": arch, "variant": design.label(v),
                         "S default (%)": 100 * res["S"][y], "S doubled (%)": 100 * res["S"][x],
                         "change": change, "ci_low": lo, "ci_high": hi,
                         "verdict": verdict(change, lo, hi),
                         "order default": order["default"], "order doubled": order["doubled"]})
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=REPO, help="folder of the finished run")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks/out/convergence")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--archs", nargs="+", default=None)
    parser.add_argument("--configfile", nargs="+", type=Path, default=[REPO / "config.yaml"],
                        help="the run's config files, in order (default: config.yaml)")
    parser.add_argument("--cores", default="all")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    from snakemake.utils import update_config, validate

    from mcdetect.cnn.predict import predict_fold
    from mcdetect.design import StudyDesign

    config = {}
    for path in args.configfile:
        update_config(config, yaml.safe_load(Path(path).read_text()))
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    design = StudyDesign.from_config(config)
    archs = args.archs or list(design.archs)
    variants = list(design.variants)
    run, work, fold = args.run.resolve(), args.work.resolve(), args.fold
    work.mkdir(parents=True, exist_ok=True)
    link_run(run, work)
    overlay = work / "doubled.yaml"
    overlay.write_text(yaml.safe_dump(doubled_overlay(config, archs)))
    models = [f"results/models/{v}/{arch}/fold{fold}.keras" for v in variants for arch in archs]
    start = time.perf_counter()
    subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(work),
                    "--cores", str(args.cores), *models, "--configfile",
                    *map(str, args.configfile), str(overlay)], check=True)
    fold_dirs = {v: [f"{work}/results/shards/{v}/fold{k}" for k in range(config["folds"]["k"])]
                 for v in variants}
    for v in variants:
        for arch in archs:
            predict_fold(fold, work / f"results/models/{v}/{arch}/fold{fold}.keras",
                         fold_dirs[v], work / f"results/predictions/{v}/{arch}/fold{fold}.parquet",
                         standardise=config["train"]["standardise"])
    minutes = (time.perf_counter() - start) / 60
    ev = config["evaluation"]
    table = compare(run, work, variants, archs, fold, design, n_boot=ev["n_boot"],
                    seed=ev["seed"], a=ev["a"], b=ev["b"])
    table.to_csv(work / "convergence.tsv", sep="\t", index=False, float_format="%.3f")
    text = (f"Held-out fold {fold}, {ev['n_boot']} paired resamples by patient; the doubled "
            f"trainings and their predictions took {minutes:.1f} min.\n\n"
            + table.to_markdown(index=False, floatfmt=".2f") + "\n")
    (work / "convergence.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
