"""Training and prediction of the patch CNNs, as the paper: softmax loss, mini-batch SGD with
momentum and Caffe-style weight decay, a step learning-rate schedule, one epoch = one pass over the
balanced training set (``mcdetect.shards.train_dataset``), inputs standardised with the training
folds' statistics.

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

__all__ = ["learning_rate", "combined_stats", "train", "predict", "configure_device"]


def learning_rate(epoch: int, base_lr: float, gamma: float, step_epochs: int) -> float:
    """Step schedule: ``base_lr * gamma ** (epoch // step_epochs)`` (epochs counted from 0)."""
    return float(base_lr) * float(gamma) ** (int(epoch) // int(step_epochs))


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
        def on_epoch_begin(self, *_):
            self.start = time.perf_counter()

        def on_train_batch_end(self, step, logs=None):
            step += 1
            if step % every and step != steps:
                return
            elapsed = time.perf_counter() - self.start
            rate = step * batch / max(elapsed, 1e-9)
            eta = (steps - step) * batch / max(rate, 1e-9) if steps else float("nan")
            log(f"[train] epoch {epoch + 1}/{epochs} step {step}/{steps} "
                f"loss {logs.get('loss', float('nan')):.4f} {rate:,.0f} samples/s ETA {eta:.0f} s")

    return Progress()


def train(shard_dirs, arch: str, hp: dict, *, seed: int, model_out, log_tsv,
          checkpoint_dir, log=print, size: int = 12) -> list[dict]:
    """Train one net on the training folds' shards; returns the per-epoch log rows."""
    import keras

    from mcdetect.models import CaffeSGD, build_model
    from mcdetect.shards import train_dataset

    shard_dirs = [Path(d) for d in shard_dirs]
    stats = combined_stats(shard_dirs)
    negatives = sum(json.loads((d / "index.json").read_text())["negatives"] for d in shard_dirs)
    steps = int(np.ceil(2 * negatives / hp["batch"]))
    ckpt = Path(checkpoint_dir)
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
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        start_epoch = 0
    log(f"[train] {arch}: {model.count_params():,} weights; {negatives:,} negatives -> "
        f"{2 * negatives:,} balanced samples, {steps} steps of {hp['batch']} per epoch; "
        f"standardisation mean {stats['mean']:.5f} std {stats['std']:.5f}")
    for epoch in range(start_epoch, hp["epochs"]):
        lr = learning_rate(epoch, hp["base_lr"], hp["lr_gamma"], hp["lr_step_epochs"])
        model.optimizer.learning_rate.assign(lr)
        _reset_dropout(model, seed, epoch)
        data = _multi_fold_stream(shard_dirs, stats, hp["batch"], seed, epoch, train_dataset)
        begin = time.perf_counter()
        with warnings.catch_warnings():  # a finite stream ends the epoch: that is intended
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            history = model.fit(data, epochs=1, verbose=0, shuffle=False,
                                callbacks=[_progress_callback(epoch, hp["epochs"], steps,
                                                              hp["batch"], log)])
        seconds = time.perf_counter() - begin
        row = {"epoch": epoch + 1, "loss": float(history.history["loss"][-1]),
               "accuracy": float(history.history["accuracy"][-1]), "learning_rate": lr,
               "samples": steps * hp["batch"], "seconds": round(seconds, 2),
               "samples_per_s": round(steps * hp["batch"] / seconds, 1)}
        rows.append(row)
        log(f"[train] epoch {epoch + 1}/{hp['epochs']} done: loss {row['loss']:.4f} "
            f"accuracy {row['accuracy']:.4f} lr {lr:g} {row['samples_per_s']:,.0f} samples/s "
            f"{seconds:.0f} s")
        tmp = ckpt / f".epoch-{epoch + 1:03d}.keras"
        model.save(tmp)
        tmp.replace(ckpt / f"epoch-{epoch + 1:03d}.keras")
        (ckpt / "log.json").write_text(json.dumps(rows))
        for old in sorted(ckpt.glob("epoch-*.keras"))[:-1]:
            old.unlink()
    Path(model_out).parent.mkdir(parents=True, exist_ok=True)
    model.save(model_out)
    with open(log_tsv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["epoch"],
                                delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _multi_fold_stream(shard_dirs, stats, batch, seed, epoch, train_dataset):
    """The balanced stream of one or more training folds (folds concatenated, each balanced)."""
    data = None
    for k, d in enumerate(shard_dirs):
        ds = train_dataset(d, stats, batch=batch, seed=seed * 100 + k, epoch=epoch)
        data = ds if data is None else data.concatenate(ds)
    return data


def predict(model_path, shard_dir, stats: dict, out_path, batch: int = 4096, log=print) -> int:
    """Score every sample of a held-out fold once: a parquet of (sample_id, score)."""
    import keras
    import pyarrow as pa
    import pyarrow.parquet as pq

    import mcdetect.models  # noqa: F401  (registers CaffeLRN and CaffeSGD for loading)
    from mcdetect.shards import eval_dataset

    model = keras.models.load_model(model_path)
    ids, scores = [], []
    start = time.perf_counter()
    for x, _, i in eval_dataset(shard_dir, stats, batch=batch):
        p = model(x, training=False)
        scores.append(np.asarray(p)[:, 1].astype(np.float32))
        ids.append(np.asarray(i))
    ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    scores = np.concatenate(scores) if scores else np.zeros(0, np.float32)
    order = np.argsort(ids)
    table = pa.table({"sample_id": ids[order], "score": scores[order]})
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out_path, compression="zstd")
    seconds = time.perf_counter() - start
    log(f"[predict] {len(ids):,} samples in {seconds:.1f} s ({len(ids) / max(seconds, 1e-9):,.0f}"
        f" samples/s)")
    return len(ids)


def training_curve(log_tsv, png, title: str) -> None:
    """Loss and accuracy per epoch, with the learning rate, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.read_csv(log_tsv, sep="\t")
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=130)
    ax.plot(df["epoch"], df["loss"], "o-", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("softmax loss")
    ax2 = ax.twinx()
    ax2.plot(df["epoch"], df["accuracy"], "s--", color="tab:orange", label="training accuracy")
    ax2.set_ylabel("accuracy (balanced)")
    ax.set_title(title, fontsize=9)
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax.legend(lines, labels, fontsize=7, loc="center right")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
