"""Known-answer tests for attention.stats: per-(sentence, head) attention statistics and the bootstrap mean."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics.pairwise import cosine_similarity

from bioprobe.attention.stats import METRICS, SINGLE_METRICS, bootstrap_mean, layer_stats, single_stats

# Uniform rows, and one-hot rows all on the first token ([CLS]).
U = [[1 / 3, 1 / 3, 1 / 3],
     [1 / 3, 1 / 3, 1 / 3],
     [1 / 3, 1 / 3, 1 / 3]]
O = [[1.0, 0.0, 0.0],
     [1.0, 0.0, 0.0],
     [1.0, 0.0, 0.0]]
# A causal (lower-triangular) map, as a decoder gives.
C = [[1.0, 0.0, 0.0],
     [0.25, 0.75, 0.0],
     [0.6, 0.1, 0.3]]


def one(*maps, dtype=torch.float64) -> torch.Tensor:
    """`[1, H, T, T]`: one sentence, one head per map."""
    return torch.tensor(maps, dtype=dtype)[None]


def mask(*rows) -> torch.Tensor:
    """`[len(rows), T]` bool mask, one row per sentence."""
    return torch.tensor(rows, dtype=torch.bool)


def random_maps(rng, real: torch.Tensor, heads: int, garbage: bool = True, dtype=torch.float64) -> torch.Tensor:
    """`[B, H, T, T]` softmax maps over each sentence's real keys; padded rows and columns hold garbage."""
    B, T = real.shape
    logits = torch.tensor(rng.normal(scale=2.0, size=(B, heads, T, T)))
    maps = logits.masked_fill(~real[:, None, None, :], -math.inf).softmax(-1)
    maps = torch.where(real[:, None, :, None], maps, 0.0)  # rows of padded queries: nan from softmax -> 0
    if garbage:
        block = real[:, None, :, None] & real[:, None, None, :]
        junk = torch.tensor(rng.choice([7.5, -3.0, math.nan, math.inf, 0.4], size=maps.shape))
        maps = torch.where(block, maps, junk)
    return maps.to(dtype)


def padded(lengths, left=()) -> torch.Tensor:
    """`[B, max(lengths)]` real mask, right-padded, or left-padded for the sentence indices in `left`."""
    T = max(lengths)
    rows = [[i < n for i in range(T)] for n in lengths]
    for b in left:
        rows[b] = rows[b][::-1]
    return mask(*rows)


def naive(att_a, att_b, real, special) -> dict[str, np.ndarray]:
    """Reference: a Python loop over sentences and heads on each sentence's real block, with scipy and sklearn."""
    B, H = att_a.shape[:2]
    out = {name: np.full((B, H), np.nan) for name in METRICS}
    for b in range(B):
        idx = np.flatnonzero(real[b].numpy())
        n = len(idx)
        spec = special[b].numpy()[idx]
        for h in range(H):
            blocks = {s: att[b, h].double().numpy()[np.ix_(idx, idx)] for s, att in (("a", att_a), ("b", att_b))}
            A, Bm = blocks["a"], blocks["b"]
            out["cosine"][b, h] = cosine_similarity(A.flatten()[None], Bm.flatten()[None])[0, 0]
            out["js"][b, h] = np.mean([
                jensenshannon(A[i] / A[i].sum(), Bm[i] / Bm[i].sum(), base=2) ** 2 for i in range(n)
            ])
            for s, M in blocks.items():
                out[f"entropy_{s}"][b, h] = np.mean([scipy_entropy(M[i] / M[i].sum(), base=2) for i in range(n)])
                out[f"special_{s}"][b, h] = np.mean([M[i, spec].sum() for i in range(n)])
                out[f"self_{s}"][b, h] = np.mean([M[i, i] for i in range(n)])
                if n > 1:
                    out[f"prev_{s}"][b, h] = np.mean([M[i, i - 1] for i in range(1, n)])
                    out[f"next_{s}"][b, h] = np.mean([M[i, i + 1] for i in range(n - 1)])
            out["entropy_change"][b, h] = out["entropy_b"][b, h] - out["entropy_a"][b, h]
    return out


