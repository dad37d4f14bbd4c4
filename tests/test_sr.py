"""``mcdetect detect --dicom-sr``: a DICOM Structured Report (TID 1500, highdicom) per image whose
points are the detections in the DICOM pixel convention (x_src + 0.5, y_src + 0.5), whose cluster
outlines enclose their MCs, and whose regions reference the source image."""

import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
from matplotlib.path import Path as Polygon
from pydicom.sequence import Sequence

from helpers import breast_like
from mcdetect.detection.clusters import group_clusters
from mcdetect.detection.sr import write_sr

MCDETECT = str(Path(sys.executable).with_name("mcdetect"))


def _read(path):
    """(the SR dataset, its planar ROI groups as dicts) read back through highdicom."""
    ds = pydicom.dcmread(path)
    sr = hd.sr.srread(path)
    assert isinstance(sr, hd.sr.ComprehensiveSR)
    report = hd.sr.MeasurementReport.from_sequence(Sequence([ds]))
    groups = []
    for g in report.get_planar_roi_measurement_groups():
        ref = g.roi.ContentSequence[0].ReferencedSOPSequence[0]
        groups.append({
            "type": g.roi.graphic_type.value, "xy": np.asarray(g.roi.value, np.float64),
            "finding": g.finding_type.meaning, "uid": ref.ReferencedSOPInstanceUID,
            "label": g.tracking_identifier,
            "measurements": {m.name.meaning: m.value for m in g.get_measurements()}})
    return ds, groups


@pytest.fixture
def right_breast_007(write):
    """A RIGHT breast (ImageLaterality R) at 0.07 mm, with a patient identity."""
    return write("r007.dcm", breast_like(400, 300, chest_wall="right"), laterality="R",
                 spacing_mm=0.07, imager_spacing_mm=0.07, photometric="MONOCHROME1",
                 patient={"name": "Doe^Jane", "id": "PID007", "accession": "ACC1"})


def test_write_sr_round_trips_points_outlines_and_references(right_breast_007, tmp_path):
    source = pydicom.dcmread(right_breast_007, stop_before_pixels=True)
    before = source.to_json_dict()
    dets = pd.DataFrame({"x_src": [250.0, 262.5, 255.25, 20.0, 299.3],
                         "y_src": [100.0, 101.0, 120.75, 380.0, -0.7],
                         "score": [3.0, 1.5, 0.2, -1.0, -2.0]})
    dets["x_mm"], dets["y_mm"] = dets["x_src"] * 0.07, dets["y_src"] * 0.07
    clusters = group_clusters(dets, members=True)
    assert [list(m) for m in clusters["members"]] == [[0, 1, 2]]
    path = tmp_path / "r007_sr.dcm"
    write_sr(path, source, dets, clusters, model_name="fold0 (vgg, dehaze)",
             parameters={"floor": -5})
    assert source.to_json_dict() == before  # the source dataset is not changed
    ds, groups = _read(path)
    assert ds.PatientName == "Doe^Jane" and ds.PatientID == "PID007"
    assert ds.StudyInstanceUID == source.StudyInstanceUID and ds.Modality == "SR"
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    points = [g for g in groups if g["type"] == "POINT"]
    assert len(points) == len(dets)
    assert {g["uid"] for g in groups} == {source.SOPInstanceUID}
    xy = np.concatenate([g["xy"] for g in points])
    expected = np.stack([dets["x_src"] + 0.5, dets["y_src"] + 0.5], axis=1)
    expected[4, 1] = 0.0  # a point above the top edge is kept inside the image
    np.testing.assert_allclose(xy, expected, atol=1e-3)
    assert all(g["finding"] == "Individual Calcification" for g in points)
    p = 100 / (1 + np.exp(-dets["score"].to_numpy()))
    np.testing.assert_allclose([g["measurements"]["Certainty of Finding"] for g in points], p,
                               atol=1e-3)
    assert "score 3.00 log-odds" in points[0]["label"]
    (outline,) = [g for g in groups if g["type"] == "POLYLINE"]
    assert outline["finding"] == "Calcification Cluster"
    assert outline["measurements"]["Number of calcifications"] == 3
    ring = outline["xy"]
    np.testing.assert_array_equal(ring[0], ring[-1])  # closed
    assert Polygon(ring).contains_points(xy[:3]).all()  # around its members only
    assert not Polygon(ring).contains_points(xy[3:]).any()
    assert (ring >= 0).all() and (ring[:, 0] <= 300).all() and (ring[:, 1] <= 400).all()


def test_write_sr_without_detections_is_a_valid_empty_report(right_breast_007, tmp_path):
    source = pydicom.dcmread(right_breast_007, stop_before_pixels=True)
    dets = pd.DataFrame({"x_src": [], "y_src": [], "x_mm": [], "y_mm": [], "score": []})
    write_sr(tmp_path / "none.dcm", source, dets, group_clusters(dets, members=True),
             model_name="net")
    ds, groups = _read(tmp_path / "none.dcm")
    assert groups == []
    report = hd.sr.MeasurementReport.from_sequence(Sequence([ds]))
    (image,) = report.get_image_measurement_groups()
    (count,) = image.get_measurements()
    assert count.name.meaning == "Number of calcifications" and count.value == 0


def test_detect_dicom_sr_on_the_tiny_study(tiny_run, tmp_path):
    model = tiny_run / "results/models/dehaze/vgg/fold0.keras"
    dicom = sorted((tiny_run / "data/synthetic/dicom").glob("*.dcm"))[0]
    inputs = tmp_path / "in"
    inputs.mkdir()
    image = inputs / dicom.name
    image.write_bytes(dicom.read_bytes())
    out = tmp_path / "out"
    proc = subprocess.run([MCDETECT, "detect", str(image), "--model", str(model), "--out",
                           str(out), "--dicom-sr"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert image.read_bytes() == dicom.read_bytes()  # the input is only read
    dets = pd.read_csv(out / f"{dicom.stem}_detections.csv")
    clusters = pd.read_csv(out / f"{dicom.stem}_clusters.csv")
    assert len(dets) > 0
    ds, groups = _read(out / f"{dicom.stem}_sr.dcm")
    source = pydicom.dcmread(image, stop_before_pixels=True)
    assert ds.PatientID == source.PatientID
    assert {g["uid"] for g in groups} == {source.SOPInstanceUID}
    points = [g for g in groups if g["type"] == "POINT"]
    assert len(points) == len(dets)
    np.testing.assert_allclose(np.concatenate([g["xy"] for g in points]),
                               np.stack([dets["x_src"] + 0.5, dets["y_src"] + 0.5], axis=1),
                               atol=1e-3)
    outlines = [g for g in groups if g["type"] == "POLYLINE"]
    assert len(outlines) == len(clusters)
    xy = np.concatenate([g["xy"] for g in points])
    for g, n in zip(outlines, clusters["n_mcs"], strict=True):
        assert Polygon(g["xy"]).contains_points(xy).sum() >= n  # around its MCs
    assert [g["measurements"]["Number of calcifications"] for g in outlines] == list(
        clusters["n_mcs"])
    # the SR is an output like the others: kept unless --overwrite
    for name in ("detections.csv", "clusters.csv", "overlay.png"):
        (out / f"{dicom.stem}_{name}").unlink()
    again = subprocess.run([MCDETECT, "detect", str(image), "--model", str(model), "--out",
                            str(out), "--dicom-sr"], capture_output=True, text=True)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert not (out / f"{dicom.stem}_detections.csv").exists()
