"""Head importance (Michel, Levy & Neubig 2019): the gradient of the task loss with respect to a gate on each head,
put on the heads with forward hooks (transformers 5 has no `head_mask`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

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


@dataclass
class LabelledItems:
    """Task items encoded as fine-tuning encodes them (`Task.encode`), with their gold labels.

    Attributes:
        input_ids: Per item, its input ids.
        type_ids: Per item, its token type ids (pair encoders), or None.
        labels: Per item: a label per position for a token head (-100 where none), one label for a sequence head, a
            0/1 row for a multi-label head.
        head: The task's head type (`Task.head`).
    """

    input_ids: list
    type_ids: list | None
    labels: list
    head: str

    def gold(self, index: list[int], width: int):
        """Gold labels of the items `index` as one batch padded to `width` positions: `[batch, width]` long (-100 at
        padding) for a token head, `[batch]` long or `[batch, labels]` float otherwise."""
        import torch

        from bioprobe.units import IGNORE

        if self.head == "token":
            gold = torch.full((len(index), width), IGNORE, dtype=torch.long)
            for row, i in enumerate(index):
                gold[row, :len(self.labels[i])] = torch.tensor(self.labels[i])
            return gold
        return torch.tensor([self.labels[i] for i in index],
                            dtype=torch.float if self.head == "multilabel" else torch.long)


def labelled_items(task: str, loaded, rows, max_length: int) -> LabelledItems:
    """`rows` encoded as in fine-tuning (`Task.encode`) for `loaded`'s task head, with their gold labels."""
    from bioprobe.tasks import get_task

    spec = get_task(task)
    config = loaded.model.config
    names = tuple(config.id2label[i] for i in range(len(config.id2label)))
    encoded = spec.encode(rows, loaded.tokenizer, names, max_length, loaded.resolved.spec.kind)
    encoded = encoded[:]  # lists, read from Arrow once (indexing a Dataset column is one Arrow read per item)
    return LabelledItems(encoded["input_ids"], encoded.get("token_type_ids"), encoded["labels"], spec.head)


def _labelled_batches(task: str, loaded, rows, max_length: int, batch_tokens: int):
    """Padded batches with gold labels (`LabelledItems.gold`), longest first, as `attention_statistics` batches."""
    from bioprobe.units import Unit, collate, length_batches

    items = labelled_items(task, loaded, rows, max_length)
    types = items.type_ids
    units = [Unit([ids], [types[i]] if types else None, [[]], [(i, 0)]) for i, ids in enumerate(items.input_ids)]
    for batch in length_batches(sorted(units, key=lambda u: -u.length), batch_tokens):
        inputs, _, _ = collate(batch, loaded.tokenizer.pad_token_id)
        yield inputs, items.gold([unit.items[0][0] for unit in batch], inputs["input_ids"].shape[1])


class GateGradients:
    """Michel et al. head importance accumulated over gated gradient passes of one model, batch by batch.

    While open (`with GateGradients(model) as gradients:`) the model's parameters are frozen, the model is in eval
    mode and a gate fixed at 1 multiplies each head's output (`head_gates`); each `step` runs one batch with its gold
    labels, adds the absolute gradient of the loss with respect to the gates to `raw`, and can return the attention
    maps of that same pass (the gates are 1, so they are the maps of an inference pass), so that a comparison needs
    no second pass of the model over the batch. Parameters get their `requires_grad` back on closing.
    """

    def __init__(self, model):
        import torch

        self.model = model
        config = model.config
        self.gates = torch.ones(config.num_hidden_layers, config.num_attention_heads, requires_grad=True,
                                device=next(model.parameters()).device)
        self.raw = torch.zeros_like(self.gates, requires_grad=False)
        self._stack = None
        self._frozen = []

    def __enter__(self):
        self._frozen = [(p, p.requires_grad) for p in self.model.parameters()]
        for parameter, _ in self._frozen:
            parameter.requires_grad_(False)
        self.model.eval()
        self._stack = contextlib.ExitStack()
        try:
            self._stack.enter_context(head_gates(self.model, self.gates))
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self._stack.close()
        finally:
            self._restore()
        return False

    def _restore(self):
        for parameter, flag in self._frozen:
            parameter.requires_grad_(flag)

    def step(self, inputs: dict, gold, attentions: bool = False):
        """One gated gradient pass: `inputs` (tensors on the model's device) with `gold` labels; adds the absolute
        gate gradient to `raw`. Returns the pass's attention maps (a tuple of `[batch, heads, T, T]`, detached) when
        `attentions`, else None."""
        import torch

        with torch.enable_grad():
            outputs = self.model(**inputs, labels=gold.to(self.gates.device), output_attentions=attentions)
            (grad,) = torch.autograd.grad(outputs.loss, self.gates)
        self.raw += grad.abs()
        if not attentions:
            return None
        maps = getattr(outputs, "attentions", None)
        return None if not maps or any(m is None for m in maps) else tuple(m.detach() for m in maps)

    def scores(self) -> dict:
        """`{"raw": [layers, heads], "normalised": [layers, heads]}` numpy arrays (normalised: unit L2 norm per
        layer, as Michel et al. do before pruning)."""
        raw = self.raw.cpu().numpy().astype(np.float64)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return {"raw": raw, "normalised": np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)}


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
    with GateGradients(loaded.model) as gradients:
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
            gradients.step({k: v.to(gradients.gates.device) for k, v in inputs.items()}, gold)
    return gradients.scores()


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation of two 1-d arrays, ties given their average rank (what `scipy.stats.spearmanr`
    gives, without importing scipy.stats: 0.8 s of a command's start-up); nan when either is constant."""
    def ranks(v):
        v = np.asarray(v, dtype=float)
        order = np.argsort(v, kind="stable")
        sorted_v = v[order]
        starts = np.r_[True, sorted_v[1:] != sorted_v[:-1]]
        group = np.cumsum(starts) - 1
        first = np.flatnonzero(starts)
        last = np.r_[first[1:], len(v)] - 1
        out = np.empty(len(v))
        out[order] = (first + last)[group] / 2.0
        return out

    a, b = ranks(x) - (len(x) - 1) / 2.0, ranks(y) - (len(y) - 1) / 2.0
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


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
        rho = spearman(importance[keep], moved[keep]) if keep.sum() > 2 else float("nan")
        k = max(1, round(top_fraction * keep.sum()))
        top_importance = set(np.argsort(-importance[keep], kind="stable")[:k])
        top_change = set(np.argsort(-moved[keep], kind="stable")[:k])
        rows.append({"layer": None, "head": None, "metric": "importance_change_spearman", "value": float(rho)})
        rows.append({"layer": None, "head": None, "metric": "importance_change_top_overlap",
                     "value": len(top_importance & top_change) / k, "top_k": k})
    return rows
