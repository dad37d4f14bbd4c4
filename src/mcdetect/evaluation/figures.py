"""Evaluation stage: its figure (paper Fig. 3), the bootstrap-averaged ROC curves of every CNN and
variant."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["average_roc_figure", "PALETTE"]

PALETTE = {"raw": "0.45", "clahe": "tab:blue", "dehaze": "tab:red", "dehaze_guided": "tab:orange",
           "dehaze_tarel": "tab:purple", "dehaze_meng": "tab:green"}


def average_roc_figure(path, grid: np.ndarray, curves: dict, a: float, b: float,
                       variants=("raw", "clahe", "dehaze")) -> None:
    """Fig. 3: bootstrap-averaged ROC per CNN (one panel each), every preprocessing variant (in the
    order of ``variants``) with its 95% band, FPR on a log axis over [a, b].
    ``curves[(arch, variant)]`` is the (n_boot, len(grid)) array of resampled sensitivities."""
    import pandas as pd
    import seaborn as sns

    archs = sorted({arch for arch, _ in curves})
    rows = []
    for (arch, variant), c in curves.items():
        lo, hi = np.percentile(c, [2.5, 97.5], axis=0)
        rows += [{"CNN": arch, "variant": variant, "fpr": f, "sensitivity": m, "lo": l_, "hi": h}
                 for f, m, l_, h in zip(grid, c.mean(axis=0), lo, hi, strict=True)]
    df = pd.DataFrame(rows)
    palette = {v: PALETTE.get(v, "k") for v in variants}
    fig, axes = plt.subplots(1, len(archs), figsize=(4.6 * len(archs), 4.0), dpi=150,
                             sharey=True, squeeze=False)
    for ax, arch in zip(axes[0], archs, strict=True):
        sub = df[df["CNN"] == arch]
        sns.lineplot(data=sub, x="fpr", y="sensitivity", hue="variant", palette=palette, ax=ax,
                     hue_order=[v for v in variants if v in set(sub.variant)])
        for variant, g in sub.groupby("variant"):
            ax.fill_between(g["fpr"], g["lo"], g["hi"], color=palette.get(variant, "k"),
                            alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_xlim(a, b)
        ax.set_ylim(0, 1)
        ax.set_xlabel("false positive fraction")
        ax.set_title(f"{arch}-like CNN", fontsize=10)
    axes[0][0].set_ylabel("sensitivity (bootstrap mean, 95% band)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
