"""The embedded default end to end: `bioprobe demo --quick` (the built-in plan demo-quick) on the real minilm and
smollm2, every stage, classifier-, instruction- and conversation-tuned, the three clinical prompts; and the GGUF
conversion. What each check expects (sizes, pools, layers) is read from the plan's own cells."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from bioprobe.cli import main
from bioprobe.runstore import run_label
from bioprobe.study import expand, load_plan

PLAN = load_plan("demo-quick")
CELLS = expand(PLAN)


def sizes_of(stage: str, model: str, objective: str, task: str | None = None) -> list[int]:
    """The training sizes of the plan's cells of one stage, model and objective."""
    return sorted({c.settings.training_size for c in CELLS if c.stage == stage and c.model == model
                   and c.settings.objective == objective and (task is None or getattr(c.settings, "task", None) == task)
                   and not getattr(c.settings, "baseline", None)})


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", "--quick", "--runs-dir", str(runs)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return runs


@pytest.fixture(scope="module")
def results(demo_runs):
    return pd.read_parquet(demo_runs / "results" / "study.parquet")


def test_every_cell_of_the_quick_plan_finished_and_a_rerun_recomputes_nothing(demo_runs):
    for cell in CELLS:
        record = json.loads((demo_runs / "study" / "cells" / f"{cell.id}.json").read_text())
        assert record["status"] == "complete"
    for cell in (c for c in CELLS if c.stage == "finetune"):
        s = cell.settings
        folder = run_label(s.training_size, s.seed, s.objective)
        run = json.loads((demo_runs / "checkpoints" / s.task / s.model_name / folder / "run.json").read_text())
        assert run["status"] == "complete" and run["data"]["source"].startswith("demo")
        assert run["objective"] == s.objective
        if s.objective == "classifier":  # a nested subset of the plan's pool
            assert run["data"]["n_train"] == round(s.train_limit * s.training_size / 100)
        else:
            assert run["weights"] == ("released" if s.training_size == 0 else "trained")
    report = (demo_runs / "report.md").read_text()
    for png in re.findall(r"\(figures/([^)]+\.png)\)", report):
        assert (demo_runs / "figures" / png).stat().st_size > 5000
    for heading in ("## Fine-tuning", "## Instruction tuning", "## Clinical prompts", "## Probing", "## Attention",
                    "## Encoder vs decoder", "## Attribution"):
        assert heading in report
    assert "hypothesis share" in report and "entity share" in report and "This run took" in report
    again = CliRunner().invoke(main, ["demo", "--quick", "--runs-dir", str(demo_runs)], catch_exceptions=False)
    assert again.exit_code == 0 and f"0 cells run, {len(CELLS)} already finished" in again.output
    assert "nothing was recomputed" in (demo_runs / "report.md").read_text()


def overall(results: pd.DataFrame) -> pd.Series:
    rows = results[(results["analysis"] == "finetune") & (results["label"].fillna("all") == "all")]
    return rows.set_index(["model", "objective", "task", "metric", "training_size"])["value"]


def test_fine_tuning_beats_the_pretrained_baseline_on_the_demo(results):
    value = overall(results)
    print(value.unstack("training_size").round(3).to_string())
    # minilm in quick mode: a 240-sentence pool, two epochs; an untrained head scores near chance.
    assert value["minilm", "classifier", "ner", "f1", 0] < 0.15
    assert value["minilm", "classifier", "ner", "f1", 100] > value["minilm", "classifier", "ner", "f1", 0] + 0.5
    assert value["minilm", "classifier", "nli", "accuracy", 100] > \
        value["minilm", "classifier", "nli", "accuracy", 0] + 0.05
    # relation extraction (160 pairs, three labels) and multi-label classification (160 texts, ten labels)
    assert value["minilm", "classifier", "re", "macro_f1", 100] > \
        value["minilm", "classifier", "re", "macro_f1", 0] + 0.2
    assert value["minilm", "classifier", "cls", "macro_average_precision", 100] > \
        value["minilm", "classifier", "cls", "macro_average_precision", 0] + 0.1


def test_multi_label_thresholds_are_chosen_on_validation_and_recorded(demo_runs):
    for size in sizes_of("finetune", "minilm", "classifier", "cls"):
        run = json.loads((demo_runs / "checkpoints" / "cls" / "minilm" / run_label(size, 42) / "run.json").read_text())
        chosen = run["evaluation"]["thresholds"]
        assert run["evaluation"]["thresholds_from"] == "validation" and set(chosen) == set(run["labels"])
        assert all(0 < t < 1 for t in chosen.values()) and run["evaluation"]["n_validation"] == run["data"]["n_test"]


