"""Probing figures: per-layer probe accuracy, selectivity, MDL compression and CKA as small multiples per model,
the same on normalised depth with encoder and decoder side by side, CKA as a layer x training-size heatmap, and the
layer-by-layer CKA matrix with the pretrained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioprobe.figures import flags, style
from bioprobe.registry import safe_name
from bioprobe.rows import SEED_BANDS, condition, kind_of, main_probing_rows, over_seeds, seed_bands, task_order, \
    task_title, without_repeated_released

PROBING_METRICS = {  # metric -> y label, what it is (captions), fixed y limits (None: from the data)
    "accuracy": ("probe accuracy", "probe accuracy on the test items", None),
    "selectivity": ("selectivity", "selectivity (task minus control-task accuracy)", None),
    "mdl_compression": ("MDL compression", "MDL compression (uniform over online codelength, validation items)",
                        None),
    "cka": ("CKA with pretrained", "debiased linear CKA with the same layer of the pretrained model", (0, 1.02)),
}


REFERENCE = {"selectivity": 0.0, "mdl_compression": 1.0}
"""Metric -> the value a reference line marks (no better than control / than the uniform code)."""


def probing_rows(table):
    """The default-setting probing rows (see `rows.main_probing_rows`) with `condition` ("pretrained", "30 %", "random
    init", ...) and `panel` (the model, "(instruct)" for instruction-tuned runs), without the released instruction
    model where the classifier's pretrained run shows the same weights (`rows.without_repeated_released`)."""
    rows = main_probing_rows(table)
    if rows.empty:
        return rows
    rows = without_repeated_released(rows)
    return rows.assign(condition=[condition(b, s, "classifier") for b, s in zip(rows["baseline"],
                                                                                rows["training_size"])],
                       panel=[m if o == "classifier" else f"{m} (instruct)" for m, o in zip(rows["model"],
                                                                                           rows["objective"])])


def condition_order(conditions) -> list[str]:
    """Conditions in reading order: pretrained, the training sizes ascending, random init."""
    def key(name):
        if name == "pretrained":
            return (0, 0)
        if name == "random init":
            return (2, 0)
        return (1, int(name.split()[0]))
    return sorted(set(conditions), key=key)


def condition_colors(conditions) -> dict:
    """Condition -> colour: pretrained black, random init grey, sizes on viridis."""
    sizes = [int(c.split()[0]) for c in conditions if c[0].isdigit()]
    by_size = style.size_colors(sizes)
    colors = {c: by_size[int(c.split()[0])] for c in conditions if c[0].isdigit()}
    colors.update({"pretrained": style.PRETRAINED, "random init": style.RANDOM_INIT})
    return colors


def _mean_by_layer(part):
    return over_seeds(part, ["layer"]).sort_values("layer")


def _limits(values, fixed=None, include: float | None = None):
    """Y limits from the data with a margin (or the fixed ones), reaching `include` (a reference line) if given."""
    if fixed:
        return fixed
    values = np.asarray([v for v in values if v == v], dtype=float)
    if not len(values):
        return None
    low, high = float(values.min()), float(values.max())
    if include is not None:
        low, high = min(low, include), max(high, include)
    pad = 0.06 * (high - low or abs(high) or 1.0)
    return low - pad, high + pad


def _panels(rows) -> list[tuple[str, str]]:
    """(task, panel) pairs, task-major, encoders before decoders, classifier before instruct."""
    kinds = kind_of(rows)
    pairs = {(t, p, m) for t, p, m in zip(rows["task"], rows["panel"], rows["model"])}
    return [(t, p) for t, p, m in sorted(pairs, key=lambda x: (x[0], kinds.get(x[2]) != "encoder", x[1]))]


def _layer_ticks(ax, layers):
    layers = sorted(int(x) for x in layers)
    if len(layers) > 11:
        step = 5 if max(layers) > 20 else 2
        layers = [x for x in range(0, max(layers) + 1, step)]
    ax.set_xticks(layers)


SIZE_MARKERS = ("o", "^", "D", "v", "P", "*")
"""Markers of the training sizes in the per-layer curves (the pretrained model's hollow square and random init's
cross are none of them)."""


def condition_styles(conditions) -> dict:
    """Condition -> `ax.plot` keywords (besides colour) of its per-layer curve. The pretrained model is a wide
    dash-dot line with large hollow squares, drawn first; each training size is a solid line with a marker of its own,
    thinner, with smaller markers and drawn later the larger the size, so that a curve equal to another still shows
    (the line on top is always the thinner); random init is grey dashed with crosses."""
    sizes = [c for c in condition_order(conditions) if c[0].isdigit()]
    styles = {"pretrained": {"linestyle": "-.", "marker": "s", "markerfacecolor": "none", "linewidth": 1.7,
                             "markersize": 4.8, "zorder": 2},
              "random init": {"linestyle": "--", "marker": "x", "linewidth": 1.0, "markersize": 3.5, "zorder": 2.5}}
    for i, name in enumerate(sizes):
        step = i / max(1, len(sizes) - 1)
        styles[name] = {"linestyle": "-", "marker": SIZE_MARKERS[i % len(SIZE_MARKERS)], "linewidth": 1.3 - 0.5 * step,
                        "markersize": 3.8 - 1.4 * step, "zorder": 3 + i}
    return styles


CHANCE_LABEL = "chance (1 / labels)"


def chance_levels(rows) -> dict:
    """(task, model) -> chance accuracy of its probes, 1 / the number of labels.

    The table records no label counts, and no majority-class share, but its MDL rows hold the count: the uniform code
    spends log2(labels) bits per item, so labels = 2 ** (`mdl_uniform_codelength` / `n_mdl`). Multi-label probes
    (one-vs-rest, `label_C` set), whose exact-match accuracy has no such chance, and runs without MDL rows get none.
    """
    if "n_mdl" not in rows:
        return {}
    multilabel = set()
    if "label_C" in rows:
        marked = rows[rows["label_C"].fillna("").astype(str) != ""]
        multilabel = set(zip(marked["task"], marked["model"]))
    uniform = rows[(rows["metric"] == "mdl_uniform_codelength") & (rows["n_mdl"] > 0)]
    levels = {}
    for (task, model), part in uniform.groupby(["task", "model"]):
        labels = 2.0 ** (part["value"].to_numpy(float) / part["n_mdl"].to_numpy(float))
        n = round(float(np.median(labels)))
        if (task, model) not in multilabel and n >= 2 and np.allclose(labels, n, atol=1e-6):
            levels[(task, model)] = 1.0 / n
    return levels


MAJORITY_LABEL = "majority class"


def reference_levels(rows) -> dict:
    """(task, model) -> (accuracy level, its key label) drawn on accuracy panels: the majority-class accuracy (always
    answering the training split's commonest label, on the same test items: the `majority` column of the probe's
    accuracy rows) where the table has it, else chance, 1 / the number of labels (`chance_levels`)."""
    levels = {key: (level, CHANCE_LABEL) for key, level in chance_levels(rows).items()}
    if "majority" in rows:
        shares = rows[(rows["metric"] == "accuracy") & rows["majority"].notna()]
        for (task, model), part in shares.groupby(["task", "model"]):
            levels[(task, model)] = (float(part["majority"].median()), MAJORITY_LABEL)
    return levels


def _near(level, values):
    """`level` when it lies within one span of the values from them (a line worth widening the y axis for), else
    None: a chance line far below every curve would flatten them."""
    values = [v for v in values if v == v]
    if level is None or not values:
        return None
    low, high = min(values), max(values)
    return level if low - (high - low) <= level <= high + (high - low) else None


def _draw_conditions(ax, here, conditions, colors, styles, banded) -> list:
    """One panel's curves, one per condition (bands for the first condition and `banded`); returns their rows."""
    drawn = []
    for name in conditions:
        part = here[here["condition"] == name]
        if part.empty:
            continue
        line = _mean_by_layer(part)
        look = dict(styles[name])
        if len(line) > 12:
            look["markersize"] *= 0.7
        ax.plot(line["layer"], line["value"], color=colors[name], label=name, **look)
        if name in (conditions[0], banded) and "ci_low" in line and line["ci_low"].notna().any():
            ax.fill_between(line["layer"], line["ci_low"], line["ci_high"], color=colors[name], alpha=0.15,
                            linewidth=0)
        drawn.append(line.assign(condition=name))
    return drawn


def _mark_chance(ax, level, limits, label: str = CHANCE_LABEL):
    """The reference line (chance or the majority class); where it lies below the axis (out of view), also a note in
    the panel saying so."""
    ax.axhline(level, color="0.4", linestyle=":", linewidth=1.0, zorder=1, label=label)
    if limits and level < limits[0]:
        name = "chance" if label == CHANCE_LABEL else "majority class"
        ax.text(0.01, 0.02, f"{name} {level:.2f} (below)", transform=ax.transAxes, fontsize=6, color="0.35",
                ha="left", va="bottom")


def layer_curves(table, out_dir: Path, metric: str = "accuracy",
                 barely: set | None = None) -> list[style.Drawing]:
    """`probing_{metric}_layers`: one panel per task and model (instruction-tuned runs in a panel of their own), x =
    layer, one line per training size (pretrained black dash-dot with hollow squares, random init grey dashed), bands =
    95 % bootstrap CI; accuracy panels mark chance (1 / labels) where the table tells the number of labels."""
    import pandas as pd

    rows = probing_rows(table)
    if rows.empty:
        return []
    panels = _panels(rows)
    measured = rows[rows["metric"] == metric]
    if measured.empty:
        return []
    conditions = condition_order(measured["condition"])
    colors, styles = condition_colors(conditions), condition_styles(conditions)
    chances = reference_levels(rows) if metric == "accuracy" else {}
    ylabel, what, fixed = PROBING_METRICS[metric]
    tuned = [c for c in conditions if c[0].isdigit()]
    banded = tuned[-1] if tuned else None  # intervals of the pretrained model and the largest size only: legible
    data, chance_of = [], {}
    barely, marked = flags.flagged(table) if barely is None else barely, set()
    n_series = len({p for _, p in panels})
    with style.theme():
        figure, axes = style.grid(len(panels), min(4, n_series), panel_height=1.55)
        for ax, (task, panel) in zip(axes, panels):
            model = rows.loc[rows["panel"] == panel, "model"].iloc[0]
            here = measured[(measured["task"] == task) & ((measured["panel"] == panel) |
                                                          ((measured["model"] == model) &
                                                           measured["condition"].isin(["pretrained", "random init"])))]
            data += [line.assign(task=task, model=panel)
                     for line in _draw_conditions(ax, here, conditions, colors, styles, banded)]
            objective = rows.loc[rows["panel"] == panel, "objective"].iloc[0]
            runs = {(task, model, objective, flags.size_of(c)) for c in here["condition"].unique()} & barely
            flags.mark_panel(ax, [run[3] for run in runs])
            marked |= runs
            ax.set_title(f"{panel}: {task_title(task)}")
            _layer_ticks(ax, here["layer"].unique() if len(here) else [0])
            if metric in REFERENCE:
                ax.axhline(REFERENCE[metric], color="0.3", linewidth=0.6)
            chance_of[ax] = chances.get((task, model))
        data = pd.concat(data, ignore_index=True) if data else pd.DataFrame()
        for task in {t for t, _ in panels}:  # one y scale per task, so its panels compare
            values = data.loc[data["task"] == task, [c for c in ("value", "ci_low", "ci_high") if c in data]]
            values = values.to_numpy().ravel()
            here = [ax for ax, (t, _) in zip(axes, panels) if t == task]
            levels = [chance_of[ax][0] for ax in here if chance_of[ax] is not None]
            include = REFERENCE.get(metric, _near(min(levels), values) if levels else None)
            limits = _limits(values, fixed, include)
            for ax in here:
                if limits:
                    ax.set_ylim(*limits)
                if chance_of[ax] is not None:
                    _mark_chance(ax, chance_of[ax][0], limits, chance_of[ax][1])
        for i, ax in enumerate(axes):
            if i % min(4, n_series) == 0:
                ax.set_ylabel(ylabel)
            if i >= len(axes) - min(4, n_series):
                ax.set_xlabel("layer (0 = embeddings)")
        style.legend_outside(figure, *style.axes_entries(axes), title="weights", where="right")
        name = f"probing_{metric}_layers"
        files = style.save(figure, out_dir / name)
    order = ["task", "model", "condition", "layer", "value"] + [c for c in ("ci_low", "ci_high") if c in data]
    caption = (f"{what[0].upper() + what[1:]} per layer, one panel per task and model (instruction-tuned runs apart); "
               "solid lines are training sizes, each with its own marker, the pretrained model black dash-dot with "
               "hollow squares (drawn beneath, so a tuned curve equal to it shows inside it), a randomly initialised "
               "one grey dashed"
               + ("; bands are 95 % bootstrap intervals over test items (pretrained and largest size)"
                  if metric == "accuracy" else "")
               + ("; " + SEED_BANDS if seed_bands(data) else "")
               + ("; the dotted line is the majority-class accuracy (always answering the commonest training "
                  "label, on the same test items) or, where the table lacks it, chance, 1 / the number of labels "
                  "(from the MDL uniform code)." if any(level is not None for level in chance_of.values()) else ".")
               + flags.caption_note(marked))
    return [style.Drawing(name, files, data[order].round(4), caption, "probing")]


def depth_curves(table, out_dir: Path, metric: str = "accuracy",
                 barely: set | None = None) -> list[style.Drawing]:
    """`probing_{metric}_depth`: encoder and decoder on normalised depth (layer / layers), one row per task and one
    panel per training size (the pretrained model with the random-init baseline dotted); colour = model, dashed =
    instruction-tuned."""
    rows = probing_rows(table)
    if rows.empty:
        return []
    measured = rows[rows["metric"] == metric]
    if measured.empty:
        return []
    measured = measured.assign(depth=measured["layer"] / measured["n_layers"])
    kinds = kind_of(measured)
    models = sorted(measured["model"].unique(), key=lambda m: (kinds.get(m) != "encoder", m))
    colors, markers = style.category_colors(models), style.category_markers(models)
    columns = [c for c in condition_order(measured["condition"]) if c != "random init"]
    if "random init" in set(measured["condition"]) and "pretrained" not in columns:
        columns = ["pretrained"] + columns  # CKA: the random-init baseline only (the pretrained model is the reference)
    tasks = task_order(measured["task"])
    ylabel, what, fixed = PROBING_METRICS[metric]
    data, barely, marked = [], flags.flagged(table) if barely is None else barely, set()
    with style.theme():
        figure, axes = style.grid(len(tasks) * len(columns), len(columns), panel_height=1.45, sharex=True)
        for row, task in enumerate(tasks):
            for column, name in enumerate(columns):
                ax = axes[row * len(columns) + column]
                part = measured[measured["task"] == task]
                shown = {"pretrained": ["pretrained", "random init"]}.get(name, [name])
                for model in models:
                    for objective in ("classifier", "instruct"):
                        for weights in shown:
                            line = part[(part["model"] == model) & (part["objective"] == objective) &
                                        (part["condition"] == weights)]
                            if line.empty:
                                continue
                            line = line.groupby("depth", as_index=False)["value"].mean().sort_values("depth")
                            label = f"{model}" + (f" [{kinds[model]}]" if kinds.get(model) else "") + \
                                (" instruct" if objective == "instruct" else "") + \
                                (", random init" if weights == "random init" else "")
                            style_ = ":" if weights == "random init" else ("--" if objective == "instruct" else "-")
                            ax.plot(line["depth"], line["value"], color=colors[model], linestyle=style_,
                                    marker=markers[model], markersize=2.2 if len(line) <= 12 else 1.5, linewidth=1.0,
                                    label=label)
                            run = (task, model, objective, flags.size_of(weights))
                            if run in barely:
                                flags.mark_line(ax, line["depth"], line["value"], colors[model])
                                marked.add(run)
                            data.append(line.assign(task=task, model=model, objective=objective, condition=weights))
                ax.set_title(f"{task_title(task)}, {'pretrained' if name == 'pretrained' else name}")
                if not ax.get_lines():
                    style.note(ax, "no random-init baseline" if name == "pretrained" else "no data")
                style.depth_axis(ax)
                if metric in REFERENCE:
                    ax.axhline(REFERENCE[metric], color="0.3", linewidth=0.6)
                if column == 0:
                    ax.set_ylabel(ylabel)
                if row == len(tasks) - 1:
                    ax.set_xlabel("layer / layers")
        import pandas as pd

        data = pd.concat(data, ignore_index=True) if data else pd.DataFrame(columns=["task", "value"])
        for row, task in enumerate(tasks):
            limits = _limits(data.loc[data["task"] == task, "value"], fixed, REFERENCE.get(metric))
            for ax in axes[row * len(columns):(row + 1) * len(columns)]:
                if limits:
                    ax.set_ylim(*limits)
                if ax is not axes[row * len(columns)]:
                    ax.tick_params(labelleft=False)
        kinds_shown = {"fine-tuned (classifier)": "-"}
        if (data["objective"] == "instruct").any():
            kinds_shown["instruction-tuned"] = "--"
        if (data["condition"] == "random init").any():
            kinds_shown["random init"] = ":"
        named = {(f"{m} [{kinds[m]}]" if kinds.get(m) else m): colors[m] for m in models}
        entries = style.key_entries(named, {(f"{m} [{kinds[m]}]" if kinds.get(m) else m): markers[m]
                                            for m in models}, kinds_shown)
        style.legend_outside(figure, *entries, where="bottom", ncol=len(named) + len(kinds_shown))
        name = f"probing_{metric}_depth"
        files = style.save(figure, out_dir / name)
    caption = (f"{what[0].upper() + what[1:]} against normalised depth (layer / layers, 0 = embeddings), encoder and "
               "decoder on one axis: one row per task, one panel per training size (the pretrained panel also shows "
               "the random-init baseline, dotted); dashed lines are instruction-tuned runs."
               + flags.caption_note(marked))
    data = data[["task", "model", "objective", "condition", "depth", "value"]]
    return [style.Drawing(name, files, data.round(4), caption, "depth")]


def cka_heatmap(table, out_dir: Path) -> list[style.Drawing]:
    """`probing_cka_heatmap`: CKA of each layer with the same pretrained layer as a layer x training-size heatmap,
    one panel per task and model (random init as the last column)."""
    rows = probing_rows(table)
    cka = rows[rows["metric"] == "cka"] if not rows.empty else rows
    if cka.empty:
        return []
    panels = _panels(cka)
    grids = []
    for task, panel in panels:
        model = cka.loc[cka["panel"] == panel, "model"].iloc[0]
        part = cka[(cka["task"] == task) & ((cka["panel"] == panel) | ((cka["model"] == model) &
                                                                     (cka["condition"] == "random init")))]
        grid = part.pivot_table(index="layer", columns="condition", values="value", aggfunc="mean")
        grids.append(grid[condition_order(grid.columns)])
    n_series = len({p for _, p in panels})
    ncols = min(3, max(n_series, 1))
    tall = max(len(g) for g in grids)
    annotate = all(g.size <= 60 for g in grids)
    with style.theme():
        figure, axes = style.grid(len(panels), ncols, panel_height=min(3.2, max(1.5, 0.12 * tall + 0.6)))
        for ax, (task, panel), grid in zip(axes, panels, grids):
            image = style.heatmap(ax, grid.to_numpy(), "viridis", 0, 1, annotate=annotate,
                                  xticks=[c.replace(" %", "").replace("random init", "rand.") for c in grid.columns],
                                  yticks=[int(x) for x in grid.index])
            ax.set_title(f"{panel}: {task_title(task)}")
        for i, ax in enumerate(axes):
            if i % ncols == 0:
                ax.set_ylabel("layer")
            if i >= len(axes) - ncols:
                ax.set_xlabel("training data (%)")
        figure.colorbar(image, ax=axes, shrink=0.8, label="CKA with pretrained layer", aspect=30, pad=0.02)
        files = style.save(figure, out_dir / "probing_cka_heatmap")
    import pandas as pd

    data = pd.concat([g.stack().rename("cka").reset_index().assign(task=t, model=p)
                      for (t, p), g in zip(panels, grids)], ignore_index=True)
    caption = ("Debiased linear CKA of each layer with the same layer of the pretrained model on the same test items "
               "(1 = the same representation up to rotation and scale), by training size; the last column is a "
               "randomly initialised model (rand.).")
    return [style.Drawing("probing_cka_heatmap", files, data[["task", "model", "condition", "layer", "cka"]].round(4),
                          caption, "probing")]


def shared_layers(grid):
    """A pretrained layer x tuned layer CKA grid cut to the layers both sides have, the same on both axes in the same
    order, so the diagonal is each layer against itself."""
    layers = sorted(set(grid.index) & set(grid.columns))
    return grid.loc[layers, layers]


def _layer_list(layers) -> str:
    """"0, 15, 30", or for many layers "13 layers from 0 to 12"."""
    layers = [int(x) for x in layers]
    return ", ".join(map(str, layers)) if len(layers) <= 8 else f"{len(layers)} layers from {layers[0]} to {layers[-1]}"


def cka_matrices(table, out_dir: Path) -> list[style.Drawing]:
    """`probing_cka_matrix_{task}_{model}[_instruct]`: the layer-by-layer CKA matrix (pretrained layer x tuned
    layer) on the layers both models were probed at, square cells, one panel per training size and random init."""
    rows = probing_rows(table)
    matrix = rows[rows["metric"] == "cka_matrix"] if not rows.empty and "reference_layer" in rows else rows.iloc[:0]
    drawn = []
    for (task, model, objective), part in matrix.groupby(["task", "model", "objective"]):
        conditions = condition_order(part["condition"])
        full = [part[part["condition"] == c].pivot_table(index="reference_layer", columns="layer", values="value",
                                                         aggfunc="mean") for c in conditions]
        grids = [shared_layers(g) for g in full]
        n = max(len(g) for g in grids)
        ncols = min(3, len(grids))
        side = min(2.3, (style.TWO_COLUMN - 0.8) / ncols - 0.45)  # square panels, as wide as the figure needs
        annotate = n <= 8 and ncols <= 3
        with style.theme():
            figure, axes = style.grid(len(grids), ncols, width=ncols * (side + 0.45) + 0.8, panel_height=side + 0.45)
            for i, (ax, name, grid) in enumerate(zip(axes, conditions, grids)):
                image = style.heatmap(ax, grid.to_numpy(), "viridis", 0, 1, annotate=annotate,
                                      xticks=[int(x) for x in grid.columns], yticks=[int(x) for x in grid.index],
                                      max_ticks=8)
                ax.set_aspect("equal")  # square cells: the same layers on both axes
                ax.set_title(name.replace(" instruct", "") + (" (instruct)" if objective == "instruct" else ""))
                ax.set_xlabel("tuned layer")
                if i % ncols == 0:
                    ax.set_ylabel("pretrained layer")
                else:
                    ax.tick_params(labelleft=False)
            figure.colorbar(image, ax=axes, shrink=0.85, label="CKA", aspect=25, pad=0.02)
            tuned = "instruction-tuned" if objective == "instruct" else "fine-tuned"
            figure.suptitle(f"{model} {tuned} vs pretrained, {task_title(task)}:" + ("\n" if ncols == 1 else " ")
                            + "CKA of every pair of layers")
            name = f"probing_cka_matrix_{task}_{safe_name(model)}" + ("_instruct" if objective == "instruct" else "")
            files = style.save(figure, out_dir / name)
        import pandas as pd

        cells = [g.stack().rename("cka").reset_index().assign(condition=c) for c, g in zip(conditions, grids)]
        data = pd.concat(cells, ignore_index=True).rename(columns={"reference_layer": "pretrained_layer",
                                                                   "layer": "tuned_layer"})
        layers = sorted(set().union(*(g.index for g in grids)))
        left_out = set().union(*(set(g.index) | set(g.columns) for g in full)) - set(layers)
        caption = (f"{model} ({tuned}, {task_title(task)}): debiased linear CKA between pretrained layer i (rows) and "
                   f"layer j (columns) of the weights each panel names, on the layers both were probed at "
                   f"({_layer_list(layers)}"
                   + (f"; {len(left_out)} layers probed on one side only are left out" if left_out else "")
                   + "); the diagonal compares each layer with itself, off-diagonal cells with the other layers.")
        drawn.append(style.Drawing(name, files, data[["condition", "pretrained_layer", "tuned_layer", "cka"]].round(4),
                                   caption, "probing"))
    return drawn


def all_probing(table, out_dir: Path) -> list[style.Drawing]:
    """Every probing figure: per layer and per depth for each metric, the CKA heatmap and the CKA matrices."""
    drawn = []
    for metric in PROBING_METRICS:
        drawn += layer_curves(table, out_dir, metric)
        drawn += depth_curves(table, out_dir, metric)
    return drawn + cka_heatmap(table, out_dir) + cka_matrices(table, out_dir)
