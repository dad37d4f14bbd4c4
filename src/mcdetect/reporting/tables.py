"""Reporting stage: the study's tables for the report: dataset per fold, the run's scale next to the
paper's, and Table 3 next to the paper's values; as CSV, Markdown and self-contained HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

__all__ = ["PAPER", "dataset_table", "scale_table", "table3_with_paper", "write_html",
           "training_summary", "summary_markdown", "read_json",
           "detectors_table", "gains_table", "per_fold_table", "convergence_table", "findings",
           "PLATEAU_POINTS", "LAST_EPOCHS"]

# How far the validation S of a training moved over its last two epochs, against this many
# percentage points. At the schedule's smallest learning rates almost any training stays within it,
# so it describes the end of a training and does not show convergence (the doubled-budget benchmark
# of the default study, benchmarks/convergence.py, does).
PLATEAU_POINTS = 1.0
LAST_EPOCHS = f"last two epochs within {PLATEAU_POINTS:g} point"

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
    "table3": {  # S per CNN and preprocessing variant
        "alexnet": {"raw": 68.47, "clahe": 69.64, "dehaze": 73.29},
        "vgg": {"raw": 73.88, "clahe": 73.07, "dehaze": 76.26},
    },
}


def dataset_table(folds: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Images, patients, annotated MCs, positive and negative patches per fold, and in all, with
    the validation images among them.

    ``folds``: image_id, patient_id, fold, n_mcs[, validation] (folds.tsv); ``samples``: the
    per-fold sample summary (fold, positives, negatives)."""
    df = folds.assign(validation=folds["validation"] if "validation" in folds else 0)
    per_fold = df.groupby("fold").agg(images=("image_id", "size"),
                                      patients=("patient_id", "nunique"),
                                      MCs=("n_mcs", "sum"),
                                      **{"validation images": ("validation", "sum")})
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
        lrs = df["learning_rate"].drop_duplicates().tolist() if len(df) else []
        rows.append({"arch": arch, "variant": variant, "fold": fold, "epochs": len(df),
                     "samples_per_epoch": int(df["samples"].iloc[0]) if len(df) else 0,
                     "samples": int(df["samples"].sum()), "seconds": float(df["seconds"].sum()),
                     "learning_rates": " -> ".join(f"{lr:g}" for lr in lrs)})
    per = pd.DataFrame(rows)
    return per.groupby("arch").agg(trainings=("fold", "size"), epochs=("epochs", "max"),
                                   samples_per_epoch=("samples_per_epoch", "max"),
                                   samples=("samples", "max"),
                                   learning_rates=("learning_rates", "first"),
                                   hours=("seconds", lambda s: s.sum() / 3600)).reset_index()


STANDARDISATION = {  # train.standardise, as the scale table words it
    "patch": "each patch minus its own mean, / the within-patch std",
    "dataset": "minus the pixel mean, / the pixel std",
}


