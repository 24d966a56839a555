"""Known-answer tests for bioprobe.data: every input format, integer tag names, and every user error."""

import json
import re
import time

import datasets
import numpy as np
import pytest

from bioprobe import data as data_module
from bioprobe.data import TaskData, load_task_data
from bioprobe.errors import BioprobeError
from bioprobe.tasks.ner import label_set as ner_label_set
from bioprobe.tasks.nli import LABELS as NLI_LABELS

DISEASE_LABELS = ("O", "B-Disease", "I-Disease")


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path, rows):
    return write(path, "".join(json.dumps(row) + "\n" for row in rows))


def rows(dataset):
    return [dict(row) for row in dataset]


def ner_rows(*sentences):
    return [{"tokens": tokens, "tags": tags} for tokens, tags in sentences]


def nli_row(premise, hypothesis, label):
    return {"premise": premise, "hypothesis": hypothesis, "label": label}


def assert_error(match, *args, **kwargs):
    """Call load_task_data, expect a one-sentence BioprobeError matching ``match``; return the message."""
    with pytest.raises(BioprobeError) as caught:
        load_task_data(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".")
    assert re.search(match, message), message
    return message


# --- formats ------------------------------------------------------------------------------------------


def test_conll_docstart_space_and_tab_separators_and_dev_file(tmp_path):
    write(
        tmp_path / "train.conll",
        "-DOCSTART- -X- O O\n\nAspirin NN B-Chemical\ncauses VB O\nulcers NNS B-Disease\n\n"
        "Gastric JJ B-Disease\nulcer NN I-Disease\n",
    )
    write(tmp_path / "dev.txt", "Renal\tB-Disease\nfailure\tI-Disease\n.\tO\n")
    write(tmp_path / "test.iob", "-DOCSTART-\n\nNo O\ndisease O\n\n\n\nDiabetes B-Disease\n")
    result = load_task_data("ner", str(tmp_path))
    assert isinstance(result, TaskData)
    assert list(result.splits) == ["train", "validation", "test"]
    assert rows(result.splits["train"]) == ner_rows(
        (["Aspirin", "causes", "ulcers"], ["B-Chemical", "O", "B-Disease"]),
        (["Gastric", "ulcer"], ["B-Disease", "I-Disease"]),
    )
    assert rows(result.splits["validation"]) == ner_rows((["Renal", "failure", "."], ["B-Disease", "I-Disease", "O"]))
    assert rows(result.splits["test"]) == ner_rows((["No", "disease"], ["O", "O"]), (["Diabetes"], ["B-Disease"]))
    assert result.labels == ("O", "B-Chemical", "B-Disease", "I-Disease")
    assert result.source == f"{tmp_path.resolve()} (conll)"


def test_path_object_and_task_case(tmp_path):
    write(tmp_path / "train.conll", "a O\n")
    write(tmp_path / "validation.conll", "b O\n")
    write(tmp_path / "test.conll", "c O\n")
    result = load_task_data("NER", tmp_path)
    assert rows(result.splits["test"]) == ner_rows((["c"], ["O"]))
    assert result.labels == ("O",)


def test_ner_tsv_and_bio_files_are_conll(tmp_path):
    write(tmp_path / "train.tsv", "EGFR\tB-protein\ngene\tO\n")
    write(tmp_path / "validation.bio", "TNF  alpha-ignored  B-protein\n")
    write(tmp_path / "test.tsv", "IL-2\tB-protein\nmRNA\tO\n")
    result = load_task_data("ner", str(tmp_path))
    assert rows(result.splits["train"]) == ner_rows((["EGFR", "gene"], ["B-protein", "O"]))
    assert rows(result.splits["validation"]) == ner_rows((["TNF"], ["B-protein"]))
    assert result.labels == ("O", "B-protein")


def test_jsonl_ner_with_words_and_ner_tags_aliases(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"id": 1, "words": ["a", "fever"], "ner_tags": ["O", "B-Disease"]}])
    write_jsonl(tmp_path / "valid.jsonl", [{"words": ["cough"], "ner_tags": ["B-Disease"]}])
    write(tmp_path / "test.jsonl", '\n{"tokens": ["no", "pain"], "tags": ["O", "O"]}\n\n')
    result = load_task_data("ner", str(tmp_path))
    assert rows(result.splits["train"]) == ner_rows((["a", "fever"], ["O", "B-Disease"]))
    assert rows(result.splits["validation"]) == ner_rows((["cough"], ["B-Disease"]))
    assert rows(result.splits["test"]) == ner_rows((["no", "pain"], ["O", "O"]))
    assert result.source == f"{tmp_path.resolve()} (jsonl)"


