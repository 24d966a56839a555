"""The task registry: every task is one module under bioprobe/tasks, and no code outside it branches on a task name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE = ("bioprobe", "finetune", "probing", "attention", "benchmarks")


def _branches(text: str, names: tuple[str, ...]) -> list[str]:
    """Lines that compare something with a task name or test membership in a literal collection of task names."""
    name = "|".join(map(re.escape, names))
    literal = rf"""["'](?:{name})["']"""
    patterns = [rf"(?:==|!=)\s*{literal}", rf"{literal}\s*(?:==|!=)", rf"\bin\s*[(\[{{]\s*{literal}"]
    return [line.strip() for line in text.splitlines() if any(re.search(p, line) for p in patterns)]


def test_the_grep_finds_the_branches_it_is_meant_to_find():
    names = ("ner", "nli")
    code = 'if task == "ner":\nx = spec.name != \'nli\'\nif task in ("ner", "nli"):\nif "nli" == t:\nget_task("ner")\n'
    assert _branches(code, names) == ['if task == "ner":', "x = spec.name != 'nli'", 'if task in ("ner", "nli"):',
                                      'if "nli" == t:']


def test_no_code_outside_the_task_modules_branches_on_a_task_name():
    from bioprobe.tasks import TASKS

    found = []
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if (ROOT / "bioprobe" / "tasks") in path.parents:
                continue
            found += [f"{path.relative_to(ROOT)}: {line}" for line in _branches(path.read_text(), tuple(TASKS))]
    assert not found, "task-name branches outside bioprobe/tasks:\n" + "\n".join(found)


def test_every_task_is_registered_once_with_its_facts():
    from bioprobe.tasks import TASKS, get_task
    from bioprobe.tasks.base import Task

    assert list(TASKS) == ["ner", "nli", "re", "cls"]
    for name, task in TASKS.items():
        assert isinstance(task, Task) and task.name == name and get_task(name.upper()) is task
        assert task.metrics and task.poolings and task.title and task.help
        assert task.head in ("token", "sequence", "multilabel")
    with pytest.raises(Exception, match="Unknown task 'qa'; choose one of: ner, nli, re, cls"):
        get_task("qa")


def test_a_split_is_encoded_without_pickling_what_the_encoder_closes_over():
    """`datasets` fingerprints a map's function by pickling it with its closure (the tokenizer: up to 1.7 s a call,
    a minute of the quick demo); `tokenized` gives the same rows without touching the closure."""
    import datasets

    from bioprobe.tasks.base import tokenized

    class Spy:
        pickled = 0

        def __reduce__(self):
            Spy.pickled += 1
            return (Spy, ())

    spy = Spy()
    rows = datasets.Dataset.from_dict({"text": ["a b", "c"]})

    def batch(examples):
        assert spy is not None
        return {"n_words": [len(text.split()) for text in examples["text"]]}

    out = tokenized(rows, batch, "Counting")
    assert out.column_names == ["n_words"] and out["n_words"][:] == [2, 1] and Spy.pickled == 0
    rows.map(batch, batched=True)  # the plain call does pickle it: what the helper avoids
    assert Spy.pickled > 0