def scale_table(dataset: pd.DataFrame, training: pd.DataFrame, bootstrap: dict,
                hyperparameters: dict | None = None) -> pd.DataFrame:
    """The scale of this run next to the paper's (a short, honest comparison); with the config's
    ``train`` section as ``hyperparameters``, also batch, base learning rate and the share of the
    negatives per epoch of each net."""
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
        # the paper's protocol, for its two nets; a net beyond the paper has no paper column
        in_paper = t["arch"] in PAPER["table3"]

        def paper(value, in_paper=in_paper):
            return value if in_paper else "not in the paper"

        rows += [
            (f"{t['arch']}: epochs", paper(PAPER["epochs"]), int(t["epochs"])),
            (f"{t['arch']}: samples per epoch", paper(paper_epoch), int(t["samples_per_epoch"])),
            (f"{t['arch']}: samples seen per training", paper(PAPER["epochs"] * paper_epoch),
             int(t["samples"])),
            (f"{t['arch']}: learning rate per epoch block",
             paper("0.001 -> 0.0001 -> ... (/10 every 6)"), t["learning_rates"]),
        ]
        hp = (hyperparameters or {}).get(t["arch"])
        if hp:
            rows += [
                (f"{t['arch']}: batch", paper(PAPER["batch"]), int(hp["batch"])),
                (f"{t['arch']}: share of the training negatives per epoch", paper("1 (all)"),
                 f"{hp.get('negative_share', 1.0):g}"),
            ]
        rows += [
            (f"{t['arch']}: training time per training (h, this machine)", paper("not stated"),
             f"{t['hours'] / max(int(t['trainings']), 1):.3f}"),
        ]
    mode = (hyperparameters or {}).get("standardise")
    if mode:
        rows.append(("input standardisation", "mean subtraction, unit variance",
                     STANDARDISATION[mode]))
    rows += [
        ("bootstrap resamples", PAPER["n_boot"], int(bootstrap["n_boot"])),
        ("bootstrap unit", PAPER["unit"], bootstrap["unit"] + (
            f" ({bootstrap['n_units']} {bootstrap['unit']}s)" if bootstrap.get("n_units")
            else "")),
        ("smallest resolvable FPR (1 / negatives)", f"{1 / PAPER['negatives']:.2g}",
         f"{bootstrap['min_fpr']:.2g}"),
    ]
    table = pd.DataFrame(rows, columns=["quantity", "paper", "this run"])
    for col in ("paper", "this run"):
        table[col] = [f"{v:,}" if isinstance(v, int) else str(v) for v in table[col]]
    return table


def table3_with_paper(t3: pd.DataFrame, design) -> pd.DataFrame:
    """Table 3 of this run (S in percent, differences, p-values) beside the paper's rows; a variant
    or comparison the paper did not have is left empty in its row."""
    rows = []
    for _, r in t3.iterrows():
        arch = r["CNN"]
        paper = PAPER["table3"].get(arch)
        if paper:
            row = {"CNN": arch, "source": "paper"}
            for v in design.variants:
                row[f"S_{design.label(v)}"] = f"{paper[v]:.2f}" if v in paper else ""
            for vx, vy in design.comparisons:
                x, y = design.label(vx), design.label(vy)
                row[f"S_{x} - S_{y}"] = (f"{paper[vx] - paper[vy]:+.2f} (p < 0.001)"
                                         if vx in paper and vy in paper else "")
            rows.append(row)
        row = {"CNN": arch, "source": "this run"}
        for v in design.variants:
            s = design.label(v)
            row[f"S_{s}"] = f"{r[f'S_{s}']:.2f} ({r[f'S_{s} 95% CI']})"
        for x, y in design.compared:
            p = r[f"p ({x} vs {y})"]
            mark = " *" if r[f"significant ({x} vs {y})"] else ""
            row[f"S_{x} - S_{y}"] = f"{r[f'S_{x} - S_{y}']:+.2f} (p = {p:.3g}){mark}"
        rows.append(row)
    return pd.DataFrame(rows)


_CSS = """body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}
th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}
td:first-child,th:first-child{text-align:left}p{max-width:60em}"""


def write_html(path, title: str, table: pd.DataFrame, note: str = "", sections=()) -> None:
    """One table as a self-contained HTML page (for the Snakemake report), and further
    ``sections`` ((title, table, note), ...) below it."""
    def section(level, heading, t, text):
        return (f"<h{level}>{heading}</h{level}>" + t.to_html(index=False, border=0, escape=True)
                + (f"<p>{text}</p>" if text else ""))

    Path(path).write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_CSS}</style></head><body>" + section(2, title, table, note)
        + "".join(section(3, *s) for s in sections) + "</body></html>\n")


REALISM_TITLE = "Annotated MCs beside INbreast's"
REALISM_NOTE = (
    "Per image with annotated MCs: their count, size and spacing in this dataset and in INbreast "
    "(statistics of a sample of 68 of its 343 annotation files, every 5th; sizes of the outlined "
    "calcifications, which include coarse ones, 61% of its MCs are points without a size; "
    "mcdetect.data.realism). The synthetic phantom plants MCs in clusters and alone with sizes "
    "drawn from synthetic.diameter_mm; where its counts, sizes or spacing differ from INbreast's, "
    "the patch comparison weighs the variants on a different mix of MCs than a real screening "
    "set would, and the detection FROC (clusters especially) depends on the spacing.")


