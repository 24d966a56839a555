"""The report's tables, built from the tidy result rows and rendered as Markdown, LaTeX (booktabs) and HTML:
fine-tuning scores by size, the generative evaluation, the clinical prompts, the probing summary, the similarity
measures with their intervals, the attention summary, the attribution share, which changes matter (weight
difference, reverting, amnesic erasure) and what the tuned model says (output divergence, logit lens)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from bioprobe import runstore
from bioprobe.rows import (GENERATIVE_TITLE, MAIN_METRIC, METRIC_TITLE, SELECTION_METRIC, analysis, best_layer,
                           main_probing_rows, over_seeds, task_order, task_title, without_repeated_released)
from bioprobe.tasks import TASKS

NAN = float("nan")


@dataclass
class Table:
    """One table of the report.

    Attributes:
        name: File stem (`tables/{name}.tex`) and anchor.
        caption: What the table shows (Markdown emphasis free; used as the LaTeX caption).
        columns: Header cells.
        rows: Body rows, cells as display strings.
        section: Report section ("finetune", "clinical", "probing", "attention", "attribution").
        notes: Sentences printed under the table (caveats about some rows).
    """

    name: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    section: str
    notes: list[str] = field(default_factory=list)


def _number(value, digits: int = 3) -> str:
    return "" if value is None or value != value else f"{value:.{digits}f}"


def _interval(value, low, high, digits: int = 3) -> str:
    if value is None or value != value:
        return ""
    if low is None or low != low or high is None or high != high:
        return _number(value, digits)
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _seeded(rows, digits: int = 3) -> tuple[str, bool]:
    """The rows of one value measured once per seed (one metric, one layer) as a cell: the value with its 95 %
    interval for one seed; for several, the mean ± s.d. over seeds (a mean of the seeds' interval bounds is no
    interval of anything; `rows.over_seeds`, as the figures draw them). Also whether there were several."""
    if rows.empty:
        return "", False
    cell = over_seeds(rows.assign(cell=0), ["cell"]).iloc[0]
    if cell.get("n_seeds", 1) > 1:
        return f"{cell['value']:.{digits}f} ± {cell['ci_high'] - cell['value']:.{digits}f}", True
    return _interval(cell["value"], cell.get("ci_low"), cell.get("ci_high"), digits), False


def finetune_tables(table) -> list[Table]:
    """Per task: the main test score per model (classifier- or instruction-tuned) and training size, mean over seeds
    (+- s.d. where there are several)."""
    rows = analysis(table, "finetune")
    if rows.empty:
        return []
    rows = rows[rows["label"].fillna("all") == "all"] if "label" in rows else rows
    tables = []
    for task in task_order(rows["task"]):
        metric = MAIN_METRIC.get(task)
        part = rows[(rows["task"] == task) & (rows["metric"] == metric)]
        if part.empty:
            continue
        stats = part.groupby(["series", "training_size"])["value"].agg(["mean", "std", "count"])
        sizes = sorted({int(s) for s in part["training_size"]})
        several = bool((stats["count"] > 1).any())
        body = []
        for name in sorted(part["series"].unique()):
            cells = [name]
            for size in sizes:
                if (name, size) not in stats.index:
                    cells.append("")
                    continue
                mean, sd, count = stats.loc[(name, size)]
                cells.append(_number(mean) + (f" ± {sd:.3f}" if count > 1 else ""))
            body.append(cells)
        caption = (f"{task_title(task)} fine-tuning: {METRIC_TITLE.get(metric, metric)} by training data (0 % = the "
                   "pretrained model with an untrained head; instruct = instruction tuning scored by generation, 0 % "
                   "the released model)" + ("; mean ± s.d. over seeds." if several else "."))
        tables.append(Table(f"finetune_{task}", caption, ["model", *[f"{s} %" for s in sizes]], body, "finetune"))
    return tables


def generative_tables(table) -> list[Table]:
    """Per task: the generative evaluation of instruction-tuned runs by training size: the score over every item,
    the parse rate, the task's other generative scores (`Task.generative_metrics`: NER lenient and aligned F1, NLI
    and RE log-likelihood accuracy, CLS macro-F1), the items with each failure kind."""
    rows = analysis(table, "finetune")
    rows = rows[rows["objective"] == "instruct"] if not rows.empty else rows
    if rows.empty:
        return []
    tables = []
    for task in task_order(rows["task"]):
        part = rows[rows["task"] == task]
        main = MAIN_METRIC.get(task)
        extra = list(TASKS[task].generative_metrics) if task in TASKS else []
        body = []
        for (name, size), run in part.groupby(["series", "training_size"]):
            labels = run["label"].fillna("all") if "label" in run else "all"
            value = run[labels == "all"].groupby("metric")["value"].mean()
            failures = run[run["metric"] == "failures"].groupby("label")["value"].mean() \
                if "label" in run else {}
            shown = ", ".join(f"{kind.replace('_', ' ')} {int(n)}" for kind, n in dict(failures).items() if n > 0)
            items = run["n_test"].dropna() if "n_test" in run else []
            body.append([name, f"{int(size)} %", *[_number(value.get(m, NAN)) for m in (main, "parse_rate", *extra)],
                         shown or "none", str(int(items.iloc[0])) if len(items) else ""])
        caption = (f"{task_title(task)} generative evaluation of instruction-tuned runs on the test instructions: "
                   f"{GENERATIVE_TITLE.get(main, main)} counts every item (an answer that does not parse is wrong), "
                   "the parse rate is the share of answers in the expected format, failures count items per kind.")
        scores = [GENERATIVE_TITLE.get(m, m) for m in (main, "parse_rate", *extra)]
        tables.append(Table(f"generative_{task}", caption, ["model", "training data", *scores, "failures (items)",
                                                            "items"], body, "finetune"))
    return tables


PROMPT_METRICS = {  # the clinical prompts' scores, in column order, with their headers
    "extract": (("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
                ("not_verbatim_share", "not verbatim"), ("predicted_per_item", "entities / item")),
    "search": (("precision", "precision"), ("recall_at_1", "recall@1"), ("recall_at_3", "recall@3"),
               ("answered", "answered")),
    "summarise": (("rouge1", "ROUGE-1"), ("rouge2", "ROUGE-2"), ("rougeL", "ROUGE-L"), ("summary_words", "words"),
                  ("faithful_share_proxy", "faithfulness proxy")),
}
PROMPT_CAPTION = {
    "extract": "entity extraction: entity-string precision, recall and F1 against the NER gold (micro-averaged), "
               "the share of predicted strings that are not verbatim spans of the text, and entities per item",
    "search": "document search: precision of the sentence numbers given, recall@1 and @3 of the sentence that "
              "entails the query, and the share of items answered at all",
    "summarise": "summarisation: ROUGE-1/2/L F-measure where the documents have reference summaries, the summary "
                 "length in words, and the share of summary sentences whose content words all occur in the document "
                 "(a crude faithfulness proxy, named as such)",
}


def clinical_tables(table) -> list[Table]:
    """Per clinical prompt: its scores for the model as released and for every instruction- and conversation-tuned
    checkpoint at each training size, side by side (mean over seeds)."""
    rows = analysis(table, "generate")
    if rows.empty:
        return []
    order = {"released": 0, "instruct": 1, "conversation": 2}
    tables = []
    for prompt, metrics in PROMPT_METRICS.items():
        part = rows[rows["task"] == prompt]
        shown = [(metric, header) for metric, header in metrics if (part["metric"] == metric).any()]
        if part.empty or not shown:
            continue
        body = []
        runs = part.groupby(["model", "objective", "training_size"])
        for (model, objective, size), run in sorted(runs, key=lambda kv: (kv[0][0], order.get(kv[0][1], 3),
                                                                          int(kv[0][2]))):
            value = run.groupby("metric")["value"].mean()
            items = run["n_test"].dropna() if "n_test" in run else []
            body.append([model, objective, f"{int(size)} %", *[_number(value.get(m, NAN)) for m, _ in shown],
                         str(int(items.iloc[0])) if len(items) else ""])
        caption = (f"Clinical prompt '{prompt}', {PROMPT_CAPTION[prompt]}; for the model as released and each "
                   "instruction- or conversation-tuned checkpoint by its training data.")
        tables.append(Table(f"clinical_{prompt}", caption,
                            ["model", "checkpoint", "training data", *[h for _, h in shown], "items"], body,
                            "clinical"))
    return tables


def probing_tables(table) -> list[Table]:
    """Per task: probe accuracy on layer 0 and on the best layer (highest validation accuracy, see `best_layer`) with
    its test score and interval, selectivity and MDL compression there, and the CKA of the last layer with the
    pretrained model, by model and training size (random init and instruction-tuned runs as rows of their own)."""
    rows = main_probing_rows(table)
    if rows.empty:
        return []
    rows = without_repeated_released(rows)
    tables = []
    for task in task_order(rows["task"]):
        part = rows[rows["task"] == task]
        body, unselected, on_train, several = [], False, False, False
        for (model, baseline, objective, size), run in part.groupby(["model", "baseline", "objective",
                                                                     "training_size"]):
            metric = run.pivot_table(index="layer", columns="metric", values="value", aggfunc="mean")
            if "accuracy" not in metric:
                continue
            accuracy = metric["accuracy"]
            best = best_layer(metric[SELECTION_METRIC]) if SELECTION_METRIC in metric else None
            unselected |= best is None
            first = int(accuracy.index.min())

            def cell(name, layer, digits=3):
                value = metric[name].get(layer) if name in metric and layer is not None else None
                return _number(value, digits)

            def scored(layer):
                nonlocal several
                cell, many = _seeded(run[(run["metric"] == "accuracy") & (run["layer"] == layer)])
                several |= many
                return cell

            mdl = cell("mdl_compression", best, 2)
            items = set(run.loc[run["metric"] == "mdl_compression", "mdl_items"].dropna()) if "mdl_items" in run \
                else set()
            if mdl and items != {"validation"}:  # a table written when MDL was measured on the training items
                mdl, on_train = f"{mdl} (train items)", True
            last = int(run["n_layers"].iloc[0]) if "n_layers" in run and run["n_layers"].notna().any() else \
                int(accuracy.index.max())
            data = "random init" if baseline else "pretrained" if int(size) == 0 else \
                f"{int(size)} %" + (" instruct" if objective == "instruct" else "")
            body.append([str(model), data, scored(first), "" if best is None else str(best),
                         "" if best is None else scored(best), cell("selectivity", best), mdl, cell("cka", last)])
        notes = []
        if unselected:
            notes.append("Runs without validation scores (tables written before the best layer was chosen on "
                         "validation items) name no best layer; probe them again.")
        if on_train:
            notes.append("MDL marked (train items) was measured on the training items, which a fine-tuned model was "
                         "trained on; probe again to measure it on validation items.")
        caption = (f"{task_title(task)} probing ({part['probe'].iloc[0]} probe, {part['pooling'].iloc[0]} pooling): "
                   "test accuracy with 95 % bootstrap interval on layer 0 (the embeddings) and on the best layer, the "
                   "one with the highest validation accuracy; selectivity and MDL compression (validation items) at "
                   "that layer; debiased CKA of the last layer with the pretrained model"
                   + ("; with several seeds, mean ± s.d. over seeds in place of the interval (the other cells: means "
                      "over seeds)." if several else "."))
        tables.append(Table(f"probing_{task}", caption,
                            ["model", "training data", "layer 0", "best layer (validation)", "test accuracy there",
                             "selectivity there", "MDL compression there", "CKA of last layer with pretrained"],
                            body, "probing", notes))
    return tables


SIMILARITY_COLUMNS = {  # similarity metric -> its header, and whether a lower value means "changed more"
    "cka": ("debiased CKA", True), "procrustes": ("Procrustes distance", False), "mutual_knn": ("mutual k-NN", True)}


def similarity_tables(table) -> list[Table]:
    """Per task with similarity rows: each measure of the last layer with the same pretrained layer, with its 95 %
    bootstrap interval, and the layer each measure says changed most (lowest CKA and mutual k-NN overlap, largest
    Procrustes distance), by model and training size (random init and instruction-tuned runs as rows of their own),
    so a reader sees at once where the measures disagree."""
    rows = main_probing_rows(table)
    if rows.empty:
        return []
    rows = rows[rows["metric"].isin(list(SIMILARITY_COLUMNS)) & rows["value"].notna() & rows["layer"].notna()]
    tables = []
    for task in task_order(rows["task"]):
        part = rows[rows["task"] == task]
        measures = [m for m in SIMILARITY_COLUMNS if (part["metric"] == m).any()]
        body, several = [], False
        for (model, baseline, objective, size), run in part.groupby(["model", "baseline", "objective",
                                                                     "training_size"]):
            per_layer = run.groupby(["metric", "layer"])[[c for c in ("value", "ci_low", "ci_high") if c in run]] \
                .mean()
            last = int(run["n_layers"].max()) if "n_layers" in run and run["n_layers"].notna().any() else \
                int(run["layer"].max())
            cells, most = [], []
            for metric in measures:
                if metric not in per_layer.index.get_level_values(0):
                    cells.append("")
                    most.append("-")
                    continue
                values = per_layer.loc[metric]
                cell, many = _seeded(run[(run["metric"] == metric) & (run["layer"] == last)])
                cells.append(cell)
                several |= many
                lower = SIMILARITY_COLUMNS[metric][1]
                moved = values["value"].idxmin() if lower else values["value"].idxmax()
                most.append(str(int(moved)))
            data = "random init" if baseline else f"{int(size)} %" + (" instruct" if objective == "instruct" else "")
            body.append([str(model), data, *cells, " / ".join(most)])
        names = [SIMILARITY_COLUMNS[m][0] for m in measures]
        caption = (f"{task_title(task)} representation similarity with the pretrained model: "
                   + ", ".join(names) + " of the last layer with the same pretrained layer (95 % bootstrap interval "
                   f"over the test {TASKS[task].items if task in TASKS else 'items'}, those of one sentence drawn "
                   "together where the probe reads words), and the layer each measure says changed most (lowest CKA "
                   "and k-NN overlap, largest Procrustes distance; 0 = the embeddings), in that order"
                   + ("; with several seeds, mean ± s.d. over seeds in place of the interval, and the layers of the "
                      "seeds' mean." if several else "."))
        tables.append(Table(f"similarity_{task}", caption,
                            ["model", "training data", *[f"{name}, last layer" for name in names],
                             "layer that changed most (" + " / ".join(names) + ")"], body, "probing"))
    return tables


def attention_tables(table) -> list[Table]:
    """Per task: the layers whose attention moved most (lowest mean cosine over heads with the pretrained maps) and
    least, the mean JS divergence, how head importance ranks against the change, and the task's own statistics
    (`Task.attention_pairs`: RE's attention mass between the entities, pretrained -> tuned), by model and size."""
    rows = analysis(table, "attention")
    if rows.empty or "head" not in rows:
        return []
    if "in_prompt" in rows:
        rows = rows[~rows["in_prompt"].fillna(False).astype(bool)]
    cosine = rows[(rows["metric"] == "cosine") & rows["head"].notna()]
    tables = []
    for task in task_order(cosine["task"]):
        part = cosine[cosine["task"] == task]
        pairs = TASKS[task].attention_pairs if task in TASKS else ()
        body = []
        for (name, size), run in part.groupby(["series", "training_size"]):
            per_layer = run.groupby("layer")["value"].mean().sort_values()
            most = ", ".join(f"{int(layer)} ({value:.4f})" for layer, value in per_layer.head(2).items())
            least = ", ".join(f"{int(layer)} ({value:.4f})" for layer, value in per_layer.tail(1).items())
            same = rows[(rows["task"] == task) & (rows["series"] == name) & (rows["training_size"] == size)]
            js = same.loc[same["metric"] == "js", "value"].mean()
            rho = same.loc[same["metric"] == "importance_change_spearman", "value"]
            mass = [f"{same.loc[same['metric'] == f'{pair}_a', 'value'].mean():.3f} -> "
                    f"{same.loc[same['metric'] == f'{pair}_b', 'value'].mean():.3f}" for pair, _ in pairs]
            body.append([name, f"{int(size)} %", f"{run['value'].mean():.4f}", most, least, _number(js, 4),
                         "" if rho.empty or rho.iloc[0] != rho.iloc[0] else f"{rho.iloc[0]:+.2f}", *mass])
        caption = (f"{task_title(task)} attention: mean cosine of the tuned with the pretrained attention maps (1 = "
                   "unchanged) over heads and test sentences, the layers that changed most and least, the mean "
                   "Jensen-Shannon divergence, and the Spearman correlation of head importance with the change"
                   + ("; the share of each entity's attention that goes to the other entity's tokens, mean over "
                      "layers and heads, pretrained -> tuned." if pairs else "."))
        tables.append(Table(f"attention_{task}", caption,
                            ["model", "training data", "mean cosine", "layers that changed most (cosine)",
                             "least changed", "mean JS (bits)", "importance vs change (Spearman)",
                             *[title for _, title in pairs]], body, "attention"))
    return tables


def attribution_table(table) -> list[Table]:
    """Per task with an attribution share (`Task.share_name`: NLI's hypothesis, RE's entities), the share of
    Integrated-Gradients attribution by model and training size (table `attribution`, then `attribution_<task>`)."""
    rows = analysis(table, "attribution")
    out = []
    for task in TASKS.values():
        if rows.empty or not task.share_name:
            continue
        part = rows[(rows["task"] == task.name) & (rows["metric"] == task.share_name)]
        if part.empty:
            continue
        body, several = [], False
        for (series, size), run in part.groupby(["series", "training_size"], sort=True):
            items = run["n_items"].dropna() if "n_items" in run else []
            cell, many = _seeded(run)
            several |= many
            body.append([series, f"{int(size)} %", cell, "" if not len(items) else str(int(items.iloc[0]))])
        caption = (f"{task.title} attribution: share of the absolute Integrated-Gradients attribution that falls on "
                   f"{task.share_where} (test {task.items}, 95 % bootstrap interval"
                   + ("; with several seeds, mean ± s.d. over seeds" if several else "") + ").")
        name = "attribution" if not out else f"attribution_{task.name}"
        out.append(Table(name, caption, ["model", "training data", task.share_title, "items"], body, "attribution"))
    return out


CAUSAL_ANALYSES = ("diff", "revert", "amnesic")


def _largest(values) -> tuple | None:
    """The key of the largest value of a Series (ties: the first in index order) with its value, or None."""
    values = values.dropna().sort_index()
    if values.empty:
        return None
    key = values.idxmax()
    return key, float(values[key])


def _rows_of(table, names, columns):
    """The rows of several analyses in one frame, with `columns` present (None where an analysis has none of them),
    or None when there are no such rows."""
    import pandas as pd

    parts = [part for part in (analysis(table, name) for name in names) if not part.empty]
    if not parts:
        return None
    rows = pd.concat(parts, ignore_index=True)
    for column in columns:
        if column not in rows:
            rows[column] = None
    return rows


def causal_tables(table) -> list[Table]:
    """Per task, which changes matter, by model, objective and training size: the whole body's relative weight change
    (analysis "diff"), the block whose reversion alone to the pretrained weights loses the most gain and the head that
    does ("revert", mode "single"), with the tuned score they are measured on, and the layer whose amnesic erasure
    drops the score most beyond the random-subspace control ("amnesic"); means over seeds.

    Layers are hidden-state numbers: 0 = the embeddings, l = transformer block l.
    """
    rows = _rows_of(table, CAUSAL_ANALYSES, ("module", "group", "mode", "score_name", "ci_low", "ci_high"))
    if rows is None:
        return []
    if "head" not in rows:
        rows["head"] = NAN
    tables = []
    for task in task_order(rows["task"]):
        part = rows[rows["task"] == task]
        body, unchanged, several = [], False, False
        runs = part.groupby(["model", "objective", "training_size"])
        order = {"classifier": 0, "instruct": 1}
        for (model, objective, size), run in sorted(runs, key=lambda kv: (str(kv[0][0]), order.get(kv[0][1], 2),
                                                                          int(kv[0][2]))):
            diff, revert, amnesic = (run[run["analysis"] == name] for name in CAUSAL_ANALYSES)
            whole = diff.loc[(diff["module"] == "all") & (diff["group"] == "model") & diff["layer"].isna() &
                             (diff["metric"] == "relative_change"), "value"].mean()
            unchanged |= whole == 0.0
            change = "0 (unchanged)" if whole == 0.0 else "" if whole != whole else f"{whole:.4g}"
            tuned = revert.loc[(revert["metric"] == "tuned_score") & revert["layer"].isna(), "value"].mean()
            names = sorted(set(revert["score_name"].dropna().astype(str)))
            score = "" if tuned != tuned else f"{tuned:.3f}" + (f" ({'/'.join(names)})" if names else "")
            lost = revert[(revert["metric"] == "gain_lost") & (revert["mode"] == "single") & revert["layer"].notna()]
            block = _largest(lost[lost["head"].isna()].groupby("layer")["value"].mean())
            head = _largest(lost[lost["head"].notna()].groupby(["layer", "head"])["value"].mean())
            drops = amnesic[(amnesic["metric"] == "drop_beyond_control") & amnesic["layer"].notna()]
            drop = _largest(drops.groupby("layer")["value"].mean())
            if drop is not None:
                shown, many = _seeded(drops[drops["layer"] == drop[0]])
                several |= many
            untuned = "" if int(size) else " (pretrained)" if objective == "classifier" else " (released)"
            body.append([f"{model}" + ("" if objective == "classifier" else f" ({objective})"),
                         f"{int(size)} %{untuned}",
                         change, score,
                         "" if block is None else f"{int(block[0])} ({block[1]:.2f})",
                         "" if head is None else f"layer {int(head[0][0])} head {int(head[0][1])} ({head[1]:.2f})",
                         "" if drop is None else f"{int(drop[0])}: {shown}"])
        notes = []
        if unchanged:
            notes.append("A relative weight change of 0 means the tuned weights equal the pretrained ones: that run's "
                         "other analyses describe the pretrained model.")
        caption = (f"{task_title(task)}, which changes matter: the relative weight change of the whole body "
                   "(Frobenius norm of W_tuned - W_pre over that of W_pre), the tuned score that reversions are "
                   "measured on, the block "
                   "(0 = the embeddings, l = transformer block l) and the head whose reversion alone to the "
                   "pretrained weights loses the most gain, with the gain lost ((tuned - reverted) / (tuned - size 0); "
                   "1 = all the gain of tuning), and the layer where erasing the probed concept (LEACE) drops the "
                   "score most beyond a random subspace of the same rank (95 % bootstrap interval"
                   + ("; with several seeds, mean ± s.d. over seeds, and the other cells means over seeds" if several
                      else "") + ").")
        tables.append(Table(f"causal_{task}", caption,
                            ["model", "training data", "relative weight change", "tuned score",
                             "block losing most gain", "head losing most gain", "largest amnesic drop beyond control"],
                            body, "causal", notes))
    return tables


def _reading(rows, reading: str, metric: str, layer=None):
    """The mean value of one lens metric of one reading ("run" / "reference"), at `layer` (None: the layerless row)."""
    pick = rows[(rows["reading"] == reading) & (rows["metric"] == metric)]
    pick = pick[pick["layer"].isna()] if layer is None else pick[pick["layer"] == layer]
    return pick["value"].mean() if len(pick) else NAN


def _last_rank(rows, reading: str) -> float:
    """The gold token's rank at the last layer of a reading's model (its `n_layers`; NaN where it was not read)."""
    pick = rows[(rows["reading"] == reading) & (rows["metric"] == "answer_rank")]
    if pick.empty:
        return NAN
    known = "n_layers" in pick and pick["n_layers"].notna().any()
    return _reading(rows, reading, "answer_rank", pick["n_layers"].max() if known else pick["layer"].max())


def _decodable(rows, reading: str):
    """A reading's decodable layer, the mean over seeds; NaN (never) when no seed reaches one, and the count of
    seeds that never do beside the mean of the others ("20 (never in 1 of 3 seeds)") when only some do."""
    pick = rows[(rows["reading"] == reading) & (rows["metric"] == "decodable_layer") & rows["layer"].isna()]
    values = pick.groupby("seed")["value"].mean() if "seed" in pick else pick["value"]
    reached = values.dropna()
    if reached.empty or len(reached) == len(values):
        return reached.mean() if len(reached) else NAN
    return f"{reached.mean():.0f} (never in {len(values) - len(reached)} of {len(values)} seeds)"


def _then(before, after, digits: int, missing: str = "never") -> str:
    """"before -> after", "after" alone where there is no before; `missing` for NaN (a layer never reached); text
    stays as it is."""
    def shown(value):
        return value if isinstance(value, str) else missing if value != value else f"{value:.{digits}f}"

    return shown(after) if before is None else f"{shown(before)} -> {shown(after)}"


def diffing_tables(table) -> list[Table]:
    """Per task with divergence or lens rows, what the tuned model says against its reference, by model, objective,
    training size and reference: KL(tuned || reference) at prompt and at answer positions (nats per token, 95 %
    bootstrap interval over items), the logit lens's decodable layer (the lowest where the mean over items of the
    share of answer tokens ranked first reaches one half) and the gold token's rank at each model's own last layer
    (geometric mean over items; "-" where it was not read), reference -> run. A size-0 run read alone (the model as
    released or pretrained) shows its own values."""
    rows = _rows_of(table, ("divergence", "lens"), ("reference", "position", "reading", "ci_low", "ci_high"))
    if rows is None:
        return []
    rows = rows.assign(reference=rows["reference"].astype("string").fillna("").astype(str))
    tables = []
    for task in task_order(rows["task"]):
        part = rows[rows["task"] == task]
        body, several = [], False
        order = {"instruct": 0, "conversation": 1}
        runs = part.groupby(["model", "objective", "training_size", "reference"])
        for (model, objective, size, reference), run in sorted(
                runs, key=lambda kv: (str(kv[0][0]), order.get(kv[0][1], 2), int(kv[0][2]), kv[0][3])):
            kl = run[(run["analysis"] == "divergence") & (run["metric"] == "kl")]
            cells = []
            for position in ("prompt", "answer"):
                cell, many = _seeded(kl[kl["position"] == position])
                cells.append(cell)
                several |= many
            lens = run[run["analysis"] == "lens"]
            if lens.empty:
                cells += ["", ""]
            else:
                compared = "reference" in set(lens["reading"].dropna())
                cells += [_then(_decodable(lens, "reference") if compared else None, _decodable(lens, "run"), 0),
                          _then(_last_rank(lens, "reference") if compared else None, _last_rank(lens, "run"), 1,
                                missing="-")]
            untuned = "" if int(size) else " (pretrained)" if objective == "classifier" else " (released)"
            body.append([f"{model} ({objective})", f"{int(size)} %{untuned}", reference or "-", *cells])
        caption = (f"{task_title(task)}, what the tuned model says against its reference: KL(tuned || reference) of "
                   "the next-token distributions at prompt and at answer positions (nats per token, 95 % bootstrap "
                   "interval over test items); the logit lens, reference -> run: the decodable layer (the lowest "
                   "where the mean over items of each item's share of gold answer tokens ranked first reaches one "
                   "half; 0 = the embeddings; never = no layer read) and the gold token's rank at each model's last "
                   "layer (geometric mean over items; 1 = the top token; - = that layer was not read). A run at 0 % "
                   "is the model as released (or pretrained), read alone. Means over seeds"
                   + ("; KL with several seeds: mean ± s.d. over seeds in place of the interval." if several else "."))
        tables.append(Table(f"diffing_{task}", caption,
                            ["model", "training data", "reference", "KL at prompt positions",
                             "KL at answer positions", "decodable layer", "answer rank, last layer"],
                            body, "diffing"))
    return tables


def all_tables(table) -> list[Table]:
    """Every table the rows allow, in report order."""
    return finetune_tables(table) + generative_tables(table) + clinical_tables(table) + probing_tables(table) + \
        similarity_tables(table) + attention_tables(table) + attribution_table(table) + causal_tables(table) + \
        diffing_tables(table)


def markdown(table: Table, caption: bool = True) -> str:
    """The table as GitHub Markdown (caption in bold above, notes below)."""
    lines = [f"**{table.caption}**\n"] if caption else []
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append("|" + "---|" * len(table.columns))
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table.rows]
    text = "\n".join(lines) + "\n"
    return text + "".join(f"\n{note}\n" for note in table.notes)


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "ρ": r"$\rho$",
          "→": r"$\rightarrow$", "−": r"$-$"}

