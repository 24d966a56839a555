"""Each stage's settings, defined once: a frozen dataclass per stage whose fields carry their help text, flag
spellings, validation and role. The click options, run records, reuse checks and cell ids all derive from them.

Adding an option is one edit: a field here (and the code that reads it). A field's `role` says what it decides:
"train" (the trained weights: part of a run's identity), "eval" (a result computed from the weights: part of that
result's identity) or "run" (only where and how it runs: never part of an identity).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field, fields

from bioprobe.errors import BioprobeError
from bioprobe.tasks import TASKS, get_task

ROLES = ("train", "eval", "run")
OBJECTIVES = ("classifier", "instruct", "conversation")
"""Fine-tuning objectives: a task head, instruction tuning (answers), conversation tuning (assistant turns)."""
ANALYSIS_OBJECTIVES = ("classifier", "instruct")
"""The objectives whose runs the analyses of one task can read."""
TEMPLATES = ("medtuned", "chat")


def setting(default, help: str = "", *, role: str = "train", choices: tuple | None = None,
            minimum: float | None = None, maximum: float | None = None, min_open: bool = False,
            objectives: tuple[str, ...] | None = None, flag: str | None = None, envvar: str | None = None,
            show_default: bool = True, cli: bool = True):
    """A settings field with what the command line and the validation need.

    Args:
        default: Default value (None: decided at run time, the help text says how).
        help: One line for `--help`.
        role: One of `ROLES`.
        choices: Allowed values.
        minimum, maximum, min_open: Numeric bounds (`min_open`: the minimum itself is not allowed).
        objectives: Fine-tuning objectives the field applies to (None: all); others ignore it.
        flag: For a boolean, the flag declaration ("--lora/--no-lora", or "--overwrite" for a plain switch).
        envvar: Environment variable that gives the default on the command line.
        show_default: Show the default in `--help`.
        cli: Offer it on the command line.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    return field(default=default, metadata={
        "help": help, "role": role, "choices": choices, "minimum": minimum, "maximum": maximum,
        "min_open": min_open, "objectives": objectives, "flag": flag, "envvar": envvar,
        "show_default": show_default, "cli": cli})


def _base_type(hint):
    """`int | None` -> int; `tuple[str, ...] | None` -> tuple."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        hint = args[0]
    return typing.get_origin(hint) or hint


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def flag_names(name: str) -> list[str]:
    """Both spellings of a flag: `--training_size` and `--training-size` (one when the name has no underscore)."""
    return list(dict.fromkeys([f"--{name}", f"--{name.replace('_', '-')}"]))


def comma_list(value) -> tuple[str, ...] | None:
    """"a, b,c" -> ("a", "b", "c"); a list or tuple passes through; empty -> None."""
    if value is None or value == "" or value == ():
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(str(item).strip() for item in items if str(item).strip())
    return names or None


def normalise(settings) -> None:
    """Lower-case the task and turn comma-separated text into tuples for tuple fields (a plan or a notebook may give
    "cosine,js" or a list), in place on a frozen dataclass."""
    hints = _hints(type(settings))
    if isinstance(getattr(settings, "task", None), str):
        object.__setattr__(settings, "task", settings.task.lower())
    for f in fields(settings):
        if _base_type(hints[f.name]) is tuple:
            object.__setattr__(settings, f.name, comma_list(getattr(settings, f.name)))


def check(settings) -> None:
    """Validate every field of a settings dataclass against its choices and bounds (one clear sentence).

    Raises:
        BioprobeError: naming the field, its value and what is allowed.
    """
    hints = _hints(type(settings))
    for f in fields(settings):
        value = getattr(settings, f.name)
        meta = f.metadata
        if value is None:
            continue
        kind = _base_type(hints[f.name])
        what = f"{flag_names(f.name)[-1]} {value!r}"
        if kind is bool and not isinstance(value, bool):
            raise BioprobeError(f"{what} must be true or false.")
        if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))
                                     or (kind is int and int(value) != value)):
            raise BioprobeError(f"{what} must be {'a whole number' if kind is int else 'a number'}.")
        if meta.get("choices") is not None and value not in meta["choices"]:
            raise BioprobeError(f"{what} is not allowed; choose one of {', '.join(map(str, meta['choices']))}.")
        low, high = meta.get("minimum"), meta.get("maximum")
        below = low is not None and (value < low or (meta.get("min_open") and value == low))
        if (below or (high is not None and value > high)) and low is not None and high is not None:
            raise BioprobeError(f"{what} is outside the allowed range; it must be from {low:g} to {high:g}.")
        if below:
            raise BioprobeError(f"{what} is too small; it must be {'above' if meta.get('min_open') else 'at least'} "
                                f"{low:g}.")
        if high is not None and value > high:
            raise BioprobeError(f"{what} is too large; it must be at most {high:g}.")


def applies(f, objective: str | None) -> bool:
    """Whether field `f` matters for a fine-tuning objective."""
    wanted = f.metadata.get("objectives")
    return wanted is None or objective is None or objective in wanted


def values(settings, roles: tuple[str, ...] = ROLES, objective: str | None = None) -> dict:
    """The fields of the given roles (and objective) as a plain JSON-ready dict, in field order."""
    out = {}
    for f in fields(settings):
        if f.metadata.get("role", "train") in roles and applies(f, objective):
            value = getattr(settings, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def digest(record: dict, length: int = 12) -> str:
    """A short stable hash of a JSON-ready dict (what cell ids and cache keys are made of)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:length]


