"""Paper figures drawn from the tidy result tables alone (PNG and PDF); no model is ever loaded here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioprobe.registry import TASKS, safe_name as safe

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


PROBING_METRICS = {  # metric -> y label, y limits
    "accuracy": ("probe accuracy (test)", (0, 1)),
    "selectivity": ("selectivity (task - control accuracy)", None),
    "mdl_compression": ("MDL compression (uniform / online code)", None),
    "cka": ("CKA with the pretrained layer (debiased)", None),
}


def main_probing_rows(table):
    """The rows of the default setting per task (most frequent probe and pooling, entity types not BIO)."""
    rows = table[table["analysis"] == "probing"]
    if "bio" in rows.columns:
        rows = rows[~rows["bio"].fillna(False).astype(bool)]
    if rows.empty:
        return rows
    probe = rows["probe"].mode().iloc[0]
    rows = rows[rows["probe"] == probe]
    keep = [rows[(rows["task"] == task) & (rows["pooling"] == rows.loc[rows["task"] == task, "pooling"].mode().iloc[0])]
            for task in rows["task"].unique()]
    import pandas as pd

    return pd.concat(keep, ignore_index=True)


def _layer_curves(rows, metric: str, depth: bool, path: Path) -> list[Path]:
    """One panel per task (depth) or per task and model (layers); one line per training size, bands = 95 % CI.

    The random-init baseline, when present, is a dashed grey line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = rows[rows["metric"] == metric].copy()
    if rows.empty:
        return []
    rows["x"] = rows["layer"] / rows["n_layers"] if depth else rows["layer"]
    panels = sorted(rows["task"].unique()) if depth else sorted({(t, m) for t, m in zip(rows["task"], rows["model"])})
    models = sorted(rows["model"].unique())
    rows["baseline"] = rows["baseline"].astype("string").fillna("")
    sizes = sorted(rows.loc[rows["baseline"] == "", "training_size"].unique())
    colors = dict(zip(sizes, sns.color_palette("viridis", len(sizes))))
    markers = dict(zip(models, "osD^v<>"))
    ylabel, ylim = PROBING_METRICS[metric]
    sns.set_theme(style="whitegrid", context="paper")
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        part = rows[rows["task"] == panel] if depth else rows[(rows["task"] == panel[0]) & (rows["model"] == panel[1])]
        for (model, baseline, size), line in part.groupby(["model", "baseline", "training_size"]):
            line = line.groupby("x", as_index=False)[["value", "ci_low", "ci_high"]].mean().sort_values("x")
            random_init = baseline == "random-init"
            label = (f"{model} " if depth else "") + ("random init" if random_init else f"{size} %")
            color = "0.55" if random_init else colors[size]
            ax.plot(line["x"], line["value"], marker=markers[model] if depth else "o", markersize=3, color=color,
                    linestyle="--" if random_init else "-", label=label)
            if line["ci_low"].notna().any():
                ax.fill_between(line["x"], line["ci_low"], line["ci_high"], color=color, alpha=0.15, linewidth=0)
        title = panel.upper() if depth else f"{panel[1]}: {panel[0].upper()}"
        ax.set_title(title)
        ax.set_xlabel("normalised depth (layer / layers)" if depth else "layer (0 = embeddings)")
        ax.set_ylabel(ylabel)
        if ylim:
            ax.set_ylim(*ylim)
        if metric == "selectivity":
            ax.axhline(0, color="0.3", linewidth=0.8)
        ax.legend(title="model, training data" if depth else "training data", fontsize=6, title_fontsize=7)
    figure.tight_layout()
    written = _save(figure, path)
    plt.close(figure)
    return written


def probing_figures(table, out_dir: Path) -> list[Path]:
    """Per-layer probe accuracy, selectivity, MDL compression and CKA, by layer and by normalised depth.

    Args:
        table: Tidy probing rows (`analysis == "probing"`).
        out_dir: Folder for `probing_{metric}_{layers,depth}.png` / `.pdf`.

    Returns:
        The files written.
    """
    if table.empty:
        return []
    rows = main_probing_rows(table)
    written = []
    for metric in PROBING_METRICS:
        for depth in (False, True):
            written += _layer_curves(rows, metric, depth,
                                     out_dir / f"probing_{metric}_{'depth' if depth else 'layers'}")
    return written


ATTENTION_METRICS = {  # metric -> colour bar label, colour map
    "cosine": ("cosine with the pretrained maps", "viridis"),
    "js": ("JS divergence from the pretrained maps (bits)", "magma_r"),
    "entropy_change": ("entropy change (bits)", "coolwarm"),
    "importance": ("head importance (normalised per layer)", "Blues"),
}


ANNOTATE_CELLS = 150