def test_instruction_tuning_is_scored_by_generation_at_every_planned_size(results):
    value = overall(results)
    for task in ("ner", "nli"):
        sizes = sizes_of("finetune", "smollm2", "instruct", task)
        assert sizes == [0, 100]
        rates = [value["smollm2", "instruct", task, "parse_rate", size] for size in sizes]
        print(task, "parse rate by size:", [round(r, 3) for r in rates])
        assert rates[0] < 0.5  # zero-shot, the released model does not answer in the Llama2-MedTuned format
    # 32 NLI instructions and one epoch of answer-only loss teach the one-word answer (and to stop)
    nli = [value["smollm2", "instruct", "nli", "parse_rate", size] for size in (0, 100)]
    assert nli[1] > nli[0] + 0.3
    loglik = value["smollm2", "instruct", "nli", "loglik_accuracy"]
    assert loglik.between(0, 1).all() and len(loglik) == 2
    # the 8 NER instructions of quick mode do not teach the line-per-word answer; its failures are counted per kind
    failures = results[(results["analysis"] == "finetune") & (results["objective"] == "instruct")
                       & (results["task"] == "ner") & (results["metric"] == "failures")]
    n_test = results.loc[(results["objective"] == "instruct") & (results["task"] == "ner")
                         & (results["metric"] == "parse_rate"), "n_test"]
    for size, part in failures.groupby("training_size"):  # every unparsed item has at least one failure kind
        unparsed = round((1 - value["smollm2", "instruct", "ner", "parse_rate", size]) * n_test.iloc[0])
        assert part["value"].max() <= n_test.iloc[0] and part["value"].sum() >= unparsed


def test_conversation_tuning_lowers_the_loss_on_held_out_assistant_turns(results):
    value = overall(results)
    loss = value["smollm2", "conversation", "conversation", "answer_loss"]
    print("answer loss by size:", loss.round(3).to_dict())
    assert sorted(loss.index) == sizes_of("finetune", "smollm2", "conversation") == [0, 100]
    assert loss[100] < loss[0] - 0.2


def test_the_three_clinical_prompts_are_scored_for_every_checkpoint(results):
    rows = results[results["analysis"] == "generate"]
    expected = {(c.settings.prompt, c.settings.objective if c.settings.training_size else "released",
                 c.settings.training_size) for c in CELLS if c.stage == "generate"}
    assert {p for p, _, _ in expected} == {"extract", "search", "summarise"}
    found = set(zip(rows["task"], rows["objective"], rows["training_size"]))
    assert found == expected and {"released", "instruct", "conversation"} == {o for _, o, _ in expected}
    main = {"extract": ("f1", "not_verbatim_share"), "search": ("recall_at_1", "recall_at_3"),
            "summarise": ("faithful_share_proxy",)}
    for prompt, metrics in main.items():
        for metric in metrics:
            values = rows.loc[(rows["task"] == prompt) & (rows["metric"] == metric), "value"]
            assert len(values) == sum(p == prompt for p, _, _ in expected) and values.between(0, 1).all()


def test_every_run_is_probed_on_the_planned_layers(results):
    probing = results[(results["analysis"] == "probing") & (results["metric"] == "accuracy")]
    for model, layers in (("minilm", list(range(7))), ("smollm2", [0, 15, 30])):
        for task in PLAN.tasks:
            part = probing[(probing["model"] == model) & (probing["task"] == task)]
            runs = part.groupby([part["baseline"].fillna("").astype(str), "objective", "training_size"])["layer"]
            expected = [c for c in CELLS if c.stage == "probe" and c.model == model and c.settings.task == task]
            assert len(runs) == len(expected) and all(sorted(g) == layers for _, g in runs)
            cka = results[(results["model"] == model) & (results["task"] == task) & (results["metric"] == "cka")]
            # CKA with the pretrained model for every tuned run and for the random-init baseline (size 0)
            baseline = any(getattr(c.settings, "baseline", None) for c in expected)
            tuned = {c.settings.training_size for c in expected if c.settings.training_size > 0}
            assert set(cka["training_size"]) == tuned | ({0} if baseline else set())


def test_probes_find_more_in_the_middle_layers_than_in_the_embeddings(results):
    from bioprobe.report import SELECTION_METRIC, best_layer

    minilm = results[(results["analysis"] == "probing") & (results["model"] == "minilm")
                     & (results["training_size"] == 0) & (results["baseline"].fillna("").astype(str) == "")]
    for task in ("ner", "nli"):
        per_layer = minilm[minilm["task"] == task].pivot_table(index="layer", columns="metric", values="value")
        print(task, per_layer[["accuracy", "macro_f1", "selectivity", SELECTION_METRIC]].round(3).to_string())
        best = best_layer(per_layer[SELECTION_METRIC])  # chosen on validation, scored on test
        assert best > 0
        if task == "ner":  # quick mode probes 40 sentences per split
            assert per_layer.loc[best, "macro_f1"] > per_layer.loc[0, "macro_f1"] + 0.1
            assert per_layer.loc[best, "selectivity"] > 0


def test_attention_of_every_tuned_demo_model_is_compared(results):
    cosine = results[(results["analysis"] == "attention") & (results["metric"] == "cosine")]
    for model, objectives in (("minilm", ["classifier"]), ("smollm2", ["classifier", "instruct"])):
        for objective in objectives:
            for task in PLAN.tasks:
                part = cosine[(cosine["model"] == model) & (cosine["task"] == task)
                              & (cosine["objective"] == objective)]
                planned = sorted({int(size) for c in CELLS if c.stage == "attention" and c.model == model and
                                  c.settings.objective == objective and c.settings.task == task
                                  for size in c.settings.training_sizes.split(",")})
                if not planned:  # the quick plan leaves smollm2's NLI classifier and NER instruction run out
                    continue
                assert sorted(part["training_size"].unique()) == planned
                assert part["value"].between(-1e-6, 1 + 1e-6).all() and (part["value"] < 1 - 1e-4).any()


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
