"""`bioprobe collect`: every cell's tidy table merged into one Parquet + CSV file with the cell id and provenance
columns; duplicates and stale tables (written by a cell whose settings the plan has since changed) are reported,
not silently mixed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.stages import RESULTS

KEY = ("analysis", "task", "model", "objective", "training_size", "seed", "layer", "head", "metric", "label",
       "reference_layer", "variant")
"""Columns that identify one measurement; two rows with the same key from different tables are duplicates."""


def one_type(column):
    """A merged column with one type, as Parquet needs: a flag that only some tables have (`bio`, `in_prompt`:
    True / False here, missing there) stays a nullable boolean, numbers stay numbers, and only a column that mixes
    kinds becomes text (a flag turned into the text "False" would read as true)."""
    import pandas as pd

    if column.dtype != object:
        return column
    present = column.dropna()
    if len(present) and all(isinstance(v, (bool, np.bool_)) for v in present):
        return column.astype("boolean")
    if len(present) and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                            for v in present):
        return pd.to_numeric(column)
    return column.map(lambda v: v if v is None or isinstance(v, str) or v != v else str(v))


@dataclass
class Collected:
    """What `collect` wrote and found.

    Attributes:
        parquet, csv: The merged table.
        rows: Its number of rows.
        tables: Tables merged.
        duplicates: Measurements found in more than one table (each `(key, [tables])`).
        stale: Tables whose cell is not in the plan any more (its settings changed), when a plan is given.
        unowned: Tables no finished cell wrote (made outside `bioprobe study`).
    """

    parquet: Path
    csv: Path
    rows: int
    tables: int
    duplicates: list = field(default_factory=list)
    stale: list = field(default_factory=list)
    unowned: list = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.rows} rows from {self.tables} tables -> {self.parquet} (and .csv)"]
        if self.stale:
            out.append(f"{len(self.stale)} stale tables (their cell's settings are not the plan's any more; kept, "
                       f"marked stale=True): " + ", ".join(str(p) for p in self.stale[:5]))
        if self.duplicates:
            out.append(f"{len(self.duplicates)} measurements appear in more than one table (kept once per table, "
                       f"marked duplicate=True), e.g. {self.duplicates[0][0]} in {', '.join(self.duplicates[0][1])}")
        if self.unowned:
            out.append(f"{len(self.unowned)} tables were not written by a study cell (cell_id empty)")
        return out


def _owners(root: Path) -> dict[str, dict]:
    """Table or checkpoint path -> the record of the cell that wrote it."""
    owners = {}
    for path in sorted((root / "study" / "cells").glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for output in record.get("outputs", []):
            owners[str(Path(output).resolve())] = record
    return owners


def _table_owner(table: Path, owners: dict) -> dict | None:
    """The cell record of a table: the table itself, or (fine-tuning) its checkpoint folder."""
    found = owners.get(str(table.resolve()))
    if found is not None:
        return found
    if table.parent.parent.parent.name == "finetune":  # results/finetune/{task}/{model}/{label}[-variant].csv
        task, model = table.parent.parent.name, table.parent.name
        label = table.stem.rsplit("-", 1)[0] if table.stem.endswith("shot") else table.stem
        folder = runstore.runs_dir(table.parents[4]) / "checkpoints" / task / model / label
        return owners.get(str(folder.resolve()))
    return None


def _variant(path: Path, frame) -> str:
    """What a table's name adds to its run label (e.g. `logistic-first`, `test`, `0shot`)."""
    if not len(frame) or not {"training_size", "seed"} <= set(frame.columns):
        return ""
    first = frame.iloc[0]
    objective = first["objective"] if "objective" in frame and first["objective"] == first["objective"] else \
        "classifier"
    label = runstore.run_label(int(first["training_size"]), int(first["seed"]), str(objective))
    return path.stem[len(label) + 1:] if path.stem.startswith(label) else path.stem


def collect(runs_dir, plan=None) -> Collected:
    """Merge every tidy table of a runs dir into `results/study.parquet` and `results/study.csv`.

    Args:
        runs_dir: The runs dir.
        plan: The study's plan, to tell stale tables (cells no longer in the plan) apart; None: no such check.

    Returns:
        What was written and found.
    """
    import pandas as pd

    root = runstore.runs_dir(runs_dir)
    owners = _owners(root)
    current = None
    if plan is not None:
        from bioprobe.study.cells import expand

        current = {cell.id for cell in expand(plan)}
    frames, unowned, stale = [], [], []
    files = [p for analysis in RESULTS for p in sorted((root / "results" / analysis).rglob("*.csv"))]
    for path in files:
        frame = runstore.read_table(path)
        record = _table_owner(path, owners)
        cell = record["cell"] if record else ""
        if not record:
            unowned.append(path)
        is_stale = current is not None and bool(cell) and cell not in current
        if is_stale:
            stale.append(path)
        environment = (record or {}).get("environment", {})
        frame = frame.assign(cell_id=cell, table=str(path.relative_to(root)), stale=is_stale,
                             variant=_variant(path, frame), git_commit=environment.get("git_commit"),
                             transformers=environment.get("packages", {}).get("transformers"),
                             torch=environment.get("packages", {}).get("torch"))
        frames.append(frame)
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*runstore.TIDY_COLUMNS])
    if "objective" in merged:
        merged["objective"] = merged["objective"].fillna("classifier")
    key = [k for k in KEY if k in merged.columns]
    duplicates = []
    if len(merged):
        counts = merged.groupby(key, dropna=False)["table"].nunique()
        repeated = counts[counts > 1]
        for index in repeated.index[:100]:
            match = (merged[key].fillna("").astype(str) == pd.Series(index, index=key).fillna("").astype(str)).all(1)
            duplicates.append((dict(zip(key, index)), sorted(merged.loc[match, "table"].unique())))
        merged["duplicate"] = merged.groupby(key, dropna=False)["table"].transform("nunique") > 1
    out = root / "results" / "study.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    for column in merged.columns:
        merged[column] = one_type(merged[column])
    with runstore.atomic(out) as partial:
        merged.to_parquet(partial, index=False)
    csv = out.with_suffix(".csv")
    with runstore.atomic(csv) as partial:
        merged.to_csv(partial, index=False)
    return Collected(out, csv, len(merged), len(files), duplicates, stale, unowned)
