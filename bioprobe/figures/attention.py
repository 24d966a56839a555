"""Attention figures: per-head heatmaps of the change from the pretrained maps laid out as a grid of training
sizes, per-layer change against training size, head importance against change, and the change on normalised depth
with encoder and decoder side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioprobe.figures import flags, style
from bioprobe.registry import safe_name
from bioprobe.rows import analysis, kind_of, size_order, task_order, task_title

ATTENTION_METRICS = {  # metric -> colour bar label, colour map (of the value drawn, see `drawn_values`)
    "cosine": ("attention change (1 - cosine with the pretrained maps)", "viridis_r"),
    "js": ("JS divergence from pretrained (bits)", "magma_r"),
    "entropy_change": ("entropy change (bits)", "RdBu_r"),
    "importance": ("head importance (normalised per layer)", "Blues"),
}

ANNOTATE_CELLS = 100
"""Heatmap panels with at most this many cells (minilm's 6 x 12) get their values written in; larger ones (a
30-layer decoder) do not: nobody reads hundreds of numbers, and writing them is most of the drawing time."""
ANNOTATED = ("cosine",)
"""Metrics whose small heatmaps are annotated (the study's metric; the others are read by colour)."""


def drawn_values(metric: str, values):
    """What a metric's heatmap colours: the change 1 - cosine for the cosine (so that a log scale can show a decoder's
    changes 100 times below an encoder's), the value itself for the others."""
    return 1 - values if metric == "cosine" else values


def family_scales(table) -> dict:
    """Metric -> the one colour scale (`style.Scale`) of every `attention_{metric}_*` figure, from every head row of
    the table (all tasks, models, objectives and sizes), so that a colour means one value in all of them: importance
    (normalised per layer) from 0 to 1, the entropy change symmetric about 0, the change 1 - cosine and the JS
    divergence from 0; each on a log scale where the values span more than two decades (`style.shared_scale`).

    Pass it to `head_heatmaps` when the table's heatmaps are drawn apart (`bioprobe.figures.attention_units`).
    """
    heads = head_rows(table)
    scales = {}
    for metric in ATTENTION_METRICS:
        values = heads.loc[heads["metric"] == metric, "value"].to_numpy(dtype=float)
        if not np.isfinite(values).any():
            continue
        if metric == "importance":
            scales[metric] = style.Scale(0.0, max(1.0, float(np.nanmax(values))))
        else:
            scales[metric] = style.shared_scale(drawn_values(metric, values), signed=metric == "entropy_change")
    return scales


def head_rows(table):
    """Attention rows per layer and head (integers), with `objective` filled in, default comparisons only (items
    outside a prompt)."""
    rows = analysis(table, "attention")
    if rows.empty or "head" not in rows:
        return rows.iloc[:0]
    if "in_prompt" in rows:
        rows = rows[~rows["in_prompt"].fillna(False).astype(bool)]
    rows = rows[rows["head"].notna() & rows["layer"].notna()]
    return rows.astype({"layer": int, "head": int})


def _n_layers(part) -> int:
    return int(part["n_layers"].iloc[0]) if "n_layers" in part and part["n_layers"].notna().any() else \
        int(part["layer"].max()) + 1


def head_heatmaps(table, out_dir: Path, metrics=None, scales: dict | None = None) -> list[style.Drawing]:
    """`attention_{metric}_{task}_{model}[_instruct]`: layer x head heatmaps, one panel per training size in a grid
    (two columns for short grids like minilm's 6 x 12, four for tall ones like a 30-layer decoder's), one colour
    scale per metric shared by all its figures (`family_scales`), values written in only for small grids; an SVG with
    each cell's value on hover beside each PNG.

    Args:
        table: Tidy rows.
        out_dir: The figures folder.
        metrics: Metrics to draw (default: every one of `ATTENTION_METRICS` the rows have).
        scales: Metric -> `style.Scale` (default: `family_scales(table)`); pass the whole table's when drawing a
            part of it, so that every figure of a metric has one colour scale.
    """
    heads = head_rows(table)
    scales = {**family_scales(heads), **(scales or {})}
    drawn = []
    for (task, model, objective), part in heads.groupby(["task", "model", "objective"]):
        for metric, (label, cmap) in ATTENTION_METRICS.items():
            if metrics is not None and metric not in metrics:
                continue
            rows = part[part["metric"] == metric]
            if rows.empty:
                continue
            sizes = size_order(rows["training_size"])
            n_layers, n_heads = int(rows["layer"].max()) + 1, int(rows["head"].max()) + 1
            tall = n_layers > 2 * n_heads
            ncols = min(len(sizes), 4 if tall else 2)
            panel_width = (style.TWO_COLUMN - 0.8) / ncols
            cell = panel_width / n_heads
            panel_height = min(2.6, max(0.9, n_layers * min(cell * 0.75, 0.22))) + 0.35
            annotate = metric in ANNOTATED and n_layers * n_heads <= ANNOTATE_CELLS and cell >= 0.2
            values = drawn_values(metric, rows.pivot_table(index=["training_size", "layer"], columns="head",
                                                           values="value"))
            scale = scales.get(metric, style.Scale(0.0, 1.0))
            with style.theme():
                figure, axes = style.grid(len(sizes), ncols, panel_height=panel_height)
                for i, (ax, size) in enumerate(zip(axes, sizes)):
                    grid = values.loc[size].reindex(index=range(n_layers), columns=range(n_heads))
                    image = style.heatmap(ax, grid.to_numpy(), cmap, scale.low, scale.high, annotate=annotate,
                                          max_ticks=12 if not tall else 8, norm=scale.norm(), names=("layer", "head"))
                    ax.set_xticks(range(0, n_heads, 1 if n_heads <= 12 else 2))
                    ax.set_xticklabels([str(h) for h in range(0, n_heads, 1 if n_heads <= 12 else 2)])
                    ax.set_title(f"{size} % training data")
                    if i % ncols == 0:
                        ax.set_ylabel("layer")
                    else:
                        ax.tick_params(labelleft=False)
                    if i >= len(sizes) - ncols:
                        ax.set_xlabel("head")
                figure.colorbar(image, ax=axes, shrink=0.9 if len(sizes) > ncols else 1.0, aspect=30, pad=0.02,
                                label=f"{label}\n({scale.describe()})")
                tuned = "instruction-tuned" if objective == "instruct" else "fine-tuned"
                figure.suptitle(f"{model} {tuned}, {task_title(task)}: {label} per layer and head")
                name = f"attention_{metric}_{task}_{safe_name(model)}" + ("_instruct" if objective == "instruct"
                                                                           else "")
                files = style.save(figure, out_dir / name)
            columns = ["training_size", "layer", "head", "value"] + [c for c in ("ci_low", "ci_high")
                                                                     if c in rows and rows[c].notna().any()]
            caption = (f"{model} ({tuned}, {task_title(task)}): {label} of each head (columns) in each layer (rows), "
                       f"one panel per training size, on the colour scale of every attention_{metric} figure "
                       f"({scale.describe()})" +
                       (", over test sentences (95 % bootstrap intervals in the data)." if metric != "importance"
                        else "; importance is the gradient of the loss with respect to a gate on the head (Michel et "
                             "al. 2019)."))
            drawn.append(style.Drawing(name, files, rows[columns].sort_values(columns[:3]).round(4), caption,
                                       "attention"))
    return drawn


def _layer_means(heads):
    cosine = heads[heads["metric"] == "cosine"]
    if cosine.empty:
        return cosine
    means = cosine.groupby(["task", "model", "objective", "series", "training_size", "layer"],
                           as_index=False)["value"].mean()
    n_layers = {m: _n_layers(part) for m, part in cosine.groupby("model")}
    means["n_layers"] = means["model"].map(n_layers)
    means["depth"] = (means["layer"] + 1) / means["n_layers"]
    return means


def _task_series_panels(frame, kinds) -> list[tuple[str, str]]:
    pairs = {(t, s, m) for t, s, m in zip(frame["task"], frame["series"], frame["model"])}
    return [(t, s) for t, s, m in sorted(pairs, key=lambda x: (x[0], kinds.get(x[2]) != "encoder", x[1]))]


def layer_change(table, out_dir: Path, barely: set | None = None) -> list[style.Drawing]:
    """`attention_layer_means`: per layer, the mean over heads of the cosine with the pretrained maps; one panel per
    task and model, the most changed layer named. A panel with several training sizes has one line per layer against
    training size, coloured by depth; one with a single size (a line against size would be dots on one x) has the
    means against layer instead, the points coloured by depth. A panel says "no data" where it has no value, and
    "all 1 (unchanged)" (or the one value) where every value is the same."""
    import matplotlib

    heads = head_rows(table)
    means = _layer_means(heads)
    if means.empty:
        return []
    kinds = kind_of(heads)
    panels = _task_series_panels(means, kinds)
    n_series = len({s for _, s in panels})
    ncols = min(3, n_series)
    cmap = matplotlib.colors.ListedColormap(matplotlib.colormaps["viridis"](np.linspace(0, 0.9, 256)))
    parts = [means[(means["task"] == task) & (means["series"] == name) & means["value"].notna()]
             for task, name in panels]
    by_layer = [part["training_size"].nunique() == 1 for part in parts]
    mixed = len(set(by_layer)) > 1
    barely, marked = flags.flagged(table) if barely is None else barely, set()
    with style.theme():
        figure, axes = style.grid(len(panels), ncols, panel_height=1.6)
        for i, (ax, (task, name), part, one_size) in enumerate(zip(axes, panels, parts, by_layer)):
            title = f"{name}: {task_title(task)}"
            if part.empty:
                ax.set_title(title)
                style.note(ax, "no data")
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            sizes = size_order(part["training_size"])
            last = part[part["training_size"] == sizes[-1]]
            moved = int(last.loc[last["value"].idxmin(), "layer"])
            if one_size:
                line = part.sort_values("layer")
                ax.plot(line["layer"], line["value"], color="0.6", linewidth=0.8, zorder=2)
                ax.scatter(line["layer"], line["value"], c=[cmap(float(d)) for d in line["depth"]], s=6, zorder=3,
                           linewidths=0)
                ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=6, integer=True))
                ax.set_title(f"{title}, {sizes[0]} % training data\nmost changed: layer {moved}")
                xlabel = "layer"
            else:
                many = part["layer"].nunique() > 12
                for layer, line in part.groupby("layer"):
                    line = line.sort_values("training_size")
                    ax.plot(line["training_size"], line["value"], color=cmap(float(line["depth"].iloc[0])),
                            marker=None if many else "o", markersize=2, linewidth=0.7 if many else 1.0)
                ax.set_title(f"{title}\nmost changed at {sizes[-1]} %: layer {moved}")
                ax.set_xticks(sizes)
                xlabel = "training data (%)"
            runs = {(task, model, objective, int(size)) for model, objective, size in
                    zip(part["model"], part["objective"], part["training_size"])} & barely
            flags.mark_panel(ax, [run[3] for run in runs])
            marked |= runs
            if part["value"].nunique() == 1:
                value = float(part["value"].iloc[0])
                style.note(ax, "all 1 (unchanged)" if value == 1 else f"all {value:g}", y=0.8)
            if i % ncols == 0:
                ax.set_ylabel("mean cosine with pretrained")
            if mixed or i >= len(panels) - ncols:
                ax.set_xlabel(xlabel)
        mappable = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=cmap)
        bar = figure.colorbar(mappable, ax=axes, shrink=0.85, aspect=30, pad=0.02,
                              label="depth ((layer + 1) / layers)")
        bar.set_ticks([0, 0.5, 1])
        files = style.save(figure, out_dir / "attention_layer_means")
    caption = ("Mean over heads of the cosine between the tuned and the pretrained attention maps (1 = unchanged), "
               "per layer against training data (or, for a model tuned at one size only, against layer); colour = "
               "depth (dark = first layers); the titles name the layer that changed most at the largest size."
               + flags.caption_note(marked))
    data = means[["task", "series", "training_size", "layer", "value"]].rename(
        columns={"series": "model", "value": "mean_cosine"})
    return [style.Drawing("attention_layer_means", files, data.round(4), caption, "attention")]


