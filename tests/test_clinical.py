"""Conversations as tuning data and the three clinical prompts: the marker parser, the medical filter, the
assistant-only label mask with left truncation, every parser and scorer with hand-written answers and their expected
scores, conversation tuning and `bioprobe generate` end to end on tiny models, and one sentence for bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bioprobe.cli import main
from test_cli import assert_one_sentence

CONVERSATION = [{"role": "user", "content": "I have a fever and a cough."},
                {"role": "assistant", "content": "Rest and drink fluids."},
                {"role": "user", "content": "And the headache?"},
                {"role": "assistant", "content": "Take paracetamol."}]


# --- data --------------------------------------------------------------------------------------------------------


def test_baize_markers_are_split_into_turns():
    from bioprobe.conversations import parse_markers

    text = ("The conversation between human and AI assistant. [|Human|] I have a fever. [|AI|] Drink fluids. "
            "[|Human|] Thanks [|AI|] You're welcome. [|Human|] ")
    assert parse_markers(text) == [{"role": "user", "content": "I have a fever."},
                                   {"role": "assistant", "content": "Drink fluids."},
                                   {"role": "user", "content": "Thanks"},
                                   {"role": "assistant", "content": "You're welcome."}]
    assert parse_markers("<q> hi <a> hello", ("<q>", "<a>")) == [{"role": "user", "content": "hi"},
                                                              {"role": "assistant", "content": "hello"}]


@pytest.mark.parametrize("text, expected", [
    ("I felt empathy and sympathy when I got my diploma.", set()),
    ("My computer virus is back, please be patient with me.", set()),
    ("Nostalgia for Oklahoma, and a dichotomy in academia.", set()),
    ("I had covid-19 and took an anti-inflammatory drug.", {"covid-19", "anti-inflammatory"}),
    ("A heart-warming story.", set()),
    ("The patient's virus load fell after the antiviral.", {"patient", "virus", "antiviral"}),
])
def test_the_medical_filter_is_word_exact_in_both_directions(text, expected):
    from bioprobe.conversations import medical_terms

    found = medical_terms([{"role": "user", "content": text}])
    assert found == expected


def test_the_medical_filter_counts_distinct_clinical_words():
    from bioprobe.conversations import is_medical, medical_terms

    assert medical_terms(CONVERSATION) == {"fever", "cough", "headache", "paracetamol"}
    assert medical_terms([{"role": "user", "content": "Is cardiomyopathy related to metformin or to metformin?"}]) \
        == {"cardiomyopathy", "metformin"}  # by suffix; repeats count once
    assert is_medical([{"role": "user", "content": "My fever is back"}], min_terms=1)
    assert not is_medical([{"role": "user", "content": "My fever is back"}], min_terms=2)
    assert not is_medical([{"role": "user", "content": "What is a good name for a cat?"}])


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_conversation_files_are_read_filtered_and_counted(tmp_path):
    from bioprobe.conversations import load_conversations

    medical = "[|Human|] My asthma and my cough got worse. [|AI|] See your doctor about your inhaler."
    general = "[|Human|] Name a good cat name. [|AI|] Smokey."
    _write(tmp_path / "all.jsonl", [{"input": medical}] * 45 + [{"input": general}] * 5 +
           [{"input": "[|Human|] asthma fever with no answer"}] * 5)
    data = load_conversations(str(tmp_path / "all.jsonl"))
    assert data.selection == {"rule": "at least 2 distinct clinical words (bioprobe.conversations.medical_terms)",
                              "kept": 45, "total": 55}
    assert sum(len(split) for split in data.splits.values()) == 45
    assert data.splits["train"][0]["messages"] == [
        {"role": "user", "content": "My asthma and my cough got worse."},
        {"role": "assistant", "content": "See your doctor about your inhaler."}]
    every = load_conversations(str(tmp_path / "all.jsonl"), medical=False)
    assert every.selection["kept"] == 50  # the ones without an answer are never kept
    flagged = _write(tmp_path / "flagged.jsonl", [{"messages": [{"from": "human", "value": "hi"},
                                                                {"from": "gpt", "value": "hello"}],
                                                   "medical": i % 2 == 0} for i in range(40)])
    assert load_conversations(str(flagged)).selection == {"rule": "column 'medical'", "kept": 20, "total": 40}


@pytest.mark.parametrize("rows, fragments", [
    ([{"question": "hi", "reply": "hello"}], ["no conversation column", "found question, reply"]),
    ([{"input": "no markers at all"}], ["no usable conversations", "1 read"]),
    ([{"messages": [{"role": "doctor?", "content": "x"}]}], ["role 'doctor?'"]),
])
def test_bad_conversation_data_is_one_sentence(tmp_path, rows, fragments):
    _write(tmp_path / "train.jsonl", rows)
    result = CliRunner().invoke(main, ["finetune", "--objective", "conversation", "--model_name", "gpt2",
                                       "--data", str(tmp_path / "train.jsonl"), "--runs-dir", str(tmp_path)])
    assert_one_sentence(result, *fragments)


def test_the_demo_conversations_talk_about_the_demo_entities():
    from bioprobe.conversations import demo_conversations, load_conversations

    built = demo_conversations(42)["train"]["messages"][:]
    assert built == demo_conversations(42)["train"]["messages"][:]
    assert built[0][0]["content"].startswith("Which ") and built[0][1]["content"].startswith("It mentions")
    data = load_conversations("demo")
    assert 0.5 < data.selection["kept"] / data.selection["total"] < 0.9  # the general tenth and some terse ones go


# --- the assistant-only mask -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    from bioprobe.models import convert_gguf, load_tokenizer
    from bioprobe.registry import resolve_model

    return load_tokenizer(convert_gguf(resolve_model("smollm2")))


def _trained(row) -> list[int]:
    return [token for token, label in zip(row["input_ids"], row["labels"]) if label != -100]


def test_only_assistant_turns_are_trained_with_a_chat_template(smollm2_tokenizer):
    from bioprobe.finetune.conversation import encode_conversation

    tokenizer = smollm2_tokenizer
    row = encode_conversation(tokenizer, CONVERSATION, 512)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    words = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    trained = _trained(row)
    assert trained == words("Rest and drink fluids.") + [end] + words("\n") + words("Take paracetamol.") + \
        [end] + words("\n")
    text = tokenizer.decode(row["input_ids"])
    assert text == tokenizer.apply_chat_template(CONVERSATION, tokenize=False)  # the template's own rendering
    user = words("I have a fever and a cough.")
    start = next(i for i in range(len(row["input_ids"])) if row["input_ids"][i:i + len(user)] == user)
    assert all(label == -100 for label in row["labels"][start:start + len(user)])  # every human token is -100


def test_only_assistant_turns_are_trained_in_the_plain_format(tiny_model_dirs):
    from bioprobe.models import load_tokenizer
    from bioprobe.registry import resolve_model
    from bioprobe.finetune.conversation import PLAIN_TURN, encode_conversation

    tokenizer = load_tokenizer(resolve_model(str(tiny_model_dirs["llama"])))
    row = encode_conversation(tokenizer, CONVERSATION, 512)
    words = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    eos = tokenizer.eos_token_id
    expected = [tokenizer.bos_token_id] + words(PLAIN_TURN["user"].format(content=CONVERSATION[0]["content"])) + \
        words("Rest and drink fluids.") + [eos] + words(PLAIN_TURN["user"].format(content="And the headache?")) + \
        words("Take paracetamol.") + [eos]
    assert row["input_ids"] == expected
    assert _trained(row) == words("Rest and drink fluids.") + [eos] + words("Take paracetamol.") + [eos]


def test_a_long_conversation_loses_its_earliest_exchanges_never_part_of_an_answer(tiny_model_dirs):
    from bioprobe.models import load_tokenizer
    from bioprobe.registry import resolve_model
    from bioprobe.finetune.conversation import encode_conversation

    tokenizer = load_tokenizer(resolve_model(str(tiny_model_dirs["gpt2"])))
    whole = encode_conversation(tokenizer, CONVERSATION, 512)
    last = encode_conversation(tokenizer, CONVERSATION[2:], 512)
    cut = encode_conversation(tokenizer, CONVERSATION, whole["length"] - 1)
    assert cut["input_ids"] == last["input_ids"] and cut["dropped_turns"] == 2
    assert encode_conversation(tokenizer, CONVERSATION, last["length"] - 1) is None  # the last exchange won't fit


# --- parsers and scorers -------------------------------------------------------------------------------------------


def test_extract_answers_are_sets_of_normalised_strings():
    from bioprobe.finetune.clinical import Item, extract_scores, parse_extract

    text = "Aspirin and Insulin lower the risk of lung cancer ."
    assert parse_extract("- Aspirin\n2. lung cancer, \"Insulin\".\nnone", text) == ["aspirin", "lung cancer",
                                                                                      "insulin"]
    assert parse_extract("None", text) == [] and parse_extract("No", text) == []
    items = [Item({}, ["aspirin", "lung cancer"], "Aspirin lowers the risk of lung cancer .", "0"),
             Item({}, ["insulin"], "Insulin was given .", "1")]
    predicted = [["aspirin", "risk of lung cancer"], ["insulin", "glucose"]]
    scores = extract_scores(items, predicted)
    # 2 right of 4 predicted, 2 of 3 gold; "glucose" is not in its text ("risk of lung cancer" is)
    assert scores["precision"] == 0.5 and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert scores["not_verbatim_share"] == 0.25


def test_a_mention_with_a_comma_a_none_word_or_new_spacing_is_still_the_mention():
    from bioprobe.finetune.clinical import Item, extract_scores, parse_extract

    text = "Treatment with 2R , 4R - APDC raised NO levels and IL - 6 ; no change in TNF - alpha ."
    item = Item({}, ["2R , 4R - APDC", "NO", "IL - 6", "TNF - alpha"], text, "0")
    exact = parse_extract("2R , 4R - APDC\nNO\nIL - 6\nTNF - alpha", text)
    respaced = parse_extract("2R,4R-APDC\nNO\nIL-6\nTNF-alpha", text)
    assert exact == respaced and len(exact) == 4
    for answer in (exact, respaced):
        assert extract_scores([item], [answer]) == {"precision": 1.0, "recall": 1.0, "f1": 1.0,
                                                    "not_verbatim_share": 0.0, "predicted_per_item": 4.0}
    assert parse_extract("IL-6, TNF-alpha", text) == ["il - 6", "tnf - alpha"]  # a list on one line is split
    assert parse_extract("No", "Aspirin helps .") == []                         # "no entity"
    assert parse_extract("NO", "NO synthase was inhibited .") == ["no"]          # nitric oxide, as the text has it


def _extract_items_of(data: str, tmp_path=None):
    from bioprobe.data import load_task_data
    from bioprobe.tasks.ner import entity_types
    from bioprobe.finetune.clinical import extract_items

    loaded = load_task_data("ner", data)
    return extract_items(loaded.splits["test"], entity_types(loaded.labels))


def test_the_gold_mentions_written_out_score_one_on_every_corpus(tmp_path):
    """Gold in, 1.0 out: on the demo corpus and on a CoNLL corpus shaped like BC5CDR (mentions with commas,
    hyphens and brackets, "NO" for nitric oxide, a mention twice), each item answered with its gold mentions, one
    per line, scores precision, recall and F1 1.0 with every string verbatim."""
    from bioprobe.finetune.clinical import extract_scores, parse_extract

    sentences = [
        [("Treatment", "O"), ("with", "O"), ("2R", "B-Chemical"), (",", "I-Chemical"), ("4R", "I-Chemical"),
         ("-", "I-Chemical"), ("APDC", "I-Chemical"), ("raised", "O"), ("NO", "B-Chemical"), ("levels", "O"),
         (".", "O")],
        [("NO", "B-Chemical"), ("and", "O"), ("IL", "O"), ("-", "O"), ("6", "O"), ("caused", "O"), ("acute", "B-Disease"),
         ("renal", "I-Disease"), ("failure", "I-Disease"), ("(", "O"), ("ARF", "B-Disease"), (")", "O"),
         ("and", "O"), ("no", "O"), ("ARF", "B-Disease"), ("relapse", "O"), (".", "O")],
        [("Cisplatin", "B-Chemical"), ("-", "O"), ("induced", "O"), ("nephrotoxicity", "B-Disease"), ("in", "O"),
         ("rats", "O"), (";", "O"), ("5", "B-Chemical"), ("-", "I-Chemical"), ("FU", "I-Chemical"), ("none", "O"),
         (".", "O")],
    ]
    conll = "\n\n".join("\n".join(f"{w}\t{t}" for w, t in sentence) for sentence in sentences) + "\n"
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.conll").write_text(conll)
    for data in ("demo", str(tmp_path)):
        items = _extract_items_of(data)
        assert sum(len(item.gold) for item in items) > 0
        predicted = [parse_extract("\n".join(item.gold), item.context) for item in items]
        scores = extract_scores(items, predicted)
        assert (scores["precision"], scores["recall"], scores["f1"], scores["not_verbatim_share"]) == \
            (1.0, 1.0, 1.0, 0.0), data


def test_search_answers_and_their_precision_and_recall_at_k():
    from bioprobe.finetune.clinical import Item, parse_search, search_scores

    sentences = ["He has asthma .", "She is 40 .", "The ECG was normal ."]
    assert parse_search("Sentences 2 and 3, not 7.", sentences) == [2, 3]
    assert parse_search("The one that says: she is 40.", sentences) == [2]
    items = [Item({}, [2], sentences, "a"), Item({}, [1], sentences, "b"), Item({}, [3], sentences, "c")]
    scores = search_scores(items, [[2], [3, 1], []])
    assert scores["precision"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert scores["recall_at_1"] == pytest.approx(1 / 3) and scores["recall_at_3"] == pytest.approx(2 / 3)
    assert scores["answered"] == pytest.approx(2 / 3)


def test_numbers_inside_copied_sentence_text_are_not_answers():
    from bioprobe.finetune.clinical import parse_search

    sentences = ["He has asthma .", "She is 40 .", "The patient received 2 doses ."]
    assert parse_search("3. The patient received 2 doses", sentences) == [3]
    assert parse_search('Sentence 3 ("the patient received 2 doses") answers it.', sentences) == [3]
    assert parse_search('"She is 40."', sentences) == [2]  # no number of its own: matched by the quoted text


def test_search_documents_hide_the_premise_among_distractors():
    import datasets

    from bioprobe.finetune.clinical import search_items

    split = datasets.Dataset.from_dict({
        "premise": ["A woman has asthma .", "He is 80 .", "She takes insulin .", "The ECG was normal .",
                    "He smokes ."],
        "hypothesis": ["The patient is a woman .", "The patient is a woman .", "The patient is a woman .", "x", "y"],
        "label": ["entailment", "contradiction", "entailment", "neutral", "neutral"]})
    items = search_items(split, seed=0, distractors=2)
    assert len(items) == 2
    for item in items:
        assert len(item.context) == 3 and "He is 80 ." in item.context  # the known non-entailing premise first
        lines = item.fields["document"].split("\n")
        assert [line.split(". ", 1)[1] for line in lines] == item.context
        assert {item.context[n - 1] for n in item.gold} <= {"A woman has asthma .", "She takes insulin ."}


def test_summaries_are_scored_with_rouge_or_the_faithfulness_proxy():
    from bioprobe.finetune.clinical import Item, faithful_share, summarise_scores

    document = "The patient has a fever . She was given paracetamol ."
    assert faithful_share("The patient has a fever. She was given paracetamol.", document) == 1.0
    assert faithful_share("The patient has a fever. She was given aspirin.", document) == 0.5
    scores = summarise_scores([Item({}, "the patient has a fever", document, "0")], ["the patient had fever"])
    # unigrams in common: the, patient, fever: P 3/4, R 3/5
    assert scores["rouge1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35) and scores["summary_words"] == 4
    assert "rouge1" not in summarise_scores([Item({}, None, document, "0")], ["a fever"])


def test_an_empty_summary_is_a_failure_that_counts():
    from bioprobe.finetune.clinical import Item, faithful_share, summarise_scores

    document = "The patient has a fever ."
    assert faithful_share("", document) == 0.0 and faithful_share("Yes.", document) == 0.0
    items = [Item({}, None, document, str(i)) for i in range(2)]
    scores = summarise_scores(items, ["The patient has a fever.", ""])
    assert scores["faithful_share_proxy"] == 0.5 and scores["empty_share"] == 0.5  # not 1.0 over the one answer


def test_a_template_must_keep_its_placeholders(tmp_path):
    bad = tmp_path / "extract.txt"
    bad.write_text("List the entities in {text}.")
    result = CliRunner().invoke(main, ["generate", "--prompt", "extract", "--template", str(bad)])
    assert_one_sentence(result, "lacks {entity_type}", "{entity_type}, {text}")
    bad.write_text("Find {entity_type} in {text} for {patient}.")
    result = CliRunner().invoke(main, ["generate", "--prompt", "extract", "--template", str(bad)])
    assert_one_sentence(result, "has unknown {patient}")


# --- end to end --------------------------------------------------------------------------------------------------


def test_conversation_tuning_and_the_prompts_end_to_end(tiny_model_dirs, tmp_path):
    import pandas as pd

    from bioprobe import runstore

    model = str(tiny_model_dirs["gpt2"])
    rows = [{"messages": [{"role": "user", "content": f"My fever and cough, day {i}?"},
                          {"role": "assistant", "content": "Rest and drink fluids."}]} for i in range(60)]
    _write(tmp_path / "conversations.jsonl", rows)
    runs = tmp_path / "runs"
    common = ["finetune", "--objective", "conversation", "--model_name", model, "--data",
              str(tmp_path / "conversations.jsonl"), "--runs-dir", str(runs)]
    for size in ("0", "100"):
        result = CliRunner().invoke(main, [*common, "--training_size", size, "--epochs", "10", "--lr", "5e-3"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "conversations: 60 kept of 60 read (100%), medical by at least 2 distinct clinical words" in \
            result.output
    table = runstore.read_tables(runs, "finetune").set_index("training_size")
    # a repeated answer is learnt: the loss on the held-out conversations' answers falls far below the untrained one
    assert table.loc[100, "value"] < 0.5 * table.loc[0, "value"]
    record = json.loads((runs / "checkpoints" / "conversation" / "gpt2-local" / "size100-seed42-conversation" /
                         "run.json").read_text())
    assert record["data"]["selection"]["kept"] == 60 and record["objective"] == "conversation"
    for prompt in ("extract", "search", "summarise"):
        result = CliRunner().invoke(main, ["generate", "--prompt", prompt, "--model_name", model, "--training_size",
                                           "100", "--limit", "3", "--max-new-tokens", "8", "--runs-dir", str(runs)],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        answers = [json.loads(line) for line in next((runs / "generations" / prompt).rglob("*.jsonl"))
                   .read_text().splitlines()]
        assert len(answers) == 3 and all({"prompt", "output", "parse", "gold"} <= set(a) for a in answers)
        assert answers[0]["format"] == "plain"  # the tiny GPT-2 has no chat template
    again = CliRunner().invoke(main, ["generate", "--prompt", "search", "--model_name", model, "--training_size",
                                      "100", "--limit", "3", "--max-new-tokens", "8", "--runs-dir", str(runs)])
    assert again.output.startswith("reused")
    scores = pd.concat([pd.read_csv(p) for p in (runs / "results" / "generate").rglob("*.csv")])
    assert set(scores["task"]) == {"extract", "search", "summarise"} and set(scores["objective"]) == {"conversation"}


def test_the_released_model_means_the_same_weights_in_generate_and_finetune(tiny_model_dirs, tmp_path, monkeypatch):
    """Size 0 of `finetune --objective instruct` loaded mistral / llama2 / llama2-medtuned in 4-bit while `generate`
    loaded them in full precision; both follow one rule now, recorded in their tables."""
    import pandas as pd

    from bioprobe import models
    from bioprobe.finetune.clinical import run_generate
    from bioprobe.registry import resolve_model

    assert [models.wants_four_bit(resolve_model(name)) for name in ("mistral", "llama2-medtuned", "smollm2")] == \
        [True, True, False]
    assert not models.wants_four_bit(resolve_model("mistral"), False)
    seen = {}

    def fake_load(resolved, **kwargs):  # stands in for the 7B download
        seen.update(name=resolved.name, **kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(models, "load_model", fake_load)
    with pytest.raises(RuntimeError, match="stop here"):
        run_generate(prompt="extract", model_name="mistral", limit=1, runs_dir=str(tmp_path / "r0"))
    assert seen["name"] == "mistral" and seen["four_bit"] is True
    monkeypatch.undo()

    runs, model = tmp_path / "runs", str(tiny_model_dirs["llama"])
    result = CliRunner().invoke(main, ["generate", "--prompt", "extract", "--model_name", model, "--4bit",
                                       "--limit", "2", "--max-new-tokens", "3", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    from tiny_data import write_cued_instructions

    data = write_cued_instructions(tmp_path / "ner", "ner")
    result = CliRunner().invoke(main, ["finetune", "--task", "ner", "--objective", "instruct", "--model_name", model,
                                       "--4bit", "--training_size", "0", "--data", str(data), "--test-limit", "2",
                                       "--max-new-tokens", "3", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    tables = pd.concat([pd.read_csv(p) for p in (runs / "results").rglob("*.csv")])
    assert set(tables["analysis"]) == {"generate", "finetune"} and tables["four_bit"].all()
