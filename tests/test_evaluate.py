"""Mean sensitivity (Eq. 16) computed exactly, and the paired bootstrap by sample and by patient."""

import numpy as np
import pytest

from mcdetect.design import StudyDesign
from mcdetect.evaluation.bootstrap import bootstrap_weights, paired_bootstrap
from mcdetect.evaluation.metrics import auc, mean_sensitivity, resolution, weighted_mean_sensitivity
from mcdetect.evaluation.tables import gains_over_baselines, per_fold_summary

LABELS = {"raw": "UN", "clahe": "CL", "dehaze": "DH", "dehaze_guided": "DG"}

A, B = 1e-6, 0.1


def brute_s(pos, neg, f):
    """s(f) by definition: the best TPR over all thresholds whose FPR is at most f."""
    thresholds = np.r_[np.inf, np.unique(np.r_[pos, neg])]
    best = 0.0
    for t in thresholds:
        if (neg >= t).mean() <= f:
            best = max(best, (pos >= t).mean())
    return best


def test_constant_sensitivity():
    neg = np.arange(1000, dtype=float)
    assert mean_sensitivity(np.full(7, 5000.0), neg) == pytest.approx(1.0, abs=1e-12)
    assert mean_sensitivity(np.full(7, -1.0), neg) == pytest.approx(0.0, abs=1e-12)
    half = np.r_[np.full(5, 5000.0), np.full(5, -1.0)]
    assert mean_sensitivity(half, neg) == pytest.approx(0.5, abs=1e-12)


def test_two_level_sensitivity_matches_the_closed_form():
    n = 10_000
    neg = -np.arange(n, dtype=float)  # rank m has score -m
    # 2 of 10 positives above every negative; 5 more just above the negative of rank 100:
    pos = np.r_[np.full(2, 1.0), np.full(5, -100.5), np.full(3, -1e9)]
    f1 = 101 / n  # from f = 101/N the threshold may sit below rank 100, so 7/10 are found
    expected = (0.2 * (np.log(f1) - np.log(A)) + 0.7 * (np.log(B) - np.log(f1))) / np.log(B / A)
    assert mean_sensitivity(pos, neg) == pytest.approx(expected, abs=1e-12)


def test_sensitivity_linear_in_log_fpr_matches_the_closed_form():
    """P positives placed so that s rises by 1/P at log-spaced FPRs between a and b: s is (the
    step version of) a linear function of ln f, and S has a closed form."""
    n, p, a = 1_000_000, 500, 1e-5
    neg = -np.arange(n, dtype=float)
    f_j = a * (B / a) ** (np.arange(p) / p)
    rank = np.ceil(f_j * n).astype(int)  # positive j is found once m >= rank_j
    pos = -(rank - 0.5)
    f_hat = np.maximum(rank / n, a)
    expected = np.sum(np.log(B) - np.log(f_hat)) / p / np.log(B / a)
    assert mean_sensitivity(pos, neg, a=a) == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(0.5, abs=2e-3)  # the continuous linear case


@pytest.mark.parametrize("seed", range(4))
def test_mean_sensitivity_equals_a_brute_force_integral_on_random_rocs(seed):
    rng = np.random.default_rng(seed)
    neg = np.round(rng.normal(0, 1, 400), 1)  # ties on purpose
    pos = np.round(rng.normal(1.5, 1, 30), 1)
    a, b = 1e-3, 0.3
    grid = np.exp(np.linspace(np.log(a), np.log(b), 20001))
    s = np.array([brute_s(pos, neg, f) for f in grid[::50]])
    s_full = np.repeat(s, 50)[: len(grid)]
    # brute force: s evaluated at the left end of each small ln-f interval (s is a step function)
    integral = np.sum(s_full[:-1] * np.diff(np.log(grid))) / np.log(b / a)
    assert mean_sensitivity(pos, neg, a=a, b=b) == pytest.approx(integral, abs=5e-3)
    # and exactly, pointwise: the steps at a few f
    for f in (a, 1 / 400, 3 / 400, 0.1, 0.29):
        m = int(np.floor(f * 400))
        nd = np.sort(neg)[::-1]
        assert (pos > nd[m]).mean() == pytest.approx(brute_s(pos, neg, f))


