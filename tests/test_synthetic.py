"""Realism of the embedded synthetic dataset: each property the study relies on is checked."""

import cv2
import numpy as np
import pydicom
import pytest
from scipy.stats import spearmanr

from mcdetect.data.dicom import read_mammogram
from mcdetect.data.synthetic import (
    SyntheticConfig,
    generate_image,
    image_plan,
    measure_beta,
    power_law_field,
    synthesize,
)
from mcdetect.preprocessing.mask import breast_mask
from mcdetect.preprocessing.variants import dehaze, normalise

CFG = SyntheticConfig(rows=768, cols=640, patients=4)


@pytest.fixture(scope="module")
def images():
    """Eight generated images of four patients (canonical truth + stored pixels)."""
    out = []
    for item in image_plan(CFG)[::2]:
        out.append(generate_image(CFG, item["index"], item["laterality"], item["view"],
                                  patient_rng_seed=item["patient"]))
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    cfg = SyntheticConfig(rows=512, cols=416, patients=3)
    summary = synthesize(cfg, root / "dicom", root / "mcs.csv", root / "summary.json",
                         log=lambda *a: None)
    return cfg, root, summary


def canonical(img):
    """Reader-equivalent intensity of a generated image, in canonical orientation."""
    i = 1.0 - img.stored.astype(np.float64) / 16383.0
    return i[:, ::-1] if img.laterality == "R" else i


def test_dicom_files_carry_the_raw_mammogram_tags(dataset):
    cfg, root, _ = dataset
    plan = image_plan(cfg)
    seen = set()
    for item in plan:
        ds = pydicom.dcmread(root / "dicom" / item["file"])
        assert ds.Modality == "MG"
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 14, 13)
        assert [float(v) for v in ds.PixelSpacing] == [0.1, 0.1]
        assert [float(v) for v in ds.ImagerPixelSpacing] == [0.1, 0.1]
        assert ds.PresentationIntentType == "FOR PROCESSING"
        assert ds.PhotometricInterpretation == "MONOCHROME1"
        assert ds.ImageLaterality == item["laterality"] and ds.ViewPosition == item["view"]
        assert str(ds.PatientName) and ds.PatientID and ds.StudyDate and ds.PatientBirthDate
        seen.add((ds.PatientID, ds.ImageLaterality, ds.ViewPosition))
        assert int(ds.pixel_array.max()) <= 2**14 - 1
    assert len({p for p, _, _ in seen}) == cfg.patients  # 4 images per patient
    assert len(seen) == len(plan)


def test_signal_is_linear_in_fluence_and_the_reader_shows_attenuation_bright(images):
    img = images[0]
    path_signal = img.truth["expected_adu"] / 16383.0  # gain * PSF(N0 * exp(-int mu dz) * M)
    unsaturated = img.truth["mask"] & (img.truth["expected_adu"] < 16000)
    observed = 1.0 - canonical(img)  # what MONOCHROME1 stored: linear detector signal
    slope, icpt = np.polyfit(path_signal[unsaturated], observed[unsaturated], 1)
    assert slope == pytest.approx(1.0, abs=0.01) and abs(icpt) < 1e-3
    # Thicker/denser tissue attenuates more and is shown brighter by the reader.
    i = canonical(img)
    line = img.truth["thickness"] * (1 + img.truth["gland"])
    assert spearmanr(line[unsaturated][::37], i[unsaturated][::37]).statistic > 0.8


