"""Pretrained vs fine-tuned attention, head by head: both models run on the same batches and every layer's maps are
reduced to per-sentence statistics at once (`attention_statistics`); `compare_attention` is what the CLI calls."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.errors import BioprobeError
from bioprobe.tasks import get_task
from bioprobe.settings import AttentionSettings


@dataclass
class Statistics:
    """Per-sentence statistics of every layer and head, for each compared model.

    Attributes:
        values: `{key: {metric: [sentences, layers, heads]}}`, key = what the caller named each compared model.
        n_sentences: Sentences (or pairs) compared.
        forward_s: Seconds in inference passes (the reference once per batch, each compared model once per batch;
            a model whose pass is head importance's gradient pass counts in `extra["importance_s"]` instead).
        stats_s: Seconds reducing maps to statistics.
    """

    values: dict
    n_sentences: int
    forward_s: float = 0.0
    stats_s: float = 0.0
    tokens: int = 0
    extra: dict = field(default_factory=dict)


_NO_MAPS = ("{name} returned no attention maps; it needs an eager attention implementation that can output them "
            "(load with attn_implementation='eager').")


def _attentions(model, inputs: dict, name: str):
    outputs = model(**inputs, output_attentions=True)
    attentions = getattr(outputs, "attentions", None)
    if not attentions or any(a is None for a in attentions):
        raise BioprobeError(_NO_MAPS.format(name=name))
    return attentions


def attention_statistics(reference, models: dict, sequences: list[list[int]], pad_id: int, special_ids,
                         batch_tokens: int = 4096, metrics=None, reference_name: str = "pretrained",
                         type_ids: list[list[int]] | None = None, spans: dict | None = None,
                         importance: dict | None = None) -> Statistics:
    """Run `reference` and each of `models` on the same length-sorted batches; reduce every layer's maps at once.

    With `importance`, a model's pass over each batch is the gradient pass of its head importance (Michel et al.:
    `bioprobe.attention.importance.GateGradients`, gates fixed at 1), and the maps compared are that pass's, so the
    model runs once per batch for both; its scores are `extra["importance"][key]`, the same as `head_importance`
    gives on the same items (they are batched the same way).

    Args:
        reference: The pretrained model (eager attention).
        models: `{key: fine-tuned model}` (eager attention), compared with `reference` on every batch.
        sequences: Input ids of each sentence / pair, special tokens included.
        pad_id: Padding id.
        special_ids: Ids counted as special tokens: the structural ones the tokenizer adds ([CLS], [SEP], BOS; see
            `bioprobe.align.structural_special_ids`), not [UNK] or [MASK], which stand for words.
        batch_tokens: Padded tokens per forward pass.
        metrics: Names from `bioprobe.attention.stats.METRICS` to keep (default all).
        reference_name: How errors name the reference.
        type_ids: Token type ids per sequence (pair encoders), or None.
        spans: The task's own statistics (`Task.attention_inputs`): name -> per sequence a `(from, to)` pair of
            position masks; each becomes `<name>_a` / `<name>_b`, the mass from the first span to the second
            (`pair_mass`) in the reference and in the compared model.
        importance: `{key: LabelledItems}` (`bioprobe.attention.importance.labelled_items`) for the models whose
            head importance is computed in the same pass; their `input_ids` must be `sequences` (and `type_ids`
            theirs).

    Returns:
        The per-sentence statistics (sentences in length-sorted order, the same for every model) and where the time
        went (`forward_s`: inference passes; a shared gradient pass, forward and backward, counts in
        `extra["importance_s"][key]`).
    """
    import contextlib

    import torch
    from tqdm.auto import tqdm

    from bioprobe.attention.importance import GateGradients
    from bioprobe.attention.stats import METRICS
    from bioprobe.units import Unit, length_batches

    spans = spans or {}
    importance = importance or {}
    for key, items in importance.items():
        if not _same_inputs(items, sequences, type_ids):
            raise ValueError(f"The labelled items of {key} are not the compared sequences; importance cannot share "
                             "their pass.")
    metrics = tuple(metrics or METRICS)
    pair_metrics = tuple(f"{name}_{side}" for name in spans for side in "ab")
    device = next(reference.parameters()).device
    units = sorted((Unit([list(ids)], [list(type_ids[i])] if type_ids else None, [[]], [(i, 0)])
                    for i, ids in enumerate(sequences)), key=lambda u: -u.length)
    special = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
    parts: dict = {key: {m: [] for m in metrics + pair_metrics} for key in models}
    result = Statistics({}, len(sequences))
    seconds = {key: 0.0 for key in importance}
    with contextlib.ExitStack() as stack:
        gradients = {key: stack.enter_context(GateGradients(models[key])) for key in importance}
        for batch in tqdm(length_batches(units, batch_tokens), desc="Comparing attention", unit="batch",
                          leave=False):
            _compare_batch(batch, pad_id, reference, models, reference_name, spans, special, device, metrics,
                           pair_metrics, parts, result, gradients, importance, seconds)
    if importance:
        result.extra["importance"] = {key: g.scores() for key, g in gradients.items()}
        result.extra["importance_s"] = seconds
    result.values = {key: {m: np.concatenate(chunks) for m, chunks in per_metric.items()}
                     for key, per_metric in parts.items()}
    return result


def _compare_batch(batch, pad_id, reference, models, reference_name, spans, special, device, metrics, pair_metrics,
                   parts, result, gradients, importance, seconds) -> None:
    """One batch of `attention_statistics`: the reference's inference pass, each model's (inference or shared
    gradient) pass, and the reduction of every layer's maps, appended to `parts`."""
    import torch

    from bioprobe.attention.stats import layer_stats, pair_mass
    from bioprobe.units import collate

    inputs, _, _ = collate(batch, pad_id)
    real = inputs["attention_mask"].bool()
    width = real.shape[1]
    index = [unit.items[0][0] for unit in batch]
    masks = {name: [torch.stack([_padded(per[i][side], width) for i in index]) for side in (0, 1)]
             for name, per in spans.items()}
    is_special = torch.isin(inputs["input_ids"], special) & real
    result.tokens += int(real.sum())
    inputs = {k: v.to(device) for k, v in inputs.items()}
    real, is_special = real.to(device), is_special.to(device)
    with torch.inference_mode():
        started = time.perf_counter()
        maps_a = _attentions(reference, inputs, reference_name)
        result.forward_s += time.perf_counter() - started
    for key, model in models.items():
        started = time.perf_counter()
        if key in gradients:
            maps_b = gradients[key].step(inputs, importance[key].gold(index, width), attentions=True)
            if maps_b is None:
                raise BioprobeError(_NO_MAPS.format(name=key))
            seconds[key] += time.perf_counter() - started
        else:
            with torch.inference_mode():
                maps_b = _attentions(model, inputs, str(key))
            result.forward_s += time.perf_counter() - started
        started = time.perf_counter()
        with torch.inference_mode():
            per_layer = [layer_stats(a, b, real, is_special) for a, b in zip(maps_a, maps_b)]
            for m in metrics:
                parts[key][m].append(torch.stack([stats[m] for stats in per_layer], dim=1).cpu().numpy())
            for name, (source, target) in masks.items():
                for side, maps in (("a", maps_a), ("b", maps_b)):
                    parts[key][f"{name}_{side}"].append(torch.stack(
                        [pair_mass(m, source, target) for m in maps], dim=1).cpu().numpy())
        result.stats_s += time.perf_counter() - started


