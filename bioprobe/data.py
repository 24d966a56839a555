"""Load NER or NLI data (demo corpus, local directory or Hugging Face hub dataset) into one schema.

NER rows: ``tokens``/``tags`` (IOB2 strings); NLI rows: ``premise``/``hypothesis``/``label``.
Every task gets exactly the splits train, validation and test.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import datasets
import numpy as np

from bioprobe.errors import BioprobeError
from bioprobe.registry import TASKS as REGISTERED_TASKS

NLI_LABELS = REGISTERED_TASKS["nli"].labels
TASKS = tuple(REGISTERED_TASKS)
SPLITS = ("train", "validation", "test")
DEFAULT_NER_DATASET = "tner/bionlp2004"
MEDNLI_ENV = "MEDNLI_DIR"
# A directory (or hub dataset) without a validation split gets one from a seeded 10 % of train.
VALIDATION_FRACTION = 0.1
VALIDATION_SEED = 0
# Seconds to wait for the hub before treating it as unreachable (load_dataset itself retries for ~25 s).
HUB_PROBE_TIMEOUT_S = 10.0

# Hub datasets that store integer tags without ClassLabel names; the ids come from their dataset cards.
KNOWN_TAG_NAMES = {
    "tner/bionlp2004": (
        "O", "B-DNA", "I-DNA", "B-protein", "I-protein", "B-cell_type", "I-cell_type",
        "B-cell_line", "I-cell_line", "B-RNA", "I-RNA",
    ),
}

_SPLIT_NAMES = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "devel": "validation", "test": "test",
    "mli_train_v1": "train", "mli_dev_v1": "validation", "mli_test_v1": "test",
}
_FORMATS = {
    "ner": {".conll": "conll", ".txt": "conll", ".iob": "conll", ".bio": "conll", ".tsv": "conll",
            ".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"},
    "nli": {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"},
}
_COLUMNS = {
    "tokens": ("tokens", "words"),
    "tags": ("tags", "ner_tags", "labels"),
    "premise": ("premise", "sentence1", "text_a"),
    "hypothesis": ("hypothesis", "sentence2", "text_b"),
    "label": ("label", "gold_label"),
}
_NLI_ALIASES = {
    "entailment": "entailment", "entails": "entailment", "entail": "entailment",
    "neutral": "neutral",
    "contradiction": "contradiction", "contradicts": "contradiction", "contradict": "contradiction",
    "contradictory": "contradiction",
}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?")
_IOB2_RULE = "tags must be IOB2 (BIO) with an entity type such as B-Disease, I-Disease or O"
_FEATURES = {
    "ner": datasets.Features(  # Sequence (not List) keeps datasets 3.x working; it becomes List in 4.x+
        {"tokens": datasets.Sequence(datasets.Value("string")), "tags": datasets.Sequence(datasets.Value("string"))}
    ),
    "nli": datasets.Features(
        {name: datasets.Value("string") for name in ("premise", "hypothesis", "label")}
    ),
}


@dataclass(frozen=True)
class TaskData:
    """One task's data in the common schema.

    Attributes:
        splits: ``train``/``validation``/``test`` datasets (NER: tokens, tags; NLI: premise, hypothesis, label).
        source: What was loaded, human readable (e.g. ``demo``, ``hub:tner/bionlp2004``, ``/abs/path (conll)``).
        labels: NER: the tag set, ``O`` first, then by entity type, B before I; NLI: ``NLI_LABELS``.
    """

    splits: datasets.DatasetDict
    source: str
    labels: tuple[str, ...]


class _RawSplit(NamedTuple):
    """Rows of one split as read, before mapping to the schema."""

    rows: Sequence[dict[str, Any]]
    features: datasets.Features | None
    locate: Callable[..., str]  # (row index, token index or None) -> "file line 3" for messages
    name: str  # the file or split it came from


def load_task_data(task: str, data: str | None = None, labels: Sequence[str] | None = None) -> TaskData:
    """Load a task's data into the common schema with train, validation and test splits.

    Args:
        task: ``"ner"`` or ``"nli"``.
        data: ``None`` for the default (NER: hub ``tner/bionlp2004``; NLI: MedNLI from ``$MEDNLI_DIR``),
            ``"demo"`` for the built-in demo corpus, a local directory (an existing path wins over a hub id
            of the same name), or a hub dataset id. Data without a validation split gets one made of a
            seeded 10 % of train (``VALIDATION_SEED``); train keeps the rest, both in their original order.
        labels: Names for integer tags or labels, in id order (``--labels``); takes precedence over the
            data's ClassLabel names and is not used when tags or labels are already strings.

    Returns:
        The splits, a description of the source, and the label set.

    Raises:
        BioprobeError: If the data cannot be found, read or validated; the message names the file and line.
    """
    task = _check_task(task)
    names = _label_names(labels)
    if isinstance(data, os.PathLike):
        data = os.fspath(data)
    local_only = False
    if data is None and task == "ner":
        data = DEFAULT_NER_DATASET
    elif data is None:
        data, local_only = _mednli_dir(), True
    if not data.strip():
        raise BioprobeError("The --data value is empty; pass demo, a local directory or a hub dataset id.")
    if data == "demo":
        return _demo_data(task, names)
    if local_only or Path(data).expanduser().exists() or not _HUB_ID.fullmatch(data):
        raw, source = _read_directory(Path(data).expanduser(), task, local_only)
        fallback = None
    else:
        raw, source, fallback = _load_hub(data), f"hub:{data}", KNOWN_TAG_NAMES.get(data)
    return _build(task, raw, source, names, fallback)


def data_key(task: str, data: str | None) -> str | None:
    """What `--data` points at, independent of the working directory: local paths made absolute, the NLI default
    read from `MEDNLI_DIR`. Runs and caches record it, so a later analysis loads the very same data."""
    if data is None and task == "nli":
        data = os.environ.get(MEDNLI_ENV) or None
    if data is not None and data != "demo" and Path(data).expanduser().exists():
        return str(Path(data).expanduser().resolve())
    return data


def _check_task(task: str) -> str:
    """Return the task name in lower case, or raise BioprobeError if it is unknown."""
    if not isinstance(task, str) or task.lower() not in TASKS:
        raise BioprobeError(f"Unknown task {task!r}; choose one of: {', '.join(TASKS)}.")
    return task.lower()


def _label_names(labels: Sequence[str] | str | None) -> tuple[str, ...] | None:
    """Normalise ``--labels`` (a list, or one comma-separated string) to a tuple of names."""
    if labels is None:
        return None
    if isinstance(labels, str):
        labels = labels.split(",")
    names = tuple(str(name).strip() for name in labels)
    if not names or not all(names):
        raise BioprobeError(
            f"The --labels list {list(labels)!r} has an empty name; give names like O,B-Disease,I-Disease."
        )
    return names


def _mednli_dir() -> str:
    """Directory of the MedNLI files from ``$MEDNLI_DIR``, or BioprobeError explaining how to get them."""
    directory = os.environ.get(MEDNLI_ENV, "").strip()
    if not directory:
        raise BioprobeError(
            "MedNLI is credentialed data from PhysioNet (https://physionet.org/content/mednli/), so it cannot be "
            f"downloaded automatically: get access there, then pass --data DIR or set {MEDNLI_ENV}=DIR to the "
            "folder with mli_train_v1.jsonl, or use --data demo."
        )
    return directory


@functools.lru_cache(maxsize=4)
def _demo_data(task: str, names: tuple[str, ...] | None) -> TaskData:
    """The demo corpus in the common schema, built once per process (it is generated deterministically; the demo
    loads it for every run and split)."""
    return _build(task, _load_demo(task), "demo", names, None)


def _load_demo(task: str) -> dict[str, _RawSplit]:
    """The demo corpus (``bioprobe.demo_corpus``) as raw splits."""
    try:
        from bioprobe import demo_corpus
    except ImportError as error:
        if error.name not in ("bioprobe.demo_corpus", "bioprobe"):
            raise
        raise BioprobeError("The demo corpus (bioprobe.demo_corpus) is missing from this installation.") from error
    splits = demo_corpus.demo_ner() if task == "ner" else demo_corpus.demo_nli()
    return _from_dataset_dict(splits, "demo")


def _build(
    task: str,
    raw: dict[str, _RawSplit],
    source: str,
    labels: Sequence[str] | None,
    fallback: Sequence[str] | None,
) -> TaskData:
    """Validate raw splits, map them to the schema, add a validation split if missing, and wrap them up.

    Args:
        task: ``"ner"`` or ``"nli"``.
        raw: Raw splits by role (train and test required).
        source: Description of the source.
        labels: Names for integer ids from ``--labels`` (first choice).
        fallback: Names for integer ids when neither ``labels`` nor ClassLabel features give them.

    Returns:
        The task data.
    """
    for role in ("train", "test"):
        if role not in raw:
            raise BioprobeError(f"The data from {source} has no {role} split; train and test are required.")
    standardize = _standardize_ner if task == "ner" else _standardize_nli
    names_from = _COLUMNS["tags"] if task == "ner" else _COLUMNS["label"]
    columns = {}
    for role, split in raw.items():
        columns[role] = standardize(split, labels or _class_names(split.features, names_from) or fallback)
        if not next(iter(columns[role].values())):
            raise BioprobeError(f"The {role} split from {split.name} has no examples.")
    if "validation" not in raw:
        columns["train"], columns["validation"] = _carve_validation(columns["train"], raw["train"].name)
        source += f" (validation = seeded {VALIDATION_FRACTION:.0%} of train)"
    splits = datasets.DatasetDict(
        {role: datasets.Dataset.from_dict(columns[role], features=_FEATURES[task]) for role in SPLITS}
    )
    if task == "ner":
        label_set = _ner_label_set(tag for role in SPLITS for tags in columns[role]["tags"] for tag in tags)
    else:
        label_set = NLI_LABELS
    return TaskData(splits=splits, source=source, labels=label_set)


def _carve_validation(train: dict[str, list], name: str) -> tuple[dict[str, list], dict[str, list]]:
    """Split a seeded ``VALIDATION_FRACTION`` (at least one example) off train; both keep the file order.

    Args:
        train: Column name -> values of the train split.
        name: Where train came from, for the error message.

    Returns:
        The remaining train columns and the validation columns.
    """
    n = len(next(iter(train.values())))
    size = max(1, round(n * VALIDATION_FRACTION))
    if size >= n:
        raise BioprobeError(
            f"The train split from {name} has only {n} example(s), too few to carve a validation split from; "
            "add a dev or validation file."
        )
    held_out = np.zeros(n, dtype=bool)
    held_out[np.random.default_rng(VALIDATION_SEED).permutation(n)[:size]] = True
    rest = {column: [v for v, out in zip(values, held_out) if not out] for column, values in train.items()}
    validation = {column: [v for v, out in zip(values, held_out) if out] for column, values in train.items()}
    return rest, validation


def _ner_label_set(tags: Iterable[str]) -> tuple[str, ...]:
    """The tag set sorted as ``O`` first, then by entity type, ``B-`` before ``I-``."""
    return tuple(sorted(set(tags) | {"O"}, key=lambda tag: ("",) if tag == "O" else (tag[2:], tag[:1])))


# --- mapping rows to the schema -------------------------------------------------------------------------


def _standardize_ner(split: _RawSplit, names: Sequence[str] | None) -> dict[str, list]:
    """Map NER rows to ``tokens``/``tags`` string lists, checking lengths and the IOB2 scheme."""
    all_tokens, all_tags = [], []
    for i, row in enumerate(split.rows):
        where = split.locate(i)
        tokens = _sequence(row, "tokens", where)
        raw_tags = _sequence(row, "tags", where)
        if len(tokens) != len(raw_tags):
            raise BioprobeError(f"{where}: {len(tokens)} tokens but {len(raw_tags)} tags; every token needs one tag.")
        if not tokens:
            raise BioprobeError(f"{where}: the sentence has no tokens.")
        for j, token in enumerate(tokens):
            if not isinstance(token, str):
                raise BioprobeError(f"{split.locate(i, j)}: token {token!r} is not a string.")
        tags = [_tag_name(tag, names, split.locate(i, j)) for j, tag in enumerate(raw_tags)]
        _check_iob2(tags, split.locate, i)
        all_tokens.append(list(tokens))
        all_tags.append(tags)
    return {"tokens": all_tokens, "tags": all_tags}


def _standardize_nli(split: _RawSplit, names: Sequence[str] | None) -> dict[str, list]:
    """Map NLI rows to ``premise``/``hypothesis``/``label`` strings, labels normalised to ``NLI_LABELS``."""
    columns: dict[str, list] = {"premise": [], "hypothesis": [], "label": []}
    for i, row in enumerate(split.rows):
        where = split.locate(i)
        for field in ("premise", "hypothesis"):
            column, text = _field(row, field, where)
            if not isinstance(text, str):
                raise BioprobeError(f"{where}: the {column} value {text!r} is not text.")
            columns[field].append(text)
        columns["label"].append(_nli_label(_field(row, "label", where)[1], names, where))
    return columns


def _class_names(features: datasets.Features | None, aliases: Sequence[str]) -> tuple[str, ...] | None:
    """ClassLabel names of the first present column among ``aliases`` (plain or inside a list feature)."""
    for column in aliases:
        if features is not None and column in features:
            feature = features[column]
            feature = feature[0] if isinstance(feature, list) and feature else getattr(feature, "feature", feature)
            return tuple(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    return None


def _field(row: dict[str, Any], field: str, where: str) -> tuple[str, Any]:
    """The first present column among the aliases of ``field`` and its value, or BioprobeError."""
    for column in _COLUMNS[field]:
        if column in row:
            if row[column] is None:
                raise BioprobeError(f"{where}: the {column} value is missing.")
            return column, row[column]
    found = ", ".join(str(key) for key in row) or "none"
    raise BioprobeError(f"{where}: no {field} column (expected one of {', '.join(_COLUMNS[field])}; found {found}).")


def _sequence(row: dict[str, Any], field: str, where: str) -> list:
    """A token or tag list; text cells hold a JSON list or whitespace-separated items."""
    column, value = _field(row, field, where)
    if isinstance(value, str):
        if not value.lstrip().startswith("["):
            return value.split()
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise BioprobeError(f"{where}: the {column} value is not a valid JSON list.") from None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise BioprobeError(f"{where}: the {column} value is not a list.")
    return list(value)


def _integer(value: Any) -> int | None:
    """``value`` as an int if it is an integer id (an int, or a string of digits), else None."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _id_name(value: Any, index: int, names: Sequence[str] | None, what: str, example: str, where: str) -> str:
    """The name of integer id ``index`` in ``names`` (a tag or a label), or a clear error."""
    if names is None:
        raise BioprobeError(
            f"{where}: {what} {value!r} is an integer id but the data names no {what}s; pass --labels with the "
            f"{what} names in id order, e.g. --labels {example}."
        )
    if not 0 <= index < len(names):
        raise BioprobeError(f"{where}: {what} id {index} is outside the {len(names)} {what} names {list(names)}.")
    return names[index]


