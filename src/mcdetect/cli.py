"""The ``mcdetect`` command: a trained net of the study on your own mammograms.

    mcdetect detect --model results/models/dehaze/vgg/fold0.keras image.dcm [more.dcm | folder]
                    --out detections/

For each DICOM file (a folder is searched for ``*.dcm``), the file is read through the study's
reader, preprocessed as the net's training images were (the model card beside the model), scored
and written to ``--out``: ``<name>_detections.csv`` (canonical and original pixel coordinates, mm,
score as log-odds), ``<name>_clusters.csv`` and ``<name>_overlay.png``; ``detections.csv``
gathers every file's detections. ``<name>`` is the file's name without its suffix: the outputs are
for you, next to your files; do not share them where file names identify patients.

``--dicom-sr`` adds ``<name>_sr.dcm``: a DICOM Structured Report (Comprehensive SR holding a TID
1500 Measurement Report, ``mcdetect.detection.sr``) that references the image and marks each MC
as a point and each cluster by its outline, in the original image's pixel grid, for viewers that
show such reports. It carries the image's patient and study identity, as DICOM requires: it is
for your own PACS or viewer, next to the image, not for sharing.

Nothing is written inside the input folders (the input files are only read), and an existing
output is never overwritten unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _inputs(paths) -> list[Path]:
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix.lower() == ".dcm")
            if not found:
                raise SystemExit(f"mcdetect: {p}: no .dcm file in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise SystemExit(f"mcdetect: {p}: no such file or folder")
    return files


def _write_sr(target, path, dets, clusters, card, args) -> bool:
    """The DICOM SR of one file (its header read again, without pixels); False, with the file
    and the problem named, when it cannot be written."""
    import pydicom

    from mcdetect.detection.sr import write_sr

    try:
        source = pydicom.dcmread(path, stop_before_pixels=True)
        write_sr(target, source, dets, clusters,
                 model_name=f"{Path(args.model).stem} ({card['arch']}, {card['variant']})",
                 parameters={"mode": args.mode, "floor": args.floor, "nms_mm": args.nms_mm})
    except Exception as exc:  # a header that cannot be referenced, or one highdicom rejects
        print(f"mcdetect: {path}: no DICOM SR ({type(exc).__name__}: {exc})", file=sys.stderr)
        return False
    return True


def _detect(args) -> int:
    import keras
    import pandas as pd

    import mcdetect.cnn.models  # noqa: F401  (registers the custom layers for loading)
    from mcdetect.detection.files import detect_file, load_model_card, write_overlay
    from mcdetect.errors import MCDetectError

    files = _inputs(args.inputs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        card = load_model_card(args.model, args.card)
    except MCDetectError as exc:
        raise SystemExit(f"mcdetect: {exc}") from None
    model = keras.models.load_model(args.model)
    print(f"mcdetect: {card['arch']}-like net on {card['variant']} images, {len(files)} file(s)",
          file=sys.stderr)
    every, failed = [], 0
    for k, path in enumerate(files, 1):
        names = ("detections.csv", "clusters.csv", "overlay.png") + ("sr.dcm",) * args.dicom_sr
        targets = [out / f"{path.stem}_{s}" for s in names]
        if not args.overwrite and any(t.exists() for t in targets):
            print(f"mcdetect: {path}: outputs exist in {out} (--overwrite to replace)",
                  file=sys.stderr)
            failed += 1
            continue
        try:
            found = detect_file(path, model, card, mode=args.mode, floor=args.floor,
                                nms_mm=args.nms_mm, max_candidates=args.max_candidates)
        except MCDetectError as exc:  # names the file and the problem
            print(f"mcdetect: {exc}", file=sys.stderr)
            failed += 1
            continue
        dets, clusters = found["detections"], found["clusters"]
        dets.to_csv(targets[0], index=False, float_format="%.4f")
        clusters.drop(columns="members").to_csv(targets[1], index=False, float_format="%.4f")
        write_overlay(targets[2], found["image"], found["mask"], dets, clusters,
                      card["spacing_mm"])
        if args.dicom_sr and not _write_sr(targets[3], path, dets, clusters, card, args):
            failed += 1
        every.append(dets.assign(file=path.name))
        print(f"mcdetect: [{k}/{len(files)}] {path.name}: {len(dets)} detections above "
              f"{args.floor:g}, {len(clusters)} cluster(s)", file=sys.stderr)
    if every:
        pd.concat(every).to_csv(out / "detections.csv", index=False, float_format="%.4f")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mcdetect", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("detect", help="detect MCs and clusters on DICOM mammograms")
    d.add_argument("inputs", nargs="+", help="DICOM files or folders of them")
    d.add_argument("--model", required=True, help="a trained net (.keras) of the study")
    d.add_argument("--card", help="its model card (default: the .json beside the model)")
    d.add_argument("--out", required=True, help="folder for the outputs")
    d.add_argument("--mode", choices=["candidates", "dense"], default="candidates",
                   help="score the first stage's candidates (fast) or every breast position")
    d.add_argument("--floor", type=float, default=0.0,
                   help="lowest score (log-odds) of a detection (default 0: p = 0.5)")
    d.add_argument("--nms-mm", type=float, default=0.3,
                   help="non-maximum suppression radius in mm (default 0.3)")
    d.add_argument("--max-candidates", type=int, default=5000,
                   help="first-stage candidates per image (candidates mode)")
    d.add_argument("--dicom-sr", action="store_true",
                   help="also write <name>_sr.dcm, a DICOM SR of the detections for your own "
                        "PACS/viewer (it carries the patient's identity: not for sharing)")
    d.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    args = parser.parse_args(argv)
    return _detect(args)


if __name__ == "__main__":
    sys.exit(main())
