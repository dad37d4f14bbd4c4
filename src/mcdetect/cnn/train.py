"""CNN stage: training of the patch CNNs, as the paper: softmax loss, mini-batch SGD with
momentum and Caffe-style weight decay, a step learning-rate schedule, one epoch = one pass over the
balanced training set (``mcdetect.cnn.streams.train_dataset``), inputs standardised with the
training folds' statistics (``train.standardise``: by default each patch minus its own mean, over
the within-patch standard deviation; ``mcdetect.cnn.streams``).

Beyond the paper: after every epoch the net scores the validation images of its training folds
(a patient-level share, ``folds.validation_fraction``): loss, AUC and S(1e-6, 0.1) go into the
per-epoch log and the training curve, so one can see whether training reached a plateau; optionally
the epoch with the best validation S is kept (``train.select: best``). Scores are log-odds margins
(``mcdetect.cnn.models.margin``), which do not saturate.

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

from mcdetect.cnn.predict import score_samples
from mcdetect.cnn.streams import combined_stats

__all__ = ["train_model", "learning_rate", "train", "validation_metrics"]


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




def validation_metrics(labels, margins, a: float = 1e-6, b: float = 0.1) -> dict:
    """Loss, AUC and mean sensitivity S(a, b) (percent) of validation scores (log-odds margins).

    The loss is the softmax loss averaged over positives and over negatives separately, then
    over the two classes: the validation set is imbalanced, the training stream balanced, so this
    is the number comparable with the training loss."""
    from mcdetect.evaluation.metrics import auc, mean_sensitivity

    labels = np.asarray(labels)
    m = np.asarray(margins, dtype=np.float64)
    pos, neg = m[labels == 1], m[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return {"val_loss": float("nan"), "val_auc": float("nan"), "val_S": float("nan")}
    loss = 0.5 * (np.logaddexp(0.0, -pos).mean() + np.logaddexp(0.0, neg).mean())
    return {"val_loss": float(loss), "val_auc": auc(pos, neg),
            "val_S": 100.0 * mean_sensitivity(pos, neg, a, b)}


def _start_or_resume(ckpt: Path, arch: str, hp: dict, seed: int, size: int, log):
    """The model to train from: the last checkpoint of an interrupted training (with its
    per-epoch log so far), or a new compiled net. Returns (model, first epoch, log rows)."""
    import keras

    from mcdetect.cnn.models import CaffeSGD, build_model

    done = sorted(ckpt.glob("epoch-*.keras"))
    rows = json.loads((ckpt / "log.json").read_text()) if (ckpt / "log.json").exists() else []
    keras.utils.set_random_seed(seed)
    if done:
        model = keras.models.load_model(done[-1])
        start_epoch = int(done[-1].stem.split("-")[1])
        log(f"[train] resuming after epoch {start_epoch} from {done[-1]}")
        return model, start_epoch, rows[:start_epoch]
    model = build_model(arch, size=size, dropout=hp["dropout"], seed=seed)
    model.compile(
        optimizer=CaffeSGD(learning_rate=hp["base_lr"], momentum=hp["momentum"],
                           decay=hp["weight_decay"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model, 0, rows


def _run_epoch(model, epoch: int, hp: dict, train_dirs, val_dirs, stats: dict, seed: int,
               share: float, steps: int, fpr_range, log) -> dict:
    """One epoch over the balanced stream at its scheduled learning rate, then the validation
    scores; returns the epoch's log row."""
    from mcdetect.cnn.streams import train_dataset

    lr = learning_rate(epoch, hp["base_lr"], hp["lr_gamma"], hp["lr_step_epochs"])
    model.optimizer.learning_rate.assign(lr)
    _reset_dropout(model, seed, epoch)
    data = _multi_fold_stream(train_dirs, stats, hp["batch"], seed, epoch, train_dataset, share)
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
        _, labels, margins = score_samples(model, val_dirs, stats)
        row.update(validation_metrics(labels, margins, *fpr_range))
    return row


def _keep(model, rows: list, select: str, ckpt: Path, model_out, log_tsv, log) -> None:
    """Save the kept weights (the last epoch's, or the best validation S's) and the per-epoch
    log with the kept epoch marked; then the checkpoints go."""
    import keras

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


