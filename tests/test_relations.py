"""Relation extraction (`--task re`): BLURB-layout files, entity markers of both kinds, the classifier on every
family, entity pooling, attention mass between the entities, the entities' attribution share, label-word answers,
`--entity-markers tokens`, the demo set, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bioprobe.data import load_task_data
from bioprobe.errors import BioprobeError
from bioprobe.tasks import get_task
from bioprobe.tasks.base import classification_metrics
from bioprobe.tasks.re import entity_spans, words_of
from cli_checks import assert_one_sentence, cli
from tiny_data import write_blurb_gad
from tiny_models import FAMILIES

RE = get_task("re")


@pytest.fixture(scope="module")
def gad(tmp_path_factory):
    return write_blurb_gad(tmp_path_factory.mktemp("gad"))


# --- data -------------------------------------------------------------------------------------------------------


def test_blurb_tsv_with_and_without_header_reads_sentences_and_binary_labels(gad):
    data = load_task_data("re", str(gad))
    assert data.labels == ("0", "1") and data.source.endswith("(blurb tsv)")
    assert {name: len(split) for name, split in data.splits.items()} == {"train": 160, "validation": 30, "test": 60}
    first_test = (gad / "test.tsv").read_text().splitlines()[1].split("\t")
    assert data.splits["test"][0] == {"text": first_test[1], "label": first_test[2]}  # the header is not a row
    assert RE.positive(data.labels) == 1  # "1" is GAD's related class, answered Positive


def test_entity_spans_of_placeholders_and_both_inline_styles():
    assert entity_spans(words_of("the @GENE$ variant causes @DISEASE$ .")) == ((1, 2), (4, 5))
    words = words_of("<e1>aspirin</e1> relieves <e2>tension headache</e2>")
    assert words == ["<e1>", "aspirin", "</e1>", "relieves", "<e2>", "tension", "headache", "</e2>"]
    assert entity_spans(words) == ((0, 3), (4, 8))
    assert entity_spans(words_of("[E2] pain [/E2] after [E1] drug [/E1]")) == ((4, 7), (0, 3))  # by number
    assert entity_spans(words_of("only <e1> one </e1> entity")) is None


def test_named_multiclass_labels_from_jsonl_with_inline_markers(tmp_path):
    rows = {"train": [("[E1] morphine [/E1] relieved [E2] pain [/E2]", "TrIP"),
                      ("[E1] stent [/E1] caused [E2] bleeding [/E2]", "TrCP"),
                      ("[E1] tests [/E1] on [E2] fever [/E2]", "TeRP")],
            "dev": [("[E1] scan [/E1] showed [E2] mass [/E2]", "TeRP")],
            "test": [("[E1] drug [/E1] and [E2] rash [/E2]", "TrCP")]}
    for split, items in rows.items():
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps({"sentence": t, "relation": r}) + "\n"
                                                         for t, r in items))
    data = load_task_data("re", str(tmp_path))
    assert data.labels == ("TeRP", "TrCP", "TrIP") and RE.positive(data.labels) is None
    assert data.splits["test"]["label"][:] == ["TrCP"]


def test_sentence_without_both_markers_is_refused_naming_file_and_line(gad, tmp_path):
    lines = (gad / "train.tsv").read_text().splitlines()
    lines[4] = lines[4].replace("@DISEASE$", "asthma")
    for name in ("dev.tsv", "test.tsv"):
        (tmp_path / name).write_text((gad / name).read_text())
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(BioprobeError, match=r"train.tsv line 5: the sentence does not mark both entities"):
        load_task_data("re", str(tmp_path))
    result = cli("finetune", "--task", "re", "--data", str(tmp_path), "--model_name", "minilm")
    assert_one_sentence(result, "train.tsv line 5", "does not mark both entities")


def test_label_outside_the_label_set_is_refused_naming_the_row(gad, tmp_path):
    for name in ("train.tsv", "dev.tsv"):
        (tmp_path / name).write_text((gad / name).read_text())
    lines = (gad / "test.tsv").read_text().splitlines()
    lines[3] = lines[3].rsplit("\t", 1)[0] + "\t2"
    (tmp_path / "test.tsv").write_text("\n".join(lines) + "\n")
    result = cli("finetune", "--task", "re", "--data", str(tmp_path), "--model_name", "minilm")
    assert_one_sentence(result, "test.tsv line 4", "label '2' is outside the label set (0, 1)")


def test_hub_default_fails_clearly_offline():
    with pytest.raises(BioprobeError, match=r"bigbio/gad.*--data"):
        load_task_data("re", None)


# --- metrics, classifier ----------------------------------------------------------------------------------------


def test_metrics_of_hand_made_predictions():
    gold = np.array([1, 1, 1, 0, 0, 0])
    predicted = np.array([1, 1, 0, 1, 0, 0])
    metrics = classification_metrics(gold, predicted, 2, positive=1)
    # class 1: tp 2, fp 1, fn 1 -> F1 2/3; class 0 the same; accuracy 4/6
    assert metrics == pytest.approx({"accuracy": 4 / 6, "macro_f1": 2 / 3, "f1_positive": 2 / 3})
    assert classification_metrics(gold, np.array([-1] * 6), 2, positive=1)["f1_positive"] == 0.0


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_learns_the_cued_relation(family, tiny_model_dirs, gad, tmp_path):
    result = cli("finetune", "--task", "re", "--model_name", str(tiny_model_dirs[family]), "--data", str(gad),
                 "--training_size", "100", "--epochs", "6", "--lr", "3e-3", "--batch-size", "8",
                 "--runs-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    run = next(tmp_path.glob("checkpoints/re/*/size100-seed42/run.json"))
    record = json.loads(run.read_text())
    assert set(record["metrics"]) == {"accuracy", "macro_f1", "f1_positive"}
    assert record["request"]["entity_markers"] == "text"
    assert record["metrics"]["f1_positive"] >= 0.9, record["metrics"]


def test_entity_markers_as_tokens_are_added_recorded_and_refused_with_lora(tiny_model_dirs, gad, tmp_path):
    args = ["finetune", "--task", "re", "--model_name", str(tiny_model_dirs["bert"]), "--data", str(gad),
            "--training_size", "10", "--epochs", "1", "--runs-dir", str(tmp_path), "--entity-markers", "tokens"]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    folder = next(tmp_path.glob("checkpoints/re/*/size10-seed42"))
    record = json.loads((folder / "run.json").read_text())
    assert record["added_tokens"] == ["@DISEASE$", "@GENE$"] and record["request"]["entity_markers"] == "tokens"
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    marked = [t.lower() for t in tokenizer.tokenize("@GENE$ induces @DISEASE$") if "$" in t]
    assert marked == ["@gene$", "@disease$"]  # one token each (the tiny tokenizer lower-cases)
    assert_one_sentence(cli(*args, "--lora", "--overwrite"), "LoRA freezes the embeddings")
    assert_one_sentence(cli("finetune", "--task", "nli", "--data", "demo", "--entity-markers", "tokens"),
                        "--entity-markers is an option of", "not NLI")


# --- probing, attention, attribution ----------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_entities_pooling_targets_the_two_entities_subwords(family, tiny_model_dirs):
    from bioprobe.models import load_model
    from bioprobe.registry import resolve_model

    tokenizer = load_model(resolve_model(str(tiny_model_dirs[family])), head="base").tokenizer
    kind = "encoder" if family == "bert" else "decoder"
    columns = {"text": ["the <e1> insulin </e1> was given for <e2> type 2 diabetes </e2> .",  # inline markers
                        "Polymorphisms of @GENE$ were associated with @DISEASE$ in 1,234 patients ."],  # GAD's
               "label": ["1", "0"]}
    plan = RE.probe_plan(columns, tokenizer, "entities", kind, 64)
    assert plan.blocks == 2 and plan.n_truncated == 0
    spans = {}
    for unit in plan.units:
        (first, second) = unit.targets[0]
        assert (first[3], second[3]) == (0, 1)
        spans[unit.items[0][0]] = [tokenizer.decode(unit.sequences[0][a:b]).replace(" ", "").lower()
                                   for a, b, *_ in (first, second)]
    # each entity span runs from its opening marker to its closing one (the placeholder itself for GAD)
    assert spans == {0: ["<e1>insulin</e1>", "<e2>type2diabetes</e2>"], 1: ["@gene$", "@disease$"]}


def test_pair_mass_of_a_hand_made_map():
    from bioprobe.attention.stats import pair_mass

    # one sentence, one head, 4 tokens; entity 1 = tokens 0-1, entity 2 = token 3
    att = torch.tensor([[[[0.1, 0.2, 0.3, 0.4],
                          [0.5, 0.0, 0.0, 0.5],
                          [0.25, 0.25, 0.25, 0.25],
                          [0.6, 0.2, 0.2, 0.0]]]])
    e1 = torch.tensor([[True, True, False, False]])
    e2 = torch.tensor([[False, False, False, True]])
    assert pair_mass(att, e1, e2).item() == pytest.approx((0.4 + 0.5) / 2)
    assert pair_mass(att, e2, e1).item() == pytest.approx(0.6 + 0.2)
    assert torch.isnan(pair_mass(att, e1, torch.zeros_like(e2))).all()  # an entity cut by truncation


def test_attention_table_has_the_entity_mass_of_both_models(tiny_model_dirs, gad, tmp_path):
    model = str(tiny_model_dirs["gpt2"])
    assert cli("finetune", "--task", "re", "--model_name", model, "--data", str(gad), "--training_size", "30",
               "--epochs", "1", "--runs-dir", str(tmp_path)).exit_code == 0
    result = cli("attention", "--task", "re", "--model_name", model, "--training_sizes", "30", "--limit", "12",
                 "--runs-dir", str(tmp_path), "--no-importance")
    assert result.exit_code == 0, result.output
    import pandas as pd

    table = pd.read_csv(next(tmp_path.glob("results/attention/re/*/size30-seed42-test.csv")))
    for metric in ("e1_to_e2_a", "e1_to_e2_b", "e2_to_e1_a", "e2_to_e1_b"):
        values = table.loc[table["metric"] == metric, "value"]
        assert len(values) == table["n_layers"].iloc[0] * table["n_heads"].iloc[0]
        assert values.between(0, 1).all()
    # gpt2 reads left to right: entity 1 (before entity 2 in every GAD sentence) never attends to entity 2
    assert (table.loc[table["metric"] == "e1_to_e2_a", "value"] == 0).all()
    assert (table.loc[table["metric"] == "e2_to_e1_a", "value"] > 0).all()


def test_attribution_segments_mark_the_entity_mentions(tiny_model_dirs):
    from bioprobe.attention.attribute import Attribution, segment_share
    from bioprobe.models import load_model
    from bioprobe.registry import resolve_model

    tokenizer = load_model(resolve_model(str(tiny_model_dirs["bert"])), head="base").tokenizer
    ids, _, position, segments = RE.attribution_target({"text": "the @GENE$ induces @DISEASE$ ."}, tokenizer, 64,
                                                       "encoder")
    tokens = tokenizer.convert_ids_to_tokens(ids)
    marked = "".join(t.replace("##", "") for t, s in zip(tokens, segments) if s == 1)
    assert position is None and marked.lower() == "@gene$@disease$"
    assert segments[0] == -1 and segments[-1] == -1  # [CLS], [SEP]
    scores = np.where(segments == 1, 3.0, np.where(segments == 0, -1.0, 9.0))
    share = segment_share(Attribution(tokens, scores, 0.0, "1", None, segments, []))
    on, off = (segments == 1).sum(), (segments == 0).sum()
    assert share == pytest.approx(3.0 * on / (3.0 * on + 1.0 * off))


# --- instructions -----------------------------------------------------------------------------------------------


def test_instructions_answer_positive_or_negative_and_parse_hand_written_generations(gad):
    split = load_task_data("re", str(gad)).splits["test"]
    columns = RE.build_instructions(split, ("0", "1"), 42, "test")
    assert set(columns["output"]) == {"Positive", "Negative"}
    assert len(set(columns["instruction"])) == 5 and all("Negative or Positive" in i for i in columns["instruction"])
    labels = RE.instruction_types(("0", "1"))
    assert labels == ("Negative", "Positive")
    items = [{"output": text, "stopped": True} for text in
             ("Positive", "Answer: negative.", "The relation is Positive", "Positive or Negative", "maybe")]
    golds = [RE.gold(g, labels) for g in ("Positive", "Negative", "Negative", "Positive", "Negative")]
    parsed = [RE.parse_answer(item, gold, labels) for item, gold in zip(items, golds)]
    assert [p.labels[0] if p.ok else None for p in parsed] == ["Positive", "Negative", "Positive", None, None]
    scores = RE.score_answers(items, golds, parsed, labels)
    # right: items 0 and 1; item 2 wrong; 3 (two labels) and 4 (no label) failures count as wrong
    assert scores["accuracy"] == pytest.approx(2 / 5) and scores["parse_rate"] == pytest.approx(3 / 5)
    # Positive: gold at 0 and 3, predicted at 0 and 2 -> tp 1, fp 1, fn 1
    assert scores["f1_positive"] == pytest.approx(0.5)
    assert scores["failures/several_labels"] == 1 and scores["failures/unknown_label"] == 1


def test_mixed_instruction_sets_sort_gad_rows_by_answer_shape():
    assert RE.shows_answer("@GENE$ is linked to @DISEASE$ .", "Positive")
    assert not RE.shows_answer("aspirin treats pain", "Positive")  # no entity marked
    assert not RE.shows_answer("@GENE$ is linked to @DISEASE$ .", "aspirin : B\ntreats : O")


# --- demo -------------------------------------------------------------------------------------------------------


def test_demo_relations_mark_a_chemical_and_a_disease_with_known_relations():
    from bioprobe.demo_corpus import demo_re
    from bioprobe.demo_corpus.relations import relation

    data = demo_re()
    assert {name: len(split) for name, split in data.items()} == {"train": 1373, "validation": 182, "test": 174}
    train = data["train"]
    assert set(train["label"][:]) == {"treats", "causes", "none"}
    for text, label in zip(train["text"][:50], train["label"][:50]):
        words = words_of(text)
        (a, b), (c, d) = entity_spans(words)
        assert words[a] == "<e1>" and words[c] == "<e2>"
        assert relation(" ".join(words[a + 1:b - 1]), " ".join(words[c + 1:d - 1])) == label
    assert demo_re()["test"]["text"][:] == data["test"]["text"][:]


def test_bigbio_text_schema_saved_to_disk_reads_one_element_label_lists(tmp_path):
    """BigBio's GAD (`gad_blurb_bigbio_text`, what the hub default loads): `id`, `document_id`, `text` and `labels`, a
    list of one label."""
    import datasets

    def split(n):
        return datasets.Dataset.from_dict({
            "id": [str(i) for i in range(n)], "document_id": [str(i) for i in range(n)],
            "text": [f"Variants of @GENE$ were {'linked to' if i % 2 else 'not tied to'} @DISEASE$ in cohort {i} ."
                     for i in range(n)],
            "labels": [["1" if i % 2 else "0"] for i in range(n)]})

    datasets.DatasetDict({"train": split(8), "validation": split(4), "test": split(4)}).save_to_disk(tmp_path / "gad")
    data = load_task_data("re", str(tmp_path / "gad"))
    assert data.labels == ("0", "1") and RE.positive(data.labels) == 1
    assert data.splits["test"]["label"][:] == ["0", "1", "0", "1"]