def test_integer_weights_equal_duplicated_samples():
    rng = np.random.default_rng(7)
    pos, neg = rng.normal(1, 1, 50), rng.normal(0, 1, 3000)
    pw, nw = rng.integers(0, 3, 50), rng.integers(0, 3, 3000)
    dup = mean_sensitivity(np.repeat(pos, pw), np.repeat(neg, nw), a=1e-4)
    assert weighted_mean_sensitivity(pos, neg, pw, nw, a=1e-4) == pytest.approx(dup, abs=1e-12)


def test_resolution_flags_a_below_one_over_n():
    assert resolution(1000, 1e-6)["a_below_resolution"]
    assert not resolution(10_000_000, 1e-6)["a_below_resolution"]


def test_bootstrap_weights_stratify_samples_and_keep_a_units_samples_together():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(40, int), np.zeros(400, int)]
    images = np.r_[np.repeat(np.arange(8), 5), np.repeat(np.arange(8), 50)]
    w = bootstrap_weights(labels, None, rng)
    assert w[labels == 1].sum() == 40 and w[labels == 0].sum() == 400
    for _ in range(20):
        wi = bootstrap_weights(labels, images, rng)
        for img in range(8):  # an image's positives and negatives are drawn together
            assert len(set(wi[images == img])) == 1
        assert wi.sum() == 440  # 8 images of equal size, 8 drawn
    # paired: one weight vector serves every model, so equal models give equal resampled S
    s1 = rng.normal(size=440)
    a = weighted_mean_sensitivity(s1[labels == 1], s1[labels == 0], w[labels == 1],
                                  w[labels == 0], a=1e-3)
    b = weighted_mean_sensitivity(s1[labels == 1], s1[labels == 0], w[labels == 1],
                                  w[labels == 0], a=1e-3)
    assert a == b


def test_a_unit_resample_without_positives_is_drawn_again():
    """Only patient 0 has positives: every resample by patient must still hold some."""
    from mcdetect.evaluation import bootstrap as evaluate

    rng = np.random.default_rng(1)
    labels = np.r_[np.ones(5, int), np.zeros(100, int)]
    patients = np.r_[np.zeros(5, int), np.repeat(np.arange(10), 10)]
    for _ in range(50):
        w = bootstrap_weights(labels, patients, rng)
        assert w[labels == 1].sum() > 0
    plan = evaluate._Plan({"m": rng.normal(size=105) + labels}, labels, patients, 1e-3, 0.1,
                          np.geomspace(1e-3, 0.1, 5), 0)
    for r in range(50):
        assert plan.weights(r)[0].sum() > 0 and np.isfinite(plan.resample(r)[0]["m"][0])


def test_identical_models_are_never_significantly_different_and_table3_marks_bonferroni():
    from mcdetect.evaluation.bootstrap import paired_bootstrap, paired_p_value
    from mcdetect.evaluation.tables import table3

    rng = np.random.default_rng(3)
    labels = np.r_[np.ones(60, int), np.zeros(3000, int)]
    base = rng.normal(size=len(labels)) + 1.5 * labels
    scores = {
        "raw/vgg": base,
        "clahe/vgg": base.copy(),  # identical to raw
        "dehaze/vgg": base + 3.0 * labels,  # much better
    }
    res = paired_bootstrap(scores, labels, n_boot=200, seed=1, a=1e-3, log=lambda *a: None)
    assert paired_p_value(res["boot"]["clahe/vgg"], res["boot"]["raw/vgg"]) == 1.0
    design = StudyDesign.build(["raw", "clahe", "dehaze"], LABELS, "raw", [], ["vgg"])
    t = table3(res, design).iloc[0]
    assert t["S_CL - S_UN"] == 0 and not t["significant (CL vs UN)"]
    assert t["S_DH - S_UN"] > 0 and t["p (DH vs UN)"] < 0.05 / 3 and t["significant (DH vs UN)"]


def test_sensitivity_curve_reads_the_roc_vertically():
    from mcdetect.evaluation.metrics import sensitivity_curve

    rng = np.random.default_rng(11)
    neg = np.round(rng.normal(0, 1, 300), 1)
    pos = np.round(rng.normal(1, 1, 40), 1)
    fprs = np.array([1e-4, 1 / 300, 0.01, 0.05, 0.1, 0.5])
    expected = [brute_s(pos, neg, f) for f in fprs]
    np.testing.assert_allclose(sensitivity_curve(pos, neg, fprs), expected)