def build(cls, values: dict, where: str = "settings"):
    """A settings dataclass from a dict, naming an unknown key and the keys that exist.

    Raises:
        BioprobeError: for an unknown key or a value that fails validation.
    """
    known = {f.name for f in fields(cls)}
    unknown = [key for key in values if key not in known]
    if unknown:
        raise BioprobeError(f"Unknown key '{unknown[0]}' in {where}; the keys are {', '.join(sorted(known))}.")
    hints = _hints(cls)
    converted = {key: (comma_list(value) if _base_type(hints[key]) is tuple else value)
                 for key, value in values.items()}
    return cls(**converted)


def click_options(cls, skip: tuple[str, ...] = (), required: tuple[str, ...] = ()):
    """A decorator adding one click option per field of `cls` (both flag spellings), in field order.

    Args:
        cls: A settings dataclass.
        skip: Field names not offered by this command.
        required: Field names the command requires.
    """
    import click

    hints = _hints(cls)
    options = []
    for f in fields(cls):
        meta = f.metadata
        if f.name in skip or not meta.get("cli", True):
            continue
        kind = _base_type(hints[f.name])
        kwargs: dict = {"help": meta.get("help") or None, "show_default": meta.get("show_default", True)}
        if meta.get("envvar"):
            kwargs["envvar"] = meta["envvar"]
        if f.default is not dataclasses.MISSING:
            kwargs["default"] = f.default
        if f.name in required:
            kwargs["required"] = True
            kwargs.pop("default", None)
        if kind is bool:
            declaration = meta.get("flag") or f"--{f.name.replace('_', '-')}/--no-{f.name.replace('_', '-')}"
            names = [declaration] if "/" in declaration else [declaration]
            if "/" not in declaration:
                kwargs["is_flag"] = True
            if kwargs.get("default") is None:
                kwargs["show_default"] = False
            options.append(click.option(*names, f.name, **kwargs))
            continue
        if meta.get("choices") is not None:
            kwargs["type"] = click.Choice([str(c) for c in meta["choices"]], case_sensitive=False) \
                if kind is str else click.Choice([str(c) for c in meta["choices"]])
            if kind is int:
                kwargs["callback"] = lambda ctx, param, value: None if value is None else int(value)
                if "default" in kwargs and kwargs["default"] is not None:
                    kwargs["default"] = str(kwargs["default"])
        elif kind in (int, float):
            kwargs["type"] = kind  # bounds are checked by `check`, with the same sentence for plans and notebooks
        elif kind is tuple:
            kwargs["callback"] = lambda ctx, param, value: comma_list(value)
            if isinstance(kwargs.get("default"), tuple):
                kwargs["default"] = ",".join(kwargs["default"])
        options.append(click.option(*flag_names(f.name), f.name, **kwargs))

    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def from_options(cls, options: dict, **fixed):
    """Settings from a command's parsed options (lower-cased choices), plus fixed values."""
    hints = _hints(cls)
    known = {f.name: f for f in fields(cls)}
    values_ = {}
    for key, value in {**options, **fixed}.items():
        if key not in known:
            continue
        if isinstance(value, str) and known[key].metadata.get("choices") is not None and \
                _base_type(hints[key]) is str:
            value = value.lower()
        values_[key] = value
    return cls(**values_)


# --- the stages ---------------------------------------------------------------------------------------------------

MODEL_HELP = ("Registry name (bert, biobert, gpt2, gpt2-small, biogpt, tinyllama, mistral, llama2, llama2-medtuned, "
              "minilm, smollm2), a hub id or a local model folder.")
DATA_HELP = ("Hub dataset id, local data folder, MedNLI folder, or 'demo' (default: tner/bionlp2004 for NER, "
             "$MEDNLI_DIR for NLI; for an analysis of a fine-tuned model, the data it was tuned on). With "
             "--objective instruct also instruction data (instruction/input/output columns), e.g. "
             "nlpie/Llama2-MedTuned-Instructions.")


