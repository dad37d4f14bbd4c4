"""Whole-image detection: peaks and non-maximum suppression, one-to-one greedy matching, the FROC
curve and its summaries against independent computations, the paired bootstrap by image, and MC
clusters."""

import numpy as np
import pandas as pd
import pytest

from mcdetect.detection.clusters import (
    ClusterFroc,
    group_clusters,
    match_clusters,
    true_clusters,
)
from mcdetect.detection.froc import (
    FrocData,
    froc_bootstrap,
    froc_curve,
    froc_summary,
    match,
)
from mcdetect.detection.peaks import detect, local_maxima, suppress


def test_peaks_are_strict_local_maxima_inside_the_mask_above_the_floor():
    s = np.zeros((20, 20))
    s[5, 5], s[5, 7], s[15, 15], s[2, 18] = 3.0, 2.0, 1.0, 5.0
    mask = np.ones_like(s, bool)
    mask[:, 17:] = False  # (18, 2) lies outside the breast
    xs, ys, scores = local_maxima(s, mask, floor=0.5)
    assert sorted(zip(xs, ys, scores, strict=True)) == [(5, 5, 3.0), (7, 5, 2.0), (15, 15, 1.0)]
    s[10, 10] = np.nan  # unscored pixels are never peaks
    assert (10, 10) not in set(zip(*local_maxima(s, None, floor=-1)[:2], strict=True))


def test_suppression_keeps_the_higher_score_within_the_radius():
    xy = np.array([[0, 0], [2, 0], [5, 0], [0, 2.5]])
    keep = suppress(xy, np.array([1.0, 3.0, 2.0, 0.5]), radius=2.0)
    # 1 (score 3) removes 0 (at distance 2); 2 survives at distance 3; 3 is 3.2 from 1: kept
    assert list(keep) == [1, 2, 3]
    table = detect(np.pad(np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0.0]]), 3), None, floor=0.0,
                   nms_mm=0.3, spacing_mm=0.1)
    assert table[["x", "y"]].values.tolist() == [[4, 4]] and table["x_mm"].iloc[0] == 0.4


def test_matching_is_one_to_one_greedy_by_score():
    truth = np.array([[10.0, 10.0], [20.0, 10.0]])
    dets = np.array([[11, 10], [10, 11], [30, 30], [19, 10]], float)
    hit, taken = match(dets, np.array([0.9, 0.8, 0.7, 0.1]), truth, hit_radius=2.0)
    # the best mark takes MC 0; the second mark on MC 0 is a false positive; a far mark too
    assert hit.tolist() == [True, False, False, True] and taken.tolist() == [0, -1, -1, 1]
    # a higher score takes the MC even when a lower-scored mark is nearer
    hit, taken = match(np.array([[11.5, 10], [10, 10]]), np.array([0.9, 0.2]), truth[:1], 2.0)
    assert hit.tolist() == [True, False]


def _reference_froc(dets, images, threshold):
    """Sensitivity and FP/image at one threshold, counted directly."""
    kept = dets[dets["score"] >= threshold]
    return kept["hit"].sum() / images["n_truth"].sum(), (~kept["hit"]).sum() / len(images)


def _random_study(rng, n_images=12):
    images = pd.DataFrame({"image_id": [f"i{k}" for k in range(n_images)],
                           "n_truth": rng.integers(0, 5, n_images)})
    rows = []
    for _, im in images.iterrows():
        for _ in range(rng.integers(0, 8)):
            rows.append({"image_id": im["image_id"], "score": float(rng.integers(0, 20)) / 4,
                         "hit": bool(rng.random() < 0.4) and im["n_truth"] > 0})
    return pd.DataFrame(rows), images


def test_froc_points_equal_direct_counts_at_every_threshold_ties_included():
    dets, images = _random_study(np.random.default_rng(1))
    curve = froc_curve(dets, images)
    assert curve.iloc[0].tolist()[:2] == [0.0, 0.0]
    for _, point in curve.iloc[1:].iterrows():
        sens, fppi = _reference_froc(dets, images, point["threshold"])
        assert point["sensitivity"] == pytest.approx(sens)
        assert point["fp_per_image"] == pytest.approx(fppi)


def test_summaries_equal_a_fine_numerical_integration_of_the_step_function():
    dets, images = _random_study(np.random.default_rng(2), n_images=6)
    curve = froc_curve(dets, images)
    f, s = curve["fp_per_image"].to_numpy(), curve["sensitivity"].to_numpy()
    summary = froc_summary(f, s)

    def step(x):
        return s[np.searchsorted(f, x, side="right") - 1]

    for hi in (1.0, 10.0):
        grid = np.linspace(0, hi, 200_001)[:-1] + hi / 400_000  # midpoints
        assert summary[f"area[0,{hi:g}]"] == pytest.approx(step(grid).mean(), abs=1e-4)
    assert summary["sens@1"] == step(np.array([1.0]))[0]


