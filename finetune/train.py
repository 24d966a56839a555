"""Fine-tune one model on one task at one training size, evaluate on the test split, store the run.

`run_finetune(...)` is what `bioprobe finetune` and the task scripts call; a notebook can call it too. The pieces
every objective shares (preparing a run, Trainer settings, resuming, the run record) live here too.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bioprobe import runstore
from bioprobe.data import data_key
from bioprobe.errors import BioprobeError
from bioprobe.registry import resolve_model
from bioprobe.tasks import get_task
from bioprobe.settings import DEFAULTS, RECIPE, FinetuneSettings


@dataclass
class FinetuneResult:
    """What one fine-tuning run produced.

    Attributes:
        folder: The checkpoint folder (`RUNS/checkpoints/{task}/{model}/size{N}-seed{S}`).
        metrics: Test metrics, e.g. `{"f1": 0.81, ...}` or `{"accuracy": 0.74, "macro_f1": 0.73}`.
        reused: True when a finished run was found and nothing was recomputed.
        record: The run's record (`run.json`); None on the processes of a distributed run other than the main one.
    """

    folder: Path
    metrics: dict
    reused: bool
    record: runstore.RunRecord | None = None




@dataclass
class Prepared:
    """What every fine-tuning run knows before it loads anything.

    Attributes:
        settings: The run's settings.
        spec: Its task.
        resolved: Where the model comes from.
        device: Resolved device.
        folder: The run's checkpoint folder.
        state: accelerate's process state (DDP rank and count).
        request: The settings a finished or interrupted run must share to be reused or resumed.
    """

    settings: FinetuneSettings
    spec: object
    resolved: object
    device: str
    folder: Path
    state: object
    request: dict


def run_finetune(settings: FinetuneSettings | None = None, *, callbacks: tuple = (), **fields) -> FinetuneResult:
    """Fine-tune a model on a task at a training size and evaluate it on the test split; store the run.

    `settings` (or the same fields as keyword arguments, see `bioprobe.settings.FinetuneSettings`) say what to run.
    Classifier fine-tuning (`objective="classifier"`) trains a task head; size 0 trains nothing and stores the
    pretrained model with an untrained (seeded) head, the baseline every analysis compares against. Instruction
    tuning (`objective="instruct"`) is `bioprobe.finetune.instruct.run_instruct`. A finished run is reused unless
    `overwrite`; an interrupted one resumes from its last Trainer checkpoint. Under `torchrun`/`accelerate launch`
    the same call trains with DDP and only the main process writes.

    Args:
        settings: The run's settings.
        callbacks: Extra `transformers.TrainerCallback`s.
        **fields: Settings fields (used when `settings` is None, or as changes to it).

    Returns:
        The run's folder, test metrics and whether it was reused.
    """
    from bioprobe.settings import build

    if settings is None:
        settings = build(FinetuneSettings, fields, "run_finetune")
    elif fields:
        settings = settings.replace(**fields)
    prepared = prepare_run(settings)
    if isinstance(prepared, FinetuneResult):
        return prepared
    if settings.objective == "instruct":
        from bioprobe.finetune.instruct import run_instruct

        return run_instruct(prepared, callbacks)
    if settings.objective == "conversation":
        from bioprobe.finetune.conversation import run_conversation

        return run_conversation(prepared, callbacks)
    return _train_and_store(prepared, callbacks)


def prepare_run(settings: FinetuneSettings) -> Prepared | FinetuneResult:
    """Resolve the model, device and folder of a run and what it must share with an earlier one; a finished run
    with the same request is returned as reused (instruction runs are returned prepared: their evaluations are
    reused one by one)."""
    from accelerate import PartialState

    from bioprobe.models import resolve_device
    from bioprobe.settings import values

    spec = get_task(settings.task)
    resolved = resolve_model(settings.model_name)
    device = resolve_device(settings.device)
    folder = runstore.checkpoint_dir(settings.runs_dir, spec.name, resolved.name, settings.training_size,
                                     settings.seed, settings.objective)
    state = PartialState(cpu=device.startswith("cpu"))
    # The weights are decided by the "train" fields (classifier runs are evaluated once, inside the run, so their
    # "eval" fields belong to the request too); the task, model, size and seed are in the folder's name.
    roles = ("train",) if settings.objective == "instruct" else ("train", "eval")
    request = {key: value for key, value in values(settings, roles, settings.objective).items()
               if key not in ("task", "model_name", "training_size", "seed", "objective")}
    request.update(model_source=resolved.source, data=data_key(spec.name, settings.data),
                   processes=state.num_processes, max_length=settings.length, batch_size=settings.batch)
    markers = request.pop("entity_markers", None)
    if spec.marks_entities and settings.objective == "classifier":
        request["entity_markers"] = markers or "text"
    if settings.objective != "classifier":
        request["recipe"] = RECIPE
    prepared = Prepared(settings, spec, resolved, device, folder, state, request)
    if runstore.is_complete(folder) and not settings.overwrite:
        record = runstore.read_run(folder)
        _check_same_request(folder, record.request, request, "A finished run")
        if settings.objective != "instruct":  # an instruction run's evaluations are reused one by one
            return FinetuneResult(folder, record.metrics, reused=True, record=record)
        return prepared
    if state.is_main_process:
        if settings.overwrite:
            shutil.rmtree(folder, ignore_errors=True)
            table = runstore.results_path(settings.runs_dir, "finetune", spec.name, resolved.name,
                                          settings.training_size, settings.seed, objective=settings.objective)
            table.unlink(missing_ok=True)
            if settings.objective != "classifier":  # and every evaluation of the run, with its generations
                stale = [*table.parent.glob(f"{table.stem}-*.csv"), *table.parent.glob(f"{table.stem}-*.json")]
                generations = runstore.generations_path(settings.runs_dir, spec.name, resolved.name,
                                                        settings.training_size, settings.seed, "x").parent
                stale += generations.glob(f"{table.stem}-*")
                for path in stale:
                    path.unlink(missing_ok=True)
        started = folder / "request.json"
        for partial in incomplete_checkpoints(folder / "trainer"):  # cut off while being written: unusable
            shutil.rmtree(partial, ignore_errors=True)
        resumable = last_complete_checkpoint(folder / "trainer") is not None
        if started.is_file() and resumable:  # an interrupted run resumes only with the settings it started with
            _check_same_request(folder, runstore.read_json(started), request, "An interrupted run")
        runstore.write_json(started, request)
    state.wait_for_everyone()
    return prepared


def _check_same_request(folder: Path, recorded: dict, request: dict, what: str) -> None:
    """A run is only reused or resumed with its own settings; anything else would report the wrong numbers."""
    differ = [key for key, value in request.items() if recorded.get(key) != value]
    if differ:
        shown = ", ".join(f"{key} {recorded.get(key)!r} there, {request[key]!r} now" for key in differ)
        raise BioprobeError(f"{what} in {folder} was made with other settings ({shown}); pass --overwrite "
                            "to replace it or --runs-dir to keep both.")


def _checkpoints(trainer_dir: Path) -> list[Path]:
    """The Trainer's `checkpoint-{step}` folders, newest step first."""
    found = [path for path in Path(trainer_dir).glob("checkpoint-*")
             if path.is_dir() and path.name.removeprefix("checkpoint-").isdigit()]
    return sorted(found, key=lambda path: int(path.name.removeprefix("checkpoint-")), reverse=True)


