"""validate (integrity check), manifest and folds on small hand-made datasets."""

import numpy as np
import pandas as pd
import pytest

from helpers import breast_like, spot_image
from mcdetect.data.folds import assign_folds, assign_validation, check_folds
from mcdetect.data.manifest import build_manifest
from mcdetect.data.sources import DatasetError, read_annotations
from mcdetect.data.validate import validate_dataset


@pytest.fixture
def bad_dataset(tmp_path, write):
    """Six files: two good, one truncated, one not DICOM, one without spacing, one duplicate;
    annotations: one inside, one outside the image, one outside the breast (in the air)."""
    good = np.maximum(breast_like(200, 160), spot_image(200, 160, 40, 100, base=0, peak=16000))
    write("good_a.dcm", good, patient={"id": "A"})
    write("good_b.dcm", breast_like(200, 160, level=11000), patient={"id": "B"})
    trunc = write("truncated.dcm", breast_like(200, 160, level=10000))
    trunc.write_bytes(trunc.read_bytes()[:3000])
    (tmp_path / "notes.dcm").write_text("not an image")
    write("nospacing.dcm", breast_like(200, 160, level=9000), spacing_mm=None,
          imager_spacing_mm=None)
    write("z_copy_of_a.dcm", good, patient={"id": "A"})
    write("air_mc.dcm", breast_like(200, 160, level=9500), patient={"id": "C"})
    write("outside.dcm", breast_like(200, 160, level=9700), patient={"id": "D"})
    csv = tmp_path / "mcs.csv"
    csv.write_text("file,x,y,diameter_mm,cluster_id\n"
                   "good_a.dcm,40,100,0.3,0\n"
                   "outside.dcm,400,20,0.2,\n"
                   "air_mc.dcm,150,5,0.2,1\n")
    sources = sorted(p.name for p in tmp_path.glob("*.dcm"))
    return tmp_path, sources, read_annotations(csv, sources)


def test_fail_mode_lists_every_bad_file_with_its_problem(bad_dataset):
    root, sources, ann = bad_dataset
    with pytest.raises(DatasetError) as err:
        validate_dataset([root / s for s in sources], sources, ann, on_bad_image="fail")
    msg = str(err.value)
    assert msg.startswith("6 of 8 image(s) failed validation")
    expect = {
        "truncated.dcm": "truncated",
        "notes.dcm": "not a DICOM file",
        "nospacing.dcm": "no pixel spacing",
        "z_copy_of_a.dcm": "duplicate of good_a.dcm",
        "outside.dcm": "lies outside the image",
        "air_mc.dcm": "lies outside the breast",
    }
    for name, problem in expect.items():
        line = next(ln for ln in msg.splitlines() if ln.strip().startswith(str(root / name)))
        assert problem in line, line


def test_skip_mode_writes_the_excluded_list_and_keeps_the_rest(bad_dataset):
    root, sources, ann = bad_dataset
    table, excluded = validate_dataset([root / s for s in sources], sources, ann,
                                       on_bad_image="skip", workers=2)
    assert sorted(excluded["source"]) == sorted(
        ["truncated.dcm", "notes.dcm", "nospacing.dcm", "z_copy_of_a.dcm", "outside.dcm",
         "air_mc.dcm"])
    assert set(table.loc[table.status == "ok", "source"]) == {"good_a.dcm", "good_b.dcm"}
    images, mcs = build_manifest([root / s for s in sources], sources, table, ann)
    assert list(images["source"]) == ["good_a.dcm", "good_b.dcm"]
    assert images["image_id"].str.match(r"img-[0-9a-f]{10}$").all()
    assert len(mcs) == 1 and mcs.loc[0, "x"] == pytest.approx(40) and mcs.loc[0, "y"] == 100
    assert (images.set_index("source").loc["good_a.dcm", "n_mcs"]) == 1


def test_input_files_are_never_modified(bad_dataset):
    root, sources, ann = bad_dataset
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.iterdir()}
    validate_dataset([root / s for s in sources], sources, ann, on_bad_image="skip")
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.iterdir()}
    assert before == after


@pytest.mark.parametrize(
    "text, problem",
    [
        ("file,x\na.dcm,1\n", "missing column(s) y"),
        ("file,x,y\na.dcm,1,zz\n", "column y is not a number on line(s) 2"),
        ("file,x,y\nb.dcm,1,2\n", "1 annotated file(s) not among the DICOM files: b.dcm"),
    ],
)
def test_bad_annotation_csv_names_the_file_and_the_problem(tmp_path, text, problem):
    csv = tmp_path / "ann.csv"
    csv.write_text(text)
    with pytest.raises(DatasetError) as err:
        read_annotations(csv, ["a.dcm"])
    assert str(err.value).startswith(str(csv)) and problem in str(err.value)


def _images(n_patients, per_patient=4, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        mc = rng.random() < 0.6
        for v in range(per_patient):
            rows.append({"image_id": f"img-{p}-{v}", "patient_id": f"pat-{p}",
                         "n_mcs": int(mc and v % 2 == 0) * 5})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_folds_split_by_patient_stratified_and_seeded(k):
    images = _images(40)
    folds = assign_folds(images, k=k, seed=3)
    assert folds.groupby("patient_id")["fold"].nunique().max() == 1  # no patient on both sides
    assert sorted(folds["fold"].unique()) == list(range(k))
    counts = folds.groupby("fold").size()
    assert counts.max() - counts.min() <= 8  # one patient per stratum at most
    with_mcs = folds[folds.n_mcs > 0].groupby("patient_id")["fold"].first().value_counts()
    assert with_mcs.max() - with_mcs.min() <= 1  # MC patients spread evenly
    pd.testing.assert_frame_equal(folds, assign_folds(images, k=k, seed=3))
    assert not assign_folds(images, k=k, seed=4)["fold"].equals(folds["fold"])


def test_check_folds_rejects_a_patient_on_both_sides():
    bad = pd.DataFrame({"image_id": ["a", "b"], "patient_id": ["p", "p"], "fold": [0, 1]})
    with pytest.raises(DatasetError, match="more than one fold"):
        check_folds(bad)


def test_validation_share_is_patient_level_stratified_and_seeded():
    images = _images(40)
    folds = assign_validation(assign_folds(images, k=2, seed=3), 0.2, seed=3)
    assert set(folds["validation"]) == {0, 1}
    assert folds.groupby("patient_id")["validation"].nunique().max() == 1  # whole patients
    for _, f in folds.groupby("fold"):
        patients = f.groupby("patient_id").agg(val=("validation", "max"), mcs=("n_mcs", "sum"))
        expect = round(0.2 * len(patients))
        assert expect - 1 <= patients["val"].sum() <= expect + 1
        assert (patients.loc[patients["val"] == 1, "mcs"] > 0).any()  # positives to validate on
        assert (patients["val"] == 0).any()
    again = assign_validation(assign_folds(images, k=2, seed=3), 0.2, seed=3)
    pd.testing.assert_frame_equal(folds, again)
    none = assign_validation(assign_folds(images, k=2, seed=3), 0.0, seed=3)
    assert (none["validation"] == 0).all()
    with pytest.raises(DatasetError, match="validation_fraction"):
        assign_validation(folds, 1.0)
