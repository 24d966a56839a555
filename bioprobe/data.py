"""Load a task's data (demo corpus, local directory or Hugging Face hub dataset) into its schema, with exactly the
splits train, validation and test. What the schema is and how a row maps to it is the task module's
(`bioprobe.tasks`); this module finds the files, reads them and checks the splits.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import datasets
import numpy as np

from bioprobe.errors import BioprobeError

SPLITS = ("train", "validation", "test")
# A directory (or hub dataset) without a validation split gets one from a seeded 10 % of train.
VALIDATION_FRACTION = 0.1
VALIDATION_SEED = 0
# Seconds to wait for the hub before treating it as unreachable (load_dataset itself retries for ~25 s).
HUB_PROBE_TIMEOUT_S = 10.0

SPLIT_NAMES = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "devel": "validation", "test": "test",
    "mli_train_v1": "train", "mli_dev_v1": "validation", "mli_test_v1": "test",
}
"""File stems and split names that name each split."""
HUB_ID = re.compile(r"[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?(:[\w.\-]+)?")
"""A hub dataset id, with an optional configuration after a colon (`bigbio/gad:gad_blurb_bigbio_text`)."""


@dataclass(frozen=True)
class TaskData:
    """One task's data in its schema.

    Attributes:
        splits: ``train``/``validation``/``test`` datasets in the task's schema (NER: tokens, tags; NLI: premise,
            hypothesis, label; ...).
        source: What was loaded, human readable (e.g. ``demo``, ``hub:tner/bionlp2004``, ``/abs/path (conll)``).
        labels: The label set (NER: the tag set, ``O`` first, then by entity type, B before I).
    """

    splits: datasets.DatasetDict
    source: str
    labels: tuple[str, ...]


class RawSplit(NamedTuple):
    """Rows of one split as read, before mapping to the schema."""

    rows: Sequence[dict[str, Any]]
    features: datasets.Features | None
    locate: Callable[..., str]  # (row index, token index or None) -> "file line 3" for messages
    name: str  # the file or split it came from


def load_task_data(task: str, data: str | None = None, labels: Sequence[str] | None = None) -> TaskData:
    """Load a task's data into its schema with train, validation and test splits.

    Args:
        task: A task name (`bioprobe.tasks.TASKS`).
        data: ``None`` for the task's default (NER: hub ``tner/bionlp2004``; NLI: MedNLI from ``$MEDNLI_DIR``; ...),
            ``"demo"`` for the built-in demo corpus, a local directory (an existing path wins over a hub id of the
            same name), or a hub dataset id. Data without a validation split gets one made of a seeded 10 % of
            train (``VALIDATION_SEED``); train keeps the rest, both in their original order.
        labels: Names for integer tags or labels, in id order (``--labels``); takes precedence over the data's
            ClassLabel names and is not used when tags or labels are already strings.

    Returns:
        The splits, a description of the source, and the label set.

    Raises:
        BioprobeError: If the data cannot be found, read or validated; the message names the file and line.
    """
    from bioprobe.tasks import TASKS, get_task

    if not isinstance(task, str) or task.lower() not in TASKS:
        raise BioprobeError(f"Unknown task {task!r}; choose one of: {', '.join(TASKS)}.")
    spec = get_task(task)
    names = _label_names(labels)
    if isinstance(data, os.PathLike):
        data = os.fspath(data)
    origin = None
    if data is None:
        data, origin = spec.default_source()
    if not data.strip():
        raise BioprobeError("The --data value is empty; pass demo, a local directory or a hub dataset id.")
    if data == "demo":
        return _demo_data(spec.name, names)
    if origin or Path(data).expanduser().exists() or not HUB_ID.fullmatch(data):
        raw, source = _read_directory(Path(data).expanduser(), spec, origin)
        fallback = None
    else:
        raw, source, fallback = load_hub(data), f"hub:{data}", spec.hub_names(data)
    return build(spec, raw, source, names, fallback)


def data_key(task: str, data: str | None) -> str | None:
    """What `--data` points at, independent of the working directory: local paths made absolute, a task's default
    read as it is read (NLI: `MEDNLI_DIR`). Runs and caches record it, so a later analysis loads the very same data."""
    from bioprobe.tasks import get_task

    data = get_task(task).data_key(data)
    if data is not None and data != "demo" and Path(data).expanduser().exists():
        return str(Path(data).expanduser().resolve())
    return data


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


@functools.lru_cache(maxsize=8)
def _demo_data(task: str, names: tuple[str, ...] | None) -> TaskData:
    """The demo corpus in the task's schema, built once per process (it is generated deterministically; the demo
    loads it for every run and split)."""
    from bioprobe.tasks import get_task

    spec = get_task(task)
    try:
        splits = spec.demo()
    except ImportError as error:
        if error.name not in ("bioprobe.demo_corpus", "bioprobe"):
            raise
        raise BioprobeError("The demo corpus (bioprobe.demo_corpus) is missing from this installation.") from error
    return build(spec, from_dataset_dict(splits, "demo"), "demo", names, None)


def build(task, raw: dict[str, RawSplit], source: str, labels: Sequence[str] | None,
          fallback: Sequence[str] | None) -> TaskData:
    """Validate raw splits, map them to the task's schema, add a validation split if missing, and wrap them up.

    Args:
        task: The task (`bioprobe.tasks.Task`).
        raw: Raw splits by role (train and test required).
        source: Description of the source.
        labels: Names for integer ids from ``--labels`` (first choice).
        fallback: Names for integer ids when neither ``labels`` nor ClassLabel features give them.

    Returns:
        The task data.
    """
    from bioprobe.schema import class_names

    for role in ("train", "test"):
        if role not in raw:
            raise BioprobeError(f"The data from {source} has no {role} split; train and test are required.")
    columns = {}
    for role, split in raw.items():
        names = labels or class_names(split.features, task.label_names_from()) or fallback
        columns[role] = task.standardize(split, tuple(names) if names is not None else None)
        if not next(iter(columns[role].values())):
            raise BioprobeError(f"The {role} split from {split.name} has no examples.")
    if "validation" not in raw:
        columns["train"], columns["validation"] = carve_validation(columns["train"], raw["train"].name)
        source += f" (validation = seeded {VALIDATION_FRACTION:.0%} of train)"
    label_set = task.label_set({r: columns[r] for r in SPLITS}, labels)
    task.check_labels({r: columns[r] for r in SPLITS}, {**raw, "validation": raw.get("validation", raw["train"])},
                      label_set)
    features = task.features()
    splits = datasets.DatasetDict(
        {role: datasets.Dataset.from_dict(columns[role], features=features) for role in SPLITS}
    )
    return TaskData(splits=splits, source=source, labels=label_set)


def carve_validation(train: dict[str, list], name: str) -> tuple[dict[str, list], dict[str, list]]:
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


# --- local directories ------------------------------------------------------------------------------------


def _read_directory(path: Path, task, origin: str | None) -> tuple[dict[str, RawSplit], str]:
    """Read a directory of split files (or a ``save_to_disk`` DatasetDict) into raw splits.

    Args:
        path: The directory.
        task: The task (its `formats` decide which extensions are read and how).
        origin: Where the path came from when it is the task's default (an environment variable, named in errors).

    Returns:
        The raw splits by role and the source description, e.g. ``/abs/dir (conll)``.
    """
    path = path.resolve()
    origin = f" (from {origin})" if origin else ""
    if not path.exists():
        raise BioprobeError(f"The data path {path}{origin} does not exist.")
    if not path.is_dir():
        raise BioprobeError(f"The data path {path}{origin} is a file, but --data needs a directory with split files.")
    if (path / "dataset_dict.json").is_file():
        return read_saved(path), f"{path} (save_to_disk)"
    files = _split_files(path, task)
    for role in ("train", "test"):
        if role not in files:
            raise BioprobeError(
                f"The data directory {path}{origin} has no {role} file ({role}.* or mli_{role}_v1.jsonl)."
            )
    raw = {role: (fmt if callable(fmt) else READERS[fmt])(file) for role, (file, fmt) in files.items()}
    formats = sorted({"mednli" if file.name.startswith("mli_") else getattr(fmt, "format_name", fmt)
                      for file, fmt in files.values()})
    return raw, f"{path} ({'+'.join(formats)})"


def _split_files(path: Path, task) -> dict[str, tuple[Path, str]]:
    """Find the split files of a directory by name (train.*, dev.*, ...) and extension."""
    found: dict[str, tuple[Path, str]] = {}
    for file in sorted(path.iterdir()):
        role = SPLIT_NAMES.get(file.stem.lower())
        fmt = task.formats.get(file.suffix.lower())
        if role is None or fmt is None or not file.is_file():
            continue
        if role in found:
            raise BioprobeError(
                f"The data directory {path} has two {role} files, {found[role][0].name} and {file.name}; keep one."
            )
        found[role] = (file, fmt)
    if not found:
        extensions = ", ".join(sorted(task.formats))
        raise BioprobeError(
            f"The data directory {path} has no recognisable split files (expected train, dev or validation, "
            f"and test files ending in {extensions}, or the MedNLI mli_*_v1.jsonl files, or a save_to_disk folder)."
        )
    return found


def row_locator(name: str, unit: str, numbers: Sequence[int] | None = None) -> Callable[..., str]:
    """A locator naming ``name`` and the row's line (``numbers``) or 1-based row/item index."""

    def locate(row: int, token: int | None = None) -> str:
        where = f"{name} {unit} {numbers[row] if numbers is not None else row + 1}"
        return where if token is None else f"{where}, token {token + 1}"

    return locate


