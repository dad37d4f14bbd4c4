"""Real dataset sources on small fixtures in each format: INbreast (DICOM + OsiriX plists +
INbreast.csv), folds from a file, CBIS-DDSM and mini-MIAS (evaluation only), per-file robustness."""

import json
import plistlib

import numpy as np
import pandas as pd
import pydicom
import pytest

from helpers import (
    CBIS_HEADER,
    breast_like,
    make_cbis,
    make_cbis_case,
    mammogram_with_spots,
    snakemake,
    spot_image,
    write_pgm,
)
from mcdetect.data.cbis_ddsm import read_cbis_ddsm
from mcdetect.data.dicom import read_mammogram
from mcdetect.data.folds import folds_from_file
from mcdetect.data.inbreast import import_inbreast, read_osirix_xml
from mcdetect.data.layout import LayoutError, require_trainable, source_file_list
from mcdetect.data.manifest import build_manifest, build_regions
from mcdetect.data.mini_mias import read_mini_mias
from mcdetect.data.regions import inside_region
from mcdetect.data.sources import DatasetError, read_annotations
from mcdetect.data.synthetic import write_dicom
from mcdetect.data.validate import validate_dataset

ROWS, COLS = 300, 240  # source pixels at 0.07 mm -> 210 x 168 at 0.1 mm


def spot_centroid(image, x, y, half=6):
    """Centroid of the bright spot near (x, y) in a canonical image (above the local median)."""
    x0, y0 = int(round(x)) - half, int(round(y)) - half
    win = image[y0 : y0 + 2 * half + 1, x0 : x0 + 2 * half + 1].astype(float)
    w = np.clip(win - np.median(win), 0, None)
    w[w < 0.3 * w.max()] = 0
    yy, xx = np.mgrid[0 : win.shape[0], 0 : win.shape[1]]
    return x0 + (w * xx).sum() / w.sum(), y0 + (w * yy).sum() / w.sum()


def roi(name, points):
    return {"Name": name, "NumberOfPoints": len(points), "Area": 0.0, "Center": "(0, 0, 0)",
            "Dev": 0.0, "IndexInImage": 0, "Max": 0.0, "Mean": 0.0, "Min": 0.0,
            "Point_mm": [f"({x * 0.07:.3f}, {y * 0.07:.3f}, 0)" for x, y in points],
            "Point_px": [f"({x:.2f}, {y:.2f})" for x, y in points], "Total": 0.0, "Type": 15}


def write_plist(path, rois):
    with open(path, "wb") as f:
        plistlib.dump({"Images": [{"ImageHeight": ROWS, "ImageWidth": COLS, "ImageIndex": 0,
                                   "NumberOfROIs": len(rois), "ROIs": rois}]}, f)


# Four images of three patients; the MCs (x = column, y = row, source pixels) are bright spots.
INBREAST_IMAGES = {
    # file: (laterality, view, photometric, chest wall, spots, CSV patient)
    "11111111_aaaa1111_MG_L_CC_ANON.dcm": ("L", "CC", "MONOCHROME2", "left",
                                           [(60.0, 140.0), (82.0, 172.0)], "removed"),
    "22222222_aaaa1111_MG_R_CC_ANON.dcm": ("R", "CC", "MONOCHROME1", "right",
                                           [(190.0, 120.0)], "removed"),
    "33333333_bbbb2222_MG_L_ML_ANON.dcm": ("L", "MLO", "MONOCHROME2", "left", [], "removed"),
    "44444444_cccc3333_MG_R_ML_ANON.dcm": ("R", "MLO", "MONOCHROME2", "right",
                                           [(170.0, 160.0)], "P4"),
}
CLUSTER = [(160.0, 150.0), (182.0, 150.0), (182.0, 172.0), (160.0, 172.0)]  # around (170, 160)


