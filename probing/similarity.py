"""Representation similarity of the same items under two models: a registry of measures (`MEASURES`: debiased linear
CKA, orthogonal Procrustes distance, mutual k-nearest-neighbour overlap), each one function that scores bootstrap
resamples, their layer-by-layer matrices and percentile bootstrap intervals (`compare`). The all-pairs linear CKA
(`cka_matrix`, `linear_cka`) is float64 throughout and streams row chunks of fp16 memory maps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

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
    """Pair and self terms as `||Xc^T Yc||_F^2`, accumulated over row chunks; the products in parallel threads."""
    selves = px if same else px + py
    pairs = [(i, j) for i in range(len(px)) for j in range(len(py)) if not same or j > i]
    norms = _parallel(lambda ab: _cross_norm(*ab), [(a, a) for a in selves] + [(px[i], py[j]) for i, j in pairs],
                      _workers())
    self_x = np.array(norms[:len(px)])
    self_y = self_x if same else np.array(norms[len(px):len(selves)])
    cross = np.empty((len(px), len(py)))
    for (i, j), value in zip(pairs, norms[len(selves):]):
        cross[i, j] = value
        if same:
            cross[j, i] = value
    if same:
        np.fill_diagonal(cross, self_x)
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


# --- measures with bootstrap intervals ---------------------------------------------------------------------------
#
# A resample is a vector of counts over resampling units (sentences for NER, items otherwise): unit g drawn c_g times
# puts each of its items in the resampled data set c_g times. Every measure is one function that scores a batch of
# such count vectors `[B, units]`; the data set itself is the all-ones vector, so the point estimate and the
# resamples come from the same code. Per-layer terms (centred features, unit sums, Gram-matrix reductions,
# neighbour lists) are computed once in `Side` / `Pair` and shared by the measures and by every resample.

SMALL_GRAM = 2e9
"""Up to this many multiply-adds (`n * n * d`) a Gram matrix is computed in float64, above it in float32 (its
reductions are still summed in float64). The caches hold fp16 activations, so float32 products lose nothing that the
inputs had; the tests compare both routes."""
BLOCK_BYTES = 256 * 2**20
"""Memory for the `[rows, n]` Gram row blocks of one pass over the items, per thread (`_parallel`)."""
UNIT_PRODUCTS_BYTES = 512 * 2**20
"""Largest `[units, d_x, d_y]` float32 stack of per-unit cross-products `X_g^T Y_g` kept for the Procrustes
resamples; above it the stack is rebuilt in unit chunks for each chunk of resamples (slower, bounded memory)."""
DRAW_CHUNK = 100
"""Resamples scored at once (by one thread; see `_resampled_values`)."""
PRODUCT_BLOCK_BYTES = 24 * 2**20
"""Largest block of the Procrustes unit products and of their GEMM with a chunk's counts: below the C allocator's
32 MiB, up to which freed memory is reused rather than returned (fresh pages cost page faults)."""


@dataclass(frozen=True)
class Units:
    """Items grouped into resampling units, items reordered so that each unit's items are contiguous.

    Attributes:
        order: `[n]` the original row of each reordered item.
        starts: `[G]` first reordered item of each unit.
        index: `[n]` unit of each reordered item.
        sizes: `[G]` items per unit.
    """

    order: np.ndarray
    starts: np.ndarray
    index: np.ndarray
    sizes: np.ndarray
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n(self) -> int:
        return len(self.order)

    @property
    def count(self) -> int:
        return len(self.starts)

    def items(self, counts: np.ndarray) -> np.ndarray:
        """`[B, n]` multiplicity of every (reordered) item under `[B, G]` unit counts."""
        return counts[:, self.index]


def make_units(n: int, groups=None) -> Units:
    """`Units` of `n` items: each item its own unit, or one unit per distinct value of `groups` (`[n]`)."""
    if groups is None:
        order = np.arange(n)
        return Units(order, order.copy(), order.copy(), np.ones(n, dtype=np.int64))
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups must have one entry per item ({n}); got shape {groups.shape}.")
    _, inverse = np.unique(groups, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    index = inverse[order]
    sizes = np.bincount(index)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return Units(order, starts, index, sizes)


class Side:
    """One representation of the compared items (one layer of one model), with its per-layer terms.

    Attributes:
        x: `[n, d]` float64 features minus their mean, items in unit order.
        mean: `[d]` the mean that was subtracted.
        row_sq: `[n]` squared norms of the centred rows (the diagonal of `K = x x^T`).
        unit_sums: `[G, d]` sums of the centred rows per unit; `unit_sq`: `[G]` sums of `row_sq` per unit.
        norms: `[n]` norms of the uncentred rows (cosine neighbours); 1 where a row is all zeros.
        kk: `[G, G]` `K o K` summed over unit blocks (CKA self term), once a Gram pass made it.
        neighbours: `[n, m]` each item's nearest other items by cosine similarity, nearest first (ties: lower item
            first), once a Gram pass made them.
    """

    def __init__(self, source, units: Units, label: str = "X"):
        a = np.asarray(source)
        if a.ndim != 2:
            raise ValueError(f"{label} has shape {a.shape}; each representation must be a 2-D [items, dim] array.")
        if a.shape[0] != units.n:
            raise ValueError(f"{label} has {a.shape[0]} rows but the items are {units.n}; every representation "
                             "needs one row per item, in the same order.")
        x = a[units.order].astype(np.float64)
        if not np.isfinite(x).all():
            raise ValueError(f"{label} holds inf or nan values (fp16 overflow?); similarity needs finite activations.")
        self.label, self.units = label, units
        self.mean = x.mean(axis=0)
        x -= self.mean
        self.x = x
        self.row_sq = np.einsum("ij,ij->i", x, x)
        self.unit_sums = np.add.reduceat(x, units.starts, axis=0)
        self.unit_sq = np.add.reduceat(self.row_sq, units.starts)
        raw_sq = self.row_sq + 2.0 * (x @ self.mean) + self.mean @ self.mean
        norms = np.sqrt(np.maximum(raw_sq, 0.0))
        self.norms = np.where(norms > 0, norms, 1.0)
        self.kk: np.ndarray | None = None
        self.neighbours: np.ndarray | None = None
        self._x32 = None
        self._md: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def d(self) -> int:
        return self.x.shape[1]

    @property
    def small(self) -> bool:
        return self.n * self.n * self.d <= SMALL_GRAM

    def gram_rows(self, start: int, stop: int) -> np.ndarray:
        """`[stop - start, n]` rows of the centred Gram matrix `K` (float64 for small inputs, else float32)."""
        if self.small:
            return self.x[start:stop] @ self.x.T
        x32 = self.x32()
        return (x32[start:stop] @ x32.T).numpy()

    def x32(self):
        """`x` in float32, as a torch tensor (made once)."""
        import torch

        if self._x32 is None:
            self._x32 = torch.from_numpy(self.x.astype(np.float32))
        return self._x32

    def cosine_rows(self, start: int, stop: int, gram: np.ndarray) -> np.ndarray:
        """Cosine similarities of the uncentred rows `start:stop` with every row, from the centred Gram rows (the
        mean added back: `x_i . x_j + (x_i + x_j) . mean + |mean|^2`, over the norms), self-similarity `-inf`;
        overwrites `gram`."""
        if self._md is None:
            self._md = self.x @ self.mean
        md = self._md
        scale = 1.0 / self.norms
        gram += (md[start:stop] + self.mean @ self.mean)[:, None].astype(gram.dtype)
        gram += md[None, :].astype(gram.dtype)
        gram *= scale[start:stop, None].astype(gram.dtype)
        gram *= scale[None, :].astype(gram.dtype)
        gram[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        return gram


def _row_blocks(units: Units, cells_per_row: int, arrays: int) -> list[tuple[int, int]]:
    """Row ranges of whole units, each with at most about `BLOCK_BYTES` in `arrays` `[rows, cells_per_row]`
    arrays of 8 bytes (at least one unit per block)."""
    rows = max(1, BLOCK_BYTES // (8 * max(1, cells_per_row) * arrays))
    blocks, start = [], 0
    ends = np.concatenate([units.starts[1:], [units.n]])
    while start < units.n:
        first = np.searchsorted(units.starts, start)
        last = max(first, np.searchsorted(ends, start + rows, side="right") - 1)
        stop = int(ends[last])
        blocks.append((start, stop))
        start = stop
    return blocks


def _reduce_units(block: np.ndarray, units: Units, start: int, stop: int, onehot=None) -> np.ndarray:
    """`[units in start:stop, G]` float64 sums of a `[stop - start, n]` block over unit rows and unit columns: in
    float64 (`reduceat`) for a float64 block, else as two skinny float32 GEMMs with the `[n, G]` one-hot matrix
    `onehot` (a torch tensor; about 6x faster than `reduceat`)."""
    first, last = np.searchsorted(units.starts, start), np.searchsorted(units.starts, stop)
    if block.dtype == np.float64 or onehot is None:
        rows = np.add.reduceat(block, units.starts[first:last] - start, axis=0, dtype=np.float64)
        return np.add.reduceat(rows, units.starts, axis=1)
    import torch

    rows = onehot[start:stop, first:last].T @ torch.from_numpy(block)  # [units here, n]
    return (rows @ onehot).numpy().astype(np.float64)


def _onehot(units: Units):
    """`[n, G]` float32 torch one-hot matrix of each item's unit (made once per `Units`)."""
    import torch

    if "onehot" not in units._cache:
        out = torch.zeros((units.n, units.count), dtype=torch.float32)
        out[torch.arange(units.n), torch.from_numpy(units.index)] = 1.0
        units._cache["onehot"] = out
    return units._cache["onehot"]


