"""Attention comparison, head importance and attribution on tiny models of every family: known answers (a model
against itself, the study's per-sentence cosine, padding, a finite-difference gate gradient, IG completeness, a
decoder's IG read at the input's last token, [UNK] as a word), the CLI and task scripts, and bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from bioprobe.attention.compare import attention_maps, attention_statistics, maps_path, read_maps
from bioprobe.attention.importance import head_gates, head_importance
from bioprobe import runstore
from bioprobe.align import encode_words
from bioprobe.cli import main
from bioprobe.models import load_model
from bioprobe.registry import resolve_model
from tiny_data import write_cued_ner, write_cued_nli
from tiny_models import FAMILIES

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = [["Metformin", "lowers", "glucose", "."],
             ["IL-2", "activates", "STAT5", "in", "T", "cells", "of", "patients", "with", "diabetes", "."],
             ["aspirin"], ["The", "BRCA1", "gene", "is", "mutated"]]


def ok(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def cued(tmp_path_factory):
    root = tmp_path_factory.mktemp("cued")
    return {"ner": write_cued_ner(root / "ner"), "nli": write_cued_nli(root / "nli")}


def eager(folder) -> object:
    return load_model(str(folder), head="base", eager_attention=True, device="cpu")


def sequences(tokenizer) -> list[list[int]]:
    return [encode_words(tokenizer, words).input_ids for words in SENTENCES]


def test_a_model_against_itself_gives_cosine_1_and_js_0_in_every_head(tiny_model_dir):
    loaded = eager(tiny_model_dir)
    stats = attention_statistics(loaded.model, {"self": loaded.model}, sequences(loaded.tokenizer),
                                 loaded.tokenizer.pad_token_id, loaded.tokenizer.all_special_ids, batch_tokens=64)
    values = stats.values["self"]
    assert values["cosine"].shape == (len(SENTENCES), 2, 2)
    np.testing.assert_allclose(values["cosine"], 1.0, atol=1e-6)
    np.testing.assert_allclose(values["js"], 0.0, atol=1e-7)
    np.testing.assert_allclose(values["entropy_change"], 0.0, atol=1e-7)


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_kept_attention_maps_are_the_models_own_for_the_shortest_fitting_item(family, tiny_model_dirs):
    loaded = eager(tiny_model_dirs[family])
    ids = sequences(loaded.tokenizer)  # 4-13 tokens; the shortest of at least 8 is the 5-word sentence's
    kept = attention_maps(loaded.model, {30: loaded.model}, ids, loaded.tokenizer, 1)
    shortest = min((len(x), i) for i, x in enumerate(ids) if len(x) >= 8)[1]
    assert kept["items"] == [shortest] and len(kept["tokens"][0]) == len(ids[shortest])
    with torch.inference_mode():
        own = loaded.model(input_ids=torch.tensor([ids[shortest]]), output_attentions=True).attentions
    expected = torch.stack([a[0] for a in own]).numpy()
    assert kept[30][0].shape == expected.shape == (2, 2, len(ids[shortest]), len(ids[shortest]))
    np.testing.assert_allclose(kept[30][0].astype(np.float32), expected, atol=1e-3)  # stored as float16
    np.testing.assert_allclose(kept[30][0].astype(np.float32).sum(-1), 1.0, atol=3e-3)
    if family == "llama":  # causal: nothing attends to a later token
        assert np.triu(kept[30][0].astype(np.float32), k=1).max() == 0


def test_cosine_equals_the_studys_per_sentence_sklearn_computation(tiny_model_dirs):
    """The study: each sentence alone at batch 1, both models, then sklearn cosine of the flattened numpy maps."""
    from sklearn.metrics.pairwise import cosine_similarity

    a, b = eager(tiny_model_dirs["gpt2"]), eager(tiny_model_dirs["gpt2"])
    torch.manual_seed(0)
    with torch.no_grad():  # a "fine-tuned" model: the same weights, perturbed
        for parameter in b.model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    ids = sequences(a.tokenizer)
    ours = attention_statistics(a.model, {30: b.model}, ids, a.tokenizer.pad_token_id, a.tokenizer.all_special_ids,
                                batch_tokens=40).values[30]["cosine"]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # ours lists sentences longest first
    for row, i in enumerate(order):
        with torch.no_grad():
            maps_a = a.model(torch.tensor([ids[i]]), output_attentions=True).attentions
            maps_b = b.model(torch.tensor([ids[i]]), output_attentions=True).attentions
        for layer in range(2):
            for head in range(2):
                theirs = cosine_similarity(maps_a[layer][0, head].numpy().reshape(1, -1),
                                           maps_b[layer][0, head].numpy().reshape(1, -1))[0, 0]
                assert ours[row, layer, head] == pytest.approx(theirs, abs=1e-5)
    assert (ours < 1 - 1e-4).any()  # the perturbation is visible


def test_padding_changes_nothing(tiny_model_dirs):
    loaded = eager(tiny_model_dirs["bert"])
    other = eager(tiny_model_dirs["bert"])
    with torch.no_grad():
        for parameter in other.model.parameters():
            parameter.mul_(1.1)
    ids = sequences(loaded.tokenizer)
    short = ids[0]
    alone = attention_statistics(loaded.model, {1: other.model}, [short], 0, loaded.tokenizer.all_special_ids)
    batched = attention_statistics(loaded.model, {1: other.model}, [short, ids[1]], 0,
                                   loaded.tokenizer.all_special_ids, batch_tokens=10_000)
    assert len(ids[1]) > len(short)
    for metric, values in alone.values[1].items():
        np.testing.assert_allclose(batched.values[1][metric][1], values[0], atol=1e-6, err_msg=metric)


def test_head_gates_reproduce_the_gradient_by_finite_differences(tiny_model_dirs):
    """Importance is d loss / d gate: check one head's gradient against (loss(1 + e) - loss(1 - e)) / 2e."""
    from bioprobe.attention.importance import _labelled_batches

    loaded = load_model(str(tiny_model_dirs["llama"]), head="sequence",
                        labels=("entailment", "neutral", "contradiction"), device="cpu")
    import datasets

    rows = datasets.Dataset.from_dict({"premise": ["the gene was treated", "insulin and aspirin"],
                                       "hypothesis": ["increased expression", "reduced protein"],
                                       "label": ["entailment", "contradiction"]})
    model = loaded.model.double()
    inputs, gold = next(_labelled_batches("nli", loaded, rows, 64, 4096))

    def loss(gates):
        with head_gates(model, gates):
            return model(**inputs, labels=gold).loss

    gates = torch.ones(2, 2, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(loss(gates), gates)
    eps = 1e-3  # central differences: error O(eps^2); smaller steps drown in the float32 softmax's rounding
    for layer in range(2):
        for head in range(2):
            up, down = torch.ones(2, 2, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64)
            up[layer, head] += eps
            down[layer, head] -= eps
            with torch.no_grad():
                numeric = (loss(up) - loss(down)) / (2 * eps)
            assert float(grad[layer, head]) == pytest.approx(float(numeric), rel=1e-3, abs=1e-6)
    with torch.no_grad():  # gates at zero silence every head: the output changes
        silent = loss(torch.zeros(2, 2, dtype=torch.float64))
    assert float(silent) != pytest.approx(float(loss(torch.ones(2, 2, dtype=torch.float64))))
    scores = head_importance("nli", loaded, rows)
    np.testing.assert_allclose(scores["raw"], grad.abs().numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(scores["normalised"], axis=1), 1.0)


NER_ROWS = {"tokens": [words for words in SENTENCES], "tags": [["B-Chemical", "O", "B-Chemical", "O"],
                                                                 ["B-Gene", "O", "B-Gene"] + ["O"] * 8,
                                                                 ["B-Chemical"], ["O", "B-Gene", "O", "O", "O"]]}
NLI_ROWS = {"premise": ["the gene was treated", "insulin and aspirin", "metformin lowers glucose in patients", "x"],
            "hypothesis": ["increased expression", "reduced protein", "the drug", "aspirin was given to them"],
            "label": ["entailment", "contradiction", "neutral", "entailment"]}


@pytest.mark.parametrize("family, task", [("bert", "ner"), ("gpt2", "ner"), ("bert", "nli"), ("llama", "nli")])
def test_a_shared_importance_pass_gives_the_same_statistics_and_importance_as_two_passes(family, task,
                                                                                         tiny_model_dirs):
    """With importance sharing its gradient pass, the tuned model runs once per batch instead of twice, and every
    statistic and the importance equal those of a separate inference pass and a separate `head_importance`."""
    import datasets

    from bioprobe.attention.importance import labelled_items
    from bioprobe.tasks import get_task

    folder = str(tiny_model_dirs[family])
    rows = datasets.Dataset.from_dict(NER_ROWS if task == "ner" else NLI_ROWS)
    labels = ("B-Chemical", "B-Gene", "O") if task == "ner" else ("entailment", "neutral", "contradiction")
    reference = eager(folder)
    tuned = load_model(folder, head="token" if task == "ner" else "sequence", labels=labels, eager_attention=True,
                       device="cpu")
    torch.manual_seed(0)
    with torch.no_grad():  # a "fine-tuned" model: the same body, perturbed
        for parameter in tuned.model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    spec = get_task(task)
    ids, type_ids, _, spans = spec.attention_inputs(rows[:], reference.tokenizer, tuned.resolved.spec.kind, 64)
    items = labelled_items(task, tuned, rows, 64)
    assert items.input_ids == ids and (items.type_ids or None) == (type_ids or None)
    assert (type_ids is not None) == (family == "bert" and task == "nli")
    trainable = [p.requires_grad for p in tuned.model.parameters()]
    calls = []
    tuned.model.register_forward_hook(lambda module, args, output: calls.append(1))
    pad, special = reference.tokenizer.pad_token_id or 0, reference.tokenizer.all_special_ids

    def compare(importance=None):
        calls.clear()
        stats = attention_statistics(reference.model, {30: tuned.model}, ids, pad, special, batch_tokens=30,
                                     type_ids=type_ids, spans=spans, importance=importance)
        return stats, len(calls)

    apart, inference_calls = compare()
    calls.clear()
    alone = head_importance(task, tuned, rows, 64, batch_tokens=30)
    gradient_calls = len(calls)
    shared, shared_calls = compare({30: items})
    assert inference_calls == gradient_calls == shared_calls > 1  # several batches; one pass each, not two
    assert set(shared.values[30]) == set(apart.values[30])
    for metric, values in apart.values[30].items():
        np.testing.assert_allclose(shared.values[30][metric], values, atol=1e-6, rtol=1e-6, err_msg=metric)
    assert (apart.values[30]["cosine"] < 1 - 1e-4).any()  # the perturbation is visible
    for kind in ("raw", "normalised"):
        np.testing.assert_allclose(shared.extra["importance"][30][kind], alone[kind], rtol=1e-5, atol=1e-9)
    assert (alone["raw"] > 0).all()
    assert [p.requires_grad for p in tuned.model.parameters()] == trainable  # given back as it was
    assert shared.extra["importance_s"][30] > 0 and 30 not in apart.extra.get("importance_s", {})


def test_the_attention_command_shares_the_importance_pass_and_its_statistics_stay_the_same(tiny_model_dirs, cued,
                                                                                           tmp_path):
    """`bioprobe attention` with importance (one pass of the tuned model) writes the same statistic rows as with
    `--no-importance` (an inference pass), and the importance of `head_importance` on the checkpoint."""
    from bioprobe.finetune.checkpoints import load_finetuned

    runs, model = tmp_path / "runs", str(tiny_model_dirs["bert"])
    ok("finetune", "--task", "ner", "--model_name", model, "--data", str(cued["ner"]), "--training_size", "30",
       "--epochs", "1", "--runs-dir", str(runs))
    path = runstore.results_path(runs, "attention", "ner", "bert-local", 30, 42, "test")
    tables = {}
    for flag in ("--importance", "--no-importance"):
        ok("attention", "--task", "ner", "--model_name", model, "--training_size", "30", "--runs-dir", str(runs),
           "--limit", "20", "--batch-tokens", "64", flag)
        tables[flag] = pd.read_csv(path)
        sidecar = runstore.read_json(runstore.sidecar(path))
        assert sidecar.get("importance_pass") == ("shared" if flag == "--importance" else None)
    with_importance, without = tables["--importance"], tables["--no-importance"]
    statistics = with_importance[with_importance["metric"].isin(without["metric"].unique())].reset_index(drop=True)
    assert set(without.columns) <= set(statistics.columns) and len(statistics) == len(without) > 0
    pd.testing.assert_frame_equal(statistics[["layer", "head", "metric"]], without[["layer", "head", "metric"]],
                                  check_dtype=False)  # layer is float where importance rows leave it empty
    for column in ("value", "ci_low", "ci_high"):
        np.testing.assert_allclose(statistics[column], without[column], atol=1e-6, err_msg=column)
    loaded = load_finetuned(runs, "ner", "bert-local", 30, 42, eager_attention=True, device="cpu")
    from bioprobe.data import load_task_data
    from bioprobe.probing.activations import _select

    rows = load_task_data("ner", str(cued["ner"])).splits["test"]
    rows = rows.select(_select(len(rows), 20, 42))
    expected = head_importance("ner", loaded, rows, 128, 64)["normalised"]
    importance = with_importance[with_importance["metric"] == "importance"].sort_values(["layer", "head"])
    np.testing.assert_allclose(importance["value"].to_numpy(), expected.ravel(), rtol=1e-5, atol=1e-9)


def test_integrated_gradients_add_up_to_the_change_in_output(tiny_model_dirs, cued, tmp_path):
    """Completeness: with enough steps the attributions sum to f(input) - f(baseline) (small convergence delta)."""
    from bioprobe.attention.attribute import attribute_examples, segment_share
    from bioprobe.align import structural_special_ids

    runs = tmp_path / "runs"
    model = str(tiny_model_dirs["bert"])
    ok("finetune", "--task", "nli", "--model_name", model, "--data", str(cued["nli"]), "--training_size", "30",
       "--epochs", "1", "--runs-dir", str(runs))
    from bioprobe.finetune.checkpoints import load_finetuned
    from bioprobe.data import load_task_data

    loaded = load_finetuned(runs, "nli", model, 30, device="cpu")
    rows = load_task_data("nli", str(cued["nli"])).splits["test"].select(range(3))
    found = attribute_examples("nli", loaded, rows, steps=300, progress=False)
    for item, row in zip(found, rows):
        assert abs(item.delta) < 1e-3
        encoded = loaded.tokenizer(row["premise"], row["hypothesis"])
        types, special = np.array(encoded["token_type_ids"]), np.isin(encoded["input_ids"],
                                                                       list(structural_special_ids(loaded.tokenizer)))
        np.testing.assert_array_equal(item.segments, np.where(special, -1, types))
        share = segment_share(item)
        magnitude = np.abs(item.scores)
        assert share == pytest.approx(magnitude[item.segments == 1].sum() / magnitude[item.segments >= 0].sum())


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_through_the_cli(family, tiny_model_dirs, cued, tmp_path):
    runs, model = tmp_path / "runs", str(tiny_model_dirs[family])
    task = "ner" if family in ("bert", "gpt2", "llama") else "nli"
    for size in ("10", "30"):
        ok("finetune", "--task", task, "--model_name", model, "--data", str(cued[task]), "--training_size", size,
           "--epochs", "1", "--runs-dir", str(runs))
    ok("attention", "--task", task, "--model_name", model, "--training_sizes", "10,30", "--runs-dir", str(runs),
       "--limit", "20")
    name = resolve_model(model).name
    for size in (10, 30):
        table = pd.read_csv(runstore.results_path(runs, "attention", task, name, size, 42, "test"))
        assert list(table.columns[:9]) == list(runstore.TIDY_COLUMNS)
        heads = table[table["metric"] == "cosine"]
        assert len(heads) == 4 and heads["value"].between(0, 1 + 1e-6).all()
        assert ((heads["ci_low"] <= heads["value"] + 1e-12) & (heads["value"] <= heads["ci_high"] + 1e-12)).all()
        importance = table[table["metric"] == "importance"]
        assert len(importance) == 4 and (importance["value"] >= 0).all()
        assert (table["metric"] == "importance_change_spearman").sum() == 1
        assert set(table["n_sentences"]) == {20}
        kept = read_maps(maps_path(runstore.results_path(runs, "attention", task, name, size, 42, "test")))
        assert len(kept) == 1 and kept[0]["tuned"].shape == kept[0]["reference"].shape == (
            2, 2, len(kept[0]["tokens"]), len(kept[0]["tokens"]))
        np.testing.assert_allclose(kept[0]["tuned"].astype(np.float32).sum(-1), 1.0, atol=3e-3)
    ok("attribute", "--task", task, "--model_name", model, "--training_size", "30", "--runs-dir", str(runs),
       "--examples", "2", "--limit", "4", "--steps", "16")
    table = pd.read_csv(runstore.results_path(runs, "attribution", task, name, 30, 42))
    assert set(table.loc[table["metric"] == "attribution", "example"]) == {0, 1}
    assert (runs / "figures" / f"attribution_{task}_{name}_size30.png").is_file()
    assert (runs / "figures" / f"attention_cosine_{task}_{name}.png").is_file()


def test_a_4bit_qlora_llama_is_compared(tiny_model_dirs, cued, tmp_path):
    runs, model = tmp_path / "runs", str(tiny_model_dirs["llama"])
    ok("finetune", "--task", "nli", "--model_name", model, "--data", str(cued["nli"]), "--training_size", "30",
       "--epochs", "1", "--4bit", "--lora", "--runs-dir", str(runs))
    ok("attention", "--task", "nli", "--model_name", model, "--training_size", "30", "--runs-dir", str(runs),
       "--limit", "12")
    table = pd.read_csv(runstore.results_path(runs, "attention", "nli", "llama", 30, 42, "test"))
    cosine = table[table["metric"] == "cosine"]["value"]
    assert len(cosine) == 4 and cosine.between(0.5, 1 + 1e-6).all()


@pytest.mark.parametrize("objective", ["classifier", "instruct"])
def test_lora_runs_share_one_base_and_give_the_merged_runs_numbers(objective, tiny_model_dirs, cued, tmp_path,
                                                                   monkeypatch):
    """Two LoRA runs compared with their base hold the base weights once (each run an adapter of it, the base with
    every adapter off) and write the statistics and importance of the base and each run loaded apart and merged."""
    from bioprobe.finetune import checkpoints

    runs, model = tmp_path / "runs", str(tiny_model_dirs["llama"])
    for size in ("30", "100"):
        ok("finetune", "--task", "nli", "--model_name", model, "--data", str(cued["nli"]), "--training_size", size,
           "--epochs", "1", "--lora", "--objective", objective, "--runs-dir", str(runs), "--lr", "2e-2")
    base, views = checkpoints.load_lora_runs(runs, "nli", model, [30, 100], 42, eager_attention=True, device="cpu",
                                             objective=objective)
    embeddings = {id(loaded.model.get_input_embeddings().weight) for loaded in (base, *views.values())}
    assert len(embeddings) == 1  # one copy of the base weights
    ids = torch.tensor([[3, 7, 11, 2, 9, 4]])
    plain = load_model(model, head="base", device="cpu").model
    with torch.no_grad():
        torch.testing.assert_close(base.model(input_ids=ids, output_hidden_states=True).hidden_states[-1],
                                   plain(input_ids=ids).last_hidden_state, atol=1e-6, rtol=0)
        for size, view in views.items():  # each view is its run, merged and loaded alone
            merged = checkpoints.load_finetuned(runs, "nli", model, size, 42, device="cpu", merge=True,
                                                objective=objective).model
            torch.testing.assert_close(view.model(input_ids=ids).logits, merged(input_ids=ids).logits, atol=1e-5,
                                       rtol=1e-5)
        assert not torch.allclose(views[30].model(input_ids=ids).logits, views[100].model(input_ids=ids).logits)
        base.model(input_ids=ids)  # switching the adapters back on leaves them frozen
    assert not [name for name, p in base.model.named_parameters() if p.requires_grad]

    tables = {}
    for way in ("shared", "apart"):
        if way == "apart":
            monkeypatch.setattr(checkpoints, "load_lora_runs", lambda *args, **kwargs: None)
        ok("attention", "--task", "nli", "--model_name", model, "--training_sizes", "30,100", "--runs-dir", str(runs),
           "--limit", "12", "--objective", objective, "--overwrite")
        path = runstore.results_path(runs, "attention", "nli", "llama", 100, 42, "test", objective=objective)
        assert runstore.read_json(runstore.sidecar(path))["base_weights"] == \
            ("held once, each run an adapter" if way == "shared" else "loaded per model")
        tables[way] = pd.concat([pd.read_csv(runstore.results_path(runs, "attention", "nli", "llama", size, 42,
                                                                   "test", objective=objective))
                                 for size in (30, 100)], ignore_index=True)
    shared, apart = tables["shared"], tables["apart"]
    pd.testing.assert_frame_equal(shared[["training_size", "layer", "head", "metric"]],
                                  apart[["training_size", "layer", "head", "metric"]])
    for column in ("value", "ci_low", "ci_high"):
        np.testing.assert_allclose(shared[column], apart[column], atol=1e-5, rtol=1e-4, err_msg=column)
    assert {"cosine", "importance"} <= set(shared["metric"])
    assert (shared.loc[shared["metric"] == "cosine", "value"] < 1 - 1e-4).all()  # the runs changed attention


def test_task_script_and_long_sentences_are_truncated_and_counted(tiny_model_dirs, cued, tmp_path):
    model = str(tiny_model_dirs["bert"])
    ok("finetune", "--task", "ner", "--model_name", model, "--data", str(cued["ner"]), "--training_size", "10",
       "--epochs", "1", "--runs-dir", str(tmp_path))
    done = subprocess.run([sys.executable, "attention.py", "--training_size", "10", "--model_name", model,
                           "--runs-dir", str(tmp_path), "--max-length", "8", "--no-importance"], cwd=ROOT / "NER",
                          capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                                                               "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(runstore.results_path(tmp_path, "attention", "ner", "bert-local", 10, 42, "test"))
    assert table["truncated"].iloc[0] > 0 and f"{table['truncated'].iloc[0]} truncated" in done.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--training_sizes", "10,thirty"], "does not parse"),
    (["--training_sizes", "0,10"], "from 1 to 100"),
    (["--training_sizes", "50"], "bioprobe finetune --task ner"),
    (["--training_sizes", "10", "--metrics", "cosine,beauty"], "Unknown attention metric 'beauty'"),
])
def test_bad_input_is_one_sentence_and_a_nonzero_exit(args, fragment, tiny_model_dirs, tmp_path):
    result = CliRunner().invoke(main, ["attention", "--task", "ner", "--model_name", str(tiny_model_dirs["bert"]),
                                       "--runs-dir", str(tmp_path), *args])
    assert result.exit_code != 0 and fragment in result.output and "Traceback" not in result.output


