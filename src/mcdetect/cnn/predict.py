"""CNN stage: scoring -- every sample of a held-out fold once, as the log-odds margin of the MC
class (``mcdetect.cnn.models.margin``), written as a parquet of (sample_id, score)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

__all__ = ["predict_folds", "predict_fold", "predict", "score_samples"]


def score_samples(model, shard_dirs, stats: dict, batch: int = 4096):
    """Sample ids, labels and log-odds margins of every sample of ``shard_dirs`` (unaugmented)."""
    from mcdetect.cnn.models import margin  # Keras: imported when scoring
    from mcdetect.cnn.streams import eval_dataset

    ids, labels, scores = [], [], []
    for x, y, i in eval_dataset(shard_dirs, stats, batch=batch):
        logits = model.predict_on_batch(x)  # a compiled function: 1.4x a plain call on CPU
        scores.append(np.asarray(margin(np.asarray(logits, dtype=np.float32))))
        labels.append(np.asarray(y))
        ids.append(np.asarray(i))
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
    return np.concatenate(ids), np.concatenate(labels), np.concatenate(scores)


def predict(model_path, shard_dirs, stats: dict, out_path, batch: int = 4096, log=print) -> int:
    """Score every sample of a held-out fold (all its shard parts) once: a parquet of
    (sample_id, score), the score being the log-odds margin of the MC class."""
    import keras
    import pyarrow as pa
    import pyarrow.parquet as pq

    import mcdetect.cnn.models  # noqa: F401  (registers CaffeLRN and CaffeSGD for loading)

    model = keras.models.load_model(model_path)
    start = time.perf_counter()
    ids, _, scores = score_samples(model, shard_dirs, stats, batch)
    order = np.argsort(ids)
    table = pa.table({"sample_id": ids[order], "score": scores[order].astype(np.float32)})
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out_path, compression="zstd")
    seconds = time.perf_counter() - start
    log(f"[predict] {len(ids):,} samples in {seconds:.1f} s ({len(ids) / max(seconds, 1e-9):,.0f}"
        f" samples/s)")
    return len(ids)


def predict_fold(k: int, model_path, fold_dirs, out_path, standardise: str = "patch",
                 log=print) -> int:
    """Fold k's held-out scores by ``model_path``: both parts of fold k's shards
    (``fold_dirs[k]``), standardised as in its training (``standardise``, with the statistics of
    the ``train/`` parts of every other fold), into ``out_path``."""
    from mcdetect.cnn.streams import combined_stats, fold_parts

    train_folds = [d for j, d in enumerate(fold_dirs) if j != k]
    stats = combined_stats([f"{d}/train" for d in train_folds], standardise)
    log(f"[predict] fold {k}")
    return predict(model_path, fold_parts(fold_dirs[k]), stats, out_path, log=log)


def predict_folds(model_paths, fold_dirs, out_paths, standardise: str = "patch",
                  log=print) -> list[int]:
    """Rules predict and sweep_predict: the held-out scores of every fold of one (variant, net),
    fold k's by fold k's net (``model_paths[k]``, ``predict_fold``); one process, so TensorFlow
    starts once."""
    from mcdetect.cnn.device import configure_device

    configure_device(log=log)
    return [predict_fold(k, model_path, fold_dirs, out_path, standardise, log=log)
            for k, (model_path, out_path) in enumerate(zip(model_paths, out_paths, strict=True))]