def _top(scores: np.ndarray, m: int, start: int) -> np.ndarray:
    """`[rows, m]` columns of the `m` largest scores per row, largest first, ties to the lower column (beyond 4,096
    columns, which of several scores tied at depth m are kept is torch's choice)."""
    rows, n = scores.shape
    m = min(m, n - 1)
    if n <= 4096:
        return np.argsort(-scores, axis=1, kind="stable")[:, :m]
    import torch

    values, index = torch.topk(torch.from_numpy(scores), m, dim=1)
    values, index = values.numpy().astype(np.float64), index.numpy()
    by_index = np.argsort(index, axis=1, kind="stable")  # then a stable sort by score keeps ties in item order
    values, index = np.take_along_axis(values, by_index, 1), np.take_along_axis(index, by_index, 1)
    return np.take_along_axis(index, np.argsort(-values, axis=1, kind="stable"), 1)


def _parallel(function: Callable, items: list, workers: int) -> list:
    """`[function(item) for item in items]` in `workers` threads, with one BLAS and one torch thread each: the
    element-wise passes, reductions and top-k searches between GEMMs keep only one core busy each (numpy and torch
    release the GIL in them), and on 2 cores multi-threaded GEMMs of a row block mostly waited on each other. Called
    from one of these threads, it runs the items in turn."""
    import threading

    if workers == 1 or len(items) < 2 or threading.current_thread() is not threading.main_thread():
        return [function(item) for item in items]
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")  # only where it is in use
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            return list(pool.map(function, items))
    finally:
        if torch is not None:
            torch.set_num_threads(before)


