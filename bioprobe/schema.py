"""Reading a row's fields into a task's schema: a field found under any of its column names, lists written as JSON or
whitespace-separated text, integer ids and their names. A bad value is one sentence naming the file and row."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from bioprobe.errors import BioprobeError


def field_value(row: dict[str, Any], name: str, aliases: Sequence[str], where: str) -> tuple[str, Any]:
    """The first present column among `aliases` of the schema field `name`, and its value.

    Raises:
        BioprobeError: when none is present or the value is missing.
    """
    for column in aliases:
        if column in row:
            if row[column] is None:
                raise BioprobeError(f"{where}: the {column} value is missing.")
            return column, row[column]
    found = ", ".join(str(key) for key in row) or "none"
    raise BioprobeError(f"{where}: no {name} column (expected one of {', '.join(aliases)}; found {found}).")


def text_value(row: dict[str, Any], name: str, aliases: Sequence[str], where: str) -> str:
    """A text field.

    Raises:
        BioprobeError: when it is missing or not text.
    """
    column, value = field_value(row, name, aliases, where)
    if not isinstance(value, str):
        raise BioprobeError(f"{where}: the {column} value {value!r} is not text.")
    return value


def list_value(row: dict[str, Any], name: str, aliases: Sequence[str], where: str) -> list:
    """A list field; a text cell holds a JSON list or whitespace-separated items.

    Raises:
        BioprobeError: when the value is not a list.
    """
    column, value = field_value(row, name, aliases, where)
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


def integer_id(value: Any) -> int | None:
    """`value` as an int if it is an integer id (an int, or a string of digits), else None."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def id_name(value: Any, index: int, names: Sequence[str] | None, what: str, example: str, where: str) -> str:
    """The name of integer id `index` in `names` (a tag or a label), or a clear error."""
    if names is None:
        raise BioprobeError(
            f"{where}: {what} {value!r} is an integer id but the data names no {what}s; pass --labels with the "
            f"{what} names in id order, e.g. --labels {example}."
        )
    if not 0 <= index < len(names):
        raise BioprobeError(f"{where}: {what} id {index} is outside the {len(names)} {what} names {list(names)}.")
    return names[index]


def class_names(features, aliases: Sequence[str]) -> tuple[str, ...] | None:
    """ClassLabel names of the first present column among `aliases` (plain or inside a list feature)."""
    import datasets

    for column in aliases:
        if features is not None and column in features:
            feature = features[column]
            feature = feature[0] if isinstance(feature, list) and feature else getattr(feature, "feature", feature)
            return tuple(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    return None