def make_inbreast(root):
    """An INbreast-shaped release folder; returns the DICOM file names."""
    (root / "AllDICOMs").mkdir(parents=True)
    (root / "AllXML").mkdir()
    csv = ["Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"]
    for name, (lat, view, photometric, wall, spots, patient) in INBREAST_IMAGES.items():
        px = mammogram_with_spots(wall, spots, ROWS, COLS)
        if photometric == "MONOCHROME1":
            px = (16383 - px).astype(np.uint16)
        write_dicom(root / "AllDICOMs" / name, px, photometric=photometric, spacing_mm=0.07,
                    imager_spacing_mm=None, laterality=lat, view=view,
                    patient={"id": f"dicom-{name[:8]}"})
        key = name.split("_")[0]
        csv.append(f"{patient};removed;{lat};{view[:2]};201001;{key};2;4")
    write_plist(root / "AllXML/11111111.xml", [
        roi("Calcification", [(60.0, 140.0)]),
        roi("Calcification", [(80.0, 170.0), (84.0, 174.0)]),  # two points: their mean
        roi("Mass", [(50.0, 100.0), (70.0, 100.0), (60.0, 120.0)]),
    ])
    write_plist(root / "AllXML/22222222.xml", [roi("Calcification", [(190.0, 120.0)])])
    write_plist(root / "AllXML/44444444.xml", [
        roi("Calcification", [(170.0, 160.0)]),
        roi("Cluster", CLUSTER),
        roi("Point 1", [(100.0, 100.0)]),
        roi("Calcification", [(150, 150), (151, 150), (151, 151), (150, 151), (150, 152)]),
    ])
    write_plist(root / "AllXML/99999999.xml", [roi("Calcification", [(10.0, 10.0)])])
    (root / "INbreast.csv").write_text("\n".join(csv) + "\n")
    return sorted(INBREAST_IMAGES)


@pytest.fixture
def inbreast(tmp_path):
    root = tmp_path / "INbreast"
    files = make_inbreast(root)
    return root, files


def test_osirix_plist_gives_mcs_cluster_outlines_and_skipped_names(inbreast):
    root, _ = inbreast
    found = read_osirix_xml(root / "AllXML/44444444.xml")
    assert found["mcs"] == [(170.0, 160.0)]
    assert len(found["clusters"]) == 1 and found["clusters"][0][2] == "Cluster"
    assert dict(found["skipped"]) == {"Point 1": 1, "Calcification (5 points)": 1}
    two = read_osirix_xml(root / "AllXML/11111111.xml")
    assert two["mcs"] == [(60.0, 140.0), (82.0, 172.0)]  # x = column, y = row; 2 points: mean


def test_broken_plist_names_the_file(tmp_path):
    bad = tmp_path / "1.xml"
    bad.write_text("<plist><dict><key>Images</key>")
    with pytest.raises(DatasetError, match=f"^{bad}: not a readable OsiriX plist"):
        read_osirix_xml(bad)
    write_plist(bad, [{"Name": "Calcification", "Point_px": ["12.5; 3"]}])
    with pytest.raises(DatasetError, match=r"ROIs\[0\]: Point_px entry '12.5; 3'"):
        read_osirix_xml(bad)


def test_inbreast_import_counts_patients_and_metadata(inbreast):
    root, files = inbreast
    mcs, meta, regions, summary = import_inbreast(root, files, "k")
    assert summary["images"] == 4 and summary["images_with_xml"] == 3
    assert summary["images_without_xml"] == 1 and summary["mcs"] == 4
    assert summary["patients"] == 3 and summary["patient_from"] == {"csv": 1, "file_name": 3}
    assert summary["skipped_rois"] == {"Calcification (5 points)": 1, "Mass": 1, "Point 1": 1}
    assert summary["cluster_outlines"] == 1 and summary["mcs_in_cluster_outlines"] == 1
    assert summary["xml_without_dicom"] == ["99999999"]
    m = meta.set_index("file")
    assert m.loc[files[0], "patient_id"] == m.loc[files[1], "patient_id"] != m.loc[files[2],
                                                                                   "patient_id"]
    assert all(p.startswith("pat-") and "aaaa" not in p for p in m["patient_id"])
    assert list(m["laterality"]) == ["L", "R", "L", "R"] and (m["problem"] == "").all()
    assert len(regions) == 1 and regions.loc[0, "file"] == files[3]