@dataclass(frozen=True)
class Defaults:
    """The training defaults of one objective: what a run uses for a setting it is not given.

    Attributes:
        lr_full: Learning rate of full fine-tuning.
        lr_lora: Learning rate of LoRA adapters.
        batch_size: Items per step and process.
        warmup: Share of the optimiser steps with a linear warm-up.

    LoRA itself is the default for decoders of 1B parameters or more and 4-bit bases (and registry models marked
    so), whatever the objective.
    """

    lr_full: float
    lr_lora: float
    batch_size: int
    warmup: float = 0.06


DEFAULTS = {
    "classifier": Defaults(lr_full=5e-5, lr_lora=2e-4, batch_size=16),
    "instruct": Defaults(lr_full=1e-4, lr_lora=2e-4, batch_size=8),
    "conversation": Defaults(lr_full=1e-4, lr_lora=2e-4, batch_size=8),
}
"""Training defaults per objective. Instruction tuning, measured on smollm2 (135M) with 300 demo NER instructions,
one epoch, 24 held-out: the classifier defaults (full, lr 5e-5, batch 16: 19 steps) answered 0.33 in the right shape;
full at lr 1e-4 in batches of 8 (38 steps) 0.88 (lr 2e-4: 0.88); LoRA on the attention projections at lr 2e-4 0.00,
and LoRA needed lr 1e-3 on every linear layer to reach 0.83: models under 1B tune fully. Conversations (300 demo
conversations): held-out answer loss 0.170 against 0.203. For 1B+ decoders and 4-bit bases LoRA at 2e-4 stays the
default (the QLoRA recipe). README "Instruction tuning" has the table."""
RECIPE = 2
"""The version of the instruction / conversation training recipe, part of a run's request: a run trained with other
defaults or answer tokenisation (1: classifier defaults, answers tokenised alone) is not reused as if it matched."""


