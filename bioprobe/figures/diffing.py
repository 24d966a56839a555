"""What the tuned model says: the logit lens's answer rank per layer on normalised depth (pretrained against tuned,
encoders and decoders side by side), the output divergence KL(tuned || reference) per position class against
training size, and the most-changed item's tokens shaded by the KL of the distribution that predicted each."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioprobe.figures import style
from bioprobe.registry import safe_name
from bioprobe.rows import analysis, kind_of, over_seeds, seed_note, size_order, task_order, task_title

SAME_MODEL = ("pretrained", "base (adapter off)")
"""`reference` values that name the run's own pretrained model (a fully tuned run's, or a LoRA run's base)."""
POSITION_STYLE = {"prompt": ("#0072B2", "s", "--"), "answer": ("#D55E00", "o", "-")}
"""Position class -> colour, marker, line style."""


def _line_label(reading: str, reference, size: int) -> str:
    """How a lens row's line is named: the pretrained model (size 0, or a tuned run's reference), a tuned size, or
    an explicit reference by name."""
    if reading == "reference":
        return "pretrained" if reference in SAME_MODEL else f"reference: {reference}"
    return "pretrained" if int(size) == 0 else f"{int(size)} %"


def lens_lines(table, metric: str = "answer_rank"):
    """The lens rows of one metric as lines: columns task, model, objective, kind, line (`_line_label`), size (-1
    for a reference line), layer, depth, value, ci_low, ci_high; means over seeds (with several, ± 1 s.d. over them
    as the band) and over repeated readings of the same model (the pretrained model read beside every tuned size
    reads the same items)."""
    rows = analysis(table, "lens")
    if rows.empty:
        return rows
    rows = rows[(rows["metric"] == metric) & rows["layer"].notna()].copy()
    if rows.empty:
        return rows
    references = rows["reference"] if "reference" in rows else np.full(len(rows), None)
    rows["line"] = [_line_label(r, ref, s) for r, ref, s in zip(rows["reading"], references, rows["training_size"])]
    rows["size"] = np.where((rows["reading"] == "run") & (rows["training_size"] > 0), rows["training_size"], -1)
    rows["size"] = np.where(rows["line"] == "pretrained", 0, rows["size"])
    if "kind" not in rows:
        rows["kind"] = rows["model"].map(kind_of(rows))
    return over_seeds(rows, ["task", "model", "objective", "kind", "line", "size", "layer", "depth"])


def lens_depth(table, out_dir: Path) -> list[style.Drawing]:
    """`lens_answer_rank_{task}`: the gold answer token's rank (geometric mean over items, log scale, 1 = the top
    token) when each layer is read through the final norm and unembedding, against normalised depth (layer / layers),
    one panel per model and objective (encoders, read at masked tokens, first), the pretrained model black dash-dot,
    each tuned size its colour, 95 % bootstrap bands over items."""
    lines = lens_lines(table)
    drawn = []
    for task in task_order(lines["task"]) if not lines.empty else []:
        part = lines[lines["task"] == task]
        panels = sorted(set(zip(part["model"], part["objective"], part["kind"])),
                        key=lambda p: (p[2] != "encoder", str(p[0]), p[1]))
        sizes = size_order(part.loc[part["size"] >= 0, "size"])
        colors = style.size_colors(sizes)
        others = sorted(set(part.loc[part["size"] < 0, "line"]))
        extra = dict(zip(others, style.OKABE_ITO[1:]))
        with style.theme():
            figure, axes = style.grid(len(panels), min(len(panels), 3), panel_height=1.8, sharey=True)
            for i, (ax, (model, objective, kind)) in enumerate(zip(axes, panels)):
                here = part[(part["model"] == model) & (part["objective"] == objective)]
                for line, points in here.groupby("line", sort=False):
                    points = points.sort_values("depth")
                    size = int(points["size"].iloc[0])
                    color = colors.get(size, extra.get(line, "#8C8C8C"))
                    pretrained = line == "pretrained"
                    ax.plot(points["depth"], points["value"], color=color, linestyle="-." if pretrained else "-",
                            marker="s" if pretrained else "o", markersize=2.2, linewidth=1.0, label=line,
                            gid=f"lens-{line}")
                    if "ci_low" in points and points["ci_low"].notna().any():
                        ax.fill_between(points["depth"], points["ci_low"], points["ci_high"], color=color, alpha=0.15,
                                        linewidth=0)
                ax.set_yscale("log")
                style.depth_axis(ax)
                ax.set_xlabel("depth (layer / layers)")
                where = "masked tokens" if kind == "encoder" else "answer tokens"
                ax.set_title(f"{model} [{kind}]" + (f" ({objective})" if objective != "classifier" else "")
                             + f"\n{where}")
                if i % 3 == 0:
                    ax.set_ylabel("gold token rank (1 = top)")
            labels = {"pretrained": style.PRETRAINED, **{f"{s} %": colors[s] for s in sizes if s}, **extra}
            handles, names = style.key_entries(labels)
            style.legend_outside(figure, handles, names, title="model", where="right")
            figure.suptitle(f"{task_title(task)}: logit lens, rank of the gold token by layer")
            name = f"lens_answer_rank_{task}"
            files = style.save(figure, out_dir / name)
        caption = (f"{task_title(task)}: each layer's hidden state (0 = the embeddings) read through the model's final "
                   "norm and unembedding (an encoder's masked-LM head) as a prediction of the gold token: its rank "
                   "(1 = the top token; geometric mean over items of each item's mean log rank over its answer "
                   "tokens, or masked tokens for an encoder; log scale) against normalised depth (layer / layers); "
                   "the pretrained model black dash-dot, each tuned size its colour, 95 % bootstrap bands over items. "
                   "The last layer is the model's own prediction.")
        data = part[["model", "objective", "line", "layer", "depth", "value", "ci_low", "ci_high"]]
        drawn.append(style.Drawing(name, files, data.sort_values(["model", "objective", "line", "layer"])
                                   .reset_index(drop=True).round(6), seed_note(caption, part), "diffing"))
    return drawn


