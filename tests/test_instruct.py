"""Instruction tuning: data, the answer-only label mask per tokenizer family, generation, parsing and scoring with
known answers, the CLI end to end on tiny models, and one clear sentence for every bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from bioprobe import runstore
from bioprobe.cli import main
from test_cli import assert_one_sentence
from tiny_data import write_cued_instructions


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    from bioprobe.models import convert_gguf, load_tokenizer
    from bioprobe.registry import resolve_model

    return load_tokenizer(convert_gguf(resolve_model("smollm2")))


@pytest.fixture(scope="module")
def cued(tmp_path_factory):
    root = tmp_path_factory.mktemp("instructions")
    return {task: write_cued_instructions(root / task, task) for task in ("ner", "nli")}


# --- instruction data ------------------------------------------------------------------------------------------


def test_ner_data_becomes_one_instruction_per_sentence_and_entity_type(tmp_path):
    from bioprobe.instructions import load_instructions
    from bioprobe.tasks.ner import INSTRUCTIONS as NER_INSTRUCTIONS

    folder = tmp_path / "ner"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        (folder / f"{split}.conll").write_text("Aspirin\tB-Chemical\nreduced\tO\nlung\tB-Disease\ncancer\tI-Disease\n"
                                               ".\tO\n\nThe\tO\ncells\tO\n")
    data = load_instructions("ner", str(folder), seed=3)
    assert data.built and data.labels == ("Chemical", "Disease")
    rows = data.splits["train"].to_list()
    assert [(r["item"], r["entity_type"]) for r in rows] == [(0, "Chemical"), (0, "Disease"), (1, "Chemical"),
                                                             (1, "Disease")]
    assert rows[0]["input"] == "Aspirin reduced lung cancer ."
    assert rows[0]["output"] == "Aspirin : B\nreduced : O\nlung : O\ncancer : O\n. : O"
    assert rows[1]["output"] == "Aspirin : O\nreduced : O\nlung : B\ncancer : I\n. : O"
    assert rows[2]["output"] == "The : O\ncells : O"
    for row in rows:
        assert row["instruction"] in {t.format(entity=row["entity_type"]) for t in NER_INSTRUCTIONS}
    assert load_instructions("ner", str(folder), seed=3).splits["train"]["instruction"][:] == \
        [r["instruction"] for r in rows]  # the same seed draws the same paraphrases


def test_paraphrases_vary_across_items_and_seeds():
    from bioprobe.instructions import load_instructions

    one = load_instructions("nli", "demo", seed=1).splits["train"]["instruction"][:200]
    two = load_instructions("nli", "demo", seed=2).splits["train"]["instruction"][:200]
    assert len(set(one)) == 5 and one != two


def test_nli_data_becomes_label_word_answers():
    from bioprobe.data import load_task_data
    from bioprobe.instructions import load_instructions

    pairs = load_task_data("nli", "demo").splits["test"]
    rows = load_instructions("nli", "demo").splits["test"].to_list()
    assert len(rows) == len(pairs)
    assert rows[0]["input"] == f"Premise: {pairs[0]['premise']}\nHypothesis: {pairs[0]['hypothesis']}"
    assert {r["output"] for r in rows} == {"Entailment", "Neutral", "Contradiction"}
    assert [r["output"].lower() for r in rows] == pairs["label"][:]


def test_task_rule_on_instruction_text():
    from bioprobe.instructions import task_of
    from bioprobe.tasks.ner import INSTRUCTIONS as NER_INSTRUCTIONS
    from bioprobe.tasks.nli import INSTRUCTIONS as NLI_INSTRUCTIONS

    assert all(task_of(text.format(entity="Disease")) == "ner" for text in NER_INSTRUCTIONS)
    assert all(task_of(text) == "nli" for text in NLI_INSTRUCTIONS)
    assert task_of("Identify the relation between the two entities marked in the text.") == "re"  # not NER
    assert task_of("Which hallmarks of cancer does this abstract describe?") == "cls"
    assert task_of("Tag gene entities with the BIO scheme.") == "ner"
    assert task_of("Summarise the discharge note.") is None
    assert task_of("Does sentence 1 entail sentence 2?") == "nli"


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_the_answer_shape_decides_the_task_before_a_column_or_the_instruction_text(tmp_path):
    from bioprobe.instructions import load_instructions, row_task

    def answer_task(text, output):
        return row_task({"instruction": "", "input": text, "output": output}, None)[0]

    assert answer_task("lung cancer", "lung : B\ncancer : I") == "ner"
    assert answer_task("chest x-ray", "chest : B-TEST\nx-ray : I-TEST") == "ner"        # typed labels (i2b2-2012)
    assert answer_task("lung cancer now", "lung : B\ncancer : I") is None              # not one line per word
    assert answer_task("Sentence 1: a\nSentence 2: b", "Entailment") == "nli"
    assert answer_task("Sentence 1: a\nSentence 2: b", "contradiction.") == "nli"
    assert answer_task("@GENE$ and @DISEASE$", "Positive") == "re"  # GAD's placeholders and a label word
    # the shape wins over a wording that says nothing of entities, and over a misleading column
    row = {"instruction": "Spot the mentions of diseases.", "input": "lung cancer", "output": "lung : B\ncancer : I",
           "source": "MedNLI"}
    assert row_task(row, "source") == ("ner", "answer")
    assert row_task({**row, "output": "bad"}, "source") == ("nli", "column")
    assert row_task({**row, "output": "bad"}, None) == (None, "none")

    ner = {"instruction": "Find disease named entities.", "input": "lung cancer", "output": "lung : B\ncancer : I"}
    nli = {"instruction": "Entailment or not?", "input": "a b", "output": "Neutral"}
    other = {"instruction": "Summarise.", "input": "long text", "output": "short"}
    for split in ("train", "test"):
        _write_jsonl(tmp_path / f"{split}.jsonl", [ner, nli, other, nli])
    data = load_instructions("nli", str(tmp_path))
    assert data.selection == {"rule": "answer shape, then instruction text (bioprobe.instructions.row_task)",
                              "total": 8, "found": {"ner": 2, "nli": 4, "re": 0, "cls": 0, "other": 2}, "kept": 4,
                              "decided_by": {"answer": 6, "none": 2}, "left_out": {}}
    assert len(data.splits["test"]) == 2 and set(data.splits["test"]["output"][:]) == {"Neutral"}


def test_every_ner_row_of_a_medtuned_shaped_set_is_kept_whatever_its_wording(tmp_path):
    """Two of the five wordings of a corpus never say "named entity": the instruction text alone dropped them (the
    published NCBI-disease rows: 3,841 of 6,347 kept). Decided by the answer's shape, every NER row is kept; a
    malformed NER row is left out with its reason, counted, listed and reported in one line."""
    from bioprobe.instructions import load_instructions, task_of
    from tiny_data import DISEASE_WORDINGS, write_medtuned_like

    assert sum(task_of(text) is None for text in DISEASE_WORDINGS) == 2
    bad = {"instruction": DISEASE_WORDINGS[0], "input": "lung cancer now", "output": "lung : B\ncancer : I"}
    counts = write_medtuned_like(tmp_path / "mixed", seed=3, extra=[bad])
    ner = load_instructions("ner", str(tmp_path / "mixed"))
    n_ner = counts["train"]["ner"] + counts["test"]["ner"]
    assert ner.selection["kept"] == n_ner == 40
    assert ner.selection["found"] == {"ner": 41, "nli": 20, "re": 20, "cls": 20, "other": 20}
    assert sum(len(split) for split in ner.splits.values()) == n_ner
    assert len(ner.splits["test"]) == counts["test"]["ner"]                          # n_test is the whole test set
    assert set(ner.splits["train"]["instruction"][:]) >= set(DISEASE_WORDINGS)       # every wording is trained on
    assert ner.selection["left_out"] == {"words_differ": 1}
    (entry,) = ner.left_out
    assert entry["reason"] == "words_differ" and "train.jsonl line" in entry["where"]
    nli = load_instructions("nli", str(tmp_path / "mixed"))
    assert nli.selection["kept"] == counts["train"]["nli"] + counts["test"]["nli"] == 20
    assert set(nli.splits["test"]["output"][:]) <= {"Entailment", "Neutral", "Contradiction"}


def test_the_command_says_how_many_rows_of_each_task_it_kept(tiny_model_dirs, tmp_path):
    from tiny_data import DISEASE_WORDINGS, write_medtuned_like

    bad = {"instruction": DISEASE_WORDINGS[0], "input": "a b", "output": "a : B"}
    write_medtuned_like(tmp_path / "mixed", per_corpus={"disease": 10, "nli": 5, "qa": 5}, extra=[bad])
    result = instruct("--task", "ner", "--model_name", str(tiny_model_dirs["gpt2"]), "--data",
                      str(tmp_path / "mixed"), "--runs-dir", str(tmp_path / "runs"), "--training_size", "0",
                      "--test-limit", "1", "--max-new-tokens", "2")
    line = result.stdout.splitlines()[-2]
    assert line.startswith("instructions: NER 10 kept of 11 found among 21 rows (not asked: NLI 5, other 5); 1 left "
                           "out: 1 output words differ from the input words (each listed in ")
    listed = (tmp_path / "runs/checkpoints/ner/gpt2-local/size0-seed42-instruct/left_out.jsonl").read_text()
    assert json.loads(listed)["detail"].startswith("the output has 1 word lines but the input has 2 words")


def test_one_instruction_file_is_cut_80_10_10(tmp_path):
    from bioprobe.instructions import load_instructions

    _write_jsonl(tmp_path / "all.jsonl", [{"instruction": "Entailment?", "input": f"p {i}", "output": "Neutral"}
                                          for i in range(100)])
    data = load_instructions("nli", str(tmp_path / "all.jsonl"))
    assert {name: len(split) for name, split in data.splits.items()} == {"train": 81, "validation": 9, "test": 10}
    inputs = [x for split in data.splits.values() for x in split["input"][:]]
    assert sorted(inputs) == sorted(f"p {i}" for i in range(100))


@pytest.mark.parametrize("rows, fragments", [
    ([{"instruction": "x", "answer": "y"}], ["lacks the column(s) input, output", "found instruction, answer"]),
    ([{"instruction": "Entailment?", "input": "a", "output": " "}], ["line 1", "the output is empty"]),
    ([{"instruction": "Tag disease named entities.", "input": "lung cancer now", "output": "lung : B\ncancer : I"}],
     ["2 word lines but the input has 3 words"]),
    ([{"instruction": "Tag disease named entities.", "input": "lung cancer", "output": "lung : B\ncancer - I"}],
     ["output line 2 is not 'word : B|I|O'"]),
])
def test_malformed_instruction_data_is_one_sentence(tmp_path, rows, fragments):
    for split in ("train", "test"):
        _write_jsonl(tmp_path / f"{split}.jsonl", rows)
    task = "ner" if "Tag" in rows[0]["instruction"] else "nli"
    result = CliRunner().invoke(main, ["finetune", "--task", task, "--objective", "instruct", "--data",
                                       str(tmp_path), "--model_name", "gpt2", "--runs-dir", str(tmp_path / "r")])
    assert_one_sentence(result, *fragments)


def test_the_hub_instruction_set_fails_clearly_offline(tmp_path):
    result = CliRunner().invoke(main, ["finetune", "--task", "ner", "--objective", "instruct", "--data",
                                       "nlpie/Llama2-MedTuned-Instructions", "--model_name", "smollm2",
                                       "--runs-dir", str(tmp_path)])
    assert_one_sentence(result, "nlpie/Llama2-MedTuned-Instructions", "--data")


# --- the label mask ----------------------------------------------------------------------------------------------


def _tokenizer(family, tiny_model_dirs):
    from bioprobe.models import load_tokenizer
    from bioprobe.registry import resolve_model

    return load_tokenizer(resolve_model(str(tiny_model_dirs[family])))


@pytest.mark.parametrize("family", ["gpt2", "llama", "smollm2"])
def test_loss_falls_on_the_answer_and_eos_only_even_where_tokens_would_merge(family, tiny_model_dirs,
                                                                             smollm2_tokenizer):
    from bioprobe.finetune.prompts import encode_pair

    tokenizer = smollm2_tokenizer if family == "smollm2" else _tokenizer(family, tiny_model_dirs)
    prompt, answer = "The pro", "tein : B"
    words = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert words(prompt + answer) != words(prompt) + words(answer)  # "pro" + "tein" merge when tokenised together
    row = encode_pair(tokenizer, tokenizer(prompt)["input_ids"], answer, max_length=64)
    eos = tokenizer.eos_token_id
    prefix = tokenizer(prompt)["input_ids"]  # with the family's own BOS (Llama), none for byte-level BPE
    assert row["input_ids"] == prefix + words(answer) + [eos]
    assert row["labels"] == [-100] * len(prefix) + words(answer) + [eos]
    assert row["length"] == len(row["input_ids"]) and encode_pair(tokenizer, prefix, answer, max_length=4) is None


@pytest.mark.parametrize("family", ["gpt2", "biogpt", "llama", "smollm2"])
def test_a_training_example_masks_the_whole_prompt_and_tokenises_the_answer_as_it_follows_it(family,
                                                                                           tiny_model_dirs,
                                                                                           smollm2_tokenizer):
    from bioprobe.finetune.prompts import MEDTUNED, Example, encode_example

    tokenizer = smollm2_tokenizer if family == "smollm2" else _tokenizer(family, tiny_model_dirs)
    example = Example("Tag Chemical named entities.", "aspirin works", "aspirin : B\nworks : O")
    row = encode_example(tokenizer, "medtuned", example, max_length=128)
    text = MEDTUNED.format(instruction=example.instruction, input=example.input)
    prompt = tokenizer(text)["input_ids"]
    plain = lambda t: tokenizer(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    joint = plain(text + example.output)
    answer = joint[len(plain(text)):] + [tokenizer.eos_token_id]  # the answer's tokens after "### Output:\n"
    assert joint[:len(plain(text))] == plain(text)                   # a clean boundary
    assert row["input_ids"] == prompt + answer
    assert row["labels"] == [-100] * len(prompt) + answer
    if family in ("gpt2", "llama"):  # alone, the first word would carry a leading-space marker it never has here
        assert plain(example.output)[0] != answer[0]


def test_chat_template_prompt_and_mask(smollm2_tokenizer):
    from bioprobe.finetune.prompts import Example, encode_example

    tokenizer = smollm2_tokenizer
    row = encode_example(tokenizer, "chat", Example("Which label?", "a b", "Neutral"), max_length=256)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Which label?\n\na b"}], tokenize=False,
                                         add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    answer = tokenizer("Neutral", add_special_tokens=False)["input_ids"] + [tokenizer.convert_tokens_to_ids(
        "<|im_end|>")]
    assert row["input_ids"] == prompt + answer and row["labels"] == [-100] * len(prompt) + answer


def test_padding_keeps_eos_trained_when_pad_is_eos():
    from bioprobe.finetune.prompts import collate

    eos = pad = 7
    batch = collate([{"input_ids": [1, 2, 3, eos], "labels": [-100, -100, 3, eos]},
                     {"input_ids": [4, eos], "labels": [-100, eos]}], pad)
    assert batch["input_ids"].tolist() == [[1, 2, 3, eos], [4, eos, pad, pad]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, -100, 3, eos], [-100, eos, -100, -100]]


def test_answer_logits_are_kept_where_a_labelled_token_is_predicted():
    from bioprobe.finetune.prompts import collate

    eos = pad = 7
    batch = collate([{"input_ids": [1, 2, 3, 5, eos], "labels": [-100, -100, -100, 5, eos]},
                     {"input_ids": [4, 6, eos], "labels": [-100, 6, eos]}], pad, answer_logits=True)
    # position j's logits predict token j + 1: rows want 2, 3 (row 0) and 0, 1 (row 1)
    assert batch["logits_to_keep"].tolist() == [0, 1, 2, 3]
    assert batch["shift_labels"].tolist() == [[-100, -100, 5, eos], [6, eos, -100, -100]]


@pytest.mark.parametrize("family", ["gpt2", "biogpt", "llama", "mistral"])
def test_the_loss_on_answer_logits_only_equals_the_full_loss_with_its_gradients(family, tiny_model_dirs):
    import torch

    from bioprobe.models import load_model
    from bioprobe.finetune.prompts import Example, collate, encode_example, keeps_logits

    loaded = load_model(str(tiny_model_dirs[family]), head="causal-lm")
    model, tokenizer = loaded.model, loaded.tokenizer
    assert keeps_logits(model)
    rows = [encode_example(tokenizer, "medtuned", Example("Label the sentence.", text, answer), 512)
            for text, answer in (("the protein was treated with the drug in the cells", "Neutral"),
                                 ("the gene", "the : O\ngene : B"))]
    results = []
    for answer_logits in (False, True):
        model.zero_grad()
        batch = collate(rows, tokenizer.pad_token_id, answer_logits)
        out = model(**batch, num_items_in_batch=torch.tensor(sum(len(r["labels"]) - r["labels"].count(-100)
                                                                for r in rows)))
        out.loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        results.append((float(out.loss.detach()), grads, out.logits.shape[1]))
    (full, full_grads, full_width), (kept, kept_grads, kept_width) = results
    assert kept == pytest.approx(full, rel=1e-5)
    assert torch.allclose(kept_grads, full_grads, rtol=1e-4, atol=1e-6)
    assert kept_width < full_width / 2                      # the prompt's positions are gone


# --- parsing and scoring -------------------------------------------------------------------------------------------


WORDS = ["Aspirin", "reduced", "fever", "and", "fever", "."]
GOLD = ["B", "O", "O", "O", "O", "O"]


def test_ner_answers_are_read_by_position():
    from bioprobe.tasks.ner import parse as parse_ner

    right = parse_ner("Aspirin : B\nreduced : O\nfever : O\nand : O\nfever : O\n. : O", WORDS)
    assert right.ok and right.labels == GOLD
    # a repeated word keeps its own position; a word with a colon splits on the last " : "
    assert parse_ner("1:2 : O\nratio : B", ["1:2", "ratio"]).labels == ["O", "B"]
    short = parse_ner("Aspirin : B\nreduced : O", WORDS)
    assert short.failures["missing_lines"] == 4 and short.labels == GOLD and not short.ok
    long = parse_ner("Aspirin : B\nreduced : O\nfever : O\nand : O\nfever : O\n. : O\nextra : O", WORDS)
    assert long.failures["extra_lines"] == 1
    wrong = parse_ner("Aspirin : B\nreduced : O\nfeve : O\nand : X\nfever\n. : O", WORDS, stopped=False)
    assert wrong.failures == {"empty": 0, "missing_lines": 0, "extra_lines": 0, "word_mismatch": 1,
                              "unknown_label": 2, "several_labels": 0, "no_stop": 1}
    assert parse_ner("", WORDS).failures["empty"] == 1


def test_ner_scores_count_every_item_and_an_unparsed_answer_as_wrong():
    from bioprobe.tasks.ner import answer_scores as ner_scores
    from bioprobe.tasks.ner import parse as parse_ner

    gold = [["B", "O", "O"], ["O", "B", "I"], ["B", "O"]]
    words = [["aspirin", "helps", "."], ["the", "lung", "cancer"], ["tumor", "grew"]]
    answers = ["aspirin : B\nhelps : B\n. : O",     # one right entity, one spurious
               "the : O\nlung : B\ncancer : I",     # right
               "tumor : B"]                         # right label but a missing line: a failure
    parsed = [parse_ner(a, w) for a, w in zip(answers, words)]
    scores = ner_scores(gold, parsed, ["Chemical", "Disease", "Disease"])
    # gold 3 entities (Chemical 1, Disease 2); predicted: aspirin, helps, lung cancer, and the failure's 2 words
    # (its gold entity missed, one false positive per word); right 2
    assert scores["precision"] == pytest.approx(2 / 5) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.4 * (2 / 3) / (0.4 + 2 / 3))
    assert scores["f1/Chemical"] == pytest.approx(2 / 3) and scores["f1/Disease"] == pytest.approx(0.4)
    assert scores["f1_lenient"] == pytest.approx(3 / 3.5)  # P 3/4, R 3/3: the missing line's item now counts
    assert scores["f1_aligned"] == pytest.approx(3 / 3.5)  # its one line aligns to "tumor"
    assert scores["parse_rate"] == pytest.approx(2 / 3) and scores["failures/missing_lines"] == 1


def test_a_malformed_answer_never_scores_better_than_any_well_formed_one():
    """All-O used to stand in for a failed answer: perfect wherever the gold has no entity. For every item, gold
    with and without entities, every malformed answer scores at most as well as the worst well-formed answer."""
    import itertools

    from bioprobe.tasks.ner import answer_scores as ner_scores
    from bioprobe.tasks.ner import parse as parse_ner

    words = ["the", "tumor", "cell", "grew"]
    others = ([["B", "O", "O", "O"]], [parse_ner("a : B\nb : O\nc : O\nd : O", ["a", "b", "c", "d"])])
    malformed = ["", "the : O\ntumor : O", "the : O\ntumor : X\ncell : O\ngrew : O", "nothing to say",
                 "the : O\ntumor : O\ncell : O\ngrew : O\nextra : O"]
    for gold in (["O", "O", "O", "O"], ["O", "B", "I", "O"], ["B", "O", "B", "O"]):
        well_formed = [list(labels) for labels in itertools.product("BIO", repeat=len(words))]
        scores = {}
        for labels in well_formed:
            answer = "\n".join(f"{w} : {label}" for w, label in zip(words, labels))
            result = ner_scores(others[0] + [gold], others[1] + [parse_ner(answer, words)], ["Disease"] * 2)
            scores[tuple(labels)] = result
        worst = {metric: min(s[metric] for s in scores.values()) for metric in ("f1", "precision", "recall")}
        for answer in malformed:
            parsed = parse_ner(answer, words)
            assert not parsed.ok
            result = ner_scores(others[0] + [gold], others[1] + [parsed], ["Disease"] * 2)
            for metric, value in worst.items():
                assert result[metric] <= value + 1e-12, (gold, answer, metric)
        # the failure ties with the worst well-formed answer: every word a spurious entity, the gold ones missed
        if gold == ["O", "O", "O", "O"]:
            assert worst["f1"] == pytest.approx(ner_scores(others[0] + [gold], others[1] + [parse_ner("", words)],
                                                           ["Disease"] * 2)["f1"])


def test_entity_scores_equal_seqeval_on_well_formed_answers():
    import random

    from bioprobe.tasks.ner import entity_scores
    from bioprobe.tasks.ner import tag_metrics as ner_metrics

    rng = random.Random(0)
    tags = ["O", "B-Disease", "I-Disease", "B-Chemical", "I-Chemical"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(200)]
    predicted = [[rng.choice(tags) for _ in sentence] for sentence in gold]
    ours = entity_scores(gold, predicted, ["Disease"] * len(gold))
    theirs = ner_metrics(gold, predicted)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key


def test_the_aligned_score_reads_lines_by_their_words_so_one_skipped_word_costs_one_label():
    from bioprobe.tasks.ner import align_lines
    from bioprobe.tasks.ner import answer_scores as ner_scores
    from bioprobe.tasks.ner import parse as parse_ner

    assert align_lines(["a", "c", "d"], ["a", "b", "c", "d"]) == [0, None, 1, 2]
    assert align_lines(["a", "x", "b"], ["a", "b"]) == [0, 2]
    assert align_lines(["IL - 6"], ["IL-6"]) == [0]  # whitespace aside
    words = ["Aspirin", "and", "lung", "cancer", "drugs"]
    gold = ["O", "O", "B", "I", "O"]
    skipped = parse_ner("Aspirin : O\nlung : B\ncancer : I\ndrugs : O", words)  # "and" skipped
    assert not skipped.ok and skipped.labels == ["O", "B", "I", "O", "O"]  # by position every later line shifts
    assert skipped.aligned == gold
    scores = ner_scores([gold], [skipped], ["Disease"])
    assert scores["f1"] == 0 and scores["f1_lenient"] == 0 and scores["f1_aligned"] == 1.0


@pytest.fixture(scope="module")
def ner_gold_rows(tmp_path_factory):
    """NER instructions shaped like the public corpora (MedTuned-like disease and typed i2b2 rows: IL-6, 's,
    brackets, 2R,4R-APDC) and the demo's."""
    from bioprobe.instructions import load_instructions
    from tiny_data import write_medtuned_like

    folder = tmp_path_factory.mktemp("medtuned")
    write_medtuned_like(folder, seed=1)
    return (load_instructions("ner", str(folder)).splits["test"].to_list() +
            load_instructions("ner", "demo").splits["test"].select(range(40)).to_list())