def test_json_array_file(tmp_path):
    write(tmp_path / "train.json", json.dumps([{"premise": "p1", "hypothesis": "h1", "label": "neutral"}]))
    write(tmp_path / "val.json", json.dumps([{"premise": "p2", "hypothesis": "h2", "label": "entailment"}]))
    write(tmp_path / "test.json", json.dumps([{"premise": "p3", "hypothesis": "h3", "label": "contradiction"}]))
    result = load_task_data("nli", str(tmp_path))
    assert rows(result.splits["validation"]) == [nli_row("p2", "h2", "entailment")]
    assert result.labels == NLI_LABELS


def test_csv_nli_with_quotes_and_label_spellings(tmp_path):
    write(
        tmp_path / "train.csv",
        'sentence1,sentence2,gold_label\n"Fever, cough",Patient is ill,Entailment\n'
        'BP normal,"He said ""fine""",NEUTRAL\n',
    )
    write(tmp_path / "dev.csv", "premise,hypothesis,label\nA,B,contradicts\n")
    write(tmp_path / "test.csv", "text_a,text_b,label\nC,D, contradiction \n")
    result = load_task_data("nli", str(tmp_path))
    assert rows(result.splits["train"]) == [
        nli_row("Fever, cough", "Patient is ill", "entailment"),
        nli_row("BP normal", 'He said "fine"', "neutral"),
    ]
    assert rows(result.splits["validation"]) == [nli_row("A", "B", "contradiction")]
    assert rows(result.splits["test"]) == [nli_row("C", "D", "contradiction")]
    assert result.source == f"{tmp_path.resolve()} (csv)"


def test_tsv_nli_keeps_quote_characters(tmp_path):
    write(tmp_path / "train.tsv", 'premise\thypothesis\tlabel\n"Quoted" start\tend "here\tentailment\n')
    write(tmp_path / "validation.tsv", "premise\thypothesis\tlabel\nx\ty\tneutral\n")
    write(tmp_path / "test.tsv", "premise\thypothesis\tlabel\nu\tv\tcontradiction\n")
    result = load_task_data("nli", str(tmp_path))
    assert rows(result.splits["train"]) == [nli_row('"Quoted" start', 'end "here', "entailment")]
    assert result.source == f"{tmp_path.resolve()} (tsv)"


def test_csv_ner_cells_hold_json_lists_or_whitespace_separated_items(tmp_path):
    write(tmp_path / "train.csv", 'tokens,tags\n"[""a"", ""b c""]","[""O"", ""B-Disease""]"\nx y,O B-Disease\n')
    write(tmp_path / "test.csv", "tokens,tags\nz,O\n")
    write(tmp_path / "dev.csv", "tokens,tags\nw,O\n")
    result = load_task_data("ner", str(tmp_path))
    assert rows(result.splits["train"]) == ner_rows(
        (["a", "b c"], ["O", "B-Disease"]), (["x", "y"], ["O", "B-Disease"])
    )


def test_parquet_with_classlabel_integer_tags(tmp_path):
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=list(DISEASE_LABELS))),
        }
    )
    for split, tokens, tags in [
        ("train", ["renal", "failure", "today"], [1, 2, 0]),
        ("validation", ["sepsis"], [1]),
        ("test", ["ok"], [0]),
    ]:
        datasets.Dataset.from_dict({"tokens": [tokens], "ner_tags": [tags]}, features=features).to_parquet(
            str(tmp_path / f"{split}.parquet")
        )
    result = load_task_data("ner", str(tmp_path))
    assert rows(result.splits["train"]) == ner_rows((["renal", "failure", "today"], ["B-Disease", "I-Disease", "O"]))
    assert rows(result.splits["validation"]) == ner_rows((["sepsis"], ["B-Disease"]))
    assert result.labels == DISEASE_LABELS
    assert result.source == f"{tmp_path.resolve()} (parquet)"


