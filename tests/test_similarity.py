"""Known-answer tests for probing.similarity: linear CKA (standard and debiased) and the all-pairs layer matrix; the
registry of measures (CKA, Procrustes, mutual k-NN) with hand-checked values, invariances, self-similarity, resamples
equal to the measure on the resampled data set built out, intervals, and the bad-input sentences of the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bioprobe.probing import similarity
from bioprobe.probing.similarity import cka_matrix, linear_cka


def naive_cka(X, Y, debiased):
    """Reference in item space with explicit `n x n` kernels: `H K H` centering, or the unbiased HSIC formula."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    n = len(X)
    ones = np.ones(n)

    def hsic(K, L):
        if not debiased:
            H = np.eye(n) - np.outer(ones, ones) / n
            return np.trace(K @ H @ L @ H)
        Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
        return (np.trace(Kt @ Lt) + (ones @ Kt @ ones) * (ones @ Lt @ ones) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * ones @ Kt @ Lt @ ones) / (n * (n - 3))

    K, L = X @ X.T, Y @ Y.T
    return hsic(K, L) / math.sqrt(hsic(K, K) * hsic(L, L))


def related(rng, n, d1, d2, offset=0.0):
    """`X [n, d1]` and a noisy linear image of it `Y [n, d2]`, with column offsets, so CKA is well inside (0, 1)."""
    X = rng.standard_normal((n, d1)) + offset
    k = min(d1, d2)
    Y = X[:, :k] @ rng.standard_normal((k, d2)) + rng.standard_normal((n, d2)) - offset
    return X, Y


# X: the four unit vectors +-e1, +-e2 (column means already zero); Y = X scaled by diag(2, 1).
X4 = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
Y4 = X4 * [2.0, 1.0]


def test_hand_made_standard():
    # X^T X = diag(2, 2), Y^T Y = diag(8, 2), Y^T X = diag(4, 2):  (16 + 4) / sqrt(8 * 68) = 5 / sqrt(34)
    assert linear_cka(X4, Y4, debiased=False) == pytest.approx(0.8574929257125442, abs=1e-12)
    # Y = first column of X: Y^T X = [2, 0], Y^T Y = 2:  4 / (sqrt(8) * 2) = 1 / sqrt(2)
    assert linear_cka(X4, X4[:, :1], debiased=False) == pytest.approx(0.7071067811865476, abs=1e-12)


def test_hand_made_debiased():
    # Append a zero row (n = 5, means stay zero). K~, L~: the Gram matrices with zeroed diagonals.
    # HSIC_u(K, L): tr(K~L~) = 10, 1'K~1 = -4, 1'L~1 = -10, 1'K~L~1 = 10 -> (10 + 40/12 - 2/3 * 10) / 10 = 2/3
    # HSIC_u(K, K): 4, -4, -4, 4 -> 4/15;  HSIC_u(L, L): 34, -10, -10, 34 -> 59/30
    # CKA = (2/3) / sqrt(4/15 * 59/30) = sqrt(50/59)
    X5, Y5 = np.vstack([X4, [0.0, 0.0]]), np.vstack([Y4, [0.0, 0.0]])
    assert linear_cka(X5, Y5) == pytest.approx(0.9205746178983233, abs=1e-12)
    # the standard value is that of n = 4: a zero row at the mean adds nothing to any centered Gram matrix
    assert linear_cka(X5, Y5, debiased=False) == pytest.approx(0.8574929257125442, abs=1e-12)


@pytest.mark.parametrize("debiased", [True, False])
@pytest.mark.parametrize("n,d", [(6, 3), (40, 7), (30, 80)])
def test_self_similarity_is_one(debiased, n, d):
    X = np.random.default_rng(n).standard_normal((n, d)) + 3.0
    assert linear_cka(X, X, debiased) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(X, X.copy(), debiased) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("debiased", [True, False])
def test_invariances(debiased):
    rng = np.random.default_rng(1)
    X, Y = related(rng, 60, 8, 5, offset=2.0)
    X_before = X.copy()
    base = linear_cka(X, Y, debiased)
    assert 0.2 < base < 0.99
    np.testing.assert_array_equal(X, X_before)  # float64 input is centered in a copy, never in place
    Q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    assert linear_cka(X @ Q, Y, debiased) == pytest.approx(base, abs=1e-8)
    assert linear_cka(7.5 * X, 0.01 * Y, debiased) == pytest.approx(base, abs=1e-8)
    assert linear_cka(X + [100.0, -4, 0, 0, 0, 0, 0, 1], Y - 3.0, debiased) == pytest.approx(base, abs=1e-8)
    stretched = X * np.array([10.0, 1, 1, 1, 1, 1, 1, 0.1])
    assert abs(linear_cka(stretched, Y, debiased) - base) > 1e-2


