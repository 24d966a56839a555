"""The study's headline figure: encoder against decoder on normalised depth, what each layer knows (probing), how
far its representation moved (CKA) and how far its attention moved, at the largest training size."""

from __future__ import annotations

from pathlib import Path

from bioprobe.figures import flags, style
from bioprobe.figures.attention import _layer_means, head_rows
from bioprobe.figures.probing import probing_rows
from bioprobe.rows import kind_of, task_order, task_title

COLUMNS = (  # key, panel title, y label
    ("accuracy", "what the layer knows", "probe accuracy"),
    ("cka", "representation change", "CKA with pretrained"),
    ("attention", "attention change", "1 - mean cosine"),
)


def depth_comparison(table, out_dir: Path, barely: set | None = None) -> list[style.Drawing]:
    """`depth_comparison`: one row per task; columns probe accuracy (thin: the pretrained model), CKA with the
    pretrained layer and attention change (1 - mean cosine over heads), against normalised depth, at each model's
    largest training size; colour = model, dashed = instruction-tuned."""
    import pandas as pd

    probing = probing_rows(table)
    parts = []
    if not probing.empty:
        tuned = probing[(probing["baseline"] == "") & probing["metric"].isin(["accuracy", "cka"])]
        tuned = tuned.assign(depth=tuned["layer"] / tuned["n_layers"])
        for (task, model, objective, metric), part in tuned.groupby(["task", "model", "objective", "metric"]):
            largest = part["training_size"].max()
            keep = part[part["training_size"] == largest]
            if largest > 0:
                parts.append(keep.assign(key=metric, condition=f"{int(largest)} %"))
            if metric == "accuracy" and objective == "classifier":
                pretrained = part[part["training_size"] == 0]
                parts.append(pretrained.assign(key=metric, condition="pretrained"))
    means = _layer_means(head_rows(table))
    if not means.empty:
        for (task, model, objective), part in means.groupby(["task", "model", "objective"]):
            largest = part["training_size"].max()
            keep = part[part["training_size"] == largest]
            parts.append(keep.assign(key="attention", value=1 - keep["value"], condition=f"{int(largest)} %"))
    if not parts:
        return []
    data = pd.concat([p[["task", "model", "objective", "key", "condition", "training_size", "layer", "depth",
                         "value"]] for p in parts], ignore_index=True)
    data = data.groupby(["task", "model", "objective", "key", "condition", "training_size", "depth"],
                        as_index=False)["value"].mean()
    kinds = kind_of(pd.concat([probing, head_rows(table)], ignore_index=True) if not probing.empty
                    else head_rows(table))
    models = sorted(data["model"].unique(), key=lambda m: (kinds.get(m) != "encoder", m))
    colors, markers = style.category_colors(models), style.category_markers(models)
    tasks = task_order(data["task"])
    columns = [c for c in COLUMNS if (data["key"] == c[0]).any()]
    barely, marked = flags.flagged(table) if barely is None else barely, set()
    with style.theme():
        figure, axes = style.grid(len(tasks) * len(columns), len(columns), panel_height=1.55, sharex=True)
        for row, task in enumerate(tasks):
            for column, (key, title, ylabel) in enumerate(columns):
                ax = axes[row * len(columns) + column]
                part = data[(data["task"] == task) & (data["key"] == key)]
                for (model, objective, name), line in part.groupby(["model", "objective", "condition"]):
                    line = line.sort_values("depth")
                    pretrained = name == "pretrained"
                    ax.plot(line["depth"], line["value"], color=colors[model], marker=None if pretrained else
                            markers[model], markersize=2.2 if len(line) <= 12 else 1.5,
                            linewidth=0.7 if pretrained else 1.1, alpha=0.55 if pretrained else 1.0,
                            linestyle="--" if objective == "instruct" else "-")
                    run = (task, model, objective, flags.size_of(name))
                    if run in barely:
                        flags.mark_line(ax, line["depth"], line["value"], colors[model])
                        marked.add(run)
                ax.set_title(f"{task_title(task)}: {title}")
                ax.set_ylabel(ylabel)
                style.depth_axis(ax)
                if key == "cka":
                    ax.set_ylim(0, 1.02)
                if key == "attention":
                    ax.set_ylim(bottom=0)
                if row == len(tasks) - 1:
                    ax.set_xlabel("depth (layer / layers)")
        named = {(f"{m} [{kinds[m]}]" if kinds.get(m) else m): colors[m] for m in models}
        styles = {"tuned, largest size": "-"}
        if (data["objective"] == "instruct").any():
            styles["instruction-tuned"] = "--"
        styles["pretrained (probe)"] = "-"
        handles, labels = style.key_entries(named, dict(zip(named, markers.values())), styles)
        handles[-1].set_alpha(0.55)
        handles[-1].set_linewidth(0.7)
        style.legend_outside(figure, handles, labels, where="bottom", ncol=len(labels))
        files = style.save(figure, out_dir / "depth_comparison")
    sizes = ", ".join(sorted({c for c in data["condition"] if c != "pretrained"}, key=lambda c: int(c.split()[0])))
    caption = ("Encoder against decoder on normalised depth (0 = embeddings, 1 = last layer; attention layer i sits "
               f"at (i + 1) / layers), at the largest training size ({sizes}): probe accuracy (thin: the pretrained "
               "model), debiased CKA of each layer with the same pretrained layer, and attention change (1 - mean "
               "cosine of the maps over heads); dashed lines are instruction-tuned runs." + flags.caption_note(marked))
    return [style.Drawing("depth_comparison", files, data.round(4), caption, "depth")]