def _tag_name(tag: Any, names: Sequence[str] | None, where: str) -> str:
    """A tag as a string, mapping integer ids through ``names``."""
    index = _integer(tag)
    if index is None:
        if not isinstance(tag, str):
            raise BioprobeError(f"{where}: tag {tag!r} is neither a string nor an integer id.")
        return tag
    return _id_name(tag, index, names, "tag", "O,B-Disease,I-Disease", where)


def _check_iob2(tags: list[str], locate: Callable[..., str], row: int) -> None:
    """Raise BioprobeError at the first tag that breaks IOB2: O, B-TYPE, or I-TYPE continuing TYPE."""
    previous = "O"
    for j, tag in enumerate(tags):
        if tag != "O":
            prefix, dash, kind = tag.partition("-")
            if prefix not in ("B", "I") or not dash or not kind:
                hint = " (BIOES/BILOU tags must be converted)" if dash and prefix in ("E", "S", "L", "U") else ""
                raise BioprobeError(f"{locate(row, j)}: tag {tag!r} is not allowed because {_IOB2_RULE}{hint}.")
            if prefix == "I" and previous[2:] != kind:
                raise BioprobeError(
                    f"{locate(row, j)}: tag {tag!r} follows {previous!r}, but {_IOB2_RULE}, where an I- tag "
                    "continues a B- or I- tag of the same type (IOB1 tags must be converted)."
                )
        previous = tag