def test_quantum_noise_is_poisson_blurred_by_a_detector_psf(images):
    img = images[1]
    stored = img.stored[:, ::-1] if img.laterality == "R" else img.stored
    expected = img.truth["expected_adu"]
    noise = stored.astype(np.float64) - expected
    inside = img.truth["mask"] & (expected < 16000) & (expected > 200)
    inside = cv2.erode(inside.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    # variance proportional to the mean signal (Poisson), across a 3x range of signal
    edges = np.quantile(expected[inside], [0.02, 0.2, 0.8, 0.98])
    lo = inside & (expected < edges[1]) & (expected > edges[0])
    hi = inside & (expected > edges[2]) & (expected < edges[3])
    assert expected[hi].mean() > 1.5 * expected[lo].mean()
    ratio_lo = noise[lo].var() / expected[lo].mean()
    ratio_hi = noise[hi].var() / expected[hi].mean()
    assert ratio_hi == pytest.approx(ratio_lo, rel=0.3)
    # a PSF correlates neighbouring pixels' noise (white noise would give ~0)
    ys, xs = np.nonzero(inside[:, :-1] & inside[:, 1:])
    corr = np.corrcoef(noise[ys, xs], noise[ys, xs + 1])[0, 1]
    assert 0.2 < corr < 0.9


def test_breast_outline_thickness_rolloff_air_and_pectoral_muscle(images):
    for img in images:
        i, m, t = canonical(img), img.truth["mask"], img.truth["thickness"]
        assert abs(i[~m].mean() - 0.05) < 0.01  # air: the unattenuated beam at 95% of full scale
        full, edge = m & (t > 0.95 * t.max()), m & (t < 0.5 * t.max())
        assert edge.sum() > 0 and i[edge].mean() < i[full].mean()  # thinner at the skin line
        assert i[:, : i.shape[1] // 4][m[:, : i.shape[1] // 4]].size > 0  # against the chest wall
        if img.view == "MLO":
            pect = img.truth["pectoral"]
            near = cv2.dilate(pect.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
            near &= m & ~pect & (t > 0.95 * t.max())
            assert pect.sum() > 0 and i[pect].mean() > i[near].mean()
        else:
            assert not img.truth["pectoral"].any()


def test_power_law_field_and_measured_beta_inside_the_breast(images):
    rng = np.random.default_rng(0)
    for beta in (2.5, 3.0, 3.5):
        f = power_law_field((512, 512), beta, rng, f_min=1 / 400)
        assert measure_beta(f) == pytest.approx(beta, abs=0.25)
    measured = []
    for img in images:
        i, m, t = canonical(img), img.truth["mask"], img.truth["thickness"]
        core = m & (t > 0.99 * t.max()) & ~img.truth["pectoral"]
        measured.append(measure_beta(i, core))
    assert all(2.5 <= b <= 3.5 for b in measured), measured  # the range known for mammograms
    assert np.ptp(measured) > 0.2  # and it varies between images


def test_microcalcifications_sizes_clusters_and_contrast(images):
    mcs = [mc for img in images for mc in img.mcs]
    d = np.array([mc["diameter_mm"] for mc in mcs])
    assert d.min() >= 0.1 and d.max() <= 1.0
    per_cluster = {}
    for k, img in enumerate(images):
        for mc in img.mcs:
            if mc["cluster_id"] >= 0:
                per_cluster[(k, mc["cluster_id"])] = per_cluster.get((k, mc["cluster_id"]), 0) + 1
    assert per_cluster and all(3 <= n <= 30 for n in per_cluster.values())
    assert any(mc["cluster_id"] == -1 for mc in mcs)  # isolated MCs too
    contrast = np.array([mc["contrast"] for mc in mcs])
    assert spearmanr(d, contrast).statistic > 0.6  # contrast grows with size
    assert np.all(contrast > 0) and np.median([mc["cnr"] for mc in mcs]) > 1


def test_mc_free_images_and_both_lateralities(dataset):
    cfg, root, summary = dataset
    assert 0 < summary["images_with_mcs"] < summary["images"]
    plan = image_plan(cfg)
    assert {p["laterality"] for p in plan} == {"L", "R"}
    assert summary["mcs"] == summary["clustered_mcs"] + summary["isolated_mcs"]


def test_stored_right_breasts_and_csv_coordinates_land_on_the_mcs(dataset):
    import pandas as pd

    cfg, root, _ = dataset
    table = pd.read_csv(root / "mcs.csv")
    big = table[table["diameter_mm"] > 0.4]
    assert len(big) > 0
    for _, mc in big.iterrows():
        m = read_mammogram(root / "dicom" / mc["file"])
        cx, cy = m.header.to_canonical([mc["x"]], [mc["y"]])
        x, y = int(round(cx[0])), int(round(cy[0]))
        background = np.median(m.image[y - 6 : y + 7, x - 6 : x + 7])
        peak = m.image[y - 1 : y + 2, x - 1 : x + 2].max()
        # I = 1 - c B M: the MC raises I by its relative contrast times (1 - background)
        assert peak - background > 0.5 * mc["contrast"] * (1 - background)


def test_generation_is_deterministic_for_a_seed():
    a = generate_image(CFG, 3, "R", "MLO", patient_rng_seed=1)
    b = generate_image(CFG, 3, "R", "MLO", patient_rng_seed=1)
    c = generate_image(SyntheticConfig(rows=768, cols=640, seed=7), 3, "R", "MLO",
                       patient_rng_seed=1)
    np.testing.assert_array_equal(a.stored, b.stored)
    assert a.mcs == b.mcs
    assert not np.array_equal(a.stored, c.stored)


def test_dehazing_equalises_mc_contrast_across_tissue_density():
    """dehazing-physics.md: on linear images dehazing divides out the background transmission, so
    identical MCs in dense tissue get back the contrast they lose there (reference 0.65 -> 0.95).
    Images as the study sees them: the reader's intensities after the study's normalisation.

    A grid of identical 0.3 mm MCs over the full-thickness breast; the top-hat response (11x11)
    relative to the image's spread, in the denser half of the MCs against the fattier half."""
    cfg = SyntheticConfig(rows=768, cols=640)
    kernel = np.ones((11, 11), np.uint8)
    before, after = [], []
    for idx in range(3):
        base = generate_image(cfg, idx, "L", "CC", patient_rng_seed=idx, mcs=[])
        m, t = base.truth["mask"], base.truth["thickness"]
        full = cv2.erode((m & (t > 0.97 * t.max())).astype(np.uint8), np.ones((15, 15), np.uint8))
        ys, xs = np.mgrid[20 : cfg.rows - 20 : 24, 20 : cfg.cols - 20 : 24]
        grid = [
            {"x": float(x), "y": float(y), "diameter_mm": 0.3, "mu_per_mm": 0.8,
             "elongation": 1.0, "theta": 0.0}
            for x, y in zip(xs.ravel(), ys.ravel(), strict=True) if full[y, x]
        ]
        img = generate_image(cfg, idx, "L", "CC", patient_rng_seed=idx, mcs=grid)
        i = canonical(img).astype(np.float32)
        i = normalise(i, breast_mask(i))
        gland = np.array([mc["gland"] for mc in img.mcs])
        dense = gland > np.median(gland)
        ratios = []
        for j in (i, dehaze(i, 0.9, 11)):
            tophat = j - cv2.erode(j, kernel)
            r = np.array([tophat[int(mc["y"]) - 1 : int(mc["y"]) + 2,
                                 int(mc["x"]) - 1 : int(mc["x"]) + 2].max() for mc in img.mcs])
            r /= j[m].std()
            ratios.append(r[dense].mean() / r[~dense].mean())
        before.append(ratios[0])
        after.append(ratios[1])
        assert ratios[1] > ratios[0] + 0.08
    assert np.mean(before) < 0.85
    assert np.mean(after) > 0.9 and np.mean(after) - np.mean(before) > 0.1


def test_mcs_occur_anywhere_in_the_breast_more_often_in_dense_tissue():
    """No location shortcut: MCs reach the thin periphery and the pectoral muscle of MLO views,
    and the only exclusion is the image border; the placement density follows the glandular
    fraction (placement_floor + g)."""
    cfg = SyntheticConfig(rows=512, cols=416, clusters_per_image=4, isolated_per_image=20,
                          mc_free_fraction=0.0)
    periphery = pectoral = 0
    gland_at_mc, gland_all = [], []
    for k in range(16):
        img = generate_image(cfg, k, "L", "MLO" if k % 2 else "CC", patient_rng_seed=k)
        t, m = img.truth["thickness"], img.truth["mask"]
        for mc in img.mcs:
            x, y = int(round(mc["x"])), int(round(mc["y"]))
            assert 8 <= x < cfg.cols - 8 and 8 <= y < cfg.rows - 8 and m[y, x]
            periphery += t[y, x] < 0.8 * t.max()
            pectoral += bool(img.truth["pectoral"][y, x])
            gland_at_mc.append(img.truth["gland"][y, x])
        gland_all.append(img.truth["gland"][m][::50])
    assert periphery > 0 and pectoral > 0
    assert np.mean(gland_at_mc) > np.mean(np.concatenate(gland_all)) + 0.02


def test_annotation_model_marks_only_visible_mcs(dataset):
    """Only MCs passing the documented Rose rule (cnr * sqrt(pi/4 * (d / spacing)^2) >= 5,
    written out here) are annotated (mcs.csv); mcs_all.csv keeps every planted MC, and the
    summary counts both."""
    import pandas as pd

    cfg, root, summary = dataset
    every = pd.read_csv(root / "mcs_all.csv")
    seen = pd.read_csv(root / "mcs.csv")
    area_px = np.pi / 4 * (every["diameter_mm"] / cfg.spacing_mm) ** 2
    rose = every["cnr"] * np.sqrt(area_px)
    np.testing.assert_array_equal(every["annotated"].to_numpy(), (rose >= 5).to_numpy())
    assert 0 < len(seen) == int(every["annotated"].sum()) < len(every)
    assert "annotated" not in seen.columns
    assert summary["mcs"] == len(seen) and summary["mcs_planted"] == len(every)
    assert summary["mcs_unannotated"] == len(every) - len(seen)
    assert summary["unannotated"]["cnr"]["p50"] < summary["cnr"]["p50"]


def test_stored_contrast_and_cnr_agree_with_a_measurement_on_the_generated_image(images):
    """Each planted MC's contrast and CNR, as the annotation model reads them, measured anew on
    the generated image by a separate estimator: the signal is the dip of the noiseless image
    against the same image generated without MCs, at the MC's stored position; the noise is the
    standard deviation of the stored pixels about the noiseless image on a ring 0.8-1.4 mm around
    the MC. They agree for most MCs (neighbours in a cluster disturb a few)."""
    stored_c, stored_cnr, measured_c, measured_cnr = [], [], [], []
    for item, img in zip(image_plan(CFG)[::2], images, strict=True):  # as the fixture made them
        bare = generate_image(CFG, item["index"], item["laterality"], item["view"],
                              patient_rng_seed=item["patient"], mcs=[])
        expected = img.truth["expected_adu"].astype(np.float64)
        background = bare.truth["expected_adu"].astype(np.float64)
        stored = img.stored.astype(np.float64)
        if img.laterality == "R":  # truth is canonical, the stored pixels and the CSV are not
            stored = stored[:, ::-1]
        noise = stored - expected
        for mc in img.mcs:
            x = mc["x"] if img.laterality == "L" else stored.shape[1] - 1 - mc["x"]
            r_px = mc["diameter_mm"] / CFG.spacing_mm / 2
            x0, y0 = int(round(x)) - 15, int(round(mc["y"])) - 15
            win = np.s_[max(y0, 0):y0 + 31, max(x0, 0):x0 + 31]
            yy, xx = np.mgrid[win]
            r = np.hypot(xx - x, yy - mc["y"])
            core, ring = r <= r_px + 1, (r >= 8) & (r <= 14)
            dip = (background[win] - expected[win])[core]
            k = np.argmax(dip)
            measured_c.append(dip[k] / background[win][core][k])
            measured_cnr.append(dip[k] / noise[win][ring].std())
            stored_c.append(mc["contrast"])
            stored_cnr.append(mc["cnr"])
    ratio_c = np.array(measured_c) / np.array(stored_c)
    ratio_cnr = np.array(measured_cnr) / np.array(stored_cnr)
    assert len(ratio_cnr) > 100
    assert spearmanr(measured_cnr, stored_cnr).statistic > 0.9
    assert 0.85 < np.median(ratio_cnr) < 1.15 and np.mean(np.abs(ratio_cnr - 1) < 0.25) > 0.75
    assert np.median(ratio_c) == pytest.approx(1, abs=0.02) and np.mean(
        np.abs(ratio_c - 1) < 0.1) > 0.8


def test_the_annotated_share_rises_with_size_and_contrast(images):
    """A reader sees the larger and the more contrasted MCs: per tertile of diameter and of
    contrast, the share of annotated MCs rises, from a minority to nearly all."""
    import pandas as pd

    mcs = pd.DataFrame([mc for img in images for mc in img.mcs])
    for column in ("diameter_mm", "contrast"):
        share = mcs.groupby(pd.qcut(mcs[column], 3, labels=False))["annotated"].mean()
        assert share.is_monotonic_increasing and share.iloc[0] < 0.5 < 0.9 < share.iloc[-1], (
            column, share.tolist())


def test_patch_means_do_not_give_mcs_away_on_the_default_dataset():
    """The brightness cue alone, computed here from the generated pixels (not by the generator's
    summary): the AUC of 12x12 patch means (reader intensities) at annotated MCs against breast
    positions at least 1 mm from every planted MC stays below 0.65 on the default dataset's
    generator (its first 8 patients)."""
    from scipy.stats import mannwhitneyu

    cfg = SyntheticConfig(patients=8)
    rng = np.random.default_rng(0)
    pos, neg = [], []
    for item in image_plan(cfg):
        img = generate_image(cfg, item["index"], item["laterality"], item["view"],
                             patient_rng_seed=item["patient"])
        intensity = 1.0 - img.stored.astype(np.float64) / 16383.0
        mask = img.truth["mask"][:, ::-1] if img.laterality == "R" else img.truth["mask"]
        means = cv2.blur(intensity, (12, 12), borderType=cv2.BORDER_REFLECT)  # centred at +6
        centres = np.full(mask.shape, 255, np.uint8)  # 0 at every planted MC
        for mc in img.mcs:
            centres[int(round(mc["y"])), int(round(mc["x"]))] = 0
        far = mask & (cv2.distanceTransform(centres, cv2.DIST_L2, 5) >= 10)  # 1 mm
        far[:8], far[-8:], far[:, :8], far[:, -8:] = False, False, False, False
        yy, xx = np.nonzero(far)
        pick = rng.choice(len(yy), size=min(200, len(yy)), replace=False)
        neg.extend(means[yy[pick], xx[pick]])
        pos.extend(means[int(round(mc["y"])), int(round(mc["x"]))]
                   for mc in img.mcs if mc["annotated"])
    assert len(pos) > 200
    u = mannwhitneyu(pos, neg).statistic
    assert u / (len(pos) * len(neg)) < 0.65