@dataclass(frozen=True)
class FinetuneSettings:
    """Everything one fine-tuning run is made of (`bioprobe finetune`, `run_finetune`).

    Fields of role "train" decide the weights (a finished run is reused only when they match); "eval" fields decide
    its evaluation; "run" fields only where and how it runs.
    """

    task: str = setting(None, "; ".join(task.help for task in TASKS.values()) + "; not needed for --objective "
                        "conversation.", choices=(*TASKS, "conversation"))
    model_name: str = setting("bert", MODEL_HELP)
    training_size: int = setting(100, "Percent of the training split (0 = the pretrained baseline: an untrained "
                                      "head, or the instruct model as released).", minimum=0, maximum=100)
    objective: str = setting("classifier", "classifier: a task head on the encoder or decoder; instruct: "
                                           "instruction tuning of a causal LM (loss on the answer only), "
                                           "evaluated by generation; conversation: tuning on (medical) "
                                           "conversations, loss on the assistant turns only.", choices=OBJECTIVES)
    data: str | None = setting(None, DATA_HELP, show_default=False)
    labels: tuple[str, ...] | None = setting(None, "Comma-separated tag names for integer NER tags without names "
                                                   "in the data.", show_default=False)
    seed: int = setting(42, "Seed of the subset, the head or adapter initialisation and training.", minimum=0)
    epochs: float = setting(3.0, "Training epochs.", minimum=0, min_open=True)
    lr: float | None = setting(None, "Learning rate [default: 5e-5, or 2e-4 with LoRA; instruct and conversation "
                                     "1e-4, or 2e-4 with LoRA].", minimum=0, min_open=True)
    batch_size: int | None = setting(None, "Items per step and process (DDP multiplies it by the process count) "
                                           "[default: 16; instruct and conversation 8].", minimum=1)
    max_length: int | None = setting(None, "Longest input in subwords [default: 128; instruct: 512, prompt and "
                                           "answer together]; longer inputs are truncated (instruct: left out of "
                                           "training) and counted.", minimum=8)
    lora: bool | None = setting(None, "Train LoRA adapters [default: decoders of 1B+ parameters and 4-bit models].",
                                flag="--lora/--no-lora")
    four_bit: bool | None = setting(None, "Load the base model in 4-bit NF4 (QLoRA) [default: mistral, llama2, "
                                          "llama2-medtuned].", flag="--4bit/--no-4bit")
    train_limit: int | None = setting(None, "Draw a seeded pool of this many training items first; sizes are "
                                            "percentages of the pool.", minimum=1)
    template: str = setting("medtuned", "instruct: prompt format, the Llama2-MedTuned one (### Instruction / "
                                        "### Input / ### Output) or the tokenizer's chat template.",
                            choices=TEMPLATES, objectives=("instruct",))
    markers: tuple[str, ...] = setting(("[|Human|]", "[|AI|]"), "conversation: the user's and the assistant's "
                                                              "marker in a one-column conversation (Baize).",
                                       objectives=("conversation",))
    medical: bool = setting(True, "conversation: keep only medical conversations (a medical column, or at least "
                                  "--min-medical-terms clinical words).", flag="--medical/--all-conversations",
                            objectives=("conversation",))
    min_medical_terms: int = setting(2, "conversation: distinct clinical words that make a conversation medical.",
                                     minimum=1, objectives=("conversation",))
    entity_markers: str | None = setting(None, "re: the entity markers (<e1>, @GENE$, ...) kept as text, split into "
                                               "subwords like any word, or added to the tokenizer as new tokens "
                                               "(embeddings resized and trained; full fine-tuning only) [default: "
                                               "text].", choices=("text", "tokens"), objectives=("classifier",))
    test_limit: int | None = setting(None, "Evaluate on the first this many test items only (and as many "
                                           "validation items where a task reads them: cls thresholds).", minimum=1,
                                     role="eval")
    shots: int = setting(0, "instruct: examples in the prompt, 0 (zero-shot) or 1 (a seeded training example of the "
                            "same task and entity type).", choices=(0, 1), role="eval", objectives=("instruct",))
    max_new_tokens: int | None = setting(None, "instruct: cap on generated tokens [default: from the expected "
                                               "answer's length].", minimum=1, role="eval",
                                         objectives=("instruct",))
    save_steps: int = setting(500, "Trainer checkpoint interval, what an interrupted run resumes from.", minimum=1,
                              role="run")
    device: str | None = setting(None, "cpu or cuda [default: cuda when available].", role="run")
    runs_dir: str = setting("runs", "Where checkpoints, caches and result tables go (env BIOPROBE_RUNS).",
                            role="run", envvar="BIOPROBE_RUNS")
    overwrite: bool = setting(False, "Recompute a finished run instead of reusing it.", role="run",
                              flag="--overwrite")
    rescore: bool = setting(False, "instruct: score the stored generations again without generating.", role="run",
                            flag="--rescore", objectives=("instruct",))

    def __post_init__(self):
        if self.objective == "conversation" and self.task in (None, "conversation"):
            object.__setattr__(self, "task", "conversation")
        elif self.task is None:
            raise BioprobeError(f"Give the task: --task {' or --task '.join(TASKS)}.")
        elif str(self.task).lower() == "conversation":
            raise BioprobeError("--task conversation goes with --objective conversation.")
        normalise(self)
        check(self)
        if self.entity_markers is not None and not get_task(self.task).marks_entities:
            raise BioprobeError(f"--entity-markers is an option of tasks whose items mark entities (relation "
                                f"extraction), not {get_task(self.task).title}.")
        if len(self.markers) != 2:
            raise BioprobeError(f"--markers must be two markers, the user's and the assistant's, not "
                                f"{','.join(self.markers)}.")
        for f in fields(self):
            if not applies(f, self.objective) and getattr(self, f.name) != f.default:
                raise BioprobeError(f"--{f.name.replace('_', '-')} is an option of --objective "
                                    f"{' or '.join(f.metadata['objectives'])}, not {self.objective}.")

    @property
    def length(self) -> int:
        """`max_length` with its objective's default."""
        return self.max_length or (512 if self.objective == "instruct" else 128)

    @property
    def batch(self) -> int:
        """`batch_size` with its objective's default (`DEFAULTS`)."""
        return self.batch_size or DEFAULTS[self.objective].batch_size

    def replace(self, **changes) -> FinetuneSettings:
        return dataclasses.replace(self, **changes)


TASK_FIELD = dict(choices=tuple(TASKS))


@dataclass(frozen=True)
class AnalysisSettings:
    """What every analysis of one model shares: which run, which data and items, where (the base of the analysis
    settings below; fields of role "eval" decide the result, "run" fields only where and how it is computed)."""

    task: str = setting(None, "; ".join(task.help for task in TASKS.values()) + ".", role="eval", **TASK_FIELD)
    model_name: str = setting("bert", MODEL_HELP, role="eval")
    training_size: int = setting(100, "Which run: percent of the training split it was tuned on (0 = the pretrained "
                                      "model as released).", minimum=0, maximum=100, role="eval")
    objective: str = setting("classifier", "Which run of that size: the classifier-tuned or the instruction-tuned "
                                           "one (a LoRA adapter merged, except by diff, revert and amnesic).",
                             choices=ANALYSIS_OBJECTIVES,
                             role="eval")
    data: str | None = setting(None, "The task's data as for bioprobe finetune (default: the data the run was tuned "
                                     "on, when it was task data, not instructions).", role="eval",
                               show_default=False)
    labels: tuple[str, ...] | None = setting(None, "Comma-separated tag names for integer NER tags without names "
                                                   "in the data.", role="eval", show_default=False)
    seed: int = setting(42, "Seed of the run, of the item sample and of everything the analysis draws.", minimum=0,
                        role="eval")
    max_length: int | None = setting(None, "Longest input in subwords [default: 128; 512 for a prompt: --in-prompt, "
                                           "and instruct head importance]; longer inputs are truncated and counted.",
                                     minimum=8, role="eval")
    in_prompt: bool = setting(False, "Encode each item inside the instruction prompt its run was tuned with (a "
                                     "seeded instruction; decoders), instead of as plain text.", role="eval",
                              flag="--in-prompt")
    device: str | None = setting(None, "cpu or cuda [default: cuda when available].", role="run")
    runs_dir: str = setting("runs", "Where checkpoints, caches and result tables go (env BIOPROBE_RUNS).",
                            role="run", envvar="BIOPROBE_RUNS")

    def __post_init__(self):
        if self.task is None:
            raise BioprobeError(f"Give the task: --task {' or --task '.join(TASKS)}.")
        normalise(self)
        check(self)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @property
    def length(self) -> int:
        """`max_length` with its default: 128 for plain text, 512 inside a prompt."""
        return self.max_length or (512 if self.in_prompt else 128)

    @property
    def prompt_length(self) -> int:
        """`max_length` for prompts (instruct head importance): the given one, else 512."""
        return self.max_length or 512


