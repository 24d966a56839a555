"""Known-answer tests for bioprobe.subsets: nesting, exact sizes, stratification, determinism, bad sizes."""

from collections import Counter

import numpy as np
import pytest

from bioprobe.errors import BioprobeError
from bioprobe.subsets import subset_indices, subset_size

SIZES = (0, 10, 30, 50, 100)


def imbalanced_labels(seed=7):
    """700 entailment / 200 neutral / 100 contradiction, shuffled."""
    labels = ["entailment"] * 700 + ["neutral"] * 200 + ["contradiction"] * 100
    return [labels[i] for i in np.random.default_rng(seed).permutation(len(labels))]


def test_unstratified_subset_is_a_prefix_of_the_seeded_permutation():
    permutation = np.random.default_rng(3).permutation(40)
    assert subset_indices(40, 25, seed=3) == sorted(int(i) for i in permutation[:10])


def test_zero_and_full_sizes():
    assert subset_indices(57, 0, seed=1) == []
    assert subset_indices(57, 100, seed=1) == list(range(57))
    strata = imbalanced_labels()
    assert subset_indices(1000, 0, seed=1, strata=strata) == []
    assert subset_indices(1000, 100, seed=1, strata=strata) == list(range(1000))
    assert subset_indices(0, 50, seed=1) == []


@pytest.mark.parametrize("n", [1, 5, 7, 15, 25, 99, 1000, 1234])
def test_exact_sizes_sorted_and_distinct(n):
    strata = [i % 3 for i in range(n)]
    for pct in range(101):
        for chosen in (subset_indices(n, pct, seed=0), subset_indices(n, pct, seed=0, strata=strata)):
            assert len(chosen) == round(n * pct / 100) == subset_size(n, pct)
            assert chosen == sorted(set(chosen))
            assert all(0 <= i < n for i in chosen)


def test_subset_size_uses_python_round():
    assert subset_size(5, 10) == 0  # 0.5 rounds to even
    assert subset_size(15, 10) == 2  # 1.5
    assert subset_size(25, 10) == 2  # 2.5
    assert subset_size(1000, 30) == 300


@pytest.mark.parametrize("stratified", [False, True])
def test_nested_across_standard_sizes(stratified):
    strata = imbalanced_labels() if stratified else None
    subsets = [set(subset_indices(1000, pct, seed=11, strata=strata)) for pct in SIZES]
    assert [len(s) for s in subsets] == [0, 100, 300, 500, 1000]
    for smaller, larger in zip(subsets, subsets[1:]):
        assert smaller <= larger


@pytest.mark.parametrize("stratified", [False, True])
def test_nested_for_random_pairs(stratified):
    rng = np.random.default_rng(5)
    for _ in range(40):
        n = int(rng.integers(1, 300))
        strata = [int(x) for x in rng.integers(0, int(rng.integers(1, 6)), size=n)] if stratified else None
        seed = int(rng.integers(0, 1000))
        a, b = sorted(int(x) for x in rng.integers(0, 101, size=2))
        assert set(subset_indices(n, a, seed, strata)) <= set(subset_indices(n, b, seed, strata))


def test_every_percentage_is_nested_in_the_next():
    strata = imbalanced_labels()
    previous = set()
    for pct in range(101):
        current = set(subset_indices(1000, pct, seed=2, strata=strata))
        assert previous <= current
        previous = current


def test_stratified_shares_within_one_item_on_imbalanced_labels():
    strata = imbalanced_labels()
    totals = Counter(strata)
    assert totals == {"entailment": 700, "neutral": 200, "contradiction": 100}
    for pct in range(101):
        chosen = subset_indices(1000, pct, seed=0, strata=strata)
        counts = Counter(strata[i] for i in chosen)
        for label, total in totals.items():
            assert abs(counts[label] - len(chosen) * total / 1000) < 1, (pct, label, counts)
    # 10 % of 700/200/100 is exactly 70/20/10.
    assert Counter(strata[i] for i in subset_indices(1000, 10, seed=0, strata=strata)) == {
        "entailment": 70, "neutral": 20, "contradiction": 10,
    }


def test_stratified_shares_within_one_item_with_many_small_strata():
    # Many tiny strata next to a big one: a naive interleaving drifts by several items here.
    sizes = [3, 5, 1, 4, 8, 1, 987, 3, 11, 1, 3]
    strata = [s for s, size in enumerate(sizes) for _ in range(size)]
    strata = [strata[i] for i in np.random.default_rng(1).permutation(len(strata))]
    n = len(strata)
    for pct in range(101):
        chosen = subset_indices(n, pct, seed=4, strata=strata)
        counts = Counter(strata[i] for i in chosen)
        for s, size in enumerate(sizes):
            assert abs(counts[s] - len(chosen) * size / n) < 1, (pct, s)


def test_stratum_order_of_items_follows_the_seeded_permutation():
    # Inside each stratum the chosen items are the first ones of the global seeded permutation.
    strata = imbalanced_labels()
    rank = np.empty(1000, dtype=int)
    rank[np.random.default_rng(9).permutation(1000)] = np.arange(1000)
    chosen = subset_indices(1000, 30, seed=9, strata=strata)
    for label in ("entailment", "neutral", "contradiction"):
        members = sorted((i for i in range(1000) if strata[i] == label), key=lambda i: rank[i])
        picked = [i for i in chosen if strata[i] == label]
        assert set(picked) == set(members[: len(picked)])


def test_deterministic_for_a_seed_and_different_for_another():
    strata = imbalanced_labels()
    assert subset_indices(1000, 30, seed=42) == subset_indices(1000, 30, seed=42)
    assert subset_indices(1000, 30, seed=42, strata=strata) == subset_indices(1000, 30, seed=42, strata=strata)
    assert subset_indices(1000, 30, seed=42) != subset_indices(1000, 30, seed=43)
    assert subset_indices(1000, 30, seed=42, strata=strata) != subset_indices(1000, 30, seed=43, strata=strata)


def test_stratified_result_does_not_depend_on_label_type_or_hashing():
    strata = imbalanced_labels()
    codes = {"entailment": 0, "neutral": 1, "contradiction": 2}
    assert subset_indices(1000, 50, 3, strata) == subset_indices(1000, 50, 3, [codes[s] for s in strata])


@pytest.mark.parametrize("bad", [-1, 101, 250, 10.5, 30.0, True, "10", None])
def test_bad_training_size_raises(bad):
    with pytest.raises(BioprobeError, match="Training size must be a whole percentage from 0 to 100"):
        subset_indices(100, bad, seed=0)


def test_strata_length_must_match_n():
    with pytest.raises(ValueError):
        subset_indices(10, 50, seed=0, strata=[0, 1])
