"""Instruction data (`instruction`, `input`, `output`): read as it is, or built from any NER / NLI data bioprobe loads,
in the Llama2-MedTuned output format (NER: one `word : B|I|O` line per word; NLI: one label word).

Sources: the hub (e.g. `nlpie/Llama2-MedTuned-Instructions`), a local file or folder (JSONL / JSON / CSV / TSV /
Parquet, or `save_to_disk`) with the three columns, or NER / NLI data (demo, CoNLL, MedNLI, ...). A mixed set is cut
down to one task row by row (`row_task`): by the answer's shape where it is unambiguous, else by a task column, else
by a rule on the instruction text; every row of the task that cannot be used is left out with its reason.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from bioprobe import data as task_data_module
from bioprobe.errors import BioprobeError

COLUMNS = ("instruction", "input", "output")
MEDTUNED_HUB = "nlpie/Llama2-MedTuned-Instructions"
TASK_COLUMNS = ("task", "task_type", "source", "dataset", "category")
"""Columns of a mixed instruction set that may name each row's task (the first present one is used)."""
SEPARATOR = " : "
"""Between a word and its label on an NER output line (lines are split on its last occurrence)."""
BIO = ("B", "I", "O")
NLI_WORDS = {"entailment": "Entailment", "neutral": "Neutral", "contradiction": "Contradiction"}
"""The label word an NLI answer gives for each label."""

# Paraphrases, one drawn per item with the seed, so a model cannot key on one wording. Each NER text names the entity
# type and the BIO scheme; each NLI text names the three label words (what `task_of` keys on).
NER_INSTRUCTIONS = (
    "Tag every word of the text with the BIO scheme for {entity} entities: B for the first word of a {entity} "
    "mention, I for each word that continues it, O for every other word. Answer with one line per word, word : label.",
    "In the sentence below, find the {entity} named entities. Label each word B (beginning of a {entity} mention), "
    "I (inside one) or O (outside), one 'word : label' line per word, in order.",
    "Your task is named entity recognition of {entity} mentions. For every word of the input, in order, write the "
    "word, ' : ' and its BIO label (B, I or O).",
    "Mark the {entity} entities in this biomedical text with BIO labels. Write each word on its own line followed by "
    "' : ' and B, I or O.",
    "Identify the {entity} named entities in the following text. Output one line per input word in the form "
    "'word : B', 'word : I' or 'word : O'.",
)
NLI_INSTRUCTIONS = (
    "Decide whether the premise entails the hypothesis, contradicts it, or neither. Answer with one word: "
    "Entailment, Contradiction or Neutral.",
    "Natural language inference: read the two clinical sentences and say whether the hypothesis follows from the "
    "premise (Entailment), contradicts it (Contradiction) or is undetermined by it (Neutral).",
    "What is the relation of the hypothesis to the premise? Reply with Entailment, Neutral or Contradiction.",
    "Classify the sentence pair as Entailment, Contradiction or Neutral.",
    "Does the premise support the hypothesis (Entailment), refute it (Contradiction), or neither (Neutral)? Give only "
    "the label.",
)


@dataclass(frozen=True)
class InstructionData:
    """One task's instructions.

    Attributes:
        splits: `train` / `validation` / `test` datasets with `instruction`, `input`, `output`, `task`,
            `entity_type` (NER: the type the instruction names, "" when unknown; NLI: "") and `item` (the sentence or
            pair index in the NER / NLI split it was built from; -1 for instruction data read as it is).
        source: What was loaded, human readable.
        built: True when built from NER / NLI data, False when read as instruction data.
        selection: For instruction data read as it is, how its rows were cut to the task (`row_task`): rows
            found per task, kept, left out by reason, and what decided each row's task.
        entity_types: NER entity types (built data), in label-set order.
        left_out: The rows of the task that were left out (and rows whose values are not text), each `{"split",
            "where", "reason" (a `LEFT_OUT` key), "detail"}`.
    """

    splits: datasets.DatasetDict
    source: str
    built: bool
    selection: dict = field(default_factory=dict)
    entity_types: tuple[str, ...] = ()
    left_out: tuple[dict, ...] = ()


def draw(seed: int, *key, n: int) -> int:
    """A seeded choice among `n`, fixed by `(seed, *key)` alone: the same item always gets the same draw, whatever
    else is drawn or in which order."""
    text = "\x00".join(map(str, (seed, *key)))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") % n


def ner_output(words: list[str], tags: list[str], entity_type: str) -> str:
    """The Llama2-MedTuned NER answer: `word : B|I|O` per word, B/I for mentions of `entity_type` only.

    Args:
        words: The sentence's words.
        tags: Their IOB2 tags with types (`B-Disease`, `I-Disease`, `O`).
        entity_type: The type the instruction asks for.
    """
    labels = [tag[0] if tag != "O" and tag[2:] == entity_type else "O" for tag in tags]
    return "\n".join(f"{word}{SEPARATOR}{label}" for word, label in zip(words, labels))


