"""Reverting a tuned run's update block by block and head by head (`bioprobe revert`): the test items scored with parts
of the update taken back, everything else tuned, the tuned head kept; the score, its paired bootstrap interval and the
share of the fine-tuning gain (tuned minus size 0) lost."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.causal.score import BlockCache, Resamples, interval, scored_items, scorer_for
from bioprobe.errors import BioprobeError
from bioprobe.settings import RevertSettings

MODES = ("single", "bottom_up", "top_down")
"""Block reversion: one block alone; blocks 0..l (the pretrained hidden state at layer l fed into the tuned upper
blocks); blocks l..last."""


def head_numbers(text: str | None, n_heads: int) -> list[int]:
    """`--heads`: "all" (default), "none", or numbers and ranges ("0-3,7"), checked against `n_heads`.

    Raises:
        BioprobeError: for text that does not parse or a head out of range.
    """
    from bioprobe.probing.run import layer_numbers

    if text is None or str(text).strip().lower() == "all":
        return list(range(n_heads))
    if str(text).strip().lower() == "none":
        return []
    try:
        chosen = layer_numbers(str(text))
    except BioprobeError:
        raise BioprobeError(f"--heads '{text}' does not parse; give all, none, or numbers and ranges like 0-3,7.") \
            from None
    outside = [head for head in chosen if not 0 <= head < n_heads]
    if outside:
        raise BioprobeError(f"Head {outside[0]} is out of range: the model has heads 0-{n_heads - 1} a layer.")
    return chosen


@dataclass
class RevertResult:
    """What `run_revert` wrote."""

    table: Path
    rows: list[dict]
    tuned_score: float
    reused: bool = False
    seconds: dict | None = None


def interventions(reverter, layers: list[int], heads: list[int]):
    """Every intervention in order, as `(mode, layer, head, reverted, patches)`: at each chosen layer l, block l
    alone, blocks 0..l (from the bottom) and blocks l..last (from the top); then each chosen head of each chosen
    block. `reverted` names what is taken back (the set of blocks, or one block's head): interventions with the same
    `reverted` are the same model (block 0 alone and from the bottom at 0; the last block alone and from the top at
    the last; every block from the bottom at the last and from the top at 0)."""
    last = reverter.n_layers
    for layer in layers:
        yield "single", layer, None, frozenset([layer]), reverter.blocks([layer])
    for layer in layers:
        yield "bottom_up", layer, None, frozenset(range(layer + 1)), reverter.blocks(range(layer + 1))
    for layer in reversed(layers):
        yield "top_down", layer, None, frozenset(range(layer, last + 1)), reverter.blocks(range(layer, last + 1))
    for layer in layers:
        for head in heads if layer > 0 else ():
            yield "single", layer, head, (layer, head), reverter.head(layer, head)


def run_revert(settings: RevertSettings | None = None, *, n_boot: int = 1000, **fields) -> RevertResult:
    """Score a tuned run with parts of its update taken back (`bioprobe revert`).

    The test items are tokenised and batched once; each intervention swaps tensors in place (a fully tuned run's
    parts set to the pretrained weights, a LoRA run's adapter factors zeroed there; `bioprobe.causal.params`) and costs
    one forward pass over them, from its lowest changed block up: the blocks below return their stored outputs of the
    tuned (or, from the bottom, the pretrained) body (`BlockCache`, when they fit in memory); an intervention that takes
    back exactly what an earlier one did (see `interventions`) reuses its outcomes. Scores: the task's main
    metric (classifier runs) or the answer log-likelihood (instruction runs), with 95 % bootstrap intervals over items
    drawn once for all interventions. The gain is the tuned score minus size 0's: the size-0 run's (its untrained
    head) on the same items for a classifier when that run exists, the released model for an instruction run. Where
    the attention table of the same run exists, the rank correlation of each head's gain lost with its attention
    change (1 - cosine) and its importance.

    Args:
        settings: Which run and what to revert (`bioprobe.settings.RevertSettings`; or its fields as keywords).
        n_boot: Bootstrap resamples.
        **fields: Settings fields (used when `settings` is None, or as changes to it).

    Returns:
        The table written (or reused) and its rows.
    """
    from bioprobe.causal.params import Reverter, swapped
    from bioprobe.causal.runs import find_run, load_run
    from bioprobe.probing.activations import _fingerprint, run_data
    from bioprobe.probing.run import parse_layers
    from bioprobe.settings import build, values
    from bioprobe.tasks import get_task

    s = build(RevertSettings, fields, "run_revert") if settings is None else settings.replace(**fields)
    spec = get_task(s.task)
    source = find_run(spec.name, s.model_name, s.training_size, s.seed, s.runs_dir, s.objective)
    data = run_data(source, s.data)
    path = runstore.results_path(s.runs_dir, "revert", spec.name, source.name, s.training_size, s.seed, s.split,
                                 objective=s.objective)
    size0 = _size0_source(spec.name, source, s)
    recorded = {**values(s, ("eval",)), "data": data, "n_boot": n_boot,
                "fingerprint": _fingerprint(source, s.model_name, s.seed),
                "size0": _fingerprint(size0, s.model_name, s.seed) if size0 is not None else None}
    if runstore.reusable(path, recorded, s.overwrite):
        rows = runstore.read_table(path).to_dict("records")
        return RevertResult(path, rows, _tuned(rows), reused=True)

    started = time.perf_counter()
    run = load_run(source, s.runs_dir, s.seed, s.device)
    model = run.tuned.model
    reverter = Reverter(model, run.pretrained.model if run.pretrained is not None else None)
    layers = parse_layers(s.layers, reverter.n_layers, source.name)
    heads = head_numbers(s.heads, reverter.n_heads)
    rows_in, task_data = scored_items(spec, data, s, run.record)
    scorer = scorer_for(spec, run.tuned, run.record, run.source.kind, rows_in, task_data.labels, s)
    loaded_s = time.perf_counter() - started
    resamples = Resamples.draw(scorer.n_items, n_boot, s.seed)

    started = time.perf_counter()
    cache = BlockCache(model) if BlockCache.fits(scorer, model) else None
    if cache is not None:  # the tuned and the pretrained body's block outputs: lower blocks an intervention keeps
        tuned_outcomes = cache.record("tuned", scorer, model)
        with swapped(reverter.everything()):
            cache.record("pretrained", scorer, model)
    else:
        tuned_outcomes = scorer.outcomes(model)
    tuned, tuned_drawn = resamples.scores(tuned_outcomes, scorer.score)
    base, base_drawn = _size0_score(spec, run, size0, reverter, scorer, resamples, s, rows_in, task_data.labels)
    found = [{"layer": None, "head": None, "mode": "none", "metric": "tuned_score", "value": tuned,
              **_ci(tuned_drawn)}]
    if base is not None:
        found.append({"layer": None, "head": None, "mode": "none", "metric": "size0_score", "value": base,
                      **_ci(base_drawn)})
    n_interventions, scored = 0, {}
    for mode, layer, head, reverted, patches in interventions(reverter, layers, heads):
        if reverted not in scored:  # the same model as an earlier intervention: the same outcomes, no second pass
            state, unchanged = ("pretrained", layer) if mode == "bottom_up" else ("tuned", max(layer - 1, 0))
            with swapped(patches), cache.reusing(state, unchanged) if cache is not None else \
                    contextlib.nullcontext():
                scored[reverted] = resamples.scores(scorer.outcomes(model, cache), scorer.score)
        score, drawn = scored[reverted]
        n_interventions += 1
        where = {"layer": layer, "head": head, "mode": mode}
        found.append({**where, "metric": "score", "value": score, **_ci(drawn)})
        lost, lost_drawn = _gain_lost(tuned, score, base), None
        if base is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                lost_drawn = (tuned_drawn - drawn) / (tuned_drawn - base_drawn)
        found.append({**where, "metric": "gain_lost", "value": lost,
                      **(_ci(lost_drawn) if lost_drawn is not None else {"ci_low": np.nan, "ci_high": np.nan})})
    found += _correlations(found, s, source)
    common = {"analysis": "revert", "task": spec.name, "model": source.name, "training_size": s.training_size,
              "seed": s.seed, "objective": s.objective, "split": s.split, "kind": source.kind,
              "score_name": scorer.name, "n_items": scorer.n_items, "truncated": scorer.truncated,
              "n_layers": reverter.n_layers, "n_heads": reverter.n_heads, "lora": run.lora,
              "data": task_data.source}
    rows = [{**common, **row} for row in found]
    seconds = {"load": round(loaded_s, 2), "interventions": round(time.perf_counter() - started, 2),
               "n_interventions": n_interventions, "n_passes": len(scored)}
    runstore.write_table(path, rows)
    runstore.write_sidecar(path, recorded, analysis="revert", table=path.name, task=spec.name, model=source.name,
                           training_size=s.training_size, seed=s.seed, layers=layers, heads=heads,
                           kv_shared=reverter.n_kv != reverter.n_heads, block_cache=cache is not None,
                           size0_from=_size0_what(run, size0), n_items=scorer.n_items, seconds=seconds,
                           environment=runstore.environment())
    return RevertResult(path, rows, tuned, seconds=seconds)


def _ci(drawn) -> dict:
    low, high = interval(np.asarray(drawn, dtype=float))
    return {"ci_low": low, "ci_high": high}


def _gain_lost(tuned: float, score: float, base: float | None) -> float:
    """(tuned - reverted) / (tuned - size 0); NaN without a size-0 score or a gain of 0."""
    if base is None or tuned == base:
        return float("nan")
    return (tuned - score) / (tuned - base)


def _tuned(rows: list[dict]) -> float:
    return next((float(row["value"]) for row in rows if row["metric"] == "tuned_score"), float("nan"))


def _size0_source(task: str, source, s):
    """The size-0 classifier run of the same model and seed when it exists (its untrained head is size 0's score),
    else None; an instruction run's size 0 is the released model, inside the run's own weights."""
    from bioprobe.probing.activations import Source

    if s.objective != "classifier":
        return None
    folder = runstore.checkpoint_dir(s.runs_dir, task, source.name, 0, s.seed)
    if not runstore.is_complete(folder):
        return None
    return Source(source.name, runstore.run_label(0, s.seed), source.kind, 0, folder, runstore.read_run(folder))


def _size0_what(run, size0) -> str:
    if run.record.head == "causal-lm":
        return "the released model (every weight reverted, the head included)"
    return f"the size-0 run {size0.checkpoint}" if size0 is not None else "none (no size-0 run: gain_lost is blank)"


def _size0_score(spec, run, size0, reverter, scorer, resamples, s, rows, labels):
    """Size 0's score on the same items and resamples, or `(None, None)`; a size-0 classifier run is scored as its
    own record says (CLS: its own decision thresholds), as its reported score is."""
    from bioprobe.causal.params import swapped
    from bioprobe.causal.score import scorer_for
    from bioprobe.finetune.checkpoints import load_finetuned

    if run.record.head == "causal-lm":
        with swapped(reverter.everything(head=True)):
            return resamples.scores(scorer.outcomes(run.tuned.model), scorer.score)
    if size0 is None:
        return None, None
    loaded = load_finetuned(s.runs_dir, spec.name, size0.name, 0, s.seed, device=s.device)
    own = scorer_for(spec, loaded, size0.record, size0.kind, rows, labels, s)
    return resamples.scores(own.outcomes(loaded.model), own.score)


def _correlations(found: list[dict], s, source) -> list[dict]:
    """Spearman correlation of each head's gain lost with the attention change (1 - cosine) and the importance of
    the same run's attention table (attention layer i is block i + 1 here), when that table exists."""
    from scipy.stats import spearmanr

    lost = {(row["layer"], row["head"]): row["value"] for row in found
            if row["metric"] == "gain_lost" and row["head"] is not None}
    table = runstore.results_path(s.runs_dir, "attention", s.task, source.name, s.training_size, s.seed, s.split,
                                  objective=s.objective)
    if len(lost) < 3 or not table.is_file():
        return []
    attention = runstore.read_table(table)
    out = []
    for metric, name, transform in (("cosine", "head_loss_change_spearman", lambda v: 1 - v),
                                    ("importance", "head_loss_importance_spearman", lambda v: v)):
        part = attention[attention["metric"] == metric]
        by_head = {(int(r.layer) + 1, int(r.head)): transform(float(r.value)) for r in part.itertuples()}
        keys = [key for key in lost if key in by_head and np.isfinite(lost[key])]
        if len(keys) >= 3:
            rho = spearmanr([lost[k] for k in keys], [by_head[k] for k in keys]).statistic
            out.append({"layer": None, "head": None, "mode": "none", "metric": name, "value": float(rho),
                        "ci_low": np.nan, "ci_high": np.nan, "n_heads_compared": len(keys)})
    return out
