"""`bioprobe probe` end to end on tiny models of every family: tables, CKA against the pretrained model, figures,
the task scripts, and the bad-input cases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from bioprobe import runstore
from bioprobe.cli import main
from bioprobe.registry import resolve_model
from bioprobe.probing.activations import get_activations
from bioprobe.probing.probes import fit_and_score, mdl_online
from bioprobe.probing.run import parse_layers
from bioprobe.tasks import get_task
from tiny_data import write_cued_ner, write_cued_nli
from tiny_models import FAMILIES

ROOT = Path(__file__).resolve().parent.parent


def task_labels(task, gold, bio):
    """The probe's label per item (`Task.probe_labels`)."""
    return get_task(task).probe_labels(gold, bio)


REQUIRED = ["analysis", "task", "model", "training_size", "seed", "layer", "head", "metric", "value", "probe",
            "pooling", "n_train", "n_test", "ci_low", "ci_high"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ok(*args: str):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def cued(tmp_path_factory):
    root = tmp_path_factory.mktemp("cued")
    return {"ner": write_cued_ner(root / "ner"), "nli": write_cued_nli(root / "nli")}


def table(runs: Path, task: str, model: str, size: int, variant: str) -> pd.DataFrame:
    """A probing table; `model` is the tiny model's folder (its name in the runs dir is e.g. `bert-local`)."""
    name = resolve_model(str(model)).name
    return pd.read_csv(runstore.results_path(runs, "probing", task, name, size, 42, variant))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", ["ner", "nli"])
def test_every_family_probes_its_finetuned_checkpoint_against_the_pretrained_one(family, task, tiny_model_dirs,
                                                                                 cued, tmp_path):
    runs, model = tmp_path / "runs", str(tiny_model_dirs[family])
    common = ["--task", task, "--model_name", model, "--runs-dir", str(runs)]
    ok("finetune", *common, "--data", str(cued[task]), "--training_size", "30", "--epochs", "1", "--batch-size", "8")
    ok("probe", *common, "--training_size", "30")  # data: the run's own
    pooling = {"ner": "first", "nli": "joint-mean"}[task]
    rows = table(runs, task, model, 30, f"logistic-{pooling}")
    assert list(rows.columns[:9]) == list(runstore.TIDY_COLUMNS) and set(REQUIRED) <= set(rows.columns)
    assert sorted(rows["layer"].unique()) == [0, 1, 2]  # embeddings + 2 layers
    per_layer = rows[rows["metric"].isin(["accuracy", "macro_f1", "control_accuracy", "selectivity", "cka",
                                          "mdl_compression"])]
    assert per_layer.groupby("metric")["layer"].count().eq(3).all() and len(per_layer) == 18
    accuracy = rows[rows["metric"] == "accuracy"].set_index("layer")
    assert ((accuracy["ci_low"] <= accuracy["value"]) & (accuracy["value"] <= accuracy["ci_high"])).all()
    selectivity = rows[rows["metric"] == "selectivity"].set_index("layer")["value"]
    control = rows[rows["metric"] == "control_accuracy"].set_index("layer")["value"]
    np.testing.assert_allclose(selectivity, accuracy["value"] - control, atol=1e-12)
    cka = rows[rows["metric"] == "cka"]["value"]
    assert cka.between(-0.2, 1.0 + 1e-6).all()
    matrix = rows[rows["metric"] == "cka_matrix"]
    assert len(matrix) == 9 and set(matrix["reference_layer"]) == {0, 1, 2}
    # the table's numbers are what the probe gives on the cached vectors
    train = get_activations(task=task, model_name=model, training_size=30, split="train", runs_dir=runs)
    test = get_activations(task=task, model_name=model, training_size=30, split="test", runs_dir=runs)
    names = sorted(set(task_labels(task, train.label, False)) | set(task_labels(task, test.label, False)),
                   key=lambda n: (n != "O", n))
    ids = {n: i for i, n in enumerate(names)}
    y_train = np.array([ids[v] for v in task_labels(task, train.label, False)])
    y_test = np.array([ids[v] for v in task_labels(task, test.label, False)])
    again = fit_and_score("logistic", train.features[2], y_train, test.features[2], y_test, len(names), seed=42,
                          groups=test.unit if task == "ner" else None)
    assert again.accuracy == pytest.approx(accuracy.loc[2, "value"])
    assert accuracy.loc[2, "n_train"] == len(y_train) and accuracy.loc[2, "n_test"] == len(y_test)


def test_cued_ner_is_read_off_the_cue_words_and_beats_the_control_task(tiny_model_dirs, cued, tmp_path):
    """Entities in the cued data are fixed words: a probe on the embeddings finds them (accuracy 1), and the control
    task, which can memorise word types too, is no better than the task."""
    runs = tmp_path / "runs"
    ok("probe", "--task", "ner", "--model_name", str(tiny_model_dirs["bert"]), "--training_size", "0", "--data",
       str(cued["ner"]), "--runs-dir", str(runs), "--layers", "0", "--no-mdl")
    rows = table(runs, "ner", tiny_model_dirs["bert"], 0, "logistic-first").set_index("metric")
    assert rows.loc["accuracy", "value"] == 1.0 and rows.loc["macro_f1", "value"] == 1.0
    assert rows.loc["selectivity", "value"] >= 0
    tags = [line.split("\t")[1] for line in (cued["ner"] / "test.conll").read_text().splitlines()
            if "\t" in line]  # the majority class: O, the commonest training label; its share of the test words
    assert rows.loc["accuracy", "majority"] == pytest.approx(tags.count("O") / len(tags))


def test_lora_leaves_the_embeddings_alone_so_layer_0_cka_is_exactly_1(tiny_model_dirs, cued, tmp_path):
    runs, model = tmp_path / "runs", str(tiny_model_dirs["llama"])
    common = ["--task", "nli", "--model_name", model, "--runs-dir", str(runs)]
    ok("finetune", *common, "--data", str(cued["nli"]), "--training_size", "50", "--epochs", "2", "--lora",
       "--lr", "5e-3")
    ok("probe", *common, "--training_size", "50", "--no-mdl", "--no-control")
    cka = table(runs, "nli", model, 50, "logistic-joint-mean")
    cka = cka[cka["metric"] == "cka"].set_index("layer")["value"]
    assert cka[0] == pytest.approx(1.0, abs=1e-9)
    assert cka[2] < 1 - 1e-4  # the adapted attention changed the last layer


def test_qlora_checkpoint_of_a_tiny_llama_is_probed(tiny_model_dirs, cued, tmp_path):
    runs, model = tmp_path / "runs", str(tiny_model_dirs["llama"])
    common = ["--task", "ner", "--model_name", model, "--runs-dir", str(runs)]
    ok("finetune", *common, "--data", str(cued["ner"]), "--training_size", "30", "--epochs", "1", "--4bit", "--lora")
    ok("probe", *common, "--training_size", "30", "--no-mdl", "--pooling", "mean")
    rows = table(runs, "ner", model, 30, "logistic-mean")
    assert set(rows.loc[rows["metric"] == "accuracy", "layer"]) == {0, 1, 2}
    assert rows.loc[rows["metric"] == "cka", "value"].notna().all()


def test_random_init_baseline_and_figures(tiny_model_dirs, cued, tmp_path):
    runs, model = tmp_path / "runs", str(tiny_model_dirs["bert"])
    common = ["--task", "nli", "--model_name", model, "--runs-dir", str(runs), "--data", str(cued["nli"]),
              "--training_size", "0", "--no-mdl"]
    ok("probe", *common)
    ok("probe", *common, "--baseline", "random-init")
    rows = table(runs, "nli", model, 0, "random-init-logistic-joint-mean")
    assert set(rows["baseline"]) == {"random-init"} and (rows["metric"] == "cka").sum() == 3
    figures = runs / "figures"
    for name in ("accuracy", "selectivity", "cka"):
        for axis in ("layers", "depth"):
            assert (figures / f"probing_{name}_{axis}.png").is_file()
            assert (figures / f"probing_{name}_{axis}.pdf").is_file()


def test_task_script_probes_from_its_folder(tiny_model_dirs, cued, tmp_path):
    args = ["--model_name", str(tiny_model_dirs["gpt2"]), "--training_size", "0", "--data", str(cued["nli"]),
            "--runs-dir", str(tmp_path), "--no-mdl", "--layers", "1-2", "--pooling", "last"]
    done = subprocess.run([sys.executable, "probing.py", *args], cwd=ROOT / "NLI", capture_output=True, text=True,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    rows = table(tmp_path, "nli", tiny_model_dirs["gpt2"], 0, "logistic-last")
    assert set(rows["layer"]) == {1, 2} and set(rows["task"]) == {"nli"}


def test_layers_parse():
    assert parse_layers(None, 6, "m") == list(range(7))
    assert parse_layers("0,3, 5-6", 6, "m") == [0, 3, 5, 6]


@pytest.mark.parametrize("args, fragment", [
    (["--layers", "9"], "Layer 9 is out of range: bert-local has layers 0-2"),
    (["--layers", "two"], "does not parse"),
    (["--training_size", "30"], "bioprobe finetune --task ner"),
    (["--pooling", "joint-mean"], "does not exist for NER"),
])
def test_bad_input_is_one_sentence_and_a_nonzero_exit(args, fragment, tiny_model_dirs, cued, tmp_path):
    result = invoke("probe", "--task", "ner", "--model_name", str(tiny_model_dirs["bert"]), "--data",
                    str(cued["ner"]), "--runs-dir", str(tmp_path), "--training_size", "0", *args)
    assert result.exit_code != 0 and fragment in result.output
    assert "Traceback" not in result.output


def test_cls_on_a_decoder_is_refused(tiny_model_dirs, cued, tmp_path):
    result = invoke("probe", "--task", "nli", "--model_name", str(tiny_model_dirs["mistral"]), "--data",
                    str(cued["nli"]), "--runs-dir", str(tmp_path), "--training_size", "0", "--pooling", "cls")
    assert result.exit_code == 1 and "decoder" in result.output and "Traceback" not in result.output


def test_a_probe_that_does_not_converge_is_reported_not_fatal(tiny_model_dirs, cued, tmp_path, monkeypatch):
    import bioprobe.probing.probes as probes

    monkeypatch.setattr(probes, "MAX_ITER", {"logistic": 1, "svc": 1, "mlp": 1})
    ok("probe", "--task", "nli", "--model_name", str(tiny_model_dirs["bert"]), "--data", str(cued["nli"]),
       "--runs-dir", str(tmp_path), "--training_size", "0", "--no-mdl", "--no-control")
    rows = table(tmp_path, "nli", tiny_model_dirs["bert"], 0, "logistic-joint-mean")
    assert (~rows["converged"].astype(bool)).all() and rows["note"].str.contains("converge").all()


def test_extract_caches_both_splits_and_probe_reuses_them(tiny_model_dirs, cued, tmp_path, monkeypatch):
    model = str(tiny_model_dirs["biogpt"])
    result = ok("extract", "--task", "ner", "--model_name", model, "--training_size", "0", "--data",
                str(cued["ner"]), "--runs-dir", str(tmp_path), "--pooling", "mean", "--limit", "50")
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["train", "validation", "test"]  # --split all: what probing reads
    assert "x 3 layers x 64 dims" in lines[0]

    import bioprobe.probing.activations as activations

    def refuse(*args, **kwargs):
        raise AssertionError("probe extracted again although extract cached the vectors")

    monkeypatch.setattr(activations, "run_plan", refuse)
    ok("probe", "--task", "ner", "--model_name", model, "--training_size", "0", "--data", str(cued["ner"]),
       "--runs-dir", str(tmp_path), "--pooling", "mean", "--limit", "50", "--no-mdl")
    rows = table(tmp_path, "ner", model, 0, "logistic-mean")
    train = get_activations(task="ner", model_name=model, training_size=0, split="train", pooling="mean", limit=50,
                            data=str(cued["ner"]), runs_dir=tmp_path)
    assert train.meta["units"] == 50 and (rows["n_train"] == train.features.shape[1]).all()


def test_a_probing_run_loads_each_model_once_for_its_three_splits(tiny_model_dirs, cued, tmp_path, monkeypatch):
    import bioprobe.probing.activations as activations

    loads = []
    real = activations._load_now
    monkeypatch.setattr(activations, "_load_now", lambda *args: loads.append(args[1].key) or real(*args))
    model = str(tiny_model_dirs["gpt2"])
    common = ("--task", "ner", "--model_name", model, "--data", str(cued["ner"]), "--runs-dir", str(tmp_path))
    ok("finetune", *common, "--training_size", "100", "--epochs", "1", "--train-limit", "20")
    ok("probe", *common, "--training_size", "100", "--limit", "20", "--no-mdl", "--no-control")
    # train, validation and test from one load of the tuned weights; the pretrained reference (CKA) once
    assert sorted(loads) == ["pretrained", "size100-seed42"]
    assert activations._SHARED is None  # dropped after the run


@pytest.mark.parametrize("probe", ["svc", "mlp"])
def test_the_other_probes_run_with_control_and_mdl(probe, tiny_model_dirs, cued, tmp_path):
    model = str(tiny_model_dirs["bert"])
    ok("probe", "--task", "ner", "--model_name", model, "--training_size", "0", "--data", str(cued["ner"]),
       "--runs-dir", str(tmp_path), "--probe", probe, "--layers", "0")
    rows = table(tmp_path, "ner", model, 0, f"{probe}-first").set_index("metric")
    assert rows.loc["accuracy", "value"] == 1.0  # the cued entities are fixed words: separable at the embeddings
    assert rows.loc["mdl_compression", "value"] > 1.5
    assert rows.loc["mdl_compression", "mdl_probe"] == ("logistic" if probe == "svc" else "mlp")


def probe_labels(task: str, *splits) -> list[np.ndarray]:
    """Class ids per split, numbered as `probe_layers` numbers them (O first, then sorted over every split)."""
    gold = [task_labels(task, acts.label, False) for acts in splits]
    names = sorted(set().union(*map(set, gold)), key=lambda n: (n != "O", n))
    ids = {n: i for i, n in enumerate(names)}
    return [np.array([ids[v] for v in labels]) for labels in gold]


def test_mdl_and_the_best_layer_come_from_validation_items(tiny_model_dirs, cued, tmp_path):
    """MDL is the online code of the validation labels (items no checkpoint was tuned on), the same sample for the
    pretrained and the fine-tuned model; each layer's probe is scored on validation too, and the best layer printed
    is the validation-best one with its test accuracy."""
    runs, model, data = tmp_path / "runs", str(tiny_model_dirs["bert"]), str(cued["ner"])
    common = ["--task", "ner", "--model_name", model, "--runs-dir", str(runs)]
    ok("finetune", *common, "--data", data, "--training_size", "30", "--epochs", "1", "--batch-size", "8")
    printed = {}
    for size in (0, 30):
        printed[size] = ok("probe", *common, "--data", data, "--training_size", str(size), "--no-control",
                           "--limit", "20").output
    tables = {size: table(runs, "ner", model, size, "logistic-first") for size in (0, 30)}
    fetch = dict(data=data, runs_dir=runs, limit=20)
    for size, rows in tables.items():
        train, validation, test = (get_activations(task="ner", model_name=model, training_size=size, split=split,
                                                   **fetch)
                                   for split in ("train", "validation", "test"))
        assert validation.meta["units"] == 20
        y_train, y_validation, y_test = probe_labels("ner", train, validation, test)
        K = int(max(y_train.max(), y_validation.max(), y_test.max())) + 1
        mdl = rows[rows["metric"] == "mdl_compression"].set_index("layer")
        assert (mdl["mdl_items"] == "validation").all()
        assert (mdl["n_mdl"] == validation.features.shape[1]).all() and validation.features.shape[1] > 0
        assert mdl.loc[1, "value"] == pytest.approx(
            mdl_online("logistic", validation.features[1], y_validation, K, seed=42).compression)
        chosen = rows[rows["metric"] == "validation_accuracy"].set_index("layer")["value"]
        assert sorted(chosen.index) == [0, 1, 2]
        fit = fit_and_score("logistic", train.features[2], y_train, test.features[2], y_test, K, seed=42,
                            X_validation=validation.features[2], y_validation=y_validation)
        assert chosen[2] == pytest.approx(fit.validation_accuracy)
        accuracy = rows[rows["metric"] == "accuracy"].set_index("layer")["value"]
        best = int(chosen.idxmax())
        assert f"best layer on validation {best}: test {accuracy[best]:.3f}" in printed[size]
    assert tables[0]["n_mdl"].dropna().iloc[0] == tables[30]["n_mdl"].dropna().iloc[0]
    same = [get_activations(task="ner", model_name=model, training_size=size, split="validation",
                            **fetch) for size in (0, 30)]
    assert same[0].unit.tolist() == same[1].unit.tolist() and same[0].word.tolist() == same[1].word.tolist()


def report_rows(test: dict, validation: dict | None) -> pd.DataFrame:
    """A hand-made probing table of one run: test accuracy (value, low, high) and validation accuracy per layer."""
    base = {"analysis": "probing", "task": "nli", "model": "m", "training_size": 0, "seed": 42, "head": None,
            "probe": "logistic", "pooling": "joint-mean", "baseline": "", "bio": False, "n_layers": 2}
    rows = []
    for layer, (value, low, high) in test.items():
        rows.append({**base, "layer": layer, "metric": "accuracy", "value": value, "ci_low": low, "ci_high": high})
        rows.append({**base, "layer": layer, "metric": "selectivity", "value": value - 0.3})
        rows.append({**base, "layer": layer, "metric": "mdl_compression", "value": 1 + layer / 10,
                     **({"mdl_items": "validation"} if validation is not None else {})})
        if validation is not None:
            rows.append({**base, "layer": layer, "metric": "validation_accuracy", "value": validation[layer]})
    return pd.DataFrame(rows)


def test_the_report_chooses_the_best_layer_on_validation_and_gives_its_test_score():
    from bioprobe.report import probing_summary

    test = {0: (0.50, 0.40, 0.60), 1: (0.90, 0.85, 0.95), 2: (0.70, 0.62, 0.78)}   # test-best: layer 1
    validation = {0: 0.45, 1: 0.60, 2: 0.80}                                       # validation-best: layer 2

    def cells(text: str) -> list[str]:
        line = next(line for line in text.splitlines() if line.startswith("| m |"))
        return [cell.strip() for cell in line.strip().strip("|").split("|")]

    chosen = cells(probing_summary(report_rows(test, validation)))
    assert chosen[2:7] == ["0.500 [0.400, 0.600]", "2", "0.700 [0.620, 0.780]", "0.400", "1.20"]
    # A table without validation scores (written before layers were chosen on validation) names no best layer.
    text = probing_summary(report_rows(test, None))
    assert cells(text)[3:7] == ["", "", "", ""] and "name no best layer" in text