def test_a_model_without_attention_maps_is_named():
    from types import SimpleNamespace

    from bioprobe.attention.compare import _attentions
    from bioprobe.errors import BioprobeError

    def no_maps(**inputs):  # what a model whose attention kernel cannot return maps gives back
        return SimpleNamespace(attentions=None)

    with pytest.raises(BioprobeError, match="mamba-like returned no attention maps"):
        _attentions(no_maps, {"input_ids": torch.tensor([[1, 5, 6]])}, "mamba-like")


def test_decoder_pair_segments_hold_when_the_premise_is_truncated(tiny_model_dirs):
    """The hypothesis is the end of a decoder's pair input, whole, however much of the premise was cut."""
    import datasets

    from bioprobe.tasks.nli import segments as _segments
    from bioprobe.tasks.nli import HYPOTHESIS, PREMISE, encode_pairs

    loaded = load_model(str(tiny_model_dirs["gpt2"]), head="base", device="cpu")
    tokenizer = loaded.tokenizer
    premise = "the gene was treated with insulin and aspirin in the cell of the kinase receptor expression"
    hypothesis = "reduced protein"
    pair = datasets.Dataset.from_dict({"premise": [premise], "hypothesis": [hypothesis], "label": ["neutral"]})
    h_ids = tokenizer(HYPOTHESIS + hypothesis, add_special_tokens=False)["input_ids"]
    p_ids = tokenizer(PREMISE + premise, add_special_tokens=False)["input_ids"]
    for max_length in (len(p_ids) + len(h_ids), len(h_ids) + 3):  # whole, then the premise cut to 3 tokens
        encoded = encode_pairs(pair, tokenizer, ("neutral",), max_length, "decoder")[0]
        segments = _segments(encoded["input_ids"], tokenizer, premise, hypothesis, "decoder", max_length)
        n_premise = len(encoded["input_ids"]) - len(h_ids)
        assert list(segments) == [0] * n_premise + [1] * len(h_ids)
        assert encoded["input_ids"][n_premise:] == h_ids
    assert n_premise == 3


