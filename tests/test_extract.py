"""Extraction: pooled vectors equal a hand computation from one sentence at a time, for every family and pooling;
the cache is reused, detected stale and never lost."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from bioprobe.align import encode_words
from bioprobe.errors import BioprobeError
from bioprobe.models import load_model
from probing import activations as activations_module
from probing.activations import get_activations
from probing.extract import Unit, length_batches, plan_ner, plan_nli, run_plan
from tiny_data import write_cued_ner, write_cued_nli

SENTENCES = [
    ["Metformin", "lowers", "glucose", "."],
    ["IL-2", "activates", "STAT5", "in", "T", "cells", "of", "patients", "with", "diabetes", "."],
    ["aspirin"],
    ["The", "BRCA1", "gene"],
]
PAIRS = [("The patient was treated with aspirin.", "The patient got a drug."),
         ("Insulin resistance is a hallmark of type 2 diabetes in adults over sixty.", "Nobody has diabetes."),
         ("EGFR is mutated.", "EGFR is a gene that is frequently mutated in lung cancer.")]


def hidden_states(model, ids: list[int], type_ids: list[int] | None = None) -> torch.Tensor:
    """`[layers, positions, dim]` of one sequence run on its own (no padding at all)."""
    inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
    if type_ids is not None:
        inputs["token_type_ids"] = torch.tensor([type_ids])
    with torch.inference_mode():
        return torch.stack(model(**inputs, output_hidden_states=True).hidden_states)[:, 0]


def read(path) -> np.ndarray:
    return np.load(path).astype(np.float32)


@pytest.mark.parametrize("pooling", ["first", "mean", "last"])
def test_ner_word_vectors_equal_one_sentence_at_a_time(tiny_model_dir, pooling, tmp_path):
    loaded = load_model(str(tiny_model_dir), head="base", device="cpu")
    plan = plan_ner(SENTENCES, loaded.tokenizer, pooling, max_length=64)
    # A tiny batch budget splits the sentences over several batches, padded to different widths.
    stats = run_plan(loaded.model, plan, tmp_path / "f.npy", loaded.tokenizer.pad_token_id, batch_tokens=24)
    got = read(tmp_path / "f.npy")
    n_words = sum(len(s) for s in SENTENCES)
    assert got.shape == (3, n_words, 64) == (stats["layers"], stats["items"], stats["dim"])
    expected = {}
    for s, words in enumerate(SENTENCES):
        encoding = encode_words(loaded.tokenizer, words, max_length=64)
        states = hidden_states(loaded.model, encoding.input_ids)
        for w, (start, end) in enumerate(encoding.spans):
            pick = {"first": states[:, start], "last": states[:, end - 1], "mean": states[:, start:end].mean(1)}
            expected[(s, w)] = pick[pooling].numpy()
    assert sorted(plan.items) == sorted(expected)  # every word once
    for row, key in enumerate(plan.items):
        np.testing.assert_allclose(got[:, row], expected[key], rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("pooling", ["joint-mean", "last", "separate-mean"])
def test_nli_pair_vectors_equal_one_pair_at_a_time(tiny_model_dir, pooling, tmp_path):
    import datasets

    from finetune.encode import encode_nli

    loaded = load_model(str(tiny_model_dir), head="base", device="cpu")
    kind = loaded.resolved.spec.kind
    premises, hypotheses = zip(*PAIRS)
    plan = plan_nli(list(premises), list(hypotheses), loaded.tokenizer, pooling, kind, max_length=64)
    run_plan(loaded.model, plan, tmp_path / "f.npy", loaded.tokenizer.pad_token_id, batch_tokens=40)
    got = read(tmp_path / "f.npy")
    encoded = encode_nli(datasets.Dataset.from_dict({"premise": list(premises), "hypothesis": list(hypotheses),
                                                     "label": ["neutral"] * 3}), loaded.tokenizer, ("neutral",),
                         64, kind)
    for row, (pair, _) in enumerate(plan.items):
        if pooling == "separate-mean":
            parts = [hidden_states(loaded.model, loaded.tokenizer(text)["input_ids"]).mean(1)
                     for text in PAIRS[pair]]
            expected = torch.cat(parts, dim=-1)
        else:
            types = encoded[pair].get("token_type_ids")
            states = hidden_states(loaded.model, encoded[pair]["input_ids"], types)
            expected = states.mean(1) if pooling == "joint-mean" else states[:, -1]
        np.testing.assert_allclose(got[:, row], expected.numpy(), rtol=2e-3, atol=2e-3)


def test_batches_bound_padding_and_padded_size():
    def unit(length, rows=1):
        return Unit([[0] * length] * rows, None, [[]] * rows, [(length, 0)])

    lengths = [60, 58, 55, 54, 40, 39, 10, 9, 9, 5]
    batches = length_batches([unit(n) for n in lengths], batch_tokens=200)
    # 60+58+55 in 3 x 60 = 180 (7 padding, 3.9 %); adding 54 would make 240 > 200 tokens. 54 and 40 would pad 14
    # of 108 (13 %); 40+39 pad 1 of 80; adding 10 would pad 31 of 120. 10, 9, 9 pad 2 of 30; adding 5 pads 7 of 40
    # (17.5 %).
    assert [[u.length for u in b] for b in batches] == [[60, 58, 55], [54], [40, 39], [10, 9, 9], [5]]
    # A pair unit (two rows) counts both rows; a unit longer than the budget gets a batch of its own.
    batches = length_batches([unit(300), unit(20, rows=2), unit(19, rows=2)], batch_tokens=100)
    assert [[u.length for u in b] for b in batches] == [[300], [20, 19]]


def test_cls_is_position_zero_for_an_encoder_and_refused_for_a_decoder(tiny_model_dirs, tmp_path):
    loaded = load_model(str(tiny_model_dirs["bert"]), head="base", device="cpu")
    plan = plan_nli([PAIRS[0][0]], [PAIRS[0][1]], loaded.tokenizer, "cls", "encoder", max_length=64)
    run_plan(loaded.model, plan, tmp_path / "f.npy", loaded.tokenizer.pad_token_id)
    ids = loaded.tokenizer(PAIRS[0][0], PAIRS[0][1])
    expected = hidden_states(loaded.model, ids["input_ids"], ids["token_type_ids"])[:, 0]
    np.testing.assert_allclose(read(tmp_path / "f.npy")[:, 0], expected.numpy(), rtol=2e-3, atol=2e-3)
    with pytest.raises(BioprobeError, match="cls.*decoder"):
        get_activations("nli", str(tiny_model_dirs["gpt2"]), pooling="cls", data="demo", runs_dir=tmp_path)


def test_truncated_words_are_dropped_and_counted(tiny_model_dirs, tmp_path):
    loaded = load_model(str(tiny_model_dirs["bert"]), head="base", device="cpu")
    plan = plan_ner([SENTENCES[1]], loaded.tokenizer, "first", max_length=6)
    encoding = encode_words(loaded.tokenizer, SENTENCES[1], max_length=6)
    kept = sum(span is not None for span in encoding.spans)
    assert plan.n_items == kept and plan.n_truncated == len(SENTENCES[1]) - kept > 0


@pytest.fixture(scope="module")
def cued_ner(tmp_path_factory):
    return write_cued_ner(tmp_path_factory.mktemp("cued") / "ner")


def test_cache_is_reused_and_recomputed_when_the_weights_change(tiny_model_dirs, cued_ner, tmp_path, monkeypatch):
    folder = tiny_model_dirs["gpt2"]
    first = get_activations("ner", str(folder), split="test", data=str(cued_ner), runs_dir=tmp_path, limit=20)
    assert first.features.dtype == np.float16 and first.features.shape[:2] == (3, len(first.label))
    assert first.meta["units"] == 20 and len(np.unique(first.unit)) == 20
    values = np.array(first.features)

    def refuse(*args, **kwargs):
        raise AssertionError("extracted again although the cache is current")

    monkeypatch.setattr(activations_module, "run_plan", refuse)
    again = get_activations("ner", str(folder), split="test", data=str(cued_ner), runs_dir=tmp_path, limit=20)
    assert again.folder == first.folder
    np.testing.assert_array_equal(np.array(again.features), values)
    monkeypatch.undo()

    weights = next(folder.glob("*.safetensors"))
    stamp = weights.stat()
    os.utime(weights, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # the model changed on disk: stale
    try:
        calls = []
        real = activations_module.run_plan
        monkeypatch.setattr(activations_module, "run_plan", lambda *a, **k: calls.append(1) or real(*a, **k))
        fresh = get_activations("ner", str(folder), split="test", data=str(cued_ner), runs_dir=tmp_path, limit=20)
        assert calls == [1] and fresh.meta["fingerprint"] != first.meta["fingerprint"]
        np.testing.assert_array_equal(np.array(fresh.features), values)  # same weights, same numbers
    finally:
        os.utime(weights, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))


def test_a_failed_extraction_keeps_the_old_cache(tiny_model_dirs, cued_ner, tmp_path, monkeypatch):
    folder = tiny_model_dirs["bert"]
    kept = get_activations("ner", str(folder), split="test", data=str(cued_ner), runs_dir=tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(activations_module, "run_plan", interrupted)
    with pytest.raises(KeyboardInterrupt):
        get_activations("ner", str(folder), split="test", data=str(cued_ner), runs_dir=tmp_path, overwrite=True)
    monkeypatch.undo()
    survivor = activations_module._open(kept.folder)
    assert survivor is not None and survivor.meta["fingerprint"] == kept.meta["fingerprint"]


def test_random_init_baseline_is_seeded_and_differs_from_the_pretrained_weights(tiny_model_dirs, tmp_path):
    nli = write_cued_nli(tmp_path / "nli")
    model = str(tiny_model_dirs["llama"])
    pretrained = get_activations("nli", model, data=str(nli), runs_dir=tmp_path)
    one = get_activations("nli", model, data=str(nli), runs_dir=tmp_path, baseline="random-init")
    two = get_activations("nli", model, data=str(nli), runs_dir=tmp_path / "other", baseline="random-init")
    np.testing.assert_array_equal(np.array(one.features), np.array(two.features))
    fresh, trained = np.array(one.features[1], dtype=np.float32), np.array(pretrained.features[1], dtype=np.float32)
    assert np.abs(fresh - trained).mean() > 0.5 * np.abs(trained).mean()  # other weights, other vectors
    with pytest.raises(BioprobeError, match="training_size 0"):
        get_activations("nli", model, training_size=30, data=str(nli), runs_dir=tmp_path, baseline="random-init")


def test_empty_split_says_so(tiny_model_dirs, tmp_path):
    data = write_cued_nli(tmp_path / "nli", sizes=(("train", 30), ("validation", 6), ("test", 0)))
    with pytest.raises(BioprobeError, match="empty"):
        get_activations("nli", str(tiny_model_dirs["bert"]), data=str(data), runs_dir=tmp_path)