def test_save_to_disk_with_classlabel_nli_labels_and_dev_split(tmp_path):
    features = datasets.Features(
        {
            "sentence1": datasets.Value("string"),
            "sentence2": datasets.Value("string"),
            "label": datasets.ClassLabel(names=list(NLI_LABELS)),
        }
    )

    def split(pairs):
        return datasets.Dataset.from_dict(
            {
                "sentence1": [p for p, _, _ in pairs],
                "sentence2": [h for _, h, _ in pairs],
                "label": [label for *_, label in pairs],
            },
            features=features,
        )

    datasets.DatasetDict(
        {
            "train": split([("p1", "h1", 0), ("p2", "h2", 2)]),
            "dev": split([("p3", "h3", 1)]),
            "test": split([("p4", "h4", 2)]),
        }
    ).save_to_disk(str(tmp_path / "saved"))
    result = load_task_data("nli", str(tmp_path / "saved"))
    assert rows(result.splits["train"]) == [nli_row("p1", "h1", "entailment"), nli_row("p2", "h2", "contradiction")]
    assert rows(result.splits["validation"]) == [nli_row("p3", "h3", "neutral")]
    assert rows(result.splits["test"]) == [nli_row("p4", "h4", "contradiction")]
    assert result.source == f"{(tmp_path / 'saved').resolve()} (save_to_disk)"


def mednli_rows(prefix, labels):
    return [
        {"pairID": f"{prefix}{i}", "sentence1": f"{prefix} premise {i}", "sentence2": f"{prefix} hypothesis {i}",
         "gold_label": label, "sentence1_parse": "(ROOT)"}
        for i, label in enumerate(labels)
    ]


def write_mednli(directory):
    directory.mkdir(exist_ok=True)
    write_jsonl(directory / "mli_train_v1.jsonl", mednli_rows("train", ["entailment", "contradiction", "neutral"]))
    write_jsonl(directory / "mli_dev_v1.jsonl", mednli_rows("dev", ["neutral"]))
    write_jsonl(directory / "mli_test_v1.jsonl", mednli_rows("test", ["contradiction", "entailment"]))
    write(directory / "README.txt", "MedNLI\n")
    return directory


def test_official_mednli_files(tmp_path):
    write_mednli(tmp_path)
    result = load_task_data("nli", str(tmp_path))
    assert rows(result.splits["train"]) == [
        nli_row("train premise 0", "train hypothesis 0", "entailment"),
        nli_row("train premise 1", "train hypothesis 1", "contradiction"),
        nli_row("train premise 2", "train hypothesis 2", "neutral"),
    ]
    assert rows(result.splits["validation"]) == [nli_row("dev premise 0", "dev hypothesis 0", "neutral")]
    assert [r["label"] for r in result.splits["test"]] == ["contradiction", "entailment"]
    assert result.source == f"{tmp_path.resolve()} (mednli)"
    assert result.labels == NLI_LABELS


def test_nli_default_reads_mednli_dir(tmp_path, monkeypatch):
    write_mednli(tmp_path / "mednli")
    monkeypatch.setenv("MEDNLI_DIR", str(tmp_path / "mednli"))
    result = load_task_data("nli")
    assert result.splits["train"].num_rows == 3
    assert result.source == f"{(tmp_path / 'mednli').resolve()} (mednli)"


def test_nli_default_without_mednli_dir_explains_physionet(monkeypatch):
    monkeypatch.delenv("MEDNLI_DIR", raising=False)
    message = assert_error("physionet", "nli")
    assert "https://physionet.org/content/mednli/" in message
    assert "--data demo" in message and "MEDNLI_DIR" in message and "--data DIR" in message


def test_missing_mednli_dir_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDNLI_DIR", str(tmp_path / "nowhere"))
    assert_error(r"nowhere \(from MEDNLI_DIR\) does not exist", "nli")


def test_only_train_and_test_carves_seeded_ten_percent_validation(tmp_path):
    sentences = [([f"w{i}"], ["O"]) for i in range(20)]
    write(tmp_path / "train.conll", "\n\n".join(f"{t[0]} {g[0]}" for t, g in sentences) + "\n")
    write(tmp_path / "test.conll", "x O\n")
    result = load_task_data("ner", str(tmp_path))
    held_out = sorted(int(i) for i in np.random.default_rng(0).permutation(20)[:2])
    assert rows(result.splits["validation"]) == ner_rows(*[sentences[i] for i in held_out])
    assert rows(result.splits["train"]) == ner_rows(*[s for i, s in enumerate(sentences) if i not in held_out])
    assert result.source == f"{tmp_path.resolve()} (conll) (validation = seeded 10% of train)"
    again = load_task_data("ner", str(tmp_path))
    assert rows(again.splits["validation"]) == rows(result.splits["validation"])


