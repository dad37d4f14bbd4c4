"""CNN stage: the training curve of one training (per epoch: training and validation loss,
validation AUC and S), drawn from the per-epoch log by the rule that trains."""

from __future__ import annotations

__all__ = ["training_curve"]


def training_curve(log_tsv, png, title: str) -> None:
    """Per epoch: training and validation loss (left), validation AUC and S (right), as a PNG;
    the epoch whose weights were kept is ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.ticker import MaxNLocator

    df = pd.read_csv(log_tsv, sep="\t")
    has_val = "val_S" in df and df["val_S"].notna().any()
    fig, axes = plt.subplots(1, 2 if has_val else 1, figsize=(8.4 if has_val else 4.6, 3.3),
                             dpi=130, squeeze=False)
    ax = axes[0, 0]
    ax.plot(df["epoch"], df["loss"], "o-", label="training (balanced stream)")
    if has_val:
        ax.plot(df["epoch"], df["val_loss"], "s-", label="validation (class-balanced)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("softmax loss")
    ax.legend(fontsize=7)
    for k, (_, r) in enumerate(df.iterrows()):
        if k and r["learning_rate"] != df["learning_rate"].iloc[k - 1]:
            ax.axvline(r["epoch"] - 0.5, color="grey", lw=0.6, ls=":")
    if has_val:
        ax2 = axes[0, 1]
        ax2.plot(df["epoch"], df["val_S"], "o-", color="tab:green", label="validation S (%)")
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("mean sensitivity S (%)")
        ax3 = ax2.twinx()
        ax3.plot(df["epoch"], df["val_auc"], "s--", color="tab:purple", label="validation AUC")
        ax3.set_ylabel("AUC")
        if "selected" in df:
            kept = df[df["selected"] == 1]
            ax2.plot(kept["epoch"], kept["val_S"], "o", ms=12, mfc="none", color="black",
                     label="kept")
        lines = ax2.get_legend_handles_labels()[0] + ax3.get_legend_handles_labels()[0]
        labels = ax2.get_legend_handles_labels()[1] + ax3.get_legend_handles_labels()[1]
        ax2.legend(lines, labels, fontsize=7, loc="lower right")
    for a in axes.ravel():
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title + " (dotted: learning-rate steps)", fontsize=9)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