# --- the fast paired bootstrap: exact, paired, stratified, and equal to the plain reference ---

def _two_class(rng, n_pos, n_neg, shift=1.0):
    labels = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    return labels, rng.normal(size=len(labels)) + shift * labels


@pytest.mark.parametrize("unit", ["sample", "patient"])
@pytest.mark.parametrize("small_top", [False, True])
def test_fast_resamples_equal_weighted_s_of_the_same_plain_weights(monkeypatch, unit, small_top):
    """Each fast resample gives exactly S and s(grid) of its own weights applied to every
    sample; a top set shrunk to bN + 1 forces the full-order fallback often."""
    from mcdetect.evaluation import bootstrap as evaluate

    if small_top:
        monkeypatch.setattr(evaluate, "_top_size", lambda n, b, by_unit: int(b * n) + 1)
    rng = np.random.default_rng(5)
    labels, s1 = _two_class(rng, 80, 5000)
    scores = {"m1": s1, "m2": np.round(s1 + rng.normal(0, 0.7, len(s1)), 1)}  # ties too
    images = rng.integers(0, 30, len(labels))
    a, b = 1e-3, 0.05
    grid = np.geomspace(a, b, 7)
    plan = evaluate._Plan(scores, labels, None if unit == "sample" else images, a, b, grid, 9)
    assert all(len(m.top) < 5000 for m in plan.models.values())
    fallbacks = 0
    for r in range(40):
        out, fb = plan.resample(r)
        fallbacks += fb
        pw, nw = plan.weights(r)
        assert pw.sum() > 0
        if unit == "sample":
            assert pw.sum() == 80 and nw.sum() == 5000
        else:  # a unit's samples, positives and negatives, are drawn together
            w = np.empty(len(labels), dtype=np.int64)
            w[labels == 1], w[labels == 0] = pw, nw
            assert all(len(set(w[images == i])) <= 1 for i in range(30))
        for k, v in scores.items():
            pos, neg = v[labels == 1], v[labels == 0]
            expected = weighted_mean_sensitivity(pos, neg, pw, nw, a, b)
            assert out[k][0] == pytest.approx(expected, abs=1e-12)
            from mcdetect.evaluation.metrics import sensitivity_curve
            np.testing.assert_allclose(out[k][1], sensitivity_curve(pos, neg, grid, pw, nw))
    assert (fallbacks > 0) == small_top


def test_fast_bootstrap_draws_the_plain_bootstrap_distribution():
    """S over fast resamples (top sets, binomial count into their union) and over plain
    multinomial weights on every sample: the same distribution (two-sample KS)."""
    from scipy.stats import ks_2samp

    from mcdetect.evaluation.bootstrap import paired_bootstrap

    rng = np.random.default_rng(2)
    labels, s1 = _two_class(rng, 60, 20_000)
    a, b = 1e-4, 0.02
    fast = paired_bootstrap({"m": s1}, labels, n_boot=600, seed=4, a=a, b=b, log=lambda m: None)
    assert fast["top"]["m"] < 20_000 / 10  # the fast path really ran on a top set
    pos, neg = s1[labels == 1], s1[labels == 0]
    plain = []
    for _ in range(600):
        w = bootstrap_weights(labels, None, rng)
        plain.append(weighted_mean_sensitivity(pos, neg, w[labels == 1], w[labels == 0], a, b))
    assert ks_2samp(fast["boot"]["m"], plain).pvalue > 0.01
    assert np.mean(fast["boot"]["m"]) == pytest.approx(np.mean(plain), abs=0.02)


