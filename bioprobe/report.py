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
    if table.empty:
        raise BioprobeError(f"No result tables under {root / 'results'}; run `bioprobe finetune` or `bioprobe demo` "
                            "first.")
    out = root / "figures"
    drawn = figures.finetune_curves(table, out) + figures.entity_type_f1(table, out)
    parts = [f"# {title}\n", notes, "## Fine-tuning\n", finetune_summary(table)]
    for png in (p for p in drawn if p.suffix == ".png"):
        parts.append(f"![{png.stem}](figures/{png.name})\n")
    parts.append(f"Tables: `{(root / 'results').relative_to(root)}/` (tidy CSV, one row per measurement); "
                 "every run's parameters, data subset and package versions are in its `run.json`.\n")
    report = root / "report.md"
    report.write_text("\n".join(parts))
    return report