# A number with its sign and exponent ("-0.067", "1.5e-05") standing on its own (not the "1" of "ROUGE-1"), or "->".
_NUMBER_OR_ARROW = re.compile(r"(?<![\w.])(?P<sign>[-+−]?)(?P<digits>\d+(?:\.\d+)?|\.\d+)"
                              r"(?:[eE](?P<exponent>[-+]?\d+))?(?![\w.])|(?P<arrow>->)")


def _escape_plain(text: str) -> str:
    return "".join(_LATEX.get(character, character) for character in text)


def _latex_number(match: re.Match) -> str:
    if match["arrow"]:
        return r"$\rightarrow$"
    sign = {"-": "$-$", "−": "$-$"}.get(match["sign"], match["sign"])
    if match["exponent"] is None:
        return sign + match["digits"]
    return f"{sign}{match['digits']}$\\times10^{{{int(match['exponent'])}}}$"


def latex_escape(text: str) -> str:
    """Text with LaTeX's special characters escaped (and ±, ρ, → as math), the minus of a negative number as a
    math minus ("-0.067" -> "$-$0.067", not a hyphen), an exponent as a power of ten ("1.5e-05" ->
    "1.5$\\times10^{-5}$") and "->" as an arrow."""
    text, out, done = str(text), [], 0
    for match in _NUMBER_OR_ARROW.finditer(text):
        out += [_escape_plain(text[done:match.start()]), _latex_number(match)]
        done = match.end()
    return "".join(out) + _escape_plain(text[done:])