FAINT_TITLE = "Negatives on unannotated MCs: S with and without them"
FAINT_NOTE = (
    "A sensitivity analysis where the truth is known (the synthetic dataset): negatives are drawn "
    "away from the annotated MCs only, as on real data, so some lie within the exclusion radius "
    "of a planted MC that the reader model left unannotated (too faint), and a net that finds it "
    "scores a false positive. S in percent on the same held-out samples with every negative (as "
    "in Table 3) and with those negatives removed, and the design's differences both ways "
    "(point estimates). The study keeps them, as real data would have them.")


def summary_markdown(dataset: pd.DataFrame, scale: pd.DataFrame, t3: pd.DataFrame,
                     table3_note: str, bootstrap: dict, *, m: int,
                     detectors: pd.DataFrame | None = None,
                     gains: pd.DataFrame | None = None, per_fold: pd.DataFrame | None = None,
                     convergence: pd.DataFrame | None = None,
                     froc: tuple[pd.DataFrame, pd.DataFrame, str] | None = None,
                     sweep: tuple[str, pd.DataFrame, str] | None = None,
                     realism: tuple[pd.DataFrame, str] | None = None,
                     faint: tuple[pd.DataFrame, str] | None = None,
                     text: str = "") -> str:
    """The study in one Markdown page: what it shows, what ran, at what scale, Table 3 and
    beside it whole-image detection (``froc``: its table, comparisons and note), the detectors
    beside the baselines, per-fold S and the convergence of every training."""
    extra = []
    if froc is not None:
        table, comparisons, note = froc
        extra.append("## Whole-image detection beside Table 3: FROC (%) with 95% CI\n\n"
                     + table.to_markdown(index=False) + "\n\n" + comparisons.to_markdown(
                         index=False) + "\n\n" + note)
    if detectors is not None:
        extra.append("## Every detector on the same samples: S (%) with 95% CI, and AUC\n\n"
                     + detectors.to_markdown(index=False))
    if gains is not None:
        extra.append("## Each CNN against the best baseline of its variant\n\n"
                     + gains.to_markdown(index=False))
    if per_fold is not None:
        extra.append("## S per fold (each fold's held-out samples alone)\n\n"
                     + per_fold.to_markdown(index=False))
    if convergence is not None:
        extra.append("## Convergence of every training (validation S per epoch)\n\n"
                     + convergence.to_markdown(index=False))
    if sweep is not None:
        title, table, note = sweep
        extra.append(f"## {title}\n\n" + table.to_markdown(index=False) + "\n\n" + note)
    return "\n\n".join([
        "# Study summary",
        *(["## What this run shows\n\n" + text] if text else []),
        "## Dataset per fold\n\n" + dataset.to_markdown(index=False),
        *([f"## {REALISM_TITLE}\n\n" + realism[0].to_markdown(index=False) + "\n\n"
           + realism[1]] if realism is not None else []),
        "## Scale of this run next to the paper's\n\n" + scale.to_markdown(index=False),
        "## Table 3: mean sensitivity S (%) over FPR "
        f"[{bootstrap['a']:g}, {bootstrap['b']:g}], this run next to the paper\n\n"
        + t3.to_markdown(index=False) + "\n\n" + table3_note
        + f" `*`: significant after Bonferroni (m = {m}).",
        *([f"## {FAINT_TITLE}\n\n" + faint[0].to_markdown(index=False, floatfmt=".2f")
           + "\n\n" + faint[1]] if faint is not None else []),
        *extra,
        "Figures: results/figures/ (Fig. 1 dehazing transform, Fig. 2 example, Fig. 3 average "
        "ROC, the FROC curves and the detection overlays); training curves: results/training/; "
        "the full HTML report: `snakemake --report results/report.html` (done by `make run`).",
    ]) + "\n"


def _ci(s, lo, hi) -> str:
    return f"{s:.2f} ({lo:.2f}-{hi:.2f})"