def _is_complete(checkpoint: Path) -> bool:
    # the Trainer writes trainer_state.json after the weights, optimizer and RNG states, so a job preempted while
    # saving leaves a checkpoint folder without it, from which `Trainer.train` cannot resume
    return (checkpoint / "trainer_state.json").is_file()


def last_complete_checkpoint(trainer_dir: Path) -> Path | None:
    """The newest Trainer checkpoint that was written to the end, or None."""
    return next((path for path in _checkpoints(trainer_dir) if _is_complete(path)), None)


def incomplete_checkpoints(trainer_dir: Path) -> list[Path]:
    """Checkpoint folders newer than the last complete one (an interrupted save)."""
    last = last_complete_checkpoint(trainer_dir)
    newest = _checkpoints(trainer_dir)
    return newest[:newest.index(last)] if last is not None else newest


def select_training_items(task, train_split, training_size: int, seed: int, train_limit: int | None = None,
                          strata: list | None = None) -> list[int]:
    """Indices into the training split of one run: nested across sizes, seeded, stratified where the task says.

    Args:
        task: The task (`bioprobe.tasks.Task`; its `strata` stratify classifier subsets), or None.
        train_split: The training split.
        training_size: Percentage (of the pool when `train_limit` is given).
        seed: Subset seed.
        train_limit: Size of a seeded pool drawn first (the same pool for every training size).
        strata: The stratum of every item (default: the task's `strata`, e.g. the NLI label).

    Returns:
        Sorted indices into `train_split`.
    """
    from bioprobe.subsets import subset_indices

    labels = strata if strata is not None else (task.strata(train_split) if task is not None else None)
    pool = list(range(len(train_split)))
    if train_limit is not None and train_limit < len(pool):
        from bioprobe.subsets import subset_by_count

        pool = subset_by_count(len(pool), train_limit, seed, strata=labels)
    chosen = [labels[i] for i in pool] if labels is not None else None
    return [pool[i] for i in subset_indices(len(pool), training_size, seed, strata=chosen)]


