"""Per-(sentence, head) statistics of one layer's attention maps, pretrained vs fine-tuned, reduced on the fly.

`layer_stats` turns two `[batch, heads, T, T]` maps into `[batch, heads]` values; `bootstrap_mean` averages sentences.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

METRICS = (
    "cosine", "js", "entropy_a", "entropy_b", "entropy_change",
    "special_a", "special_b", "self_a", "self_b", "prev_a", "prev_b", "next_a", "next_b",
)
"""Keys of `layer_stats`: `_a` is model a (pretrained), `_b` model b (fine-tuned)."""
SINGLE_METRICS = ("entropy", "special", "self", "prev", "next")
"""Keys of `single_stats`: the per-model metrics."""

_LN2 = math.log(2.0)


@torch.no_grad()
def layer_stats(
    att_a: torch.Tensor, att_b: torch.Tensor, real: torch.Tensor, special: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Compare two models' attention maps of one layer on the same padded batch, per sentence and head.

    Only the real block of each sentence counts (rows and columns where `real` is True); padded rows and
    columns may hold anything, nan included. With `n` real tokens:

    - `cosine`: cosine similarity of the two flattened `[n, n]` real blocks as given (what
      `sklearn.metrics.pairwise.cosine_similarity` gives for the sentence run alone; 0 if a block is all zero).
    - `js`: Jensen-Shannon divergence in bits (in [0, 1]) between corresponding rows, as distributions over the
      real keys, averaged over the real query rows.
    - `entropy_a`, `entropy_b`: Shannon entropy in bits of each row over the real keys, averaged over the real
      query rows (0 to `log2(n)`); `entropy_change = entropy_b - entropy_a`.
    - `special_*`, `self_*`, `prev_*`, `next_*`: see `single_stats`.

    Rows are renormalised over the real keys for `js` and `entropy` (a no-op up to rounding when the model was
    given the attention mask, since padded keys then get exactly 0; otherwise the mass that leaked onto padding
    is dropped); `cosine` and the masses use the maps as given. `0 log 0 = 0`. A real query row with no mass on
    the real keys gives nan `js` and `entropy`. Elementwise work and sums within a map are done in float32
    (float64 if a map is float64), averages over query rows in float64: float32 maps give every value to about
    1e-7 (the maps themselves are rarely more exact). Memory: a few `[B, H, T, T]` temporaries in that dtype.

    Args:
        att_a: `[B, H, T, T]` attention of model a (rows are queries, columns keys), any float dtype.
        att_b: `[B, H, T, T]` attention of model b on the same batch.
        real: `[B, T]` bool, True at real (non-padding) tokens; any padding side, not necessarily contiguous.
        special: `[B, T]` bool, True at the structural special tokens (`[CLS]`, `[SEP]`, BOS, ...: those of
            `bioprobe.align.structural_special_ids`, not `[UNK]` or `[MASK]`); padding is ignored.

    Returns:
        `{metric: [B, H] float64 tensor on the maps' device}` for every name in `METRICS`, in that order. A
        sentence with one real token has nan `prev_*` and `next_*` (no neighbour); one with no real token is
        nan everywhere.

    Raises:
        ValueError: The maps are not `[B, H, T, T]`, differ in shape, or `real`/`special` are not `[B, T]`.
    """
    _check(att_a, real, special, "att_a")
    if att_b.shape != att_a.shape:
        raise ValueError(
            f"att_a has shape {tuple(att_a.shape)} but att_b has {tuple(att_b.shape)}; both models must be run on "
            "the same padded batch."
        )
    real = real.to(device=att_a.device, dtype=torch.bool)
    special = special.to(device=att_a.device, dtype=torch.bool)
    work = _work_dtype(att_a, att_b)
    a, b = _masked(att_a, real, work), _masked(att_b, real, work)

    flat_a, flat_b = a.flatten(2), b.flatten(2)
    dot = torch.linalg.vecdot(flat_a, flat_b).double()
    norms = (torch.linalg.vecdot(flat_a, flat_a) * torch.linalg.vecdot(flat_b, flat_b)).double().sqrt()
    cosine = torch.where(norms > 0, dot / torch.where(norms > 0, norms, 1.0), 0.0)
    cosine = torch.where(real.any(-1)[:, None], cosine, torch.nan)

    stats_a, p = _single(a, real, special)  # p, q: a and b renormalised in place
    stats_b, q = _single(b, real, special)
    s = torch.add(p, q).clamp_min_(torch.finfo(p.dtype).tiny)  # where p + q == 0 both ratios below are 0
    kl = _xlog(p, torch.div(p, s).mul_(2))  # p log(2p / (p + q)): exactly 0 where p == q
    kl += _xlog(q, torch.div(q, s).mul_(2))
    js = (kl.sum(-1) / (2 * _LN2)).clamp_min(0.0)  # a sum of two KLs is >= 0; clamp rounding below 0

    out = {"cosine": cosine, "js": _row_mean(js, real)}
    out["entropy_a"], out["entropy_b"] = stats_a["entropy"], stats_b["entropy"]
    out["entropy_change"] = stats_b["entropy"] - stats_a["entropy"]
    for name in SINGLE_METRICS[1:]:
        out[f"{name}_a"], out[f"{name}_b"] = stats_a[name], stats_b[name]
    return {name: out[name] for name in METRICS}


