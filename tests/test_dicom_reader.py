"""The one mammogram reader: edge cases give the expected array and annotation coordinates."""

import numpy as np
import pytest

from helpers import breast_like, spot_image
from mcdetect.data.dicom import MammogramError, read_header, read_mammogram


def test_monochrome1_is_inverted_by_the_stored_bit_range(write):
    px = np.array([[0, 100, 16383], [8000, 4000, 2]], np.uint16)
    m1 = read_mammogram(write("m1.dcm", px, photometric="MONOCHROME1", bits_stored=14)).image
    m2 = read_mammogram(write("m2.dcm", px, photometric="MONOCHROME2", bits_stored=14)).image
    np.testing.assert_allclose(m2, px / 16383.0, atol=1e-6)
    np.testing.assert_allclose(m1, 1.0 - px / 16383.0, atol=1e-6)


def test_12_bit_images_are_normalised_by_bits_stored_not_dtype_or_image_max(write):
    px = np.array([[0, 1024, 2048], [4095, 3000, 1]], np.uint16)
    img = read_mammogram(write("b12.dcm", px, bits_stored=12)).image
    np.testing.assert_allclose(img, px / 4095.0, atol=1e-6)
    half = read_mammogram(write("b12h.dcm", px // 2, bits_stored=12)).image
    assert half.max() == pytest.approx(2047 / 4095, abs=1e-6)  # not stretched to 1


def test_modality_rescale_is_applied_before_normalisation(write):
    px = np.array([[0, 5000], [16383, 100]], np.uint16)
    img = read_mammogram(
        write("resc.dcm", px, extra={"RescaleSlope": 2, "RescaleIntercept": -100})
    ).image
    np.testing.assert_allclose(img, px / 16383.0, atol=1e-6)  # linear rescale keeps the range


def test_007mm_spacing_is_resampled_to_01mm_with_annotations_on_the_mc(write):
    rows, cols, x, y = 700, 560, 301.3, 402.7
    px = spot_image(rows, cols, x, y, sigma=3.0)
    path = write("s007.dcm", px, spacing_mm=0.07, imager_spacing_mm=None)
    m = read_mammogram(path, target_spacing_mm=0.1)
    assert m.image.shape == (490, 392)
    cx, cy = m.header.to_canonical([x], [y])
    # centroid of the spot in the resampled image
    w = np.clip(m.image - np.median(m.image), 0, None)
    w[w < 0.5 * w.max()] = 0
    yy, xx = np.mgrid[0 : w.shape[0], 0 : w.shape[1]]
    assert (w * xx).sum() / w.sum() == pytest.approx(cx[0], abs=0.15)
    assert (w * yy).sum() / w.sum() == pytest.approx(cy[0], abs=0.15)


def test_imager_pixel_spacing_is_divided_by_the_magnification_factor(write):
    px = breast_like(220, 200)
    path = write("mag.dcm", px, spacing_mm=None, imager_spacing_mm=0.11,
                 extra={"EstimatedRadiographicMagnificationFactor": 1.1})
    h = read_header(path)
    assert h.spacing_source == "ImagerPixelSpacing"
    assert h.src_spacing_mm == pytest.approx((0.1, 0.1))
    assert read_mammogram(path).image.shape == (220, 200)


def test_jpeg2000_compressed_file_decodes_to_the_same_image(write):
    px = (breast_like(256, 200).astype(np.int32) + np.arange(200)[None, :] * 7).astype(np.uint16)
    plain = read_mammogram(write("plain.dcm", px)).image
    path = write("j2k.dcm", px, compression="jpeg2000")
    m = read_mammogram(path)
    assert m.header.transfer_syntax == "1.2.840.10008.1.2.4.90"
    np.testing.assert_array_equal(m.image, plain)


def test_jpegls_compressed_file_decodes_to_the_same_image(write):
    px = (breast_like(256, 200).astype(np.int32) + np.arange(200)[None, :] * 5).astype(np.uint16)
    plain = read_mammogram(write("plain.dcm", px)).image
    m = read_mammogram(write("jls.dcm", px, compression="jpegls"))
    assert m.header.transfer_syntax == "1.2.840.10008.1.2.4.80"
    np.testing.assert_array_equal(m.image, plain)


def test_right_breast_is_flipped_to_chest_wall_left_with_its_annotations(write):
    rows, cols, x, y = 300, 240, 200.0, 120.0  # MC near the right (chest wall) side
    spot = spot_image(rows, cols, x, y, base=0, peak=16000)
    px = np.maximum(breast_like(rows, cols, chest_wall="right"), spot)
    m = read_mammogram(write("r.dcm", px, laterality="R"))
    assert m.header.flipped
    cx, cy = m.header.to_canonical([x], [y])
    assert cx[0] == pytest.approx(cols - 1 - x) and cy[0] == pytest.approx(y)
    iy, ix = np.unravel_index(np.argmax(m.image), m.image.shape)
    assert (ix, iy) == (round(cx[0]), round(cy[0]))
    assert m.image[:, : cols // 2].mean() > m.image[:, cols // 2 :].mean()  # chest wall left


@pytest.mark.parametrize(
    "laterality, orientation, hflip, expected",
    [
        ("L", None, None, False),
        ("R", None, None, True),
        ("R", None, "YES", False),
        ("L", ["P", "L"], None, True),  # orientation wins over laterality
        ("R", ["A", "R"], None, False),
    ],
)
def test_flip_rules(write, laterality, orientation, hflip, expected):
    extra = {"FieldOfViewHorizontalFlip": hflip} if hflip else None
    px = breast_like(64, 64)
    h = read_header(write("f.dcm", px, laterality=laterality, orientation=orientation,
                          extra=extra))
    assert h.flipped is expected


def test_unknown_laterality_is_decided_from_the_image(write):
    m = read_mammogram(write("u.dcm", breast_like(128, 128, chest_wall="right"), laterality=None))
    assert m.header.flipped
    assert m.image[:, :64].mean() > m.image[:, 64:].mean()


def test_patient_id_is_pseudonymised(write):
    h = read_header(write("p.dcm", breast_like(64, 64), patient={"id": "SECRET-123"}),
                    pseudonym_key="k")
    assert h.patient_key.startswith("pat-") and "SECRET" not in h.patient_key
    assert h.patient_key == read_header(
        write("p2.dcm", breast_like(64, 64), patient={"id": "SECRET-123"}), pseudonym_key="k"
    ).patient_key


def test_truncated_file_names_the_file(write):
    path = write("trunc.dcm", breast_like(256, 256))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MammogramError) as err:
        read_mammogram(path)
    assert str(err.value).startswith(str(path)) and "truncated" in str(err.value)


def test_non_dicom_file_names_the_file(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("this is not a mammogram\n")
    with pytest.raises(MammogramError) as err:
        read_mammogram(path)
    assert str(err.value) == f"{path}: not a DICOM file (no 'DICM' preamble)"


def test_missing_spacing_names_the_file(write):
    path = write("nosp.dcm", breast_like(64, 64), spacing_mm=None, imager_spacing_mm=None)
    with pytest.raises(MammogramError) as err:
        read_header(path)
    assert str(err.value).startswith(str(path)) and "no pixel spacing" in str(err.value)


def test_canonical_positions_map_back_onto_the_original_pixels_right_breast_007(write):
    """A right breast at 0.07 mm (mirrored and resampled to 0.1 mm by the reader): a speck at a
    known original pixel is found in the canonical image, and to_source takes its canonical
    position back to that pixel; to_source inverts to_canonical everywhere."""
    x, y = 301, 212  # original pixel (column, row)
    px = breast_like(420, 360, chest_wall="right").astype(np.int32)
    px = np.clip(px + spot_image(420, 360, x, y, sigma=2.0, base=0, peak=6000), 0, 16383)
    m = read_mammogram(write("r007.dcm", px, laterality="R", spacing_mm=0.07,
                             imager_spacing_mm=0.07))
    h = m.header
    assert h.flipped and h.shape == (294, 252)  # 420 x 360 at 0.07 mm -> 0.1 mm
    (cx,), (cy,) = h.to_canonical([x], [y])
    win = m.image[int(cy) - 5:int(cy) + 6, int(cx) - 5:int(cx) + 6]
    peak_y, peak_x = np.unravel_index(np.argmax(win), win.shape)
    (sx,), (sy,) = h.to_source([int(cx) - 5 + peak_x], [int(cy) - 5 + peak_y])
    assert abs(sx - x) <= 0.72 and abs(sy - y) <= 0.72  # half a canonical pixel: 0.71 px
    grid = np.random.default_rng(0).uniform(0, 250, (2, 50))
    back = h.to_canonical(*h.to_source(*grid))
    np.testing.assert_allclose(back, grid, atol=1e-9)