@pytest.mark.parametrize("d1,d2,biased_min", [(50, 100, 0.1), (200, 200, 0.25)])
def test_independent_representations_debiased_near_zero(d1, d2, biased_min):
    rng = np.random.default_rng(d1 + d2)
    X, Y = rng.standard_normal((500, d1)), rng.standard_normal((500, d2))
    assert abs(linear_cka(X, Y)) < 0.05
    assert linear_cka(X, Y, debiased=False) > biased_min  # inflated by chance alignment at n / d of 2-10


@pytest.mark.parametrize("debiased", [True, False])
@pytest.mark.parametrize("n,d1,d2,offset", [(4, 2, 3, 0.0), (10, 3, 5, 5.0), (25, 6, 4, -2.0), (20, 100, 60, 1.0)])
def test_matches_naive_kernel_implementation(debiased, n, d1, d2, offset):
    rng = np.random.default_rng(n * d1)
    X, Y = related(rng, n, d1, d2, offset)
    assert linear_cka(X, Y, debiased) == pytest.approx(naive_cka(X, Y, debiased), abs=1e-10)
    Z = rng.standard_normal((n, d2))  # unrelated: the debiased value may be negative, and is not clipped
    assert linear_cka(X, Z, debiased) == pytest.approx(naive_cka(X, Z, debiased), abs=1e-10)


def test_debiased_can_be_negative():
    values = [linear_cka(*np.random.default_rng(s).standard_normal((2, 30, 5))) for s in range(20)]
    assert min(values) < 0


def _spy(monkeypatch, name):
    calls = []
    original = getattr(similarity, name)
    monkeypatch.setattr(similarity, name, lambda *a: calls.append(1) or original(*a))
    return calls


@pytest.mark.parametrize("debiased", [True, False])
@pytest.mark.parametrize("route", ["feature", "kernel", "streamed"])
def test_matrix_equals_pairwise(monkeypatch, debiased, route):
    rng = np.random.default_rng(5)
    n = 12 if route == "kernel" else 40  # few items, wide layers: <K, L> over kernel row blocks is cheaper
    dims = [30, 25, 40] if route == "kernel" else [5, 4, 6]
    base = rng.standard_normal((n, 8))
    xs = [base @ rng.standard_normal((8, d)) + rng.standard_normal((n, d)) + 1.0 for d in dims]
    ys = [np.tanh(x[:, :4]) + 0.1 * rng.standard_normal((n, 4)) for x in xs] + [rng.standard_normal((n, 9))]
    expected = np.array([[naive_cka(x, y, debiased) for y in ys] for x in xs])
    if route == "streamed":  # nothing cached, row chunks of 3 items: the memory-bounded path for large inputs
        monkeypatch.setattr(similarity, "CACHE_BYTES", 0)
        monkeypatch.setattr(similarity, "CHUNK_BYTES", 8 * 3 * 6)
    if route == "kernel":
        monkeypatch.setattr(similarity, "GRAM_BLOCK_BYTES", 8 * n * (len(xs) + len(ys)) * 5)  # blocks of 5 rows
    calls = _spy(monkeypatch, "_kernel_products")
    m = cka_matrix(xs, ys, debiased)
    assert len(calls) == (route == "kernel")
    assert m.shape == (3, 4)
    np.testing.assert_allclose(m, expected, rtol=0, atol=1e-10)
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            assert m[i, j] == pytest.approx(linear_cka(x, y, debiased), abs=1e-12)