class FixedMaps(torch.nn.Module):
    """A stand-in model whose one layer, one head attention map is given, whatever the input."""

    def __init__(self, att):
        super().__init__()
        self.att = torch.tensor(att, dtype=torch.float64)
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, output_attentions=False, **kwargs):
        from types import SimpleNamespace

        return SimpleNamespace(attentions=(self.att[None, None].expand(input_ids.shape[0], 1, -1, -1),))


def test_attention_special_mass_counts_the_added_tokens_not_unk(tiny_model_dirs):
    """On [CLS] insulin [UNK] aspirin [SEP] the special mass is each row's mass on [CLS] and [SEP] only."""
    from bioprobe.align import structural_special_ids

    loaded = eager(tiny_model_dirs["bert"])
    tokenizer = loaded.tokenizer
    ids = encode_words(tokenizer, ["insulin", "☃", "aspirin"]).input_ids
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "insulin", "[UNK]", "aspirin", "[SEP]"]
    att = [[0.5, 0.1, 0.2, 0.1, 0.1],  # on [CLS] + [SEP]: 0.6
           [0.1, 0.4, 0.3, 0.1, 0.1],  # 0.2
           [0.2, 0.2, 0.2, 0.2, 0.2],  # 0.4
           [0.0, 0.1, 0.6, 0.2, 0.1],  # 0.1
           [0.3, 0.0, 0.0, 0.0, 0.7]]  # 1.0
    stats = attention_statistics(FixedMaps(att), {1: FixedMaps(att)}, [ids], tokenizer.pad_token_id,
                                 structural_special_ids(tokenizer)).values[1]
    assert stats["special_a"][0, 0, 0] == pytest.approx((0.6 + 0.2 + 0.4 + 0.1 + 1.0) / 5, abs=1e-12)  # 0.46
    old = attention_statistics(FixedMaps(att), {1: FixedMaps(att)}, [ids], tokenizer.pad_token_id,
                               tokenizer.all_special_ids).values[1]
    assert old["special_a"][0, 0, 0] == pytest.approx((0.8 + 0.5 + 0.6 + 0.7 + 1.0) / 5, abs=1e-12)  # [UNK] in: 0.72