MAP_TOKENS = (8, 48)
"""Shortest and longest items whose whole attention maps are kept (`attention_maps`): long enough to show structure,
short enough that every head of a 30-layer model fits a report."""


def maps_path(table: Path) -> Path:
    """Where the attention maps kept with an attention table are stored (`<table stem>.maps.npz`)."""
    return table.with_name(table.stem + ".maps.npz")


def attention_maps(reference, models: dict, sequences: list[list[int]], tokenizer, n: int,
                   type_ids: list[list[int]] | None = None) -> dict:
    """The whole attention maps of the `n` shortest items of `MAP_TOKENS` length, from the reference and each model.

    Returns:
        `{"items": [index, ...], "tokens": [[token, ...], ...], "reference": [[layers, heads, T, T] float16, ...],
        key: [...]}` for each key of `models`; empty lists when no item has a fitting length.
    """
    import torch

    low, high = MAP_TOKENS
    fitting = sorted((len(ids), i) for i, ids in enumerate(sequences) if low <= len(ids) <= high)
    chosen = [i for _, i in fitting[:n]]
    kept = {"items": chosen, "tokens": [tokenizer.convert_ids_to_tokens(list(sequences[i])) for i in chosen],
            "reference": [], **{key: [] for key in models}}
    device = next(reference.parameters()).device
    for i in chosen:
        inputs = {"input_ids": torch.tensor([sequences[i]], device=device),
                  "attention_mask": torch.ones(1, len(sequences[i]), dtype=torch.long, device=device)}
        if type_ids:
            inputs["token_type_ids"] = torch.tensor([type_ids[i]], device=device)
        with torch.inference_mode():
            for key, model in (("reference", reference), *models.items()):
                maps = _attentions(model, inputs, str(key))
                kept[key].append(torch.stack([m[0] for m in maps]).float().cpu().numpy().astype(np.float16))
    return kept