def test_bootstrap_weights_equal_duplicated_images():
    """A resample is the study with drawn images repeated: weighted counts must equal the
    FROC of the explicitly duplicated study."""
    rng = np.random.default_rng(3)
    dets, images = _random_study(rng)
    w = rng.integers(0, 3, len(images))
    f, s, _ = FrocData(dets, images).curve(w.astype(float))
    dup_images, dup_dets = [], []
    for k, (_, im) in enumerate(images.iterrows()):
        for c in range(w[k]):
            new = f"{im['image_id']}#{c}"
            dup_images.append({"image_id": new, "n_truth": im["n_truth"]})
            d = dets[dets["image_id"] == im["image_id"]].assign(image_id=new)
            dup_dets.append(d)
    ref = froc_curve(pd.concat(dup_dets), pd.DataFrame(dup_images))
    assert froc_summary(f, s) == pytest.approx(
        froc_summary(ref["fp_per_image"].to_numpy(), ref["sensitivity"].to_numpy()))


def test_paired_bootstrap_of_identical_methods_finds_no_difference():
    dets, images = _random_study(np.random.default_rng(4), n_images=30)
    better = dets.assign(score=dets["score"] + 10 * dets["hit"])  # every hit ranked first
    methods = {k: FrocData(d, images) for k, d in {"a": dets, "b": dets.copy(),
                                                   "c": better}.items()}
    table, diffs, bands = froc_bootstrap(methods, images, [("b", "a"), ("c", "a")], n_boot=200,
                                         seed=1)
    two = froc_bootstrap(methods, images, [("b", "a"), ("c", "a")], n_boot=200, seed=1,
                         workers=2)  # the resamples do not depend on the number of processes
    for mine, theirs in zip((table, diffs, bands), two, strict=True):
        pd.testing.assert_frame_equal(mine, theirs)
    same = diffs[diffs["comparison"] == "b - a"]
    assert (same["difference"] == 0).all() and (same["p"] == 1).all()
    gain = diffs[(diffs["comparison"] == "c - a") & (diffs["summary"] == "area[0,1]")].iloc[0]
    assert gain["difference"] > 0 and gain["ci_low"] > 0 and gain["significant"]
    assert set(table["method"]) == {"a", "b", "c"}
    for name, g in bands.groupby("method"):  # the curve on the band's grid, and its band
        f, s, _ = methods[name].curve()
        k = np.searchsorted(f, g["fp_per_image"].to_numpy(), side="right") - 1
        np.testing.assert_array_equal(g["sensitivity"], s[k])
        assert (g["ci_low"] <= g["ci_high"]).all() and (g["ci_high"] > g["ci_low"]).any()


def test_normal_image_counting_and_the_significance_family_of_the_study_tables():
    """froc_tables counts false positives on the normal images (the headline, checked against a
    direct count) and on all images; significance covers the family of every comparison of both
    levels in the two reported summaries under the headline count, and nothing else."""
    from mcdetect.design import StudyDesign
    from mcdetect.detection.study import FAMILY_SUMMARIES, froc_tables

    rng = np.random.default_rng(9)
    dets, images = _random_study(rng, n_images=40)
    assert (images["n_truth"] == 0).sum() >= 3
    better = dets.assign(score=dets["score"] + 10 * dets["hit"])
    design = StudyDesign.build(["raw", "dehaze"], {"raw": "UN", "dehaze": "DH"}, "raw", [],
                               ["vgg"])
    methods = {"raw/vgg": dets, "dehaze/vgg": better, "raw/dog": dets, "dehaze/dog": dets}
    levels = {"MC": {k: FrocData(d, images) for k, d in methods.items()}}
    tables = froc_tables(design, levels, images, units=None, n_boot=400, seed=3)
    curves = tables["curves"]
    assert list(dict.fromkeys(curves["fp_over"])) == ["normal", "all"]
    normal_ids = set(images.loc[images["n_truth"] == 0, "image_id"])
    c = curves[(curves["fp_over"] == "normal") & (curves["model"] == "raw/vgg")]
    for _, point in c.iloc[1:].iterrows():
        kept = dets[(dets["score"] >= point["threshold"]) & dets["image_id"].isin(normal_ids)]
        assert point["fp_per_image"] == pytest.approx((~kept["hit"]).sum() / len(normal_ids))
    comparisons = tables["comparisons"]
    # DH - UN for vgg and for dog, and vgg against dog on each variant: 4 pairs x 2 summaries
    assert (comparisons["m"] == 4 * len(FAMILY_SUMMARIES)).all()
    significant = comparisons[comparisons["significant"]]
    assert len(significant) and (significant["fp_over"] == "normal").all()
    assert significant["summary"].isin(FAMILY_SUMMARIES).all()
    assert (significant["p"] < 0.05 / (4 * len(FAMILY_SUMMARIES))).all()
    # without normal images only the all-image count is left
    busy = images.assign(n_truth=images["n_truth"] + 1)
    with pytest.warns(UserWarning, match="20 resamples cannot reach p < 0.0063"):
        tables = froc_tables(design, {"MC": {k: FrocData(d, busy) for k, d in methods.items()}},
                             busy, units=None, n_boot=20, seed=3)
    assert set(tables["summaries"]["fp_over"]) == {"all"}


