"""Patches stage: the sample table (which 12x12 patches, shared by every variant) and the TFRecord
shards of each variant and fold."""