def attention_heatmaps(table, out_dir: Path) -> list[Path]:
    """Layer x head heatmaps of each metric, one panel per training size, one figure per task, model and metric
    (the study's figure; annotated with the values when a panel has at most `ANNOTATE_CELLS` cells, e.g. minilm's
    6 x 12, and not for a 30-layer decoder, whose hundreds of 5-point numbers nobody could read)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    written = []
    heads = table[table["head"].notna()]
    for (task, model), part in heads.groupby(["task", "model"]):
        for metric, (label, cmap) in ATTENTION_METRICS.items():
            rows = part[part["metric"] == metric].astype({"layer": int, "head": int})
            if rows.empty:
                continue
            sizes = sorted(rows["training_size"].unique())
            n_layers, n_heads = int(rows["layer"].max()) + 1, int(rows["head"].max()) + 1
            annotate = n_layers * n_heads <= ANNOTATE_CELLS
            width = max(3.0, 0.45 * n_heads + 1.2)
            figure, axes = plt.subplots(1, len(sizes), figsize=(width * len(sizes), max(3.0, 0.28 * n_layers + 1.2)),
                                        squeeze=False)
            values = rows.pivot_table(index=["training_size", "layer"], columns="head", values="value")
            low, high = float(np.nanmin(values.to_numpy())), float(np.nanmax(values.to_numpy()))
            center = 0.0 if metric == "entropy_change" else None
            for ax, size in zip(axes[0], sizes):
                grid = values.loc[size]
                sns.heatmap(grid, ax=ax, cmap=cmap, vmin=None if center is not None else low,
                            vmax=None if center is not None else high, center=center, annot=annotate, fmt=".2f",
                            annot_kws={"fontsize": 5}, cbar=ax is axes[0][-1], cbar_kws={"label": label})
                ax.set_title(f"{size} % training data", fontsize=9)
                ax.set_xlabel("head")
                ax.set_ylabel("layer" if ax is axes[0][0] else "")
            figure.suptitle(f"{model}, {task.upper()}: {label}", fontsize=10)
            figure.tight_layout()
            written += _save(figure, out_dir / f"attention_{metric}_{task}_{safe(model)}")
            plt.close(figure)
    return written


def attention_layer_means(table, out_dir: Path) -> list[Path]:
    """Per-layer mean over heads of the cosine with the pretrained maps against training size, one line per layer,
    one panel per task and model; and the same on normalised depth, encoder and decoder on one axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = table[(table["metric"] == "cosine") & table["head"].notna()]
    if rows.empty:
        return []
    means = rows.groupby(["task", "model", "training_size", "layer", "n_layers"], as_index=False)["value"].mean()
    sns.set_theme(style="whitegrid", context="paper")
    panels = sorted({(t, m) for t, m in zip(means["task"], means["model"])})
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (task, model) in zip(axes[0], panels):
        part = means[(means["task"] == task) & (means["model"] == model)]
        n_layers = int(part["n_layers"].iloc[0])
        colors = sns.color_palette("viridis", n_layers)
        for layer, line in part.groupby("layer"):
            ax.plot(line["training_size"], line["value"], marker="o", markersize=3, color=colors[int(layer)],
                    label=f"layer {int(layer)}" if n_layers <= 12 or layer % 5 == 0 else None)
        ax.set_title(f"{model}: {task.upper()}")
        ax.set_xlabel("training data (%)")
        ax.set_ylabel("mean cosine with pretrained attention")
        ax.set_xticks(sorted(part["training_size"].unique()))
        ax.legend(fontsize=6, ncol=2)
    figure.tight_layout()
    written = _save(figure, out_dir / "attention_layer_means")
    plt.close(figure)

    means["depth"] = (means["layer"] + 1) / means["n_layers"]
    tasks = sorted(means["task"].unique())
    figure, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        part = means[means["task"] == task]
        sns.lineplot(data=part, x="depth", y="value", hue="training_size", style="model", markers=True,
                     dashes=False, palette="viridis", ax=ax)
        ax.set_title(task.upper())
        ax.set_xlabel("normalised depth ((layer + 1) / layers)")
        ax.set_ylabel("mean cosine with pretrained attention")
        ax.legend(fontsize=6, title_fontsize=7)
    figure.tight_layout()
    written += _save(figure, out_dir / "attention_depth")
    plt.close(figure)
    return written


def attention_figures(table, out_dir: Path) -> list[Path]:
    """Every attention figure from the tidy attention rows."""
    if table.empty:
        return []
    return attention_heatmaps(table, out_dir) + attention_layer_means(table, out_dir)


def attribution_examples(attributions, path: Path, title: str = "") -> list[Path]:
    """Each example's tokens shaded by their attribution (red for, blue against the explained prediction).

    Args:
        attributions: `attention.attribute.Attribution` records.
        path: Output path without suffix.
        title: Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not attributions:
        return []
    cmap = plt.get_cmap("coolwarm")
    per_line, lines = 14, []
    for item in attributions:
        scale = float(np.abs(item.scores).max()) or 1.0
        cells = [(token.replace("Ġ", "").replace("▁", "").replace("</w>", ""), score / scale)
                 for token, score in zip(item.tokens, item.scores)]
        what = f"→ {item.target}" + (f" (token {item.position}: {cells[item.position][0]})"
                                     if item.position is not None else "") + f", delta {item.delta:+.3f}"
        lines.append(("label", what))
        for start in range(0, len(cells), per_line):
            lines.append(("tokens", cells[start:start + per_line]))
    figure, ax = plt.subplots(figsize=(11, 0.32 * len(lines) + 0.6))
    ax.set_xlim(0, per_line)
    ax.set_ylim(len(lines), -0.5)
    ax.axis("off")
    for row, (kind, content) in enumerate(lines):
        if kind == "label":
            ax.text(0, row, content, fontsize=7, fontweight="bold", va="center")
            continue
        for column, (token, weight) in enumerate(content):
            ax.text(column + 0.05, row, token[:12], fontsize=6.5, va="center",
                    bbox={"facecolor": cmap(0.5 + 0.5 * weight), "edgecolor": "none", "pad": 1.5})
    if title:
        ax.set_title(title, fontsize=9)
    written = _save(figure, path)
    plt.close(figure)
    return written
