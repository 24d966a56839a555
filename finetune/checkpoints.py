"""Load a finished fine-tuning run back: full checkpoints directly, LoRA adapters on top of their base model, an
instruction run at size 0 as the released model itself, and several LoRA runs of one base as adapters of one loaded
base (`load_lora_runs`)."""

from __future__ import annotations

import contextlib
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


class AdapterView:
    """One of several LoRA runs held as adapters of one PEFT model: calling the view runs the shared model with this
    run's adapter active, or with every adapter off when `adapter` is None (the base model as loaded). Everything
    else (config, modules, parameters, hooks, `eval`) is the shared model's, so the base weights are in memory once.

    Hooks registered through one view are on the shared modules and run for every view; a hook that must tell the
    runs apart cannot be used here.
    """

    def __init__(self, shared, adapter: str | None):
        self._shared = shared
        self._adapter = adapter

    @contextlib.contextmanager
    def active(self):
        """This run's adapter on (or every adapter off) while open."""
        if self._adapter is None:
            try:
                with self._shared.disable_adapter():
                    yield
            finally:  # PEFT turns the active adapter trainable again when it switches adapters back on
                self._shared.set_adapter(self._shared.active_adapter, inference_mode=True)
            return
        if self._shared.active_adapter != self._adapter:
            self._shared.set_adapter(self._adapter, inference_mode=True)
        yield

    def __call__(self, *args, **kwargs):
        with self.active():
            return self._shared(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._shared, name)


def load_lora_runs(runs_dir: str | Path | None, task: str, model: str, sizes, seed: int = 42,
                   eager_attention: bool = False, device: str | None = None,
                   objective: str = "classifier") -> tuple[Loaded, dict[int, Loaded]] | None:
    """Several LoRA runs of one base loaded as adapters of one base model: the base (every adapter off) and each run
    (`AdapterView`), with the base weights in memory once instead of once per run (a 7B base: 14 GB in bf16 each).

    An instruction run at size 0 (the released model) is the base itself. The same numbers as loading each run
    apart with its adapter merged, up to float rounding (x·W + (x·A)·B·s against x·(W + B·A·s)).

    Args:
        runs_dir, task, model, seed, objective: Which runs (as `load_finetuned`).
        sizes: Their training sizes.
        eager_attention, device: As `load_finetuned`.

    Returns:
        `(base, {size: run})`, or None when the runs cannot share one base: a run that is not a LoRA run (or the
        released model), or runs of different bases, heads, labels or quantisation, or no LoRA run at all.

    Raises:
        BioprobeError: when a run does not exist, naming the command that makes it.
    """
    name = stored_name(runs_dir, task, model)
    folders = {size: runstore.require_checkpoint(runs_dir, task, name, size, seed, objective) for size in sizes}
    records = {size: runstore.read_run(folder) for size, folder in folders.items()}
    lora = [size for size, record in records.items() if record.lora and record.weights != "released"]
    if not lora or any(not record.lora and record.weights != "released" for record in records.values()):
        return None
    first = records[lora[0]]
    if any((r.model, r.model_source, r.head, r.four_bit, tuple(r.labels) if r.head in CLASSIFIERS else ())
           != (first.model, first.model_source, first.head, first.four_bit,
               tuple(first.labels) if first.head in CLASSIFIERS else ()) for r in records.values()):
        return None
    base = resolve_model(first.model if first.model in MODELS else first.model_source)
    loaded = load_model(base, head=first.head, labels=tuple(first.labels) if first.head in CLASSIFIERS else None,
                        four_bit=first.four_bit, eager_attention=eager_attention, adapter=folders[lora[0]],
                        device=device)
    shared, names = loaded.model, {lora[0]: "default"}
    where = str(next(shared.parameters()).device)
    for size in lora[1:]:
        names[size] = f"size{size}"
        shared.load_adapter(str(folders[size]), adapter_name=names[size], torch_device=where)
    shared.eval()
    views = {size: dataclasses.replace(loaded, model=AdapterView(shared, names.get(size))) for size in sizes}
    return dataclasses.replace(loaded, model=AdapterView(shared, None)), views