POOLING_HELP = ("NER: first (default), mean or last subword of each word. NLI: joint-mean (default), cls (encoders), "
                "last, or separate-mean (premise and hypothesis apart, concatenated).")
LIMIT_HELP = "Use a seeded sample of this many sentences / pairs of each split."
BATCH_HELP = ("Padded tokens per forward pass [default: 2048 on a CPU; on a GPU, from the memory it has free after "
              "loading, at least 8192].")
BASELINE_HELP = "random-init: the same architecture with fresh weights (with --training_size 0)."


@dataclass(frozen=True)
class ExtractSettings(AnalysisSettings):
    """`bioprobe extract`: fill the activation cache."""

    split: str = setting("all", "Split to extract; all = train, validation and test (what probing uses).",
                         choices=("train", "validation", "test", "all"), role="eval")
    pooling: str | None = setting(None, POOLING_HELP, role="eval", show_default=False)
    limit: int | None = setting(None, LIMIT_HELP, minimum=1, role="eval")
    batch_tokens: int | None = setting(None, BATCH_HELP, minimum=16, role="run")
    baseline: str | None = setting(None, BASELINE_HELP, choices=("random-init",), role="eval")
    overwrite: bool = setting(False, "Extract again even when the cache is current.", role="run", flag="--overwrite")


@dataclass(frozen=True)
class ProbeSettings(AnalysisSettings):
    """`bioprobe probe` / `run_probing`: probes on every layer and the comparison with a reference model."""

    layers: str | None = setting(None, "Layers to probe, e.g. 0,3,5-6 [default: all; 0 = embeddings].", role="eval")
    pooling: str | None = setting(None, POOLING_HELP, role="eval", show_default=False)
    probe: str = setting("logistic", "Probe: multinomial logistic regression, linear SVC (the study's NLI probe) or "
                                     "a one-layer MLP.", choices=("logistic", "svc", "mlp"), role="eval")
    control: bool = setting(True, "Control task (Hewitt & Liang) and selectivity per layer.", role="eval",
                            flag="--control/--no-control")
    mdl: bool = setting(True, "MDL online codelength (Voita & Titov), on validation items.", role="eval",
                        flag="--mdl/--no-mdl")
    cka: bool = setting(True, "Compare with the reference model's layers by the --similarity measures (fine-tuned "
                              "models, baselines, --reference).", role="eval", flag="--cka/--no-cka")
    cka_estimator: str = setting("debiased", "Linear CKA estimator.", choices=("debiased", "standard"), role="eval")
    similarity: tuple[str, ...] | None = setting(("cka", "procrustes", "mutual_knn"), "Comma-separated similarity "
                                                 "measures per layer and layer by layer, each with a 95 % bootstrap "
                                                 "interval: cka, procrustes, mutual_knn.", role="eval")
    knn_k: int = setting(10, "mutual_knn: nearest neighbours per item.", minimum=1, role="eval")
    similarity_draws: int = setting(1000, "Bootstrap resamples of the similarity intervals (sentences for NER); 0: "
                                          "none.", minimum=0, role="eval")
    similarity_items: int = setting(10000, "Compare on at most this many test items: a seeded sample (whole "
                                           "sentences for NER) when there are more.", minimum=4, role="eval")
    reference: str | None = setting(None, "The model CKA compares with [default: the pretrained model itself]; e.g. "
                                          "llama2 for llama2-medtuned (a registry name, hub id or folder).",
                                    role="eval")
    bio: bool = setting(False, "NER: probe BIO tags instead of entity types (B and I merged).", role="eval",
                        flag="--bio")
    baseline: str | None = setting(None, BASELINE_HELP, choices=("random-init",), role="eval")
    limit: int | None = setting(None, LIMIT_HELP, minimum=1, role="eval")
    batch_tokens: int | None = setting(None, BATCH_HELP, minimum=16, role="run")
    overwrite: bool = setting(False, "Probe again even when the table for these settings exists.", role="run",
                              flag="--overwrite")

    def extract_settings(self, **changes) -> ExtractSettings:
        """What the probes read, as `bioprobe extract` would be told it: every field the two share (`overwrite`
        not: a probe made again reads a current cache), then `changes`."""
        shared = {f.name for f in fields(ExtractSettings)} & {f.name for f in fields(self)} - {"overwrite"}
        return ExtractSettings(**{**{name: getattr(self, name) for name in shared}, **changes})