def assert_stats(stats, expected, atol):
    for name, want in expected.items():
        got = stats[name].cpu().numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=atol, equal_nan=True, err_msg=name)


# ---------------------------------------------------------------------------------------------- layer_stats


def test_keys_shapes_dtype():
    rng = np.random.default_rng(0)
    real = padded([4, 2, 3])
    special = real & mask(*[[i == 0 for i in range(4)]] * 3)
    a, b = random_maps(rng, real, 5, dtype=torch.float32), random_maps(rng, real, 5, dtype=torch.float32)
    stats = layer_stats(a, b, real, special)
    assert tuple(stats) == METRICS
    assert all(v.shape == (3, 5) and v.dtype == torch.float64 and v.device == a.device for v in stats.values())
    single = single_stats(a, real, special)
    assert tuple(single) == SINGLE_METRICS
    for name in SINGLE_METRICS:
        torch.testing.assert_close(single[name], stats[f"{name}_a"], rtol=0, atol=0)


def test_map_against_itself():
    rng = np.random.default_rng(1)
    real = padded([6, 3, 1, 5], left=[3])
    special = real & mask(*[[i in (0, 5) for i in range(6)]] * 4)
    a = random_maps(rng, real, 4)
    stats = layer_stats(a, a.clone(), real, special)
    np.testing.assert_allclose(stats["cosine"].numpy(), 1.0, rtol=0, atol=1e-12)
    assert (stats["js"] == 0).all()
    assert (stats["entropy_change"] == 0).all()
    for name in SINGLE_METRICS:
        torch.testing.assert_close(stats[f"{name}_a"], stats[f"{name}_b"], rtol=0, atol=0, equal_nan=True)


def test_uniform_vs_one_hot_by_hand():
    # m = (2/3, 1/6, 1/6) per row: KL(U || m) = 1/3 log2(1/2) + 2/3 log2(2) = 1/3, KL(O || m) = log2(3/2);
    # JS = (1/3 + log2(3/2)) / 2. Cosine: <U, O> = 3 * 1/3 = 1, |U| = 1, |O| = sqrt(3).
    special = mask([True, False, True])  # [CLS] x [SEP]
    stats = layer_stats(one(U), one(O), mask([True] * 3), special)
    assert_stats(stats, {
        "cosine": [[0.5773502691896258]],
        "js": [[0.4591479170272448]],
        "entropy_a": [[1.584962500721156]],  # log2(3)
        "entropy_b": [[0.0]],
        "entropy_change": [[-1.584962500721156]],
        "special_a": [[2 / 3]],
        "special_b": [[1.0]],
        "self_a": [[1 / 3]],
        "self_b": [[1 / 3]],  # only row 0 has its mass on itself
        "prev_a": [[1 / 3]],
        "prev_b": [[0.5]],  # rows 1, 2: 1 on token 0 (row 1's previous), 0 on token 1
        "next_a": [[1 / 3]],
        "next_b": [[0.0]],
    }, atol=1e-12)


def test_causal_map_by_hand():
    # Rows of C: entropies 0, H(1/4, 3/4) = 0.811278..., H(0.6, 0.1, 0.3) = 1.295461...
    stats = single_stats(one(C), mask([True] * 3), mask([True, False, False]))  # BOS
    assert_stats(stats, {
        "entropy": [[(0.8112781244591328 + 1.295461844238322) / 3]],
        "special": [[(1.0 + 0.25 + 0.6) / 3]],
        "self": [[(1.0 + 0.75 + 0.3) / 3]],
        "prev": [[(0.25 + 0.1) / 2]],
        "next": [[0.0]],
    }, atol=1e-12)