def write_maps(path: Path, kept: dict, key) -> None:
    """Store the maps of the reference and of `key`'s model (one attention table's run) as `maps_path(path)`."""
    arrays = {}
    for k, item in enumerate(kept["items"]):
        arrays[f"tokens_{k}"] = np.asarray(kept["tokens"][k], dtype=str)
        arrays[f"reference_{k}"] = kept["reference"][k]
        arrays[f"tuned_{k}"] = kept[key][k]
    with runstore.atomic(maps_path(path)) as partial, open(partial, "wb") as handle:
        np.savez_compressed(handle, item=np.asarray(kept["items"], dtype=np.int64), **arrays)


def read_maps(path: Path) -> list[dict]:
    """The maps stored by `write_maps`: per item `{"item", "tokens", "reference", "tuned"}` ([layers, heads, T, T])."""
    with np.load(path) as stored:
        return [{"item": int(item), "tokens": [str(t) for t in stored[f"tokens_{k}"]],
                 "reference": stored[f"reference_{k}"], "tuned": stored[f"tuned_{k}"]}
                for k, item in enumerate(stored["item"])]


def _same_inputs(items, sequences: list[list[int]], type_ids: list[list[int]] | None) -> bool:
    """Whether head importance's labelled items are the compared sequences (same ids, same token types), so that its
    gradient pass can give the compared maps."""
    if [list(ids) for ids in items.input_ids] != [list(ids) for ids in sequences]:
        return False
    if not items.type_ids or not type_ids:
        return not items.type_ids and not type_ids
    return [list(t) for t in items.type_ids] == [list(t) for t in type_ids]


def _padded(mask, width: int):
    """A position mask of one sequence, padded with False to the batch width (padding is on the right)."""
    import torch

    out = torch.zeros(width, dtype=torch.bool)
    out[:len(mask)] = torch.as_tensor(np.asarray(mask, dtype=bool))
    return out


@dataclass
class AttentionResult:
    """What `compare_attention` wrote: one table per fine-tuned size, and the figures."""

    tables: list[Path]
    rows: list[dict]
    figures: list[Path]
    statistics: Statistics | None
    reused: bool = False


