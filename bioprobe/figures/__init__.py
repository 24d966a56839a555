"""Paper figures drawn from the tidy result tables alone (PNG and PDF under `figures/`); no model is ever loaded here.

Every function takes one tidy DataFrame of any analyses (a per-analysis `runstore.read_tables`, or the merged study
table) and picks its own rows by the `analysis` column. `draw_all` draws everything (in parallel processes) and
returns `style.Drawing` records (files, the data behind each figure, a caption) for the report; the named functions
below return the files.
Modules: `style` (palette, widths, saving), `finetune`, `probing`, `attention`, `depth` (encoder vs decoder),
`attribution`, `causal` (weight difference, reverting blocks and heads, amnesic erasure), `diffing` (output
divergence, logit lens).
"""

from __future__ import annotations

from pathlib import Path

from bioprobe.figures import attention as _attention
from bioprobe.figures import attribution as _attribution
from bioprobe.figures import causal as _causal
from bioprobe.figures import depth as _depth
from bioprobe.figures import diffing as _diffing
from bioprobe.figures import finetune as _finetune
from bioprobe.figures import flags as _flags
from bioprobe.figures import probing as _probing
from bioprobe.figures.attribution import attribution_examples
from bioprobe.figures.style import Drawing
from bioprobe.rows import MAIN_METRIC, METRIC_TITLE, main_probing_rows, objective_of, series

__all__ = ["MAIN_METRIC", "METRIC_TITLE", "Drawing", "attention_figures", "attribution_examples", "draw_all",
           "entity_type_f1", "finetune_curves", "main_probing_rows", "objective_of", "plan", "probing_figures",
           "series"]

def _files(drawings: list[Drawing]) -> list[Path]:
    return [path for drawing in drawings for path in drawing.files]


def _rows(table, analysis: str, metrics=None, **equal):
    """The rows of one analysis (and of some metrics, and with some column values) of a tidy table."""
    if table.empty or "analysis" not in table:
        return table.iloc[:0]
    keep = table["analysis"] == analysis
    if metrics is not None:
        keep &= table["metric"].isin(list(metrics))
    for column, value in equal.items():
        keep &= table[column] == value
    return table[keep]


def plan(table) -> list[tuple]:
    """The figures to draw as independent work units, in report order: each stage's (`bioprobe.stages`, its
    `figures` function) from the rows of its analysis.

    Returns:
        `(function, rows, keyword arguments)` per unit; each unit draws one figure or a few, from its rows alone, so
        units can run in parallel processes.
    """
    from bioprobe.stages import STAGES

    if table.empty or "analysis" not in table:
        return []
    table = table.assign(objective=objective_of(table))
    return [unit for stage in STAGES.values() for unit in stage.figure_units(table)]


def finetune_units(table) -> list[tuple]:
    """Test score against training size, NER F1 per entity type (CLS per label), the generative evaluation."""
    finetune = _rows(table, "finetune")
    return [(_finetune.score_curves, finetune, {}), (_finetune.entity_types, finetune, {}),
            (_finetune.generative, finetune, {})]


def probing_units(table) -> list[tuple]:
    """Each probing metric by layer and by normalised depth, the CKA heatmap and the CKA matrices, the similarity
    measures side by side."""
    from bioprobe.figures import similarity as _similarity

    probing = _rows(table, "probing")
    if probing.empty:
        return []
    summary = probing[~probing["metric"].astype(str).str.endswith("_matrix")]
    barely = _flags.flagged(table)  # from the whole table: the fine-tuning and diff rows decide
    units = [(curves, summary, {"metric": metric, "barely": barely}) for metric in _probing.PROBING_METRICS
             for curves in (_probing.layer_curves, _probing.depth_curves)]
    return units + [(_probing.cka_heatmap, summary, {}), (_probing.cka_matrices, probing, {}),
                    (_similarity.similarity_layers, summary, {})]