def kl_points(table):
    """The divergence summary rows (`metric` "kl"): task, model, objective, reference, position, training_size,
    value, ci_low, ci_high, means over seeds (with several, ± 1 s.d. over them as the band)."""
    rows = analysis(table, "divergence")
    if rows.empty:
        return rows
    rows = rows[rows["metric"] == "kl"]
    keys = ["task", "model", "objective", "reference", "position", "training_size"]
    rows = rows.assign(reference=rows["reference"].fillna("pretrained") if "reference" in rows else "pretrained")
    rows = rows.assign(reference=rows["reference"].where(~rows["reference"].isin(SAME_MODEL), "pretrained"))
    return over_seeds(rows, keys)


def divergence_sizes(table, out_dir: Path) -> list[style.Drawing]:
    """`divergence_kl_{task}`: KL(tuned || reference) in nats per token against training size, prompt positions
    (dashed, squares) and answer positions (solid, circles) apart, with 95 % bootstrap intervals over items, one
    panel per model, objective and reference."""
    points = kl_points(table)
    drawn = []
    for task in task_order(points["task"]) if not points.empty else []:
        part = points[points["task"] == task]
        panels = sorted(set(zip(part["model"], part["objective"], part["reference"])), key=str)
        with style.theme():
            figure, axes = style.grid(len(panels), min(len(panels), 3), panel_height=1.7)
            for i, (ax, (model, objective, reference)) in enumerate(zip(axes, panels)):
                here = part[(part["model"] == model) & (part["objective"] == objective) &
                            (part["reference"] == reference)]
                for position, (color, marker, linestyle) in POSITION_STYLE.items():
                    line = here[here["position"] == position].sort_values("training_size")
                    if line.empty:
                        continue
                    error = None
                    if "ci_low" in line and line["ci_low"].notna().all():
                        error = np.vstack([line["value"] - line["ci_low"], line["ci_high"] - line["value"]])
                    ax.errorbar(line["training_size"], line["value"], yerr=error, color=color, marker=marker,
                                linestyle=linestyle, markersize=2.6, linewidth=1.0, capsize=2, label=position,
                                gid=f"kl-{position}")
                ax.set_ylim(bottom=0)
                ax.set_xlabel("training data (%)")
                ax.set_title(f"{model} ({objective})\nagainst {reference}")
                if i % 3 == 0:
                    ax.set_ylabel("KL(tuned || reference)\nnats per token")
            handles, names = style.key_entries({p: c for p, (c, _, _) in POSITION_STYLE.items()},
                                               {p: m for p, (_, m, _) in POSITION_STYLE.items()},
                                               {p: s for p, (_, _, s) in POSITION_STYLE.items()})
            style.legend_outside(figure, handles, names, title="positions", where="right")
            figure.suptitle(f"{task_title(task)}: output divergence from the reference")
            name = f"divergence_kl_{task}"
            files = style.save(figure, out_dir / name)
        caption = (f"{task_title(task)}: KL(tuned || reference) of the next-token distributions on the test prompts "
                   "with their gold answers, in nats per token, against training size: prompt positions (those "
                   "predicting a prompt token) and answer positions (predicting an answer token or the closing EOS) "
                   "apart; the mean over items of each item's mean, with 95 % bootstrap intervals over items. The "
                   "reference is the pretrained model (a LoRA run's base with the adapter off) unless named.")
        drawn.append(style.Drawing(name, files, part.sort_values(["model", "objective", "reference", "position",
                                                                  "training_size"]).reset_index(drop=True).round(6),
                                   seed_note(caption, part), "diffing"))
    return drawn