@pytest.mark.parametrize("family", ["gpt2", "biogpt", "llama", "mistral", "smollm2"])
def test_every_family_s_tokenisation_of_the_gold_answer_parses_to_f1_one(family, tiny_model_dirs,
                                                                         smollm2_tokenizer, ner_gold_rows):
    """Gold in, F1 1.0 out: each gold answer, tokenised as a tuned model learns it and followed by the next `###`
    section as a released model goes on, is cut by the stop rule and parsed. BioGPT's tokenizer drops newlines and its
    detokeniser re-spaces "IL-6 : B" to "IL-6: B" and writes "###" as "# # #": decoded as before, no answer parsed
    and none stopped."""
    from bioprobe.finetune.decode import stop_rule, writes_newlines
    from bioprobe.finetune.generate import cut_answer
    from bioprobe.finetune.prompts import answer_ids, prompt_text
    from bioprobe.tasks import get_task
    from bioprobe.tasks.ner import answer_scores as ner_scores
    from bioprobe.tasks.ner import parse as parse_ner

    tokenizer = smollm2_tokenizer if family == "smollm2" else _tokenizer(family, tiny_model_dirs)
    assert writes_newlines(tokenizer) == (family != "biogpt")
    stop = stop_rule(tokenizer, "medtuned")
    section = tokenizer("\n\n### Instruction:\nTag the", add_special_tokens=False)["input_ids"]
    golds, parsed, types = [], [], []
    for row in ner_gold_rows:
        ids = answer_ids(tokenizer, row["output"], prompt_text(tokenizer, "medtuned", row["instruction"], row["input"]))
        for new in (ids, ids[:-1] + section):  # stopped by EOS, or by the next section
            answer = cut_answer(new, tokenizer, len(new), stop)
            assert answer.stopped and answer.tokens >= len(ids) - 1 and (answer.tokens == len(ids) - 1) == (new is ids)
            words, labels = get_task("ner").gold(row["output"])
            parsed.append(parse_ner(answer.raw, words, answer.stopped, flat=not writes_newlines(tokenizer)))
            golds.append(labels)
            types.append(row["entity_type"])
    scores = ner_scores(golds, parsed, types)
    assert scores["parse_rate"] == 1.0 and scores["f1"] == 1.0 and scores["f1_aligned"] == 1.0


