"""Which changes matter: the weight change per block and per module group (correlational), and what reverting blocks
or heads to the pretrained weights, or erasing the probed concept at a layer, costs the tuned model (causal).

Layers are hidden-state numbers throughout: 0 = the embeddings, l = the output of transformer block l (1..layers);
attention layer i (a 0-based block index) is block i + 1 here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioprobe.figures import style
from bioprobe.registry import safe_name
from bioprobe.rows import analysis, kind_of, over_seeds, seed_note, size_order, task_order, task_title

GROUPS = ("q", "k", "v", "o", "mlp", "norm", "embeddings")
"""Module groups of the per-group heatmap, in column order (the classifier head, new in tuning, is left out)."""
MODES = {  # revert mode -> panel title
    "single": "one block reverted",
    "bottom_up": "bottom-up: this block\nand all below reverted",
    "top_down": "top-down: this block\nand all above reverted",
}
GAIN_LOST = "gain lost = (tuned - reverted) / (tuned - size 0)"


def _mean(rows, keys: list[str], columns=("value",)):
    """Mean over seeds (and any other repeated rows) of `columns` per `keys`; with several seeds the band is ± 1 s.d.
    over them (`rows.over_seeds`)."""
    return over_seeds(rows, keys, columns)


def _with_depth(rows):
    """Rows with `n_layers` (the column, else the largest layer of the model) and `depth` = layer / n_layers."""
    largest = rows.groupby("model")["layer"].transform("max").astype(float)
    n_layers = rows["n_layers"].astype(float).fillna(largest) if "n_layers" in rows else largest
    n_layers = n_layers.where(n_layers > 0, 1.0)
    return rows.assign(n_layers=n_layers, depth=rows["layer"].astype(float) / n_layers)


def _panels(rows, kinds: dict) -> list[tuple[str, str]]:
    """(model, objective) per panel: encoders first (`kinds`: model -> "encoder" / "decoder"), then decoders, the
    classifier objective before the others."""
    pairs = set(zip(rows["model"], rows["objective"]))
    return sorted(pairs, key=lambda p: (kinds.get(p[0]) != "encoder", str(p[0]), p[1] != "classifier", p[1]))


def _panel_title(rows, model: str, objective: str) -> str:
    """"model [kind]", with the objective in brackets when it is not a classifier head and "LoRA" for adapters."""
    kind = kind_of(rows[rows["model"] == model]).get(model, "")
    here = rows[(rows["model"] == model) & (rows["objective"] == objective)]
    lora = "lora" in here and here["lora"].fillna(False).astype(bool).any()
    extras = [objective] if objective != "classifier" else []
    extras += ["LoRA"] if lora else []
    return f"{model}" + (f" [{kind}]" if kind else "") + (f" ({', '.join(extras)})" if extras else "")


def _tuned(objective: str) -> str:
    return "instruction-tuned" if objective == "instruct" else "fine-tuned"


def _suffix(objective: str) -> str:
    return "" if objective == "classifier" else f"_{objective}"


def _size_label(size: int, objectives) -> str:
    """How a legend names a training size: size 0 is the pretrained model (classifier) or the released one
    (instruct)."""
    if size != 0:
        return f"{size} %"
    objectives = set(objectives)
    if objectives <= {"classifier"}:
        return "0 % (pretrained)"
    if "classifier" not in objectives:
        return "0 % (released model)"
    return "0 % (pretrained / released)"


def _score_name(rows) -> str:
    names = rows["score_name"].dropna().astype(str).unique() if "score_name" in rows else []
    return "/".join(sorted(names)) if len(names) else "score"


def _lines(ax, part, x: str, sizes, colors, band: bool = True) -> None:
    """One line per training size of `part` (columns `x`, value, optionally ci_low / ci_high) with its band."""
    for size in sizes:
        line = part[part["training_size"] == size].sort_values(x)
        if line.empty:
            continue
        ax.plot(line[x], line["value"], color=colors[size], marker="o" if len(line) <= 13 else None,
                markersize=2.2, linewidth=1.0, label=f"{size}")
        if band and "ci_low" in line and line["ci_low"].notna().any():
            ax.fill_between(line[x], line["ci_low"], line["ci_high"], color=colors[size], alpha=0.18, linewidth=0)


def _size_legend(figure, sizes, colors, objectives) -> None:
    handles, labels = style.key_entries({_size_label(s, objectives): colors[s] for s in sizes})
    style.legend_outside(figure, handles, labels, title="training data", where="right")


# --- weight-space difference -------------------------------------------------------------------------------------

def block_rows(table):
    """The per-block relative weight change rows of analysis "diff" (module "all", group "block"), mean over seeds,
    with `n_layers` and `depth` = layer / n_layers."""
    rows = analysis(table, "diff")
    if rows.empty or "group" not in rows or "module" not in rows:
        return rows.iloc[:0]
    rows = rows[(rows["module"] == "all") & (rows["group"] == "block") & (rows["metric"] == "relative_change")
                & rows["layer"].notna()]
    if rows.empty:
        return rows
    rows = _with_depth(rows)
    return _mean(rows, ["task", "model", "objective", "training_size", "layer", "n_layers", "depth"])


def relative_change(table, out_dir: Path) -> list[style.Drawing]:
    """`diff_relative_change_{task}`: relative weight change ||W_tuned - W_pre||_F / ||W_pre||_F of each block against
    normalised depth (layer / layers), one line per training size, one panel per model (encoders first; the objective
    in the title when it is not a classifier head)."""
    rows = analysis(table, "diff")
    blocks = block_rows(table)
    drawn = []
    for task in task_order(blocks["task"]) if not blocks.empty else []:
        part = blocks[blocks["task"] == task]
        panels = _panels(part, kind_of(rows))
        sizes = size_order(part["training_size"])
        colors = style.size_colors(sizes)
        ncols = min(len(panels), 6)
        with style.theme():
            figure, axes = style.grid(len(panels), ncols, panel_height=1.6)
            for i, (ax, (model, objective)) in enumerate(zip(axes, panels)):
                here = part[(part["model"] == model) & (part["objective"] == objective)]
                _lines(ax, here, "depth", sizes, colors, band=False)
                ax.set_title(_panel_title(rows, model, objective))
                style.depth_axis(ax)
                ax.set_ylim(bottom=0)
                if i % ncols == 0:
                    ax.set_ylabel("relative weight change")
                ax.set_xlabel("depth (layer / layers)")
            _size_legend(figure, sizes, colors, part["objective"])
            figure.suptitle(f"{task_title(task)}: relative weight change of each block")
            name = f"diff_relative_change_{task}"
            files = style.save(figure, out_dir / name)
        caption = (f"{task_title(task)}: relative weight change ||W_tuned - W_pre||_F / ||W_pre||_F of each block "
                   "(0 = the embeddings, l = transformer block l) against normalised depth (layer / layers), one line "
                   "per training size, one panel per model; mean over seeds.")
        data = part[["model", "objective", "training_size", "layer", "n_layers", "depth", "value"]]
        drawn.append(style.Drawing(name, files, data.sort_values(["model", "objective", "training_size", "layer"])
                                   .reset_index(drop=True).round(6), caption, "causal"))
    return drawn


def group_change(table):
    """Relative weight change per (layer, module group) of analysis "diff", mean over seeds.

    Aggregate rows (module "all" with a group of `GROUPS`) are taken as they are; otherwise the parameters of a group
    in a layer are pooled, sqrt(sum ||dW||^2) / sqrt(sum ||W_pre||^2) with ||W_pre|| = delta_norm / relative_change
    (the mean relative change where a parameter lacks its delta_norm or is unchanged).

    Returns:
        A DataFrame: task, model, objective, training_size, layer, group, value.
    """
    import pandas as pd

    rows = analysis(table, "diff")
    columns = ["task", "model", "objective", "training_size", "layer", "group", "value"]
    if rows.empty or "group" not in rows or "module" not in rows:
        return pd.DataFrame(columns=columns)
    rows = rows[rows["group"].isin(GROUPS) & rows["layer"].notna()]
    keys = ["task", "model", "objective", "training_size", "seed", "layer", "group"]
    given = rows[(rows["module"] == "all") & (rows["metric"] == "relative_change")]
    params = rows[(rows["module"] != "all") & rows["metric"].isin(["relative_change", "delta_norm"])]
    found = [given[keys + ["value"]]]
    if not params.empty:
        wide = params.pivot_table(index=keys + ["module"], columns="metric", values="value").reset_index()
        have = set(map(tuple, given[keys].itertuples(index=False)))
        pooled = []
        for key, part in wide.groupby(keys):
            if tuple(key) in have or "relative_change" not in part:
                continue
            change = part["relative_change"]
            delta = part["delta_norm"] if "delta_norm" in part else None
            if delta is not None and delta.notna().all() and (change > 0).all():
                value = float(np.sqrt((delta ** 2).sum()) / np.sqrt(((delta / change) ** 2).sum()))
            else:
                value = float(change.mean())
            pooled.append({**dict(zip(keys, key)), "value": value})
        found.append(pd.DataFrame(pooled, columns=keys + ["value"]))
    found = pd.concat([f for f in found if len(f)], ignore_index=True) if any(len(f) for f in found) else \
        pd.DataFrame(columns=keys + ["value"])
    if found.empty:
        return pd.DataFrame(columns=columns)
    found["layer"] = found["layer"].astype(int)
    return _mean(found, columns[:-1])


def group_heatmaps(table, out_dir: Path) -> list[style.Drawing]:
    """`diff_groups_{task}`: per model (and objective), its relative weight change per layer (rows, 0 = embeddings)
    and module group (columns: q, k, v, o, mlp, norm, embeddings) at its largest training size, each panel on its own
    colour scale."""
    rows = analysis(table, "diff")
    groups = group_change(table)
    drawn = []
    for task in task_order(groups["task"]) if not groups.empty else []:
        part = groups[groups["task"] == task]
        largest = part.groupby(["model", "objective"])["training_size"].transform("max")
        part = part[part["training_size"] == largest]
        panels = _panels(part, kind_of(rows))
        shown = [g for g in GROUPS if (part["group"] == g).any()]
        layers = {}
        for model, objective in panels:
            here = rows[(rows["task"] == task) & (rows["model"] == model)]
            n = here["n_layers"].dropna() if "n_layers" in here else []
            layers[(model, objective)] = int(n.iloc[0]) if len(n) else \
                int(part.loc[(part["model"] == model) & (part["objective"] == objective), "layer"].max())
        tallest = max(layers.values()) + 1
        ncols = min(len(panels), 4)
        panel_height = min(2.8, max(1.2, tallest * 0.14)) + 0.45
        with style.theme():
            figure, axes = style.grid(len(panels), ncols, panel_height=panel_height)
            for i, (ax, (model, objective)) in enumerate(zip(axes, panels)):
                here = part[(part["model"] == model) & (part["objective"] == objective)]
                grid = here.pivot_table(index="layer", columns="group", values="value").reindex(
                    index=range(layers[(model, objective)] + 1), columns=shown)
                values = grid.to_numpy(dtype=float)
                high = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
                image = style.heatmap(ax, values, "magma_r", 0.0, high if high > 0 else 1e-6,
                                      annotate=values.size <= 100 and len(panels) <= 3, fmt="{:.3f}",
                                      xticks=shown, max_ticks=12)
                for label in ax.get_xticklabels():
                    label.set_rotation(45)
                    label.set_horizontalalignment("right")
                size = int(here["training_size"].iloc[0])
                ax.set_title(f"{_panel_title(rows, model, objective)}, {size} %")
                if i % ncols == 0:
                    ax.set_ylabel("layer (0 = embeddings)")
                figure.colorbar(image, ax=ax, shrink=0.9, aspect=25, pad=0.02)
            figure.suptitle(f"{task_title(task)}: relative weight change per layer and module group, largest size")
            name = f"diff_groups_{task}"
            files = style.save(figure, out_dir / name)
        caption = (f"{task_title(task)}: relative weight change ||W_tuned - W_pre||_F / ||W_pre||_F per layer (rows; "
                   "0 = the embeddings, l = transformer block l) and module group (columns: attention query, key, "
                   "value and output projections, the MLP, the layer norms, the embeddings) at each model's largest "
                   "training size; each panel on its own colour scale, mean over seeds.")
        data = part.sort_values(["model", "objective", "layer", "group"]).reset_index(drop=True).round(6)
        drawn.append(style.Drawing(name, files, data, caption, "causal"))
    return drawn


# --- reverting blocks and heads ----------------------------------------------------------------------------------

def revert_block_rows(table):
    """Gain lost per reverted block (head blank) of analysis "revert", mean over seeds, per task, model, objective,
    mode, training size and layer, with ci_low / ci_high."""
    rows = analysis(table, "revert")
    if rows.empty or "mode" not in rows:
        return rows.iloc[:0]
    blank = rows["head"].isna() if "head" in rows else True
    rows = rows[(rows["metric"] == "gain_lost") & blank & rows["layer"].notna() & rows["mode"].isin(list(MODES))]
    rows = rows[rows["value"].notna()]
    if rows.empty:
        return rows
    rows = rows.astype({"layer": int})
    return _mean(rows, ["task", "model", "objective", "mode", "training_size", "layer"],
                 ("value", "ci_low", "ci_high"))


def revert_blocks(table, out_dir: Path) -> list[style.Drawing]:
    """`revert_blocks_{task}_{model}[_instruct]`: gain lost when reverting blocks to their pretrained weights against
    the layer, one panel per mode (one block; it and all below; it and all above), one line per training size with
    its 95 % band, reference lines at 0 (nothing lost) and 1 (all the gain of tuning lost)."""
    rows = analysis(table, "revert")
    blocks = revert_block_rows(table)
    drawn = []
    for (task, model, objective), part in blocks.groupby(["task", "model", "objective"]) if not blocks.empty else []:
        modes = [m for m in MODES if (part["mode"] == m).any()]
        sizes = size_order(part["training_size"])
        colors = style.size_colors(sizes)
        here = rows[(rows["task"] == task) & (rows["model"] == model) & (rows["objective"] == objective)]
        score = _score_name(here)
        with style.theme():
            figure, axes = style.grid(len(modes), 3, panel_height=1.7, sharey=True)
            for i, (ax, mode) in enumerate(zip(axes, modes)):
                _lines(ax, part[part["mode"] == mode], "layer", sizes, colors)
                for level in (0.0, 1.0):
                    ax.axhline(level, color="0.45", linewidth=0.6, linestyle=":" if level else "-", zorder=0)
                ax.set_title(MODES[mode])
                ax.set_xlabel("layer (0 = embeddings)")
                if i == 0:
                    ax.set_ylabel("gain lost")
                layers = sorted(part["layer"].unique())
                if len(layers) <= 13:
                    ax.set_xticks(layers)
            _size_legend(figure, sizes, colors, [objective])
            figure.suptitle(f"{model} {_tuned(objective)}, {task_title(task)}: {score} gain lost when reverting "
                            "blocks to the pretrained weights")
            name = f"revert_blocks_{task}_{safe_name(model)}{_suffix(objective)}"
            files = style.save(figure, out_dir / name)
        caption = (f"{model} ({_tuned(objective)}, {task_title(task)}): {GAIN_LOST} of the {score}, when the block "
                   "at each layer (0 = the embeddings, l = transformer block l) is reverted to its pretrained weights "
                   "alone, with all below it, or with all above it; one line per training size with its 95 % "
                   "bootstrap interval; 0 = nothing lost, 1 = all the gain of tuning lost.")
        data = part.drop(columns=["task", "model", "objective"]).sort_values(["mode", "training_size", "layer"])
        drawn.append(style.Drawing(name, files, data.reset_index(drop=True).round(6), seed_note(caption, part),
                                   "causal"))
    return drawn


def _matrix(rows, n_layers: int, n_heads: int, first: int = 1):
    """`[n_layers, n_heads]` matrix of rows' mean value by (layer, head), row r = layer `first` + r."""
    values = rows.pivot_table(index="layer", columns="head", values="value", aggfunc="mean")
    return values.reindex(index=range(first, first + n_layers), columns=range(n_heads)).to_numpy(dtype=float)