def test_inbreast_mcs_land_on_their_spots_after_resampling_and_flipping(inbreast):
    root, files = inbreast
    mcs, meta, regions, summary = import_inbreast(root, files, "k")
    paths = [root / "AllDICOMs" / f for f in files]
    mcs.to_csv(root.parent / "mcs.csv", index=False)  # as the workflow's import writes it
    ann = read_annotations(root.parent / "mcs.csv", known_files=files)
    table, excluded = validate_dataset(paths, files, ann, metadata=meta, spacing_mm=0.1,
                                       expected_spacing_mm=0.07, pseudonym_key="k")
    assert excluded.empty and (table["rows"] == 210).all() and (table["cols"] == 168).all()
    assert list(table["flipped"]) == [False, True, False, True]
    assert list(table["photometric"]) == ["MONOCHROME2", "MONOCHROME1", "MONOCHROME2",
                                          "MONOCHROME2"]
    assert list(table["patient_id"]) == list(meta["patient_id"])
    images, canon = build_manifest(paths, files, table, ann, pseudonym_key="k")
    assert len(canon) == 4
    source_of = dict(zip(images["image_id"], images["source"], strict=True))
    for _, mc in canon.iterrows():
        image = read_mammogram(root / "AllDICOMs" / source_of[mc["image_id"]]).image
        cx, cy = spot_centroid(image, mc["x"], mc["y"])
        assert (cx, cy) == (pytest.approx(mc["x"], abs=0.3), pytest.approx(mc["y"], abs=0.3))
    # the right CC image's MC: x flipped about the resampled width
    r = canon[canon["image_id"] == images.loc[1, "image_id"]].iloc[0]
    assert r["x"] == pytest.approx(167 - ((190 + 0.5) * 0.7 - 0.5), abs=1e-3)
    assert r["y"] == pytest.approx((120 + 0.5) * 0.7 - 0.5, abs=1e-3)
    outlines = build_regions(paths, files, table, regions, pseudonym_key="k")
    assert len(outlines) == 1
    last = canon[canon["image_id"] == images.loc[3, "image_id"]]
    assert inside_region(outlines.iloc[0], last["x"], last["y"]).all()
    assert canon.loc[last.index[0], "cluster_id"] == 0


def test_inbreast_problems_are_reported_per_file(inbreast):
    root, files = inbreast
    csv = (root / "INbreast.csv").read_text().replace(";R;CC;201001;22222222",
                                                      ";L;CC;201001;22222222")
    (root / "INbreast.csv").write_text(csv)
    wrong = root / "AllDICOMs" / files[2]
    write_dicom(wrong, mammogram_with_spots("left", [], ROWS, COLS), photometric="MONOCHROME2",
                spacing_mm=0.1, imager_spacing_mm=None, laterality="L")
    mcs, meta, _, _ = import_inbreast(root, files, "k")
    paths = [root / "AllDICOMs" / f for f in files]
    with pytest.raises(DatasetError) as err:
        validate_dataset(paths, files, mcs, metadata=meta, expected_spacing_mm=0.07)
    msg = str(err.value)
    assert f"{paths[1]}: laterality L in INbreast.csv but R in the file name" in msg
    assert f"{paths[2]}: PixelSpacing 0.1/0.1 mm differs from the source's nominal 0.07" in msg
    table, excluded = validate_dataset(paths, files, mcs, metadata=meta,
                                       expected_spacing_mm=0.07, on_bad_image="skip")
    assert list(excluded["source"]) == [files[1], files[2]]


# ---------------------------------------------------------------- folds from a file


def _manifest():
    return pd.DataFrame({
        "image_id": ["img-a", "img-b", "img-c", "img-d"],
        "patient_id": ["pat-1", "pat-1", "pat-2", "pat-3"],
        "source": sorted(INBREAST_IMAGES), "n_mcs": [2, 1, 0, 1],
    })