@dataclass(frozen=True)
class AttentionSettings(AnalysisSettings):
    """`bioprobe attention` / `compare_attention`: each tuned model's attention against the reference's."""

    training_size: int | None = setting(None, "One tuned size (instead of --training_sizes); 0 with --reference "
                                              "compares the released model with the reference.", minimum=0,
                                        maximum=100, role="eval")
    training_sizes: str | None = setting(None, "Tuned sizes to compare with the pretrained model, e.g. "
                                               "10,30,50,100.", role="eval")
    reference: str | None = setting(None, "The model compared with [default: the pretrained model itself]; it "
                                          "must share the tokenizer (e.g. llama2 for llama2-medtuned).", role="eval")
    split: str = setting("test", "Split whose items are compared.", choices=("train", "validation", "test"),
                         role="eval")
    limit: int | None = setting(None, LIMIT_HELP, minimum=1, role="eval")
    metrics: tuple[str, ...] | None = setting(None, "Comma-separated subset of cosine, js, entropy_a, entropy_b, "
                                                    "entropy_change, special_a, special_b, self_a, self_b, prev_a, "
                                                    "prev_b, next_a, next_b [default: all].", role="eval",
                                              show_default=False)
    importance: bool = setting(True, "Michel et al. head importance of each tuned model (instruct: from the loss "
                                     "on the answer tokens).", role="eval", flag="--importance/--no-importance")
    batch_tokens: int = setting(4096, "Padded tokens per forward pass.", minimum=16, role="run")
    maps: int = setting(1, "Items whose whole attention maps (every head, pretrained and tuned) are kept for the "
                           "report's attention-map view: the shortest ones of 8 to 48 tokens; 0: none.", minimum=0,
                        role="run")
    overwrite: bool = setting(False, "Compare again even when the tables for these settings exist.", role="run",
                              flag="--overwrite")

    def sizes(self) -> list[int]:
        """The tuned sizes to compare (0 only against an explicit reference).

        Raises:
            BioprobeError: for none, a list that does not parse, or a size outside its range.
        """
        text = self.training_sizes if self.training_sizes is not None else self.training_size
        if isinstance(text, (list, tuple)):
            text = ",".join(map(str, text))
        if text is None or str(text).strip() == "":
            raise BioprobeError("Give the tuned models to compare, e.g. --training_sizes 10,30,50,100 or "
                                "--training_size N.")
        try:
            sizes = [int(part) for part in str(text).split(",") if part.strip()]
        except ValueError:
            raise BioprobeError(f"--training_sizes '{text}' does not parse; give percentages like 10,30,50,100.") \
                from None
        low = 0 if self.reference else 1
        bad = [size for size in sizes if not low <= size <= 100]
        if not sizes or bad:
            raise BioprobeError(f"--training_sizes '{text}' must list tuned sizes from 1 to 100 (the pretrained "
                                "model, size 0, is what they are compared with; 0 needs --reference).")
        return sorted(dict.fromkeys(sizes))


@dataclass(frozen=True)
class AttributeSettings(AnalysisSettings):
    """`bioprobe attribute` / `run_attribution`: Integrated Gradients of a tuned model's predictions."""

    examples: int = setting(5, "Items whose per-token attributions are stored and drawn.", minimum=1, role="eval")
    limit: int | None = setting(None, "NLI: test pairs the premise / hypothesis share is averaged over [default: "
                                      "the whole split].", minimum=1, role="eval")
    split: str = setting("test", "Split to explain.", choices=("train", "validation", "test"), role="eval")
    steps: int = setting(50, "Integration steps.", minimum=2, role="eval")
    batch_tokens: int | None = setting(None, "Tokens per forward pass of the integration: an item's steps are chunked "
                                             "to fit [default: 4096 on a CPU; on a GPU, from the memory it has free "
                                             "after loading, at least 2048: a 4-bit 7B model's 512-token prompt, 4 "
                                             "steps a pass, fits a 24 GB card].", minimum=16,
                                       role="run")
    overwrite: bool = setting(False, "Attribute again even when the table for these settings exists.", role="run",
                              flag="--overwrite")


