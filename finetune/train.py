"""Fine-tune one model on one task at one training size, evaluate on the test split, store the run.

`run_finetune(...)` is what `bioprobe finetune` and the task scripts call; a notebook can call it too.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from bioprobe import runstore
from bioprobe.data import data_key
from bioprobe.errors import BioprobeError
from bioprobe.registry import get_task, resolve_model


@dataclass
class FinetuneResult:
    """What one fine-tuning run produced.

    Attributes:
        folder: The checkpoint folder (`RUNS/checkpoints/{task}/{model}/size{N}-seed{S}`).
        metrics: Test metrics, e.g. `{"f1": 0.81, ...}` or `{"accuracy": 0.74, "macro_f1": 0.73}`.
        reused: True when a finished run was found and nothing was recomputed.
        record: The run.json record.
    """

    folder: Path
    metrics: dict
    reused: bool
    record: dict = field(default_factory=dict)


def _default_lr(lora: bool) -> float:
    return 2e-4 if lora else 5e-5


def run_finetune(
    task: str,
    model_name: str,
    training_size: int,
    data: str | None = None,
    seed: int = 42,
    epochs: float = 3.0,
    lr: float | None = None,
    batch_size: int = 16,
    max_length: int = 128,
    runs_dir: str | Path | None = None,
    overwrite: bool = False,
    lora: bool | None = None,
    four_bit: bool | None = None,
    labels: tuple[str, ...] | None = None,
    save_steps: int = 500,
    device: str | None = None,
    callbacks: tuple = (),
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> FinetuneResult:
    """Fine-tune `model_name` on `task` with `training_size` % of the training split and evaluate on test.

    Size 0 trains nothing: it stores the pretrained model with an untrained (seeded) head, the baseline every
    analysis compares against. A finished run is reused unless `overwrite`; an interrupted one resumes from its
    last Trainer checkpoint. Under `torchrun`/`accelerate launch` the same call trains with DDP and only the main
    process writes.

    Args:
        task: "ner" or "nli".
        model_name: Registry name, hub id or local model folder.
        training_size: Percentage of the training split (nested, seeded subsets; stratified by label for NLI).
        data: Data source (see `bioprobe.data.load_task_data`); None for the task's default.
        seed: Seed of the subset, the head initialisation and training.
        epochs, lr, batch_size, max_length: Training settings (lr default 5e-5, or 2e-4 with LoRA).
        runs_dir: Runs dir (default `BIOPROBE_RUNS` or `./runs`).
        overwrite: Recompute a finished run.
        lora, four_bit: Override the registry default (LoRA for decoders of 1B+ parameters; 4-bit for the 7B ones).
        labels: NER tag names for integer tags without ClassLabel names.
        save_steps: Trainer checkpoint interval in optimizer steps (what an interrupted run resumes from).
        device: "cpu" or "cuda"; default cuda when available.
        callbacks: Extra `transformers.TrainerCallback`s.
        train_limit: Draw a seeded (stratified for NLI) pool of this many training items first; training sizes
            are then percentages of the pool. None: the whole training split.
        test_limit: Evaluate on the first this many test items. None: the whole test split.

    Returns:
        The run's folder, test metrics and whether it was reused.
    """
    from accelerate import PartialState

    from bioprobe.models import resolve_device
    from bioprobe.subsets import check_training_size

    check_training_size(training_size)
    spec = get_task(task)
    resolved = resolve_model(model_name)
    device = resolve_device(device)
    folder = runstore.checkpoint_dir(runs_dir, spec.name, resolved.name, training_size, seed)
    state = PartialState(cpu=device.startswith("cpu"))
    request = {"model_source": resolved.source, "data": data_key(spec.name, data), "epochs": epochs, "lr": lr,
               "batch_size": batch_size, "processes": state.num_processes, "max_length": max_length, "lora": lora,
               "four_bit": four_bit, "labels": list(labels) if labels else None, "train_limit": train_limit,
               "test_limit": test_limit}
    if runstore.is_complete(folder) and not overwrite:
        record = runstore.read_json(folder / "run.json")
        _check_same_request(folder, record.get("request", {}), request, "A finished run")
        return FinetuneResult(folder, record["metrics"], reused=True, record=record)
    if state.is_main_process:
        if overwrite:
            shutil.rmtree(folder, ignore_errors=True)
            runstore.results_path(runs_dir, "finetune", spec.name, resolved.name, training_size, seed).unlink(
                missing_ok=True)
        started = folder / "request.json"
        resumable = any((folder / "trainer").glob("checkpoint-*"))
        if started.is_file() and resumable:  # an interrupted run resumes only with the settings it started with
            _check_same_request(folder, runstore.read_json(started), request, "An interrupted run")
        runstore.write_json(started, request)
    state.wait_for_everyone()
    return _train_and_store(spec, resolved, folder, state, request, training_size=training_size, data=data, seed=seed,
                            epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length, runs_dir=runs_dir,
                            lora=lora, four_bit=four_bit, labels=labels, save_steps=save_steps, device=device,
                            callbacks=callbacks, train_limit=train_limit, test_limit=test_limit)


def _check_same_request(folder: Path, recorded: dict, request: dict, what: str) -> None:
    """A run is only reused or resumed with its own settings; anything else would report the wrong numbers."""
    differ = [key for key, value in request.items() if recorded.get(key) != value]
    if differ:
        shown = ", ".join(f"{key} {recorded.get(key)!r} there, {request[key]!r} now" for key in differ)
        raise BioprobeError(f"{what} in {folder} was made with other settings ({shown}); pass --overwrite "
                            "to replace it or --runs-dir to keep both.")


def select_training_items(task: str, train_split, training_size: int, seed: int,
                          train_limit: int | None = None) -> list[int]:
    """Indices into the training split of one run: nested across sizes, seeded, stratified by label for NLI.

    Args:
        task: "ner" or "nli".
        train_split: The training split.
        training_size: Percentage (of the pool when `train_limit` is given).
        seed: Subset seed.
        train_limit: Size of a seeded pool drawn first (the same pool for every training size).

    Returns:
        Sorted indices into `train_split`.
    """
    from bioprobe.subsets import subset_indices

    labels = train_split["label"] if task == "nli" else None
    pool = list(range(len(train_split)))
    if train_limit is not None and train_limit < len(pool):
        from bioprobe.subsets import subset_by_count

        pool = subset_by_count(len(pool), train_limit, seed, strata=labels)
    strata = [labels[i] for i in pool] if labels is not None else None
    return [pool[i] for i in subset_indices(len(pool), training_size, seed, strata=strata)]


def _train_and_store(spec, resolved, folder, state, request, *, training_size, data, seed, epochs, lr, batch_size,
                     max_length, runs_dir, lora, four_bit, labels, save_steps, device, callbacks, train_limit,
                     test_limit) -> FinetuneResult:
    """The body of `run_finetune` once the run is known to be needed (arguments as there)."""
    import numpy as np
    import torch
    import transformers

    from bioprobe.data import load_task_data
    from bioprobe.models import convert_gguf, count_parameters, load_model
    from finetune.encode import encode_ner, encode_nli
    from finetune.evaluate import ner_metrics, nli_metrics, predict_logits, word_predictions
    from finetune.lora import add_lora, trainable_parameters

    task_data = load_task_data(spec.name, data, labels)
    names = tuple(spec.labels or task_data.labels)
    train_split, test_split = task_data.splits["train"], task_data.splits["test"]
    if test_limit is not None and test_limit < len(test_split):
        test_split = test_split.select(range(test_limit))
    indices = select_training_items(spec.name, train_split, training_size, seed, train_limit)
    if training_size > 0 and not indices:
        raise BioprobeError(f"{training_size} % of {len(train_split)} training items is no item at all; "
                            "use a larger training size.")

    four_bit = resolved.spec.four_bit if four_bit is None else four_bit
    resolved = convert_gguf(resolved)
    transformers.set_seed(seed)  # after any conversion, which draws from the RNG: the head is the same every time
    loaded = load_model(resolved, head=spec.head, labels=names, four_bit=four_bit, device=device)
    resolved = loaded.resolved  # the kind of an unregistered model is now read from its config
    limit = _position_limit(loaded.model.config)
    if limit is not None and max_length > limit:
        raise BioprobeError(f"--max-length {max_length} is longer than {resolved.name} can read ({limit} "
                            "positions); pass a smaller --max-length.")
    n_params = count_parameters(loaded.model)
    if lora is None:
        lora = resolved.spec.lora or four_bit or (resolved.spec.kind == "decoder" and n_params >= 1_000_000_000)
    if four_bit and not lora:
        raise BioprobeError("4-bit weights cannot be fine-tuned directly; drop --no-lora (QLoRA) or pass --no-4bit.")
    model = loaded.model
    if lora:
        model = add_lora(model, spec.head, resolved.spec.lora_targets, four_bit)
    tokenizer = loaded.tokenizer
    lr = lr if lr is not None else _default_lr(lora)

    if spec.name == "ner":
        train_enc = encode_ner(train_split.select(indices), tokenizer, names, max_length)
        test_enc = encode_ner(test_split, tokenizer, names, max_length)
        collator = transformers.DataCollatorForTokenClassification(tokenizer, label_pad_token_id=-100)
        truncated = {"train_words": int(sum(train_enc["n_truncated_words"])) if len(train_enc) else 0,
                     "test_words": int(sum(test_enc["n_truncated_words"]))}
    else:
        train_enc = encode_nli(train_split.select(indices), tokenizer, names, max_length, resolved.spec.kind)
        test_enc = encode_nli(test_split, tokenizer, names, max_length, resolved.spec.kind)
        collator = transformers.DataCollatorWithPadding(tokenizer)
        truncated = {"train_pairs": int(sum(train_enc["truncated"])) if len(train_enc) else 0,
                     "test_pairs": int(sum(test_enc["truncated"]))}
    keep = {"input_ids", "attention_mask", "token_type_ids", "labels", "length"}
    train_enc = train_enc.remove_columns([c for c in train_enc.column_names if c not in keep])

    cpu = device.startswith("cpu")
    args = transformers.TrainingArguments(
        output_dir=str(folder / "trainer"),
        num_train_epochs=epochs,
        learning_rate=lr,
        per_device_train_batch_size=batch_size,
        warmup_steps=0.06,
        weight_decay=0.01,
        train_sampling_strategy="group_by_length",
        length_column_name="length",
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=1,
        logging_steps=50,
        report_to="none",
        seed=seed,
        data_seed=seed,
        use_cpu=cpu,
        bf16=(not cpu) and torch.cuda.is_bf16_supported(),
        dataloader_pin_memory=not cpu,
        ddp_backend="gloo" if cpu and state.num_processes > 1 else None,
        disable_tqdm=False,
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train_enc if len(train_enc) else None,
                                   data_collator=collator, callbacks=list(callbacks))
    train_stats: dict = {}
    resumed_from = None
    if training_size > 0:
        last = transformers.trainer_utils.get_last_checkpoint(args.output_dir) if Path(args.output_dir).is_dir() \
            else None
        resumed_from = Path(last).name if last else None
        started = time.perf_counter()
        try:
            output = trainer.train(resume_from_checkpoint=last)
        except torch.OutOfMemoryError:
            raise BioprobeError(f"Out of memory while training {resolved.name}; Trainer checkpoints so far are kept, "
                                "lower --batch-size or --max-length, or use --lora / --4bit.") from None
        seconds = time.perf_counter() - started
        tokens = int(sum(train_enc["length"])) * epochs  # every process trains on its share of the subset
        train_stats = {"train_loss": float(output.training_loss), "global_step": int(output.global_step),
                       "train_seconds": round(seconds, 2),
                       # throughput of a resumed run would mix two sessions: not recorded
                       "train_tokens_per_second": None if last else round(tokens / seconds, 1)}

    if state.is_main_process:
        logits = predict_logits(trainer.model, test_enc, collator, batch_size * 2)
        if spec.name == "ner":
            gold = [list(tags) for tags in test_split["tags"]]
            metrics = ner_metrics(gold, word_predictions(logits, test_enc["labels"], gold, names))
        else:
            metrics = nli_metrics(np.asarray(test_enc["labels"]), np.stack(logits).argmax(-1), len(names))

        trainer.model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        record = {
            "status": "complete",
            "request": request,
            "task": spec.name,
            "model": resolved.name,
            "model_source": resolved.source,
            "model_kind": resolved.spec.kind,
            "training_size": training_size,
            "seed": seed,
            "labels": list(names),
            "head": spec.head,
            "lora": bool(lora),
            "four_bit": bool(four_bit),
            "parameters": {"total": n_params, "trainable": trainable_parameters(model)},
            "settings": {"epochs": epochs, "lr": lr, "batch_size": batch_size, "max_length": max_length,
                         "save_steps": save_steps, "device": device, "processes": state.num_processes},
            "data": {"source": task_data.source,
                     "sizes": {name: len(split) for name, split in task_data.splits.items()},
                     "train_limit": train_limit, "test_limit": test_limit, "n_test": len(test_split),
                     "n_train": len(indices), "subset_indices": indices},
            "truncated": truncated,
            "training": {**train_stats, "resumed_from": resumed_from},
            "metrics": metrics,
            "environment": runstore.environment(),
        }
        rows = _tidy_rows(spec.name, resolved.name, training_size, seed, metrics, len(indices), len(test_split))
        runstore.write_table(runstore.results_path(runs_dir, "finetune", spec.name, resolved.name, training_size,
                                                   seed), rows)
        runstore.write_json(folder / "metrics.json", metrics)
        runstore.write_json(folder / "run.json", record)
        shutil.rmtree(folder / "trainer", ignore_errors=True)
        (folder / "request.json").unlink(missing_ok=True)
    else:
        metrics, record = {}, {}
    state.wait_for_everyone()
    return FinetuneResult(folder, metrics, reused=False, record=record)


def _tidy_rows(task: str, model: str, training_size: int, seed: int, metrics: dict, n_train: int,
               n_test: int) -> list[dict]:
    """One row per metric; per-entity-type F1 rows carry the type in `label` (overall rows: "all")."""
    rows = []
    for key, value in metrics.items():
        metric, _, label = key.partition("/")
        rows.append({"analysis": "finetune", "task": task, "model": model, "training_size": training_size,
                     "seed": seed, "layer": None, "head": None, "metric": metric, "value": value,
                     "label": label or "all", "split": "test", "n_train": n_train, "n_test": n_test})
    return rows


def _position_limit(config) -> int | None:
    """Longest input the model's position embeddings allow (None when it has no fixed limit)."""
    for key in ("max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value - 2 if getattr(config, "model_type", "") in ("roberta", "xlm-roberta") else value
    return None