def train(train_dirs, arch: str, hp: dict, *, seed: int, model_out, log_tsv,
          checkpoint_dir, val_dirs=(), select: str = "last", fpr_range=(1e-6, 0.1), log=print,
          size: int = 12, standardise: str = "patch") -> list[dict]:
    """Train one net on the training folds' shards; returns the per-epoch log rows.

    ``train_dirs``: the ``train/`` shard parts of the training folds; ``val_dirs``: their
    ``val/`` parts (may be empty), scored after every epoch (``validation_metrics``).
    ``select``: ``last`` keeps the last epoch's weights (the paper); ``best`` the epoch with the
    highest validation S (earliest on ties), which needs validation data. ``standardise``: the
    input standardisation (``mcdetect.cnn.streams.STANDARDISE``).
    """
    train_dirs = [Path(d) for d in train_dirs]
    val_dirs = [Path(d) for d in val_dirs]
    if select not in ("last", "best"):
        raise ValueError(f"train.select must be 'last' or 'best', got {select!r}")
    if select == "best" and not val_dirs:
        raise ValueError("train.select: best needs validation data (folds.validation_fraction > 0)")
    stats = combined_stats(train_dirs, standardise)
    negatives = sum(json.loads((d / "index.json").read_text())["negatives"] for d in train_dirs)
    share = float(hp.get("negative_share", 1.0))
    steps = int(np.ceil(2 * share * negatives / hp["batch"]))  # expected, for progress only
    ckpt = Path(checkpoint_dir) / _data_key(train_dirs + val_dirs)
    ckpt.mkdir(parents=True, exist_ok=True)
    model, start_epoch, rows = _start_or_resume(ckpt, arch, hp, seed, size, log)
    n_val = sum(json.loads((d / "index.json").read_text())["patches"] for d in val_dirs)
    drawn = f", {share:.0%} of them drawn per epoch" if share < 1 else ""
    log(f"[train] {arch}: {model.count_params():,} weights; {negatives:,} negatives{drawn} -> "
        f"about {steps * hp['batch']:,} balanced samples, {steps} steps of {hp['batch']} per "
        "epoch; "
        f"validation: {n_val:,} samples; standardisation: {_describe(stats)}")
    for epoch in range(start_epoch, hp["epochs"]):
        row = _run_epoch(model, epoch, hp, train_dirs, val_dirs, stats, seed, share, steps,
                         fpr_range, log)
        rows.append(row)
        val = (f" | validation loss {row['val_loss']:.4f} AUC {row['val_auc']:.4f} "
               f"S {row['val_S']:.2f}%" if val_dirs else "")
        log(f"[train] epoch {epoch + 1}/{hp['epochs']} done: loss {row['loss']:.4f} "
            f"accuracy {row['accuracy']:.4f} lr {row['learning_rate']:g} "
            f"{row['samples_per_s']:,.0f} samples/s {row['seconds']:.0f} s{val}")
        if select == "best" and row["val_S"] > max((r["val_S"] for r in rows[:-1]),
                                                   default=-np.inf):
            _save(model, ckpt / "best.keras")
        _save(model, ckpt / f"epoch-{epoch + 1:03d}.keras")
        (ckpt / "log.json").write_text(json.dumps(rows))
        for old in sorted(ckpt.glob("epoch-*.keras"))[:-1]:
            old.unlink()
    _keep(model, rows, select, ckpt, model_out, log_tsv, log)
    return rows


def _describe(stats: dict) -> str:
    if stats["standardise"] == "patch":
        return f"each patch minus its mean, over the within-patch std {stats['centred_std']:.5f}"
    return f"minus the mean {stats['mean']:.5f}, over the std {stats['std']:.5f}"


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


def train_model(train_folds, arch: str, hp: dict, *, seed: int, mixed_precision: bool,
                select: str, fpr_range, checkpoint_dir, model_out, log_tsv, curve_png,
                title: str, standardise: str = "patch", log=print) -> list:
    """Rule train: on the chosen device, train ``arch`` on the ``train/`` parts of the training
    folds' shard folders, validating on their ``val/`` parts, and draw its training curve."""
    from mcdetect.cnn.curves import training_curve
    from mcdetect.cnn.device import configure_device
    from mcdetect.cnn.streams import fold_parts

    configure_device(mixed_precision=mixed_precision, log=log)
    rows = train([f"{d}/train" for d in train_folds], arch, hp, seed=seed,
                 val_dirs=[d for f in train_folds for d in fold_parts(f, ["val"])],
                 select=select, fpr_range=fpr_range, model_out=model_out, log_tsv=log_tsv,
                 checkpoint_dir=checkpoint_dir, standardise=standardise, log=log)
    training_curve(log_tsv, curve_png, title)
    return rows
