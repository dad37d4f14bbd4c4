"""The study's tables for the report: dataset per fold, the run's scale next to the paper's, and
Table 3 next to the paper's values; as CSV, Markdown and self-contained HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

__all__ = ["PAPER", "dataset_table", "scale_table", "table3_with_paper", "write_html",
           "training_summary", "summary_markdown", "table3_note", "read_json"]

# Bria et al., Sect. 2 and 5, and Table 3 (S in percent; every difference p < 0.001).
PAPER = {
    "images": 1066,
    "mcs": 7579,
    "negatives": 27_017_503,
    "epochs": 30,
    "batch": 32,
    "iterations_per_epoch": 844_297,
    "n_boot": 1000,
    "unit": "sample",
    "table3": {
        "alexnet": {"S_UN": 68.47, "S_CL": 69.64, "S_DH": 73.29},
        "vgg": {"S_UN": 73.88, "S_CL": 73.07, "S_DH": 76.26},
    },
}


def dataset_table(folds: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Images, patients, annotated MCs, positive and negative patches per fold, and in all.

    ``folds``: image_id, patient_id, fold, n_mcs (folds.tsv); ``samples``: the per-fold sample
    summary (fold, positives, negatives)."""
    df = folds
    per_fold = df.groupby("fold").agg(images=("image_id", "size"),
                                      patients=("patient_id", "nunique"),
                                      MCs=("n_mcs", "sum"))
    patches = samples.set_index("fold")[["positives", "negatives"]]
    per_fold = per_fold.join(patches.rename(columns={"positives": "positive patches",
                                                     "negatives": "negative patches"}))
    total = per_fold.sum()
    total["patients"] = df["patient_id"].nunique()
    table = pd.concat([per_fold.rename(index=lambda f: f"fold {f}"),
                       total.to_frame("all").T]).astype("int64")
    table.index.name = "fold"
    return table.reset_index()


def training_summary(logs: dict) -> pd.DataFrame:
    """Per architecture, from the per-epoch training logs {(variant, arch, fold): DataFrame}:
    epochs, balanced samples per epoch, samples seen per training, mean throughput."""
    rows = []
    for (variant, arch, fold), df in sorted(logs.items()):
        rows.append({"arch": arch, "variant": variant, "fold": fold, "epochs": len(df),
                     "samples_per_epoch": int(df["samples"].iloc[0]) if len(df) else 0,
                     "samples": int(df["samples"].sum()), "seconds": float(df["seconds"].sum())})
    per = pd.DataFrame(rows)
    return per.groupby("arch").agg(trainings=("fold", "size"), epochs=("epochs", "max"),
                                   samples_per_epoch=("samples_per_epoch", "max"),
                                   samples=("samples", "max"),
                                   hours=("seconds", lambda s: s.sum() / 3600)).reset_index()


def scale_table(dataset: pd.DataFrame, training: pd.DataFrame, bootstrap: dict) -> pd.DataFrame:
    """The scale of this run next to the paper's (a short, honest comparison)."""
    total = dataset.set_index("fold").loc["all"]
    paper_epoch = PAPER["iterations_per_epoch"] * PAPER["batch"]
    rows = [
        ("mammograms", PAPER["images"], int(total["images"])),
        ("patients", "not stated", int(total["patients"])),
        ("annotated MCs", PAPER["mcs"], int(total["MCs"])),
        ("positive patches", PAPER["mcs"], int(total["positive patches"])),
        ("negative patches", PAPER["negatives"], int(total["negative patches"])),
    ]
    for _, t in training.iterrows():
        rows += [
            (f"{t['arch']}: epochs", PAPER["epochs"], int(t["epochs"])),
            (f"{t['arch']}: samples per epoch", paper_epoch, int(t["samples_per_epoch"])),
            (f"{t['arch']}: samples seen per training", PAPER["epochs"] * paper_epoch,
             int(t["samples"])),
        ]
    rows += [
        ("bootstrap resamples", PAPER["n_boot"], int(bootstrap["n_boot"])),
        ("bootstrap unit", PAPER["unit"], bootstrap["unit"]),
        ("smallest resolvable FPR (1 / negatives)", f"{1 / PAPER['negatives']:.2g}",
         f"{bootstrap['min_fpr']:.2g}"),
    ]
    table = pd.DataFrame(rows, columns=["quantity", "paper", "this run"])
    for col in ("paper", "this run"):
        table[col] = [f"{v:,}" if isinstance(v, int) else str(v) for v in table[col]]
    return table