def token_example(part):
    """The most-changed item of one run (`example` 1 of its `kl_token` rows) as an object with `tokens`, `scores`
    (KL per token, NaN for the first) and `answer` (whether each token is an answer token), or None."""
    from types import SimpleNamespace

    rows = part[part["metric"] == "kl_token"] if "metric" in part else part.iloc[:0]
    if rows.empty:
        return None
    rows = rows[rows["example"] == rows["example"].min()].sort_values("token_index")
    return SimpleNamespace(tokens=list(rows["token"].astype(str)), scores=rows["value"].to_numpy(dtype=float),
                           answer=(rows["position"] == "answer").to_numpy(), item=int(rows["item"].iloc[0]))


def divergence_tokens(table, out_dir: Path) -> list[style.Drawing]:
    """`divergence_tokens_{task}_{model}_size{N}[-{objective}]`: per run, the item whose mean answer KL is largest,
    each token shaded by the KL of the distribution that predicted it (white 0 to dark red at the item's largest KL),
    answer tokens underlined; word pieces grouped into words as in the attribution figure."""
    import matplotlib
    from matplotlib.patches import Rectangle

    from bioprobe.figures.attribution import PIECE_PAD, token_canvas, token_lines

    rows = analysis(table, "divergence")
    if rows.empty or "token" not in rows:
        return []
    drawn = []
    cmap = matplotlib.colormaps["Reds"]
    keys = ["task", "model", "objective", "training_size"] + (["reference"] if "reference" in rows else [])
    for key, part in rows[rows["metric"] == "kl_token"].groupby(keys, dropna=False):
        task, model, objective, size = key[:4]
        item = token_example(part)
        if item is None:
            continue
        largest = float(np.nanmax(item.scores)) if np.isfinite(item.scores).any() else 0.0
        lines = token_lines(item)
        with style.theme():
            figure, ax, height = token_canvas(len(lines), top=0.5)
            for number, row in enumerate(lines):
                for x, text, position, weight in row:
                    width = len(text) + 2 * PIECE_PAD
                    ax.add_patch(Rectangle((x, number - 0.36), width, 0.72, facecolor=cmap(max(weight, 0.0)),
                                           edgecolor="white", linewidth=0.4, gid="piece"))
                    ax.text(x + PIECE_PAD, number, text, fontsize=6.5, va="center", family="DejaVu Sans Mono",
                            color="white" if weight > 0.7 else "black", gid="piece")
                    if item.answer[position]:
                        ax.plot([x, x + width], [number + 0.42] * 2, color="black", linewidth=0.8, gid="answer")
            reference = key[4] if len(key) > 4 and key[4] == key[4] else "pretrained"
            title = (f"{model}, {task_title(task)}, {objective}, {int(size)} % training data, against {reference}: "
                     f"item {item.item}")
            figure.text(0.01, 1 - 0.04 / height, title, fontsize=7.5, va="top", ha="left")
            bar_ax = figure.add_axes((0.74, 1 - 0.3 / height, 0.2, 0.06 / height))
            bar = figure.colorbar(matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(0, largest or 1), cmap),
                                  cax=bar_ax, orientation="horizontal", ticks=[0, largest or 1])
            bar.ax.set_xticklabels(["0", f"{largest:.3g}"], fontsize=6)
            bar.ax.tick_params(length=1.5, pad=1)
            bar_ax.set_gid("colour-key")
            figure.text(0.73, 1 - 0.27 / height, "KL (nats) of the distribution that predicted the token; answer "
                        "tokens underlined", fontsize=6, ha="right", va="center")
            name = (f"divergence_tokens_{task}_{safe_name(model)}_size{int(size)}"
                    + (f"-{objective}" if objective != "instruct" else "")
                    + (f"-ref-{safe_name(reference)}" if reference != "pretrained" and reference not in SAME_MODEL
                       else ""))
            files = style.save(figure, out_dir / name)
        caption = (f"{title}: the test item whose mean KL(tuned || reference) at the answer positions is largest, "
                   "each token shaded by the KL of the next-token distributions that predicted it (white 0, dark red "
                   "the item's largest); answer tokens underlined, pieces of one word touch.")
        data = part[part["example"] == part["example"].min()][["item", "token_index", "token", "position", "value"]]
        drawn.append(style.Drawing(name, files, data.rename(columns={"value": "kl"}).reset_index(drop=True)
                                   .round(6), caption, "diffing"))
    return drawn