# Sizes (TeX points) the LaTeX tables are laid out for: set in \small (9 pt Computer Modern) in a two-column paper.
POINTS_PER_INCH = 72.27
COLUMN_WIDTH = 3.3 * POINTS_PER_INCH
"""One paper column (3.3 in), as the figures (`bioprobe.figures.style.ONE_COLUMN`)."""
TEXT_WIDTH = 6.9 * POINTS_PER_INCH
"""The full text width (6.9 in) that a `table*` spans."""
WIDE_COLUMNS = 6
"""A table with this many columns or more spans the text width (`table*`) whatever its estimated width."""
HEADER_WIDTH = 40.0
"""Headers wrap to lines of at least this width (pt) even over narrower columns (about 9 characters)."""
TABCOLSEP = 6.0
"""LaTeX's default space (pt) either side of a column; wide tables that need room use `NARROW_TABCOLSEP`."""
NARROW_TABCOLSEP = 4.0

# Advance widths (pt) at \small: cmr10's at 9 pt widened by 4 % (cmr9, the design size \small uses, is wider)
# and rounded up; math symbols as typeset (the minus of a negative number, ±, →).
_LETTERS = dict(zip("abcdefghijklmnopqrstuvwxyz", (4.7, 5.2, 4.2, 5.2, 4.2, 2.9, 4.7, 5.2, 2.6, 2.9, 5.0, 2.6, 7.8, 5.2,
                                                   4.7, 5.2, 5.0, 3.7, 3.7, 3.7, 5.2, 5.0, 6.8, 5.0, 5.0, 4.2)))
