"""Load a finished fine-tuning run back: full checkpoints directly, LoRA adapters on top of their base model, and an
instruction run at size 0 as the released model itself."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bioprobe import runstore
from bioprobe.models import CLASSIFIERS, Loaded, load_model
from bioprobe.registry import MODELS, ResolvedModel, resolve_model


def stored_name(runs_dir: str | Path | None, task: str, model: str) -> str:
    """The name a model's runs are stored under: `model` itself when the runs dir has it (e.g. a local folder's
    name), else what it resolves to."""
    stored = runstore.runs_dir(runs_dir) / "checkpoints" / task / model
    return model if "/" not in model and stored.is_dir() else resolve_model(model).name


def load_finetuned(runs_dir: str | Path | None, task: str, model: str, training_size: int, seed: int = 42,
                   eager_attention: bool = False, device: str | None = None, merge: bool = False,
                   objective: str = "classifier") -> Loaded:
    """Load the model of one finished run, with its task head (a causal-LM head for instruction runs).

    Args:
        runs_dir: The runs dir.
        task, model, training_size, seed, objective: Which run (`model`: its name in the runs dir, or what was
            passed as `--model_name`).
        eager_attention: Eager attention, to return attention maps.
        device: Target device.
        merge: Fold LoRA weights into the base model (not possible for a 4-bit base).

    Returns:
        The model in eval mode with its tokenizer.

    Raises:
        BioprobeError: when the run does not exist, naming the command that makes it.
    """
    name = stored_name(runs_dir, task, model)
    folder = runstore.require_checkpoint(runs_dir, task, name, training_size, seed, objective)
    record = runstore.read_run(folder)
    labels = tuple(record.labels) if record.head in CLASSIFIERS else None
    base = resolve_model(record.model if record.model in MODELS else record.model_source)
    if record.weights == "released":  # an instruction run at size 0: the model as released, untouched
        return load_model(base, head=record.head, four_bit=record.four_bit, eager_attention=eager_attention,
                          device=device)
    if record.lora:  # the folder holds a LoRA adapter (and any trained head) for the base model
        loaded = load_model(base, head=record.head, labels=labels, four_bit=record.four_bit,
                            eager_attention=eager_attention, adapter=folder, device=device)
        if merge and not record.four_bit:
            loaded.model = loaded.model.merge_and_unload()
        return loaded
    spec = MODELS.get(record.model) or dataclasses.replace(resolve_model(str(folder)).spec, kind=record.model_kind)
    stored = ResolvedModel(record.model, str(folder), spec)  # keeps the run's name and the registry's quirks
    return load_model(stored, head=record.head, labels=labels, eager_attention=eager_attention, device=device)
