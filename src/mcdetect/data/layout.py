"""File layout of the data sources; pure Python, so the Snakefile can import it at parse time
without the study's heavy dependencies (the conda route runs Snakemake in a bare env)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

__all__ = ["synthetic_files", "list_source_files", "pseudonym", "image_id", "SYNTHETIC_DIR"]

SYNTHETIC_DIR = "data/synthetic"  # outside results/: the synthetic DICOMs carry fake patient data


def synthetic_plan(patients: int, lateralities, views) -> list[dict]:
    """The images a synthetic config describes: index, patient, laterality, view, file."""
    plan = []
    for p in range(int(patients)):
        for lat in lateralities:
            for view in views:
                i = len(plan)
                plan.append({"index": i, "patient": p, "laterality": lat, "view": view,
                             "file": f"synth_{i:04d}.dcm"})
    return plan


def synthetic_files(cfg: dict) -> list[str]:
    return [item["file"] for item in synthetic_plan(cfg["patients"], cfg["lateralities"],
                                                    cfg["views"])]


class LayoutError(Exception):
    pass


def list_source_files(dicom_dir, pattern: str = "**/*.dcm") -> list[str]:
    """Sorted relative paths (posix) of the DICOM files under ``dicom_dir``."""
    root = Path(dicom_dir)
    if not root.is_dir():
        raise LayoutError(f"{root}: DICOM folder not found")
    files = sorted(p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file())
    if not files:
        raise LayoutError(f"{root}: no file matches {pattern!r}")
    return files


def pseudonym(key: str, value: str, prefix: str) -> str:
    """A stable, keyed pseudonym (HMAC-SHA256, 10 hex digits) for an identifier."""
    digest = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"{prefix}-{digest[:10]}"


def image_id(key: str, source: str) -> str:
    """Pseudonymous image id of a source file (keyed hash of its path relative to the dataset)."""
    return pseudonym(key, source, "img")