def test_the_stop_rule_belongs_to_the_prompt_format(smollm2_tokenizer):
    from bioprobe.finetune.decode import stop_rule
    from bioprobe.finetune.generate import cut_answer

    tokenizer = smollm2_tokenizer
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    chat, medtuned = stop_rule(tokenizer, "chat"), stop_rule(tokenizer, "medtuned")
    assert chat.texts == () and im_end in chat.ids and medtuned.texts == ("###",)
    summary = "### Summary\nThe patient was treated for asthma."
    ids = tokenizer(summary, add_special_tokens=False)["input_ids"] + [im_end]
    kept = cut_answer(ids, tokenizer, 64, chat)  # a Markdown heading in a chat answer is part of it
    assert kept.text == summary and kept.stopped and kept.tokens == len(ids) - 1
    cut = cut_answer(ids, tokenizer, 64, medtuned)  # in the MedTuned format "###" opens the next section
    assert cut.text == "" and cut.stopped


def test_nli_answers_are_normalised_label_words():
    from bioprobe.tasks.nli import TASK as nli
    from bioprobe.tasks.nli import parse as parse_nli

    def nli_scores(gold, parsed):
        return nli.score_answers([], gold, parsed)

    cases = {"Entailment": "entailment", "answer: NEUTRAL.": "neutral",
             "The relation is contradiction": "contradiction", "Entails": "entailment", "maybe": "", "": "",
             "Neutral: the premise neither entails nor contradicts it.": "neutral"}
    parsed = {text: parse_nli(text) for text in cases}
    assert {text: p.labels[0] for text, p in parsed.items()} == cases
    assert parsed["maybe"].failures["unknown_label"] == 1 and parsed[""].failures["empty"] == 1
    assert parsed["Neutral: the premise neither entails nor contradicts it."].ok  # verbs, not label names
    assert not parse_nli("Neutral", stopped=False).ok
    gold = ["entailment", "neutral", "contradiction", "entailment"]
    scores = nli_scores(gold, [parse_nli(t) for t in ("Entailment", "neutral", "no idea", "Contradiction")])
    assert scores["accuracy"] == 0.5 and scores["parse_rate"] == 0.75 and scores["failures/unknown_label"] == 1