HIDDEN = dict(role="eval", cli=False)
LAYERS_HELP = "Layers, e.g. 0,3,5-6 [default: all; 0 = embeddings, l = transformer block l]."


@dataclass(frozen=True)
class DiffSettings(AnalysisSettings):
    """`bioprobe diff` / `run_diff`: the weight-space difference of a tuned run (data-free)."""

    data: str | None = setting(None, **HIDDEN)
    labels: tuple[str, ...] | None = setting(None, **HIDDEN)
    max_length: int | None = setting(None, **HIDDEN)
    in_prompt: bool = setting(False, **HIDDEN)
    overwrite: bool = setting(False, "Compute again even when the table for this run exists.", role="run",
                              flag="--overwrite")


@dataclass(frozen=True)
class RevertSettings(AnalysisSettings):
    """`bioprobe revert` / `run_revert`: the tuned run scored with parts of its update taken back."""

    split: str = setting("test", "Split whose items are scored.", choices=("train", "validation", "test"),
                         role="eval")
    limit: int | None = setting(None, LIMIT_HELP, minimum=1, role="eval")
    layers: str | None = setting(None, "Layers l at which to revert block l alone, blocks 0..l and blocks l..last, "
                                       "e.g. 0,3,5-6 [default: all; 0 = embeddings, l = transformer block l].",
                                 role="eval")
    heads: str | None = setting("all", "Heads reverted one by one in the chosen layers: all, none, or e.g. 0-3.",
                                role="eval")
    batch_tokens: int = setting(4096, "Padded tokens per forward pass.", minimum=16, role="run")
    overwrite: bool = setting(False, "Revert again even when the table for these settings exists.", role="run",
                              flag="--overwrite")


@dataclass(frozen=True)
class AmnesicSettings(AnalysisSettings):
    """`bioprobe amnesic` / `run_amnesic`: the probed concept erased (LEACE) from the tuned model's hidden states."""

    split: str = setting("test", "Split whose items are scored (the erasers are fitted on the train split).",
                         choices=("train", "validation", "test"), role="eval")
    limit: int | None = setting(None, LIMIT_HELP, minimum=1, role="eval")
    layers: str | None = setting(None, "Layers to erase at, " + LAYERS_HELP[0].lower() + LAYERS_HELP[1:],
                                 role="eval")
    pooling: str | None = setting(None, POOLING_HELP + " What the eraser is fitted on.", role="eval",
                                  show_default=False)
    batch_tokens: int = setting(4096, "Padded tokens per forward pass.", minimum=16, role="run")
    overwrite: bool = setting(False, "Erase again even when the table for these settings exists.", role="run",
                              flag="--overwrite")


REFERENCE_HELP = ("The model the tuned run is compared with [default: its pretrained model; a LoRA run's base with the "
                  "adapter off]; it must share the tokenizer (e.g. llama2 for llama2-medtuned, with --training_size "
                  "0: the released model against it).")
LM_OBJECTIVES = ("classifier", "instruct", "conversation")
"""Objectives `bioprobe divergence` and `bioprobe lens` accept: classifier runs are refused in one sentence (a task
head has no language-model head to read), conversation runs are read on the task's test prompts."""


@dataclass(frozen=True)
class DivergenceSettings(AnalysisSettings):
    """`bioprobe divergence` / `run_divergence`: KL(tuned || reference) of the next-token distributions on the test
    prompts, at prompt and at answer positions apart."""

    objective: str = setting("instruct", "Which run of that size: instruction-tuned, or conversation-tuned (read on "
                                         "the task's test prompts in its chat template).", choices=LM_OBJECTIVES,
                             role="eval")
    reference: str | None = setting(None, REFERENCE_HELP, role="eval")
    split: str = setting("test", "Split whose prompts are compared.", choices=("train", "validation", "test"),
                         role="eval")
    limit: int | None = setting(None, LIMIT_HELP, minimum=1, role="eval")
    examples: int = setting(3, "Items that changed most (largest mean KL at the answer positions) kept with their "
                               "tokens and per-token KL.", minimum=0, role="eval")
    max_length: int | None = setting(None, "Longest prompt with its answer in subwords [default: 512]; longer items "
                                           "are left out and counted.",
                                     minimum=8, role="eval")
    in_prompt: bool = setting(False, **HIDDEN)
    batch_tokens: int = setting(2048, "Padded tokens per forward pass (both models run on the same batches).",
                                minimum=16, role="run")
    overwrite: bool = setting(False, "Compare again even when the table for these settings exists.", role="run",
                              flag="--overwrite")