def importance_change(table, out_dir: Path) -> list[style.Drawing]:
    """`attention_importance_change`: each head's importance (normalised per layer) against its attention change
    (1 - cosine with the pretrained maps), one panel per task and model, colour = training size, with the Spearman
    correlation per size in the panel title."""
    heads = head_rows(table)
    if heads.empty:
        return []
    both = heads[heads["metric"].isin(["cosine", "importance"])]
    wide = both.pivot_table(index=["task", "model", "objective", "series", "training_size", "layer", "head"],
                            columns="metric", values="value").reset_index()
    if "importance" not in wide or "cosine" not in wide:
        return []
    wide = wide.dropna(subset=["importance", "cosine"])
    if wide.empty:
        return []
    wide["change"] = 1 - wide["cosine"]
    rows = analysis(table, "attention")
    rho = rows[rows["metric"] == "importance_change_spearman"] if not rows.empty else rows
    kinds = kind_of(heads)
    panels = _task_series_panels(wide, kinds)
    sizes = size_order(wide["training_size"])
    colors = style.size_colors(sizes)
    ncols = min(3, len({s for _, s in panels}))
    with style.theme():
        figure, axes = style.grid(len(panels), ncols, panel_height=1.75)
        for i, (ax, (task, name)) in enumerate(zip(axes, panels)):
            part = wide[(wide["task"] == task) & (wide["series"] == name)]
            for size in sizes:
                points = part[part["training_size"] == size]
                ax.scatter(points["change"], points["importance"], s=3, alpha=0.6, color=colors[size],
                           linewidths=0, label=f"{size} %")
            here = rho[(rho["task"] == task) & (rho["series"] == name)] if not rho.empty else rho
            ax.set_title(f"{name}: {task_title(task)}" + "".join(f"\n{line}" for line in rho_lines(here)))
            ax.set_xlim(left=0)
            if i % ncols == 0:
                ax.set_ylabel("head importance")
            if i >= len(panels) - ncols:
                ax.set_xlabel("attention change (1 - cosine)")
        handles, labels = style.key_entries({f"{s} %": colors[s] for s in sizes})
        for handle in handles:
            handle.set_linestyle("none")
            handle.set_marker("o")
        style.legend_outside(figure, handles, labels, title="training data", where="right")
        files = style.save(figure, out_dir / "attention_importance_change")
    caption = ("Each head's importance (gradient of the loss with respect to its gate, normalised per layer) against "
               "how much its attention moved from the pretrained maps; the titles give the Spearman correlation of "
               "importance and change at each training size, named by the size (\u03c1 by size: 10 %: ..., 100 %: ...)"
               ".")
    data = wide[["task", "series", "training_size", "layer", "head", "change", "importance"]].rename(
        columns={"series": "model"})
    return [style.Drawing("attention_importance_change", files, data.round(4), caption, "attention")]


