"""Pretrained vs fine-tuned attention, head by head: both models run on the same batches and every layer's maps are
reduced to per-sentence statistics at once (`attention_statistics`); `compare_attention` is what the CLI calls."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.errors import BioprobeError
from bioprobe.registry import get_task


@dataclass
class Statistics:
    """Per-sentence statistics of every layer and head, for each compared model.

    Attributes:
        values: `{key: {metric: [sentences, layers, heads]}}`, key = what the caller named each compared model.
        n_sentences: Sentences (or pairs) compared.
        forward_s: Seconds in forward passes (the reference once per batch, each compared model once per batch).
        stats_s: Seconds reducing maps to statistics.
    """

    values: dict
    n_sentences: int
    forward_s: float = 0.0
    stats_s: float = 0.0
    tokens: int = 0
    extra: dict = field(default_factory=dict)


def parse_sizes(text: str | int | None) -> list[int]:
    """"10,30,50,100" -> [10, 30, 50, 100]; each a training size 1-100 (0 is the reference itself).

    Raises:
        BioprobeError: for a list that does not parse or a size outside 1-100.
    """
    if text is None or str(text).strip() == "":
        raise BioprobeError("Give the fine-tuned models to compare, e.g. --training_sizes 10,30,50,100.")
    try:
        sizes = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise BioprobeError(f"--training_sizes '{text}' does not parse; give percentages like 10,30,50,100.") \
            from None
    bad = [size for size in sizes if not 1 <= size <= 100]
    if not sizes or bad:
        raise BioprobeError(f"--training_sizes '{text}' must list fine-tuned sizes from 1 to 100 (the pretrained "
                            "model, size 0, is what they are compared with).")
    return sorted(dict.fromkeys(sizes))


def _attentions(model, inputs: dict, name: str):
    outputs = model(**inputs, output_attentions=True)
    attentions = getattr(outputs, "attentions", None)
    if not attentions or any(a is None for a in attentions):
        raise BioprobeError(f"{name} returned no attention maps; it needs an eager attention implementation that "
                            "can output them (load with attn_implementation='eager').")
    return attentions


def attention_statistics(reference, models: dict, sequences: list[list[int]], pad_id: int, special_ids,
                         batch_tokens: int = 4096, metrics=None, reference_name: str = "pretrained",
                         type_ids: list[list[int]] | None = None) -> Statistics:
    """Run `reference` and each of `models` on the same length-sorted batches; reduce every layer's maps at once.

    Args:
        reference: The pretrained model (eager attention).
        models: `{key: fine-tuned model}` (eager attention), compared with `reference` on every batch.
        sequences: Input ids of each sentence / pair, special tokens included.
        pad_id: Padding id.
        special_ids: Ids counted as special tokens ([CLS], [SEP], BOS, ...).
        batch_tokens: Padded tokens per forward pass.
        metrics: Names from `attention.stats.METRICS` to keep (default all).
        reference_name: How errors name the reference.
        type_ids: Token type ids per sequence (pair encoders), or None.

    Returns:
        The per-sentence statistics (sentences in length-sorted order, the same for every model) and where the time
        went.
    """
    import torch
    from tqdm.auto import tqdm

    from attention.stats import METRICS, layer_stats
    from probing.extract import Unit, _collate, length_batches

    metrics = tuple(metrics or METRICS)
    device = next(reference.parameters()).device
    units = sorted((Unit([list(ids)], [list(type_ids[i])] if type_ids else None, [[]], [(i, 0)])
                    for i, ids in enumerate(sequences)), key=lambda u: -u.length)
    special = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
    parts: dict = {key: {m: [] for m in metrics} for key in models}
    result = Statistics({}, len(sequences))
    for batch in tqdm(length_batches(units, batch_tokens), desc="Comparing attention", unit="batch", leave=False):
        inputs, _, _ = _collate(batch, pad_id, 1)
        real = inputs["attention_mask"].bool()
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
                maps_b = _attentions(model, inputs, str(key))
                result.forward_s += time.perf_counter() - started
                started = time.perf_counter()
                per_layer = [layer_stats(a, b, real, is_special) for a, b in zip(maps_a, maps_b)]
                for m in metrics:
                    parts[key][m].append(torch.stack([stats[m] for stats in per_layer], dim=1).cpu().numpy())
                result.stats_s += time.perf_counter() - started
    result.values = {key: {m: np.concatenate(chunks) for m, chunks in per_metric.items()}
                     for key, per_metric in parts.items()}
    return result


@dataclass
class AttentionResult:
    """What `compare_attention` wrote: one table per fine-tuned size, and the figures."""

    tables: list[Path]
    rows: list[dict]
    figures: list[Path]
    statistics: Statistics | None
    reused: bool = False


def _inputs(task: str, rows, tokenizer, kind: str, max_length: int):
    """Input ids (and token type ids of pair encoders) per sentence / pair, encoded as fine-tuning encodes them,
    and how many sentences / pairs were truncated."""
    import datasets

    from bioprobe.align import encode_words
    from finetune.encode import encode_nli

    if task == "ner":
        encodings = [encode_words(tokenizer, words, max_length=max_length) for words in rows["tokens"]]
        return [e.input_ids for e in encodings], None, sum(e.n_truncated_words > 0 for e in encodings)
    pairs = datasets.Dataset.from_dict({"premise": rows["premise"], "hypothesis": rows["hypothesis"],
                                        "label": ["entailment"] * len(rows)})
    encoded = encode_nli(pairs, tokenizer, ("entailment",), max_length, kind)
    types = encoded["token_type_ids"] if "token_type_ids" in encoded.column_names else None
    return encoded["input_ids"], types, int(sum(encoded["truncated"]))


def compare_attention(task: str, model_name: str, training_sizes, data: str | None = None, split: str = "test",
                      limit: int | None = None, metrics=None, runs_dir=None, seed: int = 42, max_length: int = 128,
                      batch_tokens: int = 4096, device: str | None = None, importance: bool = True,
                      n_boot: int = 1000, figures: bool = True, overwrite: bool = False) -> AttentionResult:
    """Compare the attention of each fine-tuned model with the pretrained model's, head by head.

    Per layer and head, over real tokens (padding masked, causal structure as the model gives it): cosine of the
    flattened maps (the study's metric), Jensen-Shannon divergence of corresponding rows, entropy of each model and
    its change, attention mass on special tokens and on the same / previous / next token; mean over sentences with a
    95 % bootstrap interval. With `importance`, Michel et al. (2019) head importance of each fine-tuned model on the
    same items, and the rank correlation of importance with the attention change (1 - cosine).

    Args:
        task: "ner" or "nli".
        model_name: Registry name, hub id or local folder (as given to `bioprobe finetune`).
        training_sizes: Fine-tuned sizes, e.g. "10,30,50,100" or [10, 30].
        data: Data source (default: the data the checkpoints were tuned on).
        split: Split whose sentences are compared.
        limit: A seeded sample of this many sentences / pairs.
        metrics: Subset of `attention.stats.METRICS` (default all).
        runs_dir: The runs dir.
        seed: Seed of the fine-tuning runs, the sample and the bootstrap.
        max_length: Longest input; longer ones are truncated and counted.
        batch_tokens: Padded tokens per forward pass.
        device: cpu or cuda.
        importance: Compute head importance.
        n_boot: Bootstrap resamples.
        figures: Redraw the attention figures afterwards.
        overwrite: Compare again even when every table exists for these settings and checkpoints.

    Returns:
        The tables written (or reused), their rows and the statistics (None when reused).
    """
    from attention.stats import METRICS, bootstrap_mean
    from bioprobe.data import load_task_data
    from bioprobe.models import load_model
    from bioprobe.registry import MODELS, resolve_model
    from finetune.checkpoints import load_finetuned
    from probing.activations import _select, find_source

    spec = get_task(task)
    sizes = parse_sizes(training_sizes if not isinstance(training_sizes, (list, tuple)) else
                        ",".join(map(str, training_sizes)))
    unknown = [m for m in (metrics or ()) if m not in METRICS]
    if unknown:
        raise BioprobeError(f"Unknown attention metric '{unknown[0]}'; choose from {', '.join(METRICS)}.")
    sources = {size: find_source(spec.name, model_name, size, seed, runs_dir, None) for size in sizes}
    first = sources[sizes[0]]
    request = first.record.get("request", {})
    data = data if data is not None else request.get("data")
    from bioprobe.data import data_key
    from probing.activations import _fingerprint

    paths = {size: runstore.results_path(runs_dir, "attention", spec.name, first.name, size, seed, split)
             for size in sizes}
    settings = {"data": data_key(spec.name, data), "split": split, "limit": limit, "max_length": max_length,
                "metrics": list(metrics or METRICS), "importance": importance, "n_boot": n_boot}
    fingerprints = {size: _fingerprint(source, model_name, seed) for size, source in sources.items()}
    if not overwrite and all(_current(path, {**settings, "fingerprint": fingerprints[size]})
                             for size, path in paths.items()):
        import pandas as pd

        rows_read = [row for path in paths.values() for row in pd.read_csv(path).to_dict("records")]
        drawn = _draw(runs_dir) if figures else []
        return AttentionResult(list(paths.values()), rows_read, drawn, None, reused=True)
    labels = tuple(request["labels"]) if request.get("labels") else None
    task_data = load_task_data(spec.name, data, labels)
    if split not in task_data.splits:
        raise BioprobeError(f"Unknown split '{split}'; use train, validation or test.")
    rows = task_data.splits[split]
    if len(rows) == 0:
        raise BioprobeError(f"The {split} split of {task_data.source} is empty; there is nothing to compare.")
    chosen = _select(len(rows), limit, seed)
    rows = rows.select(chosen)

    base = first.record["model"]
    resolved = resolve_model(base if base in MODELS else first.record["model_source"])
    registered = MODELS.get(resolved.name)
    reference = load_model(resolved, head="base", eager_attention=True, device=device,
                           four_bit=bool(registered and registered.four_bit))
    models = {size: load_finetuned(runs_dir, spec.name, first.name, size, seed, eager_attention=True,
                                   device=device, merge=True) for size in sizes}
    tokenizer = reference.tokenizer
    sequences, type_ids, truncated = _inputs(spec.name, rows, tokenizer, first.kind, max_length)
    scores, seconds = {}, {}
    if importance:  # before any inference-mode pass: bitsandbytes repacks 4-bit weights for CPU inference there
        from attention.importance import head_importance

        for size, loaded in models.items():
            started = time.perf_counter()
            scores[size] = head_importance(spec.name, loaded, rows, max_length, batch_tokens)
            seconds[size] = round(time.perf_counter() - started, 2)
    stats = attention_statistics(reference.model, {size: loaded.model for size, loaded in models.items()},
                                 sequences, tokenizer.pad_token_id, tokenizer.all_special_ids, batch_tokens,
                                 metrics, reference_name=f"{first.name} (pretrained)", type_ids=type_ids)
    importance_rows = {}
    if importance:
        from attention.importance import importance_rows as rank_rows

        for size in sizes:
            change = 1 - np.nanmean(stats.values[size]["cosine"], axis=0) if "cosine" in stats.values[size] else None
            importance_rows[size] = rank_rows(scores[size], change)
        stats.extra["importance_s"] = seconds

    tables, all_rows = [], []
    common = {"analysis": "attention", "task": spec.name, "model": first.name, "seed": seed, "split": split,
              "kind": first.kind, "n_sentences": stats.n_sentences, "truncated": truncated,
              "data": task_data.source}
    for size in sizes:
        out = []
        for metric, values in stats.values[size].items():
            mean, low, high = bootstrap_mean(values, n_boot=n_boot, seed=seed)
            n_layers, n_heads = mean.shape
            for layer in range(n_layers):
                for head in range(n_heads):
                    out.append({"layer": layer, "head": head, "metric": metric, "value": float(mean[layer, head]),
                                "ci_low": float(low[layer, head]), "ci_high": float(high[layer, head])})
        out += importance_rows.get(size, [])
        out = [{**common, "training_size": size, "n_layers": n_layers, "n_heads": n_heads, **row} for row in out]
        path = paths[size]
        runstore.write_table(path, out)
        runstore.write_json(path.with_suffix(".json"), {
            "settings": {**settings, "fingerprint": fingerprints[size]},
            "analysis": "attention", "table": path.name, "task": spec.name, "model": first.name,
            "training_size": size, "seed": seed, "split": split, "limit": limit, "max_length": max_length,
            "metrics": list(stats.values[size]), "n_sentences": stats.n_sentences, "truncated": truncated,
            "data": task_data.source, "sample": chosen if limit else None,
            "seconds": {"forward": round(stats.forward_s, 2), "statistics": round(stats.stats_s, 2),
                        **({"importance": stats.extra["importance_s"][size]} if importance else {})},
            "environment": runstore.environment()})
        tables.append(path)
        all_rows += out
    return AttentionResult(tables, all_rows, _draw(runs_dir) if figures else [], stats)


def _current(path: Path, settings: dict) -> bool:
    """Whether a table exists and was made with these settings from these checkpoints."""
    sidecar = path.with_suffix(".json")
    return path.is_file() and sidecar.is_file() and runstore.read_json(sidecar).get("settings") == settings


def _draw(runs_dir) -> list[Path]:
    """Redraw the attention figures from every attention table of the runs dir."""
    from bioprobe.figures import attention_figures

    return attention_figures(runstore.read_tables(runs_dir, "attention"), runstore.runs_dir(runs_dir) / "figures")