def test_resamples_are_paired_and_do_not_depend_on_the_number_of_workers():
    from mcdetect.evaluation.bootstrap import paired_bootstrap

    rng = np.random.default_rng(8)
    labels, s1 = _two_class(rng, 50, 4000)
    scores = {"m": s1, "monotone copy": 3 * s1 + 1, "other": s1 + rng.normal(0, 1, len(s1))}
    one = paired_bootstrap(scores, labels, n_boot=60, seed=3, a=1e-3, log=lambda m: None)
    two = paired_bootstrap(scores, labels, n_boot=60, seed=3, a=1e-3, workers=2,
                           log=lambda m: None)
    # the same resample for every model: a monotone copy has the same S on every resample
    np.testing.assert_array_equal(one["boot"]["m"], one["boot"]["monotone copy"])
    assert not np.array_equal(one["boot"]["m"], one["boot"]["other"])
    for k in scores:
        np.testing.assert_array_equal(one["boot"][k], two["boot"][k])
        np.testing.assert_array_equal(one["roc"][k], two["roc"][k])
    assert one["S"]["m"] == mean_sensitivity(s1[labels == 1], s1[labels == 0], a=1e-3)


def test_equally_good_models_give_uniform_p_values():
    """Two different models of the same quality (independent noise on the same data): over many
    datasets the paired p-values spread uniformly, so 'significant' comes at the nominal rate."""
    from scipy.stats import kstest

    from mcdetect.evaluation.bootstrap import paired_bootstrap, paired_p_value

    rng = np.random.default_rng(12)
    p_values = []
    for _ in range(150):
        labels = np.r_[np.ones(150, int), np.zeros(1500, int)]
        signal = 1.2 * labels + rng.normal(0, 0.6, len(labels))  # shared by both models
        x = signal + rng.normal(0, 0.8, len(labels))
        y = signal + rng.normal(0, 0.8, len(labels))
        res = paired_bootstrap({"x": x, "y": y}, labels, n_boot=200,
                               seed=int(rng.integers(1 << 30)), a=1e-3, b=0.1,
                               log=lambda m: None)
        p_values.append(paired_p_value(res["boot"]["x"], res["boot"]["y"]))
    p_values = np.array(p_values)
    assert kstest(p_values, "uniform").pvalue > 0.01
    assert 0.0 < np.mean(p_values < 0.05) < 0.12


def _clustered_null(rng, patients=40, pos=8, neg=80, effect=0.6):
    """Two models of equal quality whose skill varies by patient (a random effect per patient
    and model on its positives and on its negatives): no true difference in S, but samples of
    one patient move together."""
    labels = np.tile(np.r_[np.ones(pos, int), np.zeros(neg, int)], patients)
    ids = np.repeat(np.arange(patients), pos + neg)
    scores = {}
    for m in ("x", "y"):
        on_pos = rng.normal(0, effect, patients)[ids]
        on_neg = rng.normal(0, effect, patients)[ids]
        scores[m] = (1.5 * labels + np.where(labels == 1, on_pos, on_neg)
                     + rng.normal(0, 1, len(labels)))
    return scores, labels, ids


def test_resampling_patients_keeps_the_false_positive_rate_that_resampling_samples_loses():
    """Equal models, per-patient effects: p < 0.05 in far more than 5% of the datasets when
    the bootstrap draws samples as if independent, close to 5% when it draws patients."""
    from mcdetect.evaluation.bootstrap import paired_bootstrap, paired_p_value

    rng = np.random.default_rng(21)
    significant = {"sample": 0, "patient": 0}
    datasets = 200
    for _ in range(datasets):
        scores, labels, patients = _clustered_null(rng)
        seed = int(rng.integers(1 << 30))
        for unit in significant:
            res = paired_bootstrap(scores, labels, None if unit == "sample" else patients,
                                   n_boot=200, seed=seed, a=1e-3, b=0.1, log=lambda m: None)
            significant[unit] += paired_p_value(res["boot"]["x"], res["boot"]["y"]) < 0.05
    rates = {k: v / datasets for k, v in significant.items()}
    print(f"false-positive rate at p < 0.05 over {datasets} null datasets: {rates}")
    assert rates["sample"] > 0.25
    assert rates["patient"] < 0.12


