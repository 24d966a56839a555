"""A tuned run and what its update is measured against, loaded once for the causal analyses: the tuned model as it
was trained (a LoRA adapter left unmerged on its base) and, for a fully tuned run, its pretrained model."""

from __future__ import annotations

from dataclasses import dataclass

from bioprobe.errors import BioprobeError


@dataclass
class TunedRun:
    """One tuned run, loaded.

    Attributes:
        source: Which weights (`bioprobe.probing.activations.Source`: name, kind, folder, record).
        tuned: The tuned model with its head (`bioprobe.models.Loaded`; LoRA unmerged).
        pretrained: Its pretrained model (the body, with the LM head for an instruction run), or None for a LoRA run
            (its base weights are inside the tuned model) and when not asked for.
        base: The registry entry (or hub id / folder) the run was tuned from.
    """

    source: object
    tuned: object
    pretrained: object | None
    base: object

    @property
    def record(self):
        return self.source.record

    @property
    def lora(self) -> bool:
        return bool(self.record.lora)


def find_run(task: str, model_name: str, training_size: int, seed: int, runs_dir, objective: str):
    """The run's `Source` (its record read), or one sentence saying why there is no update to analyse.

    Raises:
        BioprobeError: for size 0 or a run that does not exist (naming the command that makes it).
    """
    from bioprobe.probing.activations import find_source

    if training_size == 0:
        raise BioprobeError("Training size 0 is the pretrained model itself; there is no update to analyse (give a "
                            "tuned size, e.g. --training_size 100).")
    return find_source(task, model_name, training_size, seed, runs_dir, None, objective)


def load_run(source, runs_dir, seed: int, device: str | None, pretrained: bool = True) -> TunedRun:
    """Load the tuned model of `source` unmerged and, for a fully tuned run (and `pretrained`), its pretrained model.

    Raises:
        BioprobeError: when the run's base model cannot be loaded (named by the loader).
    """
    from bioprobe.finetune.checkpoints import load_finetuned
    from bioprobe.models import load_model
    from bioprobe.registry import MODELS, resolve_model

    record = source.record
    base = resolve_model(record.model if record.model in MODELS else record.model_source)
    tuned = load_finetuned(runs_dir, record.task, source.name, record.training_size, seed, device=device,
                           objective=record.objective)
    reference = None
    if pretrained and not record.lora:
        reference = load_model(base, head="causal-lm" if record.head == "causal-lm" else "base", device=device)
    return TunedRun(source, tuned, reference, base)