def nli_input(premise: str, hypothesis: str) -> str:
    """The input of an NLI instruction."""
    return f"Premise: {premise}\nHypothesis: {hypothesis}"


def entity_types(labels: tuple[str, ...]) -> tuple[str, ...]:
    """Entity types of an NER tag set (`O, B-Chemical, I-Chemical, ...` -> `Chemical, ...`), in order."""
    return tuple(dict.fromkeys(tag[2:] for tag in labels if tag != "O"))


def build_ner(split, types: tuple[str, ...], seed: int, split_name: str) -> dict[str, list]:
    """One instruction per sentence and entity type (the Llama2-MedTuned format has one type per instruction), in
    sentence order; each instruction text is a seeded paraphrase."""
    columns: dict[str, list] = {name: [] for name in (*COLUMNS, "task", "entity_type", "item")}
    for index, (words, tags) in enumerate(zip(split["tokens"][:], split["tags"][:])):
        for entity in types:
            text = NER_INSTRUCTIONS[draw(seed, split_name, index, entity, n=len(NER_INSTRUCTIONS))]
            columns["instruction"].append(text.format(entity=entity))
            columns["input"].append(" ".join(words))
            columns["output"].append(ner_output(words, tags, entity))
            columns["task"].append("ner")
            columns["entity_type"].append(entity)
            columns["item"].append(index)
    return columns


def build_nli(split, seed: int, split_name: str) -> dict[str, list]:
    """One instruction per premise / hypothesis pair, answered by its label word."""
    columns: dict[str, list] = {name: [] for name in (*COLUMNS, "task", "entity_type", "item")}
    for index, (premise, hypothesis, label) in enumerate(zip(split["premise"][:], split["hypothesis"][:],
                                                             split["label"][:])):
        columns["instruction"].append(NLI_INSTRUCTIONS[draw(seed, split_name, index, n=len(NLI_INSTRUCTIONS))])
        columns["input"].append(nli_input(premise, hypothesis))
        columns["output"].append(NLI_WORDS[label])
        columns["task"].append("nli")
        columns["entity_type"].append("")
        columns["item"].append(index)
    return columns


_NER_TEXT = re.compile(r"named entit|entity recognition")
_BIO_TEXT = re.compile(r"\bbio\b|\(begin|\bb-|\biob")
_NLI_TEXT = re.compile(r"entail|contradict|natural language inference")
NER_LABEL = re.compile(r"[BI](-\S.*)?|O")
"""An NER answer line's label: B, I or O, typed (`B-Disease`) or not."""


def answer_task(input: str, output: str) -> str | None:
    """The task an instruction's answer shows, where its shape leaves no doubt:

    - "ner": one `word : label` line per input word, in order (label B, I or O, typed or not: `B-PROBLEM`);
    - "nli": the answer is one NLI label word (Entailment, Neutral or Contradiction; any case, a final period);
    - else None (the instruction's column or text decides).
    """
    answer = output.strip()
    if answer.rstrip(".").lower() in NLI_WORDS:
        return "nli"
    lines = output_lines(answer)
    if lines and all(label is not None and NER_LABEL.fullmatch(label) for _, label in lines) \
            and [word for word, _ in lines] == input.split():
        return "ner"
    return None


def task_of(instruction: str) -> str | None:
    """The task an instruction asks for, by a rule on its text (case-insensitive), for rows whose answer and columns
    do not tell:

    - "nli" when it mentions entailment or contradiction ("entail", "contradict") or "natural language inference";
    - else "ner" when it mentions named entities ("named entit", "entity recognition"), or entities ("entit")
      together with the BIO scheme ("BIO", "(Begin", "B-", "IOB"), and does not mention a relation ("relation":
      relation extraction also talks about entities);
    - else None (another task).
    """
    text = instruction.lower()
    if _NLI_TEXT.search(text):
        return "nli"
    if "relation" in text:
        return None
    if _NER_TEXT.search(text) or ("entit" in text and _BIO_TEXT.search(text)):
        return "ner"
    return None


def _task_from_value(value) -> str | None:
    """A task column's value as "ner" / "nli" (e.g. `NCBI-disease NER`, `MedNLI`), or None."""
    text = str(value).lower()
    if re.search(r"nli\b|inference|entail", text):
        return "nli"
    if re.search(r"\bner\b|ner$|named entit|entity recognition", text):
        return "ner"
    return None


