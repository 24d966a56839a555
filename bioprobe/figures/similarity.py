"""Similarity figures: each similarity measure of every layer with the same pretrained layer, one panel per measure
side by side, one line per training size (and random init), bands = the bootstrap intervals."""

from __future__ import annotations

from pathlib import Path

from bioprobe.figures import style
from bioprobe.figures.probing import _layer_ticks, condition_colors, condition_order, condition_styles, probing_rows
from bioprobe.registry import safe_name
from bioprobe.rows import over_seeds, seed_note, task_title

MEASURES = {  # metric -> panel title, what it is (captions), y limits, which way is "more alike"
    "cka": ("debiased linear CKA", "debiased linear CKA", (-0.05, 1.05), "higher"),
    "cka_standard": ("linear CKA (standard)", "standard linear CKA", (-0.05, 1.05), "higher"),
    "procrustes": ("Procrustes distance", "orthogonal Procrustes distance (centred, unit Frobenius norm)",
                   (0.0, None), "lower"),
    "mutual_knn": ("mutual k-NN overlap", "mutual k-nearest-neighbour overlap (cosine)", (0.0, 1.05), "higher"),
}
"""The similarity metrics a probing table may hold, in panel order (names of `probing.similarity.MEASURES`)."""


def similarity_layers(table, out_dir: Path) -> list[style.Drawing]:
    """`probing_similarity_{task}_{model}[_instruct]`: per task and model, one panel per similarity measure in the
    table (CKA, Procrustes distance, mutual k-NN), x = layer, one line per training size and random init (the
    pretrained model is the reference, not a line), bands = the 95 % bootstrap intervals of the rows."""
    import pandas as pd

    rows = probing_rows(table)
    if rows.empty:
        return []
    measured = rows[rows["metric"].isin(list(MEASURES)) & rows["value"].notna()]
    drawn = []
    for (task, panel), part in measured.groupby(["task", "panel"]):
        metrics = [m for m in MEASURES if (part["metric"] == m).any()]
        conditions = condition_order(part["condition"])
        colors, styles = condition_colors(conditions), condition_styles(conditions)
        data, banded = [], False
        with style.theme():
            figure, axes = style.grid(len(metrics), len(metrics), panel_height=1.9)
            for ax, metric in zip(axes, metrics):
                title, _, limits, better = MEASURES[metric]
                for name in conditions:
                    here = part[(part["metric"] == metric) & (part["condition"] == name)]
                    if here.empty:
                        continue
                    line = over_seeds(here, ["layer"]).sort_values("layer")
                    ax.plot(line["layer"], line["value"], color=colors[name], label=name, **styles[name])
                    if "ci_low" in line and line["ci_low"].notna().any():
                        ax.fill_between(line["layer"], line["ci_low"], line["ci_high"], color=colors[name],
                                        alpha=0.2, linewidth=0)
                        banded = True
                    data.append(line.assign(metric=metric, condition=name))
                ax.set_title(f"{title}\n({better} = more alike)")
                ax.set_xlabel("layer (0 = embeddings)")
                low, high = limits  # the measure's usual range, widened to whatever the rows hold
                shown = part.loc[part["metric"] == metric, [c for c in ("value", "ci_low", "ci_high") if c in part]]
                least, most = float(shown.min().min()), float(shown.max().max())
                top = max(high, most + 0.05) if high is not None else max(0.1, most + 0.1 * abs(most))
                ax.set_ylim(min(low, least - 0.05), top)
                _layer_ticks(ax, part["layer"].unique())
            objective = part["objective"].iloc[0]
            tuned = "instruction-tuned" if objective == "instruct" else "fine-tuned"
            model = part["model"].iloc[0]
            figure.suptitle(f"{model} {tuned} vs pretrained, {task_title(task)}: each layer against the same "
                            "pretrained layer")
            style.legend_outside(figure, *style.axes_entries(axes), title="weights", where="right")
            name = f"probing_similarity_{task}_{safe_name(model)}" + ("_instruct" if objective == "instruct" else "")
            files = style.save(figure, out_dir / name)
        data = pd.concat(data, ignore_index=True)
        order = ["metric", "condition", "layer", "value"] + [c for c in ("ci_low", "ci_high") if c in data]
        items = part["n_cka"].dropna() if "n_cka" in part else []
        caption = (f"{model} ({tuned}, {task_title(task)}): "
                   + "; ".join(MEASURES[m][1] for m in metrics)
                   + " of each layer with the same layer of the pretrained model, one panel per measure; one line "
                   "per training size" + (" and a randomly initialised model" if "random init" in conditions else "")
                   + (f", on {int(items.iloc[0])} test items" if len(items) else "")
                   + ("; bands are 95 % bootstrap intervals over the test items (sentences for NER), placed around "
                      "each value" if banded else "") + ".")
        drawn.append(style.Drawing(name, files, data[order].round(4), seed_note(caption, data), "probing"))
    return drawn
