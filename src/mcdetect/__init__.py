"""mcdetect: microcalcification detection study (dehazing vs CLAHE vs raw, patch CNNs)."""

__version__ = "0.1.0"
