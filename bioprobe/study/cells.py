"""A plan's cells: one fine-tuning run or one analysis each, with a deterministic id made from its settings (and the
ids of the cells it needs), and the deterministic partition of cells into shards."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bioprobe.errors import BioprobeError
from bioprobe.registry import resolve_model, safe_name
from bioprobe.settings import digest, values
from bioprobe.stages import STAGES
from bioprobe.study.plan import _UNSET, NARROWING, Plan, layered, per_task, stage_fields


@dataclass(frozen=True)
class Cell:
    """One unit of work of a study.

    Attributes:
        id: Deterministic id: stage, task, model, objective, size, seed and a digest of every setting that decides
            the result (and of the cells it needs), so a changed setting is a new cell.
        stage: "finetune", "probe", "attention" or "attribute".
        settings: The stage's settings dataclass.
        needs: Ids of the fine-tuning cells whose checkpoints it reads.
    """

    id: str
    stage: str
    settings: object
    needs: tuple[str, ...] = ()

    @property
    def model(self) -> str:
        return self.settings.model_name

    def describe(self) -> str:
        """A short human-readable name."""
        s = self.settings
        size = s.training_sizes if self.stage == "attention" else f"{s.training_size} %"
        extra = f" {s.baseline}" if getattr(s, "baseline", None) else ""
        objective = s.objective if s.training_size or self.stage != "generate" else "released"
        return f"{self.stage} {_what(s)} {s.model_name} {objective} {size}{extra} seed {s.seed}"


def _what(settings) -> str:
    """A cell's task, or its prompt for the generate stage."""
    return getattr(settings, "prompt", None) or settings.task


def _narrow(plan: Plan, model: str, objective: str, stage: str, key: str, default, task: str | None = None):
    """A narrowing key's value for one model, objective and stage (and task: a table keyed by task gives that
    task's entry), or `default`."""
    value = layered(plan, model, objective, stage).get(key)
    if task is not None and value is not None:
        value = per_task(value, task, plan.tasks)
    if value is None or value is _UNSET:
        return default
    return tuple(value) if isinstance(value, list) else value


def _settings(plan: Plan, stage: str, task: str, model: str, objective: str, **base):
    """The stage settings of one cell: the grid's values, then the plan's settings tables."""
    cls = STAGES[stage].settings
    allowed = stage_fields(stage)
    chosen = {"model_name": model, "objective": objective, "runs_dir": plan.runs_dir, **base}
    if stage == "generate":  # `task` names the prompt here; its data is its task's (summarise: documents)
        from bioprobe.finetune.clinical import PROMPT_TASK

        chosen["prompt"] = task
        source = plan.data.get("summarise" if task == "summarise" else PROMPT_TASK[task])
    else:
        chosen["task"] = task
        source = plan.data.get(task)
    if source is not None:
        chosen["data"] = source
    for key, value in layered(plan, model, objective, stage).items():
        if key in NARROWING or key not in allowed:
            continue
        value = per_task(value, task, plan.tasks)
        if value is not _UNSET:
            chosen[key] = value
    try:
        return cls(**chosen)
    except BioprobeError as err:
        raise BioprobeError(f"Plan {plan.name}, {stage} settings of {model} ({task}, {objective}): {err}") from None
    except TypeError as err:
        raise BioprobeError(f"Plan {plan.name}, {stage} settings of {model}: {err}.") from None


def cell_id(stage: str, settings, needs: tuple[str, ...]) -> str:
    """`{stage}-{task}-{model}-{objective}-{size}-seed{S}[-{baseline}]-{digest}`: readable and deterministic."""
    s = settings
    size = "sizes" + "-".join(str(n) for n in _sizes(s.training_sizes)) if stage == "attention" else \
        f"size{s.training_size}"
    extra = f"-{s.baseline}" if getattr(s, "baseline", None) else ""
    roles = ("train", "eval")
    identity = {"stage": stage, "settings": values(s, roles, getattr(s, "objective", None)), "needs": list(needs)}
    objective = "released" if stage == "generate" and not s.training_size else s.objective
    return (f"{stage}-{_what(s)}-{safe_name(s.model_name)}-{objective}-{size}-seed{s.seed}{extra}-"
            f"{digest(identity, 10)}")


def _sizes(text) -> list[int]:
    return [int(part) for part in str(text).split(",") if part.strip()]


def expand(plan: Plan) -> list[Cell]:
    """Every cell of a plan, fine-tuning cells before the analyses that need them.

    Instruction tuning applies to decoders only (an encoder's instruct cells are left out); an instruction run's
    size 0 is the released model, whose probe is the classifier objective's size-0 probe when that one is made.
    The random-init baselines are probed at size 0 (classifier objective).

    Raises:
        BioprobeError: for settings a stage refuses (naming the plan, stage and model).
    """
    cells: list[Cell] = []
    for model in plan.models:
        kind = resolve_model(model).spec.kind
        for objective in plan.objectives:
            objectives = _narrow(plan, model, objective, "finetune", "objectives", plan.objectives)
            if objective not in objectives or (objective != "classifier" and kind != "decoder"):
                continue
            for task in ("conversation",) if objective == "conversation" else plan.tasks:
                for seed in plan.seeds:
                    cells += _model_cells(plan, model, objective, task, seed)
        if kind == "decoder":
            cells += _generate_cells(plan, model, cells)
    ids = [cell.id for cell in cells]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise BioprobeError(f"The plan makes the cell {duplicate} twice; list each model, size and seed once.")
    return cells


