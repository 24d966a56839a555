"""What the tuned model says: known answers of the KL (a hand-made pair of distributions written out, a model against
itself), of the prompt / answer split of positions on a hand-made prompt, of the per-item means, bootstrap rows and
most-changed item, of the logit lens (its last layer is the model's own logits, every family and an encoder's
masked-LM head; hand-made outcomes give the written-out ranks and decodable layer), the two commands end to end, the
study cells, and bad input in one sentence with nothing already computed lost."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from bioprobe import runstore
from bioprobe.diffing.divergence import ANSWER, NONE, PROMPT, ItemKL, kl_divergence, position_classes, summary_rows, \
    token_rows
from bioprobe.diffing.lens import decodable_layer, layer_predictions, lens_rows
from bioprobe.diffing.pair import Reading
from bioprobe.diffing.readout import Readout, gold_prob_rank, load_masked_lm, nothing
from bioprobe.models import load_model
from bioprobe.registry import resolve_model
from cli_checks import assert_one_sentence, cli, ok
from tiny_data import write_cued_ner, write_cued_nli

IGNORE = -100


@pytest.fixture(scope="module")
def cued(tmp_path_factory):
    root = tmp_path_factory.mktemp("cued")
    return {"ner": write_cued_ner(root / "ner"), "nli": write_cued_nli(root / "nli")}


@pytest.fixture(scope="module")
def instruct_runs(tiny_model_dirs, cued, tmp_path_factory):
    """A fully tuned gpt2 and a LoRA llama instruction run on NLI at 30 %, in one runs dir."""
    runs = tmp_path_factory.mktemp("runs")
    for family, extra in (("gpt2", ()), ("llama", ("--lora",))):
        ok("finetune", "--task", "nli", "--objective", "instruct", "--model_name", str(tiny_model_dirs[family]),
           "--data", str(cued["nli"]), "--training_size", "30", "--epochs", "1", "--test-limit", "4",
           "--max-new-tokens", "4", "--runs-dir", str(runs), *extra)
    return runs


# --- KL and positions ------------------------------------------------------------------------------------------------

def test_kl_of_a_hand_made_pair_of_distributions():
    p = torch.tensor([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]], dtype=torch.float64)
    q = torch.tensor([[0.25, 0.5, 0.25], [0.5, 0.25, 0.25]], dtype=torch.float64)
    found = kl_divergence(p.log(), q.log())
    # 0.5 ln(0.5/0.25) + 0.25 ln(0.25/0.5) + 0 = 0.25 ln 2; a token p gives 0 adds nothing: 1 ln(1/0.5) = ln 2
    assert found.tolist() == pytest.approx([0.25 * math.log(2), math.log(2)], abs=1e-12)
    assert kl_divergence(q.log(), p.log())[0].item() == pytest.approx(0.25 * math.log(2))  # symmetric here by design
    assert kl_divergence(p.log(), p.log()).tolist() == [0.0, 0.0]


def test_the_prompt_and_answer_positions_of_a_hand_made_prompt():
    # row 0: 3 prompt tokens, answer tokens 7 8 and EOS 2, then one pad; row 1: 2 prompt tokens, answer 9 and EOS
    labels = torch.tensor([[IGNORE, IGNORE, IGNORE, 7, 8, 2, IGNORE],
                           [IGNORE, IGNORE, 9, 2, IGNORE, IGNORE, IGNORE]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0, 0]])
    found = position_classes(labels, mask).tolist()
    assert found[0] == [PROMPT, PROMPT, ANSWER, ANSWER, ANSWER, NONE, NONE]  # position t predicts token t + 1
    assert found[1] == [PROMPT, ANSWER, ANSWER, NONE, NONE, NONE, NONE]


def test_per_item_means_bootstrap_rows_and_the_most_changed_item():
    nan = float("nan")
    items = [ItemKL([1, 2, 3, 4], np.array([nan, 0.1, 0.3, 1.0]), np.array([NONE, PROMPT, PROMPT, ANSWER])),
             ItemKL([1, 5, 6], np.array([nan, 0.2, 3.0]), np.array([NONE, PROMPT, ANSWER])),
             ItemKL([1, 7, 8, 9], np.array([nan, 0.6, 0.5, 0.5]), np.array([NONE, PROMPT, ANSWER, ANSWER]))]
    rows = summary_rows(items, 200, 0)
    mean = {r["position"]: r for r in rows if r["metric"] == "kl"}
    assert mean["prompt"]["value"] == pytest.approx((0.2 + 0.2 + 0.6) / 3)  # each item's mean, then over items
    assert mean["answer"]["value"] == pytest.approx((1.0 + 3.0 + 0.5) / 3)
    assert mean["prompt"]["n_tokens"] == 4 and mean["answer"]["n_tokens"] == 4
    assert 0.2 <= mean["answer"]["ci_low"] <= mean["answer"]["value"] <= mean["answer"]["ci_high"] <= 3.0
    per_item = [r["value"] for r in rows if r["metric"] == "kl_item" and r["position"] == "answer"]
    assert per_item == pytest.approx([1.0, 3.0, 0.5])

    class Tokens:
        def convert_ids_to_tokens(self, ids):
            return [f"t{i}" for i in ids]

    tokens = token_rows(items, Tokens(), 2)
    first = [r for r in tokens if r["example"] == 1]
    assert {r["item"] for r in first} == {1}  # answer KL 3.0: changed most
    assert [r["token"] for r in first] == ["t1", "t5", "t6"]
    assert [r["position"] for r in first] == [None, "prompt", "answer"]
    assert first[2]["value"] == 3.0 and math.isnan(first[0]["value"])
    assert {r["item"] for r in tokens if r["example"] == 2} == {0}


# --- the lens ------------------------------------------------------------------------------------------------------

def test_gold_probability_and_rank_of_hand_made_logits():
    logits = torch.tensor([[2.0, 1.0, 0.0, 3.0], [0.0, 0.0, 5.0, 1.0]])
    prob, rank = gold_prob_rank(logits, torch.tensor([1, 2]))
    assert rank.tolist() == [3, 1]  # 1 = the top logit: 3.0 and 2.0 are above 1.0
    expected = math.exp(1.0) / sum(math.exp(v) for v in (2.0, 1.0, 0.0, 3.0))
    assert prob[0].item() == pytest.approx(expected)


def test_lens_rows_of_hand_made_outcomes():
    # two items, layers 0..2; per item and layer (mean prob, mean log rank, top-1 share)
    outcomes = np.array([[[0.01, math.log(100), 0.0], [0.2, math.log(4), 0.5], [0.9, 0.0, 1.0]],
                         [[0.03, math.log(25), 0.0], [0.4, math.log(1), 0.25], [0.7, math.log(2), 0.5]]])
    rows = lens_rows(outcomes, 100, 0)
    get = {(r["metric"], r["layer"]): r for r in rows}
    assert get[("answer_prob", 0)]["value"] == pytest.approx(0.02)
    assert get[("answer_rank", 0)]["value"] == pytest.approx(50.0)  # geometric mean of 100 and 25
    assert get[("answer_rank", 1)]["value"] == pytest.approx(2.0)  # of 4 and 1
    assert get[("answer_top1", 1)]["value"] == pytest.approx(0.375)
    assert get[("answer_rank", 2)]["depth"] == 1.0 and get[("answer_rank", 1)]["depth"] == 0.5
    decodable = get[("decodable_layer", None)]
    assert decodable["value"] == 2.0 and decodable["depth"] == 1.0  # top-1 0.375 at layer 1, 0.75 at layer 2
    assert decodable_layer(np.array([[0.1, 0.6, 0.4], [0.0, 0.2, 0.3]])).tolist()[0] == 1.0
    some = {(r["metric"], r["layer"]): r for r in lens_rows(outcomes[:, [0, 2]], 100, 0, [0, 30], 30)}
    assert some[("answer_rank", 30)]["value"] == pytest.approx(2 ** 0.5) and some[("answer_rank", 30)]["depth"] == 1
    assert some[("decodable_layer", None)]["value"] == 30.0  # the layer's number, not its place among those read
    assert math.isnan(decodable_layer(np.array([0.0, 0.2, 0.3])))
    assert (decodable["ci_low"], decodable["ci_high"]) == (1.0, 2.0)  # the second item twice: 0.5 at layer 1


def test_resamples_that_never_decode_the_answer_widen_the_interval_to_never():
    """8 items whose last layer (30) ranks the answer first for 4 of them: the whole sample reaches one half there,
    while a resample with fewer of those 4 reaches it at no layer read; it bounds the interval at never (inf),
    instead of being left out (which gave [30, 30])."""
    top1 = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float)
    outcomes = np.stack([np.stack([np.full(8, 0.1), np.full(8, 3.0), np.zeros(8)], -1),
                         np.stack([0.5 + 0.4 * top1, np.log(2 - top1), top1], -1)], axis=1)
    decodable = next(r for r in lens_rows(outcomes, 1000, 0, [0, 30], 30) if r["metric"] == "decodable_layer")
    assert decodable["value"] == 30.0
    assert decodable["ci_low"] == 30.0 and decodable["ci_high"] == math.inf
    never = np.concatenate([outcomes[:, :, :2], np.zeros((8, 2, 1))], axis=-1)  # no item decodable anywhere
    row = next(r for r in lens_rows(never, 100, 0, [0, 30], 30) if r["metric"] == "decodable_layer")
    assert math.isnan(row["value"]) and row["ci_low"] == row["ci_high"] == math.inf


def _prompt_batch(tokenizer):
    ids = tokenizer("The patient was treated with aspirin for chronic pain.")["input_ids"][:12]
    labels = [IGNORE] * 6 + ids[6:]
    return {"input_ids": torch.tensor([ids, ids[:9] + [tokenizer.pad_token_id] * 3]),
            "attention_mask": torch.tensor([[1] * 12, [1] * 9 + [0] * 3]),
            "labels": torch.tensor([labels, labels[:9] + [IGNORE] * 3])}


@pytest.mark.parametrize("family", ["gpt2", "biogpt", "llama", "mistral"])
def test_the_last_layer_of_the_lens_is_the_models_own_logits(family, tiny_model_dirs):
    loaded = load_model(str(tiny_model_dirs[family]), head="causal-lm", device="cpu")
    model = loaded.model
    inputs = _prompt_batch(loaded.tokenizer)
    reading = Reading("run", model, Readout.of(model), nothing)
    with torch.inference_mode():
        probs, ranks = layer_predictions(reading, inputs, 1)
        logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits.float()
    assert len(probs) == 3  # the embeddings and two blocks
    keep = inputs["labels"][:, 1:] != IGNORE
    rows, positions = torch.nonzero(keep, as_tuple=True)
    gold = inputs["labels"][:, 1:][rows, positions]
    own = logits[rows, positions]
    expected_prob = torch.softmax(own, -1).gather(-1, gold[:, None])[:, 0]
    expected_rank = 1 + (own > own.gather(-1, gold[:, None])).sum(-1)
    assert torch.equal(ranks[-1], expected_rank)
    torch.testing.assert_close(probs[-1], expected_prob, rtol=1e-6, atol=1e-9)
    assert not torch.allclose(probs[0], probs[-1])  # a lower layer reads something else


def _tiny_decoder(architecture: str):
    """A tiny random decoder of an architecture the registry does not build: OPT (its final norm in the body's
    `decoder`), Phi (`final_layernorm`), Gemma 2 (final logit soft-capping)."""
    import transformers

    common = {"vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2}
    torch.manual_seed(0)
    if architecture == "opt":
        config = transformers.OPTConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                        ffn_dim=32, word_embed_proj_dim=16, max_position_embeddings=64)
        return transformers.OPTForCausalLM(config).eval()
    if architecture == "phi":
        return transformers.PhiForCausalLM(transformers.PhiConfig(**common, intermediate_size=32)).eval()
    config = transformers.Gemma2Config(**common, intermediate_size=32, num_key_value_heads=1, head_dim=8,
                                       final_logit_softcapping=2.0)
    return transformers.Gemma2ForCausalLM(config).eval()


@pytest.mark.parametrize("architecture, norm", [("opt", "model.decoder.final_layer_norm"),
                                                ("phi", "model.final_layernorm"), ("gemma2", "model.norm")])
def test_every_layer_is_read_through_the_final_norm_and_the_last_is_the_models_logits(architecture, norm):
    model = _tiny_decoder(architecture)
    readout = Readout.of(model)
    assert readout.norm is model.get_submodule(norm)
    ids = torch.tensor([[5, 9, 3, 17, 2, 40]])
    with torch.inference_mode():
        hidden = readout.states({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
        logits = model(input_ids=ids).logits.float()
        torch.testing.assert_close(readout.logits(hidden[-1]), logits, rtol=1e-5, atol=1e-6)  # soft-capped too
        lower = model.lm_head(readout.norm(hidden[1])).float()
        if architecture == "gemma2":
            lower = torch.tanh(lower / 2.0) * 2.0
        torch.testing.assert_close(readout.logits(hidden[1]), lower)  # a lower layer through the same norm


def test_a_masked_lm_whose_head_this_reading_does_not_know_is_refused():
    """ModernBERT: a pre-norm encoder whose masked-LM head is a transform beside the decoder. Read as a BERT head,
    its last layer was 0.35 off its own logits; it is refused in one sentence."""
    import transformers

    from bioprobe.errors import BioprobeError

    torch.manual_seed(0)
    config = transformers.ModernBertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                           intermediate_size=32, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                                           cls_token_id=1, sep_token_id=2, global_attn_every_n_layers=1,
                                           max_position_embeddings=64)
    with pytest.raises(BioprobeError, match="differs from its own logits"):
        Readout.of(transformers.ModernBertForMaskedLM(config).eval())


def test_a_lora_base_is_read_with_its_adapter_off_in_the_norm_and_head_too(tiny_model_dirs):
    """The base of a LoRA run whose head is adapted too: its reading (adapter off) gives the base model's own
    logits and the KL against the run is that of the two models' logits, computed directly."""
    import copy

    from peft import LoraConfig, get_peft_model

    from bioprobe.diffing.divergence import batch_divergence

    loaded = load_model(str(tiny_model_dirs["llama"]), head="causal-lm", device="cpu")
    base = copy.deepcopy(loaded.model)
    torch.manual_seed(0)
    model = get_peft_model(loaded.model, LoraConfig(r=4, target_modules=["q_proj", "lm_head"], init_lora_weights=False))
    model.eval()
    run = Reading("run", model, Readout.of(model), nothing)
    reference = Reading("reference", model, Readout.of(model), model.disable_adapter)
    inputs = _prompt_batch(loaded.tokenizer)
    with torch.inference_mode():
        probs, _ = layer_predictions(reference, inputs, 1)
        own = base(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits.float()
        tuned = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits.float()
        kl, classes = batch_divergence([run, reference], inputs)
    keep = inputs["labels"][:, 1:] != IGNORE
    rows, positions = torch.nonzero(keep, as_tuple=True)
    gold = inputs["labels"][:, 1:][rows, positions]
    expected = torch.softmax(own[rows, positions], -1).gather(-1, gold[:, None])[:, 0]
    torch.testing.assert_close(probs[-1], expected, rtol=1e-5, atol=1e-7)
    real = inputs["attention_mask"][:, 1:] == 1
    direct = kl_divergence(torch.log_softmax(tuned[:, :-1][real], -1), torch.log_softmax(own[:, :-1][real], -1))
    np.testing.assert_allclose(kl[:, :-1][real.numpy()], direct.double().numpy(), rtol=1e-4, atol=1e-7)
    assert (direct > 1e-4).all()  # the adapter changes every prediction


def test_the_masked_lm_lens_of_an_encoder_ends_in_its_own_logits(tiny_model_dirs):
    loaded = load_masked_lm(str(tiny_model_dirs["bert"]), "cpu")
    tokenizer, model = loaded.tokenizer, loaded.model
    ids = tokenizer("Metformin lowers blood glucose in patients with type 2 diabetes.")["input_ids"]
    labels = [IGNORE] * len(ids)
    for i in (2, 5):
        labels[i], ids[i] = ids[i], tokenizer.mask_token_id
    inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
              "labels": torch.tensor([labels])}
    with torch.inference_mode():
        probs, ranks = layer_predictions(Reading("run", model, Readout.of(model), nothing), inputs, 0)
        own = model(input_ids=inputs["input_ids"]).logits[0, [2, 5]].float()
    gold = torch.tensor([labels[2], labels[5]])
    assert torch.equal(ranks[-1], 1 + (own > own.gather(-1, gold[:, None])).sum(-1))
    torch.testing.assert_close(probs[-1], torch.softmax(own, -1).gather(-1, gold[:, None])[:, 0], rtol=1e-6,
                               atol=1e-9)


