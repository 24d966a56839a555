"""Integrated Gradients on the input embeddings (captum `LayerIntegratedGradients`) of a fine-tuned model's
predictions: per-token attributions with the convergence delta, and the task's segment share (`Task.share_name`:
NLI's hypothesis, RE's entities)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe import runstore
from bioprobe.errors import BioprobeError
from bioprobe.tasks import get_task
from bioprobe.settings import AttributeSettings

BATCH_TOKENS = {"cpu": 4096, "cuda": 2048}
"""Tokens per forward (and backward) pass of the integration, by device type (`--batch-tokens`). An item's steps run
in chunks of `batch_tokens // tokens` (at least one step): the interpolated copies of a prompt are what fills memory,
and a backward pass of a 4-bit 7B model keeps about 7 MB of activations per token (bf16, 32 layers), so 2048 tokens
(4 steps of a 512-token prompt) stay within a 24 GB card beside the 4 GB of weights."""


def steps_per_pass(tokens: int, batch_tokens: int) -> int:
    """Integration steps per forward pass for an input of `tokens` tokens within `batch_tokens`."""
    return max(1, batch_tokens // max(tokens, 1))


@dataclass
class Attribution:
    """Integrated Gradients of one prediction.

    Attributes:
        tokens: The input tokens (as the tokenizer writes them).
        scores: `[tokens]` attribution of each token (summed over the embedding dimension).
        delta: Convergence delta: sum of attributions minus (f(input) - f(baseline)), f read where the model reads
            the input (a decoder's pair: at the input's last real token, for the baseline too).
        target: Predicted label explained.
        position: Token position explained (NER; None for NLI).
        segments: `[tokens]` 0 premise, 1 hypothesis, -1 special or template (NLI; RE: 1 on the entity mentions);
            None for NER.
        baseline: `[tokens]` input ids of the baseline: the structural special tokens kept
            (`bioprobe.align.structural_special_ids`), every other id (an [UNK] too) the pad id.
    """

    tokens: list[str]
    scores: np.ndarray
    delta: float
    target: str
    position: int | None
    segments: np.ndarray | None
    baseline: list[int]
    next_token: bool = False
    """Whether what is explained is the next token after `position` (an instruction-tuned model's answer)."""


def _read_position(ids: list[int], pad_id: int | None) -> int:
    """Where a decoder's sequence-classification head reads `ids` (transformers' rule): the last id that is not the
    pad id (position 0 if all are; the last position without a pad id)."""
    if pad_id is None:
        return len(ids) - 1
    return max((p for p, i in enumerate(ids) if i != pad_id), default=0)


def attribute_examples(task: str, loaded, rows, steps: int = 50, max_length: int = 128,
                       progress: bool = True, batch_tokens: int = BATCH_TOKENS["cpu"]) -> list[Attribution]:
    """Integrated Gradients of the fine-tuned model's prediction for each item of `rows`.

    The baseline keeps the structural special tokens ([CLS], [SEP], BOS: `bioprobe.align.structural_special_ids`)
    and replaces every other token, an [UNK] or [MASK] too, by the pad token. What is explained is the task's
    (`Task.attribution_target`): NLI the predicted class of the pair, NER the predicted tag of the first subword of
    the first gold entity word (the first word when the sentence has no entity).

    A decoder's sequence head reads the last token that is not the pad token. On the baseline (pad after BOS) it
    would read position 0, while every point of the integration path (the input's ids, interpolated embeddings) is
    read at the input's last real token; so f is read at the input's reading position for the baseline too
    (through a forward hook on the `score` head), and f(baseline) is the start of the path the attributions
    integrate, as the convergence delta assumes. Encoders read [CLS] and token heads the explained position,
    whatever the ids.

    Args:
        task: The task's name.
        loaded: The fine-tuned model with its head and tokenizer.
        rows: Items in the task schema.
        steps: Integration steps.
        max_length: Longest input.
        progress: Show a progress bar.
        batch_tokens: Tokens per pass of the integration (`steps_per_pass`); the attributions do not depend on it.

    Returns:
        One attribution per item.

    Raises:
        BioprobeError: a decoder's pair classifier without a `score` head, or one that does not read the input's last
            non-pad token.
    """
    import torch
    from captum.attr import LayerIntegratedGradients
    from tqdm.auto import tqdm

    from bioprobe.align import structural_special_ids
    from bioprobe.tasks import get_task

    spec = get_task(task)
    model, tokenizer = loaded.model, loaded.tokenizer
    config = model.config
    names = [config.id2label[i] for i in range(len(config.id2label))]
    device = next(model.parameters()).device
    keep = structural_special_ids(tokenizer)
    kind = loaded.resolved.spec.kind
    held = spec.head != "token" and kind == "decoder"  # the head's reading position depends on the ids: hold it
    head = getattr(model, "score", None) if held else None
    if held and head is None:
        raise BioprobeError(f"{type(model).__name__} has no `score` head to read at the input's last token, so "
                            f"Integrated Gradients cannot explain its {spec.title} classification.")
    embeddings = model.get_input_embeddings()
    out: list[Attribution] = []
    head_out: dict = {}  # the head's last output, [batch, tokens, labels]
    hook = head.register_forward_hook(lambda module, args, output: head_out.update(logits=output)) if held else None
    try:
        for row in tqdm(rows.to_list(), desc="Integrated Gradients", unit="item", leave=False, disable=not progress):
            ids, type_ids, position, segments = spec.attribution_target(row, tokenizer, max_length, kind)
            read = _read_position(ids, config.pad_token_id) if held else None
            base_ids = [i if i in keep else tokenizer.pad_token_id for i in ids]
            inputs = torch.tensor([ids], device=device)
            baseline = torch.tensor([base_ids], device=device)
            extra = {"attention_mask": torch.ones_like(inputs)}
            if type_ids is not None:
                extra["token_type_ids"] = torch.tensor([type_ids], device=device)

            def forward(input_ids, attention_mask, token_type_ids=None, position=position, read=read):
                kwargs = {"attention_mask": attention_mask}
                if token_type_ids is not None:
                    kwargs["token_type_ids"] = token_type_ids
                logits = model(input_ids=input_ids, **kwargs).logits
                if read is not None:  # read where the input is read
                    return head_out["logits"][:, read]
                return logits[:, position] if position is not None else logits

            with torch.no_grad():
                predicted = model(input_ids=inputs, **extra).logits
                if read is not None and not torch.allclose(head_out["logits"][:, read], predicted):
                    raise BioprobeError(f"{type(model).__name__} does not read its input at the last non-pad token "
                                        f"({read}), so Integrated Gradients cannot hold its reading position.")
                target = int((predicted[:, position] if position is not None else predicted).argmax(-1)[0])
            method = LayerIntegratedGradients(forward, embeddings)
            scores, delta = method.attribute(inputs, baselines=baseline, target=target, n_steps=steps,
                                             additional_forward_args=(extra["attention_mask"],
                                                                      extra.get("token_type_ids")),
                                             return_convergence_delta=True,
                                             internal_batch_size=steps_per_pass(len(ids), batch_tokens))
            out.append(Attribution(tokenizer.convert_ids_to_tokens(ids),
                                   scores.sum(-1)[0].detach().float().cpu().numpy(), float(delta[0]), names[target],
                                   position, segments, base_ids))
    finally:
        if hook is not None:
            hook.remove()
    return out


def segment_share(attribution: Attribution) -> float:
    """Share of the absolute attribution that falls on segment 1 of segments 0 and 1 (NLI: the hypothesis against
    the premise; the task names it, `Task.share_name`)."""
    magnitude = np.abs(attribution.scores)
    rest = magnitude[attribution.segments == 0].sum()
    share = magnitude[attribution.segments == 1].sum()
    total = rest + share
    return float(share / total) if total > 0 else float("nan")


@dataclass
class AttributeResult:
    """What `run_attribution` wrote."""

    table: Path
    figure: list[Path]
    attributions: list[Attribution]
    share: float | None
    reused: bool = False


def attribute_prompted(task: str, loaded, rows, template: str, seed: int, labels: tuple[str, ...] = (),
                       steps: int = 50, max_length: int = 512, progress: bool = True,
                       batch_tokens: int = BATCH_TOKENS["cpu"]) -> list[Attribution]:
    """Integrated Gradients of an instruction-tuned (or released) causal LM's answer, each item inside its seeded
    analysis instruction (`Task.analysis_instruction`).

    What is explained is the task's (`Task.prompted_answer`): the first token of the answer the model ranks highest
    at the end of the answer so far, each candidate tokenised as it follows the prompt
    (`bioprobe.finetune.prompts.continuation_ids`): NLI the label word right after the prompt; NER the label token
    after `word :` of the first entity word of the instruction's type (the first word when there is none), with the
    gold answer's earlier lines as the answer so far. The baseline keeps the prompt (instruction, template, answer so
    far) and replaces the input's tokens by the pad token, so the attributions fall on the input; f is the
    next-token logit at the last position, the same position for input and baseline. Segments (NLI: 0 the
    `Premise: ...` part of the input, 1 the `Hypothesis: ...` part) are -1 outside the input.

    Returns:
        One attribution per item.
    """
    import torch
    from captum.attr import LayerIntegratedGradients
    from tqdm.auto import tqdm

    from bioprobe.tasks import get_task
    from bioprobe.finetune.prompts import continuation_ids, prompt_parts, prompt_text

    spec = get_task(task)
    model, tokenizer = loaded.model, loaded.tokenizer
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    out: list[Attribution] = []
    embeddings = model.get_input_embeddings()
    for index, row in enumerate(tqdm(rows.to_list(), desc="Integrated Gradients", unit="item", leave=False,
                                     disable=not progress)):
        instruction, entity = spec.analysis_instruction(index, seed, labels)
        prefix, suffix = prompt_parts(tokenizer, template, instruction)
        item_ids, item_segments, so_far, choices = spec.prompted_answer(
            row, tokenizer, max(max_length - len(prefix) - len(suffix), 1), entity, labels)
        ids = prefix + item_ids + suffix
        segments = None if item_segments is None else \
            np.concatenate([np.full(len(prefix), -1), item_segments, np.full(len(suffix), -1)])
        before = prompt_text(tokenizer, template, instruction, spec.prompt_input(row))
        head_ids = continuation_ids(tokenizer, before, so_far) if so_far else []  # as training tokenises it
        answered = ids + head_ids
        candidates = {}
        for name, text in choices.items():
            full = continuation_ids(tokenizer, before, so_far + text)
            candidates[name] = full[len(head_ids)] if full[:len(head_ids)] == head_ids and \
                len(full) > len(head_ids) else full[-1]
        base_ids = list(answered)
        start, stop = len(prefix), len(ids) - len(suffix)
        base_ids[start:stop] = [pad] * (stop - start)
        inputs = torch.tensor([answered], device=device)
        baseline = torch.tensor([base_ids], device=device)
        mask = torch.ones_like(inputs)

        def forward(input_ids, attention_mask):
            return model(input_ids=input_ids, attention_mask=attention_mask).logits[:, -1]

        with torch.no_grad():
            logits = forward(inputs, mask)[0]
        name = max(candidates, key=lambda key: float(logits[candidates[key]]))
        method = LayerIntegratedGradients(forward, embeddings)
        scores, delta = method.attribute(inputs, baselines=baseline, target=candidates[name], n_steps=steps,
                                         additional_forward_args=(mask,), return_convergence_delta=True,
                                         internal_batch_size=steps_per_pass(len(answered), batch_tokens))
        if segments is not None:
            segments = np.concatenate([segments, np.full(len(answered) - len(segments), -1)])
        out.append(Attribution(tokenizer.convert_ids_to_tokens(answered),
                               scores.sum(-1)[0].detach().float().cpu().numpy(), float(delta[0]), name,
                               len(answered) - 1, segments, base_ids, next_token=True))
    return out


def default_batch_tokens(model) -> int:
    """Tokens per pass of the integration, from the memory free after loading (`bioprobe.memory.batch_tokens`, the
    activations a backward pass keeps): on a GPU at least `BATCH_TOKENS["cuda"]`; on a CPU at most
    `BATCH_TOKENS["cpu"]` (a larger pass is no faster there), fewer where the machine's memory would not hold it
    (GPT-2 Medium's 4,096-token passes peaked at 11.2 GiB)."""
    from bioprobe import memory

    if next(model.parameters()).device.type != "cuda":
        return memory.batch_tokens(model, 256, gradients=True, keep_hidden=False, ceiling=BATCH_TOKENS["cpu"])
    return memory.batch_tokens(model, BATCH_TOKENS["cuda"], gradients=True, keep_hidden=False)


def run_attribution(settings: AttributeSettings | None = None, **fields) -> AttributeResult:
    """Explain a tuned model's predictions with Integrated Gradients; what `bioprobe attribute` calls.

    Classifier runs explain their head's prediction (size 0 has an untrained head, so it is refused); instruction
    runs (and the released model, size 0) their answer inside a prompt (`attribute_prompted`).

    Args:
        settings: What to explain (`bioprobe.settings.AttributeSettings`; or its fields as keyword arguments).
        **fields: Settings fields (used when `settings` is None, or as changes to it).

    Returns:
        The table and figure written, the attributions (empty when reused), and the task's attribution share (NLI:
        the hypothesis', RE: the entities'; None for a task without one).
    """
    from bioprobe.data import data_key, load_task_data
    from bioprobe.models import load_model, wants_four_bit
    from bioprobe.registry import resolve_model
    from bioprobe.settings import build, values
    from bioprobe.finetune.checkpoints import load_finetuned
    from bioprobe.probing.activations import _fingerprint, _select, find_source, run_data

    s = build(AttributeSettings, fields, "run_attribution") if settings is None else settings.replace(**fields)
    spec = get_task(s.task)
    instruct = s.objective == "instruct"
    if s.training_size == 0 and not instruct:
        raise BioprobeError("Attribution explains a fine-tuned model's predictions; the size-0 head is untrained, "
                            "so pass a training size from 1 to 100 (or --objective instruct: the released model).")
    source = find_source(spec.name, s.model_name, s.training_size, s.seed, s.runs_dir, None, s.objective)
    record = source.record or runstore.RunRecord()  # size 0: the model as released
    request = record.request
    data = run_data(source, s.data)
    task_data = load_task_data(spec.name, data, s.labels or (tuple(request["labels"]) if request.get("labels")
                                                             else None))
    rows = task_data.splits[s.split]
    if len(rows) == 0:
        raise BioprobeError(f"The {s.split} split of {task_data.source} is empty; there is nothing to explain.")
    path = runstore.results_path(s.runs_dir, "attribution", spec.name, source.name, s.training_size, s.seed,
                                 objective=s.objective)
    figure = runstore.runs_dir(s.runs_dir) / "figures" / (f"attribution_{spec.name}_{source.name}_size"
                                                          f"{s.training_size}{'-instruct' if instruct else ''}")
    template = record.template or "medtuned"
    recorded = {**values(s, ("eval",)), "data": data_key(spec.name, data),
                "template": template if instruct else None,
                "fingerprint": _fingerprint(source, s.model_name, s.seed)}
    if runstore.reusable(path, recorded, s.overwrite):
        stored = runstore.read_table(path)
        share = stored.loc[stored["metric"] == spec.share_name, "value"]
        return AttributeResult(path, [figure.with_suffix(".png"), figure.with_suffix(".pdf")], [],
                               float(share.iloc[0]) if len(share) else None, reused=True)
    if source.record is not None:
        loaded = load_finetuned(s.runs_dir, spec.name, source.name, s.training_size, s.seed, device=s.device,
                                merge=True, objective=s.objective)
    else:  # the model as released
        own = resolve_model(s.model_name)
        loaded = load_model(own, head="causal-lm", device=s.device, four_bit=wants_four_bit(own))
    batch_tokens = s.batch_tokens or default_batch_tokens(loaded.model)
    shown = list(range(min(s.examples, len(rows))))
    chosen = _select(len(rows), s.limit, s.seed) if spec.share_name else []
    needed = sorted(set(shown) | set(chosen))  # an item both drawn and averaged is attributed once
    subset = rows.select(needed)
    if instruct:
        found = attribute_prompted(spec.name, loaded, subset, template, s.seed, task_data.labels, s.steps,
                                   s.prompt_length, batch_tokens=batch_tokens)
    else:
        found = attribute_examples(spec.name, loaded, subset, s.steps, s.length, batch_tokens=batch_tokens)
    done = dict(zip(needed, found))
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
    if spec.share_name:
        averaged = [done[i] for i in chosen]
        shares = np.array([segment_share(a) for a in averaged])
        share, n_share = float(np.nanmean(shares)), int(np.isfinite(shares).sum())
        from bioprobe.attention.stats import bootstrap_mean

        mean, low, high = bootstrap_mean(shares[:, None], seed=s.seed)
        table.append({"layer": None, "head": None, "metric": spec.share_name, "value": float(mean[0]),
                      "ci_low": float(low[0]), "ci_high": float(high[0]), "n_items": n_share})
        deltas = np.abs([a.delta for a in averaged])
        table.append({"layer": None, "head": None, "metric": "mean_abs_convergence_delta",
                      "value": float(deltas.mean()), "n_items": n_share})
    common = {"analysis": "attribution", "task": spec.name, "model": source.name, "training_size": s.training_size,
              "seed": s.seed, "objective": s.objective, "split": s.split, "steps": s.steps}
    runstore.write_table(path, [{**common, **row} for row in table])
    runstore.write_sidecar(path, recorded, analysis="attribution", table=path.name, examples=len(attributions),
                           share_items=n_share)
    from bioprobe.figures import attribution_examples

    what = "instruction-tuned, " if instruct else ""
    drawn = attribution_examples(attributions, figure, title=f"{source.name}, {spec.title}, {what}"
                                                             f"{s.training_size} % training data")
    return AttributeResult(path, drawn, attributions, share)