def revert_heads(table, out_dir: Path, scale: style.Scale | None = None) -> list[style.Drawing]:
    """`revert_heads_{task}_{model}[_instruct]_size{N}`: gain lost when reverting one head to its pretrained weights,
    a layer x head heatmap on a diverging scale centred at 0, and beside it the same heads' attention change (1 -
    cosine with the pretrained maps, analysis "attention", its layer i drawn at block i + 1) when the rows have it;
    the Spearman correlations of the two (and of gain lost with head importance) in the title. `scale`: the colour
    scale of the attention change, the one the attention_cosine figures use (`figures.attention.family_scales`; by
    default from these rows)."""
    from bioprobe.figures.attention import head_rows

    rows = analysis(table, "revert")
    if rows.empty or "head" not in rows:
        return []
    heads = rows[(rows["metric"] == "gain_lost") & rows["head"].notna() & rows["layer"].notna()]
    attention = head_rows(table)
    attention = attention[attention["metric"] == "cosine"] if not attention.empty else attention
    drawn = []
    for (task, model, objective, size), part in heads.groupby(["task", "model", "objective", "training_size"]):
        part = part.astype({"layer": int, "head": int})
        same = rows[(rows["task"] == task) & (rows["model"] == model) & (rows["objective"] == objective) &
                    (rows["training_size"] == size)]
        n_layers = int(same["n_layers"].dropna().iloc[0]) if "n_layers" in same and same["n_layers"].notna().any() \
            else int(part["layer"].max())
        n_heads = int(same["n_heads"].dropna().iloc[0]) if "n_heads" in same and same["n_heads"].notna().any() \
            else int(part["head"].max()) + 1
        lost = _matrix(part, n_layers, n_heads)
        seen = attention[(attention["task"] == task) & (attention["model"] == model) &
                         (attention["objective"] == objective) & (attention["training_size"] == size)] \
            if not attention.empty else attention
        change = 1 - _matrix(seen, n_layers, n_heads, first=0) if not seen.empty else None
        rho = {metric: same.loc[same["metric"] == metric, "value"].mean()
               for metric in ("head_loss_change_spearman", "head_loss_importance_spearman")}
        span = float(np.nanmax(np.abs(lost))) if np.isfinite(lost).any() else 1.0
        span = span or 1e-6
        tall = n_layers > 2 * n_heads
        cell = (style.ONE_COLUMN - 0.9) / n_heads
        panel_height = min(2.8, max(0.9, n_layers * min(cell * 0.75, 0.22))) + 0.45
        annotate = n_layers * n_heads <= 100 and cell >= 0.2
        ticks = list(range(1, n_layers + 1))
        with style.theme():
            width = style.TWO_COLUMN if change is not None else style.ONE_COLUMN
            figure, axes = style.grid(2 if change is not None else 1, 2, width=width, panel_height=panel_height)
            image = style.heatmap(axes[0], lost, "RdBu_r", -span, span, annotate=annotate, yticks=ticks,
                                  max_ticks=12 if not tall else 8)
            figure.colorbar(image, ax=axes[0], shrink=0.9, aspect=25, pad=0.02, label="gain lost")
            axes[0].set_title("gain lost when the head is reverted")
            if change is not None:
                shared = scale or style.shared_scale(change[np.isfinite(change)])
                image = style.heatmap(axes[1], change, "viridis_r", shared.low, shared.high, annotate=annotate,
                                      yticks=ticks, max_ticks=12 if not tall else 8, norm=shared.norm(),
                                      names=("layer", "head"))
                figure.colorbar(image, ax=axes[1], shrink=0.9, aspect=25, pad=0.02,
                                label=f"1 - cosine ({shared.describe()})")
                axes[1].set_title("attention change (1 - cosine with pretrained)")
            for ax in axes:
                step = 1 if n_heads <= 12 else 2
                ax.set_xticks(range(0, n_heads, step))
                ax.set_xticklabels([str(h) for h in range(0, n_heads, step)])
                ax.set_xlabel("head")
            axes[0].set_ylabel("layer (block)")
            said = [f"\u03c1(gain lost, attention change) = {rho['head_loss_change_spearman']:+.2f}"
                    if rho["head_loss_change_spearman"] == rho["head_loss_change_spearman"] else "",
                    f"\u03c1(gain lost, importance) = {rho['head_loss_importance_spearman']:+.2f}"
                    if rho["head_loss_importance_spearman"] == rho["head_loss_importance_spearman"] else ""]
            said = ", ".join(s for s in said if s)
            figure.suptitle(f"{model} {_tuned(objective)}, {task_title(task)}, {int(size)} %: reverting one head"
                            + (f"\n{said}" if said else ""))
            name = f"revert_heads_{task}_{safe_name(model)}{_suffix(objective)}_size{int(size)}"
            files = style.save(figure, out_dir / name)
        import pandas as pd

        index = pd.MultiIndex.from_product([ticks, range(n_heads)], names=["layer", "head"])
        data = pd.DataFrame({"gain_lost": lost.ravel()}, index=index)
        if change is not None:
            data["attention_change"] = change.ravel()
        data = data.reset_index().dropna(subset=["gain_lost"])
        caption = (f"{model} ({_tuned(objective)}, {task_title(task)}, {int(size)} % training data): {GAIN_LOST} of "
                   f"the {_score_name(same)} when one head (columns) of one block (rows, 1 = the first transformer "
                   "block) is reverted to its pretrained weights, on a diverging scale centred at 0"
                   + ("; beside it, the attention change (1 - cosine of the head's maps with the pretrained ones) of "
                      "the same heads" if change is not None else "")
                   + ("; the title gives the Spearman correlation over heads." if said else "."))
        drawn.append(style.Drawing(name, files, data.round(6), caption, "causal"))
    return drawn


