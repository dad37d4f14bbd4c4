"""CNN stage: the model card written beside each trained net -- what scoring a new image needs
besides the weights (the variant and its parameters, the normalisation, the study spacing, the
patch size, and the standardisation of the inputs with the training folds' statistics), read by
``mcdetect detect``."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["write_model_card"]


def write_model_card(path, *, arch: str, variant: str, fold: int, variant_params: dict,
                     percentile: float, spacing_mm: float, size: int, train_folds,
                     standardise: str = "patch") -> dict:
    """Write the card of the net of held-out ``fold`` (trained on ``train_folds``' shards)."""
    from mcdetect.cnn.streams import combined_stats

    card = {"arch": arch, "variant": variant, "held_out_fold": int(fold),
            "variant_params": dict(variant_params), "percentile": float(percentile),
            "spacing_mm": float(spacing_mm), "patch_size": int(size),
            "stats": combined_stats([f"{d}/train" for d in train_folds], standardise),
            "score": "log-odds margin of the MC class (mcdetect.cnn.models.margin)"}
    Path(path).write_text(json.dumps(card, indent=2) + "\n")
    return card
