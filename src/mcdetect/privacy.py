"""Privacy, for the dataset and reporting stages -- what may leave the project: ``results/`` holds
pseudonyms only; what names source files lives in ``private/`` (never to be shared).

Snakemake's HTML report documents every rule with its input files, so a report written straight
from the workflow names the source DICOMs, their folders and the annotation file. ``scrub``
writes a shareable copy: every source file (as the workflow read it, relative to its dataset
folder, and by its name alone) becomes its pseudonymous image id, and every dataset path of the
configuration (folders and files the user gave, absolute or as written) becomes a placeholder.

Command line (``make run`` does this after ``snakemake --report``)::

    python -m mcdetect.privacy private/report.html results/report.html \\
        --sources private/sources.tsv --configfile config.yaml [overlay.yaml ...]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd
import yaml

__all__ = ["replacements", "scrub", "scrub_file", "config_paths"]

_DATASET_KEYS = ("path", "dicom_dir", "annotations")


def config_paths(configfiles) -> list[str]:
    """The dataset paths a configuration names (dataset.path, dicom_dir, annotations and
    folds.from_file), the later files overriding the earlier ones, as Snakemake merges them."""
    merged: dict = {}
    for f in configfiles:
        cfg = yaml.safe_load(Path(f).read_text()) or {}
        for section in ("dataset", "folds"):
            merged.setdefault(section, {}).update(cfg.get(section) or {})
    values = [merged["dataset"].get(k, "") for k in _DATASET_KEYS]
    values.append(merged["folds"].get("from_file", ""))
    return [str(v) for v in values if v]


def replacements(sources: pd.DataFrame, paths=()) -> dict[str, str]:
    """String -> replacement: each source file's path as read, its path relative to the dataset
    folder and its name, -> its image id; each configured dataset path (also absolute) and each
    folder holding source files -> ``<private path>``."""
    out: dict[str, str] = {}
    folders = set()
    for row in sources.itertuples():
        for name in (getattr(row, "path", ""), row.source, Path(str(row.source)).name):
            if isinstance(name, str) and name:
                out[name] = row.image_id
        full = str(getattr(row, "path", "") or "")
        if full:
            folders.add(str(Path(full).parent))
            folders.add(os.path.abspath(Path(full).parent))
    for p in paths:
        folders.add(str(p).rstrip("/"))
        folders.add(os.path.abspath(p))
    for folder in folders:
        if folder not in ("", ".", "/") and folder not in out:
            out[folder] = "<private path>"
    return out


def scrub(text: str, table: dict[str, str]) -> str:
    """``text`` with every key of ``table`` replaced, longest first (a file's full path before
    its folder or its name)."""
    for key in sorted(table, key=len, reverse=True):
        if key in text:
            text = text.replace(key, table[key])
    return text


def scrub_file(src, dst, sources, configfiles=()) -> dict[str, str]:
    """Write the shareable copy ``dst`` of the report ``src``; returns the replacement table."""
    table = replacements(pd.read_csv(sources, sep="\t", keep_default_na=False),
                         config_paths(configfiles))
    text = Path(src).read_text(encoding="utf-8", errors="surrogateescape")
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_text(scrub(text, table), encoding="utf-8", errors="surrogateescape")
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="the report as Snakemake wrote it (keep it private)")
    parser.add_argument("dst", help="the shareable copy")
    parser.add_argument("--sources", required=True,
                        help="the private map of sources (the workflow writes private/sources.tsv)")
    parser.add_argument("--configfile", nargs="*", default=["config.yaml"],
                        help="the configuration files of the run, in order")
    args = parser.parse_args(argv)
    table = scrub_file(args.src, args.dst, args.sources, args.configfile)
    print(f"{args.dst}: {len(table)} source names and paths replaced by pseudonyms")


if __name__ == "__main__":
    main()
