"""Training and prediction of the patch CNNs, as the paper: softmax loss, mini-batch SGD with
momentum and Caffe-style weight decay, a step learning-rate schedule, one epoch = one pass over the
balanced training set (``mcdetect.shards.train_dataset``), inputs standardised with the training
folds' statistics.

Beyond the paper: after every epoch the net scores the validation images of its training folds
(a patient-level share, ``folds.validation_fraction``): loss, AUC and S(1e-6, 0.1) go into the
per-epoch log and the training curve, so one can see whether training reached a plateau; optionally
the epoch with the best validation S is kept (``train.select: best``). Scores are log-odds margins
(``mcdetect.models.margin``), which do not saturate.

Resumable: after every epoch the model (with its optimiser state) is saved to a checkpoint folder
outside the rule's declared outputs; a job started again continues after the last completed epoch.
Because every random draw of an epoch is a function of (seed, epoch) -- the data stream, and the
dropout masks, whose generators are reset at each epoch start -- a resumed run ends with the same
weights as an uninterrupted one (on CPU with op determinism).
"""

from __future__ import annotations

import csv
import json
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = ["learning_rate", "combined_stats", "train", "predict", "configure_device",
           "validation_metrics", "training_curve"]


def learning_rate(epoch: int, base_lr: float, gamma: float, step_epochs) -> float:
    """Step schedule (epochs counted from 0): ``step_epochs`` an integer k multiplies the rate by
    ``gamma`` every k epochs (the paper: 0.1 every 6), ``base_lr * gamma ** (epoch // k)``; a list
    of epochs multiplies it by ``gamma`` at each of them (e.g. [9, 12]: ``base_lr`` for epochs
    0-8, ``base_lr * gamma`` for 9-11, ``base_lr * gamma**2`` from 12 on)."""
    if isinstance(step_epochs, (list, tuple)):
        steps = sum(int(epoch) >= int(m) for m in step_epochs)
    else:
        steps = int(epoch) // int(step_epochs)
    return float(base_lr) * float(gamma) ** steps


def combined_stats(shard_dirs) -> dict:
    """Mean and std over the patches of several folds, from each fold's stats.json."""
    stats = [json.loads((Path(d) / "stats.json").read_text()) for d in shard_dirs]
    n = np.array([s["patches"] for s in stats], float)
    mean = np.array([s["mean"] for s in stats])
    var = np.array([s["std"] for s in stats]) ** 2
    total_mean = float((n * mean).sum() / n.sum())
    total_var = float((n * (var + (mean - total_mean) ** 2)).sum() / n.sum())
    return {"mean": total_mean, "std": float(np.sqrt(total_var)), "patches": int(n.sum())}


def configure_device(mixed_precision: bool = False, deterministic: bool = True, log=print) -> str:
    """Use a GPU when there is one (memory growth on), else the CPU; say which in the log."""
    import keras

    backend = keras.backend.backend()
    device = "CPU"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        if gpus:
            device = f"GPU ({len(gpus)}: {', '.join(g.name for g in gpus)})"
        if deterministic:
            tf.config.experimental.enable_op_determinism()
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    log(f"[device] Keras backend {backend}, training on {device}"
        f"{', mixed precision' if mixed_precision else ''}")
    return device


def _reset_dropout(model, seed: int, epoch: int) -> None:
    for layer in model.layers:
        gen = getattr(layer, "seed_generator", None)
        if gen is not None:
            gen.state.assign(np.array([seed * 1000 + epoch, 0], dtype="int64"))


def _progress_callback(epoch, epochs, steps, batch, log, every=50):
    import keras

    class Progress(keras.callbacks.Callback):
        steps_run = 0

        def on_epoch_begin(self, *_):
            self.start = time.perf_counter()

        def on_train_batch_end(self, step, logs=None):
            step += 1
            self.steps_run = step
            if step % every and step != steps:
                return
            elapsed = time.perf_counter() - self.start
            rate = step * batch / max(elapsed, 1e-9)
            eta = (steps - step) * batch / max(rate, 1e-9) if steps else float("nan")
            log(f"[train] epoch {epoch + 1}/{epochs} step {step}/{steps} "
                f"loss {logs.get('loss', float('nan')):.4f} {rate:,.0f} samples/s ETA {eta:.0f} s")

    return Progress()


def _score(model, shard_dirs, stats: dict, batch: int = 4096):
    """Sample ids, labels and log-odds margins of every sample of ``shard_dirs`` (unaugmented)."""
    from mcdetect.models import margin
    from mcdetect.shards import eval_dataset

    ids, labels, scores = [], [], []
    for x, y, i in eval_dataset(shard_dirs, stats, batch=batch):
        logits = model.predict_on_batch(x)  # a compiled function: 1.4x a plain call on CPU
        scores.append(np.asarray(margin(np.asarray(logits, dtype=np.float32))))
        labels.append(np.asarray(y))
        ids.append(np.asarray(i))
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
    return np.concatenate(ids), np.concatenate(labels), np.concatenate(scores)


