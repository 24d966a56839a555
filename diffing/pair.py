"""A run with a language-model head and the model it is compared with, loaded once for the divergence and the lens:
a tuned run (found and loaded as the causal analyses do, `bioprobe.causal.runs`) or the model as released (size 0),
and its reference: the pretrained model, a LoRA run's base read with the adapter off (no second copy), or
`--reference`, which must share the tokenizer. Every refusal comes before a weight is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bioprobe.diffing.readout import Readout, load_masked_lm, nothing, same_tokenizer
from bioprobe.errors import BioprobeError


@dataclass
class Reading:
    """One model as it is read.

    Attributes:
        name: "run" (the model the settings name: a tuned run, or at size 0 the model as released) or "reference".
        model: The torch module.
        readout: Its hidden states -> token logits.
        context: Opens the state it is read in (`nothing`, or a LoRA run's adapter switched off for its base).
    """

    name: str
    model: object
    readout: Readout
    context: Callable


@dataclass
class Pair:
    """What the divergence and the lens read.

    Attributes:
        source: The run (`bioprobe.probing.activations.Source`; no record at size 0).
        kind: "encoder" or "decoder".
        tokenizer: The run's tokenizer (the reference's is the same).
        template: Prompt format of the items (the run's; medtuned at size 0).
        data: The task data the items come from.
        readings: The run, then the reference when there is one.
        reference: What the reference is, for the tables ("pretrained", "base (adapter off)", or the name given).
        lora: Whether the run is a LoRA adapter.
        device: Where the models are.
    """

    source: object
    kind: str
    tokenizer: object
    template: str
    data: str | None
    readings: list[Reading]
    reference: str | None
    lora: bool
    device: str

    @property
    def record(self):
        return self.source.record


def refuse(s, analysis: str) -> None:
    """The settings' refusals that need no model (one sentence each).

    Raises:
        BioprobeError: for a classifier run, and for the divergence of the released model with itself.
    """
    what = "compare" if analysis == "divergence" else "read"
    if s.objective == "classifier" and s.training_size > 0:
        raise BioprobeError(f"A classifier run ({s.model_name} at {s.training_size} %) has a task head, no language-"
                            f"model head, so it has no token distributions to {what}; bioprobe {analysis} takes "
                            "instruction- or conversation-tuned decoder runs (--objective instruct or conversation) "
                            "and, at --training_size 0, the model as released.")
    if analysis == "divergence" and s.training_size == 0 and not s.reference:
        raise BioprobeError("Training size 0 is the model as released, and its KL with itself is 0 at every "
                            "position: give a tuned size (e.g. --training_size 100) or --reference (the released "
                            "model against another, e.g. llama2-medtuned against llama2).")


def find_pair(s, analysis: str) -> Pair:
    """What the settings name, found and checked without loading a weight (the tokenizers only): the run (a tuned
    run, or the model as released at size 0), its items' template and data, and its reference (`s.reference`, else
    the pretrained model beside a tuned run); `load` then loads them.

    Raises:
        BioprobeError: for a classifier run, size 0 without a reference (divergence), an encoder (divergence), a
            reference with another tokenizer, a run that does not exist.
    """
    from bioprobe.causal.runs import find_run
    from bioprobe.models import load_tokenizer, resolve_device
    from bioprobe.probing.activations import find_source, run_data
    from bioprobe.registry import resolve_model
    from bioprobe.settings import TEMPLATES

    refuse(s, analysis)
    if s.training_size == 0:
        source = find_source(s.task, s.model_name, 0, s.seed, s.runs_dir, None)
        template, data = "medtuned", s.data
    else:
        task = "conversation" if s.objective == "conversation" else s.task
        source = find_run(task, s.model_name, s.training_size, s.seed, s.runs_dir, s.objective)
        template = source.record.template if source.record.template in TEMPLATES else "medtuned"
        data = s.data if s.objective == "conversation" else run_data(source, s.data)
    if source.kind != "decoder" and analysis == "divergence":
        raise BioprobeError(f"The divergence compares the next-token distributions of decoders; {source.name} is an "
                            "encoder (its lens reads masked tokens: bioprobe lens --training_size 0).")
    tokenizer = None
    what = None if s.training_size == 0 else ("base (adapter off)" if source.record.lora else "pretrained")
    if s.reference:  # its tokenizer against the run's: a mismatch is refused before any weight is loaded
        reference = resolve_model(s.reference)
        tokenizer = load_tokenizer(resolve_model(s.model_name)) if source.record is None else _run_tokenizer(source)
        theirs = load_tokenizer(reference)
        if not same_tokenizer(tokenizer, theirs):
            raise BioprobeError(f"The reference {reference.name} has another tokenizer than {source.name} "
                                f"({len(theirs)} against {len(tokenizer)} entries, or other ids); bioprobe "
                                f"{analysis} compares the two models token by token, so it needs the same one (e.g. "
                                "llama2 for llama2-medtuned).")
        what = reference.name
    return Pair(source, source.kind, tokenizer, template, data, [], what, bool(source.record and source.record.lora),
                resolve_device(s.device))


def table_of(s, analysis: str, n_boot: int):
    """The run and its reference (found, not loaded: `find_pair`), where the analysis's table goes, and the settings
    it records (what `runstore.reusable` compares): `(pair, path, recorded)`."""
    from bioprobe import runstore
    from bioprobe.probing.activations import _fingerprint
    from bioprobe.registry import safe_name
    from bioprobe.settings import values
    from bioprobe.tasks import get_task

    pair = find_pair(s, analysis)
    variant = s.split + (f"-ref-{safe_name(pair.reference)}" if s.reference else "")
    path = runstore.results_path(s.runs_dir, analysis, get_task(s.task).name, pair.source.name, s.training_size,
                                 s.seed, variant, objective=s.objective)
    recorded = {**values(s, ("eval",)), "data": pair.data, "n_boot": n_boot,
                "fingerprint": _fingerprint(pair.source, s.model_name, s.seed)}
    return pair, path, recorded


def common_columns(analysis: str, s, pair: Pair, items, source: str) -> dict:
    """The columns every row of a divergence or lens table carries: which run, against what, on which items."""
    return {"analysis": analysis, "task": s.task, "model": pair.source.name, "training_size": s.training_size,
            "seed": s.seed, "objective": s.objective, "split": s.split, "kind": pair.kind,
            "reference": pair.reference, "lora": pair.lora, "n_items": items.n_items, "truncated": items.truncated,
            "data": source}


def store(path, recorded: dict, rows: list[dict], analysis: str, s, pair: Pair, n_items: int, seconds: dict) -> None:
    """Write a divergence or lens table and its sidecar (the settings, what was read, where the time went)."""
    from bioprobe import runstore

    runstore.write_table(path, rows)
    runstore.write_sidecar(path, recorded, analysis=analysis, table=path.name, task=s.task, model=pair.source.name,
                           training_size=s.training_size, seed=s.seed, reference=pair.reference, n_items=n_items,
                           seconds=seconds, environment=runstore.environment())


def load(pair: Pair, s) -> Pair:
    """Load the run and its reference into `pair.readings` (the run first) and the run's tokenizer.

    Raises:
        BioprobeError: for an encoder without a masked-LM head, a model that cannot be loaded.
    """
    from bioprobe.causal.runs import load_run
    from bioprobe.models import load_model, wants_four_bit
    from bioprobe.registry import resolve_model

    def released(name):
        resolved = resolve_model(name)
        if pair.kind == "encoder":
            return load_masked_lm(resolved, pair.device)
        return load_model(resolved, head="causal-lm", four_bit=wants_four_bit(resolved), device=pair.device)

    name = pair.source.name
    if s.training_size == 0:
        loaded = released(s.model_name)
        pair.readings.append(Reading("run", loaded.model, Readout.of(loaded.model, name), nothing))
        pair.tokenizer = loaded.tokenizer
    else:
        run = load_run(pair.source, s.runs_dir, s.seed, pair.device, pretrained=not s.reference)
        model = run.tuned.model
        pair.readings.append(Reading("run", model, Readout.of(model, name), nothing))
        pair.tokenizer = run.tuned.tokenizer
        if s.reference:
            pass
        elif run.lora:  # the same weights with the adapter switched off: the base, without a second copy
            pair.readings.append(Reading("reference", model, pair.readings[0].readout, model.disable_adapter))
        else:
            pretrained = run.pretrained.model
            pair.readings.append(Reading("reference", pretrained, Readout.of(pretrained, "The pretrained model"),
                                         nothing))
    if s.reference:
        loaded = released(s.reference)
        pair.readings.append(Reading("reference", loaded.model, Readout.of(loaded.model, pair.reference), nothing))
    return pair


def _run_tokenizer(source):
    """The tokenizer of a tuned run's base model (a run keeps its base's vocabulary)."""
    from bioprobe.models import load_tokenizer
    from bioprobe.registry import MODELS, resolve_model

    record = source.record
    return load_tokenizer(resolve_model(record.model if record.model in MODELS else record.model_source))
