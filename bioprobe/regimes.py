"""How each tuned run was trained, and whether it moved far enough from its pretrained model to be read as a finding.

A flat line at CKA 1.0 can mean "fine-tuning leaves this model's representations alone" or "this run took two LoRA
steps"; a reader cannot tell which from the figure. So every report names each run's regime (full fine-tuning,
LoRA, QLoRA), optimiser steps and training items next to its numbers, and flags a run that *barely moved*:

- its representations: debiased linear CKA with the pretrained model's same layer at or above `MOVED_CKA` at every
  probed layer (the probing stage's `cka` rows), or
- its weights: the whole body's relative change ||W_tuned - W_pre||_F / ||W_pre||_F below `MOVED_WEIGHTS` (the
  `diff` stage's whole-model row).

Either one is enough for the flag; the reason names which. The thresholds are judgement calls, set from what the
demos show: minilm's classifier runs (30 full optimiser steps) reach CKA 0.24-0.31 at their last layer and change
their weights by 1.8-2.4 %; smollm2's quick instruct runs (2-4 LoRA steps) keep CKA >= 0.9993 and 0.17-0.29 %.
"""

from __future__ import annotations

import math

MOVED_CKA = 0.99
"""A run whose CKA with the pretrained model is at least this at every probed layer barely moved."""
MOVED_WEIGHTS = 0.001
"""A run whose whole body's relative weight change is below this (0.1 %) barely moved (LoRA on a large model
changes little of the whole body, so this bound is set low; CKA is the main test)."""
RUN_KEYS = ["task", "model", "objective", "training_size", "seed"]


def _rows(table, analysis: str, metric: str):
    """The rows of one metric of one analysis, a missing objective read as "classifier"."""
    rows = table[(table["analysis"] == analysis) & (table["metric"] == metric)]
    if "objective" in rows:
        rows = rows.assign(objective=rows["objective"].fillna("classifier"))
    return rows


def run_regimes(table):
    """One row per tuned run (size > 0) of the study table: how it was trained and how far it moved.

    Returns:
        A DataFrame with `RUN_KEYS`, `regime` (full / LoRA / QLoRA; empty when the run's rows predate the column),
        `steps`, `n_train`, `weight_change` (whole-body relative change; nan without a diff), `min_cka` (lowest CKA
        with the pretrained model over the probed layers; nan without a probe), `barely_moved` and `why` (the
        sentence saying which threshold it fell on, empty when it moved).
    """
    import pandas as pd

    columns = [*RUN_KEYS, "regime", "steps", "n_train", "weight_change", "min_cka", "barely_moved", "why"]
    if table is None or not len(table) or "analysis" not in table:
        return pd.DataFrame(columns=columns)
    finetune = table[(table["analysis"] == "finetune") & (table["training_size"] > 0)]
    if "objective" in finetune:
        finetune = finetune.assign(objective=finetune["objective"].fillna("classifier"))
    if finetune.empty:
        return pd.DataFrame(columns=columns)
    for column in ("regime", "steps", "n_train"):
        if column not in finetune:
            finetune = finetune.assign(**{column: None})
    runs = finetune.groupby(RUN_KEYS, dropna=False).agg(
        regime=("regime", "first"), steps=("steps", "max"), n_train=("n_train", "max")).reset_index()

    diff = _rows(table, "diff", "relative_change")
    if len(diff) and "group" in diff:
        body = diff[diff["group"] == "model"].groupby(RUN_KEYS, dropna=False)["value"].first().rename("weight_change")
        runs = runs.merge(body.reset_index(), on=RUN_KEYS, how="left")
    else:
        runs["weight_change"] = math.nan
    cka = _rows(table, "probing", "cka")
    if len(cka):
        if "baseline" in cka:
            cka = cka[cka["baseline"].isna() | (cka["baseline"] == "")]
        if "reference" in cka:  # against the run's own pretrained model, not an explicit other reference
            cka = cka[cka["reference"].isna() | (cka["reference"] == cka["model"])]
        lowest = cka.groupby(RUN_KEYS, dropna=False)["value"].min().rename("min_cka")
        runs = runs.merge(lowest.reset_index(), on=RUN_KEYS, how="left")
    else:
        runs["min_cka"] = math.nan
    whys = [why_barely_moved(row.min_cka, row.weight_change) for row in runs.itertuples()]
    runs["why"] = whys
    runs["barely_moved"] = [bool(why) for why in whys]
    runs["regime"] = runs["regime"].fillna("")
    return runs[columns].sort_values(RUN_KEYS).reset_index(drop=True)