def _nli_label(value: Any, names: Sequence[str] | None, where: str) -> str:
    """An NLI label normalised to ``NLI_LABELS``; integer ids are mapped through ``names``."""
    index = _integer(value)
    if index is not None:
        value = _id_name(value, index, names, "label", ",".join(NLI_LABELS), where)
    label = _NLI_ALIASES.get(value.strip().lower()) if isinstance(value, str) else None
    if label is None:
        raise BioprobeError(f"{where}: label {value!r} is not one of {', '.join(NLI_LABELS)}.")
    return label


# --- local directories ------------------------------------------------------------------------------------


def _read_directory(path: Path, task: str, from_env: bool) -> tuple[dict[str, _RawSplit], str]:
    """Read a directory of split files (or a ``save_to_disk`` DatasetDict) into raw splits.

    Args:
        path: The directory.
        task: ``"ner"`` or ``"nli"`` (decides which extensions are read and how).
        from_env: Whether the path came from ``$MEDNLI_DIR`` (mentioned in errors).

    Returns:
        The raw splits by role and the source description, e.g. ``/abs/dir (conll)``.
    """
    path = path.resolve()
    origin = f" (from {MEDNLI_ENV})" if from_env else ""
    if not path.exists():
        raise BioprobeError(f"The data path {path}{origin} does not exist.")
    if not path.is_dir():
        raise BioprobeError(f"The data path {path}{origin} is a file, but --data needs a directory with split files.")
    if (path / "dataset_dict.json").is_file():
        return _read_saved(path), f"{path} (save_to_disk)"
    files = _split_files(path, task)
    for role in ("train", "test"):
        if role not in files:
            raise BioprobeError(
                f"The data directory {path}{origin} has no {role} file ({role}.* or mli_{role}_v1.jsonl)."
            )
    raw = {role: _READERS[fmt](file) for role, (file, fmt) in files.items()}
    formats = sorted({"mednli" if file.name.startswith("mli_") else fmt for file, fmt in files.values()})
    return raw, f"{path} ({'+'.join(formats)})"