def test_compare_attention_special_mass_leaves_out_unk(tiny_model_dirs, cued, tmp_path):
    """Through `compare_attention`: on "insulin ☃ aspirin" ([CLS] insulin [UNK] aspirin [SEP]) the pretrained
    model's special mass of each head is the mean over rows of its mass on columns 0 and 4 only."""
    from bioprobe.attention.compare import compare_attention

    runs, model = tmp_path / "runs", str(tiny_model_dirs["bert"])
    ok("finetune", "--task", "ner", "--model_name", model, "--data", str(cued["ner"]), "--training_size", "10",
       "--epochs", "1", "--runs-dir", str(runs))
    data = tmp_path / "unk"
    data.mkdir()
    for split in ("train", "dev", "test"):
        (data / f"{split}.conll").write_text("insulin\tB-Chemical\n☃\tO\naspirin\tB-Chemical\n\n")
    result = compare_attention(task="ner", model_name=model, training_sizes="10", data=str(data), runs_dir=runs, importance=False, figures=False,
                               metrics=["special_a"], n_boot=10)
    table = pd.DataFrame(result.rows)
    reference = eager(tiny_model_dirs["bert"])
    ids = encode_words(reference.tokenizer, ["insulin", "☃", "aspirin"]).input_ids
    assert reference.tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "insulin", "[UNK]", "aspirin", "[SEP]"]
    with torch.no_grad():
        maps = reference.model(torch.tensor([ids]), output_attentions=True).attentions
    for layer in range(2):
        for head in range(2):
            att = maps[layer][0, head].double()
            got = table.loc[(table["layer"] == layer) & (table["head"] == head), "value"].item()
            assert got == pytest.approx(float(att[:, [0, 4]].sum(-1).mean()), abs=1e-6)
            assert got != pytest.approx(float(att[:, [0, 2, 4]].sum(-1).mean()), abs=1e-4)  # [UNK] left out


