"""A study plan (TOML): tasks x models x sizes x seeds x objectives x analyses, with per-model settings, validated
before anything runs.

```toml
tasks = ["ner", "nli"]
models = ["minilm", "smollm2"]
sizes = [0, 10, 30, 50, 100]
seeds = [42]
objectives = ["classifier", "instruct"]      # instruct and conversation: decoders only
analyses = ["finetune", "probe", "attention", "attribute"]   # and "generate", "diff", "revert", "amnesic"
baselines = ["random-init"]                  # probed at size 0
data = { ner = "demo", nli = "demo" }        # any --data value, per task
runs_dir = "runs/study"

[settings.minilm]                            # any option of any stage, for this model
epochs = 2
batch_size = { ner = 8, nli = 16 }           # a table keyed by task: per task
[settings.minilm.probe]                      # ... of one stage only (finetune, probe, revert, ...)
limit = 250
[settings.smollm2.instruct.finetune]         # ... of one objective (and stage)
train_limit = { ner = 96, nli = 160 }
[settings.smollm2.attribute]
sizes = [100]                                # plan keys (sizes, analyses, objectives, baselines) narrow a part

[resources.smollm2]                          # Slurm: gpus, cpus, mem_gb, timeout_min, partition; processes
gpus = 1
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from bioprobe.errors import BioprobeError
from bioprobe.settings import OBJECTIVES
from bioprobe.stages import STAGES
from bioprobe.tasks import TASKS

ANALYSES = (*STAGES, "cka")
"""What `analyses` may list; "cka" is computed by the probe stage (it adds the probe cells)."""
TOP_KEYS = ("name", "tasks", "models", "sizes", "seeds", "objectives", "analyses", "baselines", "prompts", "data",
            "runs_dir", "settings", "resources", "description")
PROMPTS = ("extract", "search", "summarise")
"""The clinical prompts a plan may ask (`analyses` must list "generate")."""
DATA_KEYS = (*TASKS, "conversation", "summarise")
"""What `data` may give a source for: the tasks, conversation tuning, and the summarise prompt's documents."""
NARROWING = ("sizes", "analyses", "objectives", "baselines", "prompts")
"""Plan keys a settings table may set for its part of the plan."""
RESOURCES = ("gpus", "cpus", "mem_gb", "timeout_min", "partition", "processes", "account", "qos")
BUILTIN = Path(__file__).with_name("plans")
"""Folder of the built-in plans (`bioprobe study demo`)."""


@dataclass(frozen=True)
class Plan:
    """A validated study plan.

    Attributes:
        name: The plan's name (file stem or built-in name).
        tasks, models, sizes, seeds, objectives, analyses, baselines: The grid.
        data: Task -> `--data` value (None: the task's default).
        runs_dir: Where every cell writes.
        settings: Model -> its settings table (as in the TOML; `"*"` for every model).
        resources: Model -> Slurm resources (`"*"` for every model).
        source: Where the plan came from.
        description: One paragraph for the report.
    """

    name: str
    tasks: tuple[str, ...]
    models: tuple[str, ...]
    sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    objectives: tuple[str, ...]
    analyses: tuple[str, ...]
    baselines: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    data: dict = field(default_factory=dict)
    runs_dir: str = "runs/study"
    settings: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)
    source: str = ""
    description: str = ""

    def replace(self, **changes) -> Plan:
        return dataclasses.replace(self, **changes)

    def resources_of(self, model: str) -> dict:
        """The Slurm resources of a model's cells (its own over `"*"`)."""
        return {**self.resources.get("*", {}), **self.resources.get(model, {})}


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise BioprobeError(f"Cannot read the plan {path}: {err}.") from None
    except tomllib.TOMLDecodeError as err:
        raise BioprobeError(f"The plan {path} is not valid TOML ({err}).") from None


def builtin_plans() -> list[str]:
    """Names of the built-in plans."""
    return sorted(p.stem for p in BUILTIN.glob("*.toml"))


