"""Detection stage: one image's detections as a DICOM Structured Report (``mcdetect detect
--dicom-sr``), for viewers and PACS that display TID 1500 measurement reports.

The document is a Comprehensive SR (2D spatial coordinates) holding a Measurement Report
(TID 1500) with one group (TID 1501) for the image, its number of MCs ("Number of calcifications",
DCM 111038, also when it is 0), then one Planar ROI group (TID 1410) per detected MC and one per
cluster:

* an MC: finding type "Individual Calcification" (SCT 129770007), its region a POINT at the
  detection; a cluster: "Calcification Cluster" (SCT 129769006), its region a closed POLYLINE
  around its member MCs (the convex hull of discs of ``outline_mm`` radius around them, so that
  the outline never cuts through a mark and two or three MCs in a line still enclose an area),
  with "Number of calcifications" (DCM 111038);
* each with the net's score as "Certainty of Finding" (DCM 111012) in percent: the score's
  probability ``100 / (1 + exp(-score))``; the score itself (log-odds) is in the group's tracking
  identifier (``MC 3, score 2.31 log-odds``), with the algorithm (the net's name and the
  ``mcdetect`` version) and the finding site (the breast, with its laterality when the image has
  one).

Coordinates: DICOM puts the top-left corner of the top-left pixel at (0, 0), so the centre of
pixel (column c, row r) is at (c + 0.5, r + 0.5) (PS3.3 C.18.6, Graphic Data); the study's source
coordinates put that centre at (c, r) (``mcdetect.data.dicom``). A detection at source pixel
coordinates ``(x_src, y_src)`` is therefore the SR point ``(x_src + 0.5, y_src + 0.5)``, in the
original DICOM pixel grid (not the study's canonical, resampled and flipped grid).

Every region references the source image (its SOP Instance UID), which is also the document's
evidence. As DICOM requires of a report on an image, the SR copies the patient and study identity
(name, ID, birth date, study UID, accession number) of its source: it is for the user's own PACS
or viewer, next to the image, and must not be shared where the image itself may not be.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_sr", "sr_points", "OUTLINE_MM"]

OUTLINE_MM = 0.5  # radius of the discs around a cluster's MCs whose convex hull is its outline
# Type 2 attributes that highdicom copies from the source; an image without them gets them empty.
_COPIED = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber",
           "StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName")
_REQUIRED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def sr_points(x_src, y_src) -> np.ndarray:
    """(n, 2) SR pixel coordinates (column, row) of source pixel coordinates: +0.5 (pixel centres
    at integers in the study, at half-integers in DICOM)."""
    return np.stack([np.asarray(x_src, np.float64) + 0.5,
                     np.asarray(y_src, np.float64) + 0.5], axis=1)


def _outline(points: np.ndarray, radius_px: tuple[float, float], rows: int,
             cols: int) -> np.ndarray:
    """Closed polygon (first vertex repeated last): the convex hull of 16-gons of radius
    ``radius_px`` (columns, rows) around ``points``, kept inside the image [0, cols] x [0, rows]."""
    from mcdetect.detection.clusters import disc_hull

    hull = disc_hull(points, radius_px)
    hull[:, 0] = np.clip(hull[:, 0], 0.0, cols)
    hull[:, 1] = np.clip(hull[:, 1], 0.0, rows)
    return np.vstack([hull, hull[:1]])


def _spacing_mm(source, spacing_mm) -> tuple[float, float]:
    if spacing_mm is not None:
        return float(spacing_mm[0]), float(spacing_mm[1])
    from mcdetect.data.dicom import _spacing

    return _spacing(source, "source", default_mm=0.1)[0]


def _source_copy(source):
    """A header-only copy of ``source`` with the Type 2 attributes highdicom copies (empty where
    absent); raises ValueError when a UID that the references need is missing."""
    missing = [k for k in _REQUIRED if not source.get(k)]
    if missing:
        raise ValueError(f"no {', '.join(missing)}: the image cannot be referenced")
    ds = copy.deepcopy(source)
    if "PixelData" in ds:
        del ds.PixelData
    for key in _COPIED:
        if key not in ds or ds[key].value is None:
            setattr(ds, key, "")
    return ds


def write_sr(path, source, detections: pd.DataFrame, clusters: pd.DataFrame, *,
             model_name: str, parameters: dict | None = None,
             spacing_mm: tuple[float, float] | None = None, outline_mm: float = OUTLINE_MM,
             series_number: int = 901, series_description: str = "mcdetect MC detections"):
    """Write the SR of one image to ``path`` and return it (a ``highdicom.sr.ComprehensiveSR``).

    ``source``: the image's pydicom dataset (``stop_before_pixels=True`` is enough; it is copied,
    never changed). ``detections``: x_src, y_src (source pixels, centres at integers), score
    (log-odds), x_mm, y_mm. ``clusters``: ``group_clusters``'s table of these detections
    (cluster_id, x_mm, y_mm, n_mcs, score) with its ``members`` column (``members=True``: row
    positions in ``detections``). ``model_name``: the net,
    named in the algorithm identification; ``parameters``: its detection settings (recorded as
    ``key=value``). ``spacing_mm``: the source's (row, column) pixel spacing for the outlines'
    margin (default: from the dataset's tags).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from mcdetect import __version__

    members = list(clusters["members"]) if len(clusters) else []
    ds = _source_copy(source)
    rows, cols = int(ds.Rows), int(ds.Columns)
    spacing = _spacing_mm(ds, spacing_mm)
    radius_px = (outline_mm / spacing[1], outline_mm / spacing[0])  # (columns, rows)

    algorithm = hd.sr.AlgorithmIdentification(
        name=f"mcdetect {model_name}"[:64], version=__version__,
        parameters=[f"{k}={v}" for k, v in (parameters or {}).items()] or None)
    laterality = {"R": codes.SCT.Right, "L": codes.SCT.Left}.get(
        str(ds.get("ImageLaterality", ds.get("Laterality", "")) or "").upper()[:1])
    site = [hd.sr.FindingSite(anatomic_location=codes.SCT.Breast, laterality=laterality)]
    source_image = hd.sr.SourceImageForRegion.from_source_image(ds)

    def certainty(score: float):
        p = 100.0 / (1.0 + np.exp(-float(score)))
        return hd.sr.Measurement(name=codes.DCM.CertaintyOfFinding, value=round(p, 4),
                                 unit=codes.UCUM.Percent, algorithm_id=algorithm)

    def group(label: str, finding, graphic_type, data, measurements):
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=label),
            referenced_region=hd.sr.ImageRegion(graphic_type=graphic_type, graphic_data=data,
                                                source_image=source_image),
            finding_type=finding, finding_category=codes.SCT.MorphologicallyAbnormalStructure,
            finding_sites=site, algorithm_id=algorithm, measurements=measurements)

    points = sr_points(detections["x_src"], detections["y_src"])
    points[:, 0] = np.clip(points[:, 0], 0.0, cols)
    points[:, 1] = np.clip(points[:, 1], 0.0, rows)
    scores = detections["score"].to_numpy(np.float64)
    groups = [group(f"MC {i + 1}, score {s:.2f} log-odds", codes.SCT.IndividualCalcification,
                    hd.sr.GraphicTypeValues.POINT, points[i:i + 1], [certainty(s)])
              for i, s in enumerate(scores)]
    for (_, c), rows_c in zip(clusters.iterrows(), members, strict=True):
        groups.append(group(
            f"cluster {int(c['cluster_id']) + 1}, {int(c['n_mcs'])} MCs, score "
            f"{float(c['score']):.2f} log-odds", codes.SCT.CalcificationCluster,
            hd.sr.GraphicTypeValues.POLYLINE,
            _outline(points[np.asarray(rows_c, np.int64)], radius_px, rows, cols),
            [certainty(c["score"]),
             hd.sr.Measurement(name=codes.DCM.NumberOfCalcifications, value=int(c["n_mcs"]),
                               unit=codes.UCUM.NoUnits, algorithm_id=algorithm)]))

    # The image itself: its number of MCs (also when none, TID 1500 needs one group at least).
    groups.insert(0, hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=hd.UID(), identifier=f"image: {len(scores)} MCs, {len(clusters)} cluster(s)"),
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ds)],
        finding_sites=site, algorithm_id=algorithm,
        measurements=[hd.sr.Measurement(name=codes.DCM.NumberOfCalcifications, value=len(scores),
                                        unit=codes.UCUM.NoUnits, algorithm_id=algorithm)]))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="mcdetect", model_name=str(model_name)[:64]))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.SCT.Mammography, imaging_measurements=groups)
    sr = hd.sr.ComprehensiveSR(
        evidence=[ds], content=report[0], series_instance_uid=hd.UID(),
        series_number=series_number, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="mcdetect", series_description=series_description, is_complete=True)
    sr.save_as(Path(path), enforce_file_format=True)
    return sr
