"""Reads the demo corpus's tables: the text files under ``data/`` that ship with the package.

Files are read with ``importlib.resources``, so they work from an installed wheel as well as from a checkout.
"""

from __future__ import annotations

import functools
import importlib.resources
import operator
import re
from typing import Callable

__all__ = ["SPLITS", "block", "condition", "fields", "items", "lines", "number", "rows", "sections"]

# Split sizes of both corpora, in order.
SPLITS = (("train", 2400), ("validation", 300), ("test", 300))

_COMPARISONS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def lines(name: str) -> list[str]:
    """The lines of ``data/<name>`` without comments (lines starting with "#"), blank lines or line ends.

    Args:
        name: Path below ``data/``, e.g. ``"ner/chemicals.txt"``.

    Returns:
        The remaining lines, stripped of surrounding whitespace, in file order.
    """
    path = _data_dir()
    for part in name.split("/"):
        path = path.joinpath(part)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise FileNotFoundError(f"The demo corpus file data/{name} is missing from this installation of bioprobe "
                                f"(bioprobe/demo_corpus/data/ is package data).") from error
    return [s for s in (raw.strip() for raw in text.splitlines()) if s and not s.startswith("#")]


def block(name: str) -> str:
    """``data/<name>`` as one text block (the lines of :func:`lines` joined by newlines)."""
    return "\n".join(lines(name))


def rows(name: str, sep: str = "|") -> list[list[str]]:
    """The lines of ``data/<name>`` split into stripped fields at ``sep``."""
    return fields(lines(name), sep)


def fields(text_lines: list[str], sep: str = "|") -> list[list[str]]:
    """Each line split into stripped fields at ``sep``."""
    return [[f.strip() for f in line.split(sep)] for line in text_lines]


def sections(name: str) -> dict[str, list[str]]:
    """The lines of ``data/<name>`` grouped under their ``[section]`` headers, in file order."""
    out: dict[str, list[str]] = {}
    current = None
    for line in lines(name):
        if line.startswith("[") and line.endswith("]"):
            current = out.setdefault(line[1:-1], [])
        elif current is None:
            raise ValueError(f"{name}: {line!r} comes before the first [section] header")
        else:
            current.append(line)
    return out


def items(field: str, sep: str = ";") -> list[str]:
    """A list field (``"a;b;c"``) as its stripped items; an empty field is an empty list."""
    return [s.strip() for s in field.split(sep)] if field.strip() else []


def number(text: str) -> int | float:
    """A number as written: ``"135"`` is an int, ``"135.0"`` and ``"0.04"`` are floats."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"not a number: {text!r}")
    return float(text) if "." in text else int(text)


def condition(text: str) -> Callable[[float], bool]:
    """Compile a written condition on a value ``v`` into a function.

    A condition is one or more comparisons of ``v`` with numbers (``<``, ``<=``, ``>``, ``>=``), possibly chained,
    joined by ``or``: ``"v > 1.5"``, ``"3.5 <= v <= 5.0"``, ``"v < 3.5 or v > 5.0"``.

    Args:
        text: The condition as written in a data file.

    Returns:
        A function of the value that is True where the condition holds (as the same Python expression is).
    """
    clauses = []
    for clause in text.split(" or "):
        terms = clause.split()
        if len(terms) < 3 or len(terms) % 2 == 0 or terms.count("v") != 1:
            raise ValueError(f"bad condition {text!r}")
        tests = []
        for left, op, right in zip(terms[:-2:2], terms[1::2], terms[2::2]):
            if op not in _COMPARISONS:
                raise ValueError(f"bad comparison {op!r} in condition {text!r}")
            if left == "v":  # "v > 1.5" is "1.5 < v"
                tests.append(functools.partial(_COMPARISONS[_FLIPPED[op]], number(right)))
            elif right == "v":
                tests.append(functools.partial(_COMPARISONS[op], number(left)))
            else:
                raise ValueError(f"a comparison in {text!r} does not involve v")
        clauses.append(tuple(tests))
    if len(clauses) == 1 and len(clauses[0]) == 1:
        return clauses[0][0]
    return functools.partial(_any_all, tuple(clauses))


@functools.lru_cache(maxsize=None)
def _data_dir():
    """The package's ``data`` folder (a ``Traversable``: a directory, or a folder inside a zip)."""
    return importlib.resources.files(__package__).joinpath("data")


def _any_all(clauses: tuple, v: float) -> bool:
    """True where every test of some clause holds (loops rather than any/all: this is called per hypothesis)."""
    for tests in clauses:
        for test in tests:
            if not test(v):
                break
        else:
            return True
    return False