@pytest.mark.parametrize("answer", ["Entailment or Contradiction", "entailment? ... maybe neutral",
                                    "Contradiction, not entailment"])
def test_an_nli_answer_naming_two_labels_is_a_failure_of_its_own_kind(answer):
    from bioprobe.tasks.nli import TASK as nli
    from bioprobe.tasks.nli import parse as parse_nli

    def nli_scores(gold, parsed):
        return nli.score_answers([], gold, parsed)

    parsed = parse_nli(answer)
    assert not parsed.ok and parsed.failures["several_labels"] == 1 and parsed.failures["unknown_label"] == 0
    scores = nli_scores([parsed.labels[0]], [parsed])  # even where the first label is the gold one: wrong
    assert scores["accuracy"] == 0 and scores["failures/several_labels"] == 1


def test_loglik_ranking_scores():
    import numpy as np

    from bioprobe.tasks.base import loglik_scores

    logliks = np.array([[-1.0, -2.0, -3.0], [-5.0, -1.0, -2.0], [-1.0, -0.5, -9.0]])
    labels = ("entailment", "neutral", "contradiction")
    scores = loglik_scores(list(labels), [dict(zip(labels, row)) for row in logliks])
    assert scores["loglik_accuracy"] == pytest.approx(2 / 3)


# --- generation --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_batched_left_padded_greedy_equals_one_at_a_time(family, tiny_model_dirs):
    from bioprobe.models import load_model
    from bioprobe.finetune.decode import stop_rule
    from bioprobe.finetune.generate import generate

    loaded = load_model(str(tiny_model_dirs[family]), head="causal-lm")
    tokenizer = loaded.tokenizer
    prompts = [tokenizer(text)["input_ids"] for text in ("the gene", "the protein was treated with the drug",
                                                         "cells", "expression of the kinase in the cell")]
    caps = [6, 9, 4, 7]
    stop = stop_rule(tokenizer, "medtuned")
    batched = generate(loaded.model, tokenizer, prompts, caps, stop, batch_size=4, progress=False)
    alone = [generate(loaded.model, tokenizer, [p], [c], stop, batch_size=1, progress=False)[0]
             for p, c in zip(prompts, caps)]
    assert batched == alone
    assert all(g.tokens <= c for g, c in zip(batched, caps))
    assert any(not g.stopped for g in batched)  # an untrained model runs into its cap: counted, not fatal