def test_causal_vs_uniform_by_hand():
    # <C, U> = sum(C) / 3 = 1, |C|^2 = 1 + 1/16 + 9/16 + 0.36 + 0.01 + 0.09 = 2.085, |U| = 1.
    # JS per row: row 0 is one-hot vs uniform (0.459148); row 1 with m = (7/24, 13/24, 1/6):
    # [1/4 log2(6/7) + 3/4 log2(18/13)] / 2 + [1/3 log2(8/7) + 1/3 log2(8/13) + 1/3 log2(2)] / 2 = 0.230292;
    # row 2 likewise 0.076307.
    stats = layer_stats(one(C, U), one(U, C), mask([True] * 3), mask([False] * 3))
    cos = 1 / math.sqrt(2.085)
    js = (0.4591479170272448 + 0.23029215520445226 + 0.07630714131419215) / 3
    assert_stats(stats, {
        "cosine": [[cos, cos]],
        "js": [[js, js]],  # symmetric
        "entropy_change": [[1.584962500721156 - 0.702246656232485, 0.702246656232485 - 1.584962500721156]],
        "special_a": [[0.0, 0.0]],
    }, atol=1e-12)
    assert cos == pytest.approx(0.6925433610644437, abs=1e-15)


def test_padding_changes_nothing():
    rng = np.random.default_rng(2)
    alone_real = padded([4])
    alone_special = mask([True, False, False, True])
    a1, b1 = random_maps(rng, alone_real, 3), random_maps(rng, alone_real, 3)
    alone = layer_stats(a1, b1, alone_real, alone_special)

    other_real = padded([7])
    a2, b2 = random_maps(rng, other_real, 3), random_maps(rng, other_real, 3)
    for left in (False, True):  # the 4-token sentence right-padded, then left-padded, to 7
        lo = 3 if left else 0
        real = torch.cat([padded([4, 7], left=[0] if left else [])[:1], other_real])
        special = torch.zeros(2, 7, dtype=torch.bool)
        special[0, lo:lo + 4] = alone_special[0]
        special[1, [0, 6]] = True
        junk = torch.tensor(rng.choice([9.0, -1.0, math.nan, 0.5], size=(2, 3, 7, 7)))
        a, b = junk.clone(), junk.clone() + 1.0
        a[0, :, lo:lo + 4, lo:lo + 4], b[0, :, lo:lo + 4, lo:lo + 4] = a1[0], b1[0]
        a[1], b[1] = a2[0], b2[0]
        batched = layer_stats(a, b, real, special)
        for name in METRICS:
            torch.testing.assert_close(batched[name][:1], alone[name], rtol=0, atol=1e-6, msg=name)
        assert all(torch.isfinite(v).all() for v in batched.values())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cosine_matches_sklearn(dtype):
    rng = np.random.default_rng(3)
    lengths = [9, 3, 12, 2, 6]
    real = padded(lengths)
    special = real & mask(*[[i == 0 for i in range(12)]] * 5)
    a, b = random_maps(rng, real, 4, dtype=dtype), random_maps(rng, real, 4, dtype=dtype)
    stats = layer_stats(a, b, real, special)
    for s, n in enumerate(lengths):
        for h in range(4):
            # What the study computes with the sentence run alone: its [n, n] map, flattened.
            alone_a = a[s, h, :n, :n].double().numpy().flatten()[None]
            alone_b = b[s, h, :n, :n].double().numpy().flatten()[None]
            want = cosine_similarity(alone_a, alone_b)[0, 0]
            assert stats["cosine"][s, h].item() == pytest.approx(want, abs=1e-5)


def test_every_metric_matches_a_naive_loop():
    # Right, left and inner padding ("previous" / "next" are the nearest real positions).
    rng = np.random.default_rng(4)
    real = mask(
        [True, True, True, True, True, False, False],
        [False, False, True, True, True, True, True],
        [True, True, False, True, False, True, True],
        [True, True, True, True, True, True, True],
    )
    special = real & mask(*[[i in (0, 2, 6) for i in range(7)]] * 4)
    a, b = random_maps(rng, real, 3), random_maps(rng, real, 3)
    stats = layer_stats(a, b, real, special)
    assert_stats(stats, naive(a, b, real, special), atol=1e-10)


