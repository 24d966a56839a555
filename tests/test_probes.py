"""Probes, controls, bootstrap intervals and MDL on hand-made and seeded data with known answers."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import f1_score

from bioprobe.probing import probes
from bioprobe.probing.probes import (C_GRID, MDL_EPS, MDL_FRACTIONS, PROBES, bootstrap_ci, choose_C, control_labels,
                            fit_and_score, mdl_online, shuffled_labels)

# Two classes split by the sign of the first coordinate, with a margin of 2; the second coordinate is noise.
SEPARABLE_X = np.array([[-3.0, 1.0], [-2.0, -1.0], [-1.5, 0.5], [-1.0, 0.0], [-2.5, -0.5], [-1.2, 1.2],
                        [1.0, 0.0], [1.5, -1.0], [2.0, 1.0], [3.0, 0.5], [2.5, -0.5], [1.2, -1.2]], dtype=np.float16)
SEPARABLE_Y = np.array([0] * 6 + [1] * 6)
SEPARABLE_X_TEST = np.array([[-2.0, 0.0], [-1.1, 1.0], [-4.0, -2.0], [1.1, -1.0], [2.0, 0.3], [4.0, 2.0]],
                            dtype=np.float16)
SEPARABLE_Y_TEST = np.array([0, 0, 0, 1, 1, 1])


def two_gaussians(n: int, gap: float, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Balanced classes 0/1 with unit-variance noise and means -gap/2 and +gap/2 on the first axis (float16).

    The Bayes accuracy is Phi(gap / 2).
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, dim))
    X[:, 0] += np.where(y == 1, gap / 2, -gap / 2)
    return X.astype(np.float16), y


def width(interval: tuple[float, float]) -> float:
    return interval[1] - interval[0]


# ----------------------------------------------------------------------------------------------------- probes


@pytest.mark.parametrize("kind", PROBES)
def test_every_probe_separates_separable_points(kind):
    result = fit_and_score(kind, SEPARABLE_X, SEPARABLE_Y, SEPARABLE_X_TEST, SEPARABLE_Y_TEST, n_classes=2)
    assert result.predictions.tolist() == SEPARABLE_Y_TEST.tolist()
    assert result.accuracy == 1.0 and result.macro_f1 == 1.0
    assert result.accuracy_ci == (1.0, 1.0) and result.macro_f1_ci == (1.0, 1.0)
    assert result.C in C_GRID


def test_logistic_cv_breaks_accuracy_ties_by_log_loss():
    # Every C separates the points, so accuracy ties; the least regularised C gives the most confident (lowest
    # log-loss) probabilities.
    assert choose_C("logistic", SEPARABLE_X, SEPARABLE_Y, seed=0) == max(C_GRID)


def test_logistic_reaches_the_bayes_accuracy_of_two_gaussians():
    gap = 3.0                                          # Bayes accuracy Phi(1.5) = 0.9332
    X_train, y_train = two_gaussians(2000, gap, dim=20, seed=1)
    X_test, y_test = two_gaussians(4000, gap, dim=20, seed=2)
    result = fit_and_score("logistic", X_train, y_train, X_test, y_test, n_classes=2, seed=0)
    bayes = norm.cdf(gap / 2)
    assert result.converged and result.note == ""
    assert bayes - 0.02 <= result.accuracy <= bayes + 0.015       # 3 standard errors of 4,000 items is 0.012
    assert result.accuracy_ci[0] <= result.accuracy <= result.accuracy_ci[1]
    assert result.macro_f1 == pytest.approx(f1_score(y_test, result.predictions, average="macro"))


def test_chance_level_features_give_chance_accuracy():
    rng = np.random.default_rng(3)
    K = 4
    X_train, X_test = rng.normal(size=(2000, 32)).astype(np.float16), rng.normal(size=(2000, 32)).astype(np.float16)
    y_train, y_test = rng.integers(0, K, 2000), rng.integers(0, K, 2000)
    result = fit_and_score("logistic", X_train, y_train, X_test, y_test, n_classes=K, seed=0)
    assert abs(result.accuracy - 1 / K) < 0.03
    assert result.accuracy_ci[0] <= 1 / K <= result.accuracy_ci[1]


def test_float16_memmap_and_float32_give_the_same_probe_and_inputs_stay_untouched(tmp_path):
    X_train, y_train = two_gaussians(300, 2.0, dim=8, seed=4)
    X_test, y_test = two_gaussians(200, 2.0, dim=8, seed=5)
    np.save(tmp_path / "train.npy", X_train)
    np.save(tmp_path / "test.npy", X_test)
    mapped_train = np.load(tmp_path / "train.npy", mmap_mode="r")   # read-only: writing to it would raise
    mapped_test = np.load(tmp_path / "test.npy", mmap_mode="r")
    train32, test32 = X_train.astype(np.float32), X_test.astype(np.float32)
    before = train32.copy(), test32.copy()
    from_memmap = fit_and_score("logistic", mapped_train, y_train, mapped_test, y_test, 2, seed=0, C=1.0)
    from_float32 = fit_and_score("logistic", train32, y_train, test32, y_test, 2, seed=0, C=1.0)
    assert from_memmap.predictions.tolist() == from_float32.predictions.tolist()
    assert from_memmap.accuracy == from_float32.accuracy
    np.testing.assert_array_equal(train32, before[0])               # the caller's float32 arrays are not scaled
    np.testing.assert_array_equal(test32, before[1])


def test_a_given_C_is_used_without_cross_validation(monkeypatch):
    monkeypatch.setattr(probes, "choose_C", lambda *args, **kwargs: pytest.fail("choose_C must not run"))
    result = fit_and_score("logistic", SEPARABLE_X, SEPARABLE_Y, SEPARABLE_X_TEST, SEPARABLE_Y_TEST, 2, C=0.25)
    assert result.C == 0.25 and result.accuracy == 1.0


@pytest.mark.parametrize("kind", PROBES)
def test_non_convergence_is_reported_not_raised(kind, monkeypatch):
    monkeypatch.setitem(probes.MAX_ITER, kind, 1)
    X_train, y_train = two_gaussians(400, 2.0, dim=10, seed=6)
    X_test, y_test = two_gaussians(200, 2.0, dim=10, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)        # convergence is read off the estimator
        result = fit_and_score(kind, X_train, y_train, X_test, y_test, 2, seed=0, C=10.0)
    assert result.converged is False
    assert result.note == "did not converge in 1 iterations"
    assert 0.0 <= result.accuracy <= 1.0 and len(result.predictions) == 200


@pytest.mark.parametrize("kind", PROBES)
def test_a_converged_fit_is_reported_converged(kind):
    X_train, y_train = two_gaussians(400, 2.0, dim=10, seed=6)
    X_test, y_test = two_gaussians(200, 2.0, dim=10, seed=7)
    result = fit_and_score(kind, X_train, y_train, X_test, y_test, 2, seed=0, C=0.1)
    assert result.converged is True and result.note == ""


def test_a_capped_probe_reports_non_convergence_while_another_thread_ignores_warnings(monkeypatch):
    """Warning filters are one process-wide list. Layers are probed in parallel threads; when another thread enters
    an ignore-everything filter (what the MDL branch did) while a capped probe fits, a probe that learns its
    convergence from a warning sees none and reports converged=True. Here the capped fit waits, after it started,
    until the other thread holds such a filter, and that thread holds it until the fit is done."""
    import threading

    from sklearn import preprocessing

    monkeypatch.setitem(probes.MAX_ITER, "logistic", 2)
    X_train, y_train = two_gaussians(400, 2.0, dim=10, seed=6)
    X_test, y_test = two_gaussians(200, 2.0, dim=10, seed=7)
    fitting, ignoring, done = threading.Event(), threading.Event(), threading.Event()

    class GatedScaler(preprocessing.StandardScaler):
        def fit(self, *args, **kwargs):
            fitting.set()
            assert ignoring.wait(10)
            return super().fit(*args, **kwargs)

    def other_layer():
        assert fitting.wait(10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ignoring.set()
            done.wait(10)

    monkeypatch.setattr(preprocessing, "StandardScaler", GatedScaler)
    thread = threading.Thread(target=other_layer)
    with warnings.catch_warnings():                      # puts back whatever filters the two threads leave behind
        thread.start()
        try:
            result = fit_and_score("logistic", X_train, y_train, X_test, y_test, 2, seed=0, C=10.0)
        finally:
            done.set()
            thread.join()
    assert ignoring.is_set()
    assert result.converged is False and result.note == "did not converge in 2 iterations"


def test_single_class_training_labels_predict_that_class():
    X_test = np.zeros((4, 2), dtype=np.float16)
    result = fit_and_score("logistic", SEPARABLE_X, np.ones(12, dtype=int), X_test, np.array([1, 1, 0, 2]), 3)
    assert result.predictions.tolist() == [1, 1, 1, 1]
    assert result.accuracy == 0.5
    # F1 over the test classes {0, 1, 2}: class 1 has tp 2, fp 2, fn 0 -> 2/3; classes 0 and 2 score 0.
    assert result.macro_f1 == pytest.approx((2 / 3) / 3)
    assert result.converged is True and result.C is None
    assert "only one class" in result.note


def test_bad_inputs_end_in_clear_errors():
    empty = np.zeros((0, 2), dtype=np.float16)
    with pytest.raises(ValueError, match="training set is empty"):
        fit_and_score("logistic", empty, np.zeros(0, int), SEPARABLE_X_TEST, SEPARABLE_Y_TEST, 2)
    with pytest.raises(ValueError, match="test set is empty"):
        fit_and_score("logistic", SEPARABLE_X, SEPARABLE_Y, empty, np.zeros(0, int), 2)
    with pytest.raises(ValueError, match="Unknown probe 'ridge'"):
        fit_and_score("ridge", SEPARABLE_X, SEPARABLE_Y, SEPARABLE_X_TEST, SEPARABLE_Y_TEST, 2)
    with pytest.raises(ValueError, match="must lie in 0..1"):
        fit_and_score("logistic", SEPARABLE_X, SEPARABLE_Y + 1, SEPARABLE_X_TEST, SEPARABLE_Y_TEST, 2)


# ------------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_of_all_correct_predictions_is_exactly_one():
    y = np.array([0, 1, 2, 0, 1, 2, 2])
    assert bootstrap_ci(y, y, 3) == {"accuracy": (1.0, 1.0), "macro_f1": (1.0, 1.0)}
    assert bootstrap_ci(y, y, 3, groups=np.array([0, 0, 1, 1, 2, 2, 2])) == {"accuracy": (1.0, 1.0),
                                                                              "macro_f1": (1.0, 1.0)}


def noisy_predictions(n: int, error_rate: float, K: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, K, n)
    wrong = rng.random(n) < error_rate
    return y_true, np.where(wrong, (y_true + rng.integers(1, K, n)) % K, y_true)


def test_interval_contains_the_estimate_has_the_binomial_width_and_narrows_with_items():
    intervals = {}
    for n in (200, 5000):
        y_true, y_pred = noisy_predictions(n, 0.2, 3, seed=n)
        ci = bootstrap_ci(y_true, y_pred, 3, seed=0)
        accuracy = (y_true == y_pred).mean()
        macro_f1 = f1_score(y_true, y_pred, average="macro")
        assert ci["accuracy"][0] <= accuracy <= ci["accuracy"][1]
        assert ci["macro_f1"][0] <= macro_f1 <= ci["macro_f1"][1]
        intervals[n] = ci
    # Normal approximation of a proportion: 2 * 1.96 * sqrt(0.8 * 0.2 / 5000) = 0.0222.
    assert width(intervals[5000]["accuracy"]) == pytest.approx(2 * 1.96 * math.sqrt(0.16 / 5000), rel=0.15)
    assert width(intervals[5000]["accuracy"]) < width(intervals[200]["accuracy"]) / 3   # sqrt(25) = 5 expected
    assert width(intervals[5000]["macro_f1"]) < width(intervals[200]["macro_f1"]) / 3


def test_vectorised_bootstrap_matches_a_plain_resampling_loop():
    y_true, y_pred = noisy_predictions(300, 0.3, 4, seed=8)
    y_pred[y_pred == 3] = 0                              # class 3 is never predicted: its F1 is 0 in every resample
    y_true[:3] = 4                                       # a rare class, missing from some resamples
    labels = np.unique(y_true)
    rng = np.random.default_rng(123)
    accuracy, macro = [], []
    for _ in range(2000):
        i = rng.integers(0, 300, 300)
        accuracy.append((y_true[i] == y_pred[i]).mean())
        scored = np.intersect1d(labels, np.union1d(y_true[i], y_pred[i]))   # classes with an item to score
        macro.append(f1_score(y_true[i], y_pred[i], labels=scored, average="macro", zero_division=0))
    ci = bootstrap_ci(y_true, y_pred, 5, n_boot=2000, seed=0)
    np.testing.assert_allclose(ci["accuracy"], np.percentile(accuracy, [2.5, 97.5]), atol=0.012)
    np.testing.assert_allclose(ci["macro_f1"], np.percentile(macro, [2.5, 97.5]), atol=0.012)


def test_one_item_groups_are_the_item_bootstrap_and_the_seed_fixes_the_interval():
    y_true, y_pred = noisy_predictions(500, 0.25, 3, seed=9)
    items = bootstrap_ci(y_true, y_pred, 3, seed=5)
    assert bootstrap_ci(y_true, y_pred, 3, groups=np.arange(500) * 7, seed=5) == items
    assert bootstrap_ci(y_true, y_pred, 3, seed=5) == items
    assert bootstrap_ci(y_true, y_pred, 3, seed=6) != items


def test_cluster_bootstrap_is_wider_when_errors_cluster_in_groups():
    # 100 sentences of 20 words; the probe gets 20 whole sentences wrong: accuracy 0.8 either way, but only 100
    # independent units. Expected widths: 2 * 1.96 * sqrt(0.16 / n) with n = 2000 items or 100 sentences.
    groups = np.repeat(np.arange(100), 20)
    y_true = np.tile(np.arange(20) % 2, 100)
    y_pred = np.where(groups < 20, 1 - y_true, y_true)
    items = bootstrap_ci(y_true, y_pred, 2, seed=0)
    clusters = bootstrap_ci(y_true, y_pred, 2, groups=groups, seed=0)
    assert width(items["accuracy"]) == pytest.approx(2 * 1.96 * math.sqrt(0.16 / 2000), rel=0.15)
    assert width(clusters["accuracy"]) == pytest.approx(2 * 1.96 * math.sqrt(0.16 / 100), rel=0.15)
    assert width(clusters["accuracy"]) > 3 * width(items["accuracy"])
    assert width(clusters["macro_f1"]) > 3 * width(items["macro_f1"])


def test_bootstrap_is_fast_on_ten_thousand_items():
    y_true, y_pred = noisy_predictions(10_000, 0.1, 9, seed=10)
    groups = np.arange(10_000) // 17
    start = time.perf_counter()
    bootstrap_ci(y_true, y_pred, 9, n_boot=1000)
    bootstrap_ci(y_true, y_pred, 9, groups=groups, n_boot=1000)
    assert time.perf_counter() - start < 1.0


# -------------------------------------------------------------------------------------------------- controls


def test_control_labels_are_fixed_per_type_and_follow_the_training_distribution():
    types = np.array([f"w{i}" for i in range(6000)])
    y_train = np.repeat([0, 1, 2], [4200, 1200, 600])             # 70 / 20 / 10 %; class 3 never occurs
    types_test = np.array(["w5", "w17", "unseen", "w5"])
    c_train, c_test = control_labels(types, types_test, y_train, 4, seed=0)
    frequencies = np.bincount(c_train, minlength=4) / len(c_train)
    np.testing.assert_allclose(frequencies, [0.7, 0.2, 0.1, 0.0], atol=0.02)
    assert c_test[0] == c_test[3] == c_train[5] and c_test[1] == c_train[17]
    # Repeated types keep one label; order does not matter; the seed does.
    words = np.array(["the", "cell", "the", "IL-2", "cell", "the"])
    labels, _ = control_labels(words, [], [0, 1, 0, 2, 1, 0], 3, seed=1)
    assert labels[0] == labels[2] == labels[5] and labels[1] == labels[4]
    order = np.array([5, 3, 1, 0, 4, 2])
    shuffled, _ = control_labels(words[order], [], [0, 1, 0, 2, 1, 0], 3, seed=1)
    assert shuffled.tolist() == labels[order].tolist()
    again, _ = control_labels(types, types_test, y_train, 4, seed=0)
    other, _ = control_labels(types, types_test, y_train, 4, seed=1)
    assert again.tolist() == c_train.tolist() and other.tolist() != c_train.tolist()


def test_shuffled_labels_are_a_seeded_permutation():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    shuffled = shuffled_labels(y, seed=0)
    assert sorted(shuffled.tolist()) == y.tolist()
    assert shuffled.tolist() != y.tolist()
    assert shuffled_labels(y, seed=0).tolist() == shuffled.tolist()
    assert shuffled_labels(y, seed=1).tolist() != shuffled.tolist()


# ------------------------------------------------------------------------------------------------------- MDL


def test_mdl_block_ends_round_half_up_and_drop_repeats():
    X, y = two_gaussians(100, 3.0, dim=4, seed=11)
    result = mdl_online("logistic", X, y, 2, C=1.0)
    # f * 100 = 0.1 0.2 0.4 0.8 1.6 3.2 6.25 12.5 25 50 100 -> max(1, round) = 1 1 1 1 2 3 6 13 25 50 100.
    assert result.block_ends == [1, 2, 3, 6, 13, 25, 50, 100]
    assert len(result.block_codelengths) == len(result.block_ends)
    assert result.uniform_codelength == 100.0
    assert result.codelength == pytest.approx(sum(result.block_codelengths))
    assert MDL_FRACTIONS[-1] == 1.0


def test_mdl_first_block_uses_the_uniform_code_exactly():
    X = np.arange(30, dtype=np.float16).reshape(10, 3)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    result = mdl_online("logistic", X, y, 3, C=1.0, fractions=(0.2, 0.5, 1.0))
    assert result.block_ends == [2, 5, 10]
    assert result.block_codelengths[0] == 2 * math.log2(3)
    assert result.uniform_codelength == 10 * math.log2(3)
    whole = mdl_online("logistic", X, y, 3, C=1.0, fractions=(1.0,))
    assert whole.codelength == whole.uniform_codelength == 10 * math.log2(3) and whole.compression == 1.0


def test_mdl_codes_a_one_class_prefix_with_the_add_one_estimate():
    # The prefix is two items of class 0: p(0) = (2 + 1) / (2 + 2) = 3/4 for each of the 8 later items, and a miss
    # would cost log2(4) = 2 bits, not log2(K / eps) = 21 bits.
    X = np.arange(20, dtype=np.float16).reshape(10, 2)
    result = mdl_online("logistic", X, np.zeros(10, dtype=int), 2, fractions=(0.2, 1.0))
    assert result.block_codelengths == [2.0, pytest.approx(8 * math.log2(4 / 3), rel=1e-12)]
    assert result.block_C == [None, None]
    y = np.array([0, 0, 1, 0, 0, 1, 0, 0, 0, 0])         # the order is seeded: find which items come first
    order = np.random.default_rng(0).permutation(10)
    coded = mdl_online("logistic", X[np.argsort(order)], y[np.argsort(order)], 2, fractions=(0.2, 1.0))
    assert coded.block_codelengths[1] == pytest.approx(6 * math.log2(4 / 3) + 2 * math.log2(4), rel=1e-12)


def test_mdl_codes_a_prefix_too_small_for_three_folds_with_the_add_one_estimate():
    # Prefix [0, 1, 1, 2, 2]: no two classes with three items, so no probe; p = (n_c + 1) / (5 + 3) = 2/8, 3/8, 3/8
    # for the block [0, 1, 2, 2, 2], even with a C given.
    X = np.arange(20, dtype=np.float16).reshape(10, 2)
    y = np.array([0, 1, 1, 2, 2, 0, 1, 2, 2, 2])
    order = np.random.default_rng(0).permutation(10)
    result = mdl_online("logistic", X[np.argsort(order)], y[np.argsort(order)], 3, C=1.0, fractions=(0.5, 1.0))
    assert result.block_codelengths[1] == pytest.approx(math.log2(4) + 4 * math.log2(8 / 3), rel=1e-12)


def test_mdl_chooses_each_block_C_on_its_prefix_only(monkeypatch):
    # Block i is coded before the items after it are seen, so its regularisation may depend on its prefix only.
    seen = []
    choose = probes.choose_C

    def recording(kind, X, y, seed, **kwargs):
        seen.append(len(y))
        return choose(kind, X, y, seed, **kwargs)

    monkeypatch.setattr(probes, "choose_C", recording)
    X, y = two_gaussians(200, 3.0, dim=4, seed=11)
    result = mdl_online("logistic", X, y, 2)
    # ends 1 1 1 2 3 6 13 25 50 100 200 -> [1, 2, 3, 6, 13, 25, 50, 100, 200]; prefixes from 6 on allow 3 folds
    # (two classes of 3 items) unless the first 6 items hold fewer than 3 of a class.
    starts = result.block_ends[:-1]
    assert seen == [start for start, C in zip(starts, result.block_C[1:]) if C is not None]
    assert 200 not in seen and seen[-1] == 100
    assert all(C is None or C in C_GRID for C in result.block_C)


def test_mdl_of_random_labels_is_the_uniform_code():
    # Features that say nothing about the labels: the online code can do no better than the uniform code, and a
    # careful one no worse than a few bits (the class frequencies it learns), so compression is 1 up to noise.
    for seed in range(4):
        rng = np.random.default_rng(100 + seed)
        X = rng.normal(size=(300, 16)).astype(np.float16)
        for K in (2, 3):
            result = mdl_online("logistic", X, rng.integers(0, K, 300), K, seed=seed)
            assert 0.95 <= result.compression <= 1.05, (seed, K, result.block_codelengths)


def test_mdl_of_separable_labels_on_a_few_hundred_items_is_far_above_one():
    X, y = two_gaussians(300, 12.0, dim=8, seed=17)
    assert mdl_online("logistic", X, y, 2).compression > 3


def test_mdl_stays_finite_when_a_prefix_lacks_a_class():
    X, y = two_gaussians(200, 3.0, dim=4, seed=12)
    y[7] = 2                                             # one item of a third class, unseen by most prefixes
    result = mdl_online("logistic", X, y, 3, C=1.0)
    assert np.isfinite(result.block_codelengths).all()
    assert result.codelength <= 200 * math.log2(3 / MDL_EPS)      # no item costs more than log2(K / eps)


def test_mdl_compresses_separable_labels_and_not_random_ones():
    X, y = two_gaussians(1000, 12.0, dim=8, seed=13)              # gap of 12 sigma: separable in practice
    separable = mdl_online("logistic", X, y, 2)
    # Uniform code: 1000 bits. The online code pays 1 bit for the first item and at most log2(2 / eps) = 21 bits
    # for each mistake of the probes trained on the first 1, 2, 4, ... items; later blocks cost nearly nothing.
    assert separable.uniform_codelength == 1000.0
    assert separable.compression > 10
    random = mdl_online("logistic", X, np.random.default_rng(14).integers(0, 2, 1000), 2)
    assert 0.8 < random.compression < 1.1


def test_mdl_refuses_a_probe_without_probabilities():
    with pytest.raises(ValueError, match="svc"):
        mdl_online("svc", SEPARABLE_X, SEPARABLE_Y, 2)
    with pytest.raises(ValueError, match="empty"):
        mdl_online("logistic", np.zeros((0, 2)), np.zeros(0, int), 2)


def test_mlp_mdl_compresses_separable_labels():
    X, y = two_gaussians(600, 12.0, dim=8, seed=15)
    assert mdl_online("mlp", X, y, 2, C=1.0).compression > 5


def test_probes_use_threads_only_on_large_features_and_give_the_same_rows_either_way(monkeypatch, tmp_path):
    """Below `PARALLEL_MIN_VALUES` values the layers are fitted on one thread; forced onto two, every row is the
    same (each fit is seeded and independent of the others)."""
    from bioprobe.probing.activations import Activations
    from bioprobe.probing.run import probe_layers

    assert probes.probe_workers(7, np.zeros((600, 384))) == 1            # the quick demo's NER probes
    assert probes.probe_workers(1, np.zeros((4000, 384))) == 1           # one layer: nothing to share
    monkeypatch.setattr(probes.os, "cpu_count", lambda: 2)
    assert probes.probe_workers(7, np.zeros((4000, 384))) == 2           # 250 sentences a split

    def split(n: int, seed: int) -> Activations:
        X, y = two_gaussians(n, gap=3.0, dim=8, seed=seed)
        features = np.stack([X, X[:, ::-1].copy(), np.roll(X, 1, axis=1)])
        labels = np.array(["entailment" if v else "contradiction" for v in y])
        return Activations(tmp_path, features, np.arange(n), np.zeros(n, int), np.array([""] * n), labels,
                           {"model": "m", "source": "s"})

    train, test, validation = split(80, 1), split(40, 2), split(40, 3)
    one = probe_layers("nli", train, test, [0, 1, 2], validation=validation, progress=False)
    monkeypatch.setattr(probes, "PARALLEL_MIN_VALUES", 0)
    two = probe_layers("nli", train, test, [0, 1, 2], validation=validation, progress=False)
    assert one == two
    accuracy = {row["layer"]: row["value"] for row in one if row["metric"] == "accuracy"}
    assert min(accuracy.values()) >= 0.9                                 # a gap of 3 standard deviations
