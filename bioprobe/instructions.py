"""Instruction data (`instruction`, `input`, `output`): read as it is, or built from any task's data in the
Llama2-MedTuned style by the task's module (NER: one `word : B|I|O` line per word; NLI: one label word; ...).

Sources: the hub (e.g. `nlpie/Llama2-MedTuned-Instructions`), a local file or folder (JSONL / JSON / CSV / TSV /
Parquet, or `save_to_disk`) with the three columns, or task data (demo, CoNLL, MedNLI, ...). A mixed set is cut
down to one task row by row (`row_task`): by the answer's shape where it is unambiguous, else by a task column, else
by a rule on the instruction text; every row of the task that cannot be used is left out with its reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from bioprobe import data as task_data_module
from bioprobe.errors import BioprobeError
from bioprobe.tasks import TASKS, get_task

COLUMNS = ("instruction", "input", "output")
MEDTUNED_HUB = "nlpie/Llama2-MedTuned-Instructions"
TASK_COLUMNS = ("task", "task_type", "source", "dataset", "category")
"""Columns of a mixed instruction set that may name each row's task (the first present one is used)."""


@dataclass(frozen=True)
class InstructionData:
    """One task's instructions.

    Attributes:
        splits: `train` / `validation` / `test` datasets with `instruction`, `input`, `output`, `task`,
            `entity_type` (NER: the type the instruction names, "" when unknown; others: "") and `item` (the item's
            index in the task split it was built from; -1 for instruction data read as it is).
        source: What was loaded, human readable.
        built: True when built from task data, False when read as instruction data.
        selection: For instruction data read as it is, how its rows were cut to the task (`row_task`): rows
            found per task, kept, left out by reason, and what decided each row's task.
        labels: What the task's answers are made of (`Task.instruction_types` of built data: NER the entity types;
            `Task.answer_labels` of data read as it is: RE its label words, ...), what the run records as its labels.
        left_out: The rows of the task that were left out (and rows whose values are not text), each `{"split",
            "where", "reason" (a `LEFT_OUT` key), "detail"}`.
    """

    splits: datasets.DatasetDict
    source: str
    built: bool
    selection: dict = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    left_out: tuple[dict, ...] = ()


def row_task(row: dict, column: str | None) -> tuple[str | None, str]:
    """A mixed set's row's task and what decided it: `"answer"` (a task whose answer shape it has beyond doubt,
    `Task.shows_answer`), else `"column"` (the one task the task column's value names, `Task.named_by`), else
    `"instruction"` (the one task whose rule on the instruction text claims it, `Task.asks`), else `(None, "none")`
    (no task, or several: the text cannot tell)."""
    for task in TASKS.values():
        if task.shows_answer(row["input"], row["output"]):
            return task.name, "answer"
    for how, claims in (("column", lambda t: column is not None and t.named_by(str(row[column]))),
                        ("instruction", lambda t: t.asks(row["instruction"]))):
        claimed = [task.name for task in TASKS.values() if claims(task)]
        if len(claimed) == 1:
            return claimed[0], how
    return None, "none"


def task_of(instruction: str) -> str | None:
    """The task an instruction's text asks for (`Task.asks`), or None when no task or several claim it."""
    claimed = [task.name for task in TASKS.values() if task.asks(instruction)]
    return claimed[0] if len(claimed) == 1 else None


LEFT_OUT = {"not_text": "a value is not text", "empty": "empty output", "bad_line": "an output line is not "
            "'word : B|I|O'", "words_differ": "output words differ from the input words", "bad_label": "the "
            "output is not one of the task's labels"}
"""Why a row of the asked task is left out (`unusable`), as counted in `InstructionData.selection`."""


def unusable(task: str, row: dict) -> tuple[str, str] | None:
    """Why a row of the task cannot be trained or scored on, as `(kind, detail)` (a `LEFT_OUT` key and a sentence),
    or None when it can: a value that is not text, else what the task's module says (`Task.unusable`: an empty
    answer; for NER a line that is not `word : B|I|O` or words that are not the input's)."""
    bad = next((name for name in COLUMNS if not isinstance(row.get(name), str)), None)
    if bad is not None:
        return "not_text", f"the {bad} value {row.get(bad)!r} is not text"
    return get_task(task).unusable(row)


def describe_selection(task: str, selection: dict) -> str:
    """One line on how a mixed instruction set was cut to `task`: rows kept of those found, per task."""
    found, kept = selection["found"], selection["kept"]
    others = ", ".join(f"{TASKS[name].title if name in TASKS else name} {count:,}"
                       for name, count in found.items() if name != task and count)
    left = sum(selection["left_out"].values())
    reasons = "; ".join(f"{count:,} {LEFT_OUT[kind]}" for kind, count in selection["left_out"].items())
    return (f"instructions: {get_task(task).title} {kept:,} kept of {found.get(task, 0):,} found among "
            f"{selection['total']:,} rows" + (f" (not asked: {others})" if others else "") +
            (f"; {left:,} left out: {reasons}" if left else ""))


