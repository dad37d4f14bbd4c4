"""Preprocessing stage: the breast mask, the normalisation shared by every variant, and the
variants themselves (raw, dark-channel dehazing, CLAHE, ...)."""
