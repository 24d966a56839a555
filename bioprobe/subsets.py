"""Seeded, nested training subsets: the 10 % subset lies inside the 30 % one, which lies inside 50 %, and so on.

Optionally stratified (for NLI: by label), with every stratum's share kept within one item of its full-set share.
"""

from __future__ import annotations

import heapq
import numbers
from collections.abc import Hashable, Sequence

import numpy as np

from bioprobe.errors import BioprobeError


def subset_size(n: int, training_size: int) -> int:
    """Number of items in a ``training_size`` % subset of ``n`` items.

    Args:
        n: Number of items in the full training set.
        training_size: Percentage, a whole number from 0 to 100.

    Returns:
        ``round(n * training_size / 100)`` (Python's round: halves go to the even neighbour).

    Raises:
        BioprobeError: If ``training_size`` is not a whole number from 0 to 100.
    """
    check_training_size(training_size)
    return round(n * int(training_size) / 100)


def subset_indices(
    n: int, training_size: int, seed: int, strata: Sequence[Hashable] | None = None
) -> list[int]:
    """Indices of a seeded ``training_size`` % subset of ``range(n)``, nested across sizes.

    All sizes share one ordering of the items, fixed by ``seed`` (and ``strata``); a subset is a prefix
    of that ordering, so for the same ``n``, ``seed`` and ``strata`` a smaller subset is always inside a
    larger one. Without strata the ordering is a seeded permutation. With strata, each stratum is
    permuted (its items in the order of one seeded permutation of all items) and the strata are
    interleaved so that after every prefix length k each stratum holds within one item (strictly less
    than one) of its proportional share ``k * stratum_size / n`` (an earliest-deadline-first level
    schedule, which always exists by Tijdeman's chairman-assignment theorem).

    Args:
        n: Number of items in the full training set.
        training_size: Percentage of items to keep, a whole number from 0 to 100.
        seed: Seed for ``numpy.random.default_rng``.
        strata: Optional stratum (e.g. label) of every item; must have length ``n``.

    Returns:
        ``subset_size(n, training_size)`` distinct indices, sorted ascending.

    Raises:
        BioprobeError: If ``training_size`` is not a whole number from 0 to 100.
        ValueError: If ``n`` is negative or ``strata`` does not have length ``n``.
    """
    return subset_by_count(n, subset_size(n, training_size), seed, strata)


def subset_by_count(n: int, k: int, seed: int, strata: Sequence[Hashable] | None = None) -> list[int]:
    """The first ``k`` items of the seeded (stratified) ordering that `subset_indices` takes prefixes of.

    Args:
        n: Number of items.
        k: Number to keep, 0 to ``n``.
        seed: Seed for ``numpy.random.default_rng``.
        strata: Optional stratum of every item; must have length ``n``.

    Returns:
        ``k`` distinct indices, sorted ascending; nested in ``k`` for the same ``n``, ``seed`` and ``strata``.
    """
    if not 0 <= k <= max(n, 0):
        raise ValueError(f"k must be from 0 to n={n}, got {k}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if strata is not None and len(strata) != n:
        raise ValueError(f"strata has {len(strata)} items but n is {n}")
    if k == 0:
        return []
    rank = np.empty(n, dtype=np.int64)
    rank[np.random.default_rng(seed).permutation(n)] = np.arange(n)
    if strata is None:
        return sorted(int(i) for i in np.argsort(rank)[:k])
    members = _stratum_members(strata, rank)
    order = _interleave([len(m) for m in members], [[int(rank[i]) for i in m] for m in members], k)
    taken = [0] * len(members)
    chosen = []
    for s in order:
        chosen.append(members[s][taken[s]])
        taken[s] += 1
    return sorted(chosen)


def check_training_size(training_size: object) -> None:
    """Raise BioprobeError unless ``training_size`` is a whole number from 0 to 100."""
    if (
        isinstance(training_size, bool)
        or not isinstance(training_size, numbers.Integral)
        or not 0 <= training_size <= 100
    ):
        raise BioprobeError(f"Training size must be a whole percentage from 0 to 100, got {training_size!r}.")


def _stratum_members(strata: Sequence[Hashable], rank: np.ndarray) -> list[list[int]]:
    """Group item indices by stratum (strata in order of first appearance), each group in seeded order."""
    groups: dict[Hashable, list[int]] = {}
    for i, stratum in enumerate(strata):
        groups.setdefault(stratum, []).append(i)
    return [sorted(items, key=lambda i: rank[i]) for items in groups.values()]


def _interleave(sizes: list[int], tie_keys: list[list[int]], k: int) -> list[int]:
    """First ``k`` strata of a level schedule: stratum counts stay within D < 1 of their proportional share.

    The j-th item (1-based) of stratum s, of size N in a total of n, may only be placed at step h with
    ``j - h*N/n <= D`` (release) and ``(h-1)*N/n - (j-1) <= D`` (deadline), where
    ``D = 1 - 1/(2S-2)`` for S >= 2 strata (0 for one stratum). Earliest-deadline-first scheduling of
    these unit jobs finds a schedule whenever one exists, and Tijdeman's theorem says one does. Ties
    are broken by ``tie_keys`` (the seeded rank of the item that would be placed). Exact integer arithmetic.

    Args:
        sizes: Size of every stratum (all positive).
        tie_keys: For every stratum, the seeded rank of each of its items in placement order.
        k: Number of steps to schedule.

    Returns:
        The stratum placed at each of the first ``k`` steps.
    """
    n, count = sum(sizes), len(sizes)
    a, b = (0, 1) if count == 1 else (2 * count - 3, 2 * count - 2)  # D = a / b

    def release(s: int, j: int) -> int:
        return max(1, -(-(j * b - a) * n // (sizes[s] * b)))

    def deadline(s: int, j: int) -> int:
        return ((j - 1) * b + a) * n // (sizes[s] * b) + 1

    placed = [0] * count
    pending = [(release(s, 1), s) for s in range(count)]
    heapq.heapify(pending)
    ready: list[tuple[int, int, int]] = []
    order = []
    for step in range(1, k + 1):
        while pending and pending[0][0] <= step:
            s = heapq.heappop(pending)[1]
            heapq.heappush(ready, (deadline(s, placed[s] + 1), tie_keys[s][placed[s]], s))
        s = heapq.heappop(ready)[2]
        placed[s] += 1
        order.append(s)
        if placed[s] < sizes[s]:
            heapq.heappush(pending, (release(s, placed[s] + 1), s))
    return order
