"""The command line as a user meets it: task scripts, DDP, and one clear sentence for every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bioprobe.cli import main
from tiny_data import write_cued_ner, write_cued_nli

ROOT = Path(__file__).resolve().parent.parent


def run_script(folder: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python fine_tuning.py ARGS` from inside a task folder (NER/, NLI/, RE/, CLS/), as the study's users do."""
    return subprocess.run([sys.executable, "fine_tuning.py", *args], cwd=ROOT / folder, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600)


def assert_one_sentence(result, *fragments: str) -> None:
    """Non-zero exit, no traceback, and the message names what went wrong."""
    output = result.output if hasattr(result, "output") else result.stdout + result.stderr
    code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert code != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.fixture(scope="module")
def cued(tmp_path_factory):
    root = tmp_path_factory.mktemp("cued")
    return {"ner": write_cued_ner(root / "ner"), "nli": write_cued_nli(root / "nli")}


def test_task_script_help_from_its_folder():
    from bioprobe.tasks import TASKS

    for folder in (name.upper() for name in TASKS):  # NER/, NLI/, RE/, CLS/
        result = run_script(folder, "--help")
        assert result.returncode == 0, result.stderr
        assert "--training_size" in result.stdout and "--model_name" in result.stdout


def test_task_script_trains_with_its_task_preset_and_both_flag_spellings(tiny_model_dirs, cued, tmp_path):
    result = run_script("NER", "--training_size", "30", "--model_name", str(tiny_model_dirs["gpt2"]), "--data",
                        str(cued["ner"]), "--epochs", "1", "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "checkpoints/ner/gpt2-local/size30-seed42/run.json").read_text())
    assert record["task"] == "ner" and record["data"]["n_train"] == 48
    result = run_script("NLI", "--training-size", "10", "--model-name", str(tiny_model_dirs["bert"]), "--data",
                        str(cued["nli"]), "--epochs", "1", "--runs_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "checkpoints/nli/bert-local/size10-seed42/run.json").is_file()


def test_two_process_ddp_with_gloo(tiny_model_dirs, cued, tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
               "-m", "bioprobe.cli", "finetune", "--task", "nli", "--model_name", str(tiny_model_dirs["bert"]),
               "--data", str(cued["nli"]), "--training_size", "50", "--epochs", "1", "--batch-size", "8",
               "--runs-dir", str(tmp_path), "--device", "cpu"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "checkpoints/nli/bert-local/size50-seed42/run.json").read_text())
    assert record["settings"]["processes"] == 2
    assert record["training"]["global_step"] == 8  # 120 items / (2 processes x 8) per step, rounded up
    assert set(record["metrics"]) == {"accuracy", "macro_f1"}


def test_unknown_model_lists_the_registry():
    result = CliRunner().invoke(main, ["finetune", "--task", "ner", "--model_name", "gpt5"])
    assert_one_sentence(result, "Unknown model 'gpt5'", "biobert", "smollm2", "hub id", "folder")


@pytest.mark.parametrize("size", ["101", "-5"])
def test_training_size_outside_0_to_100(size):
    result = CliRunner().invoke(main, ["finetune", "--task", "ner", "--training_size", size])
    assert_one_sentence(result, "0 to 100")


def test_missing_data_path(tmp_path):
    result = CliRunner().invoke(main, ["finetune", "--task", "ner", "--model_name", "bert", "--data",
                                       str(tmp_path / "nowhere")])
    assert_one_sentence(result, "does not exist")


def test_malformed_conll_names_file_and_line(tiny_model_dirs, tmp_path):
    data = tmp_path / "bad"
    data.mkdir()
    (data / "train.conll").write_text("IL-2 B-Gene\nbinds O\n\nthe\n")
    (data / "test.conll").write_text("IL-2 B-Gene\n")
    result = CliRunner().invoke(main, ["finetune", "--task", "ner", "--model_name", str(tiny_model_dirs["bert"]),
                                       "--data", str(data), "--runs-dir", str(tmp_path / "runs")])
    assert_one_sentence(result, "train.conll", "line 4")


def test_ner_tags_that_are_not_bio(tiny_model_dirs, tmp_path):
    data = tmp_path / "iob1"
    data.mkdir()
    for split in ("train", "test"):
        (data / f"{split}.conll").write_text("IL-2 PROTEIN\nbinds O\n")
    result = CliRunner().invoke(main, ["finetune", "--task", "ner", "--model_name", str(tiny_model_dirs["bert"]),
                                       "--data", str(data), "--runs-dir", str(tmp_path / "runs")])
    assert_one_sentence(result, "IOB2", "B-Disease")


def test_nli_label_outside_the_three(tiny_model_dirs, tmp_path):
    data = tmp_path / "nli"
    data.mkdir()
    for split in ("train", "test"):
        (data / f"{split}.jsonl").write_text(json.dumps({"premise": "a", "hypothesis": "b", "label": "maybe"}) + "\n")
    result = CliRunner().invoke(main, ["finetune", "--task", "nli", "--model_name", str(tiny_model_dirs["bert"]),
                                       "--data", str(data), "--runs-dir", str(tmp_path / "runs")])
    assert_one_sentence(result, "maybe", "entailment")


def test_unreachable_hub_for_data_and_model(tiny_model_dirs, tmp_path):
    result = CliRunner().invoke(main, ["finetune", "--task", "ner", "--model_name", str(tiny_model_dirs["bert"]),
                                       "--data", "someone/biomed-ner", "--runs-dir", str(tmp_path)])
    assert_one_sentence(result, "someone/biomed-ner", "--data demo")
    result = CliRunner().invoke(main, ["finetune", "--task", "nli", "--model_name", "biobert", "--data", "demo",
                                       "--runs-dir", str(tmp_path)])
    assert_one_sentence(result, "dmis-lab/biobert-v1.1", "local model folder")


def test_mednli_missing_says_where_it_comes_from(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDNLI_DIR", raising=False)
    result = CliRunner().invoke(main, ["finetune", "--task", "nli", "--runs-dir", str(tmp_path)])
    assert_one_sentence(result, "physionet", "--data demo")


def test_four_bit_where_bitsandbytes_cannot_serve(tiny_model_dirs, cued, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    result = CliRunner().invoke(main, ["finetune", "--task", "nli", "--model_name", str(tiny_model_dirs["llama"]),
                                       "--data", str(cued["nli"]), "--4bit", "--device", "cpu", "--runs-dir",
                                       str(tmp_path)])
    assert_one_sentence(result, "4-bit", "--no-4bit")


def test_missing_checkpoint_names_the_command_that_makes_it(tmp_path):
    from bioprobe.errors import BioprobeError
    from bioprobe.runstore import require_checkpoint

    with pytest.raises(BioprobeError) as error:
        require_checkpoint(tmp_path, "ner", "gpt2", 30, 42)
    assert ("`bioprobe finetune --task ner --model_name gpt2 --training_size 30 --seed 42 --runs-dir "
            f"{tmp_path}`") in str(error.value)


def test_failed_run_keeps_what_was_already_computed(tiny_model_dirs, cued, tmp_path):
    args = ["finetune", "--task", "nli", "--model_name", str(tiny_model_dirs["bert"]), "--data", str(cued["nli"]),
            "--training_size", "10", "--epochs", "1", "--runs-dir", str(tmp_path)]
    assert CliRunner().invoke(main, args).exit_code == 0
    finished = tmp_path / "checkpoints/nli/bert-local/size10-seed42"
    before = {p.name: p.stat().st_mtime_ns for p in finished.iterdir()}
    bad = CliRunner().invoke(main, args[:-2] + ["--model_name", "gpt5", "--runs-dir", str(tmp_path)])
    assert bad.exit_code != 0
    assert {p.name: p.stat().st_mtime_ns for p in finished.iterdir()} == before


@pytest.mark.parametrize("args, fragment", [
    (["--device", "gpu"], "Unknown device 'gpu'"),
    (["--max-length", "4096"], "--max-length 4096 is longer than"),
    (["--seed", "-1"], "-1"),
    (["--epochs", "0"], "0"),
])
def test_bad_settings_are_refused_before_any_work(tiny_model_dirs, cued, tmp_path, args, fragment):
    result = CliRunner().invoke(main, ["finetune", "--task", "nli", "--model_name", str(tiny_model_dirs["bert"]),
                                       "--data", str(cued["nli"]), "--training_size", "10", "--runs-dir",
                                       str(tmp_path), *args])
    assert_one_sentence(result, fragment)
    assert not list(tmp_path.rglob("*.safetensors"))
