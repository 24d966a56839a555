"""Fine-tuning through the CLI on tiny models of every family: subsets, storage, learning, QLoRA, resume, reuse."""

from __future__ import annotations

import json
import math
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from bioprobe import runstore
from bioprobe.cli import main
from tiny_data import write_cued_ner, write_cued_nli
from tiny_models import FAMILIES


def last_line(result) -> str:
    """The command's own last line on stdout (progress bars go to stderr)."""
    return result.stdout.strip().splitlines()[-1]


def finetune(*args: str) -> dict:
    """Run `bioprobe finetune ARGS` in-process; return the run.json of the run it made or reused."""
    result = CliRunner().invoke(main, ["finetune", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    folder = last_line(result).split(" ", 1)[1].split(":")[0]
    return json.loads((runstore.Path(folder) / "run.json").read_text())


@pytest.fixture(scope="module")
def cued(tmp_path_factory):
    root = tmp_path_factory.mktemp("cued")
    return {"ner": write_cued_ner(root / "ner"), "nli": write_cued_nli(root / "nli")}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", ["ner", "nli"])
def test_every_family_finetunes_and_stores_a_complete_run(family, task, tiny_model_dirs, cued, tmp_path):
    runs = tmp_path / "runs"
    record = finetune("--task", task, "--model_name", str(tiny_model_dirs[family]), "--data", str(cued[task]),
                      "--training_size", "30", "--epochs", "1", "--batch-size", "8", "--runs-dir", str(runs))
    n_train = {"ner": 160, "nli": 240}[task]
    assert record["status"] == "complete" and record["training_size"] == 30
    assert record["data"]["n_train"] == round(n_train * 0.3) == len(record["data"]["subset_indices"])
    assert record["training"]["global_step"] == math.ceil(round(n_train * 0.3) / 8)
    folder = runstore.checkpoint_dir(runs, task, record["model"], 30, 42)
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer_config.json").is_file()
    table = pd.read_csv(runstore.results_path(runs, "finetune", task, record["model"], 30, 42))
    assert list(table.columns[:9]) == list(runstore.TIDY_COLUMNS)
    expected = {"ner": {"f1", "precision", "recall"}, "nli": {"accuracy", "macro_f1"}}[task]
    assert set(table.loc[table["label"] == "all", "metric"]) == expected
    assert table["layer"].isna().all() and table["head"].isna().all()
    steps = record["training"]["global_step"]  # the rows say how the run was tuned
    assert set(table["steps"]) == {steps} and set(table["regime"]) == {"LoRA" if record["lora"] else "full"}
    for _, row in table[table["label"] == "all"].iterrows():
        assert row["value"] == pytest.approx(record["metrics"][row["metric"]])


def test_subsets_are_nested_and_stratified_across_runs(tiny_model_dirs, cued, tmp_path):
    runs = tmp_path / "runs"
    seen = {}
    for size in (10, 30, 50, 100):
        record = finetune("--task", "nli", "--model_name", str(tiny_model_dirs["bert"]), "--data", str(cued["nli"]),
                          "--training_size", str(size), "--epochs", "0.01", "--runs-dir", str(runs))
        seen[size] = set(record["data"]["subset_indices"])
    assert seen[10] < seen[30] < seen[50] < seen[100] == set(range(240))
    labels = [json.loads(line)["label"] for line in (cued["nli"] / "train.jsonl").read_text().splitlines()]
    for size in (10, 30, 50):
        counts = pd.Series([labels[i] for i in seen[size]]).value_counts()
        assert counts.max() - counts.min() <= 1, counts  # 80/80/80 in train: each label a third, within one


def test_training_learns_the_cue_and_size_zero_is_the_untrained_baseline(tiny_model_dirs, cued, tmp_path):
    runs = tmp_path / "runs"
    common = ["--model_name", str(tiny_model_dirs["bert"]), "--runs-dir", str(runs), "--lr", "3e-3",
              "--batch-size", "8"]
    nli0 = finetune("--task", "nli", "--data", str(cued["nli"]), "--training_size", "0", *common)
    nli = finetune("--task", "nli", "--data", str(cued["nli"]), "--training_size", "100", "--epochs", "8", *common)
    ner0 = finetune("--task", "ner", "--data", str(cued["ner"]), "--training_size", "0", *common)
    ner = finetune("--task", "ner", "--data", str(cued["ner"]), "--training_size", "100", "--epochs", "8", *common)
    assert "global_step" not in nli0["training"]  # size 0 trains nothing
    rows0 = pd.read_csv(runstore.results_path(runs, "finetune", "nli", nli0["model"], 0, 42))
    assert set(rows0["regime"]) == {"none"} and set(rows0["steps"]) == {0}
    assert nli0["data"]["n_train"] == 0 and nli0["data"]["subset_indices"] == []
    assert nli0["metrics"]["accuracy"] < 0.6  # three balanced classes, untrained head: about chance
    assert nli["metrics"]["accuracy"] >= 0.95, nli["metrics"]
    assert ner["metrics"]["f1"] >= 0.95, ner["metrics"]
    assert ner["metrics"]["f1"] > ner0["metrics"]["f1"] + 0.5


def test_finished_run_is_reused_and_other_settings_are_refused(tiny_model_dirs, cued, tmp_path):
    runs = tmp_path / "runs"
    args = ["finetune", "--task", "nli", "--model_name", str(tiny_model_dirs["gpt2"]), "--data", str(cued["nli"]),
            "--training_size", "10", "--epochs", "1", "--runs-dir", str(runs)]
    first = CliRunner().invoke(main, args)
    again = CliRunner().invoke(main, args)
    assert first.exit_code == 0 and last_line(first).startswith("wrote")
    assert again.exit_code == 0 and last_line(again).startswith("reused")
    other = CliRunner().invoke(main, args[:-2] + ["--epochs", "2", "--runs-dir", str(runs)])
    assert other.exit_code != 0 and "other settings" in other.output and "--overwrite" in other.output
    replaced = CliRunner().invoke(main, args + ["--overwrite"])
    assert replaced.exit_code == 0 and last_line(replaced).startswith("wrote")


def reloaded_accuracy(runs, model_dir, size: int, record: dict, nli_dir) -> float:
    """Test accuracy of the stored run, reloaded and scored one pair at a time (no batching, no padding)."""
    import numpy as np
    import torch

    from bioprobe.data import load_task_data
    from bioprobe.finetune.checkpoints import load_finetuned
    from bioprobe.tasks.nli import encode_pairs

    loaded = load_finetuned(runs, "nli", str(model_dir), size, 42, device="cpu")
    test = load_task_data("nli", str(nli_dir)).splits["test"]
    encoded = encode_pairs(test, loaded.tokenizer, tuple(record["labels"]), 128, record["model_kind"])
    with torch.inference_mode():
        predictions = [int(loaded.model(input_ids=torch.tensor([row["input_ids"]])).logits.argmax(-1))
                       for row in encoded]
    return float(np.mean(np.array(predictions) == np.array(encoded["labels"])))


def test_qlora_step_on_a_tiny_llama_in_4bit(tiny_model_dirs, cued, tmp_path):
    from bioprobe.finetune.checkpoints import load_finetuned

    runs = tmp_path / "runs"
    record = finetune("--task", "nli", "--model_name", str(tiny_model_dirs["llama"]), "--data", str(cued["nli"]),
                      "--training_size", "10", "--epochs", "1", "--batch-size", "8", "--4bit", "--runs-dir",
                      str(runs))
    assert record["four_bit"] and record["lora"]
    table = pd.read_csv(runstore.results_path(runs, "finetune", "nli", record["model"], 10, 42))
    assert set(table["regime"]) == {"QLoRA"} and set(table["steps"]) == {math.ceil(24 / 8)}  # 10 % of 240, batch 8
    assert 0 < record["parameters"]["trainable"] < record["parameters"]["total"]
    assert math.isfinite(record["training"]["train_loss"])
    folder = runstore.checkpoint_dir(runs, "nli", record["model"], 10, 42)
    assert (folder / "adapter_model.safetensors").is_file() and not (folder / "model.safetensors").exists()
    loaded = load_finetuned(runs, "nli", str(tiny_model_dirs["llama"]), 10, 42, device="cpu")
    linear4 = [m for m in loaded.model.modules() if m.__class__.__name__ == "Linear4bit"]
    assert linear4, "the reloaded base model must be 4-bit again"
    # LoRA's B matrices start at zero: non-zero ones were trained, saved and loaded back.
    lora_b = [p for name, p in loaded.model.named_parameters() if "lora_B" in name]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)
    assert reloaded_accuracy(runs, tiny_model_dirs["llama"], 10, record, cued["nli"]) == pytest.approx(
        record["metrics"]["accuracy"], abs=1e-9)


def test_reloaded_checkpoint_reproduces_the_stored_test_metrics(tiny_model_dirs, cued, tmp_path):
    for lora in ("--no-lora", "--lora"):
        runs = tmp_path / lora.strip("-")
        record = finetune("--task", "nli", "--model_name", str(tiny_model_dirs["gpt2"]), "--data",
                          str(cued["nli"]), "--training_size", "50", "--epochs", "2", "--lr", "3e-3", lora,
                          "--runs-dir", str(runs))
        accuracy = reloaded_accuracy(runs, tiny_model_dirs["gpt2"], 50, record, cued["nli"])
        assert accuracy == pytest.approx(record["metrics"]["accuracy"], abs=1e-9), lora


def test_the_last_complete_checkpoint_is_the_newest_with_its_trainer_state(tmp_path):
    from bioprobe.finetune.train import incomplete_checkpoints, last_complete_checkpoint

    def checkpoint(name: str, complete: bool) -> None:
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_text("")
        if complete:
            (tmp_path / name / "trainer_state.json").write_text("{}")

    assert last_complete_checkpoint(tmp_path / "missing") is None
    for name, complete in (("checkpoint-4", True), ("checkpoint-20", True), ("checkpoint-100", False),
                           ("checkpoint-30", False), ("checkpoint-x", True)):
        checkpoint(name, complete)
    # numeric order (100 > 30 > 20), not text order; "checkpoint-x" is not the Trainer's
    assert last_complete_checkpoint(tmp_path).name == "checkpoint-20"
    assert [path.name for path in incomplete_checkpoints(tmp_path)] == ["checkpoint-100", "checkpoint-30"]
    (tmp_path / "checkpoint-4" / "trainer_state.json").unlink()      # older than the last complete one: kept
    assert [path.name for path in incomplete_checkpoints(tmp_path)] == ["checkpoint-100", "checkpoint-30"]


def test_interrupted_run_resumes_from_its_last_complete_trainer_checkpoint(tiny_model_dirs, cued, tmp_path):
    from transformers import TrainerCallback

    from bioprobe.finetune.train import run_finetune

    class Interrupt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 5:
                raise KeyboardInterrupt

    runs = tmp_path / "runs"
    options = dict(task="nli", model_name=str(tiny_model_dirs["bert"]), training_size=50, data=str(cued["nli"]),
                   epochs=2, batch_size=8, save_steps=4, runs_dir=runs)
    with pytest.raises(KeyboardInterrupt):
        run_finetune(**options, callbacks=(Interrupt(),))
    folder = runstore.checkpoint_dir(runs, "nli", "bert-local", 50, 42)
    assert (folder / "trainer" / "checkpoint-4").is_dir() and not runstore.is_complete(folder)
    # a job preempted while the Trainer wrote its next checkpoint leaves it without trainer_state.json (written last)
    partial = folder / "trainer" / "checkpoint-8"
    shutil.copytree(folder / "trainer" / "checkpoint-4", partial)
    (partial / "trainer_state.json").unlink()
    result = run_finetune(**options)
    assert result.record.training["resumed_from"] == "checkpoint-4"
    assert result.record.training["global_step"] == 2 * math.ceil(120 / 8)
    assert not (folder / "trainer").exists()  # intermediate checkpoints go once the run is complete


def test_decoder_pairs_keep_the_whole_hypothesis_when_truncated(tiny_model_dirs):
    import datasets

    from bioprobe.models import load_tokenizer
    from bioprobe.registry import resolve_model
    from bioprobe.tasks.nli import HYPOTHESIS, PREMISE, encode_pairs

    tokenizer = load_tokenizer(resolve_model(str(tiny_model_dirs["llama"])))
    premise = "the gene was treated with the drug in the cell and the protein"
    pair = datasets.Dataset.from_dict({"premise": [premise], "hypothesis": ["kinase expression increased"],
                                       "label": ["entailment"]})
    words = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    h_ids, p_ids = words(HYPOTHESIS + "kinase expression increased"), words(PREMISE + premise)
    row = encode_pairs(pair, tokenizer, ("entailment", "neutral", "contradiction"), 16, "decoder")[0]
    bos = tokenizer.bos_token_id
    assert row["input_ids"] == [bos] + p_ids[: 15 - len(h_ids)] + h_ids and row["truncated"]
    whole = encode_pairs(pair, tokenizer, ("entailment", "neutral", "contradiction"), 128, "decoder")[0]
    assert whole["input_ids"] == [bos] + p_ids + h_ids and not whole["truncated"]


def test_interrupted_run_refuses_to_resume_with_other_settings(tiny_model_dirs, cued, tmp_path):
    from transformers import TrainerCallback

    from bioprobe.errors import BioprobeError
    from bioprobe.finetune.train import run_finetune

    class Interrupt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt

    options = dict(task="nli", model_name=str(tiny_model_dirs["bert"]), training_size=50, data=str(cued["nli"]),
                   epochs=1, batch_size=8, save_steps=2, runs_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_finetune(**options, callbacks=(Interrupt(),))
    with pytest.raises(BioprobeError, match=r"An interrupted run .*\(lr None there, 0.01 now\)"):
        run_finetune(**{**options, "lr": 0.01})
    assert run_finetune(**options).record.training["resumed_from"] == "checkpoint-2"