def table3_with_paper(t3: pd.DataFrame) -> pd.DataFrame:
    """Table 3 of this run (S in percent, differences, p-values) beside the paper's rows."""
    rows = []
    for _, r in t3.iterrows():
        arch = r["CNN"]
        paper = PAPER["table3"].get(arch)
        if paper:
            row = {"CNN": arch, "source": "paper", **{k: f"{v:.2f}" for k, v in paper.items()}}
            for x, y in (("CL", "UN"), ("DH", "UN"), ("DH", "CL")):
                diff = paper[f"S_{x}"] - paper[f"S_{y}"]
                row[f"S_{x} - S_{y}"] = f"{diff:+.2f} (p < 0.001)"
            rows.append(row)
        row = {"CNN": arch, "source": "this run"}
        for s in ("UN", "CL", "DH"):
            row[f"S_{s}"] = f"{r[f'S_{s}']:.2f} ({r[f'S_{s} 95% CI']})"
        for x, y in (("CL", "UN"), ("DH", "UN"), ("DH", "CL")):
            p = r[f"p ({x} vs {y})"]
            mark = " *" if r[f"significant ({x} vs {y})"] else ""
            row[f"S_{x} - S_{y}"] = f"{r[f'S_{x} - S_{y}']:+.2f} (p = {p:.3g}){mark}"
        rows.append(row)
    return pd.DataFrame(rows)


_CSS = """body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}
th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}
td:first-child,th:first-child{text-align:left}p{max-width:60em}"""


def write_html(path, title: str, table: pd.DataFrame, note: str = "") -> None:
    """One table as a self-contained HTML page (for the Snakemake report)."""
    body = table.to_html(index=False, border=0, escape=True)
    Path(path).write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_CSS}</style></head><body><h2>{title}</h2>{body}"
        + (f"<p>{note}</p>" if note else "") + "</body></html>\n")


def summary_markdown(dataset: pd.DataFrame, scale: pd.DataFrame, t3: pd.DataFrame,
                     table3_note: str, bootstrap: dict) -> str:
    """The study in one Markdown page: what ran, at what scale, and Table 3."""
    return "\n\n".join([
        "# Study summary",
        "## Dataset per fold\n\n" + dataset.to_markdown(index=False),
        "## Scale of this run next to the paper's\n\n" + scale.to_markdown(index=False),
        "## Table 3: mean sensitivity S (%) over FPR "
        f"[{bootstrap['a']:g}, {bootstrap['b']:g}], this run next to the paper\n\n"
        + t3.to_markdown(index=False) + "\n\n" + table3_note
        + " `*`: significant after Bonferroni (m = 3).",
        "Figures: results/figures/ (Fig. 1 dehazing transform, Fig. 2 example, Fig. 3 average "
        "ROC); training curves: results/training/; the full HTML report: "
        "`snakemake --report results/report.html` (done by `make run`).",
    ]) + "\n"


def table3_note(bootstrap: dict) -> str:
    """How Table 3 was computed, from the evaluation's bootstrap.json."""
    b = bootstrap
    return (f"Mean sensitivity S in percent over FPR [{b['a']:g}, {b['b']:g}]; {b['n_boot']} "
            f"paired, class-stratified bootstrap resamples by {b['unit']} (seed {b['seed']}); "
            f"two-sided p-values, significant (Bonferroni, m = 3) if p < {0.05 / 3:.4f}. "
            f"{b['n_negatives']:,} negatives: the smallest resolvable FPR is {b['min_fpr']:.2g}"
            + (", above a: below it s is the sensitivity at FPR 0." if b["a_below_resolution"]
               else "."))


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())