# --- the commands ----------------------------------------------------------------------------------------------------

def test_divergence_end_to_end_and_a_model_against_itself_is_zero(tiny_model_dirs, instruct_runs, cued):
    runs = instruct_runs
    for family in ("gpt2", "llama"):  # a fully tuned run against its pretrained model; a LoRA run, adapter off
        model = str(tiny_model_dirs[family])
        result = ok("divergence", "--task", "nli", "--model_name", model, "--training_size", "30", "--runs-dir",
                    str(runs), "--limit", "6", "--examples", "2")
        assert "wrote" in result.output
        name = resolve_model(model).name
        table = pd.read_csv(runstore.results_path(runs, "divergence", "nli", name, 30, 42, "test",
                                                  objective="instruct"))
        mean = table[table["metric"] == "kl"].set_index("position")
        assert set(mean.index) == {"prompt", "answer"} and (mean["value"] > 0).all()
        items = table[(table["metric"] == "kl_item") & (table["position"] == "answer")]
        assert len(items) == 6 and mean.loc["answer", "value"] == pytest.approx(items["value"].mean())
        assert set(table["reference"].dropna()) == {"pretrained" if family == "gpt2" else "base (adapter off)"}
        top = table[(table["metric"] == "kl_token") & (table["example"] == 1)]
        item = int(top["item"].iloc[0])
        assert items.loc[items["item"] == item, "value"].item() == items["value"].max()
        answer = top[top["position"] == "answer"]["value"]
        assert answer.mean() == pytest.approx(items.loc[items["item"] == item, "value"].item())
        again = ok("divergence", "--task", "nli", "--model_name", model, "--training_size", "30", "--runs-dir",
                   str(runs), "--limit", "6", "--examples", "2")
        assert "reused" in again.output
    model = str(tiny_model_dirs["gpt2"])
    ok("divergence", "--task", "nli", "--model_name", model, "--training_size", "0", "--reference", model,
       "--data", str(cued["nli"]), "--runs-dir", str(runs), "--limit", "4")
    table = pd.read_csv(runstore.results_path(runs, "divergence", "nli", resolve_model(model).name, 0, 42,
                                              f"test-ref-{resolve_model(model).name}", objective="instruct"))
    assert (table.loc[table["metric"].isin(["kl", "kl_item"]), "value"] == 0).all()