def _gram_pass(sides: list[Side], pair: Pair | None, depth: int, kk: bool = True) -> None:
    """One pass over row blocks of the sides' Gram matrices, filling what is still missing: each side's `kk` (when
    `kk`), its neighbour lists (`depth` per item, 0: none) and the pair's cross term `kl` (when `pair`)."""
    units = sides[0].units
    need_kk = [s for s in sides if s.kk is None] if kk else []
    need_nn = [s for s in sides if depth and (s.neighbours is None or s.neighbours.shape[1] < min(depth, s.n - 1))]
    need_kl = pair is not None and pair.kl is None
    if not (need_kk or need_nn or need_kl):
        return
    G = units.count
    kk_of = {id(s): np.empty((G, G)) for s in need_kk}
    nn = {id(s): np.empty((units.n, min(depth, units.n - 1)), dtype=np.int64) for s in need_nn}
    kl = np.empty((G, G)) if need_kl else None
    onehot = _onehot(units) if (need_kk or need_kl) and not sides[0].small else None

    def block(rows: tuple[int, int]) -> None:
        start, stop = rows
        grams = {id(s): s.gram_rows(start, stop) for s in sides}
        g0, g1 = np.searchsorted(units.starts, start), np.searchsorted(units.starts, stop)
        for s in need_kk:
            kk_of[id(s)][g0:g1] = _reduce_units(np.square(grams[id(s)]), units, start, stop, onehot)
        if need_kl:
            kl[g0:g1] = _reduce_units(grams[id(pair.x)] * grams[id(pair.y)], units, start, stop, onehot)
        for s in need_nn:  # last: the cosine rows overwrite the Gram rows
            nn[id(s)][start:stop] = _top(s.cosine_rows(start, stop, grams[id(s)]), depth, start)

    for s in sides:  # shared by the threads: made before them
        if not s.small:
            s.x32()
        if need_nn and s._md is None:
            s._md = s.x @ s.mean
    # the same blocks whatever the threads: a unit's kernel sums are GEMMs over its block's rows, whose float32
    # rounding would change with the block
    _parallel(block, _row_blocks(units, units.n, 2 * len(sides) + 2), _workers())
    for s in need_kk:
        s.kk = kk_of[id(s)]
    for s in need_nn:
        s.neighbours = nn[id(s)]
    if need_kl:
        pair.kl = kl


@dataclass
class Pair:
    """Two representations of the same items (`x`: the reference), with the terms that need both.

    Attributes:
        kl: `[G, G]` `K o L` summed over unit blocks (CKA cross term), once a Gram pass made it.
        products: `[G, d_x, d_y]` per-unit cross-products `X_g^T Y_g` (Procrustes resamples), or None.
    """

    x: Side
    y: Side
    kl: np.ndarray | None = None
    products: np.ndarray | None = None
    _cache: dict = field(default_factory=dict)

    @property
    def units(self) -> Units:
        return self.x.units

    def grams(self, depth: int = 0, cka: bool = True) -> None:
        """Make the neighbour lists (`depth` deep) and, with `cka`, the CKA Gram terms of both sides and the pair,
        in one pass over the Gram matrices."""
        _gram_pass([self.x, self.y], self if cka else None, depth, kk=cka)


def _all_ones(counts: np.ndarray) -> bool:
    return counts.shape[0] == 1 and bool((counts == 1).all())


def _item_kernel_sums(side: Side, counts: np.ndarray) -> np.ndarray:
    """`[B, n]` `(K w)_i = x_i . sum_j w_j x_j` for every item under each resample."""
    sums = counts @ side.unit_sums  # [B, d]
    return (side.x @ sums.T).T


def cka_resampled(pair: Pair, counts: np.ndarray, *, debiased: bool = True, **_) -> np.ndarray:
    """Linear CKA (Kornblith et al. 2019) of each resample; debiased (Nguyen, Raghu & Kornblith 2021) by default.

    A resample with counts `w` is the data set in which item i appears `w_i` times, `N = sum w`. With the Gram
    matrices `K`, `L` of the features centred on the resample's mean (from those of all items: `K_c = K - a1' -
    1a' + c`, `a = Kw / N`, `c = w'Kw / N^2`, so `K_c w = 0`), `k_c`, `l_c` their diagonals, unbiased HSIC on the
    resample leaves out every pair of copies of one item, as it leaves out the diagonal (`K~` is zero wherever both
    points are the same item): `tr(K~L~) = w'(K_c o L_c)w - sum w^2 k_c l_c`, `1'K~1 = -sum w^2 k_c`,
    `1'K~L~1 = sum w^3 k_c l_c`, then Song et al.'s formula with `N`. Counting
    copies as distinct points instead would pair each duplicated item with itself, whose two copies agree perfectly
    in both representations: measured on 10,000 random words that pushed every resample above the data set's value
    (0.672, interval 0.682-0.685); with 0/1 counts the two definitions coincide. The standard estimator, which keeps
    the diagonal, centres by the resample's mean:
    `T1 - 2/N sum_i w_i (Kw)_i (Lw)_i + (w'Kw)(w'Lw)/N^2`. `w'(K o L)w` comes from `[G, G]` unit-block sums, so a
    resample costs `O(G^2 + n B)`, not a new Gram matrix.

    Args:
        pair: The two representations.
        counts: `[B, G]` unit counts of the resamples (all ones: the data set).
        debiased: Unbiased HSIC estimator (needs 4 items per resample) or the standard one.

    Returns:
        `[B]` CKA values; nan where a representation is constant on the resample.
    """
    pair.grams()
    x, y = pair.x, pair.y
    w = counts.astype(np.float64)
    witems = pair.units.items(w)  # [B, n]
    N = w @ pair.units.sizes
    kw, lw = _item_kernel_sums(x, w), _item_kernel_sums(y, w)  # [B, n]
    wkw, wlw = np.einsum("bi,bi->b", witems, kw), np.einsum("bi,bi->b", witems, lw)  # w'Kw, w'Lw

    def quad(m):
        return np.einsum("bg,bg->b", w @ m, w)

    def hsic(t1, kw_, lw_, wkw_, wlw_, kd, ld):
        if not debiased:
            return t1 - 2.0 / N * np.einsum("bi,bi->b", witems * kw_, lw_) + wkw_ * wlw_ / N**2
        # centred on the resample's mean: K_c = K - a 1' - 1 a' + c with a = Kw / N, so K_c w = 0, and diagonal
        # kc = k - 2 Kw / N + w'Kw / N^2
        kc = kd[None, :] - 2.0 * kw_ / N[:, None] + (wkw_ / N**2)[:, None]
        lc = ld[None, :] - 2.0 * lw_ / N[:, None] + (wlw_ / N**2)[:, None]
        w2 = witems * witems
        centred = t1 - 2.0 / N * np.einsum("bi,bi->b", witems * kw_, lw_) + wkw_ * wlw_ / N**2  # w'(K_c o L_c)w
        trace = centred - np.einsum("bi,bi->b", w2 * kc, lc)
        ones = np.einsum("bi,bi->b", w2 * witems * kc, lc)  # sum_i w_i (0 - w_i kc_i)(0 - w_i lc_i)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (trace + np.einsum("bi,bi->b", w2, kc) * np.einsum("bi,bi->b", w2, lc) / ((N - 1) * (N - 2))
                    - 2.0 * ones / (N - 2)) / (N * (N - 3))

    txx, tyy = quad(x.kk), quad(y.kk)
    hxy = hsic(quad(pair.kl), kw, lw, wkw, wlw, x.row_sq, y.row_sq)
    hxx = hsic(txx, kw, kw, wkw, wkw, x.row_sq, x.row_sq)
    hyy = hsic(tyy, lw, lw, wlw, wlw, y.row_sq, y.row_sq)
    with np.errstate(invalid="ignore", divide="ignore"):
        size = np.maximum(N * (N - 3), 1) if debiased else 1.0
        constant = (hxx <= ZERO_TOL * np.abs(txx) / size) | (hyy <= ZERO_TOL * np.abs(tyy) / size)
        return hxy / np.sqrt(np.where(constant, np.nan, hxx * hyy))