def training_arguments(prepared: Prepared, lr: float, **extra):
    """The Trainer settings every objective shares: dynamic padding by the collator, length-grouped batches (from
    a `length` column), checkpoints every `save_steps` for resuming, bf16 on GPUs that have it, gloo for CPU DDP."""
    import torch
    import transformers

    settings, cpu = prepared.settings, prepared.device.startswith("cpu")
    return transformers.TrainingArguments(
        output_dir=str(prepared.folder / "trainer"),
        num_train_epochs=settings.epochs,
        learning_rate=lr,
        per_device_train_batch_size=settings.batch,
        warmup_steps=DEFAULTS[settings.objective].warmup,
        weight_decay=0.01,
        train_sampling_strategy="group_by_length",
        length_column_name="length",
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=1,
        logging_steps=50,
        report_to="none",
        seed=settings.seed,
        data_seed=settings.seed,
        use_cpu=cpu,
        bf16=(not cpu) and torch.cuda.is_bf16_supported(),
        dataloader_pin_memory=not cpu,
        ddp_backend="gloo" if cpu and prepared.state.num_processes > 1 else None,
        disable_tqdm=False,
        **extra,
    )


def train(trainer, prepared: Prepared, tokens: int) -> dict:
    """Train (resuming from the last complete Trainer checkpoint of an interrupted run); the training statistics.

    Args:
        trainer: The Trainer.
        prepared: The run.
        tokens: Real tokens in one epoch of the training subset (for the throughput).
    """
    import torch

    last = last_complete_checkpoint(Path(trainer.args.output_dir))
    last = str(last) if last is not None else None
    started = time.perf_counter()
    try:
        output = trainer.train(resume_from_checkpoint=last)
    except torch.OutOfMemoryError:
        raise BioprobeError(f"Out of memory while training {prepared.resolved.name}; Trainer checkpoints so far are "
                            "kept, lower --batch-size or --max-length, or use --lora / --4bit.") from None
    seconds = time.perf_counter() - started
    return {"train_loss": float(output.training_loss), "global_step": int(output.global_step),
            "train_seconds": round(seconds, 2),
            # throughput of a resumed run would mix two sessions: not recorded
            "train_tokens_per_second": None if last else round(tokens * prepared.settings.epochs / seconds, 1),
            "resumed_from": Path(last).name if last else None}


