"""What instruction tuning changes inside: probing, CKA, attention, head importance and Integrated Gradients of
instruction-tuned runs, items inside their prompt (`--in-prompt`), and an explicit reference model, with known
answers (a model against itself gives CKA 1 and cosine 1; LoRA leaves layer 0 alone; a causal model's layer 0 does not
see the prompt around a word; finite-difference gate gradients; IG completeness)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from bioprobe import runstore
from bioprobe.cli import main
from test_cli import assert_one_sentence
from tiny_data import write_cued_instructions, write_cued_ner, write_cued_nli


def ok(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return {"ner": write_cued_ner(root / "ner"), "nli": write_cued_nli(root / "nli"),
            "instructions": write_cued_instructions(root / "instructions", "nli")}


@pytest.fixture(scope="module")
def tuned(tiny_model_dirs, data, tmp_path_factory):
    """A tiny Llama instruction-tuned with LoRA on NLI instructions built from the cued NLI data (size 50)."""
    runs = tmp_path_factory.mktemp("runs")
    model = str(tiny_model_dirs["llama"])
    ok("finetune", "--task", "nli", "--objective", "instruct", "--model_name", model, "--data", str(data["nli"]),
       "--training_size", "50", "--train-limit", "16", "--epochs", "2", "--lora", "--lr", "5e-3", "--test-limit", "2",
       "--max-new-tokens", "2", "--runs-dir", str(runs))
    return runs, model


def probing_table(runs, task, model, size, objective):
    return pd.concat([pd.read_csv(p) for p in (runs / "results" / "probing" / task / model).glob(
        f"{runstore.run_label(size, 42, objective)}-*.csv")])


def test_plan_in_prompt_puts_each_word_span_on_its_own_pieces(tiny_model_dirs):
    from bioprobe.align import encode_words
    from bioprobe.tasks import get_task
    from bioprobe.models import load_tokenizer
    from bioprobe.registry import resolve_model
    from bioprobe.finetune.prompts import MEDTUNED
    from bioprobe.probing.extract import plan_in_prompt

    tokenizer = load_tokenizer(resolve_model(str(tiny_model_dirs["llama"])))
    words = ["insulin", "lowers", "glucose"]
    plan = plan_in_prompt("ner", {"tokens": [words]}, [7], tokenizer, "first", 256, "medtuned", 42,
                          ("O", "B-Chemical", "I-Chemical"))
    (unit,) = plan.units
    instruction, entity = get_task("ner").analysis_instruction(7, 42, ("O", "B-Chemical", "I-Chemical"))
    assert entity == "Chemical" and "Chemical" in instruction
    head, tail = MEDTUNED.format(instruction=instruction, input="\ue000").split("\ue000")
    prefix = tokenizer(head)["input_ids"]  # with Llama's BOS
    pieces = encode_words(tokenizer, words, add_special_tokens=False)
    assert unit.sequences[0] == prefix + pieces.input_ids + tokenizer(tail, add_special_tokens=False)["input_ids"]
    assert [(a - len(prefix), b - len(prefix)) for a, b, _ in unit.targets[0]] == pieces.spans
    assert unit.items == [(0, 0), (0, 1), (0, 2)]


def test_a_causal_models_layer_0_does_not_see_the_prompt_around_a_word(tiny_model_dirs, data, tmp_path):
    """Llama's layer 0 is the token embeddings (positions enter inside attention): a word's first-piece vector is the
    same in a prompt and alone; every later layer reads the prompt before it."""
    from bioprobe.probing.activations import get_activations

    model = str(tiny_model_dirs["llama"])
    plain = get_activations(task="ner", model_name=model, training_size=0, split="test", data=str(data["ner"]),
                            runs_dir=tmp_path, limit=5)
    prompted = get_activations(task="ner", model_name=model, training_size=0, split="test", data=str(data["ner"]),
                               runs_dir=tmp_path, limit=5,
                               in_prompt=True, max_length=256)
    from bioprobe.probing.run import align

    assert prompted.meta["template"] == "medtuned" and prompted.folder != plain.folder
    mine, theirs = align(plain, prompted)  # the same words, each run in its own length order
    assert len(mine) == len(plain.word) == len(prompted.word)
    assert list(plain.text[mine]) == list(prompted.text[theirs])
    np.testing.assert_array_equal(plain.features[0][mine], prompted.features[0][theirs])
    assert not np.allclose(plain.features[2][mine], prompted.features[2][theirs], atol=1e-3)


def test_an_instruction_tuned_run_is_probed_and_lora_leaves_layer_0_alone(tuned, data):
    runs, model = tuned
    result = CliRunner().invoke(main, ["probe", "--task", "nli", "--objective", "instruct", "--model_name", model,
                                       "--training_size", "50", "--runs-dir", str(runs), "--limit", "40"])
    assert result.exit_code == 0, result.output  # built from NER / NLI data: the run's own data is used
    rows = probing_table(runs, "nli", "llama", 50, "instruct")
    cka = rows[rows["metric"] == "cka"].set_index("layer")["value"]
    assert cka[0] == pytest.approx(1.0, abs=1e-6)  # LoRA adapts attention only: the embeddings are untouched
    assert cka[2] < 1 - 1e-6 and set(rows["objective"]) == {"instruct"}
    assert (runs / "activations" / "nli" / "llama" / "size50-seed42-instruct").is_dir()


def test_a_model_against_itself_as_reference_gives_cka_and_cosine_1(tiny_model_dirs, data, tmp_path):
    model = str(tiny_model_dirs["gpt2"])
    twin = tmp_path / "twin"
    shutil.copytree(model, twin)
    ok("probe", "--task", "ner", "--model_name", model, "--training_size", "0", "--reference", str(twin),
       "--data", str(data["ner"]), "--runs-dir", str(tmp_path), "--limit", "30", "--no-mdl", "--no-control")
    rows = probing_table(tmp_path, "ner", "gpt2-local", 0, "classifier")
    cka = rows[rows["metric"] == "cka"]
    assert set(rows["reference"]) == {"twin"}
    assert np.allclose(cka["value"], 1.0, atol=1e-6) and len(cka) == 3
    ok("attention", "--task", "ner", "--model_name", model, "--training_size", "0", "--reference", str(twin),
       "--data", str(data["ner"]), "--runs-dir", str(tmp_path), "--limit", "6", "--metrics", "cosine,js")
    table = runstore.read_tables(tmp_path, "attention")
    assert np.allclose(table.loc[table["metric"] == "cosine", "value"], 1.0, atol=1e-6)
    assert np.allclose(table.loc[table["metric"] == "js", "value"], 0.0, atol=1e-6)


def test_instruction_tuned_attention_is_compared_with_the_base(tuned):
    runs, model = tuned
    ok("attention", "--task", "nli", "--objective", "instruct", "--model_name", model, "--training_size", "50",
       "--runs-dir", str(runs), "--limit", "6", "--in-prompt")
    table = runstore.read_tables(runs, "attention")
    part = table[(table["objective"] == "instruct") & (table["in_prompt"])]
    cosine = part[part["metric"] == "cosine"]["value"]
    assert len(cosine) == 2 * 2 and (cosine < 1 - 1e-6).any() and cosine.between(0, 1 + 1e-6).all()
    importance = part[part["metric"] == "importance_raw"]["value"]
    assert len(importance) == 4 and (importance > 0).all()


def test_instruct_head_importance_is_the_gradient_of_the_answer_loss(tiny_model_dirs):
    """d (answer loss) / d gate of one head against (loss(1 + e) - loss(1 - e)) / 2e, in float64."""
    import datasets

    from bioprobe.attention.importance import _answer_batches, head_gates, head_importance, instruction_examples
    from bioprobe.tasks import get_task
    from bioprobe.tasks.nli import prompt_input as nli_input
    from bioprobe.models import load_model
    from bioprobe.finetune.prompts import prompt_text

    loaded = load_model(str(tiny_model_dirs["gpt2"]), head="causal-lm")
    loaded.model.double()
    rows = datasets.Dataset.from_dict({"premise": ["the gene was treated"], "hypothesis": ["increased expression"],
                                       "label": ["entailment"]})
    settings = {"template": "medtuned", "seed": 42}
    examples = instruction_examples("nli", rows, "medtuned", loaded.tokenizer, 256, 42)
    (row,) = examples
    tokenizer = loaded.tokenizer
    plain = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompt = prompt_text(tokenizer, "medtuned", get_task("nli").analysis_instruction(0, 42)[0],
                         nli_input("the gene was treated", "increased expression"))
    answer = plain(prompt + "Entailment")[len(plain(prompt)):]  # the label word as it follows "### Output:\n"
    assert [label for label in row["labels"] if label != -100] == answer + [tokenizer.eos_token_id]
    inputs, gold = next(_answer_batches(examples, loaded.tokenizer.pad_token_id, 4096))

    def loss(gates):  # the answer-only causal-LM loss in float64 (transformers computes its loss in float32)
        with head_gates(loaded.model, gates), torch.no_grad():
            logits = loaded.model(**inputs).logits[0, :-1]
        target = gold[0, 1:]
        keep = target != -100
        return float(torch.nn.functional.cross_entropy(logits[keep], target[keep]))

    scores = head_importance("nli", loaded, rows, 256, 4096, instructions=settings)
    eps = 1e-5
    for layer, head in ((0, 0), (1, 1)):
        up, down = torch.ones(2, 2, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64)
        up[layer, head] += eps
        down[layer, head] -= eps
        assert scores["raw"][layer, head] == pytest.approx(abs(loss(up) - loss(down)) / (2 * eps), rel=1e-4)


def test_integrated_gradients_of_an_answer_inside_its_prompt(tiny_model_dirs):
    import datasets

    from bioprobe.attention.attribute import attribute_prompted, segment_share
    from bioprobe.models import load_model

    loaded = load_model(str(tiny_model_dirs["gpt2"]), head="causal-lm")
    rows = datasets.Dataset.from_dict({"premise": ["the gene was treated"], "hypothesis": ["increased"],
                                       "label": ["entailment"]})
    (item,) = attribute_prompted("nli", loaded, rows, "medtuned", 42, steps=300, progress=False)
    tokenizer = loaded.tokenizer
    premise = tokenizer("Premise: the gene was treated", add_special_tokens=False)["input_ids"]
    hypothesis = tokenizer("\nHypothesis: increased", add_special_tokens=False)["input_ids"]
    assert list(item.segments).count(0) == len(premise) and list(item.segments).count(1) == len(hypothesis)
    assert abs(item.delta) < 1e-3  # f(baseline) starts the path: the next-token logit at the same last position
    kept = [i for i, s in enumerate(item.segments) if s == -1]
    padded = [i for i, s in enumerate(item.segments) if s != -1]
    ids = tokenizer.convert_tokens_to_ids(item.tokens)
    assert all(item.baseline[i] == ids[i] for i in kept)
    assert all(item.baseline[i] == tokenizer.pad_token_id for i in padded)
    assert np.all(item.scores[kept] == 0)  # tokens equal in input and baseline get no attribution
    assert 0 <= segment_share(item) <= 1 and item.target in ("entailment", "neutral", "contradiction")


@pytest.mark.parametrize("task", ["nli", "ner"])
def test_integrated_gradients_in_chunks_of_steps_give_the_same_attributions(task, tiny_model_dirs):
    """A 7B model's 512-token prompt cannot take its 50 interpolation steps in one pass on a 24 GB card: steps are
    chunked by a token budget; the attributions and deltas are those of one pass, to 1e-5."""
    import datasets

    from bioprobe.attention.attribute import attribute_prompted, steps_per_pass
    from bioprobe.models import load_model

    LABELS = ("O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease")

    loaded = load_model(str(tiny_model_dirs["llama"]), head="causal-lm")
    rows = datasets.Dataset.from_dict(
        {"premise": ["the gene was treated with the drug"], "hypothesis": ["increased"], "label": ["entailment"]}
        if task == "nli" else {"tokens": [["insulin", "reduced", "the", "cancer"]],
                               "tags": [["B-Chemical", "O", "O", "B-Disease"]]})
    widths = []
    hook = loaded.model.get_input_embeddings().register_forward_hook(
        lambda module, args, output: widths.append(output.shape[0]))
    try:
        (whole,) = attribute_prompted(task, loaded, rows, "medtuned", 42, LABELS, steps=24,
                                      progress=False, batch_tokens=10 ** 6)
        one_pass = max(widths)
        widths.clear()
        tokens = len(whole.tokens)
        (chunked,) = attribute_prompted(task, loaded, rows, "medtuned", 42, LABELS, steps=24,
                                        progress=False, batch_tokens=5 * tokens)
    finally:
        hook.remove()
    assert one_pass == 24 and steps_per_pass(tokens, 5 * tokens) == 5 and max(widths) == 5  # 24 steps in 5 passes
    np.testing.assert_allclose(chunked.scores, whole.scores, atol=1e-5, rtol=1e-5)
    assert chunked.delta == pytest.approx(whole.delta, abs=1e-5) and chunked.target == whole.target
    assert whole.next_token  # what is explained is the answer token after the last one read, as the figure says


def test_instruct_attribution_through_the_cli(tuned):
    runs, model = tuned
    ok("attribute", "--task", "nli", "--objective", "instruct", "--model_name", model, "--training_size", "50",
       "--runs-dir", str(runs), "--examples", "1", "--limit", "2", "--steps", "16")
    table = runstore.read_tables(runs, "attribution")
    assert set(table["objective"]) == {"instruct"}
    assert table.loc[table["metric"] == "hypothesis_share", "value"].between(0, 1).all()
    assert (runs / "figures" / "attribution_nli_llama_size50-instruct.png").is_file()


def test_bad_instruct_analysis_requests(tiny_model_dirs, data, tmp_path):
    runs = tmp_path / "runs"
    model = str(tiny_model_dirs["gpt2"])
    ok("finetune", "--task", "nli", "--objective", "instruct", "--model_name", model, "--data",
       str(data["instructions"]), "--training_size", "10", "--epochs", "1", "--test-limit", "1",
       "--max-new-tokens", "1", "--runs-dir", str(runs))
    runner = CliRunner()
    no_data = runner.invoke(main, ["probe", "--task", "nli", "--objective", "instruct", "--model_name", model,
                                   "--training_size", "10", "--runs-dir", str(runs)])
    assert_one_sentence(no_data, "was tuned on instruction data", "pass --data")
    encoder = runner.invoke(main, ["probe", "--task", "nli", "--model_name", str(tiny_model_dirs["bert"]),
                                   "--training_size", "0", "--in-prompt", "--data", str(data["nli"]),
                                   "--runs-dir", str(runs)])
    assert_one_sentence(encoder, "--in-prompt", "encoder")
    missing = runner.invoke(main, ["attention", "--task", "nli", "--objective", "instruct", "--model_name", model,
                                   "--training_sizes", "30", "--runs-dir", str(runs)])
    assert_one_sentence(missing, "No finished instruct-tuned checkpoint", "--objective instruct")
    zero = runner.invoke(main, ["attention", "--task", "nli", "--model_name", model, "--training_size", "0",
                                "--runs-dir", str(runs)])
    assert_one_sentence(zero, "0 needs --reference")
    other = runner.invoke(main, ["attention", "--task", "ner", "--model_name", model, "--training_size", "0",
                                 "--reference", str(tiny_model_dirs["llama"]), "--data", str(data["ner"]),
                                 "--runs-dir", str(runs)])
    assert_one_sentence(other, "do not share a tokenizer")