def _split_files(path: Path, task: str) -> dict[str, tuple[Path, str]]:
    """Find the split files of a directory by name (train.*, dev.*, ...) and extension."""
    found: dict[str, tuple[Path, str]] = {}
    for file in sorted(path.iterdir()):
        role = _SPLIT_NAMES.get(file.stem.lower())
        fmt = _FORMATS[task].get(file.suffix.lower())
        if role is None or fmt is None or not file.is_file():
            continue
        if role in found:
            raise BioprobeError(
                f"The data directory {path} has two {role} files, {found[role][0].name} and {file.name}; keep one."
            )
        found[role] = (file, fmt)
    if not found:
        extensions = ", ".join(sorted(_FORMATS[task]))
        raise BioprobeError(
            f"The data directory {path} has no recognisable split files (expected train, dev or validation, "
            f"and test files ending in {extensions}, or the MedNLI mli_*_v1.jsonl files, or a save_to_disk folder)."
        )
    return found


def _row_locator(name: str, unit: str, numbers: Sequence[int] | None = None) -> Callable[..., str]:
    """A locator naming ``name`` and the row's line (``numbers``) or 1-based row/item index."""

    def locate(row: int, token: int | None = None) -> str:
        where = f"{name} {unit} {numbers[row] if numbers is not None else row + 1}"
        return where if token is None else f"{where}, token {token + 1}"

    return locate