def read_text(path: Path) -> str:
    """The file's text (UTF-8, optional BOM, universal newlines), or BioprobeError."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BioprobeError(f"{path} is not UTF-8 text.") from None


def _read_conll(path: Path) -> RawSplit:
    """CoNLL: token first, tag last column (tab or whitespace separated); blank lines end sentences."""
    rows: list[dict[str, list[str]]] = []
    starts: list[int] = []
    sentence = None
    for number, line in enumerate(read_text(path).split("\n"), 1):
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

    return RawSplit(rows, None, locate, str(path))


def _read_jsonl(path: Path) -> RawSplit:
    """JSON lines: one JSON object per line; blank lines are skipped."""
    rows, numbers = [], []
    for number, line in enumerate(read_text(path).split("\n"), 1):
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
    return RawSplit(rows, None, row_locator(str(path), "line", numbers), str(path))


def _read_json(path: Path) -> RawSplit:
    """A ``.json`` file: a JSON array of objects, or else JSON lines."""
    text = read_text(path)
    if not text.lstrip().startswith("["):
        return _read_jsonl(path)
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as error:
        raise BioprobeError(f"{path} line {error.lineno}: not valid JSON ({error.msg}).") from None
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise BioprobeError(f"{path} item {i + 1}: expected a JSON object, found {type(row).__name__}.")
    return RawSplit(rows, None, row_locator(str(path), "item"), str(path))


def _read_table(path: Path, delimiter: str) -> RawSplit:
    """CSV (quoted fields allowed) or TSV (no quoting) with a header row."""
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter, quoting=quoting)
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
    return RawSplit(rows, None, row_locator(str(path), "line", numbers), str(path))


def _read_parquet(path: Path) -> RawSplit:
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
    return RawSplit(table.to_pylist(), features, row_locator(str(path), "row"), str(path))


def read_saved(path: Path) -> dict[str, RawSplit]:
    """A DatasetDict saved with ``save_to_disk``."""
    try:
        saved = datasets.load_from_disk(str(path))
    except Exception as error:  # datasets raises several types for a damaged folder
        raise BioprobeError(f"{path} could not be read as a save_to_disk DatasetDict ({_short(error)}).") from None
    if not isinstance(saved, datasets.DatasetDict):
        raise BioprobeError(
            f"{path} holds a single Dataset; save a DatasetDict with train, validation and test splits."
        )
    return from_dataset_dict(saved, str(path))


READERS: dict[str, Callable[[Path], RawSplit]] = {
    "conll": _read_conll,
    "jsonl": _read_jsonl,
    "json": _read_json,
    "csv": lambda path: _read_table(path, ","),
    "tsv": lambda path: _read_table(path, "\t"),
    "parquet": _read_parquet,
}


def from_dataset_dict(splits: datasets.DatasetDict, name: str) -> dict[str, RawSplit]:
    """Raw splits from a DatasetDict, its split names mapped to train/validation/test."""
    raw: dict[str, RawSplit] = {}
    for split, dataset in splits.items():
        role = SPLIT_NAMES.get(split.lower())
        if role is None:
            continue
        if role in raw:
            raise BioprobeError(f"{name} has two {role} splits ({raw[role].name} and split '{split}'); keep one.")
        label = f"{name} split '{split}'"
        # All rows as Python dicts in one Arrow read; iterating a Dataset reads and formats one row at a time.
        raw[role] = RawSplit(dataset.to_list(), dataset.features, row_locator(label, "row"), label)
    return raw


# --- the Hugging Face hub ---------------------------------------------------------------------------------


def load_hub(dataset_id: str) -> dict[str, RawSplit]:
    """Load a hub dataset (`org/name`, or `org/name:configuration`), failing fast (and from the local cache only)
    when the hub cannot be reached."""
    name, _, config = dataset_id.partition(":")
    unreachable = _hub_unreachable(name)
    try:
        if unreachable is None:
            try:
                loaded = datasets.load_dataset(name, config or None)
            except RuntimeError as error:
                if "script" not in str(error).lower():
                    raise
                # A loading-script dataset (tner/bionlp2004 is one): datasets 4+ runs no scripts, but the hub
                # keeps a Parquet conversion of it.
                loaded = datasets.load_dataset(name, config or None, revision="refs/convert/parquet")
        else:
            with _offline_mode():
                loaded = datasets.load_dataset(name, config or None)
    except Exception as error:  # datasets raises many types (ConnectionError, DatasetNotFoundError, ValueError...)
        raise BioprobeError(
            f"Could not load dataset '{dataset_id}' from the Hugging Face hub ({unreachable or _short(error)}); "
            "pass --data PATH to a local copy or --data demo."
        ) from error
    if not isinstance(loaded, datasets.DatasetDict):
        loaded = datasets.DatasetDict({"train": loaded})
    return from_dataset_dict(loaded, f"hub:{dataset_id}")


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