def test_float32_maps_are_accurate():
    rng = np.random.default_rng(5)
    real = padded([16, 11, 5])
    special = real & mask(*[[i == 0 for i in range(16)]] * 3)
    a = random_maps(rng, real, 4, garbage=False)
    b = (a.clamp_min(1e-30).log() + 0.05 * torch.tensor(rng.normal(size=a.shape)))
    b = b.masked_fill(~real[:, None, None, :], -math.inf).softmax(-1).nan_to_num()  # a small change of a
    want = layer_stats(a, b, real, special)
    got = layer_stats(a.float(), b.float(), real, special)
    for name in METRICS:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6, msg=name)
    assert 0 < want["js"].min() < 1e-3  # small divergences stay accurate in float32


def test_rows_renormalised_for_entropy_and_js_only():
    # A model not given the attention mask: each real row puts half its mass on the padded key (column 3).
    row = [1 / 6, 1 / 6, 1 / 6, 0.5]
    leaky = torch.tensor([[row, row, row, [0.25] * 4]], dtype=torch.float64)[None]
    real = mask([True, True, True, False])
    uniform = [r + [0.0] for r in U] + [[0.0] * 4]  # U padded to 4 tokens
    stats = layer_stats(leaky, one(uniform), real, mask([True, False, False, False]))
    assert_stats(stats, {
        "entropy_a": [[1.584962500721156]],  # uniform over the 3 real keys once renormalised
        "js": [[0.0]],
        "self_a": [[1 / 6]],  # masses as given
        "special_a": [[1 / 6]],
        "cosine": [[1.0]],  # [3, 3] block of 1/6 is parallel to the block of 1/3
    }, atol=1e-12)


def test_single_token_sentence():
    real = padded([1, 3])
    special = mask([True, False, False], [True, False, True])
    a = torch.stack([torch.tensor([[[1.0, 0.2, 0.3], [0.1, 0.1, 0.1], [0.4, 0.4, 0.4]]]), one(U)[0]])
    b = torch.stack([torch.tensor([[[1.0, 0.0, 0.0], [5.0, 5.0, 5.0], [0.0, 0.0, 0.0]]]), one(O)[0]])
    stats = layer_stats(a.double(), b.double(), real, special)
    first = {name: stats[name][0, 0].item() for name in METRICS}
    assert first["cosine"] == 1.0 and first["js"] == 0.0 and first["entropy_a"] == 0.0 and first["entropy_b"] == 0.0
    assert first["special_a"] == 1.0 and first["self_b"] == 1.0
    for name in ("prev_a", "prev_b", "next_a", "next_b"):
        assert math.isnan(first[name])  # no neighbour: undefined
    assert all(math.isfinite(stats[name][1, 0].item()) for name in METRICS)
    # Averaged over sentences, the one-token sentence is left out of prev/next only.
    mean, low, high = bootstrap_mean(stats["prev_b"].numpy(), n_boot=50)
    assert mean[0] == pytest.approx(0.5) and low[0] == pytest.approx(0.5) and high[0] == pytest.approx(0.5)


def test_sentence_without_real_tokens_is_nan():
    stats = layer_stats(one(U), one(O), mask([False] * 3), mask([False] * 3))
    assert all(math.isnan(v.item()) for v in stats.values())


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\[batch, heads, T, T\]"):
        layer_stats(torch.zeros(1, 3, 3), torch.zeros(1, 3, 3), mask([True] * 3), mask([True] * 3))
    with pytest.raises(ValueError, match="same padded batch"):
        layer_stats(one(U), one(U, U), mask([True] * 3), mask([True] * 3))
    with pytest.raises(ValueError, match="real has shape"):
        single_stats(one(U), mask([True] * 4), mask([True] * 3))


# ---------------------------------------------------------------------------------------------- bootstrap_mean


def test_bootstrap_constant_values():
    mean, low, high = bootstrap_mean(np.full((30, 2, 3), 0.1))
    assert mean.shape == low.shape == high.shape == (2, 3)
    for x in (mean, low, high):
        np.testing.assert_allclose(x, 0.1, rtol=0, atol=1e-15)