@pytest.mark.parametrize("family", ["gpt2", "biogpt", "llama", "mistral"])
def test_generation_gives_the_answers_of_transformers_greedy_generate(family, tiny_model_dirs):
    """Our decoding loop (rows leave the batch and its cache when done) against `model.generate`, one prompt at a
    time, greedy, the same caps: the same tokens, cut at EOS."""
    import torch
    from transformers import GenerationConfig

    from bioprobe.models import load_model
    from bioprobe.finetune.decode import StopRule
    from bioprobe.finetune.generate import generate

    loaded = load_model(str(tiny_model_dirs[family]), head="causal-lm")
    model, tokenizer = loaded.model, loaded.tokenizer
    texts = ("the gene", "the protein was treated with the drug", "cells", "expression of the kinase in the cell",
             "the drug")
    prompts = [tokenizer(text)["input_ids"] for text in texts]
    caps = [6, 12, 3, 9, 1]
    ours = generate(model, tokenizer, prompts, caps, StopRule(ids=frozenset({tokenizer.eos_token_id})),
                    batch_size=3, progress=False)
    for prompt, cap, got in zip(prompts, caps, ours):
        config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=cap,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        with torch.inference_mode():
            new = model.generate(input_ids=torch.tensor([prompt]), generation_config=config)[0, len(prompt):].tolist()
        end = new.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in new else len(new)
        assert got.tokens == end
        assert got.text == tokenizer.decode(new[:end], skip_special_tokens=True).rstrip()
        assert got.stopped == (end < len(new))


@pytest.mark.parametrize("family", ["gpt2", "biogpt", "llama"])
def test_answer_logliks_equal_a_hand_computed_sum(family, tiny_model_dirs):
    """Prompts read once and their cache shared by the answers: each score equals the sum of the answer tokens'
    log-probabilities from one unpadded forward pass over prompt + answer (answers of 1, 2 and 3 tokens, prompts of
    different lengths in batches of 2)."""
    import torch

    from bioprobe.models import load_model
    from bioprobe.finetune.generate import answer_logliks

    loaded = load_model(str(tiny_model_dirs[family]), head="causal-lm")
    tokenizer = loaded.tokenizer
    prompts = [tokenizer(text)["input_ids"] for text in ("the gene", "the protein was", "expression of the kinase")]
    answers = [tokenizer(text, add_special_tokens=False)["input_ids"][:k]
               for k, text in ((1, " treated"), (2, " cell and"), (3, " the drug was"))]
    assert [len(answer) for answer in answers] == [1, 2, 3]
    scores = answer_logliks(loaded.model, prompts, answers, tokenizer.pad_token_id, batch_size=2)
    for p, prompt in enumerate(prompts):
        for a, answer in enumerate(answers):
            with torch.inference_mode():
                logp = torch.log_softmax(loaded.model(torch.tensor([prompt + answer])).logits[0], -1)
            expected = sum(float(logp[len(prompt) - 1 + k, token]) for k, token in enumerate(answer))
            assert scores[p, a] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("family", ["gpt2", "biogpt", "llama", "smollm2"])
def test_label_logliks_score_the_label_word_as_it_follows_the_prompt(family, tiny_model_dirs):
    """A released model reads "### Output:\nEntailment", never the word alone with its leading-space marker
    (SentencePiece "▁Entailment", byte-level BPE with add_prefix_space "ĠEntailment"): each score equals the sum of
    log-probabilities of the label word's tokens from one forward pass over prompt and word tokenised together."""
    import torch

    from bioprobe.tasks.nli import WORDS as NLI_WORDS
    from bioprobe.models import convert_gguf, load_model
    from bioprobe.registry import resolve_model
    from bioprobe.finetune.instruct import label_logliks
    from bioprobe.finetune.prompts import prompt_ids, prompt_text

    source = convert_gguf(resolve_model("smollm2")) if family == "smollm2" else str(tiny_model_dirs[family])
    loaded = load_model(source, head="causal-lm")
    model, tokenizer = loaded.model, loaded.tokenizer
    texts = [prompt_text(tokenizer, "medtuned", "Entailment, Neutral or Contradiction?", text)
             for text in ("Premise: the gene\nHypothesis: the drug", "Premise: cells\nHypothesis: the protein was")]
    ids = [prompt_ids(tokenizer, "medtuned", text) for text in texts]
    scores = label_logliks(model, tokenizer, texts, ids, NLI_WORDS)
    plain = lambda t: tokenizer(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    moved = 0
    for p, (text, prompt) in enumerate(zip(texts, ids)):
        for a, word in enumerate(NLI_WORDS.values()):
            joint = plain(text + word)
            assert joint[:len(plain(text))] == plain(text)  # a clean boundary
            answer = joint[len(plain(text)):]
            moved += answer != plain(word)
            with torch.inference_mode():
                logp = torch.log_softmax(model(torch.tensor([prompt + answer])).logits[0].float(), -1)
            expected = sum(float(logp[len(prompt) - 1 + k, token]) for k, token in enumerate(answer))
            assert scores[p, a] == pytest.approx(expected, abs=1e-4)
    if family in ("gpt2", "llama"):  # tokenised alone, the word would have been scored on another sequence
        assert moved == 6


def test_shared_prefixes_are_read_on_the_token_ids_and_chosen_where_they_save_most():
    from bioprobe.finetune.generate import shared_prefixes

    a, b = [1, 2, 3, 4, 5, 6, 7, 1], [1, 2, 3, 4, 5, 6, 7, 2, 9]
    c, d = [1, 2, 9, 9, 9], [1, 2, 9, 9, 8]
    # two runs of 7 and 4 common tokens save 7 + 4; one run of all four shares only 2 tokens (saves 3 x 2)
    assert shared_prefixes([a, c, b, d], min_saved=1) == [7, 4, 7, 4]
    assert shared_prefixes([a, c, b, d], min_saved=5) == [7, 0, 7, 0]      # the 4-token run saves too little
    assert shared_prefixes([a, c, b, d], min_saved=8) == [0, 0, 0, 0]
    assert shared_prefixes([a, b, [1, 2, 3, 4, 5, 9]], min_saved=1) == [5, 5, 5]  # the run's shortest common prefix
    # a prompt that is another's prefix (or equal to it) keeps its last token to read after the prefix
    assert shared_prefixes([[5, 6, 7], [5, 6, 7, 8], [5, 6, 7]], min_saved=1) == [2, 2, 2]
    assert shared_prefixes([[5, 6, 7]], min_saved=0) == [0] and shared_prefixes([], min_saved=0) == []


def _nli_prompts(tokenizer, n: int = 13, seed: int = 0):
    """`n` NLI prompts in the five paraphrases (each prompt's own inputs of 2-12 and 1-5 words), their ids and their
    label words' ids as they follow each prompt."""
    import random

    from bioprobe.finetune.instruct import label_answers
    from bioprobe.finetune.prompts import prompt_ids, prompt_text
    from bioprobe.tasks.nli import INSTRUCTIONS, WORDS, prompt_input

    rng = random.Random(seed)
    words = "the gene protein was treated with drug cells expression of kinase in cell patient cancer".split()
    texts = [prompt_text(tokenizer, "medtuned", INSTRUCTIONS[i % len(INSTRUCTIONS)],
                         prompt_input(" ".join(rng.choices(words, k=rng.randint(2, 12))),
                                      " ".join(rng.choices(words, k=rng.randint(1, 5))))) for i in range(n)]
    ids = [prompt_ids(tokenizer, "medtuned", text) for text in texts]
    return texts, ids, label_answers(tokenizer, texts, WORDS)


def _with_window(folder, tmp_path, window: int):
    """A copy of a tiny Mistral whose config has a sliding window (the registry's Mistral-7B-v0.1: 4,096)."""
    import shutil

    copy = tmp_path / f"mistral-window{window}"
    shutil.copytree(folder, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "sliding_window": window}))
    return copy