def _model_cells(plan: Plan, model: str, objective: str, task: str, seed: int) -> list[Cell]:
    def analyses(stage: str) -> tuple:
        listed = _narrow(plan, model, objective, stage, "analyses", plan.analyses, task)
        return tuple("probe" if a == "cka" else a for a in listed)

    def sizes(stage: str) -> tuple[int, ...]:
        return tuple(sorted(_narrow(plan, model, objective, stage, "sizes", plan.sizes, task)))

    out: list[Cell] = []
    tuned: dict[int, str] = {}
    if objective == "conversation":  # the clinical prompts (the generate stage), and what the runs say on tasks
        if "finetune" not in analyses("finetune"):
            return out
        for size in sizes("finetune"):
            settings = _settings(plan, "finetune", task, model, objective, training_size=size, seed=seed)
            cell = Cell(cell_id("finetune", settings, ()), "finetune", settings)
            tuned[size] = cell.id
            out.append(cell)
        return out + _conversation_diffing(plan, model, seed, tuned)
    if "finetune" in analyses("finetune"):
        for size in sizes("finetune"):
            settings = _settings(plan, "finetune", task, model, objective, training_size=size, seed=seed)
            cell = Cell(cell_id("finetune", settings, ()), "finetune", settings)
            tuned[size] = cell.id
            out.append(cell)

    def needs(size: int) -> tuple[str, ...]:
        if size == 0 and objective == "classifier":
            return ()  # the pretrained model: nothing to wait for
        return (tuned[size],) if size in tuned else ()

    # the released model's probe is the classifier objective's size-0 probe when that objective probes it here
    both = objective == "instruct" and "classifier" in plan.objectives and \
        {"probe", "cka"} & set(_narrow(plan, model, "classifier", "probe", "analyses", plan.analyses, task)) and \
        0 in _narrow(plan, model, "classifier", "probe", "sizes", plan.sizes, task)
    if "probe" in analyses("probe"):
        for size in sizes("probe"):
            if size == 0 and both:
                continue  # the released model is the classifier objective's size-0 probe
            settings = _settings(plan, "probe", task, model, objective, training_size=size, seed=seed)
            out.append(Cell(cell_id("probe", settings, needs(size)), "probe", settings, needs(size)))
        baselines = _narrow(plan, model, objective, "probe", "baselines", plan.baselines, task)
        for baseline in baselines if objective == "classifier" else ():
            settings = _settings(plan, "probe", task, model, objective, training_size=0, seed=seed,
                                 baseline=baseline)
            out.append(Cell(cell_id("probe", settings, ()), "probe", settings))
    if "attention" in analyses("attention"):
        compared = [size for size in sizes("attention") if size > 0]
        if compared:
            settings = _settings(plan, "attention", task, model, objective, training_size=None,
                                 training_sizes=",".join(map(str, compared)), seed=seed)
            wanted = tuple(tuned[size] for size in compared if size in tuned)
            out.append(Cell(cell_id("attention", settings, wanted), "attention", settings, wanted))
    if "attribute" in analyses("attribute"):
        for size in sizes("attribute"):
            if size == 0 and objective == "classifier":
                continue  # an untrained head explains nothing
            settings = _settings(plan, "attribute", task, model, objective, training_size=size, seed=seed)
            out.append(Cell(cell_id("attribute", settings, needs(size)), "attribute", settings, needs(size)))
    for stage in CAUSAL:  # which change matters: every tuned size, and an instruction run's released model
        if stage not in analyses(stage):
            continue
        for size in sizes(stage):
            if size == 0 and not (stage == "amnesic" and objective == "instruct"):
                continue  # size 0 has no update to diff or revert; a classifier's untrained head nothing to erase
            settings = _settings(plan, stage, task, model, objective, training_size=size, seed=seed)
            wanted = needs(size) + ((tuned[0],) if stage == "revert" and 0 in tuned and objective == "classifier"
                                    else ())  # revert scores size 0's run for the gain
            out.append(Cell(cell_id(stage, settings, wanted), stage, settings, wanted))
    for stage in DIFFING:  # what the tuned model says: runs with a language-model head and the released model
        if stage not in analyses(stage):
            continue
        for size in sizes(stage):
            if not _reads_outputs(plan, stage, model, objective, task, size):
                continue
            settings = _settings(plan, stage, task, model, objective, training_size=size, seed=seed)
            out.append(Cell(cell_id(stage, settings, needs(size)), stage, settings, needs(size)))
    return out


