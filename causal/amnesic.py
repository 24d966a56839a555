"""Amnesic probing (`bioprobe amnesic`; Elazar et al. 2021, with LEACE): is what the probe finds used? At each layer the
probed concept is erased from the tuned model's hidden states during its forward pass, and the test items are scored;
the drop is set against erasing a random subspace of the same rank."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.causal.score import Resamples, interval, scored_items, scorer_for
from bioprobe.errors import BioprobeError
from bioprobe.settings import AmnesicSettings


@dataclass
class AmnesicResult:
    """What `run_amnesic` wrote."""

    table: Path
    rows: list[dict]
    tuned_score: float
    reused: bool = False


def run_amnesic(settings: AmnesicSettings | None = None, *, n_boot: int = 1000, **fields) -> AmnesicResult:
    """Erase the probed concept (NER: each word's entity type; NLI, RE: the label; CLS: the label set) at each layer
    and score the test items (`bioprobe amnesic`).

    Per layer: a LEACE eraser fitted on the train split's cached vectors of the same model (the probes' items and
    pooling; inside the instruction prompts for an instruction run), applied to every position of that hidden-state
    layer (0 = embeddings, l = after block l) in the forward pass; its control removes a random subspace of the same
    rank about the same mean. Rows: the score after erasure, `score_drop` (tuned minus erased), `control_drop`,
    `drop_beyond_control` (their difference), each with a paired 95 % bootstrap interval over test items, and
    `probe_accuracy_erased`: a logistic probe trained and tested on erased vectors (at `probe_chance`, the majority
    class's share, when erasure worked). Size 0 with `--objective instruct` is the released model, scored by answer
    log-likelihood.

    Args:
        settings: Which run, layers and items (`bioprobe.settings.AmnesicSettings`; or its fields as keywords).
        n_boot: Bootstrap resamples.
        **fields: Settings fields (used when `settings` is None, or as changes to it).

    Returns:
        The table written (or reused) and its rows.
    """
    from bioprobe.causal import params
    from bioprobe.causal.erase import erasing, fit_leace, last_layer_module, random_eraser, rank_of
    from bioprobe.causal.runs import find_run, load_run
    from bioprobe.probing.activations import find_source, get_activations, run_data, sharing_models
    from bioprobe.probing.run import parse_layers
    from bioprobe.settings import build, values
    from bioprobe.tasks import get_task

    s = build(AmnesicSettings, fields, "run_amnesic") if settings is None else settings.replace(**fields)
    spec = get_task(s.task)
    if not spec.poolings:
        raise BioprobeError(f"{spec.title} has no probe labels, so there is no probed concept to erase.")
    released = s.training_size == 0
    if released and s.objective != "instruct":
        raise BioprobeError("Size 0 of a classifier is an untrained head, with nothing to score; at size 0 amnesic "
                            "probing reads the released model of a decoder (--objective instruct).")
    source = find_source(spec.name, s.model_name, 0, s.seed, s.runs_dir, None) if released else \
        find_run(spec.name, s.model_name, s.training_size, s.seed, s.runs_dir, s.objective)
    if released and source.kind != "decoder":
        raise BioprobeError(f"{source.name} is an encoder without a language-model head; amnesic probing at size 0 "
                            "reads a decoder's released model.")
    in_prompt = s.objective == "instruct"
    pooling = s.pooling or (spec.prompt_poolings[0] if in_prompt else spec.default_pooling)
    data = run_data(source, s.data)
    template = (source.record.template if source.record is not None else None) or "medtuned"
    extract = _extract_settings(s, pooling, in_prompt, data)
    with sharing_models():
        train, test = (get_activations(extract, split=split, template=template) for split in ("train", s.split))
    path = runstore.results_path(s.runs_dir, "amnesic", spec.name, source.name, s.training_size, s.seed, s.split,
                                 objective=s.objective)
    recorded = {**values(s, ("eval",)), "data": data, "pooling": pooling, "n_boot": n_boot,
                "fingerprints": [train.meta["fingerprint"], test.meta["fingerprint"]]}
    if runstore.reusable(path, recorded, s.overwrite):
        rows = runstore.read_table(path).to_dict("records")
        return AmnesicResult(path, rows, next(float(r["value"]) for r in rows if r["metric"] == "tuned_score"),
                             reused=True)

    started = time.perf_counter()
    if released:
        from bioprobe.models import load_model, wants_four_bit
        from bioprobe.registry import resolve_model

        resolved = resolve_model(s.model_name)
        loaded, record = load_model(resolved, head="causal-lm", device=s.device,
                                    four_bit=wants_four_bit(resolved)), None
    else:
        loaded, record = load_run(source, s.runs_dir, s.seed, s.device, pretrained=False).tuned, source.record
    model = loaded.model
    rows_in, task_data = scored_items(spec, data, s, record)
    scorer = scorer_for(spec, loaded, record, source.kind, rows_in, task_data.labels, s)
    layers = parse_layers(s.layers, train.n_layers, source.name)
    last = last_layer_module(model, {k: v for k, v in scorer.batches[0][0].items() if k != "labels"}) \
        if train.n_layers in layers else None
    resamples = Resamples.draw(scorer.n_items, n_boot, s.seed)
    tuned, tuned_drawn = resamples.scores(scorer.outcomes(model), scorer.score)
    found = [{"layer": None, "metric": "tuned_score", "value": tuned, **_ci(tuned_drawn)}]
    gold_train, gold_test = spec.probe_labels(train.label, False), spec.probe_labels(test.label, False)
    hidden = params.unwrap(model).config.hidden_size
    blocks = train.features.shape[-1] // hidden  # RE's entity pair, NLI's separate-mean: vectors of several positions
    for layer in layers:
        features = _positions(train.features[layer], hidden)
        eraser = fit_leace(features, np.repeat(np.asarray(gold_train), blocks))
        rank = rank_of(eraser)
        control = random_eraser(hidden, rank, eraser.bias, s.seed + layer)
        scored = {}
        for name, chosen in (("erased", eraser), ("control", control)):
            with erasing(model, layer, chosen, last):
                scored[name] = resamples.scores(scorer.outcomes(model), scorer.score)
        (score, drawn), (kept, kept_drawn) = scored["erased"], scored["control"]
        where = {"layer": layer, "rank": rank}
        found += [{**where, "metric": "score", "value": score, **_ci(drawn)},
                  {**where, "metric": "control_score", "value": kept, **_ci(kept_drawn)},
                  {**where, "metric": "score_drop", "value": tuned - score, **_ci(tuned_drawn - drawn)},
                  {**where, "metric": "control_drop", "value": tuned - kept, **_ci(tuned_drawn - kept_drawn)},
                  {**where, "metric": "drop_beyond_control", "value": kept - score, **_ci(kept_drawn - drawn)}]
        found += _probe_rows(where, eraser, features, _positions(test.features[layer], hidden),
                             np.repeat(np.asarray(gold_train), blocks), np.repeat(np.asarray(gold_test), blocks),
                             spec.multilabel(), s.seed)
    common = {"analysis": "amnesic", "task": spec.name, "model": source.name, "training_size": s.training_size,
              "seed": s.seed, "head": None, "objective": s.objective, "split": s.split, "kind": source.kind,
              "score_name": scorer.name, "n_items": scorer.n_items, "n_layers": train.n_layers,
              "pooling": pooling, "in_prompt": in_prompt, "n_fit": int(train.features.shape[1]),
              "eraser": "leace", "released": released, "data": task_data.source}
    rows = [{**common, **row} for row in found]
    runstore.write_table(path, rows)
    runstore.write_sidecar(path, recorded, analysis="amnesic", table=path.name, task=spec.name, model=source.name,
                           training_size=s.training_size, seed=s.seed, layers=layers, caches=[str(train.folder),
                                                                                              str(test.folder)],
                           seconds=round(time.perf_counter() - started, 2), environment=runstore.environment())
    return AmnesicResult(path, rows, tuned)


def _extract_settings(s, pooling: str, in_prompt: bool, data):
    from bioprobe.settings import ExtractSettings

    return ExtractSettings(task=s.task, model_name=s.model_name, training_size=s.training_size,
                           objective=s.objective, data=data, labels=s.labels, seed=s.seed, max_length=s.max_length,
                           in_prompt=in_prompt, device=s.device, runs_dir=s.runs_dir, pooling=pooling, limit=s.limit,
                           batch_tokens=s.batch_tokens)


def _positions(features, hidden: int) -> np.ndarray:
    """Cached item vectors (`[items, blocks * hidden]`) as the hidden states they pool (`[items * blocks, hidden]`):
    an item whose vector joins several positions (RE's two entities) gives one row per position."""
    features = np.asarray(features, dtype=np.float64)
    return features.reshape(-1, hidden)


def _ci(drawn) -> dict:
    low, high = interval(np.asarray(drawn, dtype=float))
    return {"ci_low": low, "ci_high": high}


def _probe_rows(where: dict, eraser, train: np.ndarray, test: np.ndarray, gold_train, gold_test, multilabel: bool,
                seed: int) -> list[dict]:
    """A logistic probe trained and tested on erased vectors, one per position as the eraser sees them (RE: each
    entity's vector with its item's relation), and the majority class's share of those (single-label concepts; a
    multi-label concept's erasure is checked by its score alone). LEACE guarantees the first equals the second for
    each position's vector; two erased positions joined may still tell the label apart together."""
    if multilabel:
        return []
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from bioprobe.causal.erase import erase

    erased_train = erase(eraser, torch.as_tensor(train)).numpy()
    erased_test = erase(eraser, torch.as_tensor(test)).numpy()
    scaler = StandardScaler().fit(erased_train)
    probe = LogisticRegression(max_iter=500, random_state=seed).fit(scaler.transform(erased_train), gold_train)
    accuracy = float((probe.predict(scaler.transform(erased_test)) == np.asarray(gold_test)).mean())
    values, counts = np.unique(np.asarray(gold_train), return_counts=True)
    majority = values[np.argmax(counts)]
    chance = float((np.asarray(gold_test) == majority).mean())
    return [{**where, "metric": "probe_accuracy_erased", "value": accuracy},
            {**where, "metric": "probe_chance", "value": chance}]
