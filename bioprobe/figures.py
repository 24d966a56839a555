"""Paper figures drawn from the tidy result tables alone (PNG and PDF); no model is ever loaded here."""

from __future__ import annotations

from pathlib import Path

from bioprobe.registry import TASKS

MAIN_METRIC = {name: spec.metrics[0] for name, spec in TASKS.items()}
METRIC_TITLE = {"f1": "entity F1 (test)", "accuracy": "accuracy (test)", "macro_f1": "macro-F1 (test)"}


def _save(figure, path: Path) -> list[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in (".png", ".pdf"):
        target = path.with_suffix(suffix)
        figure.savefig(target, dpi=150, bbox_inches="tight")
        written.append(target)
    return written


def _size_curves(rows, panel: str, hue: str, legend: str, title, ylabel, path: Path) -> list[Path]:
    """Score against training size: one panel per value of `panel`, one line per value of `hue`.

    Args:
        rows: Tidy rows with `training_size` and `value` (several seeds give a mean and a min-max band).
        panel, hue: Columns that split panels and lines; `legend` names the lines.
        title, ylabel: Functions of the panel value giving the panel's title and y label.
        path: Output path without suffix (PNG and PDF are written).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    panels = sorted(rows[panel].unique())
    sns.set_theme(style="whitegrid", context="paper")
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, key in zip(axes[0], panels):
        part = rows[rows[panel] == key].sort_values("training_size")
        sns.lineplot(data=part, x="training_size", y="value", hue=hue, style=hue, markers=True, dashes=False,
                     errorbar=("pi", 100), ax=ax)
        ax.set_title(title(key))
        ax.set_xlabel("training data (%)")
        ax.set_ylabel(ylabel(key))
        ax.set_xticks(sorted(part["training_size"].unique()))
        ax.set_ylim(0, 1)
        ax.legend(title=legend)
    figure.tight_layout()
    written = _save(figure, path)
    plt.close(figure)
    return written


def finetune_curves(table, out_dir: Path) -> list[Path]:
    """Test score against training size, one line per model, one panel per task.

    Args:
        table: Tidy fine-tuning rows (`analysis == "finetune"`), any number of seeds.
        out_dir: Folder for `finetune_curves.png` / `.pdf`.

    Returns:
        The files written (none when the table is empty).
    """
    rows = table[(table["label"].fillna("all") == "all")]
    rows = rows[[MAIN_METRIC.get(t) == m for t, m in zip(rows["task"], rows["metric"])]]
    if rows.empty:
        return []
    return _size_curves(rows, "task", "model", "model", str.upper, lambda task: METRIC_TITLE[MAIN_METRIC[task]],
                        out_dir / "finetune_curves")


def entity_type_f1(table, out_dir: Path) -> list[Path]:
    """NER F1 per entity type against training size, one panel per model.

    Returns:
        The files written (none when there are no per-type rows).
    """
    rows = table[(table["task"] == "ner") & (table["metric"] == "f1") & (table["label"].fillna("all") != "all")]
    if rows.empty:
        return []
    return _size_curves(rows, "model", "label", "entity type", lambda model: f"{model}: NER F1 by entity type",
                        lambda model: "entity F1 (test)", out_dir / "finetune_entity_types")