def rho_lines(rows) -> list[str]:
    """The Spearman correlations of importance and change named by their training size:
    ["\u03c1 by size: 10 %: +0.13, 100 %: +0.36"] (none without rows). Each "size: value" is held together by
    no-break spaces, so that a title too wide for its panel (`style.fit`) breaks only between them."""
    entries = [f"{int(size)}\u00a0%:\u00a0{value:+.2f}" for size, value in
               rows.sort_values("training_size")[["training_size", "value"]].itertuples(index=False)]
    return ["\u03c1 by size: " + ", ".join(entries)] if entries else []


def depth_change(table, out_dir: Path, barely: set | None = None) -> list[style.Drawing]:
    """`attention_depth`: mean cosine with the pretrained maps against normalised depth ((layer + 1) / layers),
    encoder and decoder on one axis; one row per task, one panel per training size; dashed = instruction-tuned."""
    heads = head_rows(table)
    means = _layer_means(heads)
    if means.empty:
        return []
    kinds = kind_of(heads)
    models = sorted(means["model"].unique(), key=lambda m: (kinds.get(m) != "encoder", m))
    colors, markers = style.category_colors(models), style.category_markers(models)
    tasks = task_order(means["task"])
    sizes = size_order(means["training_size"])
    barely, marked = flags.flagged(table) if barely is None else barely, set()
    with style.theme():
        figure, axes = style.grid(len(tasks) * len(sizes), len(sizes), panel_height=1.45, sharex=True)
        for row, task in enumerate(tasks):
            for column, size in enumerate(sizes):
                ax = axes[row * len(sizes) + column]
                part = means[(means["task"] == task) & (means["training_size"] == size)]
                for (model, objective), line in part.groupby(["model", "objective"]):
                    line = line.sort_values("depth")
                    ax.plot(line["depth"], line["value"], color=colors[model], marker=markers[model],
                            markersize=2.2 if len(line) <= 12 else 1.5, linewidth=1.0,
                            linestyle="--" if objective == "instruct" else "-")
                    if (task, model, objective, int(size)) in barely:
                        flags.mark_line(ax, line["depth"], line["value"], colors[model])
                        marked.add((task, model, objective, int(size)))
                ax.set_title(f"{task_title(task)}, {size} %")
                style.depth_axis(ax, low=0.0)
                if column == 0:
                    ax.set_ylabel("mean cosine")
                if row == len(tasks) - 1:
                    ax.set_xlabel("(layer + 1) / layers")
            values = means.loc[means["task"] == task, "value"]
            low, high = float(values.min()), float(values.max())
            pad = 0.06 * ((high - low) or 0.01)
            for ax in axes[row * len(sizes):(row + 1) * len(sizes)]:
                ax.set_ylim(low - pad, high + pad)
                if ax is not axes[row * len(sizes)]:
                    ax.tick_params(labelleft=False)
        named = {(f"{m} [{kinds[m]}]" if kinds.get(m) else m): colors[m] for m in models}
        styles = {"fine-tuned (classifier)": "-"}
        if (means["objective"] == "instruct").any():
            styles["instruction-tuned"] = "--"
        style.legend_outside(figure, *style.key_entries(named, dict(zip(named, markers.values())), styles),
                             where="bottom", ncol=len(named) + len(styles))
        files = style.save(figure, out_dir / "attention_depth")
    caption = ("Mean over heads of the cosine with the pretrained attention maps against normalised depth, encoder "
               "and decoder on one axis: one row per task, one panel per training size; dashed lines are "
               "instruction-tuned runs." + flags.caption_note(marked))
    data = means[["task", "model", "objective", "training_size", "layer", "depth", "value"]].rename(
        columns={"value": "mean_cosine"})
    return [style.Drawing("attention_depth", files, data.round(4), caption, "depth")]


def all_attention(table, out_dir: Path) -> list[style.Drawing]:
    """Every attention figure."""
    return head_heatmaps(table, out_dir) + layer_change(table, out_dir) + importance_change(table, out_dir) + \
        depth_change(table, out_dir)