def test_carving_needs_two_train_examples(tmp_path):
    write(tmp_path / "train.conll", "x O\n")
    write(tmp_path / "test.conll", "y O\n")
    assert_error(r"train\.conll has only 1 example\(s\), too few to carve a validation split", "ner", str(tmp_path))


# --- integer tags -------------------------------------------------------------------------------------


def test_integer_tags_through_labels_argument(tmp_path):
    for split in ("train", "dev", "test"):
        write_jsonl(tmp_path / f"{split}.jsonl", [{"tokens": ["acute", "asthma", "."], "tags": [1, 2, 0]}])
    expected = ner_rows((["acute", "asthma", "."], ["B-Disease", "I-Disease", "O"]))
    assert rows(load_task_data("ner", str(tmp_path), labels=list(DISEASE_LABELS)).splits["test"]) == expected
    assert rows(load_task_data("ner", str(tmp_path), labels="O,B-Disease,I-Disease").splits["train"]) == expected


def test_labels_argument_overrides_classlabel_names(tmp_path):
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-X", "I-X"])),
        }
    )
    ds = datasets.Dataset.from_dict({"tokens": [["a", "b"]], "tags": [[1, 2]]}, features=features)
    datasets.DatasetDict({"train": ds, "validation": ds, "test": ds}).save_to_disk(str(tmp_path))
    assert load_task_data("ner", str(tmp_path)).splits["train"][0]["tags"] == ["B-X", "I-X"]
    relabelled = load_task_data("ner", str(tmp_path), labels=["O", "B-Gene", "I-Gene"])
    assert relabelled.splits["train"][0]["tags"] == ["B-Gene", "I-Gene"]
    assert relabelled.labels == ("O", "B-Gene", "I-Gene")


def test_integer_tags_without_names_ask_for_labels(tmp_path):
    for split in ("train", "dev", "test"):
        write_jsonl(tmp_path / f"{split}.jsonl", [{"tokens": ["a"], "tags": [0]}])
    message = assert_error(r"pass --labels", "ner", str(tmp_path))
    assert f"{(tmp_path / 'dev.jsonl').resolve()} line 1, token 1" in message


def test_integer_tag_outside_the_names(tmp_path):
    for split in ("train", "dev", "test"):
        write_jsonl(tmp_path / f"{split}.jsonl", [{"tokens": ["a"], "tags": [5]}])
    expected = r"dev\.jsonl line 1, token 1: tag id 5 is outside the 3 tag names"
    assert_error(expected, "ner", str(tmp_path), labels=DISEASE_LABELS)


def test_integer_nli_labels_need_names(tmp_path):
    for split in ("train", "dev", "test"):
        write_jsonl(tmp_path / f"{split}.jsonl", [{"premise": "p", "hypothesis": "h", "label": 2}])
    expected = r"dev\.jsonl line 1: label 2 is an integer id .* --labels entailment,neutral,contradiction"
    assert_error(expected, "nli", str(tmp_path))
    result = load_task_data("nli", str(tmp_path), labels=NLI_LABELS)
    assert result.splits["test"][0]["label"] == "contradiction"


def fake_hub(monkeypatch, splits):
    """Make the hub reachable and return ``splits`` from load_dataset, recording the ids asked for."""
    asked = []
    monkeypatch.setattr(data_module, "_hub_unreachable", lambda dataset_id: None)

    def load_dataset(dataset_id, *args, **kwargs):
        asked.append(dataset_id)
        return splits

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return asked


def test_bionlp2004_integer_tags_use_the_known_label_list(monkeypatch):
    ds = datasets.Dataset.from_dict({"tokens": [["IL-2", "gene", "in", "T", "cells"]], "tags": [[3, 0, 0, 5, 6]]})
    asked = fake_hub(monkeypatch, datasets.DatasetDict({"train": ds, "validation": ds, "test": ds}))
    result = load_task_data("ner")
    assert asked == ["tner/bionlp2004"]
    assert result.source == "hub:tner/bionlp2004"
    assert result.splits["test"][0]["tags"] == ["B-protein", "O", "O", "B-cell_type", "I-cell_type"]
    assert result.labels == ("O", "B-cell_type", "I-cell_type", "B-protein")