def attention_units(table) -> list[tuple]:
    """Per task, model and objective a heatmap per attention metric; the change by layer, of importance and by depth;
    and encoder against decoder on normalised depth (probing and attention)."""
    attention = _rows(table, "attention")
    barely = _flags.flagged(table)  # from the whole table: the fine-tuning and diff rows decide
    units = []
    if not attention.empty:
        scales = _attention.family_scales(attention)  # one colour scale per metric, from the whole table
        for keys, part in attention.groupby(["task", "model", "objective"]):
            for metric in _attention.ATTENTION_METRICS:
                if (part["metric"] == metric).any():
                    units.append((_attention.head_heatmaps, part[part["metric"] == metric],
                                  {"metrics": [metric], "scales": scales}))
        summary = attention[attention["metric"].isin(["cosine", "importance", "importance_change_spearman"])]
        units += [(_attention.layer_change, summary, {"barely": barely}), (_attention.importance_change, summary, {}),
                  (_attention.depth_change, summary, {"barely": barely})]
    units.append((_depth.depth_comparison, table[(table["analysis"] == "probing") |
                                                 ((table["analysis"] == "attention") &
                                                  (table["metric"] == "cosine"))], {"barely": barely}))
    return units


def attribution_units(table) -> list[tuple]:
    """The tasks' segment shares and each explained run's examples."""
    attribution = _rows(table, "attribution")
    if attribution.empty:
        return []
    units = [(_attribution.segment_share, attribution, {})]
    for keys, part in attribution.groupby(["task", "model", "training_size", "objective"]):
        units.append((_attribution.examples_from_rows, part, {}))
    return units


def _with_objective(table):
    return table if "objective" in table else table.assign(objective=objective_of(table))


def diff_units(table) -> list[tuple]:
    """Per task, the relative weight change per block on normalised depth and per layer and module group."""
    diff = _rows(table, "diff")
    if diff.empty:
        return []
    diff = _with_objective(diff)
    return [(function, part, {}) for _, part in diff.groupby("task")
            for function in (_causal.relative_change, _causal.group_heatmaps)]


def revert_units(table) -> list[tuple]:
    """Per task, model and objective, the gain lost by reverting blocks; per training size with head rows, the gain
    lost by reverting each head beside the same heads' attention change (the matching attention cosine rows)."""
    revert = _rows(table, "revert")
    if revert.empty:
        return []
    revert = _with_objective(revert)
    cosine = _with_objective(_rows(table, "attention", ["cosine"]))
    scale = _attention.family_scales(table).get("cosine") if not cosine.empty else None
    units = []
    for (task, model, objective), part in revert.groupby(["task", "model", "objective"]):
        units.append((_causal.revert_blocks, part, {}))
        if "head" not in part:
            continue
        for size in sorted(part.loc[part["head"].notna(), "training_size"].unique()):
            heads = part[part["training_size"] == size]
            seen = cosine[(cosine["task"] == task) & (cosine["model"] == model) & (cosine["objective"] == objective)
                          & (cosine["training_size"] == size)] if not cosine.empty else cosine
            units.append((_causal.revert_heads, _stacked([heads, seen]), {"scale": scale}))
    return units


def amnesic_units(table) -> list[tuple]:
    """Per task, the drop beyond control of erasing the probed concept at each layer."""
    amnesic = _rows(table, "amnesic")
    if amnesic.empty:
        return []
    return [(_causal.amnesic, part, {}) for _, part in _with_objective(amnesic).groupby("task")]


def divergence_units(table) -> list[tuple]:
    """Per task, KL(tuned || reference) per position class against training size; per run, its most-changed item's
    tokens shaded by KL."""
    divergence = _rows(table, "divergence")
    if divergence.empty:
        return []
    divergence = _with_objective(divergence)
    return [(function, part, {}) for _, part in divergence.groupby("task")
            for function in (_diffing.divergence_sizes, _diffing.divergence_tokens)]