def load_plan(plan: str | Path, runs_dir: str | None = None) -> Plan:
    """Read and validate a plan: a TOML file, or a built-in name (`demo`, `demo-quick`).

    Args:
        plan: Path or built-in name.
        runs_dir: Overrides the plan's `runs_dir`.

    Raises:
        BioprobeError: for a missing file, bad TOML, or a key or value the plan may not have (one sentence naming
            the key and the choices).
    """
    path = Path(plan).expanduser()
    if not path.is_file():
        if str(plan) in builtin_plans():
            path = BUILTIN / f"{plan}.toml"
        else:
            raise BioprobeError(f"No plan file '{plan}'; give a TOML file or a built-in plan "
                                f"({', '.join(builtin_plans())}).")
    raw = _toml(path)
    unknown = [key for key in raw if key not in TOP_KEYS]
    if unknown:
        raise BioprobeError(f"Unknown key '{unknown[0]}' in the plan {path.name}; the keys are "
                            f"{', '.join(TOP_KEYS)}.")
    for key in ("tasks", "models"):
        if not raw.get(key):
            raise BioprobeError(f"The plan {path.name} needs '{key}', a list (e.g. {key} = "
                                f"{list(TASKS) if key == 'tasks' else ['minilm']}).")
    built = Plan(
        name=str(raw.get("name", path.stem)),
        tasks=tuple(_strings(raw, "tasks", tuple(TASKS))),
        models=tuple(_strings(raw, "models")),
        sizes=tuple(_sizes(raw.get("sizes", [0, 10, 30, 50, 100]), "sizes")),
        seeds=tuple(_integers(raw.get("seeds", [42]), "seeds")),
        objectives=tuple(_strings(raw, "objectives", OBJECTIVES, default=["classifier"])),
        analyses=tuple(_strings(raw, "analyses", ANALYSES, default=["finetune"])),
        baselines=tuple(_strings(raw, "baselines", ("random-init",), default=[])),
        prompts=tuple(_strings(raw, "prompts", PROMPTS, default=list(PROMPTS) if "generate" in
                               raw.get("analyses", []) else [])),
        data=_data(raw.get("data", {}), raw.get("tasks", [])),
        runs_dir=runs_dir or str(raw.get("runs_dir", "runs/study")),
        settings=_settings(raw.get("settings", {}), raw.get("models", [])),
        resources=_resources(raw.get("resources", {})),
        source=str(path),
        description=str(raw.get("description", "")),
    )
    return built


def _strings(raw: dict, key: str, choices=None, default=None) -> list[str]:
    values = raw.get(key, default)
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BioprobeError(f"The plan's '{key}' must be a list of names, not {values!r}.")
    bad = [v for v in values if choices is not None and v not in choices]
    if bad:
        singular = {"analyses": "analysis", "tasks": "task", "objectives": "objective", "baselines": "baseline",
                    "prompts": "prompt"}
        raise BioprobeError(f"Unknown {singular.get(key, key)} '{bad[0]}' in the plan's '{key}'; "
                            f"choose from {', '.join(choices)}.")
    if key == "models":
        from bioprobe.registry import resolve_model

        for model in values:
            resolve_model(model)  # an unknown name says what is registered
    return list(dict.fromkeys(values))


def _integers(values, key: str) -> list[int]:
    if isinstance(values, int) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, list) or not values or not all(isinstance(v, int) and not isinstance(v, bool)
                                                             for v in values):
        raise BioprobeError(f"The plan's '{key}' must be a list of whole numbers, not {values!r}.")
    return list(dict.fromkeys(values))


def _sizes(values, key: str) -> list[int]:
    sizes = _integers(values, key)
    bad = [s for s in sizes if not 0 <= s <= 100]
    if bad:
        raise BioprobeError(f"Training size {bad[0]} in the plan's '{key}' is not a percentage from 0 to 100.")
    return sorted(sizes)