def test_lens_end_to_end_for_a_tuned_decoder_and_an_encoder_with_its_mlm_head(tiny_model_dirs, instruct_runs, cued):
    runs = instruct_runs
    model = str(tiny_model_dirs["gpt2"])
    result = ok("lens", "--task", "nli", "--model_name", model, "--training_size", "30", "--runs-dir", str(runs),
                "--limit", "5", "--layers", "0,2")
    table = pd.read_csv(runstore.results_path(runs, "lens", "nli", resolve_model(model).name, 30, 42, "test",
                                              objective="instruct"))
    assert sorted(set(table["layer"].dropna())) == [0, 2]
    result = ok("lens", "--task", "nli", "--model_name", model, "--training_size", "30", "--runs-dir", str(runs),
                "--limit", "5")
    assert "run:" in result.output and "reference:" in result.output
    table = pd.read_csv(runstore.results_path(runs, "lens", "nli", resolve_model(model).name, 30, 42, "test",
                                              objective="instruct"))
    ranks = table[table["metric"] == "answer_rank"]
    assert sorted(ranks["layer"].unique()) == [0, 1, 2] and set(ranks["reading"]) == {"run", "reference"}
    assert (ranks["value"] >= 1).all() and (ranks["depth"] == ranks["layer"] / 2).all()
    probs = table[table["metric"] == "answer_prob"]
    assert ((probs["value"] > 0) & (probs["value"] < 1)).all()
    assert (table["read_at"] == "answer").all()
    bert = str(tiny_model_dirs["bert"])
    ok("lens", "--task", "ner", "--model_name", bert, "--training_size", "0", "--objective", "classifier",
       "--data", str(cued["ner"]), "--runs-dir", str(runs), "--limit", "8")
    table = pd.read_csv(runstore.results_path(runs, "lens", "ner", resolve_model(bert).name, 0, 42, "test"))
    assert set(table["reading"]) == {"run"} and (table["read_at"] == "masked").all()
    assert sorted(table.loc[table["metric"] == "answer_rank", "layer"]) == [0, 1, 2]


