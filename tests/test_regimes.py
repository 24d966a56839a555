"""Each tuned run's regime and whether it barely moved, from hand-made study tables with the values written out."""

import math

import pandas as pd

from bioprobe import regimes


def _table():
    run = {"task": "ner", "seed": 42, "training_size": 100}
    rows = [
        # minilm: 30 full steps, moved (CKA down to 0.25, weights 2.4 %)
        {**run, "analysis": "finetune", "model": "minilm", "objective": "classifier", "metric": "f1", "value": 0.8,
         "regime": "full", "steps": 30, "n_train": 240},
        {**run, "analysis": "probing", "model": "minilm", "objective": "classifier", "metric": "cka", "value": 0.97,
         "layer": 1, "reference": "minilm"},
        {**run, "analysis": "probing", "model": "minilm", "objective": "classifier", "metric": "cka", "value": 0.25,
         "layer": 6, "reference": "minilm"},
        {**run, "analysis": "diff", "model": "minilm", "objective": "classifier", "metric": "relative_change",
         "value": 0.024, "group": "model"},
        {**run, "analysis": "diff", "model": "minilm", "objective": "classifier", "metric": "relative_change",
         "value": 0.0001, "group": "block", "layer": 1},  # a block's change is not the body's
        # smollm2: 2 LoRA steps; CKA >= 0.99 everywhere, its weights 0.05 %
        {**run, "analysis": "finetune", "model": "smollm2", "objective": "instruct", "metric": "f1", "value": 0.0,
         "regime": "LoRA", "steps": 2, "n_train": 8},
        {**run, "analysis": "probing", "model": "smollm2", "objective": "instruct", "metric": "cka", "value": 0.9993,
         "layer": 0, "reference": "smollm2"},
        {**run, "analysis": "probing", "model": "smollm2", "objective": "instruct", "metric": "cka", "value": 1.0,
         "layer": 30, "reference": "smollm2"},
        {**run, "analysis": "probing", "model": "smollm2", "objective": "instruct", "metric": "cka", "value": 0.2,
         "layer": 30, "reference": "smollm2", "baseline": "random-init"},  # a baseline's CKA is not the run's
        {**run, "analysis": "diff", "model": "smollm2", "objective": "instruct", "metric": "relative_change",
         "value": 0.0005, "group": "model"},
        # a size-0 run is not a tuned run
        {**run, "training_size": 0, "analysis": "finetune", "model": "minilm", "objective": "classifier",
         "metric": "f1", "value": 0.1, "regime": "none", "steps": 0, "n_train": 0},
    ]
    return pd.DataFrame(rows)


def test_each_tuned_run_gets_its_regime_steps_items_and_movement():
    runs = regimes.run_regimes(_table()).set_index("model")
    assert list(runs.index) == ["minilm", "smollm2"]  # size 0 left out
    assert runs.loc["minilm", ["regime", "steps", "n_train"]].tolist() == ["full", 30, 240]
    assert runs.loc["minilm", "weight_change"] == 0.024 and runs.loc["minilm", "min_cka"] == 0.25
    assert not runs.loc["minilm", "barely_moved"] and runs.loc["minilm", "why"] == ""
    assert runs.loc["smollm2", "min_cka"] == 0.9993 and runs.loc["smollm2", "weight_change"] == 0.0005
    assert runs.loc["smollm2", "barely_moved"]
    assert runs.loc["smollm2", "why"] == ("CKA with the pretrained model >= 0.99 at every probed layer (lowest "
                                          "0.9993); weights changed by 0.05 % (< 0.1 %)")


def test_either_threshold_alone_flags_a_run_and_nothing_measured_flags_nothing():
    assert regimes.why_barely_moved(0.995, 0.02) == ("CKA with the pretrained model >= 0.99 at every probed layer "
                                                     "(lowest 0.9950)")
    assert regimes.why_barely_moved(0.5, 0.0009) == "weights changed by 0.09 % (< 0.1 %)"
    assert regimes.why_barely_moved(0.98, 0.0011) == ""
    assert regimes.why_barely_moved(math.nan, math.nan) == ""


def test_the_report_names_the_regime_and_the_flagged_run():
    text = regimes.regimes_markdown(_table())
    assert "| ner | minilm | classifier | 100 % | full | 30 | 240 | 2.40 % | 0.2500 |  |" in text
    assert "| ner | smollm2 | instruct | 100 % | LoRA | 2 | 8 | 0.05 % | 0.9993 | **barely moved** |" in text
    assert "Barely moved: smollm2 instruct on ner at 100 % (LoRA, 2 optimiser steps on 8 items): CKA" in text
    assert regimes.barely_moved(_table()) == {("ner", "smollm2", "instruct", 100, 42): regimes.run_regimes(
        _table()).iloc[1]["why"]}


def test_a_table_without_tuned_runs_gives_no_paragraph():
    assert regimes.regimes_markdown(_table().iloc[-1:]) == ""
    assert regimes.run_regimes(pd.DataFrame()).empty