def why_barely_moved(min_cka: float, weight_change: float) -> str:
    """The sentence saying why a run counts as barely moved (empty when it moved, or nothing was measured)."""
    reasons = []
    if min_cka == min_cka and min_cka is not None and min_cka >= MOVED_CKA:
        reasons.append(f"CKA with the pretrained model >= {MOVED_CKA} at every probed layer (lowest {min_cka:.4f})")
    if weight_change == weight_change and weight_change is not None and weight_change < MOVED_WEIGHTS:
        reasons.append(f"weights changed by {100 * weight_change:.2f} % (< {100 * MOVED_WEIGHTS:g} %)")
    return "; ".join(reasons)


def regime_text(regime: str, steps, n_train) -> str:
    """"LoRA, 2 optimiser steps on 8 items": a run's regime in a few words (what is known of it)."""
    parts = []
    if regime:
        parts.append(regime if regime != "none" else "untrained")
    if steps == steps and steps is not None:
        parts.append(f"{int(steps)} optimiser step{'s' if int(steps) != 1 else ''}")
    text = ", ".join(parts)
    if n_train == n_train and n_train is not None:
        text += f" on {int(n_train)} items"
    return text.strip()


def barely_moved(table) -> dict:
    """{(task, model, objective, training_size, seed): "why"} of the runs that barely moved, for figures' notes."""
    runs = run_regimes(table)
    return {tuple(row[key] for key in RUN_KEYS): row["why"] for _, row in runs[runs["barely_moved"]].iterrows()}


def regimes_markdown(table) -> str:
    """The report's paragraph and table: each tuned run's regime, steps, items and movement; flagged runs named."""
    runs = run_regimes(table)
    if runs.empty:
        return ""
    lines = ["How each tuned run was trained and how far it moved from its pretrained model (whole-body relative "
             f"weight change from `diff`; lowest CKA with the pretrained model over the probed layers). A run is "
             f"flagged *barely moved* when its CKA is >= {MOVED_CKA} at every probed layer or its weights changed by "
             f"less than {100 * MOVED_WEIGHTS:g} %: its flat curves may show how little it was trained rather than "
             "a property of the model or the task.", "",
             "| task | model | objective | size | regime | steps | items | weight change | lowest CKA | |",
             "|---|---|---|---:|---|---:|---:|---:|---:|---|"]
    for row in runs.itertuples():
        change = "" if row.weight_change != row.weight_change else f"{100 * row.weight_change:.2f} %"
        cka = "" if row.min_cka != row.min_cka else f"{row.min_cka:.4f}"
        steps = "" if row.steps != row.steps or row.steps is None else str(int(row.steps))
        items = "" if row.n_train != row.n_train or row.n_train is None else str(int(row.n_train))
        lines.append(f"| {row.task} | {row.model} | {row.objective} | {int(row.training_size)} % | "
                     f"{row.regime or '?'} | {steps} | {items} | {change} | {cka} | "
                     f"{'**barely moved**' if row.barely_moved else ''} |")
    flagged = runs[runs["barely_moved"]]
    if len(flagged):
        lines += ["", "Barely moved: " + "; ".join(
            f"{row.model} {row.objective} on {row.task} at {int(row.training_size)} % "
            f"({regime_text(row.regime, row.steps, row.n_train)}): {row.why}" for row in flagged.itertuples()) + "."]
    return "\n".join(lines)