NLI_LABELS = ("entailment", "neutral", "contradiction")


def pairs(premises, hypotheses):
    import datasets

    return datasets.Dataset.from_dict({"premise": premises, "hypothesis": hypotheses,
                                       "label": ["neutral"] * len(premises)})


def test_an_unk_word_is_a_word_in_segments_baseline_and_share(tiny_model_dirs):
    """[UNK] and [MASK] are words of the text: they keep their sentence's segment and are replaced in the baseline;
    only the tokens the tokenizer adds ([CLS], [SEP]) are -1 and kept."""
    from bioprobe.attention.attribute import attribute_examples, segment_share

    loaded = load_model(str(tiny_model_dirs["bert"]), head="sequence", labels=NLI_LABELS, device="cpu")
    (item,) = attribute_examples("nli", loaded, pairs(["insulin ☃ the gene"], ["[MASK] reduced protein"]), steps=8,
                                 progress=False)
    assert item.tokens == ["[CLS]", "insulin", "[UNK]", "the", "gene", "[SEP]", "[MASK]", "reduced", "protein",
                           "[SEP]"]
    assert list(item.segments) == [-1, 0, 0, 0, 0, -1, 1, 1, 1, -1]
    assert item.baseline == [2, 0, 0, 0, 0, 3, 0, 0, 0, 3]  # [CLS] [PAD] x 4 [SEP] [PAD] x 3 [SEP]
    magnitude = np.abs(item.scores)
    assert segment_share(item) == pytest.approx(magnitude[6:9].sum() / (magnitude[1:5].sum() + magnitude[6:9].sum()))