def validation_metrics(labels, margins, a: float = 1e-6, b: float = 0.1) -> dict:
    """Loss, AUC and mean sensitivity S(a, b) (percent) of validation scores (log-odds margins).

    The loss is the softmax loss averaged over positives and over negatives separately, then
    over the two classes: the validation set is imbalanced, the training stream balanced, so this
    is the number comparable with the training loss."""
    from mcdetect.evaluate import auc, mean_sensitivity

    labels = np.asarray(labels)
    m = np.asarray(margins, dtype=np.float64)
    pos, neg = m[labels == 1], m[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return {"val_loss": float("nan"), "val_auc": float("nan"), "val_S": float("nan")}
    loss = 0.5 * (np.logaddexp(0.0, -pos).mean() + np.logaddexp(0.0, neg).mean())
    return {"val_loss": float(loss), "val_auc": auc(pos, neg),
            "val_S": 100.0 * mean_sensitivity(pos, neg, a, b)}


def train(train_dirs, arch: str, hp: dict, *, seed: int, model_out, log_tsv,
          checkpoint_dir, val_dirs=(), select: str = "last", fpr_range=(1e-6, 0.1), log=print,
          size: int = 12) -> list[dict]:
    """Train one net on the training folds' shards; returns the per-epoch log rows.

    ``train_dirs``: the ``train/`` shard parts of the training folds; ``val_dirs``: their
    ``val/`` parts (may be empty), scored after every epoch (``validation_metrics``).
    ``select``: ``last`` keeps the last epoch's weights (the paper); ``best`` the epoch with the
    highest validation S (earliest on ties), which needs validation data.
    """
    import keras

    from mcdetect.models import CaffeSGD, build_model
    from mcdetect.shards import train_dataset

    train_dirs = [Path(d) for d in train_dirs]
    val_dirs = [Path(d) for d in val_dirs]
    if select not in ("last", "best"):
        raise ValueError(f"train.select must be 'last' or 'best', got {select!r}")
    if select == "best" and not val_dirs:
        raise ValueError("train.select: best needs validation data (folds.validation_fraction > 0)")
    stats = combined_stats(train_dirs)
    negatives = sum(json.loads((d / "index.json").read_text())["negatives"] for d in train_dirs)
    share = float(hp.get("negative_share", 1.0))
    steps = int(np.ceil(2 * share * negatives / hp["batch"]))  # expected, for progress only
    ckpt = Path(checkpoint_dir) / _data_key(train_dirs + val_dirs)
    ckpt.mkdir(parents=True, exist_ok=True)
    done = sorted(ckpt.glob("epoch-*.keras"))
    rows = json.loads((ckpt / "log.json").read_text()) if (ckpt / "log.json").exists() else []
    keras.utils.set_random_seed(seed)
    if done:
        model = keras.models.load_model(done[-1])
        start_epoch = int(done[-1].stem.split("-")[1])
        rows = rows[:start_epoch]
        log(f"[train] resuming after epoch {start_epoch} from {done[-1]}")
    else:
        model = build_model(arch, size=size, dropout=hp["dropout"], seed=seed)
        model.compile(
            optimizer=CaffeSGD(learning_rate=hp["base_lr"], momentum=hp["momentum"],
                               decay=hp["weight_decay"]),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        start_epoch = 0
    n_val = sum(json.loads((d / "index.json").read_text())["patches"] for d in val_dirs)
    drawn = f", {share:.0%} of them drawn per epoch" if share < 1 else ""
    log(f"[train] {arch}: {model.count_params():,} weights; {negatives:,} negatives{drawn} -> "
        f"about {steps * hp['batch']:,} balanced samples, {steps} steps of {hp['batch']} per "
        "epoch; "
        f"validation: {n_val:,} samples; standardisation mean {stats['mean']:.5f} "
        f"std {stats['std']:.5f}")
    for epoch in range(start_epoch, hp["epochs"]):
        lr = learning_rate(epoch, hp["base_lr"], hp["lr_gamma"], hp["lr_step_epochs"])
        model.optimizer.learning_rate.assign(lr)
        _reset_dropout(model, seed, epoch)
        data = _multi_fold_stream(train_dirs, stats, hp["batch"], seed, epoch, train_dataset,
                                  share)
        progress = _progress_callback(epoch, hp["epochs"], steps, hp["batch"], log)
        begin = time.perf_counter()
        with warnings.catch_warnings():  # a finite stream ends the epoch: that is intended
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            history = model.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=[progress])
        seconds = time.perf_counter() - begin
        samples = progress.steps_run * hp["batch"]  # the last batch may be partial
        row = {"epoch": epoch + 1, "loss": float(history.history["loss"][-1]),
               "accuracy": float(history.history["accuracy"][-1]), "learning_rate": lr,
               "samples": samples, "seconds": round(seconds, 2),
               "samples_per_s": round(samples / seconds, 1)}
        if val_dirs:
            _, labels, margins = _score(model, val_dirs, stats)
            row.update(validation_metrics(labels, margins, *fpr_range))
        rows.append(row)
        val = (f" | validation loss {row['val_loss']:.4f} AUC {row['val_auc']:.4f} "
               f"S {row['val_S']:.2f}%" if val_dirs else "")
        log(f"[train] epoch {epoch + 1}/{hp['epochs']} done: loss {row['loss']:.4f} "
            f"accuracy {row['accuracy']:.4f} lr {lr:g} {row['samples_per_s']:,.0f} samples/s "
            f"{seconds:.0f} s{val}")
        if select == "best" and row["val_S"] > max((r["val_S"] for r in rows[:-1]),
                                                   default=-np.inf):
            _save(model, ckpt / "best.keras")
        _save(model, ckpt / f"epoch-{epoch + 1:03d}.keras")
        (ckpt / "log.json").write_text(json.dumps(rows))
        for old in sorted(ckpt.glob("epoch-*.keras"))[:-1]:
            old.unlink()
    chosen = len(rows)
    if select == "best":
        chosen = max(range(len(rows)), key=lambda k: (rows[k]["val_S"], -k)) + 1
        model = keras.models.load_model(ckpt / "best.keras")
        log(f"[train] keeping epoch {chosen} (highest validation S, "
            f"{rows[chosen - 1]['val_S']:.2f}%)")
    for r in rows:
        r["selected"] = int(r["epoch"] == chosen)
    Path(model_out).parent.mkdir(parents=True, exist_ok=True)
    model.save(model_out)
    with open(log_tsv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["epoch"],
                                delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    _remove_checkpoints(ckpt)
    return rows


def _remove_checkpoints(ckpt: Path) -> None:
    """A finished training needs no checkpoint: remove it, and the folders above it up to the
    checkpoint root as they become empty."""
    import shutil

    shutil.rmtree(ckpt, ignore_errors=True)
    for parent in list(ckpt.parents)[:2]:
        try:
            parent.rmdir()
        except OSError:  # not empty: another training's checkpoints
            break


def _data_key(shard_dirs) -> str:
    """A fingerprint of the training and validation data (each part's index and statistics), so
    that a checkpoint is only resumed on the data it was trained on."""
    import hashlib

    h = hashlib.sha1()
    for d in shard_dirs:
        for name in ("index.json", "stats.json"):
            h.update((Path(d) / name).read_bytes())
    return "data-" + h.hexdigest()[:10]


def _save(model, path: Path) -> None:
    """Save atomically (a killed job never leaves a half-written checkpoint)."""
    tmp = path.with_name(f".{path.name}")
    model.save(tmp)
    tmp.replace(path)


def _multi_fold_stream(shard_dirs, stats, batch, seed, epoch, train_dataset, share=1.0):
    """The balanced stream of one or more training folds (folds concatenated, each balanced)."""
    data = None
    for k, d in enumerate(shard_dirs):
        ds = train_dataset(d, stats, batch=batch, seed=seed * 100 + k, epoch=epoch,
                           negative_share=share)
        data = ds if data is None else data.concatenate(ds)
    return data


def predict(model_path, shard_dirs, stats: dict, out_path, batch: int = 4096, log=print) -> int:
    """Score every sample of a held-out fold (all its shard parts) once: a parquet of
    (sample_id, score), the score being the log-odds margin of the MC class."""
    import keras
    import pyarrow as pa
    import pyarrow.parquet as pq

    import mcdetect.models  # noqa: F401  (registers CaffeLRN and CaffeSGD for loading)

    model = keras.models.load_model(model_path)
    start = time.perf_counter()
    ids, _, scores = _score(model, shard_dirs, stats, batch)
    order = np.argsort(ids)
    table = pa.table({"sample_id": ids[order], "score": scores[order].astype(np.float32)})
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out_path, compression="zstd")
    seconds = time.perf_counter() - start
    log(f"[predict] {len(ids):,} samples in {seconds:.1f} s ({len(ids) / max(seconds, 1e-9):,.0f}"
        f" samples/s)")
    return len(ids)


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