def _read_text(path: Path) -> str:
    """The file's text (UTF-8, optional BOM, universal newlines), or BioprobeError."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BioprobeError(f"{path} is not UTF-8 text.") from None


def _read_conll(path: Path) -> _RawSplit:
    """CoNLL: token first, tag last column (tab or whitespace separated); blank lines end sentences."""
    rows: list[dict[str, list[str]]] = []
    starts: list[int] = []
    sentence = None
    for number, line in enumerate(_read_text(path).split("\n"), 1):
        text = line.strip()
        if not text or text.startswith("-DOCSTART-"):
            sentence = None
            continue
        fields = text.split("\t") if "\t" in text else text.split()
        if len(fields) < 2:
            raise BioprobeError(
                f"{path} line {number}: found one column, but CoNLL lines need a token and a tag separated by "
                "whitespace or a tab."
            )
        if sentence is None:
            sentence = {"tokens": [], "tags": []}
            rows.append(sentence)
            starts.append(number)
        sentence["tokens"].append(fields[0].strip())
        sentence["tags"].append(fields[-1].strip())

    def locate(row: int, token: int | None = None) -> str:
        return f"{path} line {starts[row] + (token or 0)}"

    return _RawSplit(rows, None, locate, str(path))


def _read_jsonl(path: Path) -> _RawSplit:
    """JSON lines: one JSON object per line; blank lines are skipped."""
    rows, numbers = [], []
    for number, line in enumerate(_read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise BioprobeError(f"{path} line {number}: not valid JSON ({error.msg}).") from None
        if not isinstance(row, dict):
            raise BioprobeError(f"{path} line {number}: expected a JSON object, found {type(row).__name__}.")
        rows.append(row)
        numbers.append(number)
    return _RawSplit(rows, None, _row_locator(str(path), "line", numbers), str(path))


def _read_json(path: Path) -> _RawSplit:
    """A ``.json`` file: a JSON array of objects, or else JSON lines."""
    text = _read_text(path)
    if not text.lstrip().startswith("["):
        return _read_jsonl(path)
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as error:
        raise BioprobeError(f"{path} line {error.lineno}: not valid JSON ({error.msg}).") from None
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise BioprobeError(f"{path} item {i + 1}: expected a JSON object, found {type(row).__name__}.")
    return _RawSplit(rows, None, _row_locator(str(path), "item"), str(path))


def _read_table(path: Path, delimiter: str) -> _RawSplit:
    """CSV (quoted fields allowed) or TSV (no quoting) with a header row."""
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), delimiter=delimiter, quoting=quoting)
    header: list[str] | None = None
    rows, numbers, end = [], [], 0
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            if not any(field.strip() for field in record):
                continue
            if header is None:
                header = [field.strip() for field in record]
            elif len(record) != len(header):
                raise BioprobeError(
                    f"{path} line {start}: found {len(record)} columns, but the header has {len(header)}."
                )
            else:
                rows.append(dict(zip(header, record)))
                numbers.append(start)
    except csv.Error as error:
        kind = "TSV" if delimiter == "\t" else "CSV"
        raise BioprobeError(f"{path} line {reader.line_num}: unreadable {kind} ({error}).") from None
    return _RawSplit(rows, None, _row_locator(str(path), "line", numbers), str(path))


def _read_parquet(path: Path) -> _RawSplit:
    """A Parquet file; ClassLabel names are recovered from the schema metadata written by ``datasets``."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several types for a bad file
        raise BioprobeError(f"{path} is not a readable Parquet file ({_short(error)}).") from None
    try:
        features = datasets.Features.from_arrow_schema(table.schema)
    except Exception:  # schemas datasets cannot express: read the values without ClassLabel names
        features = None
    return _RawSplit(table.to_pylist(), features, _row_locator(str(path), "row"), str(path))