def test_a_decoder_pair_with_an_unk_keeps_its_boundary(tiny_model_dirs):
    """BioGPT spells an unknown character <unk>: it counts in the hypothesis's length, so it must count as a
    hypothesis position too (otherwise the boundary slides one token into the premise)."""
    from bioprobe.attention.attribute import attribute_examples

    loaded = load_model(str(tiny_model_dirs["biogpt"]), head="sequence", labels=NLI_LABELS, device="cpu")
    (item,) = attribute_examples("nli", loaded, pairs(["insulin lowers glucose"], ["the ☃ gene"]), steps=8,
                                 progress=False)
    # </s> | P re mi se</w> :</w> insulin</w> lo w er s</w> g l uc os e</w> | H yp o th esis</w> :</w> the</w> <unk> gene</w>
    assert item.tokens[0] == "</s>" and item.tokens[-2:] == ["<unk>", "gene</w>"]
    assert list(item.segments) == [-1] + [0] * 15 + [1] * 9
    assert item.baseline == [2] + [1] * 24  # </s>, then <pad> everywhere, the <unk> too


@pytest.mark.parametrize("family", ["gpt2", "llama", "biogpt", "mistral"])
def test_integrated_gradients_of_a_decoder_pair_start_where_the_input_is_read(family, tiny_model_dirs):
    """A decoder's sequence head reads the last non-pad token. The baseline is all pad after BOS, so the model itself
    would read it at position 0; IG's path is read at the input's last token. Completeness holds when F(baseline) is
    read there too: sum of attributions = F(input) - F(baseline at the input's last position), delta ~ 0."""
    from bioprobe.attention.attribute import attribute_examples
    from bioprobe.tasks.nli import encode_pairs

    loaded = load_model(str(tiny_model_dirs[family]), head="sequence", labels=NLI_LABELS, device="cpu")
    model, tokenizer = loaded.model, loaded.tokenizer
    rows = pairs(["the gene was treated with insulin", "aspirin lowers glucose"],
                 ["reduced protein expression", "the patient was treated"])
    found = attribute_examples("nli", loaded, rows, steps=300, progress=False)
    encoded = encode_pairs(rows, tokenizer, NLI_LABELS, 128, "decoder")
    bos = {"gpt2": [], "llama": [1], "mistral": [1], "biogpt": [2]}[family]  # what each tokenizer puts first
    pad = {"gpt2": 636, "llama": 2, "mistral": 2, "biogpt": 1}[family]  # EOS for gpt2 / llama / mistral; <pad>
    assert tokenizer.pad_token_id == pad
    for item, row in zip(found, encoded):
        ids = row["input_ids"]
        baseline = bos + [pad] * (len(ids) - len(bos))
        target = NLI_LABELS.index(item.target)
        with torch.no_grad():
            f_input = float(model(input_ids=torch.tensor([ids])).logits[0, target])
            hidden = model.base_model(input_ids=torch.tensor([baseline])).last_hidden_state
            f_baseline = float(model.score(hidden)[0, len(ids) - 1, target])  # read at the input's last token
            f_baseline_at_0 = float(model(input_ids=torch.tensor([baseline])).logits[0, target])
        assert abs(item.delta) < 1e-4
        assert float(item.scores.sum()) == pytest.approx(f_input - f_baseline, abs=1e-4)
        assert abs(f_baseline - f_baseline_at_0) > 1e-4  # the model's own pooling of the baseline is elsewhere
        assert item.baseline == baseline


def test_ner_integrated_gradients_of_a_decoder_converge(tiny_model_dirs):
    """A token head is read at the explained position on every point of the path: the pad baseline is harmless."""
    import datasets

    from bioprobe.attention.attribute import attribute_examples

    loaded = load_model(str(tiny_model_dirs["gpt2"]), head="token", labels=("O", "B-Gene", "I-Gene"), device="cpu")
    rows = datasets.Dataset.from_dict({"tokens": [["IL-2", "activates", "STAT5"]], "tags": [["B-Gene", "O", "O"]]})
    (item,) = attribute_examples("ner", loaded, rows, steps=300, progress=False)
    assert item.position == 0 and abs(item.delta) < 1e-4
