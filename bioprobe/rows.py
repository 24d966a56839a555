"""Selecting tidy result rows for figures and tables: one analysis, the series a curve is named by, the main
metric per task, the default probing setting and the validation-best layer."""

from __future__ import annotations

from bioprobe.tasks import TASKS

MAIN_METRIC = {name: task.main_metric for name, task in TASKS.items()}
GENERATIVE_TITLE = {"f1": "entity F1", "macro_f1": "macro-F1", "micro_f1": "micro-F1", "parse_rate": "parse rate",
                    "f1_lenient": "lenient F1", "f1_aligned": "aligned F1",
                    "loglik_accuracy": "log-likelihood accuracy"}


def task_order(names) -> list[str]:
    """Task names in the registry's order (ner, nli, re, cls), unregistered ones after them by name: the order of
    tables and panels."""
    order = list(TASKS)
    return sorted(set(names), key=lambda name: (order.index(name) if name in order else len(order), str(name)))


def task_title(name: str) -> str:
    """How figures and tables name a task (`Task.title`; an unregistered name in capitals)."""
    return TASKS[name].title if name in TASKS else str(name).upper()
METRIC_TITLE = {"f1": "entity F1 (test)", "accuracy": "accuracy (test)", "macro_f1": "macro-F1 (test)",
                "micro_f1": "micro-F1 (test)", "macro_average_precision": "macro average precision (test)"}

SELECTION_METRIC = "validation_accuracy"
"""What the best layer is chosen by: the probe's accuracy on validation items, never its test score."""


def objective_of(rows):
    """The `objective` column of tidy rows ("classifier" where a table predates instruction tuning)."""
    return rows["objective"].fillna("classifier") if "objective" in rows else \
        rows.assign(objective="classifier")["objective"]


def series(rows):
    """Per row, what a curve is named by: the model, and for any other objective than a classifier head that
    objective in brackets, "(instruct)" or "(conversation)" (and the shots of its evaluation when not zero-shot)."""
    objective = objective_of(rows)
    shots = rows["shots"].fillna(0).astype(int) if "shots" in rows else 0 * rows["training_size"]
    return [model if kind == "classifier" else f"{model} ({kind}{'' if not n else f', {n}-shot'})"
            for model, kind, n in zip(rows["model"], objective, shots)]


def analysis(table, name: str):
    """The rows of one analysis ("finetune", "probing", "attention", "attribution", "generate") of a tidy table of
    any analyses, with `objective` filled in and `series` added (an empty frame when there are none).

    Args:
        table: Tidy rows (`runstore.read_tables` of one analysis, or the merged study table).
        name: The analysis.
    """
    if table is None or table.empty or "analysis" not in table:
        import pandas as pd

        return pd.DataFrame(columns=["analysis", "task", "model", "training_size", "seed", "layer", "head", "metric",
                                     "value", "objective", "series"])
    rows = table[table["analysis"] == name]
    rows = rows.dropna(axis=1, how="all") if len(rows) else rows
    rows = rows.assign(objective=objective_of(rows))
    return rows.assign(series=series(rows) if len(rows) else [])


def kind_of(rows) -> dict:
    """Model -> "encoder" / "decoder" from the rows' `kind` column, else from the registry ("" when unknown)."""
    from bioprobe.registry import MODELS

    found = {}
    if "kind" in rows:
        for model, kind in zip(rows["model"], rows["kind"]):
            if isinstance(kind, str) and kind:
                found.setdefault(model, kind)
    for model in rows["model"].unique():
        if model not in found:
            found[model] = MODELS[model].kind if model in MODELS else ""
    return found


def size_order(values) -> list:
    """Training sizes sorted numerically (as ints)."""
    return sorted({int(v) for v in values})


def main_probing_rows(table):
    """The probing rows of the default setting per task (most frequent probe and pooling, entity types not BIO, items
    outside a prompt, the model's own pretrained reference), with `baseline` as "" or "random-init"."""
    rows = analysis(table, "probing")
    if "bio" in rows.columns:
        rows = rows[~rows["bio"].fillna(False).astype(bool)]
    if "in_prompt" in rows.columns:  # items inside a prompt and explicit references are comparisons of their own
        rows = rows[~rows["in_prompt"].fillna(False).astype(bool)]
    if "reference" in rows.columns:  # each run against its own pretrained model, not another model in the table
        reference = rows["reference"].fillna("").astype(str)
        rows = rows[(reference == "") | (reference == rows["model"].astype(str))]
    if rows.empty:
        return rows
    rows = rows.assign(baseline=rows["baseline"].astype("string").fillna("").astype(str)
                       if "baseline" in rows else "")
    for column, default in (("probe", "logistic"), ("pooling", "")):
        if column not in rows:
            rows = rows.assign(**{column: default})
    probe = rows["probe"].mode().iloc[0]
    rows = rows[rows["probe"] == probe]
    import pandas as pd

    keep = [rows[(rows["task"] == task) & (rows["pooling"] == rows.loc[rows["task"] == task, "pooling"].mode().iloc[0])]
            for task in rows["task"].unique()]
    return pd.concat(keep, ignore_index=True)


