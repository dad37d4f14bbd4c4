"""Dataset stage: the one DICOM reader, the data sources (synthetic, generic, INbreast, and the
evaluation-only CBIS-DDSM and mini-MIAS), the integrity check, the manifest and the folds."""