def detectors_table(per_model: pd.DataFrame, variants, order=None) -> pd.DataFrame:
    """S (%) with 95% CI and AUC of every detector (rows: CNNs, then baselines) per variant
    (columns), from evaluate's mean_sensitivity.tsv."""
    methods = list(order) if order else list(dict.fromkeys(per_model["method"]))
    rows = []
    for method in methods:
        sub = per_model[per_model["method"] == method].set_index("variant")
        if sub.empty:
            continue
        row = {"detector": method, "kind": sub["kind"].iloc[0]}
        for v in variants:
            if v in sub.index:
                r = sub.loc[v]
                row[f"S {v}"] = _ci(r["S"], r["ci_low"], r["ci_high"])
                row[f"AUC {v}"] = f"{r['AUC']:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def gains_table(gains: pd.DataFrame) -> pd.DataFrame:
    """Each CNN's gain over the best baseline of its variant (percentage points, 95% CI, p)."""
    return pd.DataFrame([{
        "variant": r["variant"], "CNN": r["CNN"], "best baseline": r["best baseline"],
        "S CNN": f"{r['S_CNN']:.2f}", "S baseline": f"{r['S_baseline']:.2f}",
        "gain (95% CI)": f"{r['gain']:+.2f} ({r['ci_low']:+.2f} to {r['ci_high']:+.2f})",
        "p": f"{r['p']:.3g}", "CNN better (CI above 0)": "yes" if r["beats"] else "no",
    } for _, r in gains.iterrows()])


def sweep_report_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """A sweep's table for the report: the setting's parameters, the net, S and the gain over the
    reference (percentage points) with 95% CIs, p and Bonferroni significance."""
    ref = next(c for c in sweep.columns if c.startswith("S_"))
    params = list(sweep.columns[:list(sweep.columns).index("CNN")])
    return pd.DataFrame([{
        **{k: r[k] for k in params}, "CNN": r["CNN"],
        "S (95% CI)": _ci(r["S"], r["ci_low"], r["ci_high"]), ref: f"{r[ref]:.2f}",
        "gain (95% CI)": f"{r['gain']:+.2f} ({r['gain_ci_low']:+.2f} to {r['gain_ci_high']:+.2f})",
        "p": f"{r['p']:.3g}" + ("*" if r["significant"] else ""),
    } for _, r in sweep.iterrows()])


def sweep_findings(sweep: pd.DataFrame, variant: str, reference: str) -> str:
    """The sweep in a sentence per net: the range of the gain over the reference across the
    settings, and in how many the CI lies above (or below) zero."""
    params = list(sweep.columns[:list(sweep.columns).index("CNN")])
    out = []
    for arch, g in sweep.groupby("CNN", sort=False):
        def name(r):
            return ", ".join(f"{k} {r[k]:g}" if isinstance(r[k], int | float) else f"{k} {r[k]}"
                             for k in params)
        lo, hi = g.loc[g["gain"].idxmin()], g.loc[g["gain"].idxmax()]
        above, below = int((g["gain_ci_low"] > 0).sum()), int((g["gain_ci_high"] < 0).sum())
        out.append(f"Sweep of {variant} ({len(g)} settings), {arch}-like: the gain in S over "
                   f"{reference} ranges from {lo['gain']:+.2f} points ({name(lo)}) to "
                   f"{hi['gain']:+.2f} ({name(hi)}); its 95% CI lies above zero in {above} and "
                   f"below zero in {below} of {len(g)} settings.")
    return " ".join(out)