_CAPITALS = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", (7.1, 6.7, 6.8, 7.2, 6.4, 6.2, 7.4, 7.1, 3.4, 4.9, 7.3, 5.9, 8.6,
                                                    7.1, 7.3, 6.4, 7.3, 6.9, 5.2, 6.8, 7.1, 7.1, 9.7, 7.1, 7.1, 5.8)))
_WIDTH = {**_LETTERS, **_CAPITALS, **dict.fromkeys("0123456789/_", 4.7), " ": 3.2, "-": 3.2,
          **dict.fromkeys(".,:;[]!'`", 2.6), **dict.fromkeys("()", 3.7), **dict.fromkeys("%@", 7.8),
          **dict.fromkeys("+=<>±−×", 7.3), "→": 9.4, "|": 9.4}


def _as_typeset(match: re.Match) -> str:
    """A number or arrow as the characters it is typeset with (for `text_width`)."""
    if match["arrow"]:
        return "→"
    exponent = f"×10{match['exponent']}" if match["exponent"] else ""
    return ("−" if match["sign"] in "-−" and match["sign"] else match["sign"]) + match["digits"] + exponent


def text_width(text: str) -> float:
    """Estimated width in TeX points of a display string typeset in \\small (9 pt Computer Modern), a slight
    overestimate; a negative number's minus and "->" are counted as the math symbols `latex_escape` makes them."""
    typeset = _NUMBER_OR_ARROW.sub(_as_typeset, str(text))
    return sum(_WIDTH.get(c, 7.8) for c in typeset)