# --- amnesic probing ---------------------------------------------------------------------------------------------

AMNESIC_METRICS = ("drop_beyond_control", "score_drop", "control_drop", "probe_accuracy_erased")


def amnesic_rows(table):
    """Per task, model, objective, training size and layer of analysis "amnesic": the drop beyond control (value,
    ci_low, ci_high), the score drop, the control drop and the erased probe's accuracy, mean over seeds, with
    `n_layers` and `depth` = layer / n_layers."""
    rows = analysis(table, "amnesic")
    if rows.empty:
        return rows
    rows = rows[rows["metric"].isin(AMNESIC_METRICS) & rows["layer"].notna()]
    if rows.empty:
        return rows
    rows = _with_depth(rows.astype({"layer": int}))
    keys = ["task", "model", "objective", "training_size", "layer", "n_layers", "depth"]
    main = _mean(rows[rows["metric"] == "drop_beyond_control"], keys, ("value", "ci_low", "ci_high"))
    others = rows[rows["metric"] != "drop_beyond_control"].pivot_table(index=keys, columns="metric",
                                                                      values="value").reset_index()
    return main.merge(others, on=keys, how="left") if len(others) else main


def amnesic(table, out_dir: Path) -> list[style.Drawing]:
    """`amnesic_{task}`: the drop in the tuned model's score beyond a random-subspace control when the probed concept
    is erased (LEACE) at each layer, against normalised depth, one line per training size with its 95 % band, one
    panel per model and objective, reference line at 0."""
    rows = analysis(table, "amnesic")
    found = amnesic_rows(table)
    drawn = []
    for task in task_order(found["task"]) if not found.empty else []:
        part = found[found["task"] == task]
        panels = _panels(part, kind_of(rows))
        sizes = size_order(part["training_size"])
        colors = style.size_colors(sizes)
        ncols = min(len(panels), 6)
        score = _score_name(rows[rows["task"] == task])
        with style.theme():
            figure, axes = style.grid(len(panels), ncols, panel_height=1.6)
            for i, (ax, (model, objective)) in enumerate(zip(axes, panels)):
                _lines(ax, part[(part["model"] == model) & (part["objective"] == objective)], "depth", sizes, colors)
                ax.axhline(0.0, color="0.45", linewidth=0.6, zorder=0)
                own = rows[(rows["task"] == task) & (rows["model"] == model) & (rows["objective"] == objective)]
                ax.set_title(f"{_panel_title(rows, model, objective)}\n{_score_name(own)}")
                style.depth_axis(ax)
                ax.set_xlabel("depth (layer / layers)")
                if i % ncols == 0:
                    ax.set_ylabel("drop beyond control")
            _size_legend(figure, sizes, colors, part["objective"])
            figure.suptitle(f"{task_title(task)}: erasing the probed concept, score drop beyond control")
            name = f"amnesic_{task}"
            files = style.save(figure, out_dir / name)
        caption = (f"{task_title(task)} amnesic probing: drop in the {score} beyond control when the probed concept is "
                   "erased by LEACE at each layer (0 = the embeddings, l = transformer block l; x = layer / layers), "
                   "that is the drop after erasure minus the drop after removing a random subspace of the same rank, "
                   "one line per training size (size 0 of an instruction-tuned model is the released model) with its "
                   "95 % bootstrap interval; 0 = no more than the control.")
        data = part.drop(columns=["task"]).sort_values(["model", "objective", "training_size", "layer"])
        drawn.append(style.Drawing(name, files, data.reset_index(drop=True).round(6), seed_note(caption, part),
                                   "causal"))
    return drawn


def all_causal(table, out_dir: Path) -> list[style.Drawing]:
    """Every figure of the three causal analyses."""
    return relative_change(table, out_dir) + group_heatmaps(table, out_dir) + revert_blocks(table, out_dir) + \
        revert_heads(table, out_dir) + amnesic(table, out_dir)