def test_other_hub_dataset_with_integer_tags_needs_labels(monkeypatch):
    ds = datasets.Dataset.from_dict({"tokens": [["a"]], "tags": [[1]]})
    fake_hub(monkeypatch, datasets.DatasetDict({"train": ds, "validation": ds, "test": ds}))
    assert_error(r"hub:someone/ner split 'train' row 1, token 1: .* pass --labels", "ner", "someone/ner")


def test_ner_label_order():
    tags = ["I-protein", "B-DNA", "O", "B-protein", "I-DNA", "B-cell_type"]
    assert ner_label_set(tags) == ("O", "B-DNA", "I-DNA", "B-cell_type", "B-protein", "I-protein")


# --- the hub and the demo -------------------------------------------------------------------------------


def test_unreachable_hub_fails_fast_with_a_hint():
    start = time.monotonic()
    message = assert_error(
        r"^Could not load dataset 'bioprobe-tests/no-such-dataset-7f3a' from the Hugging Face hub \(",
        "ner",
        "bioprobe-tests/no-such-dataset-7f3a",
    )
    assert time.monotonic() - start < 30
    assert message.endswith("; pass --data PATH to a local copy or --data demo.")


def test_load_errors_become_bioprobe_errors(monkeypatch):
    monkeypatch.setattr(data_module, "_hub_unreachable", lambda dataset_id: None)

    def load_dataset(dataset_id, *args, **kwargs):
        raise ValueError("Config name is missing.\nPlease pick one among the available configs")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    message = assert_error(r"\(Config name is missing\); pass --data PATH", "ner", "org/multi")
    assert message.startswith("Could not load dataset 'org/multi' from the Hugging Face hub")