@torch.no_grad()
def pair_mass(att: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Attention mass from one span to another, per sentence and head: for each query token in `source`, the summed
    attention on the key tokens in `target`, averaged over the `source` tokens (RE: from entity 1 to entity 2).

    Args:
        att: `[B, H, T, T]` attention of one layer (rows are queries, columns keys).
        source: `[B, T]` bool, the query tokens.
        target: `[B, T]` bool, the key tokens.

    Returns:
        `[B, H]` float64; nan for a sentence whose `source` or `target` is empty (an entity cut by truncation).
    """
    source = source.to(device=att.device, dtype=att.dtype)
    target = target.to(device=att.device, dtype=att.dtype)
    mass = torch.einsum("bhqk,bk,bq->bh", att.nan_to_num(0.0), target, source).double()
    count = source.double().sum(-1)
    defined = (count > 0) & (target.sum(-1) > 0).to(count.device)
    return torch.where(defined[:, None], mass / count.clamp_min(1)[:, None], torch.nan)


@torch.no_grad()
def single_stats(att: torch.Tensor, real: torch.Tensor, special: torch.Tensor) -> dict[str, torch.Tensor]:
    """The per-model attention statistics of one layer, per sentence and head, over the real tokens only.

    - `entropy`: Shannon entropy in bits of each query row renormalised over the real keys, averaged over the
      real query rows (`0 log 0 = 0`).
    - `special`: attention mass on the special keys (those `special` marks), averaged over the real query rows.
    - `self`: mass on the query's own token (the diagonal), averaged over the real query rows.
    - `prev`: mass on the previous real token, averaged over the real query rows that have one (all but the
      first); `next`: mass on the next real token, averaged over the rows that have one (all but the last).
      "Previous" and "next" are the nearest real positions before and after, so left, right or inner padding
      all give the same values. For a causal decoder `next` is 0.

    The masses use the map as given, not renormalised (the same values when padded keys got 0).

    Args:
        att: `[B, H, T, T]` attention of one layer (rows are queries, columns keys), any float dtype.
        real: `[B, T]` bool, True at real (non-padding) tokens.
        special: `[B, T]` bool, True at the structural special tokens (see `layer_stats`); padding is ignored.

    Returns:
        `{metric: [B, H] float64 tensor on the map's device}` for every name in `SINGLE_METRICS`. `prev` and
        `next` are nan for a sentence with a single real token; every metric is nan for one with none.

    Raises:
        ValueError: `att` is not `[B, H, T, T]` or `real`/`special` are not `[B, T]`.
    """
    _check(att, real, special, "att")
    real = real.to(device=att.device, dtype=torch.bool)
    special = special.to(device=att.device, dtype=torch.bool)
    return _single(_masked(att, real, _work_dtype(att)), real, special)[0]


def bootstrap_mean(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over sentences with its 95 % percentile bootstrap interval, for every other index at once.

    Sentences (rows) are resampled with replacement: one `[n_boot, n]` multinomial count matrix, shared by all
    columns, times the values reshaped `[n, -1]`. nan marks a value that is undefined for a sentence (`prev`/`next`
    of a one-token sentence): the mean is over the sentences where it is defined (nanmean), and so is each
    resample's; resamples that drew none of them are left out of the percentiles. Where no sentence has a value,
    all three results are nan.

    Args:
        values: `[n_sentences, ...]` per-sentence values, e.g. `[n, layers, heads]`.
        n_boot: Number of bootstrap resamples.
        seed: Seed of the resampling generator.

    Returns:
        `(mean, ci_low, ci_high)`, float64 arrays of shape `values.shape[1:]`: the mean and the 2.5 and 97.5
        percentiles of the resampled means.

    Raises:
        ValueError: `values` has no sentence axis or no sentences, or `n_boot < 1`.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0 or values.shape[0] == 0:
        raise ValueError(f"values has shape {values.shape}; bootstrap_mean needs [n_sentences, ...] with n >= 1.")
    if n_boot < 1:
        raise ValueError(f"n_boot is {n_boot}; it must be at least 1.")
    n, shape = values.shape[0], values.shape[1:]
    flat = values.reshape(n, -1)
    defined = ~np.isnan(flat)
    filled = np.where(defined, flat, 0.0)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan columns
        mean = filled.sum(0) / defined.sum(0)
        boot = (counts @ filled) / (counts @ defined)  # [n_boot, k]; 0/0 = nan for resamples with no value
        low, high = np.nanpercentile(boot, [2.5, 97.5], axis=0)
    return mean.reshape(shape), low.reshape(shape), high.reshape(shape)


def _check(att: torch.Tensor, real: torch.Tensor, special: torch.Tensor, name: str) -> None:
    """Raise a one-sentence ValueError unless `att` is `[B, H, T, T]` and `real`, `special` are `[B, T]`."""
    if att.dim() != 4 or att.shape[-1] != att.shape[-2]:
        raise ValueError(f"{name} has shape {tuple(att.shape)}; one layer's attention must be [batch, heads, T, T].")
    expected = (att.shape[0], att.shape[-1])
    for label, mask in (("real", real), ("special", special)):
        if tuple(mask.shape) != expected:
            raise ValueError(f"{label} has shape {tuple(mask.shape)}; it must be [batch, T] = {expected} for {name}.")


def _work_dtype(*maps: torch.Tensor) -> torch.dtype:
    return torch.float64 if any(m.dtype == torch.float64 for m in maps) else torch.float32


def _masked(att: torch.Tensor, real: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`[B, H, T, T]` copy of `att` in `dtype` with every padded row and column set to 0 (nan there too)."""
    block = real[:, None, :, None] & real[:, None, None, :]
    return torch.where(block, att.to(dtype), 0.0)


def _xlog(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`x * log(y)` with `0 log 0 = 0`, computed in the storage of `y` (which it overwrites)."""
    return y.clamp_min_(torch.finfo(y.dtype).tiny).log_().mul_(x)


def _row_mean(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """`[B, H]` float64 mean of `x [B, H, T]` over the positions where `rows [B, T]` is True; nan where none."""
    total = torch.where(rows[:, None, :], x, 0.0).sum(-1, dtype=torch.float64)
    return total / rows.sum(-1, dtype=torch.float64)[:, None]


def _single(
    raw: torch.Tensor, real: torch.Tensor, special: torch.Tensor
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """`single_stats` of a masked map `raw`, which is renormalised in place over the real keys and returned too."""
    B, H, T, _ = raw.shape
    out = {}
    keys = (special & real).to(raw.dtype)[:, None, None, :]  # [B, 1, 1, T]; a product and sum, not a matmul (TF32)
    out["special"] = _row_mean(torch.linalg.vecdot(raw, keys), real)
    out["self"] = _row_mean(torch.diagonal(raw, dim1=-2, dim2=-1), real)
    pos = torch.arange(T, device=raw.device).expand(B, T)
    last = torch.where(real, pos, -1).cummax(dim=1).values  # last real position at or before i
    prev = torch.cat([torch.full_like(last[:, :1], -1), last[:, :-1]], dim=1)
    first = torch.where(real, pos, T).flip(1).cummin(dim=1).values.flip(1)  # first real position at or after i
    nxt = torch.cat([first[:, 1:], torch.full_like(first[:, :1], T)], dim=1)
    for name, target, has in (("prev", prev, prev >= 0), ("next", nxt, nxt < T)):
        index = target.clamp(0, T - 1)[:, None, :, None].expand(B, H, T, 1)
        out[name] = _row_mean(raw.gather(-1, index).squeeze(-1), real & has)

    mass = raw.sum(-1, keepdim=True)
    raw /= torch.where(real[:, None, :, None], mass, 1.0)  # padded rows stay 0; a real row with no mass -> nan
    entropy = -_xlog(raw, raw.clone()).sum(-1) / _LN2
    out["entropy"] = _row_mean(entropy, real)
    return {name: out[name] for name in SINGLE_METRICS}, raw
