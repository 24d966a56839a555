"""Integrated Gradients on the input embeddings (captum `LayerIntegratedGradients`) of a fine-tuned model's
predictions: per-token attributions with the convergence delta, and for NLI the premise / hypothesis share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.errors import BioprobeError
from bioprobe.registry import get_task


@dataclass
class Attribution:
    """Integrated Gradients of one prediction.

    Attributes:
        tokens: The input tokens (as the tokenizer writes them).
        scores: `[tokens]` attribution of each token (summed over the embedding dimension).
        delta: Convergence delta: sum of attributions minus (f(input) - f(baseline)).
        target: Predicted label explained.
        position: Token position explained (NER; None for NLI).
        segments: `[tokens]` 0 premise, 1 hypothesis, -1 special or template (NLI); None for NER.
    """

    tokens: list[str]
    scores: np.ndarray
    delta: float
    target: str
    position: int | None
    segments: np.ndarray | None


def _segments(ids: list[int], special: set[int], tokenizer, hypothesis: str, kind: str) -> np.ndarray:
    """0 for premise tokens, 1 for hypothesis tokens, -1 for special tokens of one encoded pair.

    Encoders: the runs of non-special tokens between special tokens; the first is the premise, the rest the
    hypothesis. Decoders (`Premise: p Hypothesis: h`, see `finetune.encode.encode_nli`): the hypothesis is the last
    part and is kept whole unless it alone is too long, so its own length marks the boundary even when the premise
    was truncated (the template words count with their part).
    """
    from finetune.encode import HYPOTHESIS, uses_native_pair

    segments = np.full(len(ids), -1)
    is_special = [i in special for i in ids]
    if uses_native_pair(tokenizer, kind):
        part = -1
        for position, flag in enumerate(is_special):
            if flag:
                continue
            if position == 0 or is_special[position - 1]:
                part = min(part + 1, 1)
            segments[position] = part
        return segments
    text = [position for position, flag in enumerate(is_special) if not flag]
    n_hypothesis = min(len(tokenizer(HYPOTHESIS + hypothesis, add_special_tokens=False)["input_ids"]), len(text))
    for k, position in enumerate(text):
        segments[position] = 1 if k >= len(text) - n_hypothesis else 0
    return segments


def attribute_examples(task: str, loaded, rows, steps: int = 50, max_length: int = 128,
                       progress: bool = True) -> list[Attribution]:
    """Integrated Gradients of the fine-tuned model's prediction for each item of `rows`.

    The baseline keeps the special tokens and replaces every other token by the pad token. NLI explains the predicted
    class of the pair; NER the predicted tag of the first subword of the first gold entity word (the first word when
    the sentence has no entity).

    Args:
        task: "ner" or "nli".
        loaded: The fine-tuned model with its head and tokenizer.
        rows: Items in the task schema.
        steps: Integration steps.
        max_length: Longest input.
        progress: Show a progress bar.

    Returns:
        One attribution per item.
    """
    import torch
    from captum.attr import LayerIntegratedGradients
    from tqdm.auto import tqdm

    from bioprobe.align import encode_words
    from finetune.encode import encode_nli

    model, tokenizer = loaded.model, loaded.tokenizer
    config = model.config
    names = [config.id2label[i] for i in range(len(config.id2label))]
    device = next(model.parameters()).device
    special = set(tokenizer.all_special_ids)
    kind = loaded.resolved.spec.kind
    if task == "nli":
        import datasets

        encoded = encode_nli(datasets.Dataset.from_dict({"premise": rows["premise"], "hypothesis": rows["hypothesis"],
                                                         "label": [names[0]] * len(rows)}),
                             tokenizer, tuple(names), max_length, kind)
    embeddings = model.get_input_embeddings()
    out: list[Attribution] = []
    for index in tqdm(range(len(rows)), desc="Integrated Gradients", unit="item", leave=False, disable=not progress):
        position, segments = None, None
        if task == "ner":
            words, tags = rows[index]["tokens"], rows[index]["tags"]
            encoding = encode_words(tokenizer, words, max_length=max_length)
            ids = encoding.input_ids
            entity = next((w for w, tag in enumerate(tags) if tag != "O" and encoding.spans[w] is not None), 0)
            position = encoding.spans[entity][0]
            type_ids = None
        else:
            ids = encoded[index]["input_ids"]
            type_ids = encoded[index].get("token_type_ids")
            segments = _segments(ids, special, tokenizer, rows[index]["hypothesis"], kind)
        inputs = torch.tensor([ids], device=device)
        baseline = torch.tensor([[i if i in special else tokenizer.pad_token_id for i in ids]], device=device)
        extra = {"attention_mask": torch.ones_like(inputs)}
        if type_ids is not None:
            extra["token_type_ids"] = torch.tensor([type_ids], device=device)

        def forward(input_ids, attention_mask, token_type_ids=None, position=position):
            kwargs = {"attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            logits = model(input_ids=input_ids, **kwargs).logits
            return logits[:, position] if position is not None else logits

        with torch.no_grad():
            target = int(forward(inputs, **extra).argmax(-1)[0])
        method = LayerIntegratedGradients(forward, embeddings)
        scores, delta = method.attribute(inputs, baselines=baseline, target=target, n_steps=steps,
                                         additional_forward_args=(extra["attention_mask"],
                                                                  extra.get("token_type_ids")),
                                         return_convergence_delta=True, internal_batch_size=steps)
        out.append(Attribution(tokenizer.convert_ids_to_tokens(ids), scores.sum(-1)[0].detach().float().cpu().numpy(),
                               float(delta[0]), names[target], position, segments))
    return out


def hypothesis_share(attribution: Attribution) -> float:
    """Share of the absolute attribution that falls on hypothesis tokens (of premise + hypothesis tokens)."""
    magnitude = np.abs(attribution.scores)
    premise = magnitude[attribution.segments == 0].sum()
    hypothesis = magnitude[attribution.segments == 1].sum()
    total = premise + hypothesis
    return float(hypothesis / total) if total > 0 else float("nan")


@dataclass
class AttributeResult:
    """What `run_attribution` wrote."""

    table: Path
    figure: list[Path]
    attributions: list[Attribution]
    share: float | None
    reused: bool = False


def run_attribution(task: str, model_name: str, training_size: int, examples: int = 5, limit: int | None = None,
                    data: str | None = None, split: str = "test", seed: int = 42, steps: int = 50,
                    max_length: int = 128, runs_dir=None, device: str | None = None,
                    overwrite: bool = False) -> AttributeResult:
    """Explain a fine-tuned model's predictions with Integrated Gradients; what `bioprobe attribute` calls.

    Args:
        task, model_name, training_size, seed: Which fine-tuning run.
        examples: Items of the split whose per-token attributions are stored and drawn.
        limit: NLI: test items over which the premise / hypothesis share is averaged (default: the whole split).
        data: Data source (default: the run's data).
        split: Split to explain.
        steps: Integration steps.
        max_length: Longest input.
        runs_dir: The runs dir.
        device: cpu or cuda.
        overwrite: Attribute again even when the table exists for these settings and this checkpoint.

    Returns:
        The table and figure written, the attributions (empty when reused), and the NLI hypothesis share (None for
        NER).
    """
    from bioprobe.data import load_task_data
    from finetune.checkpoints import load_finetuned
    from probing.activations import _select, find_source

    spec = get_task(task)
    if training_size == 0:
        raise BioprobeError("Attribution explains a fine-tuned model's predictions; the size-0 head is untrained, "
                            "so pass a training size from 1 to 100.")
    source = find_source(spec.name, model_name, training_size, seed, runs_dir, None)
    request = source.record.get("request", {})
    task_data = load_task_data(spec.name, data if data is not None else request.get("data"),
                               tuple(request["labels"]) if request.get("labels") else None)
    rows = task_data.splits[split]
    if len(rows) == 0:
        raise BioprobeError(f"The {split} split of {task_data.source} is empty; there is nothing to explain.")
    from bioprobe.data import data_key
    from probing.activations import _fingerprint

    path = runstore.results_path(runs_dir, "attribution", spec.name, source.name, training_size, seed)
    figure = runstore.runs_dir(runs_dir) / "figures" / f"attribution_{spec.name}_{source.name}_size{training_size}"
    settings = {"data": data_key(spec.name, data if data is not None else request.get("data")), "split": split,
                "examples": examples, "limit": limit, "steps": steps, "max_length": max_length,
                "fingerprint": _fingerprint(source, model_name, seed)}
    sidecar = path.with_suffix(".json")
    if not overwrite and path.is_file() and sidecar.is_file() and runstore.read_json(sidecar) == settings:
        import pandas as pd

        stored = pd.read_csv(path)
        share = stored.loc[stored["metric"] == "hypothesis_share", "value"]
        return AttributeResult(path, [figure.with_suffix(".png"), figure.with_suffix(".pdf")], [],
                               float(share.iloc[0]) if len(share) else None, reused=True)
    loaded = load_finetuned(runs_dir, spec.name, source.name, training_size, seed, device=device, merge=True)
    shown = list(range(min(examples, len(rows))))
    chosen = _select(len(rows), limit, seed) if spec.name == "nli" else []
    needed = sorted(set(shown) | set(chosen))  # an item both drawn and averaged is attributed once
    done = dict(zip(needed, attribute_examples(spec.name, loaded, rows.select(needed), steps, max_length)))
    attributions = [done[i] for i in shown]
    share, n_share = None, 0
    table = []
    for i, item in enumerate(attributions):
        for position, (token, score) in enumerate(zip(item.tokens, item.scores)):
            table.append({"layer": None, "head": None, "metric": "attribution", "value": float(score),
                          "example": i, "position": position, "token": token, "target": item.target,
                          "explained_position": item.position,
                          "segment": None if item.segments is None else int(item.segments[position])})
        table.append({"layer": None, "head": None, "metric": "convergence_delta", "value": item.delta, "example": i})
    if spec.name == "nli":
        averaged = [done[i] for i in chosen]
        shares = np.array([hypothesis_share(a) for a in averaged])
        share, n_share = float(np.nanmean(shares)), int(np.isfinite(shares).sum())
        from attention.stats import bootstrap_mean

        mean, low, high = bootstrap_mean(shares[:, None], seed=seed)
        table.append({"layer": None, "head": None, "metric": "hypothesis_share", "value": float(mean[0]),
                      "ci_low": float(low[0]), "ci_high": float(high[0]), "n_items": n_share})
        deltas = np.abs([a.delta for a in averaged])
        table.append({"layer": None, "head": None, "metric": "mean_abs_convergence_delta",
                      "value": float(deltas.mean()), "n_items": n_share})
    common = {"analysis": "attribution", "task": spec.name, "model": source.name, "training_size": training_size,
              "seed": seed, "split": split, "steps": steps}
    runstore.write_table(path, [{**common, **row} for row in table])
    runstore.write_json(sidecar, settings)
    from bioprobe.figures import attribution_examples

    drawn = attribution_examples(attributions, figure,
                                 title=f"{source.name}, {spec.name.upper()}, {training_size} % training data")
    return AttributeResult(path, drawn, attributions, share)