def base_record(prepared: Prepared, resolved, head: str, lora: bool, four_bit: bool, parameters: dict,
                lr: float) -> dict:
    """The `RunRecord` fields every objective shares (the caller adds data, metrics and what is its own)."""
    settings = prepared.settings
    return {
        "status": "complete",
        "request": prepared.request,
        "task": prepared.spec.name,
        "objective": settings.objective,
        "model": resolved.name,
        "model_source": resolved.source,
        "model_kind": resolved.spec.kind,
        "training_size": settings.training_size,
        "seed": settings.seed,
        "head": head,
        "lora": bool(lora),
        "four_bit": bool(four_bit),
        "parameters": parameters,
        "settings": {"epochs": settings.epochs, "lr": lr, "batch_size": settings.batch,
                     "warmup": DEFAULTS[settings.objective].warmup, "max_length": settings.length,
                     "save_steps": settings.save_steps, "device": prepared.device,
                     "processes": prepared.state.num_processes},
        "defaults": {"objective": settings.objective, **dataclasses.asdict(DEFAULTS[settings.objective]),
                     "given": [name for name in ("lr", "batch_size", "lora") if getattr(settings, name) is not None]},
    }


@dataclass
class Training:
    """A model ready to train, with the registry's 4-bit and LoRA defaults applied.

    Attributes:
        loaded: The loaded model and tokenizer (`loaded.resolved` knows the model's kind).
        model: What trains: `loaded.model`, or a PeftModel around it.
        lora, four_bit: Whether LoRA adapters train and the base is 4-bit.
        n_params: Parameters of the base model.
        lr: Learning rate.
        position_limit: Longest input the model can read (None: no fixed limit).
    """

    loaded: object
    model: object
    lora: bool
    four_bit: bool
    n_params: int
    lr: float
    position_limit: int | None


def wants_lora(settings, spec, four_bit: bool, n_params: int | None) -> bool:
    """Whether a run trains LoRA adapters: `--lora/--no-lora` when given, else the registry's LoRA models, 4-bit
    models and decoders of 1B+ parameters (`n_params` None: not counted, taken as below 1B)."""
    if settings.lora is not None:
        return bool(settings.lora)
    return bool(spec.lora or four_bit or (spec.kind == "decoder" and (n_params or 0) >= 1_000_000_000))