def test_a_conversation_run_is_read_on_a_tasks_test_prompts_against_its_base(tiny_model_dirs, cued, tmp_path):
    import json

    model = str(tiny_model_dirs["gpt2"])
    talk = tmp_path / "conversations.jsonl"
    talk.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"My fever and cough, day {i}?"},
        {"role": "assistant", "content": "Rest and drink fluids."}]}) + "\n" for i in range(40)))
    runs = tmp_path / "runs"
    ok("finetune", "--objective", "conversation", "--model_name", model, "--data", str(talk), "--training_size",
       "100", "--epochs", "4", "--lr", "5e-3", "--runs-dir", str(runs))
    common = ["--task", "nli", "--objective", "conversation", "--model_name", model, "--training_size", "100",
              "--data", str(cued["nli"]), "--runs-dir", str(runs), "--limit", "4"]
    ok("divergence", *common)
    name = resolve_model(model).name
    table = pd.read_csv(runstore.results_path(runs, "divergence", "nli", name, 100, 42, "test",
                                              objective="conversation"))
    kl = table[table["metric"] == "kl"].set_index("position")["value"]
    assert set(table["reference"]) == {"pretrained"} and set(table["objective"]) == {"conversation"}
    assert kl["answer"] > 0 and kl["prompt"] > 0  # tuned on other text, it predicts the NLI prompts differently
    ok("lens", *common, "--layers", "0,2")
    table = pd.read_csv(runstore.results_path(runs, "lens", "nli", name, 100, 42, "test", objective="conversation"))
    ranks = table[table["metric"] == "answer_rank"]
    assert set(ranks["reading"]) == {"run", "reference"} and sorted(ranks["layer"].unique()) == [0, 2]


