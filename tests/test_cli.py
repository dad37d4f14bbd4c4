"""``mcdetect detect``: a net of the tiny study on DICOM files -- per-file detections with
canonical, original-pixel and mm coordinates, clusters, an overlay; a bad file named without
stopping the others; outputs never overwritten silently."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from helpers import breast_like
from mcdetect.data.dicom import read_header
from mcdetect.data.synthetic import write_dicom

MCDETECT = str(Path(sys.executable).with_name("mcdetect"))


def _run(*args):
    return subprocess.run([MCDETECT, "detect", *map(str, args)], capture_output=True, text=True)


def test_detect_on_dicom_files_writes_detections_clusters_and_overlays(tiny_run, tmp_path):
    model = tiny_run / "results/models/dehaze/vgg/fold0.keras"
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["variant"] == "dehaze" and card["stats"]["std"] > 0
    assert card["stats"]["standardise"] == "patch" and 0 < card["stats"]["centred_std"] < 1
    assert card["variant_params"] == {"omega": 0.9, "window": 11}
    dicoms = sorted((tiny_run / "data/synthetic/dicom").glob("*.dcm"))[:2]
    inputs = tmp_path / "in"
    inputs.mkdir()
    for d in dicoms:
        (inputs / d.name).write_bytes(d.read_bytes())
    (inputs / "broken.dcm").write_bytes(b"not a DICOM file")
    write_dicom(inputs / "nospacing.dcm", breast_like(64, 64), spacing_mm=None,
                imager_spacing_mm=None)
    out = tmp_path / "out"
    proc = _run(inputs, "--model", model, "--out", out, "--floor", "-5")
    assert proc.returncode == 1  # two files failed, the others were done
    assert "broken.dcm: not a DICOM file" in proc.stderr
    assert "nospacing.dcm" in proc.stderr and "no pixel spacing" in proc.stderr
    assert proc.stderr.count("detections above") == 2
    for d in dicoms:
        dets = pd.read_csv(out / f"{d.stem}_detections.csv")
        assert list(dets.columns) == ["x", "y", "x_src", "y_src", "x_mm", "y_mm", "score"]
        assert len(dets) > 0 and (dets["score"] >= -5).all()
        assert dets["score"].is_monotonic_decreasing
        header = read_header(inputs / d.name, card["spacing_mm"])
        cx, cy = header.to_canonical(dets["x_src"], dets["y_src"])
        np.testing.assert_allclose(cx, dets["x"], atol=0.01)
        np.testing.assert_allclose(cy, dets["y"], atol=0.01)
        np.testing.assert_allclose(dets["x_mm"], dets["x"] * card["spacing_mm"])
        clusters = pd.read_csv(out / f"{d.stem}_clusters.csv")
        assert list(clusters.columns) == ["cluster_id", "x_mm", "y_mm", "n_mcs", "score"]
        overlay = cv2.imread(str(out / f"{d.stem}_overlay.png"))
        assert overlay.shape[:2] == header.shape
    every = pd.read_csv(out / "detections.csv")
    assert set(every["file"]) == {d.name for d in dicoms}
    again = _run(inputs / dicoms[0].name, "--model", model, "--out", out)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert _run(inputs / dicoms[0].name, "--model", model, "--out", out,
                "--overwrite").returncode == 0


def test_detect_names_a_missing_model_card(tmp_path):
    model = tmp_path / "net.keras"
    model.write_bytes(b"")
    dicom = tmp_path / "a.dcm"
    dicom.write_bytes(b"")
    proc = _run(dicom, "--model", model, "--out", tmp_path / "out")
    assert proc.returncode != 0 and "net.json: no model card" in proc.stderr