def _data(values, tasks) -> dict:
    if isinstance(values, str):
        return {task: values for task in tasks}
    if not isinstance(values, dict):
        raise BioprobeError(f"The plan's 'data' must be a table of task = source, not {values!r}.")
    bad = [key for key in values if key not in DATA_KEYS]
    if bad:
        raise BioprobeError(f"Unknown key '{bad[0]}' in the plan's 'data'; it gives sources for "
                            f"{', '.join(DATA_KEYS)}.")
    return dict(values)


def stage_fields(stage: str) -> set[str]:
    """The settings fields of a stage."""
    return {f.name for f in dataclasses.fields(STAGES[stage].settings)}


def _known_keys() -> set[str]:
    return set().union(*(stage_fields(stage) for stage in STAGES)) | set(NARROWING)


def _settings(values: dict, models: list[str]) -> dict:
    """Check every settings table: known models (or "*"), known keys, sub-tables by objective and stage."""
    if not isinstance(values, dict):
        raise BioprobeError("The plan's 'settings' must be tables, e.g. [settings.minilm].")
    known = _known_keys()
    for model, table in values.items():
        if model != "*" and model not in models:
            raise BioprobeError(f"[settings.{model}] names a model the plan does not list; its models are "
                                f"{', '.join(models)} (or * for all).")
        _check_table(table, f"settings.{model}", known, allow_objective=True, allow_stage=True)
    return values


def _check_table(table, where: str, known: set[str], allow_objective: bool, allow_stage: bool) -> None:
    if not isinstance(table, dict):
        raise BioprobeError(f"[{where}] must be a table of settings.")
    for key, value in table.items():
        if allow_objective and key in OBJECTIVES and isinstance(value, dict):
            _check_table(value, f"{where}.{key}", known, allow_objective=False, allow_stage=True)
        elif allow_stage and key in STAGES and isinstance(value, dict):
            _check_table(value, f"{where}.{key}", stage_fields(key) | set(NARROWING), False, False)
        elif key not in known:
            raise BioprobeError(f"Unknown key '{key}' in [{where}]; settings are the options of the stages "
                                f"{', '.join(STAGES)} ({', '.join(sorted(known))}), or a table per "
                                f"objective ({', '.join(OBJECTIVES)}) or stage ({', '.join(STAGES)}).")


def _resources(values: dict) -> dict:
    if not isinstance(values, dict):
        raise BioprobeError("The plan's 'resources' must be tables, e.g. [resources.smollm2].")
    for model, table in values.items():
        if not isinstance(table, dict):
            raise BioprobeError(f"[resources.{model}] must be a table (gpus, cpus, mem_gb, timeout_min, ...).")
        bad = [key for key in table if key not in RESOURCES]
        if bad:
            raise BioprobeError(f"Unknown key '{bad[0]}' in [resources.{model}]; the keys are "
                                f"{', '.join(RESOURCES)}.")
    return values


def layered(plan: Plan, model: str, objective: str, stage: str) -> dict:
    """The settings one cell gets from the plan, later tables winning: every model (`*`), the model, its objective,
    its stage, its objective's stage."""
    out: dict = {}
    for owner in ("*", model):
        table = plan.settings.get(owner, {})
        objective_table = table.get(objective, {}) if isinstance(table.get(objective), dict) else {}
        for part in (table, objective_table, _sub(table, stage), _sub(objective_table, stage)):
            out.update({k: v for k, v in part.items() if not (isinstance(v, dict) and (k in OBJECTIVES or
                                                                                       k in STAGES))})
    return out


def _sub(table: dict, stage: str) -> dict:
    value = table.get(stage, {})
    return value if isinstance(value, dict) else {}


def per_task(value, task: str, tasks: tuple[str, ...]):
    """A setting's value for `task` (or prompt): a table keyed by task or prompt gives that entry (missing: not
    set)."""
    if isinstance(value, dict) and value and set(value) <= set(tasks) | set(DATA_KEYS) | set(PROMPTS):
        return value.get(task, _UNSET)
    return value


_UNSET = object()
"""A per-task table without an entry for the task: the stage's default applies."""
