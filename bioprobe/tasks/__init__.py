"""The task registry: one module per task (`ner.py`, `nli.py`, ...), each a `bioprobe.tasks.base.Task` subclass.
Code outside this package asks the task object (`get_task(name)`) and never compares a task's name.

A new task is one module here, one line in `TASKS`, and its tests.
"""

from __future__ import annotations

from bioprobe.errors import BioprobeError
from bioprobe.tasks.base import Task
from bioprobe.tasks.cls import TASK as CLS_TASK
from bioprobe.tasks.ner import TASK as NER_TASK
from bioprobe.tasks.nli import TASK as NLI_TASK
from bioprobe.tasks.re import TASK as RE_TASK

TASKS: dict[str, Task] = {task.name: task for task in (NER_TASK, NLI_TASK, RE_TASK, CLS_TASK)}
"""Every task, by name, in the order tables and figures list them."""


class Conversation(Task):
    """Conversation tuning's pseudo-task: a folder and table name for `--objective conversation` runs, with no data
    schema or scorer of its own (the clinical prompts evaluate what it learnt)."""

    name = "conversation"
    title = "conversation"
    head = "causal-lm"
    metrics = ("answer_loss",)


CONVERSATION = Conversation()


def get_task(name: str) -> Task:
    """Look up a task (or conversation tuning's pseudo-task), with a clear error for an unknown one."""
    key = str(name).lower()
    if key == CONVERSATION.name:
        return CONVERSATION
    try:
        return TASKS[key]
    except KeyError:
        raise BioprobeError(f"Unknown task '{name}'; choose one of: {', '.join(TASKS)}.") from None


__all__ = ["CONVERSATION", "TASKS", "Task", "get_task"]
