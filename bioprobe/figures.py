"""Paper figures drawn from the tidy result tables alone (PNG and PDF); no model is ever loaded here."""

from __future__ import annotations

from pathlib import Path

MAIN_METRIC = {"ner": "f1", "nli": "accuracy"}
METRIC_TITLE = {"f1": "entity F1 (test)", "accuracy": "accuracy (test)", "macro_f1": "macro-F1 (test)"}


def _save(figure, path: Path) -> list[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in (".png", ".pdf"):
        target = path.with_suffix(suffix)
        figure.savefig(target, dpi=150, bbox_inches="tight")
        written.append(target)
    return written


def finetune_curves(table, out_dir: Path) -> list[Path]:
    """Test score against training size, one line per model, one panel per task.

    Args:
        table: Tidy fine-tuning rows (`analysis == "finetune"`), any number of seeds (mean and range drawn).
        out_dir: Folder for `finetune_curves.png` / `.pdf`.

    Returns:
        The files written (none when the table is empty).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = table[(table["label"].fillna("all") == "all")]
    rows = rows[[MAIN_METRIC.get(t) == m for t, m in zip(rows["task"], rows["metric"])]]
    if rows.empty:
        return []
    tasks = sorted(rows["task"].unique())
    sns.set_theme(style="whitegrid", context="paper")
    figure, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        part = rows[rows["task"] == task].sort_values("training_size")
        sns.lineplot(data=part, x="training_size", y="value", hue="model", style="model", markers=True,
                     dashes=False, errorbar=("pi", 100), ax=ax)
        ax.set_title(task.upper())
        ax.set_xlabel("training data (%)")
        ax.set_ylabel(METRIC_TITLE[MAIN_METRIC[task]])
        ax.set_xticks(sorted(part["training_size"].unique()))
        ax.set_ylim(0, 1)
    figure.tight_layout()
    written = _save(figure, out_dir / "finetune_curves")
    plt.close(figure)
    return written


def entity_type_f1(table, out_dir: Path) -> list[Path]:
    """NER F1 per entity type against training size, one panel per model.

    Returns:
        The files written (none when there are no per-type rows).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = table[(table["task"] == "ner") & (table["metric"] == "f1") & (table["label"].fillna("all") != "all")]
    if rows.empty:
        return []
    models = sorted(rows["model"].unique())
    sns.set_theme(style="whitegrid", context="paper")
    figure, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.4), squeeze=False, sharey=True)
    for ax, model in zip(axes[0], models):
        part = rows[rows["model"] == model].sort_values("training_size")
        sns.lineplot(data=part, x="training_size", y="value", hue="label", markers=True, style="label",
                     dashes=False, errorbar=("pi", 100), ax=ax)
        ax.set_title(f"{model}: NER F1 by entity type")
        ax.set_xlabel("training data (%)")
        ax.set_ylabel("entity F1 (test)")
        ax.set_xticks(sorted(part["training_size"].unique()))
        ax.set_ylim(0, 1)
    figure.tight_layout()
    written = _save(figure, out_dir / "finetune_entity_types")
    plt.close(figure)
    return written
