"""Fine-tuning figures: test score against training size (classifier- and instruction-tuned), F1 per entity type
and the generative evaluation of instruction-tuned runs (score, parse rate).

A score of 0 is common (an instruction-tuned model whose answers never parse), so the score axes start a little
below 0 (`SCORE_LIMITS`) and markers are not clipped at the axes' edge: a line of zeros is drawn above the x axis,
not hidden in it. A panel whose values are all 0 says so ("all 0") inside it, and so does a line of zeros beside
other lines, in its colour at its right end."""

from __future__ import annotations

from pathlib import Path

from bioprobe.figures import style
from bioprobe.rows import MAIN_METRIC, METRIC_TITLE, analysis, kind_of, size_order, task_order, task_title

LINESTYLE = {"classifier": "-", "instruct": "--"}
SCORE_LIMITS = (-0.04, 1.04)
"""y limits of a score or rate axis (0 to 1): a little room below 0 and above 1, so that a line at 0 or 1 is seen."""
ALL_ZERO = "all 0"
"""Written inside a panel (or beside a line) whose values are all 0."""
ZERO_NOTE = f" The y axis starts a little below 0 so that a score of 0 shows; \"{ALL_ZERO}\" marks a panel or line " \
            "that is 0 at every size."


def seed_summary(rows, keys: list[str]):
    """Mean, standard deviation and number of seeds of `value` per `keys` (sd is 0 for a single seed)."""
    grouped = rows.groupby(keys, as_index=False)["value"]
    summary = grouped.agg(mean="mean", sd="std", seeds="count")
    summary["sd"] = summary["sd"].fillna(0.0)
    return summary


def _main_rows(table):
    rows = analysis(table, "finetune")
    if rows.empty:
        return rows
    rows = rows[rows["label"].fillna("all") == "all"] if "label" in rows else rows
    return rows[[MAIN_METRIC.get(t) == m for t, m in zip(rows["task"], rows["metric"])]]


def _size_axis(ax, sizes):
    ax.set_xticks(sizes)
    ax.set_xlim(min(sizes) - 4, max(sizes) + 4)
    ax.set_xlabel("training data (%)")


def _all_zero(values) -> bool:
    """Whether there are values and every one is 0 (means and standard deviations)."""
    values = [v for v in values if v == v]
    return bool(values) and all(v == 0 for v in values)


def _score_axis(ax, part, lines=None):
    """A 0-1 score axis from a little below 0 (`SCORE_LIMITS`); "all 0" inside the panel when every value of `part`
    is 0, or else beside each line of `lines` (label -> (rows, colour)) that is all 0."""
    ax.set_ylim(*SCORE_LIMITS)
    if _all_zero(list(part["mean"]) + list(part["sd"])):
        ax.text(0.5, 0.5, ALL_ZERO, transform=ax.transAxes, ha="center", va="center", fontsize=8, color="0.3",
                gid="all-zero")
        return
    for line, color in (lines or {}).values():
        if _all_zero(list(line["mean"]) + list(line["sd"])):
            ax.annotate(ALL_ZERO, (line["training_size"].max(), 0), xytext=(-2, 3), textcoords="offset points",
                        ha="right", va="bottom", fontsize=6, color=color, gid="all-zero")


def _curve(ax, part, color, linestyle, marker, label):
    """One mean line with a +-1 sd band over seeds where there are several; not clipped at the axes' edge, so that a
    marker at 0 or at the first or last size is whole."""
    part = part.sort_values("training_size")
    ax.plot(part["training_size"], part["mean"], color=color, linestyle=linestyle, marker=marker, label=label,
            clip_on=False)
    if (part["seeds"] > 1).any():
        ax.fill_between(part["training_size"], part["mean"] - part["sd"], part["mean"] + part["sd"], color=color,
                        alpha=0.18, linewidth=0)


def score_curves(table, out_dir: Path) -> list[style.Drawing]:
    """`finetune_curves`: test score against training size, one panel per task, one line per model and objective
    (colour = model, solid = classifier head, dashed = instruction tuning), bands = +-1 s.d. over seeds."""
    rows = _main_rows(table)
    if rows.empty:
        return []
    data = seed_summary(rows, ["task", "model", "objective", "series", "training_size"])
    tasks = task_order(data["task"])
    kinds = kind_of(rows)
    models = sorted(data["model"].unique(), key=lambda m: (kinds.get(m) != "encoder", m))
    colors, markers = style.category_colors(models), style.category_markers(models)
    with style.theme():
        width = style.TWO_COLUMN if len(tasks) > 1 else style.ONE_COLUMN
        figure, axes = style.grid(len(tasks), 3, width=width, panel_height=2.0 if len(tasks) > 1 else 2.2)
        for ax, task in zip(axes, tasks):
            part = data[data["task"] == task]
            lines = {}
            for (model, objective, name), line in part.groupby(["model", "objective", "series"]):
                kind = kinds.get(model)
                _curve(ax, line, colors[model], LINESTYLE.get(objective, ":"), markers[model],
                       f"{name}" + (f" [{kind}]" if kind else ""))
                lines[name] = (line, colors[model])
            ax.set_title(task_title(task))
            ax.set_ylabel(METRIC_TITLE.get(MAIN_METRIC[task], MAIN_METRIC[task]))
            _score_axis(ax, part, lines)
            _size_axis(ax, size_order(part["training_size"]))
        style.legend_outside(figure, *style.axes_entries(axes), title="model", where="right")
        seeds = int(data["seeds"].max())
        caption = ("Test score against the share of training data used (0 % = the pretrained model with an untrained "
                   "head, or the released model for instruction tuning); solid lines are classifier heads, dashed "
                   "lines instruction tuning scored by generation" +
                   (f"; bands are ± 1 s.d. over up to {seeds} seeds." if seeds > 1 else "; one seed.") + ZERO_NOTE)
        files = style.save(figure, out_dir / "finetune_curves")
    return [style.Drawing("finetune_curves", files, data.round(4), caption, "finetune")]