@pytest.mark.parametrize("family", ["gpt2", "biogpt", "llama", "mistral", "mistral-window"])
def test_shared_prefix_caches_give_the_same_answers_and_logliks(family, tiny_model_dirs, tmp_path):
    """The instruction's prefix read once and its cache reused, in batches that mix prefixes of different lengths and
    rests of different lengths (left-padded both): the same greedy answers as without it and as transformers'
    `generate` one prompt at a time, and the same label log-likelihoods as one unpadded pass over prompt and word."""
    import torch
    from transformers import GenerationConfig

    from bioprobe.models import load_model
    from bioprobe.finetune.decode import StopRule
    from bioprobe.finetune.generate import _extensible_cache, generate_and_score, shared_prefixes

    folder = tiny_model_dirs[family] if family in tiny_model_dirs else \
        _with_window(tiny_model_dirs["mistral"], tmp_path, 512)
    loaded = load_model(str(folder), head="causal-lm")
    model, tokenizer = loaded.model, loaded.tokenizer
    texts, ids, answers = _nli_prompts(tokenizer)
    assert _extensible_cache(model, 2 * max(map(len, ids)) + 9 + 3)  # sliding layers too, inside their window
    starts = shared_prefixes(ids)
    assert all(start >= 20 for start in starts) and len({tuple(p[:s]) for p, s in zip(ids, starts)}) == 5
    caps = [1 + (7 * i) % 9 for i in range(len(ids))]
    stop = StopRule(ids=frozenset({tokenizer.eos_token_id}))
    shared, shared_scores = generate_and_score(model, tokenizer, ids, caps, stop, answers, batch_size=4,
                                               progress=False)
    whole, whole_scores = generate_and_score(model, tokenizer, ids, caps, stop, answers, batch_size=4,
                                             progress=False, share_prefix=False)
    assert shared == whole and sum(g.tokens for g in shared) > len(ids)
    assert shared_scores == pytest.approx(whole_scores, abs=1e-4)
    for p, (prompt, cap, got) in enumerate(zip(ids, caps, shared)):
        config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=cap,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        with torch.inference_mode():
            new = model.generate(input_ids=torch.tensor([prompt]), generation_config=config)[0, len(prompt):].tolist()
        end = new.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in new else len(new)
        assert got.tokens == end and got.text == tokenizer.decode(new[:end], skip_special_tokens=True).rstrip()
        for a, answer in enumerate(answers[p]):
            with torch.inference_mode():
                logp = torch.log_softmax(model(torch.tensor([prompt + answer])).logits[0].float(), -1)
            expected = sum(float(logp[len(prompt) - 1 + k, token]) for k, token in enumerate(answer))
            assert shared_scores[p, a] == pytest.approx(expected, abs=1e-4)


def test_a_sliding_window_cache_shares_prefixes_only_inside_its_window(tiny_model_dirs, tmp_path):
    from transformers import AutoConfig

    from bioprobe.finetune.generate import _extensible_cache

    class Model:  # what the check reads: the config
        def __init__(self, folder):
            self.config = AutoConfig.from_pretrained(folder)

    small = Model(_with_window(tiny_model_dirs["mistral"], tmp_path, 64))
    assert _extensible_cache(small, 62) and not _extensible_cache(small, 63)  # the layer keeps window - 1 tokens
    assert _extensible_cache(Model(tiny_model_dirs["mistral"]), 10 ** 6)       # no window: any length


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_a_prefix_shared_in_text_but_not_in_tokens_is_cut_where_the_tokens_part(family, tiny_model_dirs):
    """"... the gene" and "... the genes" share the text "the gene" but not its token ("Ġgene" / "Ġg en es"): the
    shared prefix ends before it, and the results are those without sharing."""
    import torch

    from bioprobe.models import load_model
    from bioprobe.finetune.decode import StopRule
    from bioprobe.finetune.generate import generate_and_score, shared_prefixes

    loaded = load_model(str(tiny_model_dirs[family]), head="causal-lm")
    model, tokenizer = loaded.model, loaded.tokenizer
    head = "### Instruction:\nDecide whether the premise entails the hypothesis in the cell and the protein:"
    texts = [head + " the gene", head + " the genes", head + " the gene was treated"]
    ids = [tokenizer(text)["input_ids"] for text in texts]
    starts = shared_prefixes(ids)
    assert starts == [len(ids[0]) - 1] * 3 and ids[0][-1] != ids[1][starts[1]]  # it ends before "gene"'s token
    assert len(tokenizer.decode(ids[0][:starts[0]], skip_special_tokens=True)) < len(head + " the gene")
    answers = [[tokenizer(" cell", add_special_tokens=False)["input_ids"], [tokenizer.eos_token_id]]] * 3
    stop = StopRule(ids=frozenset({tokenizer.eos_token_id}))
    shared = generate_and_score(model, tokenizer, ids, [5, 5, 5], stop, answers, progress=False)
    whole = generate_and_score(model, tokenizer, ids, [5, 5, 5], stop, answers, progress=False, share_prefix=False)
    assert shared[0] == whole[0] and shared[1] == pytest.approx(whole[1], abs=1e-4)
    with torch.inference_mode():
        logp = torch.log_softmax(model(torch.tensor([ids[1] + answers[1][0]])).logits[0].float(), -1)
    expected = sum(float(logp[len(ids[1]) - 1 + k, t]) for k, t in enumerate(answers[1][0]))
    assert shared[1][1, 0] == pytest.approx(expected, abs=1e-4)