def row_task(row: dict, column: str | None) -> tuple[str | None, str]:
    """A mixed set's row's task and what decided it: `"answer"` (`answer_task`, the unambiguous shape of its
    answer), else `"column"` (the value of the task column `column`), else `"instruction"` (`task_of`), else
    `(None, "none")`."""
    found = answer_task(row["input"], row["output"])
    if found is not None:
        return found, "answer"
    found = _task_from_value(row[column]) if column else None
    if found is not None:
        return found, "column"
    found = task_of(row["instruction"])
    return (found, "instruction") if found is not None else (None, "none")


LEFT_OUT = {"not_text": "a value is not text", "empty": "empty output", "bad_line": "an output line is not "
            "'word : B|I|O'", "words_differ": "output words differ from the input words"}
"""Why a row of the asked task is left out (`unusable`), as counted in `InstructionData.selection`."""


def unusable(task: str, row: dict) -> tuple[str, str] | None:
    """Why a row of the task cannot be trained or scored on, as `(kind, detail)` (a `LEFT_OUT` key and a sentence),
    or None when it can: a value that is not text, an empty answer; for NER an answer line that is not
    `word : B|I|O`, or answer words that are not the input's words in order."""
    bad = next((name for name in COLUMNS if not isinstance(row.get(name), str)), None)
    if bad is not None:
        return "not_text", f"the {bad} value {row.get(bad)!r} is not text"
    if not row["output"].strip():
        return "empty", "the output is empty; every instruction needs its answer"
    if task != "ner":
        return None
    lines = output_lines(row["output"])
    for number, (word, label) in enumerate(lines, 1):
        if label is None or not NER_LABEL.fullmatch(label):
            shown = f"{word} : {label}" if label is not None else word
            return "bad_line", f"output line {number} is not 'word : B|I|O' ({shown!r})"
    words = row["input"].split()
    if [word for word, _ in lines] != words:
        return "words_differ", (f"the output has {len(lines)} word lines but the input has {len(words)} words, or "
                                "they differ; line i must be input word i")
    return None


def describe_selection(task: str, selection: dict) -> str:
    """One line on how a mixed instruction set was cut to `task`: rows kept of those found, per task."""
    found, kept = selection["found"], selection["kept"]
    others = ", ".join(f"{name.upper() if name != 'other' else 'other'} {count:,}"
                       for name, count in found.items() if name != task and count)
    left = sum(selection["left_out"].values())
    reasons = "; ".join(f"{count:,} {LEFT_OUT[kind]}" for kind, count in selection["left_out"].items())
    return (f"instructions: {task.upper()} {kept:,} kept of {found.get(task, 0):,} found among {selection['total']:,} "
            f"rows" + (f" (not asked: {others})" if others else "") +
            (f"; {left:,} left out: {reasons}" if left else ""))