@pytest.mark.parametrize("debiased", [True, False])
@pytest.mark.parametrize("n,d", [(40, 6), (12, 30)])
def test_matrix_of_identical_layer_lists(debiased, n, d):
    rng = np.random.default_rng(n)
    acts = np.cumsum(rng.standard_normal((5, n, d)), axis=0)  # [layers, items, dim], like a residual stream
    same = cka_matrix(acts, acts, debiased)  # one object: half the pairs
    twin = cka_matrix(list(acts), [a.copy() for a in acts], debiased)
    np.testing.assert_allclose(np.diag(same), 1.0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(same, same.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(same, twin, rtol=0, atol=1e-10)
    assert same[0, 1] > same[0, 4]  # nearby layers are more alike


def test_float16_matches_float32(tmp_path):
    rng = np.random.default_rng(2)
    X, Y = related(rng, 300, 32, 24, offset=1.0)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float16, shape=X.shape)
    mm[:] = X
    mm.flush()
    X16 = np.load(tmp_path / "x.npy", mmap_mode="r")
    for debiased in (True, False):
        assert linear_cka(X16, Y.astype(np.float16), debiased) == pytest.approx(
            linear_cka(X32, Y32, debiased), abs=1e-3)
    stack = np.stack([X32[:, :24], Y32])
    np.testing.assert_allclose(cka_matrix(stack.astype(np.float16), stack), cka_matrix(stack, stack), atol=1e-3)


@pytest.mark.parametrize("debiased", [True, False])
def test_constant_representation_gives_nan(debiased):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 4))
    const = np.full((10, 3), 0.1)  # 0.1 is not exact in binary: centering must still give exact zeros
    assert math.isnan(linear_cka(X, const, debiased))
    assert math.isnan(linear_cka(const, const, debiased))
    m = cka_matrix([X, const], [X, X[:, :2]], debiased)
    assert np.isnan(m[1]).all() and not np.isnan(m[0]).any()


def test_errors():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((10, 3))
    with pytest.raises(ValueError, match="has 9 rows but X has 10"):
        linear_cka(X, X[:9])
    with pytest.raises(ValueError, match="layers_y\\[1\\] has 9 rows"):
        cka_matrix([X, X], [X, X[:9]])
    with pytest.raises(ValueError, match="at least 4 items"):
        linear_cka(X[:3], X[:3, :2])
    assert linear_cka(X[:3], X[:3] @ [[1.0], [2.0], [0.5]], debiased=False) > 0  # the standard estimator: fine
    with pytest.raises(ValueError, match="2-D"):
        linear_cka(X[:, 0], X[:, 1])
    with pytest.raises(ValueError, match="no layers"):
        cka_matrix([], [X])
    with pytest.raises(ValueError, match="one 2-D array"):
        cka_matrix(X, X)
    with pytest.raises(ValueError, match="inf or nan"):
        linear_cka(X, np.where(X > 1.5, np.inf, X))


# --- the registry of measures with bootstrap intervals ---------------------------------------------------------

from click.testing import CliRunner  # noqa: E402

from bioprobe.cli import main  # noqa: E402
from bioprobe.probing.similarity import MEASURES, Pair, Side, compare, draw_counts, make_units  # noqa: E402


def point(name, X, Y, groups=None, k=10, **options):
    """A measure's value on the data set (all-ones counts) through its registry function."""
    units = make_units(len(X), groups)
    pair = Pair(Side(X, units), Side(Y, units))
    return float(MEASURES[name].function(pair, np.ones((1, units.count), dtype=int), k=k, **options)[0])


def huh_mutual_knn(A, B, k):
    """Huh et al. (2024) reference formula (platonic-rep `metrics.py`): rows L2-normalised, `A A^T` with the
    diagonal filled with -1e8, the top-k columns, the shared ones over k, averaged over items."""
    def knn(F):
        F = F / np.linalg.norm(F, axis=1, keepdims=True)
        S = F @ F.T
        np.fill_diagonal(S, -1e8)
        return np.argsort(-S, axis=1, kind="stable")[:, :k]
    a, b = knn(np.asarray(A, float)), knn(np.asarray(B, float))
    n = len(a)
    mask_a, mask_b = np.zeros((n, n)), np.zeros((n, n))
    mask_a[np.arange(n)[:, None], a] = 1
    mask_b[np.arange(n)[:, None], b] = 1
    return float(((mask_a * mask_b).sum(axis=1) / k).mean())