def test_each_prompt_is_read_once_for_its_answer_and_its_logliks(tiny_model_dirs):
    """Tokens through the model, counted per forward pass: each distinct shared prefix once, each prompt's rest once
    (one padded batch), one pass for the label word of two tokens; no second reading of any prompt for the ranking.
    Without sharing, each prompt is read whole once."""
    from bioprobe.models import load_model
    from bioprobe.finetune.decode import StopRule
    from bioprobe.finetune.generate import generate_and_score, shared_prefixes

    loaded = load_model(str(tiny_model_dirs["gpt2"]), head="causal-lm")
    model, tokenizer = loaded.model, loaded.tokenizer
    texts, ids, _ = _nli_prompts(tokenizer, n=10)
    answers = [[[5], [6, 7]]] * len(ids)   # one word of one token, one of two
    read = []
    handle = model.register_forward_pre_hook(
        lambda module, args, kwargs: read.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        stop = StopRule(ids=frozenset({tokenizer.eos_token_id}))
        generate_and_score(model, tokenizer, ids, [1] * len(ids), stop, answers, batch_size=3, progress=False)
        batched = list(read)
        read.clear()
        generate_and_score(model, tokenizer, ids, [1] * len(ids), stop, answers, batch_size=10, progress=False)
        shared = list(read)
        read.clear()
        generate_and_score(model, tokenizer, ids, [1] * len(ids), stop, answers, batch_size=10, progress=False,
                           share_prefix=False)
    finally:
        handle.remove()
    starts = shared_prefixes(ids)
    prefixes = sorted(len(prefix) for prefix in {tuple(p[:s]) for p, s in zip(ids, starts)})
    rest = max(len(p) - s for p, s in zip(ids, starts))
    assert len(prefixes) == 5
    # the five prefixes (first seen in the batch's order), the batch's rests, the second word's first token
    assert sorted(shared[:5]) == [(1, n) for n in prefixes] and shared[5:] == [(10, rest), (10, 1)]
    assert read == [(10, max(len(p) for p in ids)), (10, 1)]
    # in batches of 3 (4 batches: a rest pass and a word pass each), each prefix is still read once, however many
    # batches use it: a prefix dropped too early and read again would add passes
    assert len(batched) == 5 + 2 * 4 and all((1, n) in batched for n in prefixes)
    assert sum(rows for rows, width in batched if width == 1) == 10


# --- end to end --------------------------------------------------------------------------------------------------


def instruct(*args):
    result = CliRunner().invoke(main, ["finetune", "--objective", "instruct", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_instruction_tuning_teaches_the_answer_format_and_to_stop(family, tiny_model_dirs, cued, tmp_path):
    model = str(tiny_model_dirs[family])
    common = ["--task", "nli", "--model_name", model, "--data", str(cued["nli"]), "--runs-dir", str(tmp_path),
              "--test-limit", "12"]
    instruct(*common, "--training_size", "0")
    instruct(*common, "--training_size", "100", "--train-limit", "36", "--epochs", "30", "--lr", "1e-2",
             "--batch-size", "8")
    table = runstore.read_tables(tmp_path, "finetune").query("label == 'all'")
    value = table.set_index(["training_size", "metric"])["value"]
    print(table[["training_size", "metric", "value"]].to_string())
    # A random model never writes a label word and stops; 30 epochs of answer-only loss on 36 items teach both (the
    # cue words make the label itself learnable too).
    assert value[0, "parse_rate"] == 0 and value[100, "parse_rate"] >= 0.9
    assert value[100, "accuracy"] >= 0.75
    assert set(table["objective"]) == {"instruct"} and set(table["shots"]) == {0}
    name = next((tmp_path / "checkpoints" / "nli").iterdir()).name  # gpt2-local: a folder named like a registry model
    record = json.loads((tmp_path / "checkpoints" / "nli" / name / "size100-seed42-instruct" / "run.json").read_text())
    assert record["objective"] == "instruct" and record["template"] == "medtuned" and record["data"]["n_train"] == 36
    assert record["weights"] == "trained" and (tmp_path / "checkpoints" / "nli" / name / "size0-seed42-instruct" /
                                               "run.json").is_file()
    lines = (tmp_path / "generations" / "nli" / name / "size100-seed42-instruct-test-0shot.jsonl").read_text()
    items = [json.loads(line) for line in lines.splitlines()]
    assert len(items) == 12 and items[0]["prompt"].startswith("### Instruction:\nEntailment, Neutral or Contradiction?")
    assert {"output", "gold", "parse", "stopped", "loglik"} <= set(items[0])


_MODULES = ("peft", "bitsandbytes", "transformers.trainer", "transformers.training_args")


def test_a_zero_shot_evaluation_imports_no_training_machinery_and_stores_exact_answers(tiny_model_dirs, tmp_path):
    """`bioprobe finetune --objective instruct --training_size 0` trains nothing, so peft, bitsandbytes and the
    Trainer are never imported (4.6 s of its start-up on smollm2); the answers and label log-likelihoods it stores,
    computed with each prompt read once and the paraphrases' shared prefixes read once, equal those computed with
    every prompt read whole."""
    import subprocess
    import sys

    import numpy as np

    from bioprobe.models import load_model
    from bioprobe.finetune.decode import stop_rule
    from bioprobe.finetune.generate import generate, shared_prefixes
    from bioprobe.finetune.instruct import label_logliks
    from bioprobe.finetune.prompts import prompt_ids
    from bioprobe.tasks.nli import WORDS

    model = str(tiny_model_dirs["gpt2"])
    code = ("import json, sys\nfrom bioprobe.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as end:\n"
            "    assert not end.code, end.code\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {_MODULES[:2]!r} or m in "
            f"{_MODULES[2:]!r})))")
    done = subprocess.run([sys.executable, "-c", code, "finetune", "--objective", "instruct", "--task", "nli",
                           "--model_name", model, "--data", "demo", "--training_size", "0", "--test-limit", "12",
                           "--runs-dir", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert "wrote" in done.stdout

    stored = tmp_path / "generations/nli/gpt2-local/size0-seed42-instruct-test-0shot.jsonl"
    items = [json.loads(line) for line in stored.read_text().splitlines()]
    loaded = load_model(model, head="causal-lm")
    tokenizer = loaded.tokenizer
    texts = [item["prompt"] for item in items]
    ids = [prompt_ids(tokenizer, "medtuned", text) for text in texts]
    assert len(items) == 12 and sum(start > 0 for start in shared_prefixes(ids)) >= 10
    whole = generate(loaded.model, tokenizer, ids, [item["cap"] for item in items], stop_rule(tokenizer, "medtuned"),
                     progress=False, share_prefix=False)
    assert [(g.text, g.raw, g.tokens, g.stopped) for g in whole] == \
        [(item["output"], item["raw_output"], item["tokens"], item["stopped"]) for item in items]
    scores = label_logliks(loaded.model, tokenizer, texts, ids, WORDS, share_prefix=False)
    stored = [[item["loglik"][label] for label in WORDS] for item in items]
    assert np.array(stored) == pytest.approx(scores, abs=1e-4)


def test_the_training_loader_seeds_as_transformers_does_without_importing_the_trainer():
    """`seed_all` replaces `transformers.set_seed` in the training loader (which size 0 uses too), whose module imports
    the Trainer's utilities and with them peft and bitsandbytes: the same draws from Python, NumPy and torch after."""
    import random

    import numpy as np
    import torch
    import transformers

    from bioprobe.finetune.train import seed_all

    def draws():
        return random.random(), float(np.random.rand()), torch.rand(3).tolist(), torch.nn.Linear(4, 2).weight.tolist()

    transformers.set_seed(123)
    theirs = draws()
    seed_all(123)
    assert draws() == theirs


def test_instruction_defaults_are_chosen_per_objective_and_model_size_and_recorded(tiny_model_dirs, cued, tmp_path):
    from bioprobe.settings import DEFAULTS, RECIPE

    common = ["--task", "nli", "--data", str(cued["nli"]), "--runs-dir", str(tmp_path), "--training_size", "10",
              "--epochs", "1", "--test-limit", "2", "--max-new-tokens", "2"]
    instruct(*common, "--model_name", str(tiny_model_dirs["gpt2"]))
    instruct(*common, "--model_name", str(tiny_model_dirs["llama"]), "--4bit")   # a 4-bit base: QLoRA
    records = {name: json.loads((tmp_path / f"checkpoints/nli/{name}/size10-seed42-instruct/run.json").read_text())
               for name in ("gpt2-local", "llama")}
    small, quantised = records["gpt2-local"], records["llama"]
    assert (small["lora"], small["settings"]["lr"], small["settings"]["batch_size"]) == (False, 1e-4, 8)
    assert (quantised["lora"], quantised["settings"]["lr"], quantised["settings"]["batch_size"]) == (True, 2e-4, 8)
    assert small["defaults"] == {"objective": "instruct", "lr_full": 1e-4, "lr_lora": 2e-4, "batch_size": 8,
                                 "warmup": 0.06, "given": []}
    assert small["request"]["recipe"] == RECIPE and small["request"]["batch_size"] == 8
    assert DEFAULTS["classifier"].batch_size == 16 and DEFAULTS["classifier"].lr_full == 5e-5
    # a run trained by an earlier recipe (other defaults, answers tokenised alone) is not reused as if it matched
    path = tmp_path / "checkpoints/nli/gpt2-local/size10-seed42-instruct/run.json"
    old = json.loads(path.read_text())
    del old["request"]["recipe"]
    path.write_text(json.dumps(old))
    result = CliRunner().invoke(main, ["finetune", "--objective", "instruct", *common, "--model_name",
                                       str(tiny_model_dirs["gpt2"])])
    assert_one_sentence(result, "made with other settings", "recipe None there, 2 now", "--overwrite")


def test_ner_generation_scored_rescored_and_reused(tiny_model_dirs, cued, tmp_path):
    model = str(tiny_model_dirs["gpt2"])
    common = ["--task", "ner", "--model_name", model, "--data", str(cued["ner"]), "--runs-dir", str(tmp_path),
              "--test-limit", "8", "--training_size", "50", "--epochs", "20", "--lr", "3e-3"]
    first = instruct(*common)
    path = tmp_path / "results" / "finetune" / "ner" / "gpt2-local" / "size50-seed42-instruct-0shot.csv"
    before = pd.read_csv(path)
    again = instruct(*common)
    assert "reused" in again.stdout.splitlines()[-1]
    rescored = instruct(*common, "--rescore")
    assert "wrote" in rescored.stdout.splitlines()[-1]
    after = pd.read_csv(path)
    assert after["value"].tolist() == pytest.approx(before["value"].tolist(), nan_ok=True)
    assert {"f1", "precision", "recall", "f1_lenient", "parse_rate", "failures"} <= set(before["metric"])
    record = json.loads((tmp_path / "checkpoints/ner/gpt2-local/size50-seed42-instruct/run.json").read_text())
    indices = record["data"]["subset_indices"]
    assert len(indices) == 43 and indices == sorted(indices)
    del first


def test_one_shot_prompt_shows_a_seeded_training_example_of_the_same_entity_type():
    from bioprobe.instructions import load_instructions
    from bioprobe.tasks import get_task
    from bioprobe.finetune.instruct import one_shot_examples
    from bioprobe.finetune.prompts import Example, prompt_text

    shot = Example("Tag it.", "a b", "a : B\nb : O")
    assert prompt_text(None, "medtuned", "Tag this.", "c", shot) == (
        "### Instruction:\nTag it.\n\n### Input:\na b\n\n### Output:\na : B\nb : O\n\n"
        "### Instruction:\nTag this.\n\n### Input:\nc\n\n### Output:\n")
    data = load_instructions("ner", "demo")
    rows = data.splits["test"].select(range(6)).to_list()
    shots = one_shot_examples(get_task("ner"), data, rows, seed=42)
    train = data.splits["train"].to_list()
    for row, example in zip(rows, shots):
        match = next(t for t in train if t["output"] == example.output and t["input"] == example.input)
        assert match["entity_type"] == row["entity_type"] and example.instruction == match["instruction"]
    assert shots == one_shot_examples(get_task("ner"), data, rows, seed=42) and \
        shots != one_shot_examples(get_task("ner"), data, rows, seed=7)


def test_one_shot_evaluation_of_the_released_smollm2(tmp_path):
    common = ["--task", "nli", "--model_name", "smollm2", "--data", "demo", "--runs-dir", str(tmp_path),
              "--training_size", "0", "--test-limit", "2"]
    instruct(*common)
    one_shot = instruct(*common, "--shots", "1")
    assert "wrote" in one_shot.stdout.splitlines()[-1]  # the same (released) weights, evaluated one-shot
    items = [json.loads(line) for line in (tmp_path / "generations/nli/smollm2/size0-seed42-instruct-test-1shot.jsonl")
             .read_text().splitlines()]
    assert len(items) == 2 and all(item["prompt"].count("### Instruction:") == 2 for item in items)
    tables = sorted(p.name for p in (tmp_path / "results/finetune/nli/smollm2").glob("*.csv"))
    assert tables == ["size0-seed42-instruct-0shot.csv", "size0-seed42-instruct-1shot.csv"]


def test_instruction_subsets_are_nested(tiny_model_dirs, cued, tmp_path):
    model = str(tiny_model_dirs["gpt2"])
    seen = {}
    for size in (10, 30, 50, 100):
        instruct("--task", "nli", "--model_name", model, "--data", str(cued["nli"]), "--runs-dir", str(tmp_path),
                 "--test-limit", "3", "--training_size", str(size), "--epochs", "1", "--max-new-tokens", "2")
        record = json.loads((tmp_path / f"checkpoints/nli/gpt2-local/size{size}-seed42-instruct/run.json").read_text())
        seen[size] = set(record["data"]["subset_indices"])
    assert seen[10] < seen[30] < seen[50] < seen[100] and len(seen[100]) == 86


def test_bad_instruct_requests_are_one_sentence(tiny_model_dirs, cued, tmp_path):
    runner = CliRunner()
    chat = runner.invoke(main, ["finetune", "--task", "nli", "--objective", "instruct", "--template", "chat",
                                "--model_name", str(tiny_model_dirs["gpt2"]), "--data", str(cued["nli"]),
                                "--training_size", "0", "--runs-dir", str(tmp_path)])
    assert_one_sentence(chat, "has no chat template", "--template medtuned")
    encoder = runner.invoke(main, ["finetune", "--task", "nli", "--objective", "instruct", "--model_name",
                                   str(tiny_model_dirs["bert"]), "--data", str(cued["nli"]), "--runs-dir",
                                   str(tmp_path)])
    assert_one_sentence(encoder, "needs a causal language model", "encoder")
    rescore = runner.invoke(main, ["finetune", "--task", "nli", "--objective", "instruct", "--rescore",
                                   "--model_name", str(tiny_model_dirs["gpt2"]), "--training_size", "30",
                                   "--runs-dir", str(tmp_path)])
    assert_one_sentence(rescore, "no finished instruction run")
    too_long = runner.invoke(main, ["finetune", "--task", "nli", "--objective", "instruct", "--model_name",
                                    str(tiny_model_dirs["gpt2"]), "--data", str(cued["nli"]), "--training_size", "0",
                                    "--max-length", "100000", "--runs-dir", str(tmp_path / "long")])
    assert_one_sentence(too_long, "--max-length 100000 is longer than", "can read (512 positions)")
    shots = runner.invoke(main, ["finetune", "--task", "nli", "--shots", "1"])
    assert_one_sentence(shots, "--shots is an option of --objective instruct")