def test_folds_from_file_by_inbreast_file_name_or_image_id(tmp_path):
    split = tmp_path / "split.csv"
    split.write_text("INDEX,FILENAME,SPLIT\n0,11111111,1\n1,22222222,1\n2,33333333,2\n"
                     "3,44444444,2\n4,55555555,1\n")  # 55555555: not in this copy, ignored
    folds = folds_from_file(_manifest(), split, k=2)
    assert list(folds["fold"]) == [0, 0, 1, 1]
    assert list(folds.columns) == ["image_id", "patient_id", "fold", "n_mcs"]
    by_id = tmp_path / "ids.tsv"
    by_id.write_text("image_id\tfold\nimg-a\t1\nimg-b\t1\nimg-c\t0\nimg-d\t1\n")
    assert list(folds_from_file(_manifest(), by_id, k=2)["fold"]) == [1, 1, 0, 1]


def test_folds_from_file_rejects_a_patient_in_two_folds_naming_file_and_patient(tmp_path):
    split = tmp_path / "split.csv"
    split.write_text("file,fold\n" + "".join(
        f"{f},{i % 2}\n" for i, f in enumerate(sorted(INBREAST_IMAGES))))
    with pytest.raises(DatasetError) as err:
        folds_from_file(_manifest(), split, k=2)
    msg = str(err.value)
    assert msg.startswith(f"{split}: 1 patient(s) appear in more than one fold")
    assert "patient pat-1: 11111111_aaaa1111_MG_L_CC_ANON.dcm (fold 0), 22222222" in msg


@pytest.mark.parametrize("text, problem", [
    ("file,fold\n11111111,0\n22222222,0\n33333333,1\n", "1 image(s) of the manifest are not in"),
    ("file,fold\n11111111,0\n22222222,0\n33333333,1\n44444444,2\n", "3 folds (0, 1, 2) but"),
    ("name,fold\n11111111,0\n", "needs an image column"),
])
def test_bad_folds_file_names_the_file(tmp_path, text, problem):
    split = tmp_path / "split.csv"
    split.write_text(text)
    with pytest.raises(DatasetError) as err:
        folds_from_file(_manifest(), split, k=2)
    assert str(err.value).startswith(str(split)) and problem in str(err.value)


# ---------------------------------------------------------------- CBIS-DDSM (evaluation only)


def test_cbis_ddsm_mask_told_from_swapped_crop_and_mapped_to_canonical(tmp_path):
    csv, (x, y) = make_cbis(tmp_path)
    images, regions, excluded = read_cbis_ddsm(tmp_path, csv, spacing_mm=0.1,
                                               nominal_spacing_mm=0.05)
    assert excluded.empty and len(images) == 1 and len(regions) == 1
    im = images.iloc[0]
    assert (im["rows"], im["cols"], im["flipped"], im["laterality"]) == (200, 150, True, "R")
    assert im["spacing_source"] == "nominal"
    assert "1-1.dcm: greyscale 40 x 40: a cropped image" in im["notes"]
    assert "mask 408 x 306 resized to its image's 400 x 300" in im["notes"]
    reg = regions.iloc[0]
    ex, ey = 149 - ((x + 0.5) * 0.5 - 0.5), (y + 0.5) * 0.5 - 0.5  # resampled, mirrored
    assert (reg["cx"], reg["cy"]) == (pytest.approx(ex, abs=0.6), pytest.approx(ey, abs=0.6))
    assert reg["pathology"] == "MALIGNANT" and reg["label"] == "calcification 1"
    full = next(tmp_path.rglob("1.000000-full*")) / "1-1.dcm"
    image = read_mammogram(full, 0.1, default_spacing_mm=0.05).image
    sx, sy = spot_centroid(image, ex, ey)
    assert inside_region(reg, [sx], [sy]).all()
    assert (sx, sy) == (pytest.approx(ex, abs=0.3), pytest.approx(ey, abs=0.3))


def test_cbis_ddsm_mask_of_another_size_is_reported_with_its_file(tmp_path):
    csv = tmp_path / "calc_case_description_test_set.csv"
    csv.write_text(CBIS_HEADER + make_cbis_case(tmp_path, "P_00001")
                   + make_cbis_case(tmp_path, "P_00002", mask_shape=(300, 300)))
    with pytest.raises(DatasetError) as err:
        read_cbis_ddsm(tmp_path, csv)
    mask = next(tmp_path.glob("Calc-Test_P_00002_RIGHT_CC_1/*/*/1-2.dcm"))
    assert f"{mask}: mask 300 x 300 does not match its image 400 x 300" in str(err.value)
    images, regions, excluded = read_cbis_ddsm(tmp_path, csv, on_bad_image="skip")
    assert len(images) == 1 and images.iloc[0]["source"].startswith("Calc-Test_P_00001_")
    assert list(excluded["path"]) == [str(mask)] and len(regions) == 1


