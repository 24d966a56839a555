"""The report: figures plus a Markdown summary of every result table under a runs dir, in seconds."""

from __future__ import annotations

from pathlib import Path

from bioprobe import figures, runstore
from bioprobe.errors import BioprobeError


def finetune_summary(table) -> str:
    """A Markdown table of the main test score per task, model and training size (mean over seeds)."""
    rows = table[(table["label"].fillna("all") == "all")]
    lines = []
    for task in sorted(rows["task"].unique()):
        metric = figures.MAIN_METRIC[task]
        part = rows[(rows["task"] == task) & (rows["metric"] == metric)]
        pivot = part.pivot_table(index="model", columns="training_size", values="value", aggfunc="mean")
        sizes = list(pivot.columns)
        lines.append(f"**{task.upper()}**, {figures.METRIC_TITLE[metric]}, by training data (%):\n")
        lines.append("| model | " + " | ".join(f"{s} %" for s in sizes) + " |")
        lines.append("|---|" + "---|" * len(sizes))
        for model, values in pivot.iterrows():
            cells = ["" if value != value else f"{value:.3f}" for value in values]
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def probing_summary(table) -> str:
    """A Markdown table per task: probe accuracy on layer 0 and on the best layer, with its selectivity, MDL
    compression and the CKA of the last layer with the pretrained model, by model and training size."""
    rows = figures.main_probing_rows(table)
    if rows.empty:
        return ""
    rows = rows.assign(baseline=rows["baseline"].astype("string").fillna(""))
    lines = []
    for task in sorted(rows["task"].unique()):
        part = rows[rows["task"] == task]
        lines.append(f"**{task.upper()}** ({part['probe'].iloc[0]} probe, {part['pooling'].iloc[0]} pooling; "
                     "accuracy on test items with 95 % bootstrap interval):\n")
        lines.append("| model | training data | layer 0 | best layer | accuracy there | selectivity there | "
                     "MDL compression there | CKA of last layer with pretrained |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for (model, baseline, size), run in part.groupby(["model", "baseline", "training_size"]):
            metric = run.pivot_table(index="layer", columns="metric", values="value", aggfunc="mean")
            low = run[run["metric"] == "accuracy"].groupby("layer")["ci_low"].mean()
            high = run[run["metric"] == "accuracy"].groupby("layer")["ci_high"].mean()
            accuracy = metric["accuracy"]
            best = int(accuracy.idxmax())
            first = int(accuracy.index.min())

            def cell(name, layer, digits=3):
                value = metric[name].get(layer) if name in metric else None
                return "" if value is None or value != value else f"{value:.{digits}f}"

            last = int(run["n_layers"].iloc[0])
            lines.append(
                f"| {model} | {'random init' if baseline else f'{size} %'} | "
                f"{accuracy[first]:.3f} [{low[first]:.3f}, {high[first]:.3f}] | {best} | "
                f"{accuracy[best]:.3f} [{low[best]:.3f}, {high[best]:.3f}] | {cell('selectivity', best)} | "
                f"{cell('mdl_compression', best, 2)} | {cell('cka', last)} |")
        lines.append("")
    return "\n".join(lines)


def attention_summary(table) -> str:
    """A Markdown table per task: which layers' attention moved most from the pretrained model's, by model and size,
    and how head importance ranks against that change."""
    rows = table[table["analysis"] == "attention"]
    cosine = rows[(rows["metric"] == "cosine") & rows["head"].notna()]
    if cosine.empty:
        return ""
    lines = []
    for task in sorted(cosine["task"].unique()):
        lines.append(f"**{task.upper()}**: mean cosine of the fine-tuned with the pretrained attention maps (1 = "
                     "unchanged), over heads and test sentences:\n")
        lines.append("| model | training data | layers that changed most (cosine) | least changed | mean JS (bits) | "
                     "importance vs change (Spearman) |")
        lines.append("|---|---|---|---|---|---|")
        part = cosine[cosine["task"] == task]
        for (model, size), run in part.groupby(["model", "training_size"]):
            per_layer = run.groupby("layer")["value"].mean().sort_values()
            most = ", ".join(f"{int(layer)} ({value:.4f})" for layer, value in per_layer.head(2).items())
            least = ", ".join(f"{int(layer)} ({value:.4f})" for layer, value in per_layer.tail(1).items())
            same = rows[(rows["task"] == task) & (rows["model"] == model) & (rows["training_size"] == size)]
            js = same.loc[same["metric"] == "js", "value"].mean()
            rho = same.loc[same["metric"] == "importance_change_spearman", "value"]
            lines.append(f"| {model} | {size} % | {most} | {least} | {js:.4f} | "
                         f"{'' if rho.empty or rho.iloc[0] != rho.iloc[0] else f'{rho.iloc[0]:+.2f}'} |")
        lines.append("")
    return "\n".join(lines)


def attribution_summary(table) -> str:
    """NLI: the share of Integrated-Gradients attribution on the hypothesis, by model and training size."""
    rows = table[(table["metric"] == "hypothesis_share")]
    if rows.empty:
        return ""
    lines = ["Share of the absolute Integrated-Gradients attribution that falls on the hypothesis (NLI, test items, "
             "95 % bootstrap interval):\n", "| model | training data | hypothesis share | items |", "|---|---|---|---|"]
    for _, row in rows.sort_values(["model", "training_size"]).iterrows():
        lines.append(f"| {row['model']} | {row['training_size']} % | {row['value']:.3f} [{row['ci_low']:.3f}, "
                     f"{row['ci_high']:.3f}] | {int(row['n_items'])} |")
    return "\n".join(lines) + "\n"


def write_report(root: str | Path | None, title: str = "bioprobe report", notes: str = "") -> Path:
    """Draw every figure and write `report.md` under the runs dir.

    Args:
        root: The runs dir.
        title: Heading of the report.
        notes: Markdown put under the heading (what was run, how long it took).

    Returns:
        Path of the report.

    Raises:
        BioprobeError: when the runs dir holds no result tables yet.
    """
    root = runstore.runs_dir(root)
    table = runstore.read_tables(root, "finetune")
    probing = runstore.read_tables(root, "probing")
    attention = runstore.read_tables(root, "attention")
    attribution = runstore.read_tables(root, "attribution")
    if table.empty and probing.empty and attention.empty:
        raise BioprobeError(f"No result tables under {root / 'results'}; run `bioprobe finetune`, `bioprobe probe` "
                            "or `bioprobe demo` first.")
    out = root / "figures"
    parts = [f"# {title}\n", notes]
    if not table.empty:
        drawn = figures.finetune_curves(table, out) + figures.entity_type_f1(table, out)
        parts += ["## Fine-tuning\n", finetune_summary(table)]
        parts += [f"![{png.stem}](figures/{png.name})\n" for png in drawn if png.suffix == ".png"]
    if not probing.empty:
        drawn = figures.probing_figures(probing, out)
        parts += ["## Probing: what each layer knows\n",
                  "Probes are trained on the train split's vectors and scored on the test split; selectivity is task "
                  "minus control-task accuracy (Hewitt & Liang 2019), MDL compression the uniform over the online "
                  "codelength (Voita & Titov 2020), CKA the debiased linear CKA of a layer with the same layer of the "
                  "pretrained model on the same test items. Layer 0 is the embeddings; depth is layer / layers.\n",
                  probing_summary(probing)]
        parts += [f"![{png.stem}](figures/{png.name})\n" for png in drawn if png.suffix == ".png"]
    parts.append(f"Tables: `{(root / 'results').relative_to(root)}/` (tidy CSV, one row per measurement); "
                 "every run's parameters, data subset and package versions are in its `run.json`.\n")
    if not attention.empty:
        drawn = figures.attention_figures(attention, out)
        parts += ["## Attention: pretrained vs fine-tuned\n",
                  "Both models run on the same test sentences; per layer and head, over real tokens only, the cosine "
                  "of the flattened maps (the study's metric), the Jensen-Shannon divergence of corresponding rows, "
                  "entropy and its change, and the mass on special / same / previous / next tokens, with 95 % "
                  "bootstrap intervals over sentences in the tables. Head importance is Michel et al. (2019): the "
                  "gradient of the task loss with respect to a gate on each head. Heatmaps of JS, entropy change and "
                  "importance are in `figures/` too.\n", attention_summary(attention)]
        shown = ("attention_cosine_", "attention_layer_means", "attention_depth")
        parts += [f"![{png.stem}](figures/{png.name})\n" for png in drawn
                  if png.suffix == ".png" and png.stem.startswith(shown)]
    if not attribution.empty:
        parts += ["## Attribution\n", attribution_summary(attribution)]
        parts += [f"![{png.stem}](figures/{png.name})\n" for png in sorted(out.glob("attribution_*.png"))]
    report = root / "report.md"
    report.write_text("\n".join(parts))
    return report