def ding_procrustes(A, B):
    """Ding et al. (2021) reference formula (`dists/scoring.py`): features x items, centred, unit Frobenius norm,
    `||A||^2 + ||B||^2 - 2 ||A B^T||_*`."""
    A, B = np.asarray(A, float).T, np.asarray(B, float).T
    A, B = A - A.mean(axis=1, keepdims=True), B - B.mean(axis=1, keepdims=True)
    A, B = A / np.linalg.norm(A), B / np.linalg.norm(B)
    return float((A**2).sum() + (B**2).sum() - 2 * np.linalg.norm(A @ B.T, ord="nuc"))


def test_the_registry_names_its_three_measures_and_what_each_claims():
    assert list(MEASURES) == ["cka", "procrustes", "mutual_knn"]
    assert {name: m.identical for name, m in MEASURES.items()} == {"cka": 1.0, "procrustes": 0.0, "mutual_knn": 1.0}
    assert MEASURES["procrustes"].similar == "low" and MEASURES["cka"].similar == "high"
    assert "translation" in MEASURES["procrustes"].invariances
    assert "translation" not in MEASURES["mutual_knn"].invariances


def test_procrustes_hand_checked():
    # X: +-e1, +-e2 (centred, ||X||^2 = 4); Y = X diag(2, 1) (||Y||^2 = 10); X^T Y = diag(4, 2), nuclear norm 6:
    # d = 2 - 2 * 6 / (2 sqrt(10)) = 2 - 6 / sqrt(10)
    assert point("procrustes", X4, Y4) == pytest.approx(0.10263340389897203, abs=1e-12)
    assert ding_procrustes(X4, Y4) == pytest.approx(0.10263340389897203, abs=1e-12)
    # a rotation by 30 degrees, a shift and a scale of 3 leave the shape: distance 0
    c, s_ = math.cos(math.pi / 6), math.sin(math.pi / 6)
    assert point("procrustes", X4, 3 * X4 @ [[c, -s_], [s_, c]] + [5.0, -1.0]) == pytest.approx(0.0, abs=1e-12)
    # Y = the first column only: X^T Y = [2, 0]^T, nuclear norm 2; d = 2 - 2 * 2 / (2 sqrt 2) = 2 - sqrt 2
    assert point("procrustes", X4, X4[:, :1]) == pytest.approx(0.5857864376269049, abs=1e-12)


def test_mutual_knn_hand_checked():
    # unit vectors at angles (degrees) 0, 10, 90, 100 in X; 0, 10, 90, 175 in Y. Nearest other item by cosine:
    # X: 0->1, 1->0, 2->3, 3->2;  Y: 0->1, 1->0, 2->1 (80 deg; 3 is 85 away), 3->2. Shared: items 0, 1, 3 -> 3/4.
    def circle(degrees):
        r = np.radians(degrees)
        return np.stack([np.cos(r), np.sin(r)], axis=1)
    X, Y = circle([0, 10, 90, 100]), circle([0, 10, 90, 175])
    assert point("mutual_knn", X, Y, k=1) == 0.75
    assert huh_mutual_knn(X, Y, 1) == 0.75
    # k = 2, Y at 0, 10, 90, 55: X: 0->{1,2}, 1->{0,2}, 2->{3,1}, 3->{2,1};  Y: 0->{1,3} (10, 55 deg),
    # 1->{0,3} (10, 45), 2->{3,1} (35, 80), 3->{2,1} (35, 45). Shared 1, 1, 2, 2 of 2 -> 6/8
    Y = circle([0, 10, 90, 55])
    assert point("mutual_knn", X, Y, k=2) == 0.75 == huh_mutual_knn(X, Y, 2)


@pytest.mark.parametrize("k", [1, 5, 10])
def test_mutual_knn_matches_the_reference_formula(k):
    rng = np.random.default_rng(k)
    X, Y = related(rng, 80, 6, 5, offset=1.0)
    assert point("mutual_knn", X, Y, k=k) == pytest.approx(huh_mutual_knn(X, Y, k), abs=1e-12)


def test_procrustes_matches_the_reference_formula():
    rng = np.random.default_rng(8)
    X, Y = related(rng, 50, 7, 4, offset=3.0)
    assert point("procrustes", X, Y) == pytest.approx(ding_procrustes(X, Y), abs=1e-12)


@pytest.mark.parametrize("debiased", [True, False])
def test_cka_of_the_registry_is_linear_cka(debiased):
    rng = np.random.default_rng(9)
    X, Y = related(rng, 40, 6, 5, offset=2.0)
    assert point("cka", X, Y, debiased=debiased) == pytest.approx(linear_cka(X, Y, debiased), abs=1e-12)


