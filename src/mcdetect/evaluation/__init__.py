"""Evaluation stage: detection metrics, the paired bootstrap and the study's result tables."""