def _inputs(task: str, rows, tokenizer, kind: str, max_length: int, prompt: tuple | None = None,
            labels: tuple[str, ...] = ()):
    """Input ids (and token type ids of pair encoders) per item, encoded as fine-tuning encodes them
    (`Task.attention_inputs`; or, with `prompt` = `(template, seed, row indices)`, inside their seeded instruction
    prompts), how many items were truncated, and the position masks of the task's own statistics."""
    from bioprobe.tasks import get_task

    spec = get_task(task)
    columns = rows[:]  # every column as lists, read once
    if prompt is not None:
        from bioprobe.probing.extract import plan_in_prompt

        template, seed, chosen = prompt
        plan = plan_in_prompt(task, columns, chosen, tokenizer, spec.prompt_poolings[0], max_length, template, seed,
                              labels)
        by_item = sorted(plan.units, key=lambda unit: unit.items[0][0] if unit.items else 0)
        return [unit.sequences[0] for unit in by_item], None, plan.n_truncated, {}
    return spec.attention_inputs(columns, tokenizer, kind, max_length)


def compare_attention(settings: AttentionSettings | None = None, *, n_boot: int = 1000, figures: bool = True,
                      **fields) -> AttentionResult:
    """Compare the attention of each tuned model with a reference model's (the pretrained one), head by head.

    Per layer and head, over real tokens (padding masked, causal structure as the model gives it): cosine of the
    flattened maps (the study's metric), Jensen-Shannon divergence of corresponding rows, entropy of each model and
    its change, attention mass on the structural special tokens ([CLS], [SEP], BOS: `structural_special_ids`; an
    [UNK] is a word) and on the same / previous / next token; mean over sentences with a 95 % bootstrap interval.
    With `importance`, Michel et al. (2019) head importance of each tuned model on the same items (an instruction-
    tuned model: from the loss on the gold answer inside its prompt), and the rank correlation of importance with the
    attention change (1 - cosine). Instruction-tuned runs (`objective="instruct"`) are compared with their base;
    `reference` names another model of the same tokenizer instead (e.g. llama2 for llama2-medtuned, whose size 0 is
    then the released model itself). LoRA runs of the reference are held as adapters of one copy of it
    (`load_lora_runs`: the reference is that copy with every adapter off), not as a merged model per run.

    Args:
        settings: What to compare (`bioprobe.settings.AttentionSettings`; or its fields as keyword arguments).
        n_boot: Bootstrap resamples.
        figures: Redraw the attention figures afterwards.
        **fields: Settings fields (used when `settings` is None, or as changes to it).

    Returns:
        The tables written (or reused), their rows and the statistics (None when reused).
    """
    from bioprobe.attention.stats import METRICS, bootstrap_mean
    from bioprobe.align import structural_special_ids
    from bioprobe.data import data_key, load_task_data
    from bioprobe.models import load_model, wants_four_bit
    from bioprobe.registry import MODELS, resolve_model
    from bioprobe.settings import build, values
    from bioprobe.finetune.checkpoints import load_finetuned, load_lora_runs
    from bioprobe.probing.activations import _fingerprint, _select, find_source, run_data

    began, began_at = time.perf_counter(), time.time()
    s = build(AttentionSettings, fields, "compare_attention") if settings is None else settings.replace(**fields)
    spec = get_task(s.task)
    sizes = s.sizes()
    metrics = list(s.metrics or METRICS)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise BioprobeError(f"Unknown attention metric '{unknown[0]}'; choose from {', '.join(METRICS)}.")
    sources = {size: find_source(spec.name, s.model_name, size, s.seed, s.runs_dir, None, s.objective)
               for size in sizes}
    tuned = next((source for source in sources.values() if source.record is not None), None)
    first = sources[sizes[0]]
    data = run_data(tuned, s.data) if tuned is not None else s.data
    if s.reference:
        reference_model = resolve_model(s.reference)
    elif tuned is not None:
        base = tuned.record.model
        reference_model = resolve_model(base if base in MODELS else tuned.record.model_source)
    else:
        reference_model = resolve_model(s.model_name)
    variant = "-".join(filter(None, [s.split, "in-prompt" if s.in_prompt else None,
                                     f"vs-{reference_model.name}" if s.reference else None]))
    paths = {size: runstore.results_path(s.runs_dir, "attention", spec.name, first.name, size, s.seed, variant,
                                         objective=s.objective) for size in sizes}
    recorded = {**values(s, ("eval",)), "training_size": None, "training_sizes": None,
                "data": data_key(spec.name, data),
                "metrics": metrics, "n_boot": n_boot, "reference": reference_model.source,
                "importance": s.importance and not (s.objective == "classifier" and 0 in sizes)}
    fingerprints = {size: _fingerprint(source, s.model_name, s.seed) for size, source in sources.items()}
    if all(runstore.reusable(path, {**recorded, "fingerprint": fingerprints[size]}, s.overwrite)
           for size, path in paths.items()):
        rows_read = [row for path in paths.values() for row in runstore.read_table(path).to_dict("records")]
        return AttentionResult(list(paths.values()), rows_read, _draw(s.runs_dir) if figures else [], None,
                               reused=True)
    labels = s.labels or (tuple(tuned.record.request["labels"]) if tuned is not None and
                          tuned.record.request.get("labels") else None)
    task_data = load_task_data(spec.name, data, labels)
    rows = task_data.splits[s.split]
    if len(rows) == 0:
        raise BioprobeError(f"The {s.split} split of {task_data.source} is empty; there is nothing to compare.")
    chosen = _select(len(rows), s.limit, s.seed)
    rows = rows.select(chosen)

    shared = None  # LoRA runs of the reference: its weights once, each run an adapter of it
    if not s.reference and all(source.record is not None and source.record.four_bit == wants_four_bit(reference_model)
                               for source in sources.values()):
        shared = load_lora_runs(s.runs_dir, spec.name, first.name, sizes, s.seed, eager_attention=True,
                                device=s.device, objective=s.objective)
    if shared is not None:
        reference, models = shared
    else:
        reference = load_model(reference_model, head="base", eager_attention=True, device=s.device,
                               four_bit=wants_four_bit(reference_model))
        head = "causal-lm" if s.objective == "instruct" else "base"
        models = {}
        for size, source in sources.items():
            if source.record is not None:
                models[size] = load_finetuned(s.runs_dir, spec.name, first.name, size, s.seed, eager_attention=True,
                                              device=s.device, merge=True, objective=s.objective)
            else:  # size 0 against an explicit reference: the model as released
                own = resolve_model(s.model_name)
                models[size] = load_model(own, head=head, eager_attention=True, device=s.device,
                                          four_bit=wants_four_bit(own))
    tokenizer = reference.tokenizer
    for size, loaded in models.items():
        added = sources[size].record.added_tokens if sources[size].record is not None else None
        if added:
            raise BioprobeError(f"The {size} % run of {first.name} added the tokens {' '.join(added)} "
                                "(--entity-markers tokens), which the pretrained model lacks, so their attention "
                                "maps cannot be compared position by position; tune with --entity-markers text to "
                                "compare attention.")
        if loaded.tokenizer.get_vocab() != tokenizer.get_vocab():
            raise BioprobeError(f"{reference_model.name} and {first.name} do not share a tokenizer, so their attention "
                                "maps cannot be compared position by position; pick a reference of the same family.")
    template = (tuned.record.template if tuned is not None else None) or "medtuned"
    sequences, type_ids, truncated, masks = _inputs(spec.name, rows, tokenizer, first.kind, s.length,
                                                    (template, s.seed, chosen) if s.in_prompt else None,
                                                    task_data.labels)
    loaded_s = time.perf_counter() - began  # data, models, tokenising
    scores, seconds, passes = {}, {}, {}
    if recorded["importance"]:  # before any inference-mode pass: bitsandbytes repacks 4-bit weights there
        from bioprobe.attention.importance import head_importance, labelled_items

        instructions = {"template": template, "seed": s.seed, "labels": task_data.labels} \
            if s.objective == "instruct" else None
        for size, loaded in models.items():
            started = time.perf_counter()
            if instructions is None and not s.in_prompt:
                items = labelled_items(spec.name, loaded, rows, s.length)
                if _same_inputs(items, sequences, type_ids):  # importance's gradient pass gives the tuned maps
                    passes[size] = items
                    seconds[size] = time.perf_counter() - started
                    continue
            scores[size] = head_importance(spec.name, loaded, rows,
                                           s.prompt_length if instructions else s.length, s.batch_tokens,
                                           instructions=instructions)
            seconds[size] = round(time.perf_counter() - started, 2)
    stats = attention_statistics(reference.model, {size: loaded.model for size, loaded in models.items()},
                                 sequences, tokenizer.pad_token_id, structural_special_ids(tokenizer),
                                 s.batch_tokens, metrics, reference_name=f"{reference_model.name} (reference)",
                                 type_ids=type_ids, spans=masks, importance=passes)
    for size in passes:
        scores[size] = stats.extra["importance"][size]
        seconds[size] = round(seconds[size] + stats.extra["importance_s"][size], 2)
    started = time.perf_counter()
    kept = attention_maps(reference.model, {size: loaded.model for size, loaded in models.items()}, sequences,
                          tokenizer, s.maps, type_ids) if s.maps else None
    maps_s = time.perf_counter() - started
    importance_rows = {}
    if recorded["importance"]:
        from bioprobe.attention.importance import importance_rows as rank_rows

        for size in sizes:
            change = 1 - np.nanmean(stats.values[size]["cosine"], axis=0) if "cosine" in stats.values[size] else None
            importance_rows[size] = rank_rows(scores[size], change)
        stats.extra["importance_s"] = seconds

    tables, all_rows = [], []
    common = {"analysis": "attention", "task": spec.name, "model": first.name, "seed": s.seed, "split": s.split,
              "objective": s.objective, "in_prompt": s.in_prompt, "reference": reference_model.name,
              "kind": first.kind, "n_sentences": stats.n_sentences, "truncated": truncated,
              "data": task_data.source}
    for size in sizes:
        out = []
        for metric, per_sentence in stats.values[size].items():
            mean, low, high = bootstrap_mean(per_sentence, n_boot=n_boot, seed=s.seed)
            n_layers, n_heads = mean.shape
            for layer in range(n_layers):
                for head_index in range(n_heads):
                    out.append({"layer": layer, "head": head_index, "metric": metric,
                                "value": float(mean[layer, head_index]), "ci_low": float(low[layer, head_index]),
                                "ci_high": float(high[layer, head_index])})
        out += importance_rows.get(size, [])
        out = [{**common, "training_size": size, "n_layers": n_layers, "n_heads": n_heads, **row} for row in out]
        path = paths[size]
        runstore.write_table(path, out)
        maps_path(path).unlink(missing_ok=True)
        if kept and kept["items"]:
            write_maps(path, kept, size)
        runstore.write_sidecar(
            path, {**recorded, "fingerprint": fingerprints[size]},
            analysis="attention", table=path.name, task=spec.name, model=first.name, training_size=size,
            seed=s.seed, split=s.split, limit=s.limit, max_length=s.length, metrics=list(stats.values[size]),
            n_sentences=stats.n_sentences, truncated=truncated, data=task_data.source,
            sample=chosen if s.limit else None,
            started_at=began_at,
            seconds={"load": round(loaded_s, 2), "forward": round(stats.forward_s, 2),
                     "statistics": round(stats.stats_s, 2), "maps": round(maps_s, 2),
                     **({"importance": stats.extra["importance_s"][size]} if recorded["importance"] else {})},
            **({"importance_pass": "shared" if size in passes else "separate"} if recorded["importance"] else {}),
            base_weights="held once, each run an adapter" if shared is not None else "loaded per model",
            environment=runstore.environment())
        tables.append(path)
        all_rows += out
    return AttentionResult(tables, all_rows, _draw(s.runs_dir) if figures else [], stats)


def _draw(runs_dir) -> list[Path]:
    """Redraw the attention figures from every attention table of the runs dir."""
    from bioprobe.figures import attention_figures

    return attention_figures(runstore.read_tables(runs_dir, "attention"), runstore.runs_dir(runs_dir) / "figures")
