"""The stages of a study, one entry each: its name (in plans and on the command line), its settings class, the
function that runs it, the folder its tidy tables go to, what a study cell keeps of its result, the figures its rows
make and the report sections they appear in. The plan (stage names, settings tables), the cell expansion, the
runner, result collection, the figures and the report read this registry; a new stage is one entry here, its
settings class, its run function and its figure units."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Callable

from bioprobe.settings import (AmnesicSettings, AttentionSettings, AttributeSettings, DiffSettings,
                               DivergenceSettings, FinetuneSettings, GenerateSettings, LensSettings, ProbeSettings,
                               RevertSettings)


@dataclass(frozen=True)
class Stage:
    """One stage.

    Attributes:
        name: Its name in a plan's `analyses` and its settings tables, and its command (`bioprobe probe`).
        settings: Its settings class: the command's flags, what a plan's settings tables may set, a cell's settings.
        run: "module:function" that runs it on a settings object (imported when a cell runs).
        results: Its folder under `RUNS/results/` and the `analysis` value of its tidy rows.
        kept: What a study cell's record keeps of the function's result (settings, result -> dict).
        sections: The report sections its tables and figures appear in, as (key, heading), in report order.
        figures: "module:function" giving the figures its rows make, as work units (`bioprobe.figures.plan`), or
            None.
        options: Keyword arguments a study cell passes to the function (the study draws the figures once, at the
            end, instead of after every cell).
    """

    name: str
    settings: type
    run: str
    results: str
    kept: Callable[[object, object], dict]
    sections: tuple[tuple[str, str], ...]
    figures: str | None = None
    options: dict = field(default_factory=dict)

    def __call__(self, settings):
        """Run the stage on one settings object (as a study cell does) and return its result."""
        return resolve(self.run)(settings, **self.options)

    def figure_units(self, table) -> list[tuple]:
        """The figures the stage's rows of a tidy table make, as work units (none for a stage without figures)."""
        return resolve(self.figures)(table) if self.figures else []


def resolve(path: str):
    """The function a "module:function" path names (its module imported now, not when the registry is)."""
    module, _, function = path.partition(":")
    return getattr(import_module(module), function)


def numbers(metrics: dict) -> dict:
    """The overall scores of a metrics dict (per-label entries, `metric/label`, left out) as floats."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and "/" not in k}


def _finetuned(settings, result) -> dict:
    return {"outputs": [str(result.folder)], "metrics": numbers(result.metrics), "reused": result.reused}


def _table(settings, result) -> dict:
    return {"outputs": [str(result.table)], "reused": result.reused}


def _tables(settings, result) -> dict:
    return {"outputs": [str(path) for path in result.tables], "reused": result.reused}


def _generated(settings, result) -> dict:
    return {**_table(settings, result), "metrics": numbers(result.metrics)}


def _attributed(settings, result) -> dict:
    from bioprobe.tasks import get_task

    share = {get_task(settings.task).share_name: result.share} if result.share is not None else {}
    return {**_table(settings, result), **share}


def _diffed(settings, result) -> dict:
    return {**_table(settings, result), "relative_change": result.relative_change, "unchanged": result.unchanged}


def _scored(settings, result) -> dict:
    return {**_table(settings, result), "tuned_score": result.tuned_score}


CAUSAL = (("causal", "Which changes matter"),)


def _diverged(settings, result) -> dict:
    return {**_table(settings, result), **{f"kl_{position}": value for position, value in result.kl.items()}}


def _lensed(settings, result) -> dict:
    return {**_table(settings, result), **{f"decodable_layer_{reading}": value
                                           for reading, value in result.decodable.items()}}


DIFFING = (("diffing", "What the tuned model says: output divergence and logit lens"),)

STAGES = {stage.name: stage for stage in (
    Stage("finetune", FinetuneSettings, "bioprobe.finetune.train:run_finetune", "finetune", _finetuned,
          (("finetune", "Fine-tuning"), ("generative", "Instruction tuning: generative evaluation")),
          "bioprobe.figures:finetune_units"),
    Stage("generate", GenerateSettings, "bioprobe.finetune.clinical:run_generate", "generate", _generated,
          (("clinical", "Clinical prompts: extraction, search, summarisation"),)),
    Stage("probe", ProbeSettings, "bioprobe.probing.run:run_probing", "probing", _table,
          (("probing", "Probing: what each layer knows"),), "bioprobe.figures:probing_units", {"figures": False}),
    Stage("attention", AttentionSettings, "bioprobe.attention.compare:compare_attention", "attention", _tables,
          (("attention", "Attention: pretrained vs fine-tuned"), ("depth", "Encoder vs decoder on normalised depth")),
          "bioprobe.figures:attention_units", {"figures": False}),
    Stage("attribute", AttributeSettings, "bioprobe.attention.attribute:run_attribution", "attribution", _attributed,
          (("attribution", "Attribution"),), "bioprobe.figures:attribution_units"),
    Stage("diff", DiffSettings, "bioprobe.causal.weights:run_diff", "diff", _diffed, CAUSAL,
          "bioprobe.figures:diff_units"),
    Stage("revert", RevertSettings, "bioprobe.causal.revert:run_revert", "revert", _scored, CAUSAL,
          "bioprobe.figures:revert_units"),
    Stage("amnesic", AmnesicSettings, "bioprobe.causal.amnesic:run_amnesic", "amnesic", _scored, CAUSAL,
          "bioprobe.figures:amnesic_units"),
    Stage("divergence", DivergenceSettings, "bioprobe.diffing.divergence:run_divergence", "divergence", _diverged,
          DIFFING, "bioprobe.figures:divergence_units"),
    Stage("lens", LensSettings, "bioprobe.diffing.lens:run_lens", "lens", _lensed, DIFFING,
          "bioprobe.figures:lens_units"),
)}
"""Every stage, in report order."""

RESULTS = tuple(stage.results for stage in STAGES.values())
"""The folders under `RUNS/results/`, one per stage (instruction runs' generative evaluations are fine-tuning
tables)."""
