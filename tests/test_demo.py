"""The embedded default end to end: `bioprobe demo --quick` on the real minilm and smollm2, and the GGUF conversion."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from bioprobe.cli import main
from bioprobe.demo import PLANS, SIZES


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", "--quick", "--runs-dir", str(runs)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return runs


def test_quick_demo_writes_every_run_table_figure_and_report(demo_runs):
    for plan in PLANS[True]:
        for task in ("ner", "nli"):
            for size in SIZES:
                record = json.loads((demo_runs / "checkpoints" / task / plan.model / f"size{size}-seed42" /
                                     "run.json").read_text())
                assert record["status"] == "complete" and record["data"]["source"] == "demo"
                assert record["data"]["n_train"] == round(plan.train_limit * size / 100)
    for name in ("finetune_curves", "finetune_entity_types"):
        for suffix in (".png", ".pdf"):
            assert (demo_runs / "figures" / f"{name}{suffix}").stat().st_size > 5000
    report = (demo_runs / "report.md").read_text()
    assert "![finetune_curves](figures/finetune_curves.png)" in report and "| minilm |" in report
    # Re-running reuses every run and only redraws: nothing is trained again.
    again = CliRunner().invoke(main, ["demo", "--quick", "--runs-dir", str(demo_runs)], catch_exceptions=False)
    assert again.exit_code == 0 and again.output.count("(reused)") == 4 * len(SIZES)


def test_fine_tuning_beats_the_pretrained_baseline_on_the_demo(demo_runs):
    frames = [pd.read_csv(p) for p in (demo_runs / "results" / "finetune").rglob("*.csv")]
    table = pd.concat(frames)
    overall = table[table["label"] == "all"].set_index(["model", "task", "metric", "training_size"])["value"]
    print(overall.unstack("training_size").round(3).to_string())
    # minilm in quick mode: a 600-item pool, two epochs; untrained heads score near chance. (smollm2's quick budget,
    # 120 items and one LoRA epoch, is too small to promise a gain; the full demo reports its curve.)
    assert overall["minilm", "ner", "f1", 0] < 0.15
    assert overall["minilm", "ner", "f1", 100] > overall["minilm", "ner", "f1", 0] + 0.5
    assert overall["minilm", "nli", "accuracy", 100] > overall["minilm", "nli", "accuracy", 0] + 0.05


def test_gguf_conversion_gives_a_plain_model_with_the_same_outputs(demo_runs):
    import torch
    from transformers import AutoModelForCausalLM

    from bioprobe.models import _quiet, convert_gguf
    from bioprobe.registry import resolve_model

    gguf = resolve_model("smollm2")
    plain = convert_gguf(gguf)  # cached by the demo run
    converted = AutoModelForCausalLM.from_pretrained(plain.source)
    assert getattr(converted.config, "quantization_config", None) is None
    with _quiet():
        original = AutoModelForCausalLM.from_pretrained(gguf.source, gguf_file=gguf.gguf_file)
    ids = torch.tensor([[1, 4192, 29, 34, 4675, 28120]])
    with torch.inference_mode():
        assert torch.equal(converted(ids).logits, original(ids).logits)