@pytest.mark.parametrize("args, fragment", [
    (["divergence", "--objective", "classifier", "--training_size", "30"], "no language-model head"),
    (["lens", "--objective", "classifier", "--training_size", "30"], "no language-model head"),
    (["divergence", "--training_size", "0"], "Training size 0 is the model as released"),
    (["lens", "--training_size", "0", "--model_name", "org-that-is-not/here"], "org-that-is-not/here"),
])
def test_bad_input_is_one_sentence(args, fragment, tmp_path):
    assert_one_sentence(cli(*args, "--task", "ner", "--runs-dir", str(tmp_path)), fragment)


def test_an_encoder_without_a_masked_lm_head_and_an_encoder_divergence_are_one_sentence(tiny_model_dirs, cued,
                                                                                        tmp_path):
    assert_one_sentence(cli("lens", "--task", "ner", "--model_name", "minilm", "--training_size", "0", "--objective",
                            "classifier", "--data", str(cued["ner"]), "--runs-dir", str(tmp_path)),
                        "no masked-LM head", "minilm")
    bert = str(tiny_model_dirs["bert"])
    assert_one_sentence(cli("divergence", "--task", "ner", "--model_name", bert, "--training_size", "0",
                            "--reference", bert, "--data", str(cued["ner"]), "--runs-dir", str(tmp_path)),
                        "is an encoder")
    assert not (tmp_path / "results").exists()