@pytest.mark.parametrize("name", list(MEASURES))
def test_a_representation_against_itself(name):
    rng = np.random.default_rng(10)
    X = rng.standard_normal((60, 8)) + 1.0
    groups = np.repeat(np.arange(20), 3)
    found = compare(X, X.copy(), [name], groups=groups, draws=100, seed=1, k=5)[name]
    ideal = MEASURES[name].identical
    assert found.value == pytest.approx(ideal, abs=1e-12)
    assert found.ci_low == pytest.approx(ideal, abs=1e-12) and found.ci_high == pytest.approx(ideal, abs=1e-12)


@pytest.mark.parametrize("name", list(MEASURES))
def test_each_measure_keeps_the_invariances_it_claims(name):
    rng = np.random.default_rng(11)
    X, Y = related(rng, 70, 6, 6, offset=1.5)
    base = point(name, X, Y, k=5)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    changed = {"rotation": X @ Q, "isotropic scale": 7.5 * X, "translation": X + rng.standard_normal(6) * 3}
    for invariance in MEASURES[name].invariances:
        assert point(name, changed[invariance], Y, k=5) == pytest.approx(base, abs=1e-9), invariance
    stretched = X * np.array([10.0, 1, 1, 1, 1, 0.1])  # no measure is blind to an anisotropic stretch
    assert abs(point(name, stretched, Y, k=5) - base) > 1e-3


def test_cosine_knn_is_not_translation_invariant():
    rng = np.random.default_rng(12)
    X, Y = related(rng, 70, 6, 6)
    assert point("mutual_knn", X + 5.0, Y, k=5) != point("mutual_knn", X, Y, k=5)


def resampled_set(X, units, counts_row):
    """The resampled data set built out: each (unit-ordered) item repeated by its count."""
    return np.repeat(X[units.order], counts_row[units.index], axis=0)


@pytest.mark.parametrize("debiased", [True, False])
def test_cka_and_procrustes_of_a_resample_are_those_of_the_resampled_data_set(debiased):
    rng = np.random.default_rng(13)
    X, Y = related(rng, 48, 5, 4, offset=2.0)
    groups = np.repeat(np.arange(16), 3)[rng.permutation(48)]  # units scattered over the rows
    units = make_units(48, groups)
    pair = Pair(Side(X, units), Side(Y, units))
    counts = draw_counts(units, 6, seed=3)
    cka = MEASURES["cka"].function(pair, counts, debiased=debiased)
    procrustes = MEASURES["procrustes"].function(pair, counts)
    for b in range(6):
        Xb, Yb = resampled_set(X, units, counts[b]), resampled_set(Y, units, counts[b])
        items = np.repeat(np.arange(48), counts[b][units.index])
        expected = naive_cka(Xb, Yb, False) if not debiased else resampled_debiased_cka(Xb, Yb, items)
        assert cka[b] == pytest.approx(expected, abs=1e-10)
        assert procrustes[b] == pytest.approx(ding_procrustes(Xb, Yb), abs=1e-10)
    single = (counts > 0).astype(int)  # 0/1 counts: the resample is a subset, and debiased CKA is that of the subset
    keep = np.flatnonzero(single[0][units.index])
    assert MEASURES["cka"].function(pair, single[:1], debiased=debiased)[0] == pytest.approx(
        linear_cka(X[units.order][keep], Y[units.order][keep], debiased), abs=1e-10)


def test_procrustes_with_fewer_items_than_dimensions_is_computed_in_item_space_with_the_same_values(monkeypatch):
    """40 NLI pairs of 768-dim entity-pair vectors: the resamples' nuclear norms come from the items' Gram matrices
    (two eigenproblems of the distinct items, not one of 768 x 768) and equal the resampled data set's distance."""
    from bioprobe.probing import similarity

    rng = np.random.default_rng(5)
    X, Y = related(rng, 10, 16, 12, offset=1.5)  # 10 items, 16 and 12 dimensions
    units = make_units(10)
    pair = Pair(Side(X, units), Side(Y, units))
    counts = draw_counts(units, 5, seed=8)
    called = []
    monkeypatch.setattr(similarity, "_nuclear_norms", lambda *args: called.append(args))  # the d x d route
    procrustes = MEASURES["procrustes"].function(pair, counts)
    assert called == []
    for b in range(5):
        Xb, Yb = resampled_set(X, units, counts[b]), resampled_set(Y, units, counts[b])
        assert procrustes[b] == pytest.approx(ding_procrustes(Xb, Yb), abs=1e-10)


