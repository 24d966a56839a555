"""Head importance (Michel, Levy & Neubig 2019): the gradient of the task loss with respect to a gate on each head,
put on the heads with forward hooks (transformers 5 has no `head_mask`)."""

from __future__ import annotations

import contextlib

import numpy as np

from bioprobe.errors import BioprobeError

# The module that receives the concatenated head outputs `[batch, positions, heads * head_dim]`, per family.
OUTPUT_PROJECTIONS = (".attention.output.dense", ".attn.c_proj", ".self_attn.out_proj", ".self_attn.o_proj",
                      ".attention.out_proj", ".attn.out_proj")


def output_projections(model) -> list:
    """The attention output projection of every layer, in layer order.

    Raises:
        BioprobeError: when they cannot be found one per layer.
    """
    found = [module for name, module in model.named_modules() if name.endswith(OUTPUT_PROJECTIONS)]
    layers = model.config.num_hidden_layers
    if len(found) != layers:
        raise BioprobeError(f"Cannot find one attention output projection per layer in {type(model).__name__} "
                            f"(found {len(found)} for {layers} layers); head importance needs them.")
    return found


@contextlib.contextmanager
def head_gates(model, gates):
    """Multiply each head's output by `gates[layer, head]` while the context is open.

    Args:
        model: A transformers model (or PEFT wrapper).
        gates: `[layers, heads]` tensor (give it `requires_grad` to get the importance gradient).
    """
    heads = gates.shape[1]
    handles = []
    for layer, module in enumerate(output_projections(model)):
        def gate(module, args, layer=layer):
            hidden = args[0]
            shape = hidden.shape
            scaled = hidden.view(*shape[:-1], heads, shape[-1] // heads) * gates[layer].view(heads, 1).to(hidden.dtype)
            return (scaled.view(shape), *args[1:])

        handles.append(module.register_forward_pre_hook(gate))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _labelled_batches(task: str, loaded, rows, max_length: int, batch_tokens: int):
    """Padded batches with gold labels, encoded as in fine-tuning (`Task.encode`): a label per position for a token
    head (-100 where none), one per item for a sequence head, a 0/1 row per item for a multi-label head."""
    import torch

    from bioprobe.tasks import get_task
    from bioprobe.units import IGNORE, Unit, collate, length_batches

    spec = get_task(task)
    config = loaded.model.config
    names = tuple(config.id2label[i] for i in range(len(config.id2label)))
    encoded = spec.encode(rows, loaded.tokenizer, names, max_length, loaded.resolved.spec.kind)
    encoded = encoded[:]  # lists, read from Arrow once (indexing a Dataset column is one Arrow read per item)
    types = encoded.get("token_type_ids")
    units = [Unit([ids], [types[i]] if types else None, [[]], [(i, 0)]) for i, ids in enumerate(encoded["input_ids"])]
    labels = encoded["labels"]
    for batch in length_batches(sorted(units, key=lambda u: -u.length), batch_tokens):
        inputs, _, _ = collate(batch, loaded.tokenizer.pad_token_id)
        index = [unit.items[0][0] for unit in batch]
        if spec.head == "token":
            gold = torch.full(inputs["input_ids"].shape, IGNORE, dtype=torch.long)
            for row, i in enumerate(index):
                gold[row, :len(labels[i])] = torch.tensor(labels[i])
        else:
            gold = torch.tensor([labels[i] for i in index], dtype=torch.float if spec.multilabel() else torch.long)
        yield inputs, gold


def instruction_examples(task: str, rows, template: str, tokenizer, max_length: int, seed: int,
                         labels: tuple[str, ...] = ()) -> list[dict]:
    """Task items as instruction-tuning sequences (the answer-only label mask of `bioprobe.finetune.prompts`): each
    item's seeded analysis instruction (`Task.analysis_instruction`) with its gold answer (`Task.example_output`).
    Items longer than `max_length` are left out."""
    from bioprobe.tasks import get_task
    from bioprobe.finetune.prompts import Example, encode_example

    spec = get_task(task)
    out = []
    for i, row in enumerate(rows.to_list()):
        instruction, entity = spec.analysis_instruction(i, seed, labels)
        example = Example(instruction, spec.prompt_input(row), spec.example_output(row, entity, labels))
        encoded = encode_example(tokenizer, template, example, max_length)
        if encoded is not None:
            out.append(encoded)
    return out


def _answer_batches(examples: list[dict], pad_id: int, batch_tokens: int):
    """Padded batches of instruction sequences with their answer-only labels."""
    import torch

    from bioprobe.finetune.prompts import collate
    from bioprobe.units import Unit, length_batches

    units = [Unit([e["input_ids"]], None, [[]], [(i, 0)]) for i, e in enumerate(examples)]
    for batch in length_batches(sorted(units, key=lambda u: -u.length), batch_tokens):
        padded = collate([examples[unit.items[0][0]] for unit in batch], pad_id)
        yield {k: v for k, v in padded.items() if k != "labels"}, padded["labels"].to(torch.long)


def head_importance(task: str, loaded, rows, max_length: int = 128, batch_tokens: int = 4096,
                    instructions: dict | None = None) -> dict:
    """Michel et al. head importance of a fine-tuned model on labelled items.

    Importance of head h is the absolute gradient of the task loss (mean over a batch) with respect to a gate
    fixed at 1 on the head's output, summed over batches; it is also given normalised to unit L2 norm per layer
    (as Michel et al. do before pruning). For an instruction-tuned model (`instructions`) the loss is the language-
    modelling loss on the gold answer's tokens and EOS, each item inside its instruction prompt.

    Args:
        task: The task's name.
        loaded: The fine-tuned model with its task head (`bioprobe.models.Loaded`).
        rows: Items in the task schema.
        max_length, batch_tokens: Encoding and batching.
        instructions: For a causal LM: `{"template", "seed", "labels"}` of its prompts (see
            `instruction_examples`); None for a classifier.

    Returns:
        `{"raw": [layers, heads], "normalised": [layers, heads]}` numpy arrays.
    """
    import torch

    model = loaded.model
    config = model.config
    gates = torch.ones(config.num_hidden_layers, config.num_attention_heads, requires_grad=True,
                       device=next(model.parameters()).device)
    raw = torch.zeros_like(gates, requires_grad=False)
    frozen = [(p, p.requires_grad) for p in model.parameters()]
    for parameter, _ in frozen:
        parameter.requires_grad_(False)
    model.eval()
    try:
        with head_gates(model, gates):
            if instructions is None:
                batches = _labelled_batches(task, loaded, rows, max_length, batch_tokens)
            else:
                examples = instruction_examples(task, rows, instructions["template"], loaded.tokenizer, max_length,
                                                instructions["seed"], instructions.get("labels", ()))
                if not examples:
                    raise BioprobeError(f"Every item is longer than --max-length {max_length} inside its prompt; "
                                        "pass a larger --max-length for head importance.")
                batches = _answer_batches(examples, loaded.tokenizer.pad_token_id, batch_tokens)
            for inputs, gold in batches:
                inputs = {k: v.to(gates.device) for k, v in inputs.items()}
                loss = model(**inputs, labels=gold.to(gates.device)).loss
                (grad,) = torch.autograd.grad(loss, gates)
                raw += grad.abs()
    finally:
        for parameter, flag in frozen:
            parameter.requires_grad_(flag)
    raw = raw.cpu().numpy().astype(np.float64)
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    return {"raw": raw, "normalised": np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)}