def _read_saved(path: Path) -> dict[str, _RawSplit]:
    """A DatasetDict saved with ``save_to_disk``."""
    try:
        saved = datasets.load_from_disk(str(path))
    except Exception as error:  # datasets raises several types for a damaged folder
        raise BioprobeError(f"{path} could not be read as a save_to_disk DatasetDict ({_short(error)}).") from None
    if not isinstance(saved, datasets.DatasetDict):
        raise BioprobeError(
            f"{path} holds a single Dataset; save a DatasetDict with train, validation and test splits."
        )
    return _from_dataset_dict(saved, str(path))


_READERS: dict[str, Callable[[Path], _RawSplit]] = {
    "conll": _read_conll,
    "jsonl": _read_jsonl,
    "json": _read_json,
    "csv": lambda path: _read_table(path, ","),
    "tsv": lambda path: _read_table(path, "\t"),
    "parquet": _read_parquet,
}


def _from_dataset_dict(splits: datasets.DatasetDict, name: str) -> dict[str, _RawSplit]:
    """Raw splits from a DatasetDict, its split names mapped to train/validation/test."""
    raw: dict[str, _RawSplit] = {}
    for split, dataset in splits.items():
        role = _SPLIT_NAMES.get(split.lower())
        if role is None:
            continue
        if role in raw:
            raise BioprobeError(f"{name} has two {role} splits ({raw[role].name} and split '{split}'); keep one.")
        label = f"{name} split '{split}'"
        # All rows as Python dicts in one Arrow read; iterating a Dataset reads and formats one row at a time.
        raw[role] = _RawSplit(dataset.to_list(), dataset.features, _row_locator(label, "row"), label)
    return raw