def load_instructions(task: str, data: str | None, labels: tuple[str, ...] | None = None,
                      seed: int = 42) -> InstructionData:
    """A task's instructions with train, validation and test splits.

    Args:
        task: The task kept from a mixed set, and what task data is turned into.
        data: Instruction data (hub id, local file or folder with `instruction`/`input`/`output`) or any `--data`
            value of `bioprobe.data.load_task_data` (None: the task's default), which is turned into instructions.
        labels: `--labels` for task data with integer labels.
        seed: Seed of the paraphrase drawn for each item.

    Returns:
        The instructions. Instruction data without a test split uses its validation split as test (and carves a
        validation split off train); a single file is cut into a seeded 80 / 10 / 10 % train / validation / test.

    Raises:
        BioprobeError: for data that is neither instruction nor task data, or no usable row of the task.
    """
    if isinstance(data, Path):
        data = str(data)
    raw = None
    if data is not None and data != "demo":
        path = Path(data).expanduser()
        if path.is_file():
            raw, source = _read_file(path), f"{path.resolve()}"
        elif path.is_dir():
            raw, source = _read_folder(path)
        elif not path.exists() and task_data_module.HUB_ID.fullmatch(data):
            hub = task_data_module.load_hub(data)
            if _has_instruction_columns(hub):
                raw, source = hub, f"hub:{data}"
            else:  # task data on the hub: build from what was just loaded
                spec = get_task(task)
                built = task_data_module.build(spec, hub, f"hub:{data}", labels, spec.hub_names(data))
                return _from_task_data(task, built, seed)
    if raw is None:
        from bioprobe.data import load_task_data

        return _from_task_data(task, load_task_data(task, data, labels), seed)
    return _from_raw(task, raw, source)


def _from_task_data(task: str, loaded, seed: int) -> InstructionData:
    spec = get_task(task)
    splits = {name: datasets.Dataset.from_dict(spec.build_instructions(split, loaded.labels, seed, name))
              for name, split in loaded.splits.items()}
    return InstructionData(datasets.DatasetDict(splits), f"{loaded.source}, turned into instructions "
                           f"({spec.instructions_how(loaded.labels)})", built=True,
                           labels=spec.instruction_types(loaded.labels))


def _has_instruction_columns(raw: dict) -> bool:
    first = next(iter(raw.values()))
    columns = set(first.features) if first.features is not None else set(first.rows[0]) if len(first.rows) else set()
    return bool(columns & set(COLUMNS))


_TABLE_FORMATS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}


def read_table_file(path: Path, what: str = "instructions"):
    """One JSONL / JSON / CSV / TSV / Parquet file as a raw split (what `bioprobe.data`'s readers give).

    Raises:
        BioprobeError: for another kind of file, naming `what` it should hold.
    """
    fmt = _TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BioprobeError(f"{path} is not a JSONL, JSON, CSV, TSV or Parquet file of {what}.")
    return task_data_module.READERS[fmt](path)


def _read_file(path: Path) -> dict:
    """A single instruction file, cut into a seeded 80 / 10 / 10 % train / validation / test."""
    return {"all": read_table_file(path)}


def read_split_files(path: Path) -> tuple[dict, str]:
    """The split files of a folder (train / dev|validation / test, JSONL / JSON / CSV / TSV / Parquet, or a
    `save_to_disk` folder) as raw splits, whatever their columns.

    Raises:
        BioprobeError: when the folder has no such file.
    """
    path = path.resolve()
    if (path / "dataset_dict.json").is_file():
        return task_data_module.read_saved(path), f"{path} (save_to_disk)"
    found = {}
    for file in sorted(path.iterdir()):
        role = task_data_module.SPLIT_NAMES.get(file.stem.lower())
        if role is not None and file.suffix.lower() in _TABLE_FORMATS and file.is_file() and role not in found:
            found[role] = file
    if not found:
        raise BioprobeError(f"The folder {path} has no train / dev / test files (JSONL, JSON, CSV, TSV or Parquet).")
    raw = {role: task_data_module.READERS[_TABLE_FORMATS[file.suffix.lower()]](file) for role, file in found.items()}
    return raw, f"{path} ({'+'.join(sorted({_TABLE_FORMATS[f.suffix.lower()] for f in found.values()}))})"


def _read_folder(path: Path) -> tuple[dict, str] | tuple[None, None]:
    """Instruction split files of a folder, or (None, None) when the folder holds task data instead."""
    try:
        raw, source = read_split_files(path)
    except BioprobeError:
        return None, None
    return (raw, source) if _has_instruction_columns(raw) else (None, None)