def test_unreachable_hub_still_serves_the_local_cache_in_offline_mode(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(data_module, "_hub_unreachable", lambda dataset_id: "the hub is unreachable: no DNS")
    ds = datasets.Dataset.from_dict({"premise": ["p"], "hypothesis": ["h"], "label": ["neutral"]})
    seen = []

    def load_dataset(dataset_id, *args, **kwargs):
        seen.append((datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE))
        return datasets.DatasetDict({"train": ds, "validation": ds, "test": ds})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    before = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    result = load_task_data("nli", "org/cached-nli")
    assert seen == [(True, True)]
    assert (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE) == before
    assert result.source == "hub:org/cached-nli"
    assert rows(result.splits["test"]) == [nli_row("p", "h", "neutral")]


def test_offline_mode_is_restored():
    from huggingface_hub import constants

    before = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    with data_module._offline_mode():
        assert datasets.config.HF_HUB_OFFLINE and constants.HF_HUB_OFFLINE
    assert (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE) == before


@pytest.mark.parametrize("task", ["ner", "nli"])
def test_demo_corpus(task):
    result = load_task_data(task, "demo")
    assert result.source == "demo"
    assert list(result.splits) == ["train", "validation", "test"]
    assert all(result.splits[split].num_rows > 0 for split in result.splits)
    if task == "ner":
        assert set(result.splits["train"].column_names) == {"tokens", "tags"}
        assert result.labels[0] == "O"
        assert result.labels == ner_label_set(result.labels)
    else:
        assert set(result.splits["train"].column_names) == {"premise", "hypothesis", "label"}
        assert set(result.splits["train"]["label"]) <= set(NLI_LABELS)
        assert result.labels == NLI_LABELS


# --- errors -----------------------------------------------------------------------------------------------


def three_conll_files(directory, train):
    write(directory / "train.conll", train)
    write(directory / "dev.conll", "a O\n")
    write(directory / "test.conll", "b O\n")
    return str(directory)


def test_unknown_task():
    assert_error(r"Unknown task 'qa'", "qa", "demo")


def test_missing_path(tmp_path):
    assert_error(rf"The data path {tmp_path.resolve()}/absent does not exist", "ner", str(tmp_path / "absent"))


def test_path_that_is_a_file(tmp_path):
    assert_error(r"is a file, but --data needs a directory", "ner", str(write(tmp_path / "train.conll", "a O\n")))


def test_empty_directory(tmp_path):
    assert_error(r"has no recognisable split files", "ner", str(tmp_path))


def test_directory_without_recognisable_files(tmp_path):
    write(tmp_path / "README.md", "hello\n")
    write(tmp_path / "train.xml", "<x/>\n")
    write(tmp_path / "test.txt", "a O\n")  # .txt is CoNLL for NER only
    assert_error(r"has no recognisable split files", "nli", str(tmp_path))


def test_directory_without_test_file(tmp_path):
    write(tmp_path / "train.conll", "a O\n")
    write(tmp_path / "dev.conll", "a O\n")
    assert_error(rf"The data directory {tmp_path.resolve()} has no test file", "ner", str(tmp_path))


def test_directory_without_train_file(tmp_path):
    write(tmp_path / "test.conll", "a O\n")
    assert_error(r"has no train file", "ner", str(tmp_path))


def test_two_files_for_one_split(tmp_path):
    write(tmp_path / "train.conll", "a O\n")
    write(tmp_path / "train.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n')
    write(tmp_path / "test.conll", "a O\n")
    assert_error(r"has two train files, train\.conll and train\.jsonl", "ner", str(tmp_path))


def test_conll_line_with_one_column(tmp_path):
    path = three_conll_files(tmp_path, "Aspirin B-Chemical\n\nulcer O\nbleeding\n")
    message = assert_error(r"train\.conll line 4: found one column", "ner", path)
    assert str((tmp_path / "train.conll").resolve()) in message


def test_jsonl_line_that_is_not_json(tmp_path):
    write(tmp_path / "train.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n\n{"tokens": ["b"], \n')
    write(tmp_path / "test.conll", "a O\n")
    assert_error(r"train\.jsonl line 3: not valid JSON", "ner", str(tmp_path))


def test_jsonl_line_that_is_not_an_object(tmp_path):
    write(tmp_path / "train.jsonl", '["a", "O"]\n')
    write(tmp_path / "test.conll", "a O\n")
    assert_error(r"train\.jsonl line 1: expected a JSON object, found list", "ner", str(tmp_path))


def test_missing_column(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"tokens": ["a"], "tags": ["O"]}, {"tokens": ["b"], "tag": ["O"]}])
    write(tmp_path / "test.conll", "a O\n")
    assert_error(
        r"train\.jsonl line 2: no tags column \(expected one of tags, ner_tags, labels; found tokens, tag\)",
        "ner",
        str(tmp_path),
    )


def test_missing_nli_column_in_csv(tmp_path):
    write(tmp_path / "train.csv", "premise,label\np,neutral\n")
    write(tmp_path / "test.csv", "premise,hypothesis,label\np,h,neutral\n")
    assert_error(r"train\.csv line 2: no hypothesis column", "nli", str(tmp_path))


def test_csv_row_with_wrong_column_count(tmp_path):
    write(tmp_path / "train.csv", "premise,hypothesis,label\np,h,neutral\np,h\n")
    write(tmp_path / "test.csv", "premise,hypothesis,label\np,h,neutral\n")
    assert_error(r"train\.csv line 3: found 2 columns, but the header has 3", "nli", str(tmp_path))


@pytest.mark.parametrize(
    ("tag", "line"),
    [("PER", 2), ("B", 2), ("X-Disease", 2), ("B-", 2), ("b-Disease", 2)],
)
def test_tags_that_are_not_iob2(tmp_path, tag, line):
    path = three_conll_files(tmp_path, f"a O\nb {tag}\n")
    message = assert_error(rf"train\.conll line {line}: tag '{tag}' is not allowed because", "ner", path)
    assert "tags must be IOB2 (BIO) with an entity type such as B-Disease" in message


@pytest.mark.parametrize("tag", ["S-Disease", "E-Disease", "L-Disease", "U-Disease"])
def test_bioes_tags_are_rejected(tmp_path, tag):
    path = three_conll_files(tmp_path, f"a O\n\nb {tag}\n")
    message = assert_error(r"train\.conll line 3: .*BIOES/BILOU tags must be converted", "ner", path)
    assert "must be IOB2 (BIO) with an entity type such as B-Disease" in message


def test_iob1_tag_after_o_is_rejected(tmp_path):
    path = three_conll_files(tmp_path, "x O\n\nthe O\nsevere O\nasthma I-Disease\n")
    message = assert_error(r"train\.conll line 5: tag 'I-Disease' follows 'O'", "ner", path)
    assert "must be IOB2 (BIO) with an entity type such as B-Disease" in message
    assert "IOB1" in message


def test_i_tag_of_another_type_is_rejected(tmp_path):
    path = three_conll_files(tmp_path, "lung B-Disease\ncancer I-Chemical\n")
    assert_error(r"train\.conll line 2: tag 'I-Chemical' follows 'B-Disease'", "ner", path)


def test_i_tag_at_sentence_start_is_rejected_in_jsonl(tmp_path):
    write_jsonl(
        tmp_path / "train.jsonl", [{"tokens": ["a"], "tags": ["O"]}, {"tokens": ["b", "c"], "tags": ["I-Gene", "O"]}]
    )
    write(tmp_path / "test.conll", "a O\n")
    assert_error(r"train\.jsonl line 2, token 1: tag 'I-Gene' follows 'O'", "ner", str(tmp_path))


def test_tokens_and_tags_of_different_length(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"tokens": ["a", "b"], "tags": ["O"]}])
    write(tmp_path / "test.conll", "a O\n")
    assert_error(r"train\.jsonl line 1: 2 tokens but 1 tags", "ner", str(tmp_path))


