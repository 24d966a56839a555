"""Attribution figures: the share of Integrated-Gradients attribution on a task's segment (NLI's hypothesis, RE's
entities) against training size, and example sentences with each token shaded by its attribution (from
`Attribution` records or the tidy rows)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe.figures import style
from bioprobe.registry import safe_name
from bioprobe.rows import analysis, kind_of, size_order, task_title
from bioprobe.tasks import TASKS


def segment_share(table, out_dir: Path) -> list[style.Drawing]:
    """`attribution_share`: per task with an attribution share (`Task.share_name`: NLI's hypothesis, RE's entities),
    the share of the absolute attribution against training size with its 95 % bootstrap interval over test items,
    one panel per task, one line per model and objective; dotted, the share a uniform attribution would give (the
    segment's share of the tokens of the drawn examples)."""
    rows = analysis(table, "attribution")
    tasks = [task for task in TASKS.values() if task.share_name and not rows.empty and
             ((rows["task"] == task.name) & (rows["metric"] == task.share_name)).any()]
    if not tasks:
        return []
    uniform = {task.name: uniform_share(rows[rows["task"] == task.name]) for task in tasks}
    rows = rows[rows["metric"].isin([task.share_name for task in tasks])]
    kinds = kind_of(rows)
    names = sorted(rows["series"].unique(), key=lambda s: (kinds.get(s.split()[0]) != "encoder", s))
    colors, markers = style.category_colors(names), style.category_markers(names)
    sizes = size_order(rows["training_size"])
    columns = ["task", "series", "training_size", "value"] + [c for c in ("ci_low", "ci_high", "n_items") if c in rows]
    data = rows[columns].groupby(["task", "series", "training_size"], as_index=False).mean()
    with style.theme():
        figure, axes = style.grid(len(tasks), len(tasks), width=style.ONE_COLUMN * (1 if len(tasks) == 1 else 1.6),
                                  panel_height=2.1)
        for ax, task in zip(axes, tasks):
            shown = data[data["task"] == task.name]
            present = [name for name in names if (shown["series"] == name).any()]
            offsets = np.linspace(-1.2, 1.2, len(present)) if len(present) > 1 else [0.0]
            for offset, name in zip(offsets, present):
                part = shown[shown["series"] == name].sort_values("training_size")
                x = part["training_size"] + offset  # side by side where several models share a size
                errors = None
                if "ci_low" in part and part["ci_low"].notna().all():
                    errors = [part["value"] - part["ci_low"], part["ci_high"] - part["value"]]
                kind = kinds.get(name.split()[0])
                ax.errorbar(x, part["value"], yerr=errors, color=colors[name], marker=markers[name],
                            linestyle="--" if "instruct" in name else "-", capsize=2, elinewidth=0.8,
                            label=name + (f" [{kind}]" if kind else ""))
            ax.set_xticks(sizes)
            ax.set_xlim(min(sizes) - 6, max(sizes) + 6)
            ax.set_ylim(0, 1)
            if uniform[task.name] is not None:
                ax.axhline(uniform[task.name], color="0.6", linewidth=0.6, linestyle=":")
            ax.set_xlabel("training data (%)")
            ax.set_ylabel(f"{task.share_title} of attribution")
            if len(tasks) > 1:
                ax.set_title(task.title)
        style.legend_outside(figure, *style.axes_entries(axes), where="bottom", ncol=2)
        files = style.save(figure, out_dir / "attribution_share")
    caption = " ".join(f"{task.title}: share of the absolute Integrated-Gradients attribution that falls on "
                       f"{task.share_where}, averaged over test {task.items}, with 95 % bootstrap intervals"
                       + (f"; dotted: {uniform[task.name]:.2f}, the share a uniform attribution would give (the "
                          "segment's share of the drawn examples' tokens)." if uniform[task.name] is not None else ".")
                       for task in tasks)
    return [style.Drawing("attribution_share", files, data.round(4), caption, "attribution")]


def uniform_share(rows) -> float | None:
    """The share of the segment (1) among the scored tokens (segments 0 and 1, special tokens left out) of the
    example rows of one task: what the share would be if every token had the same attribution; None without them."""
    if "segment" not in rows:
        return None
    segments = rows.loc[rows["metric"] == "attribution", "segment"].dropna()
    segments = segments[segments >= 0]
    return float((segments == 1).mean()) if len(segments) else None


@dataclass
class TokenScores:
    """The fields of `attention.attribute.Attribution` that a drawing needs, rebuilt from tidy rows."""

    tokens: list
    scores: np.ndarray
    target: str
    position: int | None
    delta: float


def attribution_examples(attributions, path: Path, title: str = "") -> list[Path]:
    """Each example's tokens shaded by their attribution (red for, blue against the explained prediction), wrapped
    to the two-column width.

    Args:
        attributions: `attention.attribute.Attribution` records (tokens, scores, target, position, delta).
        path: Output path without suffix.
        title: Figure title.

    Returns:
        The PNG and PDF written (none without examples).
    """
    if not attributions:
        return []
    with style.theme() as plt:
        cmap = plt.get_cmap("RdBu_r")
        per_line = 122  # characters of 6.5-point monospace (0.6 em wide) across 6.9 in, less the margins
        lines = []
        for item in attributions:
            scores = np.asarray(item.scores, dtype=float)
            scale = float(np.nanmax(np.abs(scores))) if len(scores) else 1.0
            cells = [(str(token).replace("Ġ", "").replace("▁", "").replace("</w>", "")[:14], score / (scale or 1.0))
                     for token, score in zip(item.tokens, scores)]
            shown = "" if item.position is None or item.position != item.position else \
                f" (token {int(item.position)}: {cells[int(item.position)][0]})"
            lines.append(("label", f"\u2192 {item.target}{shown}, convergence delta {item.delta:+.3f}"))
            row, used = [], 0
            for token, weight in cells:
                if used + len(token) + 1 > per_line and row:
                    lines.append(("tokens", row))
                    row, used = [], 0
                row.append((used, token, weight))
                used += len(token) + 1.5
            if row:
                lines.append(("tokens", row))
        height = 0.17 * len(lines) + 0.3
        figure, ax = plt.subplots(figsize=(style.TWO_COLUMN, height))
        ax.set_xlim(0, per_line)
        ax.set_ylim(len(lines) - 0.5, -0.5)
        ax.axis("off")
        for number, (kind, content) in enumerate(lines):
            if kind == "label":
                ax.text(0, number, content, fontsize=6.5, fontweight="bold", va="center")
                continue
            for column, token, weight in content:
                ax.text(column, number, token, fontsize=6.5, va="center", family="DejaVu Sans Mono",
                        bbox={"facecolor": cmap(0.5 + 0.45 * weight), "edgecolor": "none", "pad": 1.2})
        if title:
            ax.set_title(title, fontsize=7.5, loc="left")
        figure.subplots_adjust(left=0.01, right=0.99, top=1 - 0.22 / height, bottom=0.02)
        return style.save(figure, path)


def examples_from_rows(table, out_dir: Path) -> list[style.Drawing]:
    """`attribution_{task}_{model}_size{N}[-instruct]`: the per-token attribution rows of each run redrawn (the same
    figure `bioprobe attribute` draws)."""
    rows = analysis(table, "attribution")
    if rows.empty or "token" not in rows:
        return []
    tokens = rows[rows["metric"] == "attribution"]
    deltas = rows[rows["metric"] == "convergence_delta"]
    drawn = []
    for (task, model, size, objective), part in tokens.groupby(["task", "model", "training_size", "objective"]):
        records = []
        for example, items in part.groupby("example"):
            items = items.sort_values("position")
            delta = deltas[(deltas["task"] == task) & (deltas["model"] == model) &
                           (deltas["training_size"] == size) & (deltas["objective"] == objective) &
                           (deltas["example"] == example)]["value"]
            position = items["explained_position"].iloc[0] if "explained_position" in items else None
            records.append(TokenScores(list(items["token"].astype(str)), items["value"].to_numpy(),
                                       str(items["target"].iloc[0]) if "target" in items else "",
                                       None if position is None or position != position else int(position),
                                       float(delta.iloc[0]) if len(delta) else float("nan")))
        instruct = objective == "instruct"
        name = f"attribution_{task}_{safe_name(model)}_size{int(size)}{'-instruct' if instruct else ''}"
        title = f"{model}, {task_title(task)}, {'instruction-tuned, ' if instruct else ''}{int(size)} % training data"
        files = attribution_examples(records, out_dir / name, title=title)
        columns = [c for c in ("example", "position", "token", "value", "target", "segment") if c in part]
        caption = (f"{title}: Integrated-Gradients attribution of each token to the explained prediction (red for, "
                   "blue against; scaled per example); the delta is the completeness error of the integral.")
        drawn.append(style.Drawing(name, files, part[columns].rename(columns={"value": "attribution"}).round(4),
                                   caption, "attribution"))
    return drawn


def all_attribution(table, out_dir: Path) -> list[style.Drawing]:
    """Every attribution figure."""
    return segment_share(table, out_dir) + examples_from_rows(table, out_dir)