def lens_units(table) -> list[tuple]:
    """Per task, the logit lens's gold-token rank per layer on normalised depth, pretrained against tuned."""
    lens = _rows(table, "lens")
    if lens.empty:
        return []
    return [(_diffing.lens_depth, part, {}) for _, part in _with_objective(lens).groupby("task")]


def _stacked(frames):
    """The frames one under the other (the empty ones left out)."""
    import pandas as pd

    frames = [frame for frame in frames if len(frame)]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _draw(unit, out_dir: str, width: float | None = None) -> list[Drawing]:
    from bioprobe.figures import style

    function, rows, options = unit
    with style.column(width):
        return function(rows, Path(out_dir), **options)


def draw_all(table, out_dir: Path, workers: int | None = None, width: float | None = None) -> list[Drawing]:
    """Draw every figure the table has rows for.

    Args:
        table: Tidy rows of any analyses.
        out_dir: The figures folder.
        workers: Processes drawing at once (default: the CPU cores, at most 8; 1 draws everything in this
            process). Figures are independent, so two cores take about half the time.
        width: Lay every figure out at this width (`style.ONE_COLUMN` for the one-column versions, at most two
            panels a row; nothing below 6 pt still); default: each at the width it asks for (mostly two columns).

    Returns:
        One `Drawing` per figure, in report order.
    """
    import os

    units = plan(table)
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    if workers <= 1 or len(units) < 2 * workers:
        return [drawing for unit in units for drawing in _draw(unit, str(out_dir), width)]
    return [drawing for part in _in_processes(units, str(out_dir), workers, width) for drawing in part]


def _in_processes(units: list, out_dir: str, workers: int, width: float | None = None) -> list[list[Drawing]]:
    """Each unit's drawings, the units shared round-robin among `workers` fresh Python processes
    (`python -m bioprobe.figures.worker`): unlike multiprocessing's fork, no thread pool of this process is
    inherited, and unlike its spawn, the caller's script is never re-imported."""
    import pickle
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bioprobe-figures-") as folder:
        jobs = []
        for worker in range(workers):
            mine = list(range(worker, len(units), workers))
            request, answer = Path(folder) / f"in{worker}.pkl", Path(folder) / f"out{worker}.pkl"
            request.write_bytes(pickle.dumps((out_dir, [units[i] for i in mine], width),
                                             protocol=pickle.HIGHEST_PROTOCOL))
            process = subprocess.Popen([sys.executable, "-m", "bioprobe.figures.worker", str(request), str(answer)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            jobs.append((mine, answer, process))
        drawn: list = [None] * len(units)
        failures = []
        for mine, answer, process in jobs:
            _, errors = process.communicate()
            if process.returncode != 0:
                failures.append(errors.strip().splitlines()[-1] if errors.strip() else f"exit {process.returncode}")
                continue
            for i, drawings in zip(mine, pickle.loads(answer.read_bytes())):
                drawn[i] = drawings
    if failures:
        raise RuntimeError(f"Drawing the figures failed: {failures[0]}")
    return drawn


def finetune_curves(table, out_dir: Path) -> list[Path]:
    """Test score against training size, one panel per task, one line per model and objective
    (`finetune_curves.png` / `.pdf`); none when the table has no fine-tuning rows."""
    return _files(_finetune.score_curves(table, Path(out_dir)))


def entity_type_f1(table, out_dir: Path) -> list[Path]:
    """NER F1 per entity type against training size, one panel per model (`finetune_entity_types`)."""
    return _files(_finetune.entity_types(table, Path(out_dir)))


def probing_figures(table, out_dir: Path) -> list[Path]:
    """Per-layer probe accuracy, selectivity, MDL compression and CKA by layer (small multiples per model) and by
    normalised depth, the CKA layer x size heatmap and the CKA matrices (`probing_*`)."""
    return _files(_probing.all_probing(table, Path(out_dir)))


def attention_figures(table, out_dir: Path) -> list[Path]:
    """Per-head heatmaps, per-layer change against size, importance against change and change on normalised depth
    (`attention_*`)."""
    return _files(_attention.all_attention(table, Path(out_dir)))