@pytest.mark.parametrize("grouped", [False, True])
def test_procrustes_resamples_are_the_same_whichever_way_the_unit_products_are_stored(grouped, monkeypatch):
    """float32 unit products in one block, in column blocks, or rebuilt in chunks of units for each chunk of
    resamples (too many units to keep): the same values, those of the resampled data sets."""
    from bioprobe.probing import similarity

    rng = np.random.default_rng(18)
    X, Y = related(rng, 60, 7, 5, offset=1.0)
    units = make_units(60, rng.integers(0, 25, 60) if grouped else None)
    counts = draw_counts(units, 7, seed=1)
    monkeypatch.setattr(similarity, "SMALL_GRAM", 0)
    found = {}
    for route, block_bytes, kept_bytes in [("one block", 2**30, 2**30), ("columns", 200, 2**30), ("rebuilt", 200, 500)]:
        monkeypatch.setattr(similarity, "PRODUCT_BLOCK_BYTES", block_bytes)
        monkeypatch.setattr(similarity, "UNIT_PRODUCTS_BYTES", kept_bytes)
        pair = Pair(Side(X, units), Side(Y, units))
        found[route] = MEASURES["procrustes"].function(pair, counts)
        assert (pair.products is None) == (route == "rebuilt")
        assert route == "one block" or len(similarity._column_blocks(pair, 4)) > 1
    for b in range(7):
        expected = ding_procrustes(resampled_set(X, units, counts[b]), resampled_set(Y, units, counts[b]))
        for route, values in found.items():
            assert values[b] == pytest.approx(expected, abs=1e-5), route
            assert values[b] == pytest.approx(found["one block"][b], abs=1e-6), route


def resampled_debiased_cka(X, Y, items):
    """Debiased CKA of a resampled data set by Song et al.'s formula with explicit kernels, in which every pair of
    copies of one item (`items`: each point's original item) is left out like the diagonal."""
    X, Y = X - X.mean(axis=0), Y - Y.mean(axis=0)
    n, ones = len(X), np.ones(len(X))
    same = items[:, None] == items[None, :]

    def hsic(K, L):
        Kt, Lt = np.where(same, 0.0, K), np.where(same, 0.0, L)
        return (np.trace(Kt @ Lt) + (ones @ Kt @ ones) * (ones @ Lt @ ones) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * ones @ Kt @ Lt @ ones) / (n * (n - 3))

    K, L = X @ X.T, Y @ Y.T
    return hsic(K, L) / math.sqrt(hsic(K, K) * hsic(L, L))


def naive_resampled_knn(X, Y, units, counts_row, k):
    """Mutual k-NN on a resample by its definition: neighbours among the distinct resampled items (Huh et al.'s
    formula on them), each item's overlap weighted by its count."""
    weights = counts_row[units.index]
    keep = np.flatnonzero(weights > 0)
    Xo, Yo = X[units.order][keep], Y[units.order][keep]

    def knn(F):
        F = F / np.linalg.norm(F, axis=1, keepdims=True)
        S = F @ F.T
        np.fill_diagonal(S, -np.inf)
        return np.argsort(-S, axis=1, kind="stable")[:, :k]
    a, b = knn(Xo), knn(Yo)
    shared = np.array([len(set(p) & set(q)) for p, q in zip(a, b)]) / k
    return float(np.average(shared, weights=weights[keep]))


@pytest.mark.parametrize("depth", [None, 4])
def test_mutual_knn_of_a_resample_takes_neighbours_among_the_distinct_resampled_items(depth, monkeypatch):
    from bioprobe.probing import similarity

    if depth:  # lists only 4 deep: nearly every item is short of 3 present neighbours and is ranked again
        monkeypatch.setattr(similarity, "knn_depth", lambda k: depth)
    rng = np.random.default_rng(14)
    X, Y = related(rng, 60, 5, 5, offset=0.5)
    units = make_units(60, np.repeat(np.arange(20), 3))
    pair = Pair(Side(X, units), Side(Y, units))
    counts = draw_counts(units, 8, seed=4)
    found = MEASURES["mutual_knn"].function(pair, counts, k=3)
    for b in range(8):
        assert found[b] == pytest.approx(naive_resampled_knn(X, Y, units, counts[b], 3), abs=1e-12)