# ---------------------------------------------------------------- mini-MIAS (evaluation only)


def test_mini_mias_circle_from_the_bottom_left_origin_lands_on_the_spot(tmp_path):
    x, y_up, radius = 600, 700, 20  # Info.txt: origin bottom-left -> row 1023 - 700 = 323
    base = breast_like(1024, 1024, chest_wall="right", level=160, air=10).astype(np.int32)
    spot = spot_image(1024, 1024, x, 1023 - y_up, sigma=2.0, base=0, peak=80).astype(np.int32)
    write_pgm(tmp_path / "mdb001.pgm", np.clip(base + spot, 0, 255))
    write_pgm(tmp_path / "mdb002.pgm", breast_like(1024, 1024, level=150, air=10))
    write_pgm(tmp_path / "mdb003.pgm", breast_like(1024, 1024, level=140, air=10))
    write_pgm(tmp_path / "mdb004.pgm", breast_like(512, 400, level=140, air=10))
    (tmp_path / "Info.txt").write_text(
        "MIAS database: reference, tissue, class, severity, x, y, radius\n"
        f"mdb001 G CALC B {x} {y_up} {radius}\nmdb002 F NORM\nmdb003 D CALC M\nmdb004 F NORM\n")
    with pytest.raises(DatasetError) as err:
        read_mini_mias(tmp_path)
    msg = str(err.value)
    assert f"{tmp_path / 'mdb004.pgm'}: 512 x 400 pixels, mini-MIAS images are 1024" in msg
    assert 'pass on_bad_image="skip"' in msg and "dataset.on_bad_image" not in msg
    assert "mdb003" not in msg  # a CALC row without coordinates is no problem
    images, regions, excluded = read_mini_mias(tmp_path, on_bad_image="skip")
    assert list(images["source"]) == ["mdb001.pgm", "mdb002.pgm", "mdb003.pgm"]
    assert list(excluded["source"]) == ["mdb004.pgm"]
    assert list(images["n_unlocalised"]) == [0, 0, 1] and list(images["n_regions"]) == [1, 0, 0]
    assert list(images["laterality"]) == ["R", "L", "R"]
    assert images.iloc[0]["flipped"] and images.iloc[0]["rows"] == 2048
    assert images.iloc[0]["patient_id"] == images.iloc[1]["patient_id"]  # a woman's two breasts
    reg = regions.iloc[0]
    ex, ey = 2047 - ((x + 0.5) * 2 - 0.5), (1023 - y_up + 0.5) * 2 - 0.5
    assert (reg["cx"], reg["cy"], reg["radius"]) == (ex, ey, 2 * radius)
    from mcdetect.data.mini_mias import read_mias_image

    image = read_mias_image(tmp_path / "mdb001.pgm").image
    sx, sy = spot_centroid(image, ex, ey, half=10)
    assert (sx, sy) == (pytest.approx(ex, abs=0.5), pytest.approx(ey, abs=0.5))