@dataclass(frozen=True)
class LensSettings(AnalysisSettings):
    """`bioprobe lens` / `run_lens`: each layer read through the final norm and the unembedding (logit lens) as a
    prediction of the gold answer token, for the run and its reference on the same items."""

    objective: str = setting("instruct", "Which run of that size: instruction-tuned, or conversation-tuned (read on "
                                         "the task's test prompts in its chat template); size 0 is the model as "
                                         "released (an encoder: with its masked-LM head, at masked tokens).",
                             choices=LM_OBJECTIVES, role="eval")
    reference: str | None = setting(None, REFERENCE_HELP + " Read on the same items beside the run.", role="eval")
    split: str = setting("test", "Split whose items are read.", choices=("train", "validation", "test"),
                         role="eval")
    limit: int | None = setting(None, LIMIT_HELP, minimum=1, role="eval")
    layers: str | None = setting(None, "Layers read, " + LAYERS_HELP[0].lower() + LAYERS_HELP[1:] + " Each read "
                                       "layer projects every answer position onto the vocabulary.", role="eval")
    mask_share: float = setting(0.15, "Encoders: share of each item's tokens masked (at least one, seeded) and "
                                      "read at.", minimum=0, maximum=1, min_open=True, role="eval")
    max_length: int | None = setting(None, "Longest prompt with its answer in subwords [default: 512]; longer items "
                                           "are left out and counted (encoders: longest item [default: 128], cut).",
                                     minimum=8, role="eval")
    in_prompt: bool = setting(False, **HIDDEN)
    batch_tokens: int = setting(2048, "Padded tokens per forward pass.", minimum=16, role="run")
    overwrite: bool = setting(False, "Read again even when the table for these settings exists.", role="run",
                              flag="--overwrite")


def to_args(settings) -> list[str]:
    """The command-line arguments that give a settings dataclass back (every field that differs from its default),
    e.g. to run a fine-tuning cell under torchrun."""
    args = []
    for f in fields(settings):
        value = getattr(settings, f.name)
        if not f.metadata.get("cli", True) or value == f.default:
            continue
        flag = flag_names(f.name)[-1]
        if isinstance(value, bool):
            declared = f.metadata.get("flag") or f"{flag}/--no-{f.name.replace('_', '-')}"
            on, _, off = declared.partition("/")
            if value or off:
                args.append(on if value else off)
        elif value is not None:
            args += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return args


@dataclass(frozen=True)
class GenerateSettings:
    """`bioprobe generate` / `run_generate`: one of the three clinical prompts asked of a model or tuned checkpoint."""

    prompt: str = setting(None, "extract (entities of a type in a text), search (the sentences of a document that "
                                "a query states) or summarise (a clinical document).",
                          choices=("extract", "search", "summarise"), role="eval")
    model_name: str = setting("smollm2", MODEL_HELP, role="eval")
    training_size: int = setting(0, "Which checkpoint: percent of the training data it was tuned on (0 = the model "
                                    "as released).", minimum=0, maximum=100, role="eval")
    objective: str = setting("conversation", "Which tuned checkpoint of that size: conversation-tuned, or "
                                             "instruction-tuned on the prompt's task (extract: NER; search, "
                                             "summarise: NLI).", choices=("instruct", "conversation"), role="eval")
    data: str | None = setting(None, "extract: NER data; search: NLI data (documents made of premises); summarise: "
                                     "a file / folder / hub id with document (and summary) columns [default: demo].",
                               role="eval", show_default=False)
    limit: int | None = setting(50, "Items asked: a seeded sample of the test split's items.", minimum=1,
                                role="eval")
    seed: int = setting(42, "Seed of the item sample, the search documents and the checkpoint's run.", minimum=0,
                        role="eval")
    template: str | None = setting(None, "A text file replacing the prompt's built-in template (it must hold the "
                                         "same {placeholders}).", role="eval", show_default=False)
    max_new_tokens: int | None = setting(None, "New tokens per answer [default: extract 64, search 16, summarise "
                                               "96].", minimum=1, role="eval")
    four_bit: bool | None = setting(None, "The model as released (size 0) in 4-bit NF4 [default: as its tuned runs' "
                                          "base: mistral, llama2, llama2-medtuned]; a tuned checkpoint loads as it "
                                          "was trained.", flag="--4bit/--no-4bit", role="eval")
    device: str | None = setting(None, "cpu or cuda [default: cuda when available].", role="run")
    runs_dir: str = setting("runs", "Where checkpoints and result tables go (env BIOPROBE_RUNS).", role="run",
                            envvar="BIOPROBE_RUNS")
    overwrite: bool = setting(False, "Generate again even when the answers for these settings are stored.",
                              role="run", flag="--overwrite")
    rescore: bool = setting(False, "Score the stored answers again without generating.", role="run",
                            flag="--rescore")

    def __post_init__(self):
        if self.prompt is None:
            raise BioprobeError("Give the prompt: --prompt extract, search or summarise.")
        object.__setattr__(self, "prompt", str(self.prompt).lower())
        check(self)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)