def per_fold_table(per_fold: pd.DataFrame) -> pd.DataFrame:
    """S (%) with 95% CI and AUC of every model on each fold's samples alone."""
    folds = sorted(per_fold["fold"].unique())
    rows = []
    for model, sub in per_fold.groupby("model", sort=False):
        sub = sub.set_index("fold")
        row = {"model": model}
        for f in folds:
            r = sub.loc[f]
            row[f"S fold {f}"] = _ci(r["S"], r["ci_low"], r["ci_high"])
            row[f"AUC fold {f}"] = f"{r['AUC']:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def convergence_table(logs: dict, tolerance: float = PLATEAU_POINTS) -> pd.DataFrame:
    """Per training {(variant, arch, fold): per-epoch log}: epochs, the validation S of the last
    two epochs and their difference, whether that stays within ``tolerance`` points (column
    LAST_EPOCHS; a description, not a test of convergence), the last validation AUC and the epoch
    kept."""
    rows = []
    for (variant, arch, fold), df in sorted(logs.items()):
        row = {"variant": variant, "CNN": arch, "held-out fold": fold, "epochs": len(df)}
        if "val_S" in df and df["val_S"].notna().any() and len(df) >= 2:
            a, b = float(df["val_S"].iloc[-2]), float(df["val_S"].iloc[-1])
            row.update({"val S, last two epochs": f"{a:.2f} -> {b:.2f}",
                        "change (points)": round(b - a, 2),
                        LAST_EPOCHS: "yes" if abs(b - a) <= tolerance else "no",
                        "val AUC (last)": round(float(df["val_auc"].iloc[-1]), 3)})
        else:
            row.update({"val S, last two epochs": "n/a", "change (points)": float("nan"),
                        LAST_EPOCHS: "n/a (no validation data or one epoch)",
                        "val AUC (last)": float("nan")})
        kept = df.loc[df["selected"] == 1, "epoch"] if "selected" in df else df["epoch"].tail(1)
        row["epoch kept"] = int(kept.iloc[0]) if len(kept) else len(df)
        rows.append(row)
    return pd.DataFrame(rows)


def findings(t3: pd.DataFrame, gains: pd.DataFrame, convergence: pd.DataFrame, design,
             froc_comparisons: pd.DataFrame | None = None) -> str:
    """What this run shows, in sentences computed from its own tables (no fixed claims)."""
    out = []
    within = (convergence[LAST_EPOCHS] == "yes").sum()
    out.append(f"End of training: the validation S of {within} of {len(convergence)} trainings "
               f"moved by at most {PLATEAU_POINTS:g} point over the last two epochs (at the "
               "schedule's smallest learning rates: this does not show convergence).")
    if len(gains):
        beat = gains[gains["beats"]]
        out.append(f"CNNs against the best non-learned baseline of their variant: {len(beat)} of "
                   f"{len(gains)} (CNN, variant) pairs are better with the 95% CI of the gain "
                   "above zero" + ("." if len(beat) == len(gains) else "; not: " + ", ".join(
                       f"{r['CNN']} on {r['variant']} ({r['gain']:+.2f} points, CI "
                       f"{r['ci_low']:+.2f} to {r['ci_high']:+.2f})"
                       for _, r in gains[~gains["beats"]].iterrows()) + "."))
    for _, r in t3.iterrows():
        parts = []
        for x, y in design.compared:
            d, p = r[f"S_{x} - S_{y}"], r[f"p ({x} vs {y})"]
            sig = "significant" if r[f"significant ({x} vs {y})"] else "not significant"
            parts.append(f"{x} - {y} = {d:+.2f} points (p = {p:.3g}, {sig})")
        out.append(f"{r['CNN']}-like: " + "; ".join(parts) + ".")
    if froc_comparisons is not None and len(froc_comparisons):
        key = FROC_SUMMARIES[-1]
        c = _fp_over(froc_comparisons)
        headline = c["fp_over"].iloc[0]
        c = c[(c["summary"] == key) & (c["fp_over"] == headline)]
        groups = {}
        for _, r in c.iterrows():
            detector, compared, between_variants = _froc_pair(r["comparison"], design)
            if between_variants:
                sig = "significant" if r["significant"] else "not significant"
                text = f"{compared} = {100 * r['difference']:+.2f} (p = {r['p']:.3g}, {sig})"
            else:
                text = (f"{detector} on {compared} = {100 * r['difference']:+.2f} (CI "
                        f"{100 * r['ci_low']:+.2f} to {100 * r['ci_high']:+.2f})")
            name = detector.split(" - ")[0]
            groups.setdefault((name == "dog", name, r["level"] != "MC"), []).append(text)
        out.append("Whole-image detection, FROC area over [0, 10] false positives per image "
                   f"(counted on {FP_LABELS[headline]}) in points: " + "; ".join(
                       f"{'first stage (DoG)' if dog else f'{det}-like'}, "
                       f"{'cluster' if cluster else 'MC'} level: " + ", ".join(parts)
                       for (dog, det, cluster), parts in sorted(groups.items())) + ".")
    return " ".join(out)


