"""Linear CKA between two representations of the same items, for one pair or all pairs of layers.

Debiased (unbiased-HSIC) by default; float64 throughout, streaming row chunks of fp16 memory maps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

CHUNK_BYTES = 64 * 2**20
"""Size of one float64 row chunk when an input is converted and centered piece by piece."""
CACHE_BYTES = 2 * 2**30
"""Centered float64 copies of the layers kept in memory during one call, in all; the rest is re-read per pair."""
GRAM_BLOCK_BYTES = 256 * 2**20
"""Memory for the `[layers, rows, items]` kernel row blocks of the item-space route (see `cka_matrix`)."""
ZERO_TOL = 1e-12
"""A debiased self-HSIC at most this fraction of `||Xc^T Xc||_F^2 / (n (n-3))` counts as zero (constant layer)."""


@dataclass
class _Layer:
    """Per-layer quantities computed once and shared by every pair the layer is in.

    Attributes:
        source: `[n, d]` the layer as given (any float dtype, possibly memory-mapped).
        ref: `[d]` float64 first row, subtracted before averaging so constant columns center to exact zeros.
        offset: `[d]` float64 column mean of `source - ref`.
        centered: `[n, d]` float64 `source - ref - offset`, or None when it did not fit in `CACHE_BYTES`.
        row_sq: `[n]` squared row norms of the centered layer: the diagonal of `K = Xc Xc^T`. As the columns of
            `Xc` sum to zero, `K 1 = 0` and the row sums of `K~` (`K` with a zero diagonal) are `K~ 1 = -row_sq`.
    """

    source: np.ndarray
    ref: np.ndarray
    offset: np.ndarray
    centered: np.ndarray | None
    row_sq: np.ndarray

    @property
    def n(self) -> int:
        return self.source.shape[0]

    @property
    def d(self) -> int:
        return self.source.shape[1]


def linear_cka(X: np.ndarray, Y: np.ndarray, debiased: bool = True) -> float:
    """Linear CKA (Kornblith et al. 2019) between two representations of the same `n` items.

    Standard: `||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)` with column-centered `Xc`, `Yc`. Debiased
    (default): the same ratio built from the unbiased HSIC estimator of Song et al. (2012), as in Nguyen, Raghu &
    Kornblith (2021); it is near 0 for unrelated representations at any `n / d`, where the standard one is
    inflated, and can be slightly negative (it is not clipped). Everything is evaluated in float64 from
    `d1 x d2`-sized and length-`n` terms (see `cka_matrix` for the formulas); no `n x n` matrix is needed.

    Args:
        X: `[n, d1]` array (float16 memory maps are read in row chunks).
        Y: `[n, d2]` array; row `i` is the same item as row `i` of `X`.
        debiased: Use the unbiased HSIC estimator (needs `n >= 4`).

    Returns:
        The CKA, in [0, 1] for the standard estimator and about [-1, 1] for the debiased one; nan when `X` or
        `Y` is constant (every row the same), whose self-similarity is zero.

    Raises:
        ValueError: `X` and `Y` are not 2-D, have different numbers of rows, hold inf or nan, or `n < 4` with
            `debiased=True`.
    """
    return float(_cka_matrix([X], None if Y is X else [Y], debiased, ("X", "Y"))[0, 0])


def cka_matrix(
    layers_x: Sequence[np.ndarray] | np.ndarray, layers_y: Sequence[np.ndarray] | np.ndarray, debiased: bool = True
) -> np.ndarray:
    """Linear CKA between every layer of one model and every layer of another, on the same items.

    Per-layer terms (column centering, row norms) are computed once. With column-centered `Xc`, `Yc`,
    `K = Xc Xc^T`, `L = Yc Yc^T`, their diagonals (squared row norms) `k`, `l`, and `P = ||Xc^T Yc||_F^2 = <K, L>`:
    standard HSIC is `P` (its `1/(n-1)^2` cancels in the ratio). Unbiased HSIC does not change when features are
    centered, and centered `K 1 = 0` gives `tr(K~L~) = P - k.l`, `1'K~1 = -sum(k)`, `1'K~L~1 = k.l`, so
    `HSIC_u = [P - k.l + sum(k) sum(l) / ((n-1)(n-2)) - 2 k.l / (n-2)] / (n (n-3))`.
    Only `P` needs the data of both layers. It is taken in feature space (`Xc^T Yc`, `O(n d1 d2)` per pair) or,
    when that needs fewer operations and all centered layers fit in `CACHE_BYTES` (many layers, `n` below about
    `layers * d`), as `<K, L>` summed over row blocks of the kernels, `O(n^2 d)` per layer plus `O(n^2)` per
    pair, in at most `GRAM_BLOCK_BYTES` at a time. Layers that do not fit in `CACHE_BYTES` are re-read in row
    chunks of `CHUNK_BYTES`, so memory stays bounded for any `n`. Passing the same object as both arguments
    computes each pair once.

    Args:
        layers_x: Sequence of `[n, d_i]` arrays, or one `[layers, n, d]` array (float16 memory maps welcome).
        layers_y: The same for the other model (or the same object, for a layer-by-layer self-similarity).
        debiased: Use the unbiased HSIC estimator (needs `n >= 4`).

    Returns:
        `[len(layers_x), len(layers_y)]` float64 CKA values; nan for pairs with a constant layer.

    Raises:
        ValueError: A list is empty, a layer is not 2-D or holds inf or nan, layers differ in their number of
            rows, or `n < 4` with `debiased=True`.
    """
    if layers_y is layers_x:
        return _cka_matrix(layers_x, None, debiased, ("layers_x", "layers_y"))
    return _cka_matrix(layers_x, layers_y, debiased, ("layers_x", "layers_y"))


def _cka_matrix(layers_x, layers_y, debiased: bool, names: tuple[str, str]) -> np.ndarray:
    """`cka_matrix` with `layers_y=None` meaning "the same layers as `layers_x`" (half the pairs)."""
    xs = _as_layers(layers_x, names[0])
    ys = xs if layers_y is None else _as_layers(layers_y, names[1])
    same = layers_y is None
    n = xs[0][1].shape[0]
    for label, a in xs + ys:
        if a.shape[0] != n:
            raise ValueError(
                f"{label} has {a.shape[0]} rows but {xs[0][0]} has {n}; CKA compares representations of the same "
                "items, so every layer needs one row per item, in the same order."
            )
    if n == 0:
        raise ValueError(f"{xs[0][0]} has no rows; CKA needs at least one item (four for the debiased estimator).")
    if debiased and n < 4:
        raise ValueError(
            f"The debiased CKA estimator needs at least 4 items (rows), got {n}; pass debiased=False for the "
            "standard estimator."
        )

    layers = xs if same else xs + ys
    fits = np.cumsum([8 * a.size for _, a in layers]) <= CACHE_BYTES  # cache centered copies while they fit
    prepared = [_prepare(a, label, cache) for (label, a), cache in zip(layers, fits)]
    px = prepared[: len(xs)]
    py = px if same else prepared[len(xs):]
    cross, self_x, self_y = _pair_products(px, py, same)
    return _combine(cross, self_x, self_y, px, py, debiased)


def _as_layers(layers, name: str) -> list[tuple[str, np.ndarray]]:
    """`[(label, [n, d] array)]` from a sequence of 2-D arrays or a 3-D array, without copying."""
    if isinstance(layers, np.ndarray) and layers.ndim == 2:
        raise ValueError(
            f"{name} is one 2-D array of shape {layers.shape}; pass a list of [items, dim] arrays or one "
            "[layers, items, dim] array (use linear_cka for a single pair)."
        )
    out = [(name if name in ("X", "Y") else f"{name}[{i}]", np.asarray(a)) for i, a in enumerate(layers)]
    if not out:
        raise ValueError(f"{name} holds no layers.")
    for label, a in out:
        if a.ndim != 2:
            raise ValueError(f"{label} has shape {a.shape}; each representation must be a 2-D [items, dim] array.")
    return out


def _chunk_rows(d: int) -> int:
    return max(1, CHUNK_BYTES // (8 * max(d, 1)))


def _prepare(a: np.ndarray, label: str, cache: bool) -> _Layer:
    """Center one `[n, d]` layer in float64 and compute its per-layer terms, keeping the centered copy if `cache`."""
    n, d = a.shape
    rows = _chunk_rows(d)
    ref = a[0].astype(np.float64)
    total = np.zeros(d)
    for start in range(0, n, rows):
        block = a[start:start + rows].astype(np.float64)
        if not np.isfinite(block).all():
            raise ValueError(f"{label} holds inf or nan values (fp16 overflow?); CKA needs finite activations.")
        block -= ref
        total += block.sum(axis=0)
    offset = total / n
    centered = np.empty((n, d)) if cache else None
    row_sq = np.empty(n)
    layer = _Layer(a, ref, offset, None, row_sq)
    for start, block in _centered_chunks(layer, rows):
        row_sq[start:start + len(block)] = np.einsum("ij,ij->i", block, block)
        if centered is not None:
            centered[start:start + len(block)] = block
    layer.centered = centered
    return layer


def _centered_chunks(layer: _Layer, rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield `(start, [rows, d] float64 centered block)` over the items, from the cache or the source."""
    for start in range(0, layer.n, rows):
        if layer.centered is not None:
            yield start, layer.centered[start:start + rows]
        else:
            block = layer.source[start:start + rows].astype(np.float64)
            block -= layer.ref
            block -= layer.offset
            yield start, block