def test_three_close_marks_make_a_cluster_scored_by_its_third_member():
    dets = pd.DataFrame({"x_mm": [10, 12, 13, 40, 41, 80], "y_mm": [10, 11, 14, 40, 40, 80],
                         "score": [0.9, 0.5, 0.7, 0.99, 0.98, 1.0]})
    clusters = group_clusters(dets)
    assert len(clusters) == 1  # the pair at 40 mm and the single mark are not clusters
    c = clusters.iloc[0]
    assert c["n_mcs"] == 3 and c["score"] == 0.5
    assert (c["x_mm"], c["y_mm"]) == (pytest.approx(35 / 3), pytest.approx(35 / 3))
    regions = pd.DataFrame([{"shape": "circle", "cx": 115.0, "cy": 115.0, "radius": 50.0,
                             "points": ""}])
    hit, taken = match_clusters(pd.concat([clusters, clusters]), regions, spacing_mm=0.1)
    assert hit.tolist() == [True, False]  # one outline, hit once


def test_true_clusters_are_hulls_of_labels_with_three_annotated_mcs_or_the_given_outlines():
    mcs = pd.DataFrame({"image_id": ["a"] * 6 + ["b"],
                        "x": [100, 110, 105, 300, 310, 500, 50],
                        "y": [100, 100, 120, 300, 300, 500, 50],
                        "cluster_id": [0, 0, 0, 1, 1, -1, 0]})
    truth = true_clusters(mcs, margin=7.0)
    assert truth["image_id"].tolist() == ["a"]  # 2 MCs (label 1) and 1 MC (image b): none
    hull = truth.iloc[0]
    from mcdetect.data.regions import inside_region

    assert inside_region(hull, [100, 110, 105, 105, 93.5], [100, 100, 120, 108, 100]).all()
    assert not inside_region(hull, [91, 130, 300], [100, 100, 300]).any()  # beyond the margin
    given = pd.DataFrame([{"image_id": "a", "region_id": 0, "label": "Cluster",
                           "shape": "circle", "cx": 5.0, "cy": 5.0, "radius": 2.0, "x0": 3.0,
                           "y0": 3.0, "x1": 7.0, "y1": 7.0, "points": ""}])
    assert true_clusters(mcs, given)["label"].tolist() == ["Cluster"]


def test_cluster_froc_forms_clusters_at_each_threshold():
    """Image a: a true cluster marked at 0.9/0.8/0.7 and a false triple at 0.6/0.5/0.4; image b
    (normal): one strong mark and a weak pair that makes a false cluster only at 0.2."""
    dets = pd.DataFrame({
        "image_id": ["a"] * 6 + ["b"] * 3,
        "x_mm": [10, 11, 10.5, 50, 51, 50.5, 30, 31, 30.5],
        "y_mm": [10, 10, 11, 50, 50, 51, 30, 30, 31],
        "score": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.95, 0.3, 0.2]})
    mcs = pd.DataFrame({"image_id": ["a"] * 3, "x": [100, 110, 105], "y": [100, 100, 110],
                        "cluster_id": [0, 0, 0]})
    images = pd.DataFrame({"image_id": ["a", "b"]})
    froc = ClusterFroc(dets, true_clusters(mcs, margin=5.0), images, spacing_mm=0.1)
    assert froc.n_truth.tolist() == [1, 0]
    assert len(froc.thresholds) == 9  # every mark's score: 9 marks, 80 grid points
    f, s, t = froc.curve()
    points = dict(zip(t, zip(f, s, strict=True), strict=True))
    assert points[0.7] == (0.0, 1.0) and points[0.8] == (0.0, 0.0)
    assert points[0.4] == (0.5, 1.0) and points[0.2] == (1.0, 1.0)
    f, _, _ = froc.curve(normal_only=True)  # false clusters on the normal image b only
    assert f[-1] == 1.0
    summary = froc_summary(*froc.curve()[:2])
    assert summary["sens@0.1"] == 1.0 and summary["fp@all"] == 1.0