def _greedy(words: list[str], width: float) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and text_width(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def wrap_header(text: str, width: float, most: int = 3) -> list[str]:
    """A header broken at spaces into lines no wider than `width` (a longer word stays whole), or wider ones where
    that takes more than `most` lines; balanced, so that no line is left with one short word ("head losing most /
    gain" becomes "head losing / most gain")."""
    words = str(text).split()
    lines = _greedy(words, width)
    while len(lines) > most:
        width += 2.0
        lines = _greedy(words, width)
    low, high = 0.0, width  # the narrowest width that still takes as few lines
    for _ in range(20):
        middle = (low + high) / 2
        low, high = (low, middle) if len(_greedy(words, middle)) <= len(lines) else (middle, high)
    return _greedy(words, high)


@dataclass
class LatexLayout:
    """How a table is set.

    Attributes:
        float: "table" (one column) or "table*" (the full text width).
        spec: The `tabular` column spec.
        headers: Each column's header, as its lines.
        numeric: Whether each column holds numbers (set flush right).
        tabcolsep: Space (pt) either side of a column.
        width: Estimated width of the tabular (pt).
        packages: The packages it needs (booktabs; makecell for wrapped headers; array for `p{}` columns).
    """

    float: str
    spec: str
    headers: list[list[str]]
    numeric: list[bool]
    tabcolsep: float
    width: float
    packages: list[str]


def _longest_word(cells) -> float:
    return max((text_width(word) for cell in cells for word in str(cell).split()), default=0.0)


def latex_layout(table: Table) -> LatexLayout:
    """Lay a table out for \\small so that it fits: in one column (3.3 in) as a `table` when it can, otherwise over
    the full text width (6.9 in) as a `table*` (always from `WIDE_COLUMNS` columns on). Headers wrap onto lines no
    wider than their column (at least `HEADER_WIDTH`); when the table is still too wide, the columns whose cells
    have spaces become `p{}` columns under one common width, lowered until the table fits, each column no
    narrower than its longest word."""
    count = len(table.columns)
    columns = list(zip(*table.rows)) if table.rows else [()] * count
    numeric = [bool(column) and all(not cell or cell[0] in "+-0123456789" for cell in column) for column in columns]
    body = [max((text_width(cell) for cell in column), default=0.0) for column in columns]
    header_word = [_longest_word([header]) for header in table.columns]
    floor = [max(_longest_word(column), word) for column, word in zip(columns, header_word)]

    def widths(caps):
        """Header lines and column widths when no column is wider than its cap (except for a longest word)."""
        shown = [min(b, cap) for b, cap in zip(body, caps)]
        headers = [wrap_header(header, max(width, HEADER_WIDTH, word))
                   for header, width, word in zip(table.columns, shown, header_word)]
        return headers, [max(width, *(text_width(line) for line in lines)) for width, lines in zip(shown, headers)]

    unlimited = [float("inf")] * count
    caps, (headers, width) = unlimited, widths(unlimited)
    wide = count >= WIDE_COLUMNS or sum(width) + 2 * TABCOLSEP * count > COLUMN_WIDTH
    space = TEXT_WIDTH if wide else COLUMN_WIDTH
    tabcolsep = TABCOLSEP if sum(width) + 2 * TABCOLSEP * count <= space else NARROW_TABCOLSEP
    room = space - 2 * tabcolsep * count
    if sum(width) > room:  # lower one common cap on the breakable columns until the table fits (or none breaks)
        breakable = [b > f + 0.01 for b, f in zip(body, floor)]

        def capped(level):
            return [max(level, f) if can and b > max(level, f) else float("inf")
                    for can, b, f in zip(breakable, body, floor)]

        low, high = 0.0, max(body)
        for _ in range(30):
            level = (low + high) / 2
            low, high = (level, high) if sum(widths(capped(level))[1]) <= room else (low, level)
        caps = capped(low)
        headers, width = widths(caps)
    spec = ""
    for is_number, cap, column_width in zip(numeric, caps, width):
        if cap == float("inf"):
            spec += "r" if is_number else "l"
        else:
            align = r"\raggedleft" if is_number else r"\raggedright"
            spec += f">{{{align}\\arraybackslash}}p{{{column_width:.1f}pt}}"
    packages = ["booktabs"] + (["makecell"] if any(len(lines) > 1 for lines in headers) else []) + \
        (["array"] if "p{" in spec else [])
    return LatexLayout("table*" if wide else "table", spec, headers, numeric, tabcolsep,
                       sum(width) + 2 * tabcolsep * count, packages)


def _latex_header(lines: list[str], is_number: bool) -> str:
    if len(lines) == 1:
        return latex_escape(lines[0])
    return f"\\makecell[{'r' if is_number else 'l'}b]{{" + r" \\ ".join(latex_escape(line) for line in lines) + "}"


def latex(table: Table) -> str:
    """The table as a LaTeX float with a booktabs `tabular`, laid out by `latex_layout`: a `table` when it fits one
    paper column, else a `table*`, headers wrapped with `\\makecell`, `p{}` columns where needed (the packages it
    needs are in `latex_layout(table).packages`, and in the comment `latex_file` starts the file with)."""
    layout = latex_layout(table)
    lines = [f"\\begin{{{layout.float}}}[t]", r"\centering", r"\small"]
    if layout.tabcolsep != TABCOLSEP:
        lines.append(f"\\setlength{{\\tabcolsep}}{{{layout.tabcolsep:g}pt}}")
    lines += [f"\\caption{{{latex_escape(table.caption)}}}", f"\\label{{tab:{table.name.replace('_', '-')}}}",
              f"\\begin{{tabular}}{{{layout.spec}}}", r"\toprule",
              " & ".join(_latex_header(h, n) for h, n in zip(layout.headers, layout.numeric)) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [f"\\par\\smallskip\\footnotesize {latex_escape(note)}" for note in table.notes]
    lines.append(f"\\end{{{layout.float}}}")
    return "\n".join(lines) + "\n"


def latex_file(table: Table) -> str:
    """`tables/{name}.tex`: a comment naming the packages the table needs and the width it was laid out for, then
    the float (`latex`)."""
    layout = latex_layout(table)
    packages = ", ".join(f"\\usepackage{{{name}}}" for name in layout.packages)
    span = "the full text width, 6.9 in" if layout.float == "table*" else "one column, 3.3 in"
    return (f"% Needs {packages} in the preamble.\n"
            f"% Laid out for \\small in {span} (estimated {layout.width / POINTS_PER_INCH:.2f} in wide).\n"
            + latex(table))


def html_table(columns, rows, caption: str = "") -> str:
    """A plain HTML table (cells escaped)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def frame_rows(frame) -> tuple[list[str], list[list[str]]]:
    """Columns and display rows of a DataFrame (numbers to 4 significant decimals, missing values empty)."""
    columns = [str(c) for c in frame.columns]
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for value in values:
            if value is None or (isinstance(value, float) and value != value):
                cells.append("")
            elif isinstance(value, float):
                cells.append(f"{value:.4g}")
            else:
                cells.append(str(value))
        rows.append(cells)
    return columns, rows


def write_latex(tables: list[Table], folder: Path) -> list[Path]:
    """Write each table as `{folder}/{name}.tex`.

    Returns:
        The files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        path = folder / f"{table.name}.tex"
        runstore.write_text(path, latex_file(table))
        written.append(path)
    return written
