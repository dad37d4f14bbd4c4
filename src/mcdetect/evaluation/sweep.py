"""Evaluation of a parameter sweep (config ``sweep``): every setting's nets against the study's
reference-variant nets of the same architecture on the same samples -- S of each (all folds
pooled), the gain over the reference with its 95% CI from one paired bootstrap over every model,
two-sided p-values Bonferroni-corrected over the settings x nets compared -- as a table and a
figure of the gain against the first swept parameter, one line per combination of the others."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mcdetect.evaluation.bootstrap import paired_bootstrap, paired_p_value
from mcdetect.evaluation.metrics import resolution
from mcdetect.evaluation.study import read_samples, unit_phrase
from mcdetect.evaluation.tables import pool_scores

__all__ = ["evaluate_sweep", "sweep_table", "sweep_figure", "SWEEP_NOTE"]

SWEEP_NOTE = (
    "Beyond the paper: each setting of the swept variant's parameters was preprocessed anew and "
    "learnt by each net (every fold, the study's sample table and training protocol); S in percent "
    "over FPR [{a:g}, {b:g}], all folds pooled; gain = S(setting) - S({reference}) in percentage "
    "points on the same samples, with its 95% CI from {n_boot} paired bootstrap resamples "
    "({unit}; seed {seed}); two-sided p, significant (*) if p < {alpha:.4f} (Bonferroni, m = {m}: "
    "settings x nets).")


def sweep_table(result: dict, settings: pd.DataFrame, archs, reference: str,
                alpha: float = 0.05) -> pd.DataFrame:
    """One row per (setting, net): the setting's parameters, S with its 95% CI, the reference's S
    and the gain over it with its 95% CI, p and Bonferroni significance. ``settings`` has a
    ``setting`` column (the Paramspace name) and one column per swept parameter; models in
    ``result`` are named ``setting/arch`` and ``reference/arch``."""
    params = [c for c in settings.columns if c != "setting"]
    m = len(settings) * len(archs)
    rows = []
    for arch in archs:
        ref = f"{reference}/{arch}"
        for _, s in settings.iterrows():
            key = f"{s['setting']}/{arch}"
            lo, hi = np.percentile(result["boot"][key], [2.5, 97.5])
            d = 100 * (np.asarray(result["boot"][key]) - np.asarray(result["boot"][ref]))
            dlo, dhi = np.percentile(d, [2.5, 97.5])
            p = paired_p_value(result["boot"][key], result["boot"][ref])
            rows.append({**{k: s[k] for k in params}, "CNN": arch,
                         "S": 100 * result["S"][key], "ci_low": 100 * lo, "ci_high": 100 * hi,
                         f"S_{reference}": 100 * result["S"][ref],
                         "gain": 100 * (result["S"][key] - result["S"][ref]),
                         "gain_ci_low": dlo, "gain_ci_high": dhi, "p": p,
                         "significant": bool(p < alpha / m)})
    return pd.DataFrame(rows)


def sweep_figure(path, table: pd.DataFrame, params: list[str], reference: str, title: str) -> None:
    """Gain over the reference (with its 95% CI) against the first swept parameter, one line per
    combination of the others, one panel per net."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, others = params[0], params[1:]
    archs = list(dict.fromkeys(table["CNN"]))
    fig, axes = plt.subplots(1, len(archs), figsize=(5.2 * len(archs), 4.0), squeeze=False)
    for ax, arch in zip(axes[0], archs, strict=True):
        sub = table[table["CNN"] == arch]
        groups = list(sub.groupby(others, sort=False)) if others else [((), sub)]
        span = float(np.ptp(sub[x].to_numpy(np.float64))) or 1.0
        for n, (values, g) in enumerate(groups):  # lines side by side, so their CIs stay apart
            values = values if isinstance(values, tuple) else (values,)
            label = ", ".join(f"{k} {v:g}" if isinstance(v, int | float) else f"{k} {v}"
                              for k, v in zip(others, values, strict=True)) or None
            g = g.sort_values(x)
            xs = g[x].to_numpy(np.float64) + 0.012 * span * (n - (len(groups) - 1) / 2)
            ys = g["gain"].to_numpy()
            err = np.vstack([ys - g["gain_ci_low"].to_numpy(), g["gain_ci_high"].to_numpy() - ys])
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=label)
        ax.axhline(0.0, color="0.4", lw=0.8, ls="--")
        ax.set_xlabel(x)
        ax.set_ylabel(f"gain in S over {reference} (points, 95% CI)")
        ax.set_title(f"{arch}-like")
        if others:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_sweep(settings: pd.DataFrame, predictions: dict, reference: dict, samples_parquet,
                   folds_tsv, out: dict, *, variant: str, reference_variant: str, a: float,
                   b: float, n_boot: int, unit: str, seed: int, workers: int = 1,
                   log=print) -> tuple[pd.DataFrame, str]:
    """Evaluate a sweep and write ``out``'s files: table (TSV), markdown, summary (JSON), figure
    (PNG); returns the table and its note. ``predictions`` maps (setting, arch, fold) to
    held-out scores, ``reference`` maps (arch, fold) to the study's reference-variant scores;
    ``settings`` as for ``sweep_table``."""
    samples = read_samples(samples_parquet, folds_tsv)
    tables: dict = {}
    for (setting, arch, _fold), path in predictions.items():
        tables.setdefault(f"{setting}/{arch}", []).append(pd.read_parquet(path))
    for (arch, _fold), path in reference.items():
        tables.setdefault(f"{reference_variant}/{arch}", []).append(pd.read_parquet(path))
    pooled = pool_scores(samples["sample_id"].to_numpy(), tables)
    labels = samples["label"].to_numpy()
    units = None if unit == "sample" else samples[f"{unit}_id"].to_numpy()
    res = paired_bootstrap(pooled, labels, units, n_boot=n_boot, seed=seed, a=a, b=b,
                           workers=workers, log=log)
    archs = list(dict.fromkeys(arch for _s, arch, _f in predictions))
    table = sweep_table(res, settings, archs, reference_variant)
    table.to_csv(out["table"], sep="\t", index=False, float_format="%.4f")
    m = len(settings) * len(archs)
    summary = {"variant": variant, "reference": reference_variant, "settings": len(settings),
               "archs": archs, "m": m, "unit": unit, "n_boot": n_boot, "seed": seed, "a": a,
               "b": b, **resolution(int((labels == 0).sum()), a),
               "positives": int((labels == 1).sum())}
    summary["n_units"] = None if units is None else int(len(np.unique(units)))
    note = SWEEP_NOTE.format(a=a, b=b, reference=reference_variant, n_boot=n_boot,
                             unit=unit_phrase(summary),
                             seed=seed, alpha=0.05 / m, m=m)
    shown = table.copy()
    shown["significant"] = np.where(shown["significant"], "*", "")
    Path(out["markdown"]).write_text(
        f"# Sweep of {variant}: S (%) and gain over {reference_variant} with 95% CI\n\n"
        + shown.to_markdown(index=False, floatfmt=".4g") + "\n\n" + note + "\n")
    Path(out["summary"]).write_text(json.dumps({**summary, "note": note}, indent=2) + "\n")
    params = [c for c in settings.columns if c != "setting"]
    sweep_figure(out["figure"], table, params, reference_variant,
                 f"{variant}: gain in mean sensitivity over {reference_variant} per setting")
    log(f"sweep of {variant}:\n{table.to_string(index=False)}\n{note}")
    return table, note
