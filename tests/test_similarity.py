"""Known-answer tests for probing.similarity: linear CKA (standard and debiased) and the all-pairs layer matrix."""

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
