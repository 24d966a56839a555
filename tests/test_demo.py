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
    for name in ("accuracy", "selectivity", "mdl_compression", "cka"):
        for axis in ("layers", "depth"):
            assert (demo_runs / "figures" / f"probing_{name}_{axis}.png").stat().st_size > 5000
    assert "## Probing" in report and "![probing_accuracy_depth](figures/probing_accuracy_depth.png)" in report
    assert "## Attention" in report and "![attention_depth](figures/attention_depth.png)" in report
    assert "## Attribution" in report and "hypothesis share" in report and "This run took" in report
    for plan in PLANS[True]:
        for task in ("ner", "nli"):
            assert (demo_runs / "figures" / f"attention_cosine_{task}_{plan.model}.png").stat().st_size > 5000
            assert (demo_runs / "figures" / f"attribution_{task}_{plan.model}_size100.png").is_file()
    # Re-running reuses every fine-tuning and probing run and only redraws: nothing is trained or probed again.
    again = CliRunner().invoke(main, ["demo", "--quick", "--runs-dir", str(demo_runs)], catch_exceptions=False)
    runs = 2 * 2  # models x tasks
    expected = runs * len(SIZES) + runs * (len(SIZES) + 1) + runs + runs  # fine-tuning, probing, attention, IG
    assert again.exit_code == 0 and again.output.count("(reused)") == expected
    assert "nothing was recomputed" in (demo_runs / "report.md").read_text()


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


def probing_table(demo_runs) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in (demo_runs / "results" / "probing").rglob("*.csv")])


def test_every_demo_run_is_probed_on_the_planned_layers(demo_runs):
    table = probing_table(demo_runs)
    for plan in PLANS[True]:
        for task in ("ner", "nli"):
            part = table[(table["model"] == plan.model) & (table["task"] == task) & (table["metric"] == "accuracy")]
            layers = sorted(int(layer) for layer in (plan.probe_layers or "0,1,2,3,4,5,6").split(","))
            runs = part.groupby([part["baseline"].fillna("").astype(str), "training_size"])["layer"]
            assert len(runs) == len(SIZES) + 1 and all(sorted(g) == layers for _, g in runs)
            cka = table[(table["model"] == plan.model) & (table["task"] == task) & (table["metric"] == "cka")]
            assert set(cka["training_size"]) == set(SIZES)  # every fine-tuned size, and the random-init baseline (0)


def test_probes_find_more_in_the_middle_layers_than_in_the_embeddings(demo_runs):
    table = probing_table(demo_runs)
    minilm = table[(table["model"] == "minilm") & (table["training_size"] == 0)
                   & (table["baseline"].fillna("").astype(str) == "")]
    per_task = {task: minilm[minilm["task"] == task].pivot_table(index="layer", columns="metric", values="value")
                for task in ("ner", "nli")}
    for task, per_layer in per_task.items():
        print(task, per_layer[["accuracy", "macro_f1", "selectivity"]].round(3).to_string())
    # Quick mode probes 150 sentences / pairs per split. NER: a middle layer knows clearly more than the embeddings
    # (macro-F1 0.83 against 0.68 when this was written) and beats the control task there; NLI gains less.
    ner, nli = per_task["ner"], per_task["nli"]
    best = ner["accuracy"].idxmax()
    assert best > 0 and ner.loc[best, "macro_f1"] > ner.loc[0, "macro_f1"] + 0.1
    assert ner.loc[best, "selectivity"] > 0
    best = nli["accuracy"].idxmax()
    assert best > 0 and nli.loc[best, "accuracy"] > nli.loc[0, "accuracy"] + 0.02


def test_attention_of_every_fine_tuned_demo_model_is_compared(demo_runs):
    table = pd.concat([pd.read_csv(p) for p in (demo_runs / "results" / "attention").rglob("*.csv")])
    cosine = table[table["metric"] == "cosine"]
    for plan in PLANS[True]:
        for task in ("ner", "nli"):
            part = cosine[(cosine["model"] == plan.model) & (cosine["task"] == task)]
            assert sorted(part["training_size"].unique()) == [s for s in SIZES if s > 0]
            assert part["value"].between(-1e-6, 1 + 1e-6).all() and (part["value"] < 1 - 1e-4).any()
            layers = part.groupby(["training_size", "layer"])["value"].mean().unstack("layer").round(4)
            print(plan.model, task, "mean cosine with the pretrained attention by layer:\n", layers.to_string())


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