def importance_rows(scores: dict, change: np.ndarray | None, top_fraction: float = 0.1) -> list[dict]:
    """Tidy rows: importance per head, and how its ranking agrees with the attention change per head.

    Args:
        scores: `head_importance` output.
        change: `[layers, heads]` attention change (1 - cosine with the pretrained maps), or None.
        top_fraction: Share of heads in the top-k overlap.

    Returns:
        Rows `importance` / `importance_raw` per head, and (with `change`) `importance_change_spearman` and
        `importance_change_top_overlap` (share of the top `top_fraction` heads by importance that are also top by
        change) with empty layer and head.
    """
    from scipy.stats import spearmanr

    rows = []
    layers, heads = scores["raw"].shape
    for layer in range(layers):
        for head in range(heads):
            rows.append({"layer": layer, "head": head, "metric": "importance",
                         "value": float(scores["normalised"][layer, head])})
            rows.append({"layer": layer, "head": head, "metric": "importance_raw",
                         "value": float(scores["raw"][layer, head])})
    if change is not None:
        importance, moved = scores["normalised"].ravel(), np.asarray(change, dtype=float).ravel()
        keep = np.isfinite(moved)
        rho = spearmanr(importance[keep], moved[keep]).statistic if keep.sum() > 2 else float("nan")
        k = max(1, round(top_fraction * keep.sum()))
        top_importance = set(np.argsort(-importance[keep], kind="stable")[:k])
        top_change = set(np.argsort(-moved[keep], kind="stable")[:k])
        rows.append({"layer": None, "head": None, "metric": "importance_change_spearman", "value": float(rho)})
        rows.append({"layer": None, "head": None, "metric": "importance_change_top_overlap",
                     "value": len(top_importance & top_change) / k, "top_k": k})
    return rows