FROC_SUMMARIES = ("sens@1", "area[0,10]")  # the FROC table's columns (more in froc.tsv)


def _fp_over(table: pd.DataFrame) -> pd.DataFrame:
    """FROC tables with their counting of false positives (tables without the column count
    over all images)."""
    return table if "fp_over" in table else table.assign(fp_over="all")


FP_LABELS = {"normal": "normal images", "all": "all images"}


def froc_table(summaries: pd.DataFrame, variants) -> pd.DataFrame:
    """Whole-image detection beside Table 3: per level (MC, cluster), counting of false positives
    (on normal images, the headline, or on all images) and detector, each variant's sensitivity
    at 1 false positive per image and normalised FROC area over [0, 10] false positives per
    image, in percent with 95% CIs (from the froc rule's froc.tsv)."""
    rows = []
    summaries = _fp_over(summaries)
    table = summaries.assign(variant=summaries["method"].str.split("/").str[0],
                             detector=summaries["method"].str.split("/").str[1])
    for (level, fp_over, detector), g in table.groupby(["level", "fp_over", "detector"],
                                                       sort=False):
        row = {"level": level, "FP counted on": FP_LABELS[fp_over], "detector": detector}
        for v in variants:
            for key in FROC_SUMMARIES:
                r = g[(g["variant"] == v) & (g["summary"] == key)]
                if len(r):
                    r = r.iloc[0]
                    row[f"{key} {v}"] = _ci(100 * r["value"], 100 * r["ci_low"],
                                            100 * r["ci_high"])
        rows.append(row)
    return pd.DataFrame(rows)


def _froc_pair(comparison: str, design) -> tuple[str, str, bool]:
    """(detector, compared, between variants?) of a FROC comparison "variant/method - ...": the
    design's variants of one detector ("vgg", "DH - UN"), or a net against the first stage on
    one variant ("vgg - dog", "DH")."""
    x, y = (part.strip() for part in comparison.split(" - "))
    (vx, dx), (vy, dy) = x.split("/"), y.split("/")
    if dx == dy:
        return dx, f"{design.label(vx)} - {design.label(vy)}", True
    return f"{dx} - {dy}", design.label(vx), False


def froc_comparisons_table(comparisons: pd.DataFrame, design) -> pd.DataFrame:
    """The design's comparisons of whole-image detection per level, counting of false positives
    and detector, and each net against the first stage alone per variant: the differences of
    FROC_SUMMARIES in percentage points with 95% CIs, p and significance (``*``: within the
    Bonferroni family, headline counting only)."""
    rows = []
    comparisons = _fp_over(comparisons)
    for (level, fp_over, comparison), g in comparisons.groupby(
            ["level", "fp_over", "comparison"], sort=False):
        detector, compared, _ = _froc_pair(comparison, design)
        row = {"level": level, "FP counted on": FP_LABELS[fp_over], "detector": detector,
               "comparison": compared}
        for key in FROC_SUMMARIES:
            r = g[g["summary"] == key].iloc[0]
            row[f"{key} difference (95% CI)"] = (
                f"{100 * r['difference']:+.2f} ({100 * r['ci_low']:+.2f} to "
                f"{100 * r['ci_high']:+.2f})")
            row[f"p ({key})"] = f"{r['p']:.3g}" + ("*" if r["significant"] else "")
        rows.append(row)
    return pd.DataFrame(rows)


def froc_family(comparisons: pd.DataFrame) -> str:
    """The significance family of the FROC comparisons, in words."""
    comparisons = _fp_over(comparisons)
    if not len(comparisons):
        return ""
    m = int(comparisons["m"].iloc[0]) if "m" in comparisons else len(comparisons)
    headline = FP_LABELS[comparisons["fp_over"].iloc[0]]
    return (f"Bonferroni over m = {m}: every comparison of the table at both levels, for "
            f"{' and '.join(FROC_SUMMARIES)}, with false positives counted on {headline} "
            "(significant if p < " + f"{0.05 / m:.2g}); the other counting's p-values are "
            "descriptive.")


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())