def _pair_products(px: list[_Layer], py: list[_Layer], same: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`<K_i, L_j>` for all pairs `[Lx, Ly]` and the self terms `<K_i, K_i>` `[Lx]`, `<L_j, L_j>` `[Ly]`.

    Takes the route with fewer multiply-adds: feature space, `n d_i d_j` per pair and `n d_i^2` per layer, or
    kernel row blocks (only when every centered layer is cached), `n^2 d_i / 2` per layer and `n^2 / 2` per pair.
    """
    n = px[0].n
    dx = np.array([layer.d for layer in px], dtype=np.float64)
    dy = np.array([layer.d for layer in py], dtype=np.float64)
    pairs = np.outer(dx, dy).sum() / (2 if same else 1)
    feature_cost = n * (pairs + (dx**2).sum() + (0 if same else (dy**2).sum()))
    kernel_cost = n * n * (dx.sum() + (0 if same else dy.sum()) + len(px) * len(py)) / 2
    cached = all(layer.centered is not None for layer in px + py)
    if cached and kernel_cost < feature_cost:
        return _kernel_products(px, py, same)
    return _feature_products(px, py, same)


def _feature_products(px: list[_Layer], py: list[_Layer], same: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair and self terms as `||Xc^T Yc||_F^2`, accumulated over row chunks."""
    self_x = np.array([_cross_norm(a, a) for a in px])
    self_y = self_x if same else np.array([_cross_norm(b, b) for b in py])
    cross = np.empty((len(px), len(py)))
    for i, a in enumerate(px):
        for j, b in enumerate(py):
            if same and j < i:
                cross[i, j] = cross[j, i]
            elif same and j == i:
                cross[i, j] = self_x[i]
            else:
                cross[i, j] = _cross_norm(a, b)
    return cross, self_x, self_y


def _cross_norm(a: _Layer, b: _Layer) -> float:
    """`||Xc^T Yc||_F^2` for two prepared layers, in one product when both are cached."""
    rows = a.n if a.centered is not None and b.centered is not None else min(_chunk_rows(a.d), _chunk_rows(b.d))
    acc = np.zeros((a.d, b.d))
    if a is b:
        for _, block in _centered_chunks(a, rows):
            acc += block.T @ block
    else:
        for (_, block_a), (_, block_b) in zip(_centered_chunks(a, rows), _centered_chunks(b, rows)):
            acc += block_a.T @ block_b
    return float(np.vdot(acc, acc))


def _kernel_products(px: list[_Layer], py: list[_Layer], same: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair and self terms as `<K, L>` over kernel row blocks, using `K`'s symmetry (upper triangle only)."""
    n = px[0].n
    layers = px if same else px + py
    rows = max(1, min(n, GRAM_BLOCK_BYTES // (8 * n * len(layers))))
    cross = np.zeros((len(px), len(py)))
    self_all = np.zeros(len(layers))
    buffer = np.empty(len(layers) * rows * n)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        # [layers, rows, n - start]: rows start:stop of every K, from column `start` on
        blocks = buffer[: len(layers) * (stop - start) * (n - start)].reshape(len(layers), stop - start, n - start)
        for k, layer in enumerate(layers):
            np.matmul(layer.centered[start:stop], layer.centered[start:].T, out=blocks[k])
        # entries right of the diagonal block stand for two entries of the symmetric K
        blocks[:, :, stop - start:] *= np.sqrt(2.0)
        flat = blocks.reshape(len(layers), -1)
        fx = flat[: len(px)]
        fy = fx if same else flat[len(px):]
        cross += fx @ fy.T
        self_all += np.einsum("ij,ij->i", flat, flat)
    self_x = self_all[: len(px)]
    self_y = self_x if same else self_all[len(px):]
    if same:
        np.fill_diagonal(cross, self_x)
    return cross, self_x, self_y


def _combine(cross, self_x, self_y, px: list[_Layer], py: list[_Layer], debiased: bool) -> np.ndarray:
    """CKA `[Lx, Ly]` from the kernel inner products and the per-layer terms."""
    n = px[0].n
    if debiased:
        kx = np.stack([layer.row_sq for layer in px])
        ky = kx if py is px else np.stack([layer.row_sq for layer in py])
        sx, sy = kx.sum(axis=1), ky.sum(axis=1)

        def hsic(p, kk, ss):
            # with a = K~ 1 = -k and b = L~ 1 = -l: tr(K~L~) = P - k.l, 1'K~1 1'L~1 = sum(k) sum(l), 1'K~L~1 = k.l
            return (p - kk + ss / ((n - 1) * (n - 2)) - 2.0 * kk / (n - 2)) / (n * (n - 3))

        num = hsic(cross, kx @ ky.T, np.outer(sx, sy))
        hx = hsic(self_x, np.einsum("ij,ij->i", kx, kx), sx * sx)
        hy = hsic(self_y, np.einsum("ij,ij->i", ky, ky), sy * sy)
        zero_x = hx <= ZERO_TOL * self_x / (n * (n - 3))
        zero_y = hy <= ZERO_TOL * self_y / (n * (n - 3))
    else:
        num, hx, hy = cross, self_x, self_y
        zero_x, zero_y = hx <= 0, hy <= 0
    hx = np.where(zero_x, np.nan, hx)
    hy = np.where(zero_y, np.nan, hy)
    with np.errstate(invalid="ignore"):
        return num / np.sqrt(np.outer(hx, hy))