# --- the Hugging Face hub ---------------------------------------------------------------------------------


def _load_hub(dataset_id: str) -> dict[str, _RawSplit]:
    """Load a hub dataset, failing fast (and from the local cache only) when the hub cannot be reached."""
    unreachable = _hub_unreachable(dataset_id)
    try:
        if unreachable is None:
            try:
                loaded = datasets.load_dataset(dataset_id)
            except RuntimeError as error:
                if "script" not in str(error).lower():
                    raise
                # A loading-script dataset (tner/bionlp2004 is one): datasets 4+ runs no scripts, but the hub
                # keeps a Parquet conversion of it.
                loaded = datasets.load_dataset(dataset_id, revision="refs/convert/parquet")
        else:
            with _offline_mode():
                loaded = datasets.load_dataset(dataset_id)
    except Exception as error:  # datasets raises many types (ConnectionError, DatasetNotFoundError, ValueError...)
        raise BioprobeError(
            f"Could not load dataset '{dataset_id}' from the Hugging Face hub ({unreachable or _short(error)}); "
            "pass --data PATH to a local copy or --data demo."
        ) from error
    if not isinstance(loaded, datasets.DatasetDict):
        loaded = datasets.DatasetDict({"train": loaded})
    return _from_dataset_dict(loaded, f"hub:{dataset_id}")


def _hub_unreachable(dataset_id: str) -> str | None:
    """Why the hub cannot serve ``dataset_id`` (one quick request, no retries), or None if it may.

    ``load_dataset`` retries an unreachable hub with backoff for about 25 seconds; this probe answers
    within ``HUB_PROBE_TIMEOUT_S``. In offline mode (``HF_HUB_OFFLINE=1``) nothing is probed.
    """
    if datasets.config.HF_HUB_OFFLINE:
        return None
    from huggingface_hub import HfApi
    from huggingface_hub.utils import HfHubHTTPError, RepositoryNotFoundError

    try:
        HfApi().dataset_info(dataset_id, timeout=HUB_PROBE_TIMEOUT_S)
    except RepositoryNotFoundError:
        return "no such dataset, or it is private"
    except HfHubHTTPError:
        return None  # the hub answered; let load_dataset report anything else
    except Exception as error:  # network errors (DNS, refused, timeout) and invalid ids
        return f"the hub is unreachable: {_short(error)}"
    return None


@contextmanager
def _offline_mode():
    """Temporarily switch datasets and huggingface_hub to offline mode (local cache only)."""
    from huggingface_hub import constants

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def _short(error: BaseException) -> str:
    """The first sentence of an exception's first line (at most 200 characters), or its type name."""
    lines = str(error).strip().splitlines()
    text = lines[0].split(". ")[0].strip().rstrip(".") if lines else ""
    if len(text) > 200:
        text = text[:199].rstrip() + "…"
    return text or type(error).__name__