def _regime_before_loading(settings, resolved, head: str, labels, four_bit: bool) -> str:
    """"lora" or "full" (`wants_lora`), told from the config before loading (its parameters counted on the meta
    device, its kind read there too: an unregistered hub id's name may not say it is a decoder), so the memory check
    counts the training state a full fine-tune would need."""
    import dataclasses

    from bioprobe.models import estimate_of

    spec = resolved.spec
    if settings.lora is not None or spec.lora or four_bit:
        return "lora" if wants_lora(settings, spec, four_bit, None) else "full"
    need = estimate_of(resolved, head, labels)
    if need is None:
        return "full"
    return "lora" if wants_lora(settings, dataclasses.replace(spec, kind=need.kind), four_bit, need.parameters) \
        else "full"


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch (every GPU) as `transformers.set_seed` does, without importing the Trainer's
    utilities it lives in (and with them peft and bitsandbytes: 4.6 s of a zero-shot evaluation that trains nothing)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def load_for_training(prepared: Prepared, head: str, labels: tuple[str, ...] | None = None,
                      adapters: bool = True, new_tokens: list[str] = ()) -> Training:
    """Load the model to train (LoRA adapters attached when used, unless `adapters` is False: nothing will train);
    `new_tokens` (`--entity-markers tokens`) are added to the tokenizer and the embeddings resized, the new rows
    initialised to the mean embedding.

    Raises:
        BioprobeError: for an explicit `--max-length` longer than the model reads, 4-bit without LoRA, or new
            tokens with LoRA (whose frozen embeddings could not learn them).
    """

    from bioprobe.models import convert_gguf, count_parameters, load_model, wants_four_bit
    from bioprobe.finetune.lora import add_lora

    settings, resolved = prepared.settings, prepared.resolved
    four_bit = wants_four_bit(resolved, settings.four_bit)
    resolved = convert_gguf(resolved)
    seed_all(settings.seed)  # after any conversion, which draws from the RNG: the same head every time
    loaded = load_model(resolved, head=head, labels=labels, four_bit=four_bit, device=prepared.device,
                        training=_regime_before_loading(settings, resolved, head, labels, four_bit) if adapters
                        else None)
    resolved = loaded.resolved  # the kind of an unregistered model is now read from its config
    limit = _position_limit(loaded.model.config)
    wanted = settings.max_length if settings.objective == "instruct" else settings.length
    if limit is not None and wanted is not None and wanted > limit:
        raise BioprobeError(f"--max-length {wanted} is longer than {resolved.name} can read ({limit} "
                            "positions); pass a smaller --max-length.")
    n_params = count_parameters(loaded.model)
    lora = wants_lora(settings, resolved.spec, four_bit, n_params)
    if four_bit and not lora and adapters:
        raise BioprobeError("4-bit weights cannot be fine-tuned directly; drop --no-lora (QLoRA) or pass --no-4bit.")
    if new_tokens and lora:
        raise BioprobeError("--entity-markers tokens adds tokens whose embeddings must train, but LoRA freezes the "
                            "embeddings; pass --no-lora, or keep the markers as text (--entity-markers text).")
    model = loaded.model
    if new_tokens:
        added = loaded.tokenizer.add_tokens(list(new_tokens))
        if added:
            model.resize_token_embeddings(len(loaded.tokenizer), mean_resizing=True)
    if lora and adapters:
        model = add_lora(model, head, resolved.spec.lora_targets, four_bit)
    defaults = DEFAULTS[settings.objective]
    lr = settings.lr if settings.lr is not None else defaults.lr_lora if lora else defaults.lr_full
    return Training(loaded, model, bool(lora), bool(four_bit), n_params, lr, limit)