def _column_blocks(pair: Pair, itemsize: int) -> list[slice]:
    """Ranges of the flattened `d_x d_y` products (whole rows of `X^T Y`) in which the products and their GEMM with
    the counts are stored: each at most `PRODUCT_BLOCK_BYTES` for the rows of one GEMM (all units, the units of one
    chunk where they are rebuilt, or `DRAW_CHUNK` resamples if more)."""
    G, dx, dy = pair.units.count, pair.x.d, pair.y.d
    rows = max(min(G, max(1, UNIT_PRODUCTS_BYTES // (4 * dx * dy))), DRAW_CHUNK)
    step = max(1, PRODUCT_BLOCK_BYTES // (itemsize * dy * rows))
    return [slice(i * dy, min(dx, i + step) * dy) for i in range(0, dx, step)]


def _unit_products(pair: Pair, first: int, last: int, dtype=np.float32) -> list[np.ndarray]:
    """Cross-products `X_g^T Y_g` of units `first:last` (each summed in float64), flattened and stored in column
    blocks (`_column_blocks`): `[last - first, columns]` arrays."""
    units, x, y = pair.units, pair.x, pair.y
    blocks = _column_blocks(pair, np.dtype(dtype).itemsize)
    if (units.sizes[first:last] == 1).all():  # one item per unit: outer products
        rows = units.starts[first:last]
        a, b = x.x[rows].astype(dtype), y.x[rows].astype(dtype)
        return [np.einsum("gi,gj->gij", a[:, block.start // y.d:block.stop // y.d], b).reshape(last - first, -1)
                for block in blocks]
    out = [np.empty((last - first, block.stop - block.start), dtype=dtype) for block in blocks]
    ends = np.concatenate([units.starts[1:], [units.n]])
    def fill(span: tuple[int, int]) -> None:
        product = np.empty((x.d, y.d))  # reused: a fresh d x d result per unit cost more in page faults than the GEMM
        flat = product.reshape(-1)
        for g in range(*span):
            a, b = units.starts[g], ends[g]
            np.matmul(x.x[a:b].T, y.x[a:b], out=product)
            for part, block in zip(out, blocks):
                part[g - first] = flat[block]

    # products of a few rows: BLAS threads only wait on each other; threads take halves of the units instead
    bounds = np.linspace(first, last, _workers() + 1).astype(int)
    _parallel(fill, [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a], _workers())
    return out


def _products(pair: Pair) -> list[np.ndarray] | None:
    """The pair's per-unit products (`_unit_products` of all units), made once: float64 for small inputs, float32 up
    to `UNIT_PRODUCTS_BYTES`; None above it (they are rebuilt in unit chunks for each chunk of resamples)."""
    G, dx, dy = pair.units.count, pair.x.d, pair.y.d
    if pair.products is None:
        if G * dx * dy <= SMALL_GRAM / 200:  # small: float64 throughout
            pair.products = _unit_products(pair, 0, G, np.float64)
        elif G * dx * dy * 4 <= UNIT_PRODUCTS_BYTES:
            pair.products = _unit_products(pair, 0, G)
    return pair.products


def _cross_resampled(pair: Pair) -> np.ndarray:
    """`[1, d_x, d_y]` float64 `sum_i x_i y_i^T` of the (globally centred) features of the data set (float32 products
    for large inputs)."""
    if pair.x.small:
        return (pair.x.x.T @ pair.y.x)[None]
    return (pair.x.x32().T @ pair.y.x32()).numpy().astype(np.float64)[None]


def _cross_blocks(pair: Pair, counts: np.ndarray) -> list[np.ndarray]:
    """`sum_i w_i x_i y_i^T` of the (globally centred) features under each resample, flattened, in the column blocks
    of the products (`[B, columns]` arrays): a GEMM of the counts with the unit products, float64 for small inputs,
    else float32. Blocks of at most `PRODUCT_BLOCK_BYTES` are reused by the allocator where one `[B, d_x d_y]` array
    would be fresh memory each time (page faults cost as much as a third of the GEMM)."""
    G = pair.units.count
    products = _products(pair)
    if products is not None:
        flat = counts.astype(products[0].dtype)
        return [flat @ part for part in products]
    flat = counts.astype(np.float32)
    out = [np.zeros((len(counts), block.stop - block.start), dtype=np.float32) for block in _column_blocks(pair, 4)]
    step = max(1, UNIT_PRODUCTS_BYTES // (4 * pair.x.d * pair.y.d))
    for first in range(0, G, step):
        last = min(G, first + step)
        for total, part in zip(out, _unit_products(pair, first, last)):
            total += flat[:, first:last] @ part
    return out


def _nuclear_norms(pair: Pair, counts: np.ndarray, sx: np.ndarray, sy: np.ndarray, N: np.ndarray) -> np.ndarray:
    """`[B]` nuclear norms of the resamples' cross-products centred on their means, `X^T W Y - sx sy^T / N`
    (`sx`, `sy`: `[B, d]` weighted sums, `N`: `[B]` sizes): square roots of the eigenvalues of the smaller Gram matrix
    `M^T M` or `M M^T` (float64 eigenvalues: a singular value of 1e-8 of the largest is still resolved). After one
    GEMM of the counts with the unit products, one resample at a time: its float64 matrix, the correction, the Gram
    matrix and its eigenvalues, so that these `d x d` intermediates stay in cache (no `[B, d, d]` float64 copies).
    `compare` scores chunks of resamples in parallel threads."""
    dx, dy = pair.x.d, pair.y.d
    cross = _cross_blocks(pair, counts)
    blocks = _column_blocks(pair, cross[0].itemsize)
    out = np.empty(len(counts))
    m, mean = np.empty((dx, dy)), np.empty((dx, dy))
    flat = m.reshape(-1)
    for b in range(len(counts)):
        for part, block in zip(cross, blocks):
            flat[block] = part[b]
        np.multiply.outer(sx[b], sy[b], out=mean)
        mean /= N[b]
        m -= mean
        gram = m.T @ m if dy <= dx else m @ m.T
        out[b] = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None)).sum()
    return out


RANK_TOL = 1e-12
"""Eigenvalues below this share of the largest count as 0 in `_nuclear_norms_in_item_space` (their square roots would
add rounding noise of 1e-8 each to the nuclear norm)."""


def _nuclear_norms_in_item_space(pair: Pair, counts: np.ndarray) -> np.ndarray:
    """`[B]` nuclear norms of `X_c^T W Y_c` (each side centred on the resample's weighted mean) from the `n x n` Gram
    matrices, for inputs with fewer items than dimensions: its singular values are the square roots of the
    eigenvalues of `K_A^1/2 K_B K_A^1/2`, `K_A = W^1/2 X_c X_c^T W^1/2` (likewise `K_B`), two eigenproblems of the
    resample's distinct items instead of one of `d x d` (40 NLI pairs of 768-dim entity-pair vectors: 40 x 40 for
    768 x 768)."""
    grams = [pair._cache.get(key) for key in ("item_gram_x", "item_gram_y")]
    if grams[0] is None:
        grams = [side.x @ side.x.T for side in (pair.x, pair.y)]
        pair._cache.update(item_gram_x=grams[0], item_gram_y=grams[1])
    out = np.empty(len(counts))
    for b, weights in enumerate(pair.units.items(counts).astype(np.float64)):
        keep = weights > 0
        w, root = weights[keep], np.sqrt(weights[keep])
        scaled = []
        for gram in grams:
            g = gram[np.ix_(keep, keep)]
            mean = g @ w / w.sum()  # x_i . mean_w
            centred = g - mean[:, None] - mean[None, :] + (w @ mean) / w.sum()
            scaled.append(root[:, None] * centred * root[None, :])
        values, vectors = np.linalg.eigh(scaled[0])
        values[values <= RANK_TOL * max(values.max(), 0.0)] = 0.0  # centring leaves a zero (and rounding) at least
        half = (vectors * np.sqrt(values)) @ vectors.T
        squared = np.linalg.eigvalsh(half @ scaled[1] @ half)
        squared[squared <= RANK_TOL * max(squared.max(), 0.0)] = 0.0
        out[b] = np.sqrt(squared).sum()
    return out


def procrustes_resampled(pair: Pair, counts: np.ndarray, **_) -> np.ndarray:
    """Orthogonal Procrustes distance of each resample (Ding, Denain & Steinhardt 2021; Williams et al. 2021).

    Each representation is centred (on the resample's own mean) and scaled to unit Frobenius norm, `X^`, `Y^`; the
    distance is `min_Q ||X^ Q - Y^||_F^2 = 2 - 2 ||X^^T Y^||_*` over orthogonal `Q` (Schoenemann 1966): 0 when
    one is a rotation (or reflection) of the other up to translation and scale, at most 2. Both dimensions may
    differ (`X^^T Y^` is `d_x x d_y`). Under a resample `w`: `X^T W Y - N mean_x mean_y^T`, the sum over units
    of per-unit products `X_g^T Y_g` weighted by the counts (`[G, d_x d_y]`, one GEMM per chunk of resamples);
    `||X_c||_F^2 = sum w |x|^2 - N |mean_x|^2`.

    Returns:
        `[B]` distances in [0, 2]; nan where a representation is constant on the resample.
    """
    from threadpoolctl import threadpool_limits

    x, y = pair.x, pair.y
    w = counts.astype(np.float64)
    N = w @ pair.units.sizes
    sx, sy = w @ x.unit_sums, w @ y.unit_sums  # [B, d]
    nx = w @ x.unit_sq - np.einsum("bd,bd->b", sx, sx) / N
    ny = w @ y.unit_sq - np.einsum("bd,bd->b", sy, sy) / N
    if not _all_ones(counts) and pair.units.n < min(x.d, y.d):  # fewer items than dimensions
        nuclear = _nuclear_norms_in_item_space(pair, counts)
    elif _all_ones(counts):
        cross = _cross_resampled(pair)
        cross -= sx[:, :, None] * sy[:, None, :] / N[:, None, None]
        with threadpool_limits(limits=1, user_api="blas"):  # one d x d SVD: threads only wait on each other
            nuclear = np.array([np.linalg.svd(cross[0], compute_uv=False).sum()])
    else:
        nuclear = _nuclear_norms(pair, counts, sx, sy, N)
    constant = (nx <= ZERO_TOL * (w @ x.unit_sq)) | (ny <= ZERO_TOL * (w @ y.unit_sq)) | (nx <= 0) | (ny <= 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(constant, np.nan, 2.0 - 2.0 * nuclear / np.sqrt(nx * ny))


def knn_depth(k: int) -> int:
    """How deep each item's neighbour list is kept for k-NN overlap under resampling: deep enough that `k` of the
    listed items are nearly always among the resampled ones (each unit is left out with probability about 1/e);
    an item short of them is re-ranked exactly."""
    return 3 * k + 16


def _first_present(lists: np.ndarray, present: np.ndarray, k: int):
    """For `[..., m]` neighbour lists and the presence of their items: `[..., m]` mask of the first `k` present,
    and `[...]` whether fewer than `k` are present."""
    count = np.cumsum(present, axis=-1, dtype=np.int16)
    return present & (count <= k), count[..., -1] < k


KNN_BITS = 52
"""Most entries of an item's neighbour list that the resamples' bit masks hold (`mutual_knn_resampled`): the masks are
built as float64 sums of distinct powers of two, exact below 2^53."""


def _popcount(a: np.ndarray) -> np.ndarray:
    """Set bits of each element of an unsigned integer array."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(a)
    table = np.array([bin(v).count("1") for v in range(256)], dtype=np.uint8)
    return table[a[..., None].view(np.uint8)].sum(axis=-1, dtype=np.uint8)


def _list_bits(lists: np.ndarray, units: Units):
    """`[n, G]` sparse float64 matrix whose entry `(i, g)` is the sum of `2^j` over the entries `j` of item `i`'s list
    (`lists [n, m]`, `m <= KNN_BITS`) that lie in unit `g` (sparse even for few units: measured faster than a dense
    product at 389 units)."""
    from scipy import sparse

    n, m = lists.shape
    values = np.tile(np.ldexp(1.0, np.arange(m)), n)
    return sparse.csr_matrix((values, (np.repeat(np.arange(n), m), units.index[lists].ravel())), shape=(n, units.count))


def _present_bits(bits, present_units: np.ndarray) -> np.ndarray:
    """`[B, n]` uint64 masks, bit `j` of item `i` set iff entry `j` of its list is present, from `_list_bits` and the
    `[B, G]` presence of the units: a product of 0/1 and sums of distinct powers of two, exact in float64."""
    return (bits @ present_units.T.astype(np.float64)).T.astype(np.uint64)


def _drop_lowest(mask: np.ndarray, k: int) -> np.ndarray:
    """`mask` with its `k` lowest set bits cleared (0 where it has at most `k`)."""
    rest = mask.copy()
    one = np.uint64(1)
    for _ in range(k):
        rest &= rest - one
    return rest


def _exact_overlap(pair: Pair, item: int, present: np.ndarray, k: int) -> float:
    """Mutual k-NN overlap of one item among the present items (the slow path: a full similarity row)."""
    chosen = []
    for side in (pair.x, pair.y):
        row = side.cosine_rows(item, item + 1, side.x[item:item + 1] @ side.x.T)[0]
        candidates = np.flatnonzero(present & (np.arange(side.n) != item))
        order = candidates[np.argsort(-row[candidates], kind="stable")]
        chosen.append(set(order[:k].tolist()))
    size = min(k, len(chosen[0]))
    return len(chosen[0] & chosen[1]) / size if size else np.nan


def mutual_knn_resampled(pair: Pair, counts: np.ndarray, *, k: int = 10, **_) -> np.ndarray:
    """Mutual k-nearest-neighbour overlap of each resample (Huh, Cheung, Wang & Isola 2024, "The Platonic
    Representation Hypothesis"): per item, the share of its `k` nearest other items by cosine similarity (of the
    uncentred vectors, as their reference code: rows L2-normalised, inner products) that are also among its `k`
    nearest in the other representation, averaged over items; 1 for the same representation, about `k / n` for
    unrelated ones. Ties go to the item that comes first.

    Under a resample, neighbours are sought among the distinct resampled items (a copy of an item is not its own
    neighbour, and a duplicated neighbour fills one place, not several) and each item's overlap is weighted by its
    count. Each item's nearest items are ranked once (`knn_depth(k)` deep, one pass over the Gram matrix); a
    resample takes the first `k` present ones of that list, which is exact; an item with fewer than `k` present in
    its list is re-ranked over all items. With fewer items than the full set the neighbourhoods are wider, so the
    resampled values sit slightly apart from the full set's value; the interval is the spread of a k-NN overlap
    measured on resampled data sets, not a correction of that offset.

    Returns:
        `[B]` overlaps in [0, 1].
    """
    depth = knn_depth(k)
    pair.grams(depth, cka=False)
    units = pair.units
    nx, ny = pair.x.neighbours, pair.y.neighbours
    if _all_ones(counts):
        a, b = nx[:, :k], ny[:, :k]
        shared = (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1)
        return np.array([shared.mean() / min(k, units.n - 1)])
    key = ("knn", k)
    if key not in pair._cache:  # where each item's X-list entries sit in its Y-list (depth: absent)
        m = nx.shape[1]
        position = np.full(nx.shape, m, dtype=np.int64)
        match = nx[:, :, None] == ny[:, None, :]
        found = match.any(axis=2)
        position[found] = match.argmax(axis=2)[found]
        pair._cache[key] = position
    position = pair._cache[key]
    weights = units.items(counts).astype(np.float64)  # [B, n]
    present = weights > 0
    fast = min(nx.shape[1], 2 * k + 8, KNN_BITS)  # most items find k present ones this deep; the rest: whole list
    bits_key = ("knn_bits", k, fast)
    if bits_key not in pair._cache:
        # table[i, t]: the bits j of item i's X-list whose item sits at most t deep in its Y-list (t < fast)
        table = np.zeros((units.n, fast), dtype=np.uint64)
        rows, j = np.nonzero(position[:, :fast] < fast)
        table[rows, position[rows, j]] = np.uint64(1) << j.astype(np.uint64)
        table = np.cumsum(table, axis=1, dtype=np.uint64)  # distinct bits: the sum is their union
        pair._cache[bits_key] = (_list_bits(nx[:, :fast], units), _list_bits(ny[:, :fast], units), table.ravel())
    bits_x, bits_y, table = pair._cache[bits_key]
    # bit j of mask_x[b, i]: entry j of item i's X-list is present in resample b; the first k set bits are its k
    # nearest present items, the k-th set bit of mask_y how deep its k nearest reach in the Y-list
    present_units = counts > 0
    mask_x, mask_y = _present_bits(bits_x, present_units), _present_bits(bits_y, present_units)
    short_x, short_y = _popcount(mask_x) < k, _popcount(mask_y) < k
    before_x = _drop_lowest(mask_x, k - 1)
    chosen_x = mask_x ^ (before_x & (before_x - np.uint64(1)))  # the first k set bits of mask_x
    before_y = _drop_lowest(mask_y, k - 1)
    kth_y = _popcount((before_y & (~before_y + np.uint64(1))) - np.uint64(1)).astype(np.int64)  # lowest bit left
    np.minimum(kth_y, fast - 1, out=kth_y)  # short items (no k-th bit) are redone below
    kth_y += (np.arange(units.n) * fast)[None, :]
    shared = _popcount(chosen_x & table[kth_y]) / float(k)  # [B, n]
    redo_b, redo_i = np.nonzero((short_x | short_y) & present)
    if len(redo_b):
        lx, ly = nx[redo_i], ny[redo_i]
        dx, sx = _first_present(lx, present[redo_b[:, None], lx], k)
        dy, sy = _first_present(ly, present[redo_b[:, None], ly], k)
        dy = np.concatenate([dy, np.zeros((len(redo_b), 1), dtype=bool)], axis=1)
        shared[redo_b, redo_i] = (dx & np.take_along_axis(dy, position[redo_i], 1)).sum(axis=1) / float(k)
        for b, item in zip(redo_b[sx | sy], redo_i[sx | sy]):  # still short: rank over all items
            shared[b, item] = _exact_overlap(pair, item, present[b], k)
    return np.einsum("bi,bi->b", shared, weights) / weights.sum(axis=1)


def _too_few_for_k(units: Units, counts: np.ndarray, k: int, **options) -> bool:
    """Whether some resample holds k + 1 or fewer distinct items: there every item has every other as a neighbour in
    both representations, so its overlap is 1 whatever they are, and a percentile interval over such resamples
    would claim a precision the data do not have (14 unrelated items, k = 10: [0.764, 0.764])."""
    present = (counts > 0).astype(np.int64) @ units.sizes
    return bool(present.min() <= k + 1)


@dataclass(frozen=True)
class Measure:
    """One similarity measure of the registry.

    Attributes:
        name: Its name (`--similarity`, the `metric` of its rows; `{name}_matrix` for the layer-by-layer matrix).
        function: `(pair, counts [B, G], **options) -> [B]` values on resamples (all-ones counts: the data set).
        identical: Its value for a representation against itself.
        similar: "high" when larger means more alike, "low" for a distance.
        invariances: What leaves it unchanged: "rotation", "isotropic scale", "translation".
        title: Axis label.
        what: A phrase for captions.
        limits: Its range (figures' fixed y limits).
        degenerate: `(units, counts [B, G], **options) -> bool`: whether the resamples cannot give it an interval
            (None: they always can).
    """

    name: str
    function: Callable[..., np.ndarray]
    identical: float
    similar: str
    invariances: tuple[str, ...]
    title: str
    what: str
    limits: tuple[float, float]
    degenerate: Callable[..., bool] | None = None


MEASURES: dict[str, Measure] = {m.name: m for m in (
    Measure("cka", cka_resampled, 1.0, "high", ("rotation", "isotropic scale", "translation"), "CKA",
            "debiased linear CKA", (-0.05, 1.02)),
    Measure("procrustes", procrustes_resampled, 0.0, "low", ("rotation", "isotropic scale", "translation"),
            "Procrustes distance", "orthogonal Procrustes distance (centred, unit Frobenius norm; 0 = same shape)",
            (0.0, 2.0)),
    Measure("mutual_knn", mutual_knn_resampled, 1.0, "high", ("rotation", "isotropic scale"), "mutual k-NN",
            "mutual k-nearest-neighbour overlap (cosine)", (0.0, 1.02), _too_few_for_k),
)}
"""Every similarity measure, by name; adding one is a function of `(pair, counts)` and its entry here."""


def measure_names(names) -> list[str]:
    """The measures a comma-separated text or a sequence names (None: all), in registry order.

    Raises:
        ValueError: naming an unknown measure and the known ones.
    """
    if names is None:
        return list(MEASURES)
    if isinstance(names, str):
        names = [part.strip() for part in names.split(",") if part.strip()]
    unknown = [name for name in names if name not in MEASURES]
    if unknown or not names:
        raise ValueError(f"Unknown similarity measure '{unknown[0] if unknown else ''}'; the measures are "
                         f"{', '.join(MEASURES)}.")
    return [name for name in MEASURES if name in names]


@dataclass(frozen=True)
class Estimate:
    """A measure's value on the data set and its bootstrap interval (nan without resamples).

    Attributes:
        value: The measure on the data set.
        ci_low, ci_high: The percentile interval of the resampled values, re-centred on `value`: `value + (q_low -
            median)`, `value + (q_high - median)`. A resample holds about 63 % distinct units, and a Procrustes
            distance or a k-NN overlap on fewer distinct items is offset (more chance alignment, wider
            neighbourhoods): measured on 10,000 random words, Procrustes 0.353 on the data set, resamples 0.345-0.347;
            mutual k-NN 0.130 and 0.144-0.151. The spread is what the resamples say; their offset is not the
            estimate's uncertainty, so the interval is placed around the estimate. Mutual k-NN has none (nan) where
            a resample holds k + 1 or fewer distinct items (all of them each other's neighbours).
        offset: Median of the resampled values minus `value` (what the re-centring removed).
    """

    value: float
    ci_low: float
    ci_high: float
    offset: float = float("nan")


def draw_counts(units: Units, draws: int, seed: int) -> np.ndarray:
    """`[draws, G]` unit counts of `draws` bootstrap resamples (G units drawn with replacement), seeded."""
    rng = np.random.default_rng(seed)
    G = units.count
    picks = rng.integers(0, G, size=(draws, G)) + (np.arange(draws) * G)[:, None]
    return np.bincount(picks.ravel(), minlength=draws * G).reshape(draws, G)


def check_items(units: Units, names, k: int, debiased: bool = True) -> None:
    """Raise a one-sentence `ValueError` when the items are too few for a measure (k-NN needs more than `k`)."""
    if "cka" in names and debiased and units.n < 4:
        raise ValueError(f"The debiased CKA estimator needs at least 4 items; there are {units.n}.")
    if "mutual_knn" in names and k >= units.n:
        raise ValueError(f"Mutual k-NN with k = {k} needs more than {k} items, but there are {units.n}; choose a "
                         "smaller k.")
    if units.n < 2:
        raise ValueError(f"Similarity needs at least 2 items; there are {units.n}.")


def _workers() -> int:
    """Threads that score chunks of resamples: the cores this process may use, at most 8."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 8))


def _resampled_values(function: Callable[..., np.ndarray], pair: Pair, counts: np.ndarray, options: dict) -> np.ndarray:
    """A measure's `[draws]` values on the resamples `counts`, all with one BLAS thread: the first alone (it makes the
    pair's cached terms), the others in chunks of `DRAW_CHUNK` in parallel threads. A chunk is small GEMMs,
    element-wise passes over `[chunk, n]` arrays and, for Procrustes, one `d x d` eigenproblem per resample; each keeps
    at most one core busy (numpy releases the GIL in them), so chunks side by side use the cores that one call at a
    time left idle (on 2 cores, multi-threaded BLAS calls of these sizes mostly waited on each other)."""
    from threadpoolctl import threadpool_limits

    chunks = [counts[i:i + DRAW_CHUNK] for i in range(1, len(counts), DRAW_CHUNK)]
    with threadpool_limits(limits=1, user_api="blas"):
        first = function(pair, counts[:1], **options)
    return np.concatenate([first] + _parallel(lambda chunk: function(pair, chunk, **options), chunks, _workers()))


def compare(x, y, names=None, *, groups=None, draws: int = 1000, seed: int = 0, k: int = 10,
            debiased: bool = True, level: float = 0.95, pair: Pair | None = None) -> dict[str, Estimate]:
    """Each measure of one pair of representations with a bootstrap interval over items (or groups): the percentile
    interval of the resamples re-centred on the estimate (see `Estimate`).

    Args:
        x: `[n, d_x]` reference representation.
        y: `[n, d_y]` the other; row i is the same item as row i of `x`.
        names: Measures (`MEASURES` names; None: all).
        groups: `[n]` resampling unit of each item (e.g. its sentence), resampled whole; None: each item.
        draws: Bootstrap resamples (0: no interval).
        seed: Seed of the resamples (the same resamples for every measure).
        k: Neighbours of mutual k-NN.
        debiased: CKA's estimator.
        level: Coverage of the percentile interval.
        pair: A prepared `Pair` of `x` and `y` (its per-layer terms are reused).

    Returns:
        `{name: Estimate}` in registry order.

    Raises:
        ValueError: an unknown measure, too few items for one, shapes that differ, inf or nan.
    """
    names = measure_names(names)
    if pair is None:
        units = make_units(np.asarray(x).shape[0], groups)
        check_items(units, names, k, debiased)
        pair = Pair(Side(x, units, "X"), Side(y, units, "Y"))
    else:
        check_items(pair.units, names, k, debiased)
    options = {"k": k, "debiased": debiased}
    pair.grams(knn_depth(k) if "mutual_knn" in names else 0, cka="cka" in names)  # one pass for both
    ones = np.ones((1, pair.units.count), dtype=np.int64)
    counts = draw_counts(pair.units, draws, seed) if draws else None
    tail = 100 * (1 - level) / 2
    out = {}
    for name in names:
        measure = MEASURES[name]
        value = float(measure.function(pair, ones, **options)[0])
        low = high = offset = float("nan")
        if counts is not None and not (measure.degenerate and measure.degenerate(pair.units, counts, **options)):
            values = _resampled_values(measure.function, pair, counts, options)
            values = values[np.isfinite(values)]
            if len(values) and value == value:
                q_low, middle, q_high = np.percentile(values, [tail, 50, 100 - tail])
                low, high, offset = value + (q_low - middle), value + (q_high - middle), float(middle - value)
        out[name] = Estimate(value, float(low), float(high), offset)
    return out


def measure_matrix(name: str, layers_x, layers_y, *, groups=None, k: int = 10, debiased: bool = True,
                   sides: tuple[list[Side], list[Side]] | None = None) -> np.ndarray:
    """One measure between every layer of one model and every layer of another, on the same items.

    CKA uses `cka_matrix` (feature space, float64); the others score each pair on the data set, with each layer's
    terms (centring, neighbour lists) computed once.

    Args:
        name: A `MEASURES` name.
        layers_x, layers_y: Sequences of `[n, d]` arrays (or `[layers, n, d]`).
        groups: Unused by the values (they are of the whole data set); kept so prepared sides match.
        sides: Prepared `Side`s of both lists (reused across measures).

    Returns:
        `[len(layers_x), len(layers_y)]` values.
    """
    measure_names([name])
    if name == "cka":
        return cka_matrix(layers_x, layers_y, debiased)
    if sides is None:
        units = make_units(np.asarray(layers_x[0]).shape[0], groups)
        sides = ([Side(a, units, f"layers_x[{i}]") for i, a in enumerate(layers_x)],
                 [Side(b, units, f"layers_y[{j}]") for j, b in enumerate(layers_y)])
    xs, ys = sides
    ones = np.ones((1, xs[0].units.count), dtype=np.int64)
    if name == "mutual_knn":
        for side in xs + ys:
            if side.neighbours is None or side.neighbours.shape[1] < min(k, side.n - 1):
                _gram_pass([side], None, knn_depth(k), kk=False)
    for side in xs + ys:  # shared by the threads: made before them
        if name == "procrustes" and not side.small:
            side.x32()
    pairs = [(a, b) for a in xs for b in ys]
    values = _parallel(lambda ab: MEASURES[name].function(Pair(*ab), ones, k=k, debiased=debiased)[0], pairs,
                       _workers())
    return np.array(values, dtype=np.float64).reshape(len(xs), len(ys))