def raw_rows(split) -> tuple[list[dict], list[str]]:
    """A raw split's rows as dicts (materialised once) and its column names."""
    rows = split.rows
    if isinstance(rows, datasets.Dataset):
        names = list(rows.column_names)
        rows = rows.to_list()
    else:
        rows = list(rows)
        names = list(dict.fromkeys(key for row in rows[:50] for key in row))
    return rows, names


def _from_raw(task: str, raw: dict, source: str) -> InstructionData:
    """Instruction data read as it is: checked, cut to one task (`row_task`), split into train / validation / test.

    Raises:
        BioprobeError: for a split without the three columns, or no usable row of the task at all.
    """
    columns_by_role: dict[str, dict] = {}
    found, decided, left_out = Counter(), Counter(), []
    get_task(task)
    column = None
    for role, split in raw.items():
        rows, names = raw_rows(split)
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise BioprobeError(f"{split.name} is not instruction data: it lacks the column(s) {', '.join(missing)} "
                                f"(found {', '.join(names) or 'none'}); instruction data needs instruction, input "
                                "and output.")
        column = next((c for c in TASK_COLUMNS if c in names), None)
        kept: dict[str, list] = {name: [] for name in (*COLUMNS, "task", "entity_type", "item")}
        for i, row in enumerate(rows):
            readable = all(isinstance(row.get(name), str) for name in COLUMNS)
            kind, how = row_task(row, column) if readable else (None, "none")
            found[kind or ("other" if readable else "unreadable")] += 1
            decided[how] += 1
            if readable and kind != task:
                continue
            problem = unusable(task, row)
            if problem is not None:
                left_out.append({"split": role, "where": split.locate(i), "reason": problem[0], "detail": problem[1]})
                continue
            kept["instruction"].append(row["instruction"])
            kept["input"].append(row["input"])
            kept["output"].append(row["output"])
            kept["task"].append(task)
            kept["entity_type"].append(str(row.get("entity_type") or ""))
            kept["item"].append(-1)
        columns_by_role[role] = kept
    n_kept = sum(len(columns["output"]) for columns in columns_by_role.values())
    reasons = Counter(entry["reason"] for entry in left_out)
    selection = {"rule": "answer shape, then " + (f"column '{column}', then " if column else "") +
                 "instruction text (bioprobe.instructions.row_task)",
                 "total": sum(found.values()), "found": {name: found[name] for name in (*TASKS, "other")} |
                 ({"unreadable": found["unreadable"]} if found["unreadable"] else {}),
                 "kept": n_kept, "decided_by": dict(decided), "left_out": dict(reasons)}
    if not n_kept:
        first = f" (first: {left_out[0]['where']}: {left_out[0]['detail']})" if left_out else ""
        counts = ", ".join(f"{found[name]} {TASKS[name].title}" for name in TASKS)
        raise BioprobeError(f"{source} has no usable {get_task(task).title} instructions among its "
                            f"{selection['total']} rows (found {counts}, {found['other']} other; {len(left_out)} left "
                            f"out{first}).")
    splits = complete_splits(columns_by_role, source)
    outputs = [output for columns in columns_by_role.values() for output in columns["output"]]
    return InstructionData(datasets.DatasetDict({name: datasets.Dataset.from_dict(columns)
                                                 for name, columns in splits.items()}),
                           source, built=False, selection=selection, labels=get_task(task).answer_labels(outputs),
                           left_out=tuple(left_out))


def complete_splits(columns: dict[str, dict], source: str, carve_test: bool = False) -> dict[str, dict]:
    """train / validation / test from what the data has (see `load_instructions`); with `carve_test`, data with a
    train split only gets a seeded 10 % test and 10 % validation split too."""
    carve = task_data_module.carve_validation
    if carve_test and set(columns) == {"train"}:
        columns = {"all": columns["train"]}
    if set(columns) == {"all"}:
        train, test = carve(columns["all"], source)  # 10 % test ...
        train, validation = carve(train, source)  # ... and 10 % of the rest as validation
        return {"train": train, "validation": validation, "test": test}
    if "train" not in columns:
        raise BioprobeError(f"{source} has no train split; instruction data needs train and test (or validation).")
    if "test" not in columns:
        if "validation" not in columns:
            raise BioprobeError(f"{source} has a train split only; add a test or validation file.")
        columns["test"] = columns.pop("validation")
    if "validation" not in columns:
        columns["train"], columns["validation"] = carve(columns["train"], source)
    return {name: columns[name] for name in ("train", "validation", "test")}


def stratum(task: str, outputs: list[str]) -> list | None:
    """What instruction training subsets are stratified by (NLI: the label word), or None."""
    return get_task(task).stratum(outputs)