def test_patient_bootstrap_equals_the_exact_distribution_of_a_small_case():
    """Five patients: all 5^5 equally likely draws enumerated (those without a positive or a
    negative left out, as the bootstrap redraws them) give the exact bootstrap distribution of S;
    the fast resamples follow it (largest CDF gap within the DKW bound at 3,000 resamples, the
    same mean and spread)."""
    import itertools

    from mcdetect.evaluation.bootstrap import paired_bootstrap

    rng = np.random.default_rng(6)
    sizes = [(3, 40), (0, 60), (5, 30), (2, 50), (1, 45)]  # (positives, negatives) per patient
    labels = np.concatenate([np.r_[np.ones(p, int), np.zeros(n, int)] for p, n in sizes])
    ids = np.concatenate([np.full(p + n, i) for i, (p, n) in enumerate(sizes)])
    scores = np.round(rng.normal(0, 1, len(labels)) + 1.2 * labels + 0.3 * ids, 1)
    a, b = 1e-2, 0.2
    exact = []
    for draw in itertools.product(range(5), repeat=5):
        counts = np.bincount(draw, minlength=5)[ids]
        pw, nw = counts[labels == 1], counts[labels == 0]
        if pw.sum() and nw.sum():
            exact.append(weighted_mean_sensitivity(scores[labels == 1], scores[labels == 0],
                                                   pw, nw, a, b))
    exact = np.sort(exact)
    fast = paired_bootstrap({"m": scores}, labels, ids, n_boot=3000, seed=2, a=a, b=b,
                            log=lambda m: None)["boot"]["m"]
    points = np.unique(np.r_[exact, fast])
    gap = np.max(np.abs(np.searchsorted(exact, points, side="right") / len(exact)
                        - np.searchsorted(np.sort(fast), points, side="right") / len(fast)))
    assert gap < 0.04
    assert np.mean(fast) == pytest.approx(np.mean(exact), abs=0.01)
    assert np.std(fast) == pytest.approx(np.std(exact), rel=0.1)


def test_auc_is_the_mann_whitney_probability_with_ties_as_halves():
    rng = np.random.default_rng(2)
    pos = np.round(rng.normal(1, 1, 300), 1)  # rounded: many ties
    neg = np.round(rng.normal(0, 1, 2000), 1)
    brute = (np.mean(pos[:, None] > neg[None, :]) + 0.5 * np.mean(pos[:, None] == neg[None, :]))
    assert auc(pos, neg) == pytest.approx(brute, abs=1e-12)
    assert auc([1.0], [0.0]) == 1.0 and auc([0.0], [1.0]) == 0.0 and auc([1.0], [1.0]) == 0.5


def test_gains_over_the_best_baseline_and_per_fold_s():
    rng = np.random.default_rng(5)
    labels = np.r_[np.ones(200, int), np.zeros(5000, int)]
    folds = rng.integers(0, 2, len(labels))
    strong = np.r_[rng.normal(3, 1, 200), rng.normal(0, 1, 5000)]
    weak = np.r_[rng.normal(1, 1, 200), rng.normal(0, 1, 5000)]
    scores = {"raw/vgg": strong, "raw/mean": weak + 0.0, "raw/dog": weak + rng.normal(0, 0.3, 5200),
              "raw/alexnet": weak + rng.normal(0, 0.01, 5200)}
    res = paired_bootstrap(scores, labels, n_boot=200, seed=1, log=lambda *a: None)
    gains = gains_over_baselines(res, ["raw"], ["vgg", "alexnet"], ["mean", "dog"])
    best = max(["mean", "dog"], key=lambda b: res["S"][f"raw/{b}"])
    assert list(gains["best baseline"]) == [best, best]
    vgg = gains.set_index("CNN").loc["vgg"]
    assert vgg["gain"] == pytest.approx(100 * (res["S"]["raw/vgg"] - res["S"][f"raw/{best}"]))
    assert vgg["beats"] and vgg["ci_low"] > 0 and vgg["p"] < 0.01
    assert not gains.set_index("CNN").loc["alexnet", "beats"]
    per_fold = per_fold_summary(scores, labels, folds, n_boot=100, seed=1, a=1e-6, b=0.1,
                                log=lambda *a: None)
    assert len(per_fold) == 2 * len(scores)
    for _, r in per_fold.iterrows():
        sel = folds == r["fold"]
        s = scores[r["model"]][sel]
        y = labels[sel]
        assert r["S"] == pytest.approx(100 * mean_sensitivity(s[y == 1], s[y == 0]))
        assert r["ci_low"] <= r["S"] <= r["ci_high"]
        assert r["positives"] == (y == 1).sum()