def test_mini_mias_release_quirks_are_warnings_and_every_image_is_read(tmp_path):
    """The published release's quirks, as a fixture: CALC rows without coordinates (mdb216, mdb233,
    mdb245), a circle in air (mdb212), breasts that fill the frame (mdb151, mdb152)."""
    from mcdetect.data.mini_mias import reader_summary

    # mdb151 (odd: a right breast, chest wall on the right) fills the frame and is brighter on
    # its left half, so the brightness heuristic alone would leave it unmirrored.
    full = np.full((1024, 1024), 170, np.int32)
    full[:, :512] += 40
    write_pgm(tmp_path / "mdb151.pgm", full)
    write_pgm(tmp_path / "mdb152.pgm", breast_like(1024, 1024, level=150, air=10))
    write_pgm(tmp_path / "mdb212.pgm", breast_like(1024, 1024, level=150, air=10))
    write_pgm(tmp_path / "mdb216.pgm", breast_like(1024, 1024, level=150, air=10))
    (tmp_path / "Info.txt").write_text(
        "mdb151 D NORM\nmdb152 D NORM\n"
        "mdb212 G CALC B 950 500 20\n"  # column 950 of a breast that ends at about 717: air
        "mdb216 D CALC M\nmdb216 D CALC M 480 520 30\n")
    images, regions, excluded = read_mini_mias(tmp_path)  # the defaults
    assert excluded.empty and len(images) == 4
    by = images.set_index("source")
    assert by.loc["mdb151.pgm", "laterality"] == "R" and by.loc["mdb151.pgm", "flipped"]
    assert "numbering says a right breast" in by.loc["mdb151.pgm", "warnings"]
    assert not by.loc["mdb152.pgm", "flipped"] and by.loc["mdb152.pgm", "warnings"] == ""
    assert "outside the breast" in by.loc["mdb212.pgm", "warnings"]
    assert (by.loc["mdb216.pgm", "n_unlocalised"], by.loc["mdb216.pgm", "n_regions"]) == (1, 1)
    summary = reader_summary(images, regions, excluded)
    assert summary["images"] == 4 and summary["regions"] == 2
    assert summary["unlocalised_findings"] == 1
    assert set(summary["warnings"]) == {by.loc["mdb151.pgm", "image_id"],
                                        by.loc["mdb212.pgm", "image_id"]}


def test_region_only_sources_cannot_train_the_patch_cnns(tmp_path):
    for source in ("cbis_ddsm", "mini_mias"):
        with pytest.raises(LayoutError) as err:
            require_trainable(source)
        assert "evaluation-only" in str(err.value) and "no individual MC points" in str(err.value)
        with pytest.raises(LayoutError, match="cannot be trained"):
            source_file_list({"source": source, "dicom_dir": str(tmp_path), "path": ""})
    require_trainable("inbreast")


# ---------------------------------------------------------------- robustness, per file


def test_odd_files_are_reported_per_file_never_without_their_name(tmp_path, monkeypatch):
    px = mammogram_with_spots("left", [(50.0, 150.0)], rows=301, cols=217)
    write_dicom(tmp_path / "odd_size.dcm", px, photometric="MONOCHROME2", spacing_mm=0.07,
                imager_spacing_mm=None)
    inverted = (16383 - px).astype(np.uint16)
    write_dicom(tmp_path / "mono1.dcm", inverted, photometric="MONOCHROME1", spacing_mm=0.07,
                imager_spacing_mm=None, patient={"id": "B"})
    norows = tmp_path / "no_rows.dcm"
    write_dicom(norows, px, spacing_mm=0.07, imager_spacing_mm=None)
    ds = pydicom.dcmread(norows)
    del ds.Rows
    ds.save_as(norows)
    badsp = tmp_path / "bad_spacing.dcm"
    write_dicom(badsp, px, spacing_mm=0.07, imager_spacing_mm=None)
    badsp.write_bytes(badsp.read_bytes().replace(b"0.07\\0.07", b"abcd\\0.07"))
    write_dicom(tmp_path / "tiny.dcm", breast_like(20, 20), spacing_mm=0.1,
                imager_spacing_mm=None)
    files = sorted(p.name for p in tmp_path.glob("*.dcm"))
    csv = tmp_path / "mcs.csv"
    csv.write_text("file,x,y\nodd_size.dcm,50,150\nmono1.dcm,50,150\n")
    ann = read_annotations(csv, files)
    table, excluded = validate_dataset([tmp_path / f for f in files], files, ann,
                                       on_bad_image="skip")
    problems = dict(zip(excluded["source"], excluded["problem"], strict=True))
    assert set(problems) == {"no_rows.dcm", "bad_spacing.dcm", "tiny.dcm"}
    assert "no Rows tag" in problems["no_rows.dcm"]
    assert "malformed PixelSpacing" in problems["bad_spacing.dcm"]
    assert "image too small" in problems["tiny.dcm"]
    images, mcs = build_manifest([tmp_path / f for f in files], files, table, ann)
    assert mcs["x"].nunique() == 1 and mcs["y"].nunique() == 1  # MONOCHROME1 = MONOCHROME2
    a = read_mammogram(tmp_path / "odd_size.dcm").image
    b = read_mammogram(tmp_path / "mono1.dcm").image
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert a.shape == (211, 152)
    sx, sy = spot_centroid(a, mcs.loc[0, "x"], mcs.loc[0, "y"])
    assert (sx, sy) == (pytest.approx(mcs.loc[0, "x"], abs=0.3),
                        pytest.approx(mcs.loc[0, "y"], abs=0.3))

    import mcdetect.data.validate as manifest

    def boom(image):
        raise ValueError("something nobody expected")

    monkeypatch.setattr(manifest, "breast_mask", boom)
    with pytest.raises(DatasetError) as err:
        validate_dataset([tmp_path / "odd_size.dcm"], ["odd_size.dcm"], ann.iloc[:1])
    assert (f"{tmp_path / 'odd_size.dcm'}: unexpected error while checking it "
            f"(ValueError: something nobody expected)") in str(err.value)