CAUSAL = ("diff", "revert", "amnesic")
DIFFING = ("divergence", "lens")


def _conversation_diffing(plan: Plan, model: str, seed: int, tuned: dict[int, str]) -> list[Cell]:
    """What a conversation-tuned run says on a task's test prompts against its base: a divergence and a lens cell per
    tuned size and plan task whose analyses (the model's conversation settings, a table keyed by task narrowing
    them) list the stage. Size 0 is the model as released, read by the instruct objective's cells."""
    out = []
    for task in plan.tasks:
        for stage in DIFFING:
            if stage not in _narrow(plan, model, "conversation", stage, "analyses", plan.analyses, task):
                continue
            for size in sorted(_narrow(plan, model, "conversation", stage, "sizes", plan.sizes, task)):
                if size == 0 or size not in tuned:
                    continue
                settings = _settings(plan, stage, task, model, "conversation", training_size=size, seed=seed)
                out.append(Cell(cell_id(stage, settings, (tuned[size],)), stage, settings, (tuned[size],)))
    return out


def _reads_outputs(plan: Plan, stage: str, model: str, objective: str, task: str, size: int) -> bool:
    """Whether a divergence / lens cell of this model, objective and size means something: instruction runs at
    every size (the divergence at size 0 only with a `reference`); for the classifier objective (no language-model
    head) only an encoder's lens at size 0, when its weights hold a masked-LM head (minilm's do not)."""
    if objective == "instruct":
        return size > 0 or stage == "lens" or bool(layered(plan, model, objective, stage).get("reference"))
    if stage != "lens" or size != 0 or resolve_model(model).spec.kind != "encoder":
        return False
    from bioprobe.diffing.readout import has_masked_lm_head

    return has_masked_lm_head(model) is not False


def _generate_cells(plan: Plan, model: str, made: list[Cell]) -> list[Cell]:
    """The clinical prompts asked of a decoder: each prompt of the plan for the model as released (size 0, once)
    and for every tuned size of its instruction runs (tuned on the prompt's task) and conversation runs."""
    from bioprobe.finetune.clinical import PROMPT_TASK

    finetuned = {(c.settings.task, c.settings.objective, c.settings.training_size, c.settings.seed): c.id
                 for c in made if c.stage == "finetune" and c.model == model}
    out: list[Cell] = []
    for objective in [o for o in plan.objectives if o in ("instruct", "conversation")]:
        for prompt in _narrow(plan, model, objective, "generate", "prompts", plan.prompts):
            task = "conversation" if objective == "conversation" else PROMPT_TASK[prompt]
            if "generate" not in _narrow(plan, model, objective, "generate", "analyses", plan.analyses, task):
                continue
            for seed in plan.seeds:
                for size in sorted(_narrow(plan, model, objective, "generate", "sizes", plan.sizes)):
                    if size == 0 and any(c.id.startswith(f"generate-{prompt}-{safe_name(model)}-released-")
                                         and c.settings.seed == seed for c in out):
                        continue  # the released model is asked once
                    settings = _settings(plan, "generate", prompt, model, objective, training_size=size, seed=seed)
                    need = finetuned.get((task, objective, size, seed))
                    needs = (need,) if need and size else ()
                    out.append(Cell(cell_id("generate", settings, needs), "generate", settings, needs))
    return out


def components(cells: list[Cell]) -> list[list[Cell]]:
    """Cells grouped so that a fine-tuning cell stays with every analysis that needs it (connected components of
    the `needs` relation), each group in plan order."""
    parent = {cell.id: cell.id for cell in cells}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for cell in cells:
        for need in cell.needs:
            if need in parent:
                parent[root(cell.id)] = root(need)
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(root(cell.id), []).append(cell)
    return list(groups.values())


def shard(cells: list[Cell], index: int, count: int) -> list[Cell]:
    """The `index`-th (0-based) of `count` deterministic partitions: whole components, largest first, each to the
    shard with the fewest cells so far (ties to the lower shard); the result keeps plan order.

    Raises:
        BioprobeError: for an index outside 0..count-1.
    """
    if count < 1 or not 0 <= index < count:
        raise BioprobeError(f"--shard {index}/{count} is not a shard: give i/n with 0 <= i < n.")
    groups = sorted(components(cells), key=lambda group: (-len(group), group[0].id))
    load, mine = [0] * count, set()
    for group in groups:
        target = min(range(count), key=lambda k: (load[k], k))
        load[target] += len(group)
        if target == index:
            mine.update(cell.id for cell in group)
    return [cell for cell in cells if cell.id in mine]


def with_runs_dir(cells: list[Cell], runs_dir: str) -> list[Cell]:
    """The same cells writing to another runs dir (ids do not depend on it)."""
    return [dataclasses.replace(c, settings=c.settings.replace(runs_dir=runs_dir)) for c in cells]