def test_bootstrap_interval_contains_mean_and_narrows():
    rng = np.random.default_rng(6)
    small = rng.normal(1.0, 1.0, size=(20, 4))
    large = rng.normal(1.0, 1.0, size=(2000, 4))
    mean, low, high = bootstrap_mean(small)
    np.testing.assert_allclose(mean, small.mean(0), rtol=0, atol=1e-12)
    assert (low < mean).all() and (mean < high).all()
    m2, l2, h2 = bootstrap_mean(large)
    assert (l2 < m2).all() and (m2 < h2).all()
    assert ((h2 - l2) < (high - low) / 4).all()  # width ~ 1/sqrt(n): 10x narrower here
    # The 95 % interval of a mean of n standard normals is about 2 * 1.96 / sqrt(n) wide.
    np.testing.assert_allclose(h2 - l2, 2 * 1.96 / math.sqrt(2000), rtol=0.15)


def test_bootstrap_columns_share_resamples_and_seed():
    rng = np.random.default_rng(7)
    values = rng.random((50, 2, 3))
    full = bootstrap_mean(values, n_boot=200, seed=3)
    column = bootstrap_mean(values[:, 1, 2], n_boot=200, seed=3)
    for x, y in zip(full, column):
        assert x[1, 2] == pytest.approx(float(y), abs=1e-12)
    again = bootstrap_mean(values, n_boot=200, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(full, again))
    assert not np.array_equal(full[1], bootstrap_mean(values, n_boot=200, seed=4)[1])


def test_bootstrap_ignores_nan():
    rng = np.random.default_rng(8)
    values = rng.normal(size=(40, 3))
    values[:10, 0] = np.nan  # undefined for ten sentences
    values[:, 2] = np.nan  # undefined everywhere
    mean, low, high = bootstrap_mean(values)
    assert mean[0] == pytest.approx(values[10:, 0].mean(), abs=1e-12)
    assert low[0] < mean[0] < high[0]
    assert mean[1] == pytest.approx(values[:, 1].mean(), abs=1e-12)
    assert np.isnan(mean[2]) and np.isnan(low[2]) and np.isnan(high[2])
    # Only one sentence defined: every resample that drew it gives its value.
    one_value = np.full(5, np.nan)
    one_value[2] = 0.3
    assert [float(x) for x in bootstrap_mean(one_value)] == pytest.approx([0.3, 0.3, 0.3])


def test_bootstrap_bad_input():
    with pytest.raises(ValueError, match="n_sentences"):
        bootstrap_mean(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_mean(np.zeros(3), n_boot=0)


def test_spearman_by_hand_and_against_scipy():
    """The importance-change correlation without scipy.stats: ranks by hand, ties at their average rank."""
    from scipy.stats import spearmanr

    from bioprobe.attention.importance import importance_rows, spearman

    assert spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == pytest.approx(-1.0)
    # ranks [1, 2.5, 2.5, 4] and [1, 3, 2, 4]: centred dot 4.5, norms^2 4.5 and 5 -> 3 / sqrt(10)
    assert spearman(np.array([1.0, 2, 2, 3]), np.array([1.0, 3, 2, 4])) == pytest.approx(3 / math.sqrt(10))
    assert math.isnan(spearman(np.array([1.0, 1, 1]), np.array([1.0, 2, 3])))
    rng = np.random.default_rng(0)
    for _ in range(50):
        x, y = rng.integers(0, 4, 12).astype(float), rng.normal(size=12)
        assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    scores = {"raw": np.array([[1.0, 2.0], [3.0, 4.0]]), "normalised": np.array([[0.1, 0.2], [0.3, 0.4]])}
    rows = importance_rows(scores, np.array([[0.4, 0.3], [0.2, 0.1]]), top_fraction=0.25)
    by_metric = {row["metric"]: row["value"] for row in rows if row["layer"] is None}
    assert by_metric == {"importance_change_spearman": pytest.approx(-1.0), "importance_change_top_overlap": 0.0}
