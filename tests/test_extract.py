"""Extraction: pooled vectors equal a hand computation from one sentence at a time, for every family and pooling;
the cache is reused, detected stale and never lost."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from bioprobe.align import encode_words
from bioprobe.errors import BioprobeError
from bioprobe.models import load_model
from bioprobe.probing import activations as activations_module
from bioprobe.probing.activations import get_activations
from bioprobe.probing.extract import run_plan
from bioprobe.tasks import get_task
from bioprobe.units import Unit, length_batches
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
    plan = get_task("ner").probe_plan({"tokens": SENTENCES}, loaded.tokenizer, pooling, "encoder", 64)
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

    from bioprobe.tasks.nli import encode_pairs

    loaded = load_model(str(tiny_model_dir), head="base", device="cpu")
    kind = loaded.resolved.spec.kind
    premises, hypotheses = zip(*PAIRS)
    plan = get_task("nli").probe_plan({"premise": list(premises), "hypothesis": list(hypotheses)}, loaded.tokenizer,
                                     pooling, kind, 64)
    run_plan(loaded.model, plan, tmp_path / "f.npy", loaded.tokenizer.pad_token_id, batch_tokens=40)
    got = read(tmp_path / "f.npy")
    encoded = encode_pairs(datasets.Dataset.from_dict({"premise": list(premises), "hypothesis": list(hypotheses),
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
    plan = get_task("nli").probe_plan({"premise": [PAIRS[0][0]], "hypothesis": [PAIRS[0][1]]}, loaded.tokenizer, "cls",
                                     "encoder", 64)
    run_plan(loaded.model, plan, tmp_path / "f.npy", loaded.tokenizer.pad_token_id)
    ids = loaded.tokenizer(PAIRS[0][0], PAIRS[0][1])
    expected = hidden_states(loaded.model, ids["input_ids"], ids["token_type_ids"])[:, 0]
    np.testing.assert_allclose(read(tmp_path / "f.npy")[:, 0], expected.numpy(), rtol=2e-3, atol=2e-3)
    with pytest.raises(BioprobeError, match="cls.*decoder"):
        get_activations(task="nli", model_name=str(tiny_model_dirs["gpt2"]), pooling="cls", data="demo",
                        runs_dir=tmp_path, training_size=0, split="test")


def test_truncated_words_are_dropped_and_counted(tiny_model_dirs, tmp_path):
    loaded = load_model(str(tiny_model_dirs["bert"]), head="base", device="cpu")
    plan = get_task("ner").probe_plan({"tokens": [SENTENCES[1]]}, loaded.tokenizer, "first", "encoder", 6)
    encoding = encode_words(loaded.tokenizer, SENTENCES[1], max_length=6)
    kept = sum(span is not None for span in encoding.spans)
    assert plan.n_items == kept and plan.n_truncated == len(SENTENCES[1]) - kept > 0


@pytest.fixture(scope="module")
def cued_ner(tmp_path_factory):
    return write_cued_ner(tmp_path_factory.mktemp("cued") / "ner")


def test_cache_is_reused_and_recomputed_when_the_weights_change(tiny_model_dirs, cued_ner, tmp_path, monkeypatch):
    folder = tiny_model_dirs["gpt2"]
    first = get_activations(task="ner", model_name=str(folder), split="test", data=str(cued_ner), runs_dir=tmp_path,
                            limit=20, training_size=0)
    assert first.features.dtype == np.float16 and first.features.shape[:2] == (3, len(first.label))
    assert first.meta["units"] == 20 and len(np.unique(first.unit)) == 20
    values = np.array(first.features)

    def refuse(*args, **kwargs):
        raise AssertionError("extracted again although the cache is current")

    monkeypatch.setattr(activations_module, "run_plan", refuse)
    again = get_activations(task="ner", model_name=str(folder), split="test", data=str(cued_ner), runs_dir=tmp_path,
                            limit=20, training_size=0)
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
        fresh = get_activations(task="ner", model_name=str(folder), split="test", data=str(cued_ner), runs_dir=tmp_path,
                                limit=20, training_size=0)
        assert calls == [1] and fresh.meta["fingerprint"] != first.meta["fingerprint"]
        np.testing.assert_array_equal(np.array(fresh.features), values)  # same weights, same numbers
    finally:
        os.utime(weights, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))


def test_a_failed_extraction_keeps_the_old_cache(tiny_model_dirs, cued_ner, tmp_path, monkeypatch):
    folder = tiny_model_dirs["bert"]
    kept = get_activations(task="ner", model_name=str(folder), split="test", data=str(cued_ner), runs_dir=tmp_path,
                           training_size=0)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(activations_module, "run_plan", interrupted)
    with pytest.raises(KeyboardInterrupt):
        get_activations(task="ner", model_name=str(folder), split="test", data=str(cued_ner), runs_dir=tmp_path,
                        overwrite=True, training_size=0)
    monkeypatch.undo()
    survivor = activations_module._open(kept.folder)
    assert survivor is not None and survivor.meta["fingerprint"] == kept.meta["fingerprint"]


def test_random_init_baseline_is_seeded_and_differs_from_the_pretrained_weights(tiny_model_dirs, tmp_path):
    nli = write_cued_nli(tmp_path / "nli")
    model = str(tiny_model_dirs["llama"])
    pretrained = get_activations(task="nli", model_name=model, data=str(nli), runs_dir=tmp_path, training_size=0,
                                 split="test")
    one = get_activations(task="nli", model_name=model, data=str(nli), runs_dir=tmp_path, baseline="random-init",
                          training_size=0, split="test")
    two = get_activations(task="nli", model_name=model, data=str(nli), runs_dir=tmp_path / "other",
                          baseline="random-init", training_size=0, split="test")
    np.testing.assert_array_equal(np.array(one.features), np.array(two.features))
    fresh, trained = np.array(one.features[1], dtype=np.float32), np.array(pretrained.features[1], dtype=np.float32)
    assert np.abs(fresh - trained).mean() > 0.5 * np.abs(trained).mean()  # other weights, other vectors
    with pytest.raises(BioprobeError, match="training_size 0"):
        get_activations(task="nli", model_name=model, training_size=30, data=str(nli), runs_dir=tmp_path,
                        baseline="random-init", split="test")


def test_empty_split_says_so(tiny_model_dirs, tmp_path):
    data = write_cued_nli(tmp_path / "nli", sizes=(("train", 30), ("validation", 6), ("test", 0)))
    with pytest.raises(BioprobeError, match="empty"):
        get_activations(task="nli", model_name=str(tiny_model_dirs["bert"]), data=str(data), runs_dir=tmp_path,
                        training_size=0, split="test")


# A small CoNLL test split, written out by hand: each cached item must be exactly one of these words with its tag.
CONLL_TEST = [
    [("Metformin", "B-Chemical"), ("lowers", "O"), ("glucose", "B-Chemical"), (".", "O")],
    [("IL-2", "B-Gene/Protein"), ("activates", "O"), ("STAT5", "B-Gene/Protein"), ("in", "O"), ("T", "O"),
     ("cells", "O"), ("of", "O"), ("patients", "O"), ("with", "O"), ("type", "B-Disease"), ("2", "I-Disease"),
     ("diabetes", "I-Disease"), (".", "O")],
    [("aspirin", "B-Chemical")],
    [("The", "O"), ("BRCA1", "B-Gene/Protein"), ("gene", "O")],
]


def write_conll(folder, splits: dict) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sentences in splits.items():
        (folder / f"{name}.conll").write_text("".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n" for s in sentences))
    return str(folder)


def test_items_are_the_words_and_tags_of_the_file(tiny_model_dirs, tmp_path):
    data = write_conll(tmp_path / "data", {"train": CONLL_TEST[::-1], "dev": CONLL_TEST[2:], "test": CONLL_TEST})
    model = str(tiny_model_dirs["bert"])
    acts = get_activations(task="ner", model_name=model, split="test", data=data, runs_dir=tmp_path, training_size=0)
    got = list(zip(acts.unit.tolist(), acts.word.tolist(), acts.text.tolist(), acts.label.tolist()))
    expected = [(s, w, word, tag) for s, sentence in enumerate(CONLL_TEST) for w, (word, tag) in enumerate(sentence)]
    assert sorted(got) == expected  # every word once, with its own text and tag
    # Rows run longest sentence first, its words in order: the 13 words of sentence 1 are rows 0-12.
    assert got[:13] == [(1, w, word, tag) for w, (word, tag) in enumerate(CONLL_TEST[1])]
    # The row of STAT5 (sentence 1, word 2) holds STAT5's vector: its first subword, sentence 1 run on its own.
    loaded = load_model(model, head="base", device="cpu")
    encoding = encode_words(loaded.tokenizer, [w for w, _ in CONLL_TEST[1]], max_length=128)
    states = hidden_states(loaded.model, encoding.input_ids)
    np.testing.assert_allclose(np.asarray(acts.features[:, 2], dtype=np.float32),
                               states[:, encoding.spans[2][0]].numpy(), rtol=2e-3, atol=2e-3)
    # A sample of sentences keeps each chosen sentence whole, with the split's sentence numbers.
    sample = get_activations(task="ner", model_name=model, split="test", data=data, runs_dir=tmp_path, limit=2,
                             training_size=0)
    kept = list(zip(sample.unit.tolist(), sample.word.tolist(), sample.text.tolist(), sample.label.tolist()))
    chosen = sorted(set(sample.unit.tolist()))
    assert len(chosen) == 2 and sorted(kept) == [item for item in expected if item[0] in chosen]


def test_nli_items_are_the_labels_of_their_pairs(tiny_model_dirs, tmp_path):
    pairs = [("Aspirin was given.", "A drug was given.", "entailment"),
             ("The patient has no fever.", "The patient is febrile.", "contradiction"),
             ("EGFR is mutated.", "The tumour is large.", "neutral")]
    folder = tmp_path / "nli"
    folder.mkdir()
    for name in ("train", "dev", "test"):
        (folder / f"{name}.jsonl").write_text("".join(
            json.dumps({"premise": p, "hypothesis": h, "label": label}) + "\n" for p, h, label in pairs))
    acts = get_activations(task="nli", model_name=str(tiny_model_dirs["bert"]), split="test", data=str(folder),
                           runs_dir=tmp_path, training_size=0)
    got = sorted(zip(acts.unit.tolist(), acts.word.tolist(), acts.text.tolist(), acts.label.tolist()))
    assert got == [(0, 0, "", "entailment"), (1, 0, "", "contradiction"), (2, 0, "", "neutral")]


@pytest.fixture
def row_reads(monkeypatch):
    """How many rows were read one at a time from a `datasets.Dataset` (an integer index, or one step of
    iterating it; a datasets 4+ column does one of the two for each item it is asked for)."""
    import datasets

    count = [0]
    getitem, iterate = datasets.Dataset.__getitem__, datasets.Dataset.__iter__

    def counted_getitem(self, key):
        count[0] += isinstance(key, (int, np.integer))
        return getitem(self, key)

    def counted_iter(self):
        for row in iterate(self):
            count[0] += 1
            yield row

    monkeypatch.setattr(datasets.Dataset, "__getitem__", counted_getitem)
    monkeypatch.setattr(datasets.Dataset, "__iter__", counted_iter)
    return count


@pytest.mark.parametrize("task", ["ner", "nli"])
def test_extraction_reads_columns_whole_not_item_by_item(task, tiny_model_dirs, tmp_path, row_reads):
    write = write_cued_ner if task == "ner" else write_cued_nli
    reads = []
    for n in (4, 40):
        data = write(tmp_path / f"{task}{n}", sizes=(("train", 8), ("validation", 4), ("test", n)))
        row_reads[0] = 0
        acts = get_activations(task=task, model_name=str(tiny_model_dirs["bert"]), split="test", data=str(data),
                               runs_dir=tmp_path, training_size=0)
        assert len(np.unique(acts.unit)) == n
        reads.append(row_reads[0])
    assert reads[0] == reads[1]  # the same reads for 4 and for 40 items: none per item or word


def test_two_workers_extracting_the_same_activations_keep_one_whole_cache(tmp_path):
    """Two study workers may extract the pretrained model's activations at once (probes of two sizes): they used to
    share one `.partial` folder, and one removed it while the other wrote. Each now writes its own; the second to
    finish drops its copy when the first installed the same (fingerprint), and replaces a stale cache."""
    import json

    import numpy as np

    from bioprobe.probing.activations import _install, _open

    def written(name: str, fingerprint: str, value: float) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        np.save(folder / "features.npy", np.full((1, 2, 3), value, dtype=np.float16))
        np.savez(folder / "items.npz", unit=np.zeros(2), word=np.zeros(2), text=np.array(["a", "b"]),
                 label=np.array(["O", "O"]))
        (folder / "meta.json").write_text(json.dumps({"fingerprint": fingerprint}))
        return folder

    cache = tmp_path / "train-first"
    _install(written("first.1-1.partial", "model-a", 1.0), cache, "model-a", overwrite=False)
    _install(written("second.2-2.partial", "model-a", 2.0), cache, "model-a", overwrite=False)
    assert float(_open(cache).features[0, 0, 0]) == 1.0  # the first copy stays, whole
    _install(written("third.3-3.partial", "model-b", 3.0), cache, "model-b", overwrite=False)
    assert float(_open(cache).features[0, 0, 0]) == 3.0  # a stale cache (other model files) is replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train-first"]
