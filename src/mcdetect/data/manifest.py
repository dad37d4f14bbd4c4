"""Dataset stage: the manifest (``images.tsv``, ``mcs.tsv``, ``regions.tsv``) of the images that
passed validation.

``build_manifest`` turns the validation table and the annotations into the study's manifest, with
pseudonymous image and patient ids and MC centres in canonical coordinates (study spacing,
chest wall on the left). No PatientName/ID, date or UID is written anywhere.
"""


from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from mcdetect.data.dicom import MammogramError, read_header
from mcdetect.data.regions import REGION_COLUMNS, regions_to_canonical
from mcdetect.data.sources import DatasetError

__all__ = ["write_manifest", "build_manifest", "build_regions", "summarize", "write_summary"]


def _validated_header(path, row, spacing_mm, pseudonym_key):
    """The header of a validated image, with the orientation validate decided on the pixels."""
    try:
        header = read_header(path, spacing_mm, pseudonym_key)
    except MammogramError as exc:  # changed since validate ran
        raise DatasetError(f"{exc} (it passed validation: was it modified since?)") from exc
    flipped = str(row["flipped"]).lower() in ("true", "1")
    return replace(header, flipped=flipped)


def build_manifest(paths, sources, validation: pd.DataFrame, annotations: pd.DataFrame, *,
                   spacing_mm=0.1, pseudonym_key="mcdetect"):
    """images.tsv and mcs.tsv tables for the images that passed validation. Both tables keep
    the ``source`` column of ``validation`` (the private map's): the workflow writes images.tsv
    without it."""
    path_of = dict(zip(sources, map(str, paths), strict=True))
    ok = validation[validation["status"] == "ok"].reset_index(drop=True)
    by_file = {f: g for f, g in annotations.groupby("file")}
    mc_tables = []
    for _, row in ok.iterrows():
        g = by_file.get(row["source"])
        if g is None:
            continue
        header = _validated_header(path_of[row["source"]], row, spacing_mm, pseudonym_key)
        cx, cy = header.to_canonical(g["x"].to_numpy(float), g["y"].to_numpy(float))
        mc_tables.append(pd.DataFrame({
            "image_id": row["image_id"], "x": np.round(cx, 3), "y": np.round(cy, 3),
            "diameter_mm": g["diameter_mm"].to_numpy(), "cluster_id": g["cluster_id"].to_numpy(),
        }))
    columns = ["image_id", "x", "y", "diameter_mm", "cluster_id"]
    mcs = pd.concat(mc_tables, ignore_index=True) if mc_tables else pd.DataFrame(columns=columns)
    mcs.insert(0, "mc_id", np.arange(len(mcs)))
    images = ok.drop(columns=["status", "problem"]).copy()
    images["n_mcs"] = images["image_id"].map(mcs.groupby("image_id").size()).fillna(0).astype(int)
    return images, mcs


def build_regions(paths, sources, validation: pd.DataFrame, regions: pd.DataFrame | None, *,
                  spacing_mm=0.1, pseudonym_key="mcdetect") -> pd.DataFrame:
    """regions.tsv: the region annotations (cluster outlines) of the images that passed
    validation, in canonical coordinates (see ``mcdetect.data.regions``)."""
    columns = ["image_id", *REGION_COLUMNS]
    if regions is None or not len(regions):
        return pd.DataFrame(columns=columns)
    path_of = dict(zip(sources, map(str, paths), strict=True))
    ok = validation[validation["status"] == "ok"]
    by_file = {f: g for f, g in regions.groupby("file")}
    tables = []
    for _, row in ok.iterrows():
        g = by_file.get(row["source"])
        if g is not None:
            header = _validated_header(path_of[row["source"]], row, spacing_mm, pseudonym_key)
            tables.append(regions_to_canonical(g, header, row["image_id"]))
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)[columns]