def test_sweep_table_gives_each_settings_gain_over_the_reference_with_bonferroni(tmp_path):
    """A sweep of two settings scored on the same samples as the reference: the gain is the
    difference of S on the full data, its CI comes from the same paired resamples, m = settings x
    nets; a setting identical to the reference gains exactly 0 with p = 1; the figure is drawn."""
    import pandas as pd

    from mcdetect.evaluation.sweep import sweep_figure, sweep_table

    rng = np.random.default_rng(5)
    labels = np.r_[np.ones(300), np.zeros(6000)].astype(int)
    ref = rng.normal(labels * 1.0)
    better = ref + labels * rng.normal(1.5, 0.3, len(labels))
    scores = {"raw/vgg": ref, "omega~0.9/vgg": ref.copy(), "omega~0.5/vgg": better}
    res = paired_bootstrap(scores, labels, n_boot=300, seed=1, a=A, b=B)
    settings = pd.DataFrame({"setting": ["omega~0.5", "omega~0.9"], "omega": [0.5, 0.9]})
    table = sweep_table(res, settings, ["vgg"], "raw")
    same, up = table.set_index("omega").loc[0.9], table.set_index("omega").loc[0.5]
    assert same["gain"] == 0 and same["gain_ci_low"] == same["gain_ci_high"] == 0
    assert same["p"] == 1 and not same["significant"]
    assert up["gain"] == pytest.approx(100 * (res["S"]["omega~0.5/vgg"] - res["S"]["raw/vgg"]))
    assert up["gain_ci_low"] > 0 and up["p"] < 0.05 / 2 and up["significant"]
    assert up["S_raw"] == pytest.approx(100 * mean_sensitivity(ref[labels == 1],
                                                               ref[labels == 0]))
    sweep_figure(tmp_path / "sweep.png", table, ["omega"], "raw", "test")
    assert (tmp_path / "sweep.png").stat().st_size > 5_000


def test_negatives_on_unannotated_mcs_are_flagged_and_s_is_given_without_them():
    import pandas as pd

    from mcdetect.evaluation.faint import faint_negatives, flag_near

    samples = pd.DataFrame({"image_id": ["a", "a", "a", "b", "b", "b"],
                            "x": [10, 20, 50, 10, 12, 40], "y": [10, 10, 50, 10, 10, 40],
                            "label": [1, 0, 0, 0, 1, 0]})
    faint = pd.DataFrame({"image_id": ["a", "b", "c"], "x": [12, 11, 0], "y": [10, 10, 0]})
    # a's positive at distance 2 is not a negative; a's negative at 8 px and b's at 1 px are
    np.testing.assert_array_equal(flag_near(samples, faint, radius=8),
                                  [False, True, False, True, False, False])
    rng = np.random.default_rng(4)
    labels = np.r_[np.ones(50, int), np.zeros(2000, int)]
    flagged = np.zeros(len(labels), bool)
    flagged[50:70] = True
    base = rng.normal(size=len(labels)) + 1.5 * labels
    base[flagged] += 4.0  # negatives on faint MCs score like MCs
    scores = {"raw/vgg": base, "dehaze/vgg": base + 0.5 * labels}
    design = StudyDesign.build(["raw", "dehaze"], LABELS, "raw", [], ["vgg"])
    table = faint_negatives(design, scores, labels, flagged, a=1e-3, b=0.1).set_index("model")
    keep = ~flagged
    for name, v in scores.items():
        assert table.loc[name, "S (all negatives)"] == pytest.approx(
            100 * mean_sensitivity(v[labels == 1], v[labels == 0], a=1e-3))
        assert table.loc[name, "S (without them)"] == pytest.approx(
            100 * mean_sensitivity(v[(labels == 1) & keep], v[(labels == 0) & keep], a=1e-3))
        assert table.loc[name, "change"] > 0 and table.loc[name, "negatives removed"] == 20
    diff = table.loc["vgg: DH - UN"]
    assert diff["S (without them)"] == pytest.approx(
        table.loc["dehaze/vgg", "S (without them)"] - table.loc["raw/vgg", "S (without them)"])