def without_repeated_released(rows):
    """Probing rows without an instruction run's size 0 (the model as released) where the classifier objective's size
    0 of the same task and model is there: the same pretrained weights, shown once, as "pretrained"."""
    released = (rows["objective"] == "instruct") & (rows["training_size"] == 0) & (rows["baseline"] == "")
    pretrained = rows[(rows["objective"] == "classifier") & (rows["training_size"] == 0) & (rows["baseline"] == "")]
    shown = set(zip(pretrained["task"], pretrained["model"]))
    repeated = rows.apply(lambda row: (row["task"], row["model"]) in shown, axis=1) if len(rows) else released
    return rows[~(released & repeated)]


def best_layer(validation) -> int | None:
    """The layer with the highest validation accuracy (ties go to the lowest layer), or None when there is none.

    Choosing by the test score and then reporting that layer's test score and interval would report the maximum
    of noisy estimates, optimistic most of all on a few hundred NLI pairs; the chosen layer's test score is not.

    Args:
        validation: Layer -> validation accuracy (a dict or a pandas Series); missing values are skipped.
    """
    scores = {int(layer): float(value) for layer, value in dict(validation).items()
              if value is not None and value == value}
    if not scores:
        return None
    top = max(scores.values())
    return min(layer for layer, value in scores.items() if value == top)


def condition(baseline: str, size: int, objective: str = "classifier") -> str:
    """How a run's weights are named in figures and tables: "pretrained", "random init" or "30 %" (+ " instruct")."""
    if baseline:
        return "random init"
    if int(size) == 0:
        return "pretrained" if objective == "classifier" else "released"
    return f"{int(size)} %" + (" instruct" if objective == "instruct" else "")


def unchanged_runs(table) -> list[str]:
    """One sentence per tuned run whose weights equal the pretrained ones (analysis "diff": the whole body's relative
    change, module "all", group "model", is exactly 0.0), a sanity failure the report states in its causal section.

    Args:
        table: Tidy rows of any analyses.

    Returns:
        "<model> <task> <size> % (<objective>): the tuned weights equal the pretrained ones; its other analyses
        describe the pretrained model." per such run (the seed named where the run has several), in table order.
    """
    rows = analysis(table, "diff")
    if rows.empty or "module" not in rows or "group" not in rows:
        return []
    body = rows[(rows["module"] == "all") & (rows["group"] == "model") & (rows["metric"] == "relative_change")
                & rows["layer"].isna()]
    seeds = body.groupby(["task", "model", "objective", "training_size"])["seed"].nunique()
    sentences = []
    for _, row in body[body["value"] == 0.0].iterrows():
        run = (row["task"], row["model"], row["objective"], row["training_size"])
        seed = f", seed {int(row['seed'])}" if seeds.get(run, 1) > 1 else ""
        sentence = (f"{row['model']} {task_title(row['task'])} {int(row['training_size'])} % ({row['objective']}"
                    f"{seed}): the tuned weights equal the pretrained ones; its other analyses describe the pretrained "
                    "model.")
        if sentence not in sentences:
            sentences.append(sentence)
    return sentences


SEED_BANDS = "with several seeds, lines are means over seeds and bands ± 1 s.d. over seeds"
"""What a figure's caption adds where some line has several seeds (`over_seeds`)."""


def over_seeds(rows, keys: list[str], columns=("value", "ci_low", "ci_high")):
    """The mean over seeds (and any repeated rows) of `columns` per `keys`; where a key has several seeds,
    `ci_low` / `ci_high` become the mean ∓ 1 s.d. of the seeds' values (a mean of the seeds' interval bounds is no
    interval of anything) and an `n_seeds` column says how many; with one seed they stay that seed's interval."""
    import pandas as pd

    keys = list(keys)
    present = [c for c in columns if c in rows]
    if "seed" not in rows:
        return rows.groupby(keys, as_index=False, dropna=False)[present].mean()
    per_seed = rows.groupby(keys + ["seed"], as_index=False, dropna=False)[present].mean()
    grouped = per_seed.groupby(keys, as_index=False, dropna=False)
    out = grouped[present].mean()
    counts = grouped["seed"].nunique()["seed"].to_numpy()
    if (counts > 1).any():  # the column only where some key has several (one-seed data stays as it was)
        out["n_seeds"] = counts
    if "value" in present and (counts > 1).any():
        spread = grouped["value"].std()["value"].to_numpy()
        several = counts > 1
        for column, sign in (("ci_low", -1), ("ci_high", 1)):
            if column not in out:
                out[column] = pd.NA
            out[column] = out[column].astype(float).where(~several, out["value"] + sign * spread)
    return out


def seed_bands(data) -> bool:
    """Whether some line of a figure's data has several seeds (its band is ± 1 s.d. over them: `SEED_BANDS`)."""
    return "n_seeds" in data and bool((data["n_seeds"] > 1).any())


def seed_note(caption: str, data) -> str:
    """`caption` with `SEED_BANDS` before its final period where some line of `data` has several seeds."""
    if not seed_bands(data):
        return caption
    return f"{caption.rstrip().rstrip('.')}; {SEED_BANDS}."