def test_nli_label_outside_the_three(tmp_path):
    write(tmp_path / "train.csv", "premise,hypothesis,label\np,h,neutral\np,h,maybe\n")
    write(tmp_path / "test.csv", "premise,hypothesis,label\np,h,neutral\n")
    expected = r"train\.csv line 3: label 'maybe' is not one of entailment, neutral, contradiction"
    assert_error(expected, "nli", str(tmp_path))


def test_nli_classlabel_id_minus_one_is_rejected(tmp_path):
    features = datasets.Features(
        {"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
         "label": datasets.ClassLabel(names=list(NLI_LABELS))}
    )
    ds = datasets.Dataset.from_dict(
        {"premise": ["p", "q"], "hypothesis": ["h", "i"], "label": [0, -1]}, features=features
    )
    datasets.DatasetDict({"train": ds, "validation": ds, "test": ds}).save_to_disk(str(tmp_path))
    assert_error(r"split 'train' row 2: label id -1 is outside the 3 label names", "nli", str(tmp_path))


def test_empty_split(tmp_path):
    write(tmp_path / "train.conll", "a O\n")
    write(tmp_path / "dev.conll", "a O\n")
    write(tmp_path / "test.conll", "-DOCSTART- -X- O O\n\n")
    assert_error(r"The test split from .*test\.conll has no examples", "ner", str(tmp_path))


def test_empty_csv_split(tmp_path):
    write(tmp_path / "train.csv", "premise,hypothesis,label\np,h,neutral\n")
    write(tmp_path / "dev.csv", "premise,hypothesis,label\n")
    write(tmp_path / "test.csv", "premise,hypothesis,label\np,h,neutral\n")
    assert_error(r"The validation split from .*dev\.csv has no examples", "nli", str(tmp_path))


def test_not_utf8(tmp_path):
    (tmp_path / "train.conll").write_bytes(b"caf\xe9 O\n")
    write(tmp_path / "test.conll", "a O\n")
    assert_error(r"train\.conll is not UTF-8 text", "ner", str(tmp_path))


def test_empty_data_argument():
    assert_error(r"--data value is empty", "ner", "  ")


def test_a_saved_dataset_is_read_whole_not_row_by_row(tmp_path, monkeypatch):
    """Rows of a DatasetDict (save_to_disk, hub, demo) are read in one go: as many single-row reads (an integer
    index, or one step of iterating a Dataset) for 40 sentences as for 4."""
    count = [0]
    getitem, iterate = datasets.Dataset.__getitem__, datasets.Dataset.__iter__

    def counted_getitem(self, key):
        count[0] += isinstance(key, (int, np.integer))
        return getitem(self, key)

    def counted_iter(self):
        for row in iterate(self):
            count[0] += 1
            yield row

    reads = []
    for n in (4, 40):
        split = datasets.Dataset.from_dict({"tokens": [["renal", "failure", "today"]] * n,
                                            "tags": [["B-Disease", "I-Disease", "O"]] * n})
        datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / f"saved{n}"))
        monkeypatch.setattr(datasets.Dataset, "__getitem__", counted_getitem)
        monkeypatch.setattr(datasets.Dataset, "__iter__", counted_iter)
        count[0] = 0
        result = load_task_data("ner", str(tmp_path / f"saved{n}"))
        reads.append(count[0])
        monkeypatch.undo()
        assert len(result.splits["test"]) == n
        assert result.splits["test"][n - 1] == {"tokens": ["renal", "failure", "today"],
                                                "tags": ["B-Disease", "I-Disease", "O"]}
    assert reads[0] == reads[1]