def entity_types(table, out_dir: Path) -> list[style.Drawing]:
    """Per task that reports a score per label (`Task.per_label`; NER: `finetune_entity_types`, F1 per entity type;
    CLS: `finetune_label_f1`): that score against training size, one panel per model (and objective)."""
    from bioprobe.tasks import TASKS

    rows = analysis(table, "finetune")
    if rows.empty or "label" not in rows:
        return []
    drawings = []
    for task in TASKS.values():
        if task.per_label is None:
            continue
        name, label_title, axis_title, metric = task.per_label
        part_rows = rows[(rows["task"] == task.name) & (rows["metric"] == metric)
                         & (rows["label"].fillna("all") != "all")]
        if part_rows.empty:
            continue
        data = seed_summary(part_rows, ["series", "label", "training_size"])
        panels = sorted(data["series"].unique())
        labels = sorted(data["label"].unique())
        colors, markers = style.category_colors(labels), style.category_markers(labels)
        with style.theme():
            ncols = 3 if len(panels) > 2 else max(1, len(panels))
            figure, axes = style.grid(len(panels), ncols,
                                      width=style.TWO_COLUMN if len(panels) > 1 else style.ONE_COLUMN,
                                      panel_height=1.8, sharey=True)
            for ax, panel in zip(axes, panels):
                part = data[data["series"] == panel]
                for label, line in part.groupby("label"):
                    _curve(ax, line, colors[label], "-", markers[label], label)
                ax.set_title(panel)
                _score_axis(ax, part)
                _size_axis(ax, size_order(part["training_size"]))
            axes[0].set_ylabel(axis_title)
            style.legend_outside(figure, *style.axes_entries(axes), title=label_title, where="right")
            files = style.save(figure, out_dir / name)
        caption = (f"{task.title} test {axis_title.replace(' (test)', '')} per {label_title} against training data, "
                   "one panel per model and objective." + ZERO_NOTE)
        drawings.append(style.Drawing(name, files, data.round(4), caption, "finetune"))
    return drawings


GENERATIVE = {  # metric -> legend name, colour index
    "parse_rate": "parse rate",
    "f1": "entity F1 (every sentence)",
    "f1_lenient": "entity F1, lenient",
    "accuracy": "accuracy (every pair)",
    "loglik_accuracy": "accuracy by log-likelihood",
}


def generative(table, out_dir: Path) -> list[style.Drawing]:
    """`finetune_generative`: instruction-tuned runs scored by generation, against training size: the score over
    every item, the parse rate and the lenient / log-likelihood score, one panel per task and model."""
    rows = analysis(table, "finetune")
    rows = rows[rows["objective"] == "instruct"]
    if rows.empty:
        return []
    rows = rows[(rows["label"].fillna("all") == "all") & rows["metric"].isin(list(GENERATIVE))]
    if rows.empty:
        return []
    data = seed_summary(rows, ["task", "series", "metric", "training_size"])
    panels = [(t, s) for t in task_order(data["task"]) for s in sorted(set(data.loc[data["task"] == t, "series"]))]
    colors = style.category_colors(GENERATIVE)
    markers = style.category_markers(GENERATIVE)
    with style.theme():
        width = style.TWO_COLUMN if len(panels) > 1 else style.ONE_COLUMN
        figure, axes = style.grid(len(panels), 3, width=width, panel_height=1.9, sharey=True)
        for ax, (task, name) in zip(axes, panels):
            part = data[(data["task"] == task) & (data["series"] == name)]
            for metric in GENERATIVE:
                line = part[part["metric"] == metric]
                if not line.empty:
                    _curve(ax, line, colors[metric], ":" if metric == "parse_rate" else "-", markers[metric],
                           GENERATIVE[metric])
            ax.set_title(f"{name}: {task_title(task)}")
            _score_axis(ax, part)
            _size_axis(ax, size_order(part["training_size"]))
        axes[0].set_ylabel("score or rate (test)")
        style.legend_outside(figure, *style.axes_entries(axes), where="right" if len(panels) > 1 else "bottom")
        files = style.save(figure, out_dir / "finetune_generative")
    caption = ("Instruction-tuned runs answering the test instructions by greedy generation: the score counts every "
               "item (an answer that does not parse is wrong), the parse rate is the share of answers in the "
               "expected format (dotted)." + ZERO_NOTE)
    return [style.Drawing("finetune_generative", files, data.round(4), caption, "finetune")]
