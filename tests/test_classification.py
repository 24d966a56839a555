"""Multi-label document classification (`--task cls`): BLURB HoC files, thresholds chosen on validation, micro- and
macro-F1 and macro average precision, one-vs-rest probes with their control task and MDL, label-set answers, the
demo set, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bioprobe.data import load_task_data
from bioprobe.errors import BioprobeError
from bioprobe.tasks import get_task
from bioprobe.tasks.cls import HALLMARKS, multilabel_metrics, parse, read_blurb_hoc, thresholds
from cli_checks import assert_one_sentence, cli
from tiny_data import write_blurb_hoc

CLS = get_task("cls")


@pytest.fixture(scope="module")
def hoc(tmp_path_factory):
    return write_blurb_hoc(tmp_path_factory.mktemp("hoc"))


# --- data -------------------------------------------------------------------------------------------------------


def test_hoc_flags_become_hallmark_names(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text("index\tlabels\tsentence\n"
                    "0\t0_1,1_0,2_0,3_0,4_0,5_0,6_0,7_0,8_0,9_1\tTumours grow and evade the immune system .\n"
                    "1\t0_0,1_0,2_0,3_0,4_0,5_0,6_0,7_0,8_0,9_0\tPatients were recruited in 2004 .\n")
    split = read_blurb_hoc(path)
    assert split.rows == [{"text": "Tumours grow and evade the immune system .",
                           "labels": ["sustaining proliferative signaling", "avoiding immune destruction"]},
                          {"text": "Patients were recruited in 2004 .", "labels": []}]
    assert split.locate(1).endswith("test.tsv line 3")


def test_hoc_folder_loads_with_the_label_set_of_its_training_texts(hoc):
    data = load_task_data("cls", str(hoc))
    assert data.labels == tuple(sorted((HALLMARKS[0], HALLMARKS[2], HALLMARKS[9])))
    train = data.splits["train"]
    for text, labels in zip(train["text"][:], train["labels"][:]):
        assert ("kinase" in text.split()) == (HALLMARKS[0] in labels)
        assert ("receptor" in text.split()) == (HALLMARKS[9] in labels)


def test_labels_not_a_list_are_refused_naming_file_and_line(tmp_path):
    rows = [{"text": "a b c", "labels": ["x"]}, {"text": "d e f", "labels": "x"}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:1]))
    result = cli("finetune", "--task", "cls", "--data", str(tmp_path), "--model_name", "minilm")
    assert_one_sentence(result, "train.jsonl line 2", "is not a list")


def test_empty_label_set_is_refused(tmp_path):
    for split in ("train", "test"):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps({"text": f"t {i}", "labels": []}) + "\n"
                                                         for i in range(12)))
    with pytest.raises(BioprobeError, match="no labels at all"):
        load_task_data("cls", str(tmp_path))
    assert_one_sentence(cli("finetune", "--task", "cls", "--data", str(tmp_path), "--model_name", "minilm"),
                        "no labels at all")


def test_label_outside_the_label_set_is_refused(tmp_path):
    rows = {"train": [["a"], ["b"], []], "dev": [["a"]], "test": [["a"], ["c"]]}
    for split, labels in rows.items():
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps({"text": f"t {i}", "labels": x}) + "\n"
                                                         for i, x in enumerate(labels)))
    with pytest.raises(BioprobeError, match=r"test.jsonl line 2: label 'c' is outside the label set \(a, b\)"):
        load_task_data("cls", str(tmp_path))


# --- metrics and thresholds -------------------------------------------------------------------------------------


def test_thresholds_maximise_each_labels_validation_f1():
    probabilities = np.array([[0.9, 0.2], [0.4, 0.3], [0.35, 0.1], [0.1, 0.05]])
    gold = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    chosen = thresholds(probabilities, gold)
    assert chosen[0] == pytest.approx((0.4 + 0.35) / 2)  # the cut between 0.35 and 0.4 gives F1 1: halfway
    assert chosen[1] == 0.5  # never present in validation: the default


def test_multilabel_metrics_of_hand_made_predictions():
    gold = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 1]])
    said = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0]])
    scores = np.array([[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.2, 0.7, 0.3], [0.1, 0.6, 0.4]])
    out = multilabel_metrics(gold, said, ("a", "b", "c"), scores)
    # a: tp 1, fn 1 -> 2/3; b: tp 2, fp 1 -> 4/5; c: fn 1 -> 0; micro: tp 3, fp 1, fn 2 -> 6/9
    assert out["f1/a"] == pytest.approx(2 / 3) and out["f1/b"] == pytest.approx(0.8) and out["f1/c"] == 0
    assert out["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 3)
    assert out["micro_f1"] == pytest.approx(6 / 9)
    # average precision: a ranks its positives 1st and 2nd -> 1; b: positives at ranks 1 and 3 -> (1 + 2/3) / 2;
    # c: its positive ranked 1st -> 1
    assert out["macro_average_precision"] == pytest.approx((1 + (1 + 2 / 3) / 2 + 1) / 3)


def test_a_classifier_that_learnt_a_ranking_says_so_in_f1(tiny_model_dirs, hoc, tmp_path):
    result = cli("finetune", "--task", "cls", "--model_name", str(tiny_model_dirs["gpt2"]), "--data", str(hoc),
                 "--training_size", "100", "--epochs", "8", "--lr", "3e-3", "--batch-size", "8",
                 "--runs-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    record = json.loads(next(tmp_path.glob("checkpoints/cls/*/size100-seed42/run.json")).read_text())
    assert record["head"] == "multilabel"
    metrics = record["metrics"]
    assert {"micro_f1", "macro_f1", "macro_average_precision"} <= set(metrics)
    assert metrics["micro_f1"] >= 0.9 and metrics["macro_average_precision"] >= 0.9, metrics
    assert set(record["evaluation"]["thresholds"]) == set(record["labels"])
    assert record["evaluation"]["thresholds_from"] == "validation"
    assert 0 <= record["evaluation"]["micro_f1_at_0.5"] <= 1


# --- probing ----------------------------------------------------------------------------------------------------


def test_one_vs_rest_probes_on_separable_features():
    from bioprobe.probing.probes import fit_and_score_multilabel, mdl_multilabel, mdl_online

    rng = np.random.default_rng(0)
    Y = rng.integers(0, 2, size=(300, 3))
    X = (Y * 4.0 + rng.normal(0, 0.3, size=Y.shape)).astype(np.float32)  # each label one direction
    X = np.concatenate([X, rng.normal(size=(300, 5)).astype(np.float32)], axis=1)
    fit = fit_and_score_multilabel("logistic", X[:200], Y[:200], X[200:], Y[200:], seed=0, n_boot=200,
                                   X_validation=X[200:250], Y_validation=Y[200:250])
    assert fit.accuracy == 1.0 and fit.macro_f1 == 1.0 and fit.accuracy_ci == (1.0, 1.0)
    assert fit.predictions.shape == (100, 3) and len(fit.C) == 3 and fit.validation_accuracy == 1.0
    shuffled = Y[rng.permutation(200)]
    control = fit_and_score_multilabel("logistic", X[:200], shuffled, X[200:], Y[200:], seed=0, C=fit.C, n_boot=50)
    assert control.accuracy < 0.4  # exact match of three labels by chance: about 1/8
    code = mdl_multilabel("logistic", X, Y, seed=0)
    parts = [mdl_online("logistic", X, Y[:, k], 2, seed=0) for k in range(3)]
    assert code.codelength == pytest.approx(sum(p.codelength for p in parts))
    assert code.uniform_codelength == pytest.approx(300 * 3)
    assert code.compression > 5


def test_probe_command_writes_exact_match_and_macro_f1_over_labels(tiny_model_dirs, hoc, tmp_path):
    import pandas as pd

    result = cli("probe", "--task", "cls", "--model_name", str(tiny_model_dirs["bert"]), "--data", str(hoc),
                 "--training_size", "0", "--runs-dir", str(tmp_path), "--limit", "40")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(next(tmp_path.glob("results/probing/cls/*/size0-seed42-logistic-mean.csv")))
    metrics = set(table["metric"])
    assert {"accuracy", "macro_f1", "control_accuracy", "selectivity", "mdl_compression"} <= metrics
    assert table.loc[table["metric"] == "mdl_uniform_codelength", "value"].eq(40 * 3).all()  # 3 labels, 1 bit each
    assert table["label_C"].dropna().str.split().str.len().eq(3).all()


# --- instructions -----------------------------------------------------------------------------------------------


def test_label_set_answers_parse_order_free_and_failures_score_as_the_complement():
    labels = ("apoptosis", "angiogenesis", "invasion")
    assert parse("Invasion, apoptosis.", labels).labels == ["invasion", "apoptosis"]
    assert parse("none", labels).labels == [] and parse("None.", labels).ok
    bad = parse("apoptosis, metabolism", labels)
    assert not bad.ok and bad.failures["unknown_label"] == 1
    golds = [["apoptosis"], [], ["angiogenesis", "invasion"]]
    items = [{"output": text, "stopped": True} for text in ("apoptosis", "none", "something else")]
    parsed = [CLS.parse_answer(item, gold, labels) for item, gold in zip(items, golds)]
    scores = CLS.score_answers(items, golds, parsed, labels)
    # the failed third answer counts as "apoptosis" (the complement of its gold): apoptosis tp 1, fp 1 -> 2/3;
    # angiogenesis and invasion fn 1 each -> 0
    assert scores["f1/apoptosis"] == pytest.approx(2 / 3) and scores["f1/invasion"] == 0
    assert scores["micro_f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 2))
    assert scores["parse_rate"] == pytest.approx(2 / 3)


def test_instructions_list_the_labels_and_answer_in_label_set_order(hoc):
    data = load_task_data("cls", str(hoc))
    columns = CLS.build_instructions(data.splits["test"], data.labels, 42, "test")
    for output, found in zip(columns["output"], data.splits["test"]["labels"][:]):
        assert output == (", ".join(label for label in data.labels if label in found) or "none")
        assert CLS.gold(output, data.labels) == [label for label in data.labels if label in found]
    assert all(", ".join(data.labels) in text for text in columns["instruction"])


# --- demo -------------------------------------------------------------------------------------------------------


def test_demo_topics_follow_the_generator_tables():
    from bioprobe.demo_corpus import demo_cls
    from bioprobe.demo_corpus.relations import TOPICS

    data = demo_cls()
    train = data["train"]
    labels = train["labels"][:]
    assert len(train) == 2400 and {label for row in labels for label in row} == set(TOPICS)
    share_none = np.mean([not row for row in labels])
    assert 0.6 < share_none < 0.8  # most texts have no topic, as most HoC sentences have no hallmark
    assert all(row == [t for t in TOPICS if t in row] for row in labels)  # label-set order


def test_bigbio_text_schema_saved_to_disk_reads_label_name_lists(tmp_path):
    """BigBio's HoC (`hallmarks_of_cancer_bigbio_text`, the hub default): `text` and `labels`, a list of hallmark
    names, empty for most sentences."""
    import datasets

    names = [[], ["inducing angiogenesis"], [], ["resisting cell death", "genomic instability and mutation"]]

    def split(n):
        return datasets.Dataset.from_dict({"id": [str(i) for i in range(n)], "document_id": ["d"] * n,
                                           "text": [f"Sentence {i} of the abstract ." for i in range(n)],
                                           "labels": [names[i % 4] for i in range(n)]})

    datasets.DatasetDict({"train": split(8), "validation": split(4), "test": split(4)}).save_to_disk(tmp_path / "hoc")
    data = load_task_data("cls", str(tmp_path / "hoc"))
    assert data.labels == ("genomic instability and mutation", "inducing angiogenesis", "resisting cell death")
    assert data.splits["test"]["labels"][:] == names