def summarize(images: pd.DataFrame, mcs: pd.DataFrame, excluded: pd.DataFrame,
              regions: pd.DataFrame | None = None, source: dict | None = None) -> dict:
    """Counts of the manifest; ``source``: what the source's import found (added as is)."""
    out = {
        "images": int(len(images)),
        "patients": int(images["patient_id"].nunique()),
        "images_with_mcs": int((images["n_mcs"] > 0).sum()),
        "mcs": int(len(mcs)),
        "excluded_images": int(len(excluded)),
        "lateralities": images["laterality"].value_counts().sort_index().to_dict(),
        "views": images["view"].value_counts().sort_index().to_dict(),
        "presentation_intent": images["presentation_intent"].value_counts().to_dict(),
        "spacing_source": images["spacing_source"].value_counts().to_dict(),
    }
    if regions is not None:
        out["regions"] = int(len(regions))
    if source:
        out["source"] = source
    return out


def write_summary(summary: dict, json_path, md_path):
    Path(json_path).write_text(json.dumps(summary, indent=2) + "\n")
    lines = ["# Dataset summary", "", "| quantity | value |", "| --- | --- |"]

    def rows(items, prefix=""):
        for key, value in items:
            name = f"{prefix}{key.replace('_', ' ')}"
            if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
                rows(value.items(), f"{name}: ")
                continue
            if isinstance(value, dict):
                value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
            elif isinstance(value, list):
                value = ", ".join(map(str, value)) or "-"
            lines.append(f"| {name} | {value} |")

    rows(summary.items())
    Path(md_path).write_text("\n".join(lines) + "\n")


def write_manifest(dicoms, sources, inp: dict, out: dict, *, spacing_mm: float,
                   pseudonym_key: str, log) -> dict:
    """Rule manifest: images.tsv, mcs.tsv (and regions.tsv when ``out`` names it) and the dataset
    summary, from the validation tables (``inp``: validation, sources, excluded, annotations, and
    the import's source_regions and source_summary where the source has them); where ``out``
    names unannotated, the canonical table of the planted MCs (``inp``: planted) that the
    annotations leave out. Returns the summary."""
    from mcdetect.data.sources import read_annotations

    validation = pd.read_csv(inp["validation"], sep="\t", keep_default_na=False)
    private = pd.read_csv(inp["sources"], sep="\t", keep_default_na=False)
    validation = validation.merge(private[["image_id", "source"]], on="image_id", how="left")
    excluded = pd.read_csv(inp["excluded"], sep="\t", keep_default_na=False)
    annotations = read_annotations(inp["annotations"])
    images, mcs = build_manifest(dicoms, sources, validation, annotations,
                                 spacing_mm=spacing_mm, pseudonym_key=pseudonym_key)
    images.drop(columns="source").to_csv(out["images"], sep="\t", index=False)
    mcs.to_csv(out["mcs"], sep="\t", index=False, float_format="%.4f")
    if out.get("unannotated"):  # the planted MCs that the annotations leave out (synthetic)
        planted = pd.read_csv(inp["planted"])
        planted = planted[~planted["annotated"].astype(bool)]
        _, faint = build_manifest(dicoms, sources, validation, planted, spacing_mm=spacing_mm,
                                  pseudonym_key=pseudonym_key)
        faint.drop(columns="mc_id").to_csv(out["unannotated"], sep="\t", index=False,
                                           float_format="%.4f")
    regions = None
    if out.get("regions"):
        source_regions = pd.read_csv(inp["source_regions"], sep="\t", keep_default_na=False,
                                     na_values=[""])
        regions = build_regions(dicoms, sources, validation, source_regions,
                                spacing_mm=spacing_mm, pseudonym_key=pseudonym_key)
        regions.to_csv(out["regions"], sep="\t", index=False, float_format="%.3f")
    source = None
    if inp.get("source_summary"):
        source = json.loads(Path(inp["source_summary"]).read_text())
        source.pop("xml_without_dicom", None)  # file names; in the import's own summary
    summary = summarize(images, mcs, excluded, regions=regions, source=source)
    write_summary(summary, out["summary_json"], out["summary_md"])
    log.info("manifest: %s", summary)
    return summary