@pytest.mark.parametrize("k", [1, 4, 9, 25])
@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("shallow", [False, True])
def test_mutual_knn_bit_masks_and_the_redo_path_give_the_resampled_data_sets_values(k, grouped, shallow, monkeypatch):
    """Every resample against the definition, with most items served by the bit masks of their list's present
    entries and, where lists are shallow (k + 2 deep), many items short of k present ones that are ranked again
    (from their whole list, or over all items); k = 25 reaches past the masks' 52 bits (52 deep, not 2k + 8)."""
    from bioprobe.probing import similarity

    if shallow:
        monkeypatch.setattr(similarity, "knn_depth", lambda k: k + 2)
    redone, ranked = [], []
    first_present, exact_overlap = similarity._first_present, similarity._exact_overlap
    monkeypatch.setattr(similarity, "_first_present", lambda lists, *rest: (redone.append(len(lists)),
                                                                             first_present(lists, *rest))[1])
    monkeypatch.setattr(similarity, "_exact_overlap", lambda *args: (ranked.append(1), exact_overlap(*args))[1])
    rng = np.random.default_rng(30 + k)
    X, Y = related(rng, 90, 6, 5, offset=0.5)
    groups = rng.integers(0, 35, 90) if grouped else None  # units of 0 to about 8 items, scattered over the rows
    units = make_units(90, groups)
    pair = Pair(Side(X, units), Side(Y, units))
    counts = draw_counts(units, 30, seed=k)
    found = MEASURES["mutual_knn"].function(pair, counts, k=k)
    for b in range(30):
        assert found[b] == pytest.approx(naive_resampled_knn(X, Y, units, counts[b], k), abs=1e-12)
    if shallow:
        assert redone and ranked
    else:  # _first_present runs once per side, on the redone items only
        assert sum(redone) // 2 < int((units.items(counts) > 0).sum()) / 10


def test_units_are_resampled_whole_and_the_interval_is_seeded():
    units = make_units(9, ["s2", "s1", "s2", "s3", "s1", "s2", "s3", "s3", "s3"])
    assert list(units.sizes) == [2, 3, 4] and list(units.order) == [1, 4, 0, 2, 5, 3, 6, 7, 8]
    counts = draw_counts(units, 200, seed=0)
    assert counts.shape == (200, 3) and (counts.sum(axis=1) == 3).all()
    assert (units.items(counts)[:, :2] == counts[:, :1]).all()  # both items of s1 carry its count
    rng = np.random.default_rng(15)
    X, Y = related(rng, 90, 6, 4, offset=1.0)
    groups = np.repeat(np.arange(30), 3)
    first = compare(X, Y, groups=groups, draws=300, seed=7, k=4)
    again = compare(X, Y, groups=groups, draws=300, seed=7, k=4)
    other = compare(X, Y, groups=groups, draws=300, seed=8, k=4)
    assert first == again and first["cka"] != other["cka"]
    for name in ("cka", "procrustes"):
        assert first[name].ci_low < first[name].value < first[name].ci_high
    assert first["mutual_knn"].ci_low < first["mutual_knn"].ci_high


def test_mutual_knn_gets_no_interval_where_a_resample_has_too_few_items_for_k():
    """14 unrelated items with k = 10: most resamples hold 11 or fewer distinct items, where every item has all the
    others as neighbours in both (overlap 1); the interval is left out (it was [0.764, 0.764]). With 200 items every
    resample holds enough, and the interval is there; the other measures keep theirs either way."""
    rng = np.random.default_rng(3)
    few = compare(rng.normal(size=(14, 6)), rng.normal(size=(14, 6)), draws=200, seed=0, k=10)
    assert math.isnan(few["mutual_knn"].ci_low) and math.isnan(few["mutual_knn"].ci_high)
    assert 0 < few["mutual_knn"].value < 1 and few["cka"].ci_low < few["cka"].ci_high
    many = compare(rng.normal(size=(200, 6)), rng.normal(size=(200, 6)), draws=200, seed=0, k=10)
    assert many["mutual_knn"].ci_low < many["mutual_knn"].value < many["mutual_knn"].ci_high
    units = make_units(6, [0, 0, 1, 1, 2, 2])  # whole sentences: a resample of one sentence drawn 3 times holds 2
    assert similarity._too_few_for_k(units, np.array([[3, 0, 0]]), 1)
    assert not similarity._too_few_for_k(units, np.array([[1, 1, 1], [2, 1, 0]]), 2)