def _train_and_store(prepared: Prepared, callbacks: tuple) -> FinetuneResult:
    """Classifier fine-tuning once the run is known to be needed: train a head, evaluate on test, store."""
    import transformers

    from bioprobe.data import load_task_data
    from bioprobe.finetune.evaluate import predict_logits
    from bioprobe.finetune.lora import trainable_parameters

    settings, task, folder, state = prepared.settings, prepared.spec, prepared.folder, prepared.state
    training_size, seed, max_length = settings.training_size, settings.seed, settings.length
    task_data = load_task_data(task.name, settings.data, settings.labels)
    names = tuple(task.fixed_labels or task_data.labels)
    splits = dict(task_data.splits)
    for role in ("validation", "test"):  # validation: where a task reads it (per-label thresholds), as many
        if role in splits and settings.test_limit is not None and settings.test_limit < len(splits[role]):
            splits[role] = splits[role].select(range(settings.test_limit))
    train_split, test_split = splits["train"], splits["test"]
    indices = select_training_items(task, train_split, training_size, seed, settings.train_limit)
    if training_size > 0 and not indices:
        raise BioprobeError(f"{training_size} % of {len(train_split)} training items is no item at all; "
                            "use a larger training size.")

    new_tokens = []
    if settings.entity_markers == "tokens":
        new_tokens = task.added_tokens({"text": [text for split in splits.values() for text in split["text"][:]]})
    setup = load_for_training(prepared, task.head, names, new_tokens=new_tokens)
    loaded, model, lora, four_bit, n_params, lr = (setup.loaded, setup.model, setup.lora, setup.four_bit,
                                                   setup.n_params, setup.lr)
    resolved, tokenizer = loaded.resolved, loaded.tokenizer
    encoded: dict = {}

    def encode(role: str):
        if role not in encoded:
            split = train_split.select(indices) if role == "train" else splits[role]
            encoded[role] = task.encode(split, tokenizer, names, max_length, resolved.spec.kind)
        return encoded[role]

    collator = task.collator(tokenizer)
    train_enc, _ = encode("train"), encode("test")
    truncated = task.truncation(encoded)
    keep = {"input_ids", "attention_mask", "token_type_ids", "labels", "length"}
    train_enc = train_enc.remove_columns([c for c in train_enc.column_names if c not in keep])

    trainer = transformers.Trainer(model=model, args=training_arguments(prepared, lr),
                                   train_dataset=train_enc if len(train_enc) else None, data_collator=collator,
                                   callbacks=list(callbacks))
    train_stats: dict = {"resumed_from": None}
    if training_size > 0:
        train_stats = train(trainer, prepared, int(sum(train_enc["length"])))

    if state.is_main_process:
        def logits(role: str):
            return predict_logits(trainer.model, encode(role), collator, settings.batch * 2), encode(role)

        metrics, evaluation = task.classifier_scores(logits, splits, names)
        trainer.model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        record = runstore.RunRecord(
            **base_record(prepared, resolved, task.head, lora, four_bit,
                          {"total": n_params, "trainable": trainable_parameters(model)}, lr),
            labels=list(names), added_tokens=new_tokens or None,
            data={"source": task_data.source, "sizes": {name: len(split) for name, split in task_data.splits.items()},
                  "train_limit": settings.train_limit, "test_limit": settings.test_limit,
                  "n_test": len(test_split), "n_train": len(indices), "subset_indices": indices},
            truncated=truncated, training=train_stats, metrics=metrics, evaluation=evaluation or None,
            environment=runstore.environment())
        rows = _tidy_rows(task.name, resolved.name, training_size, seed, metrics, len(indices), len(test_split),
                          **regime_columns(lora and training_size > 0, four_bit, train_stats))
        runstore.write_table(runstore.results_path(settings.runs_dir, "finetune", task.name, resolved.name,
                                                   training_size, seed), rows)
        runstore.write_json(folder / "metrics.json", metrics)
        runstore.write_run(folder, record)
        shutil.rmtree(folder / "trainer", ignore_errors=True)
        (folder / "request.json").unlink(missing_ok=True)
    else:
        metrics, record = {}, None
    state.wait_for_everyone()
    return FinetuneResult(folder, metrics, reused=False, record=record)


def regime_columns(lora: bool, four_bit: bool, training: dict | None) -> dict:
    """How a run was tuned, for its result rows: `regime` (full, LoRA, QLoRA: LoRA on a 4-bit base, or none: a size-0
    run that trained nothing) and `steps` (the optimiser steps it took), so a table or figure can say "2 LoRA steps"
    next to a number."""
    steps = int((training or {}).get("global_step") or 0)
    regime = ("QLoRA" if four_bit else "LoRA") if lora else "full"
    return {"regime": regime if steps else "none", "steps": steps}


def _tidy_rows(task: str, model: str, training_size: int, seed: int, metrics: dict, n_train: int,
               n_test: int, objective: str = "classifier", **extra) -> list[dict]:
    """One row per metric; per-entity-type F1 rows carry the type in `label` (overall rows: "all")."""
    rows = []
    for key, value in metrics.items():
        metric, _, label = key.partition("/")
        rows.append({"analysis": "finetune", "task": task, "model": model, "training_size": training_size,
                     "seed": seed, "layer": None, "head": None, "metric": metric, "value": value,
                     "label": label or "all", "split": "test", "n_train": n_train, "n_test": n_test,
                     "objective": objective, **extra})
    return rows


def _position_limit(config) -> int | None:
    """Longest input the model's position embeddings allow (None when it has no fixed limit)."""
    for key in ("max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value - 2 if getattr(config, "model_type", "") in ("roberta", "xlm-roberta") else value
    return None
