"""Training sweep that sized the default study.

Run: .venv/bin/python benchmarks/sweep_training.py [--negatives N] [--only NAME ...]

Builds the default study's data (``config.yaml``, with ``patches.negatives_per_image`` = N when
given) up to the shards and baselines of one variant (Snakemake, in ``--workdir``, default
``results-sweep/n<N>``), then trains each setting below with the project's own
``mcdetect.cnn.train.train`` on the training fold of held-out fold 0 (its ``train/`` part, validated
after every epoch on its ``val/`` part), scores held-out fold 0 with
``mcdetect.cnn.predict.predict``
and reports, per setting: the validation S of every epoch, whether the last two are within one
point (plateau), the held-out S and AUC next to the best non-learned baseline on the same samples,
and the minutes of training on this machine. The settings differ only in the learning rate, its
step, the batch, the epochs and the share of negatives per epoch; the optimiser is the paper's
throughout (SGD, momentum 0.9, Caffe's weight decay 5e-4). All but the last two settings
standardise the inputs as ``train.standardise: dataset`` (the first standardisation of the
project); the last four compare the default schedules under ``dataset`` and ``patch``.
The result table goes to stdout and ``<workdir>/sweep.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

VARIANT = "raw"

# (name, arch, hyperparameters that differ from the config's block for that arch)
SETTINGS = [
    # run with --negatives 100 (all negatives in every epoch, as the paper):
    ("vgg paper lr", "vgg", {"base_lr": 0.001, "batch": 32, "epochs": 20, "lr_step_epochs": 18,
                             "negative_share": 1.0}),
    ("vgg lr 0.01", "vgg", {"base_lr": 0.01, "batch": 32, "epochs": 20, "lr_step_epochs": 18,
                            "negative_share": 1.0}),
    ("vgg lr 0.02 b64", "vgg", {"base_lr": 0.02, "batch": 64, "epochs": 20, "lr_step_epochs": 18,
                                "negative_share": 1.0}),
    ("vgg lr 0.04 b128", "vgg", {"base_lr": 0.04, "batch": 128, "epochs": 20,
                                 "lr_step_epochs": 18, "negative_share": 1.0}),
    ("alexnet paper lr", "alexnet", {"base_lr": 0.001, "batch": 32, "epochs": 5,
                                     "lr_step_epochs": 3, "negative_share": 1.0}),
    ("alexnet lr 0.01", "alexnet", {"base_lr": 0.01, "batch": 32, "epochs": 5,
                                    "lr_step_epochs": 3, "negative_share": 1.0}),
    ("alexnet lr 0.03 b64", "alexnet", {"base_lr": 0.03, "batch": 64, "epochs": 5,
                                        "lr_step_epochs": 3, "negative_share": 1.0}),
    # run with --negatives 400 (more negatives, a share of them per epoch):
    ("vgg lr 0.02 b64 share 0.5", "vgg", {"base_lr": 0.02, "batch": 64, "epochs": 12,
                                          "lr_step_epochs": 9, "negative_share": 0.5}),
    ("alexnet lr 0.01 share 0.125", "alexnet", {"base_lr": 0.01, "batch": 32, "epochs": 8,
                                                "lr_step_epochs": 6, "negative_share": 0.125}),
    ("vgg lr 0.02 b64 share 0.5 step 5", "vgg", {"base_lr": 0.02, "batch": 64, "epochs": 12,
                                                 "lr_step_epochs": 5, "negative_share": 0.5}),
    ("alexnet lr 0.01 share 0.09 step 3", "alexnet", {"base_lr": 0.01, "batch": 32, "epochs": 9,
                                                      "lr_step_epochs": 3,
                                                      "negative_share": 0.09}),
    # the default schedules (config.yaml) under both standardisations (train.standardise)
    ("vgg default", "vgg", {"base_lr": 0.02, "batch": 64, "epochs": 14, "lr_step_epochs": [9, 12],
                            "negative_share": 0.5, "standardise": "dataset"}),
    ("alexnet default", "alexnet", {"base_lr": 0.01, "batch": 32, "epochs": 8,
                                    "lr_step_epochs": [6, 7], "negative_share": 0.1,
                                    "standardise": "dataset"}),
    ("vgg default, patch", "vgg", {"base_lr": 0.02, "batch": 64, "epochs": 14,
                                   "lr_step_epochs": [9, 12], "negative_share": 0.5,
                                   "standardise": "patch"}),
    ("alexnet default, patch", "alexnet", {"base_lr": 0.01, "batch": 32, "epochs": 8,
                                           "lr_step_epochs": [6, 7], "negative_share": 0.1,
                                           "standardise": "patch"}),
]


def prepare(workdir: Path, negatives: int | None) -> None:
    targets = [f"results/shards/{VARIANT}/fold0", f"results/shards/{VARIANT}/fold1",
               f"results/baselines/{VARIANT}.parquet"]
    overlays = [str(REPO / "config.yaml")]
    if negatives:
        (workdir / "overlay.yaml").write_text(f"patches:\n  negatives_per_image: {negatives}\n")
        overlays.append(str(workdir / "overlay.yaml"))
    cmd = [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--cores", "2", *targets, "--configfile", *overlays]
    subprocess.run(cmd, check=True)


def held_out_s(scores, samples, a=1e-6, b=0.1):
    import numpy as np

    from mcdetect.evaluation.metrics import auc, mean_sensitivity

    table = samples.merge(scores, on="sample_id")
    pos = table.loc[table["label"] == 1, "score"].to_numpy(np.float64)
    neg = table.loc[table["label"] == 0, "score"].to_numpy(np.float64)
    return 100 * mean_sensitivity(pos, neg, a, b), auc(pos, neg)


def main():
    import pandas as pd
    import yaml

    from mcdetect.baselines import BASELINES
    from mcdetect.cnn.device import configure_device
    from mcdetect.cnn.predict import predict
    from mcdetect.cnn.streams import combined_stats, fold_parts
    from mcdetect.cnn.train import train

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir")
    ap.add_argument("--negatives", type=int, help="patches.negatives_per_image")
    ap.add_argument("--only", nargs="*", help="names of the settings to run (default: all)")
    args = ap.parse_args()
    work = Path(args.workdir or REPO / f"results-sweep/n{args.negatives or 'default'}").resolve()
    work.mkdir(parents=True, exist_ok=True)
    prepare(work, args.negatives)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    n_per_image = args.negatives or config["patches"]["negatives_per_image"]
    configure_device(log=lambda *a: None)
    fold_dir = work / f"results/shards/{VARIANT}/fold1"
    held_dir = work / f"results/shards/{VARIANT}/fold0"
    samples = pd.read_parquet(work / "results/patches/samples.parquet",
                              columns=["sample_id", "fold", "label"])
    samples = samples[samples["fold"] == 0].drop(columns="fold")
    base = pd.read_parquet(work / f"results/baselines/{VARIANT}.parquet")
    baseline = {b: held_out_s(base[["sample_id", b]].rename(columns={b: "score"}), samples)
                for b in BASELINES}
    best = max(baseline, key=lambda b: baseline[b][0])
    out_file = work / "sweep.json"
    results = json.loads(out_file.read_text()) if out_file.exists() else {}
    for name, arch, change in SETTINGS:
        if args.only and name not in args.only:
            continue
        hp = {**config["train"][arch], **change}
        mode = hp.pop("standardise", "dataset")
        run = work / "sweep" / name.replace(" ", "_")
        start = time.perf_counter()
        rows = train([fold_dir / "train"], arch, hp, seed=config["train"]["seed"],
                     val_dirs=fold_parts(fold_dir, ["val"]), model_out=run / "model.keras",
                     log_tsv=run / "log.tsv", checkpoint_dir=run / "ckpt",
                     standardise=mode, log=lambda *a: None)
        minutes = (time.perf_counter() - start) / 60
        stats = combined_stats([fold_dir / "train"], mode)
        predict(run / "model.keras", fold_parts(held_dir), stats, run / "scores.parquet",
                log=lambda *a: None)
        s, a = held_out_s(pd.read_parquet(run / "scores.parquet"), samples)
        val = [round(r["val_S"], 2) for r in rows]
        results[name] = {"arch": arch, **change, "negatives_per_image": n_per_image,
                         "samples": sum(r["samples"] for r in rows),
                         "val_S": val, "plateau": abs(val[-1] - val[-2]) <= 1.0,
                         "S": round(s, 2), "AUC": round(a, 3), "minutes": round(minutes, 2),
                         "best_baseline": best, "S_baseline": round(baseline[best][0], 2),
                         "AUC_baseline": round(baseline[best][1], 3)}
        out_file.write_text(json.dumps(results, indent=2) + "\n")
        print(f"{name}: {results[name]}", flush=True)
    print("\n| setting | negatives per image | samples | validation S per epoch (%) | plateau | "
          "held-out S (%) | AUC | best baseline S (%) | minutes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(f"| {name} | {r['negatives_per_image']} | {r['samples']:,} | "
              f"{' '.join(f'{v:.1f}' for v in r['val_S'])} | "
              f"{'yes' if r['plateau'] else 'no'} | {r['S']:.2f} | {r['AUC']:.3f} | "
              f"{r['S_baseline']:.2f} ({r['best_baseline']}) | {r['minutes']:.1f} |")


if __name__ == "__main__":
    main()