# ---------------------------------------------------------------- the workflow's dataset stage


def test_workflow_dataset_stage_on_an_inbreast_folder(tmp_path):
    root = tmp_path / "INbreast"
    make_inbreast(root)
    split = tmp_path / "split.csv"
    split.write_text("INDEX,FILENAME,SPLIT\n0,11111111,1\n1,22222222,1\n2,33333333,2\n"
                     "3,44444444,2\n")
    overlay = tmp_path / "inbreast.yaml"
    overlay.write_text(f"dataset:\n  source: inbreast\n  path: {root}\n  pseudonym_key: k\n"
                       f"folds:\n  from_file: {split}\n")
    work = tmp_path / "work"
    snakemake(work, "results/dataset/folds.tsv", overlay=overlay)
    d = work / "results/dataset"
    images = pd.read_csv(d / "images.tsv", sep="\t")
    sources = pd.read_csv(work / "private/sources.tsv", sep="\t")  # the map, outside results/
    assert sorted(sources["source"]) == sorted(INBREAST_IMAGES)
    assert list(sources["image_id"]) == list(images["image_id"])
    # Nothing under results/ names a file or a patient: not the file names, not the patient hash
    # in them (also the DICOM PatientID here), not the DICOM's own PatientID.
    identifiers = {f for f in INBREAST_IMAGES} | {f.split("_")[1] for f in INBREAST_IMAGES}
    identifiers |= {f"dicom-{f[:8]}" for f in INBREAST_IMAGES} | {str(root)}
    leaks = [(p.relative_to(work), i) for p in (work / "results").rglob("*") if p.is_file()
             for i in identifiers if i.encode() in p.read_bytes()]
    assert not leaks
    assert images["patient_id"].nunique() == 3 and list(images["n_mcs"]) == [2, 1, 0, 1]
    assert (images["rows"] == 210).all() and list(images["laterality"]) == ["L", "R", "L", "R"]
    assert len(pd.read_csv(d / "mcs.tsv", sep="\t")) == 4
    assert len(pd.read_csv(d / "regions.tsv", sep="\t")) == 1
    summary = json.loads((d / "summary.json").read_text())
    assert summary["source"]["skipped_rois"] == {"Calcification (5 points)": 1, "Mass": 1,
                                                 "Point 1": 1}
    assert summary["source"]["mcs"] == 4 and summary["source"]["patients"] == 3
    assert ("| source: skipped rois | Calcification (5 points): 1, Mass: 1, Point 1: 1 |"
            in (d / "summary.md").read_text())
    folds = pd.read_csv(d / "folds.tsv", sep="\t")
    assert list(folds["fold"]) == [0, 0, 1, 1]
    assert not (root / "results").exists()  # the release folder is only read


def test_workflow_rejects_a_region_only_source_with_the_reason(tmp_path):
    overlay = tmp_path / "cbis.yaml"
    overlay.write_text(f"dataset:\n  source: cbis_ddsm\n  dicom_dir: {tmp_path}\n")
    proc = snakemake(tmp_path / "work", "-n", overlay=overlay, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "'cbis_ddsm' is evaluation-only" in out and "cannot be trained" in out