def load_instructions(task: str, data: str | None, labels: tuple[str, ...] | None = None,
                      seed: int = 42) -> InstructionData:
    """A task's instructions with train, validation and test splits.

    Args:
        task: "ner" or "nli": the task kept from a mixed set, and what NER / NLI data is turned into.
        data: Instruction data (hub id, local file or folder with `instruction`/`input`/`output`) or any `--data`
            value of `bioprobe.data.load_task_data` (None: the task's default), which is turned into instructions.
        labels: `--labels` for NER data with integer tags.
        seed: Seed of the paraphrase drawn for each item.

    Returns:
        The instructions. Instruction data without a test split uses its validation split as test (and carves a
        validation split off train); a single file is cut into a seeded 80 / 10 / 10 % train / validation / test.

    Raises:
        BioprobeError: for data that is neither instruction nor NER / NLI data, or malformed rows.
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
        elif not path.exists() and task_data_module._HUB_ID.fullmatch(data):
            hub = task_data_module._load_hub(data)
            if _has_instruction_columns(hub):
                raw, source = hub, f"hub:{data}"
            else:  # NER / NLI data on the hub: build from what was just loaded
                from bioprobe.data import KNOWN_TAG_NAMES, _build

                built = _build(task, hub, f"hub:{data}", labels, KNOWN_TAG_NAMES.get(data))
                return _from_task_data(task, built, seed)
    if raw is None:
        from bioprobe.data import load_task_data

        return _from_task_data(task, load_task_data(task, data, labels), seed)
    return _from_raw(task, raw, source)


def _from_task_data(task: str, loaded, seed: int) -> InstructionData:
    types = entity_types(loaded.labels) if task == "ner" else ()
    splits = {}
    for name, split in loaded.splits.items():
        columns = build_ner(split, types, seed, name) if task == "ner" else build_nli(split, seed, name)
        splits[name] = datasets.Dataset.from_dict(columns)
    how = f"one instruction per sentence and entity type ({', '.join(types)})" if task == "ner" else \
        "one instruction per pair"
    return InstructionData(datasets.DatasetDict(splits), f"{loaded.source}, turned into instructions ({how})",
                           built=True, entity_types=types)


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
    return task_data_module._READERS[fmt](path)


def _read_file(path: Path) -> dict:
    """A single instruction file, cut into a seeded 80 / 10 / 10 % train / validation / test."""
    return {"all": read_table_file(path)}


def _read_folder_any(path: Path) -> tuple[dict, str]:
    """The split files of a folder (train / dev|validation / test, JSONL / JSON / CSV / TSV / Parquet, or a
    `save_to_disk` folder) as raw splits, whatever their columns.

    Raises:
        BioprobeError: when the folder has no such file.
    """
    path = path.resolve()
    if (path / "dataset_dict.json").is_file():
        return task_data_module._read_saved(path), f"{path} (save_to_disk)"
    found = {}
    for file in sorted(path.iterdir()):
        role = task_data_module._SPLIT_NAMES.get(file.stem.lower())
        if role is not None and file.suffix.lower() in _TABLE_FORMATS and file.is_file() and role not in found:
            found[role] = file
    if not found:
        raise BioprobeError(f"The folder {path} has no train / dev / test files (JSONL, JSON, CSV, TSV or Parquet).")
    raw = {role: task_data_module._READERS[_TABLE_FORMATS[file.suffix.lower()]](file) for role, file in found.items()}
    return raw, f"{path} ({'+'.join(sorted({_TABLE_FORMATS[f.suffix.lower()] for f in found.values()}))})"


def _read_folder(path: Path) -> tuple[dict, str] | tuple[None, None]:
    """Instruction split files of a folder, or (None, None) when the folder holds NER / NLI data instead."""
    try:
        raw, source = _read_folder_any(path)
    except BioprobeError:
        return None, None
    return (raw, source) if _has_instruction_columns(raw) else (None, None)


def _rows(split) -> tuple[list[dict], list[str]]:
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
    column = None
    for role, split in raw.items():
        rows, names = _rows(split)
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
                 "total": sum(found.values()), "found": {name: found[name] for name in ("ner", "nli", "other")} |
                 ({"unreadable": found["unreadable"]} if found["unreadable"] else {}),
                 "kept": n_kept, "decided_by": dict(decided), "left_out": dict(reasons)}
    if not n_kept:
        first = f" (first: {left_out[0]['where']}: {left_out[0]['detail']})" if left_out else ""
        raise BioprobeError(f"{source} has no usable {task.upper()} instructions among its {selection['total']} rows "
                            f"(found {found['ner']} NER, {found['nli']} NLI, {found['other']} other; "
                            f"{len(left_out)} left out{first}).")
    splits = _complete_splits(columns_by_role, source)
    return InstructionData(datasets.DatasetDict({name: datasets.Dataset.from_dict(columns)
                                                 for name, columns in splits.items()}),
                           source, built=False, selection=selection, left_out=tuple(left_out))


def _complete_splits(columns: dict[str, dict], source: str, carve_test: bool = False) -> dict[str, dict]:
    """train / validation / test from what the data has (see `load_instructions`); with `carve_test`, data with a
    train split only gets a seeded 10 % test and 10 % validation split too."""
    carve = task_data_module._carve_validation
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


def output_lines(output: str) -> list[tuple[str, str | None]]:
    """An NER answer's non-empty lines as `(word, label)`, each split on its last `SEPARATOR` (a line ending in
    " :" has label ""; one without a separator has label None)."""
    lines = []
    for line in output.strip().split("\n"):
        text = line.rstrip()
        if not text.strip():
            continue
        word, separator, label = text.rpartition(SEPARATOR)
        if separator:
            lines.append((word.strip(), label.strip()))
        elif text.endswith(SEPARATOR.rstrip()):
            lines.append((text[: -len(SEPARATOR.rstrip())].strip(), ""))
        else:
            lines.append((text.strip(), None))
    return lines


def stratum(task: str, outputs: list[str]) -> list[str] | None:
    """What training subsets are stratified by: the NLI label word (normalised), nothing for NER."""
    if task != "nli":
        return None
    return [output.strip().lower() for output in outputs]



def analysis_instruction(task: str, index: int, seed: int, types: tuple[str, ...] = ()) -> tuple[str, str]:
    """The instruction an analysis puts an item in (`--in-prompt`, head importance of an instruction-tuned model):
    a seeded paraphrase and, for NER, a seeded one of the corpus' entity types. Returns `(instruction, entity_type)`.
    """
    if task == "ner":
        entity = types[draw(seed, "analysis-type", index, n=len(types))] if types else "biomedical"
        text = NER_INSTRUCTIONS[draw(seed, "analysis", index, entity, n=len(NER_INSTRUCTIONS))]
        return text.format(entity=entity), entity
    return NLI_INSTRUCTIONS[draw(seed, "analysis", index, n=len(NLI_INSTRUCTIONS))], ""