def test_float32_route_of_large_inputs_agrees(monkeypatch):
    from bioprobe.probing import similarity

    rng = np.random.default_rng(16)
    X, Y = related(rng, 120, 10, 8, offset=1.0)
    groups = np.repeat(np.arange(40), 3)
    exact = compare(X, Y, groups=groups, draws=50, seed=2, k=5)
    monkeypatch.setattr(similarity, "SMALL_GRAM", 0)  # float32 Gram rows and unit products, GEMM reductions
    fast = compare(X, Y, groups=groups, draws=50, seed=2, k=5)
    for name in MEASURES:
        for field in ("value", "ci_low", "ci_high"):
            assert getattr(fast[name], field) == pytest.approx(getattr(exact[name], field), abs=2e-5), (name, field)


def test_measure_errors_are_one_sentence():
    X = np.random.default_rng(17).standard_normal((6, 3))
    with pytest.raises(ValueError, match="Unknown similarity measure 'svcca'; the measures are cka, procrustes"):
        compare(X, X, ["svcca"])
    with pytest.raises(ValueError, match="k = 6 needs more than 6 items, but there are 6"):
        compare(X, X, ["mutual_knn"], k=6)


@pytest.fixture(scope="module")
def cued_ner(tmp_path_factory):
    from tiny_data import write_cued_ner

    return write_cued_ner(tmp_path_factory.mktemp("cued") / "ner")


def probe(runs, model, data, *extra):
    return CliRunner().invoke(main, ["probe", "--task", "ner", "--model_name", str(model), "--data", str(data),
                                     "--runs-dir", str(runs), "--training_size", "0", "--baseline", "random-init",
                                     "--no-mdl", "--no-control", *extra], catch_exceptions=False)


def test_probe_writes_each_measure_with_an_interval_and_its_matrix(tiny_model_dirs, cued_ner, tmp_path):
    import pandas as pd

    result = probe(tmp_path, tiny_model_dirs["bert"], cued_ner, "--similarity", "procrustes,mutual_knn",
                   "--knn-k", "5", "--similarity-draws", "200")
    assert result.exit_code == 0, result.output
    (path,) = (tmp_path / "results" / "probing").rglob("*.csv")
    rows = pd.read_csv(path)
    assert not rows["metric"].str.startswith("cka").any()
    for name in ("procrustes", "mutual_knn"):
        per_layer = rows[rows["metric"] == name].set_index("layer")
        assert sorted(per_layer.index) == [0, 1, 2]
        assert (per_layer["ci_low"] <= per_layer["ci_high"]).all() and per_layer["ci_low"].notna().all()
        matrix = rows[rows["metric"] == f"{name}_matrix"]
        assert len(matrix) == 9 and set(matrix["reference_layer"]) == {0, 1, 2}
        diagonal = matrix[matrix["layer"] == matrix["reference_layer"]].set_index("layer")["value"]
        np.testing.assert_allclose(diagonal.sort_index(), per_layer["value"].sort_index(), atol=1e-12)
    assert (rows.loc[rows["metric"] == "mutual_knn", "knn_k"] == 5).all()
    # the groups resampled are the test sentences: fewer units than items
    assert (rows["n_units"].dropna() < rows["n_cka"].dropna()).all()


@pytest.mark.parametrize("args, fragment", [
    (["--knn-k", "5000"], "--knn-k 5000 is too large: the compared models share"),
    (["--similarity", "cka,svcca"], "--similarity: Unknown similarity measure 'svcca'"),
])
def test_bad_similarity_input_is_one_sentence_and_a_nonzero_exit(args, fragment, tiny_model_dirs, cued_ner,
                                                                 tmp_path):
    result = probe(tmp_path, tiny_model_dirs["bert"], cued_ner, *args)
    assert result.exit_code != 0 and fragment in result.output
    assert "Traceback" not in result.output
    assert not list((tmp_path / "results").rglob("*.csv")) if (tmp_path / "results").exists() else True
