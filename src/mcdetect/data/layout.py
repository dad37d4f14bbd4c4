"""Dataset stage: the file layout of the data sources (which files a source holds, known before any
job runs); pure Python with light imports, so the workflow calls it at parse time without loading
the study's heavy dependencies. Where the workflow writes its results is the workflow's business
(workflow/rules/common.smk)."""

from __future__ import annotations

from pathlib import Path

from mcdetect.errors import MCDetectError

__all__ = [
    "synthetic_plan",
    "synthetic_files",
    "list_source_files",
    "TRAINABLE_SOURCES",
    "EVALUATION_ONLY_SOURCES",
    "LayoutError",
    "require_trainable",
    "source_dicom_dir",
    "source_file_list",
    "inbreast_layout",
    "inbreast_xml_files",
    "INBREAST_SPACING_MM",
]

INBREAST_SPACING_MM = 0.07  # nominal; the reader uses the header's, validate checks it against this

# Sources with individual MC centres, on which the patch CNNs can be trained, and sources whose
# annotations are regions (cluster outlines, masks, circles) only: evaluation at cluster level.
TRAINABLE_SOURCES = ("synthetic", "generic", "inbreast")
EVALUATION_ONLY_SOURCES = {
    "cbis_ddsm": "mcdetect.data.cbis_ddsm",
    "mini_mias": "mcdetect.data.mini_mias",
}


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


class LayoutError(MCDetectError):
    """A data source whose files or folders are not where the configuration says."""


def list_source_files(dicom_dir, pattern: str = "**/*.dcm") -> list[str]:
    """Sorted relative paths (posix) of the DICOM files under ``dicom_dir``."""
    root = Path(dicom_dir)
    if not root.is_dir():
        raise LayoutError(f"{root}: DICOM folder not found")
    files = sorted(p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file())
    if not files:
        raise LayoutError(f"{root}: no file matches {pattern!r}")
    return files


def require_trainable(source: str) -> None:
    """Raise a clear error unless the patch CNNs can be trained on ``source``."""
    if source in EVALUATION_ONLY_SOURCES:
        raise LayoutError(
            f"dataset.source {source!r} is evaluation-only: its calcification annotations are "
            f"regions (cluster outlines), with no individual MC points, so the 12x12 patch CNNs "
            f"cannot be trained on it. Train on {', '.join(TRAINABLE_SOURCES)}, and score the "
            f"trained nets on it per cluster with evaluate_on: {{source: {source}, path: ...}} "
            f"(read by {EVALUATION_ONLY_SOURCES[source]})."
        )
    if source not in TRAINABLE_SOURCES:
        raise LayoutError(f"unknown dataset.source {source!r}; one of "
                          f"{', '.join(TRAINABLE_SOURCES + tuple(EVALUATION_ONLY_SOURCES))}")


def inbreast_layout(path) -> dict:
    """Paths of an INbreast release folder (``AllDICOMs/``, ``AllXML/``, ``INbreast.csv``)."""
    root = Path(path) if str(path) else None
    if root is None or not root.is_dir():
        raise LayoutError(
            f"dataset.path {str(path)!r}: INbreast release folder not found (set dataset.path to "
            f"the folder that holds AllDICOMs/, AllXML/ and INbreast.csv)"
        )
    parts = {"dicom_dir": root / "AllDICOMs", "xml_dir": root / "AllXML",
             "csv": root / "INbreast.csv"}
    for name, part in parts.items():
        ok = part.is_file() if name == "csv" else part.is_dir()
        if not ok:
            hint = " (export INbreast.xls as ';'-separated CSV)" if name == "csv" else ""
            raise LayoutError(f"{part}: not found; not an INbreast release folder?{hint}")
    return {k: str(v) for k, v in parts.items()}


def source_dicom_dir(dataset: dict) -> str:
    """Folder of the DICOM files of a non-synthetic source."""
    require_trainable(dataset["source"])
    if dataset["source"] == "inbreast":
        return inbreast_layout(dataset.get("path", ""))["dicom_dir"]
    return dataset["dicom_dir"]


def source_file_list(dataset: dict) -> list[str]:
    """Relative paths of the DICOM files of a non-synthetic source."""
    if dataset["source"] == "inbreast":
        return list_source_files(source_dicom_dir(dataset), "*.dcm")
    return list_source_files(source_dicom_dir(dataset), dataset.get("pattern", "**/*.dcm"))


def inbreast_xml_files(path) -> list[str]:
    """The OsiriX plists of an INbreast release (``AllXML/*.xml``), sorted."""
    xml_dir = Path(inbreast_layout(path)["xml_dir"])
    return sorted(str(p) for p in xml_dir.iterdir() if p.suffix.lower() == ".xml")