def test_a_reference_with_another_tokenizer_is_one_sentence_and_loses_nothing(tiny_model_dirs, instruct_runs):
    runs, model = instruct_runs, str(tiny_model_dirs["llama"])
    ok("lens", "--task", "nli", "--model_name", model, "--training_size", "30", "--runs-dir", str(runs), "--limit",
       "3")
    written = sorted((runs / "results" / "lens").rglob("*"))
    stamps = {path: path.stat().st_mtime_ns for path in written}
    for command in ("divergence", "lens"):
        assert_one_sentence(cli(command, "--task", "nli", "--model_name", model, "--training_size", "30",
                                "--reference", str(tiny_model_dirs["mistral"]), "--runs-dir", str(runs),
                                "--overwrite"), "another tokenizer")
    assert sorted((runs / "results" / "lens").rglob("*")) == written
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in stamps.items())


# --- study cells -----------------------------------------------------------------------------------------------------

def test_plan_cells_read_runs_with_a_language_model_head(tmp_path, cued):
    from bioprobe.study import expand, load_plan

    plan = tmp_path / "plan.toml"
    plan.write_text("\n".join([
        'name = "diffing"', 'tasks = ["ner"]', 'models = ["minilm", "smollm2", "bert"]', "sizes = [0, 30]",
        "seeds = [42]", 'objectives = ["classifier", "instruct"]', 'analyses = ["finetune", "divergence", "lens"]',
        f'data = {{ ner = "{cued["ner"]}" }}', f'runs_dir = "{tmp_path / "runs"}"',
        "[settings.smollm2.instruct.divergence]", "limit = 4", "max_length = 384"]) + "\n")
    cells = [c for c in expand(load_plan(str(plan))) if c.stage in ("divergence", "lens")]
    found = sorted((c.stage, c.model, c.settings.objective, c.settings.training_size) for c in cells)
    # smollm2 instruct: the lens at 0 (released) and 30, the divergence at 30 only; minilm has no MLM head; bert (a
    # hub id here, not on disk) is an encoder whose lens at size 0 is tried and would say why if it fails
    assert found == [("divergence", "smollm2", "instruct", 30), ("lens", "bert", "classifier", 0),
                     ("lens", "smollm2", "instruct", 0), ("lens", "smollm2", "instruct", 30)]
    divergence = next(c for c in cells if c.stage == "divergence")
    assert divergence.settings.limit == 4 and divergence.settings.max_length == 384 and divergence.needs
