"""One pass of a model over task items, every layer pooled in the same pass and streamed to an fp16 `.npy` file.

NER items are words (one vector per word from its subwords), NLI items are premise/hypothesis pairs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioprobe.errors import BioprobeError

POOLINGS = {"ner": ("first", "mean", "last"), "nli": ("joint-mean", "cls", "last", "separate-mean")}
DEFAULT_POOLING = {"ner": "first", "nli": "joint-mean"}
FP16_MAX = float(np.finfo(np.float16).max)
BATCH_TOKENS = {"cpu": 2048, "cuda": 8192}
"""Default padded tokens per forward pass by device type. On a CPU, 2,048 keeps every activation small enough for
the allocator to reuse its memory; 8,192 ran the same extraction about 20 % slower (benchmarks/extract.py)."""


@dataclass
class Unit:
    """One sentence (NER) or pair (NLI) and where its pooled vectors go.

    Attributes:
        sequences: Input ids of each forward-pass row of the unit (two for `separate-mean`, else one).
        type_ids: Token type ids per sequence (pair encoders), or None.
        targets: Per sequence, `(start, end, item)`: pool positions `[start, end)` into item `item` of the unit
            (0-based within the unit); sequence `k` fills column block `k` of the item's vector.
        items: What identifies each item of the unit in its split: `(sentence, word)` or `(pair, 0)`.
    """

    sequences: list[list[int]]
    type_ids: list[list[int]] | None
    targets: list[list[tuple[int, int, int]]]
    items: list[tuple[int, int]]

    @property
    def length(self) -> int:
        return max(len(s) for s in self.sequences)


@dataclass
class Plan:
    """Everything the forward passes need: the units and how their targets reduce.

    Attributes:
        units: The units, in the order they will be run (longest first); items are numbered in that order.
        reduce: "first", "mean" or "last" over each target's positions.
        blocks: Column blocks per item (2 for `separate-mean`: premise then hypothesis).
        n_truncated: Words (NER) or pairs (NLI) cut by `max_length`.
    """

    units: list[Unit]
    reduce: str
    blocks: int = 1
    n_truncated: int = 0

    @property
    def n_items(self) -> int:
        return sum(len(unit.items) for unit in self.units)

    @property
    def items(self) -> list[tuple[int, int]]:
        """Item keys in output row order."""
        return [item for unit in self.units for item in unit.items]


def check_pooling(task: str, pooling: str, kind: str, model: str) -> None:
    """Refuse a pooling the task or the model cannot have (e.g. `cls` on a decoder, which has no [CLS] token)."""
    if pooling not in POOLINGS[task]:
        raise BioprobeError(f"Pooling '{pooling}' does not exist for {task.upper()}; use one of "
                            f"{', '.join(POOLINGS[task])}.")
    if pooling == "cls" and kind != "encoder":
        raise BioprobeError(f"Pooling 'cls' needs an encoder's [CLS] token, but {model} is a decoder (it reads left "
                            "to right, so its first token has seen nothing); use 'last' or 'joint-mean'.")


def plan_ner(sentences: list[list[str]], tokenizer, pooling: str, max_length: int) -> Plan:
    """Plan word vectors for NER sentences.

    Args:
        sentences: Words of each sentence, as lists (`dataset["tokens"][:]`, not a lazy datasets column, whose every
            access is an Arrow read).
        tokenizer: The model's tokenizer.
        pooling: "first", "mean" or "last" subword of each word.
        max_length: Longest input in subwords; words past it are cut and counted.

    Returns:
        The plan; its items are `(sentence index, word index)`.
    """
    from bioprobe.align import encode_words

    units, cut = [], 0
    for index, words in enumerate(sentences):
        encoding = encode_words(tokenizer, words, max_length=max_length)
        cut += encoding.n_truncated_words
        kept = [(w, span) for w, span in enumerate(encoding.spans) if span is not None]
        targets = [(start, end, k) for k, (_, (start, end)) in enumerate(kept)]
        units.append(Unit([encoding.input_ids], None, [targets], [(index, w) for w, _ in kept]))
    return Plan(_longest_first(units), pooling, n_truncated=cut)


def plan_nli(premises: list[str], hypotheses: list[str], tokenizer, pooling: str, kind: str,
             max_length: int) -> Plan:
    """Plan pair vectors for NLI.

    The pair is encoded as fine-tuning encodes it (`bioprobe.finetune.encode.encode_nli`: an encoder's own pair format, a
    decoder's `Premise: … Hypothesis: …` template), except for `separate-mean`, which encodes premise and
    hypothesis on their own and concatenates their mean vectors (the study's setup).

    Returns:
        The plan; its items are `(pair index, 0)`.
    """
    import datasets

    from bioprobe.finetune.encode import encode_nli

    units, cut = [], 0
    if pooling == "separate-mean":
        for index, (premise, hypothesis) in enumerate(zip(premises, hypotheses)):
            seqs = []
            for text in (premise, hypothesis):
                full = tokenizer(text)["input_ids"]
                kept = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
                cut += len(kept) < len(full)
                seqs.append(list(kept))
            units.append(Unit(seqs, None, [[(0, len(s), 0)] for s in seqs], [(index, 0)]))
        return Plan(_longest_first(units), "mean", blocks=2, n_truncated=cut)
    rows = datasets.Dataset.from_dict({"premise": list(premises), "hypothesis": list(hypotheses),
                                       "label": ["entailment"] * len(premises)})
    encoded = encode_nli(rows, tokenizer, ("entailment",), max_length, kind)[:]  # lists, read from Arrow once
    types = encoded.get("token_type_ids")
    for index, ids in enumerate(encoded["input_ids"]):
        n = len(ids)
        span = {"joint-mean": (0, n), "cls": (0, 1), "last": (n - 1, n)}[pooling]
        units.append(Unit([ids], [types[index]] if types else None, [[(*span, 0)]], [(index, 0)]))
    return Plan(_longest_first(units), {"joint-mean": "mean", "cls": "first", "last": "last"}[pooling],
                n_truncated=int(sum(encoded["truncated"])))


def plan_in_prompt(task: str, columns: dict, rows: list[int], tokenizer, pooling: str, max_length: int,
                   template: str, seed: int, entity_types: tuple[str, ...] = ()) -> Plan:
    """Plan item vectors with every sentence or pair read inside an instruction prompt, as an instruction-tuned model
    reads its input: the item's seeded analysis instruction (`bioprobe.instructions.analysis_instruction`: for NER
    one of the corpus' entity types) in `template`, with the input tokenised apart so that its spans are exact
    (`bioprobe.finetune.prompts.prompt_parts`).

    NER items are the words (`pooling` first / mean / last over each word's subwords inside the prompt); NLI items
    the pair: `joint-mean` over the input's tokens, `last` the prompt's last token (where the answer is read). An
    input too long for `max_length` loses its last words (NER) or the end of the premise (NLI, as in fine-tuning).

    Args:
        task: "ner" or "nli".
        columns: The split's columns (NER `tokens`; NLI `premise`, `hypothesis`).
        rows: Each item's row index in its split (what the seeded instruction is drawn for).
        tokenizer: The model's tokenizer.
        pooling: As above.
        max_length: Longest prompt in tokens.
        template: "medtuned" or "chat".
        seed: Seed of the instructions.
        entity_types: NER entity types to draw from.

    Returns:
        The plan; its items are `(sentence index, word index)` or `(pair index, 0)`.

    Raises:
        BioprobeError: when the prompt alone leaves no room for the input within `max_length`.
    """
    from bioprobe.align import encode_words
    from bioprobe.instructions import analysis_instruction
    from bioprobe.finetune.prompts import check_template, prompt_parts

    check_template(tokenizer, template, type(tokenizer).__name__)
    parts: dict[str, tuple[list[int], list[int]]] = {}
    units, cut = [], 0
    for k, row in enumerate(rows):
        instruction, _ = analysis_instruction(task, row, seed, entity_types)
        if instruction not in parts:
            parts[instruction] = prompt_parts(tokenizer, template, instruction)
        prefix, suffix = parts[instruction]
        room = max_length - len(prefix) - len(suffix)
        if room <= 0:
            raise BioprobeError(f"--max-length {max_length} leaves no room for the input inside the prompt "
                                f"({len(prefix) + len(suffix)} tokens); pass a larger --max-length.")
        start = len(prefix)
        if task == "ner":
            encoding = encode_words(tokenizer, columns["tokens"][k], max_length=room, add_special_tokens=False)
            cut += encoding.n_truncated_words
            kept = [(w, span) for w, span in enumerate(encoding.spans) if span is not None]
            targets = [(start + a, start + b, j) for j, (_, (a, b)) in enumerate(kept)]
            units.append(Unit([prefix + encoding.input_ids + suffix], None, [targets], [(k, w) for w, _ in kept]))
            continue
        premise = tokenizer("Premise: " + columns["premise"][k], add_special_tokens=False)["input_ids"]
        hypothesis = tokenizer("\nHypothesis: " + columns["hypothesis"][k], add_special_tokens=False)["input_ids"]
        kept_h = hypothesis[:room]
        kept_p = premise[:max(room - len(kept_h), 0)]
        cut += len(kept_p) + len(kept_h) < len(premise) + len(hypothesis)
        ids = prefix + kept_p + kept_h + suffix
        span = (start, start + len(kept_p) + len(kept_h)) if pooling == "joint-mean" else (len(ids) - 1, len(ids))
        units.append(Unit([ids], None, [[(*span, 0)]], [(k, 0)]))
    reduce = {"first": "first", "mean": "mean", "last": "last", "joint-mean": "mean"}[pooling]
    return Plan(_longest_first(units), reduce, n_truncated=cut)


def _longest_first(units: list[Unit]) -> list[Unit]:
    return sorted(units, key=lambda u: -u.length)  # stable: equal lengths keep data order


# Most padding a batch may carry (as a fraction of its padded size): 80 sentences of 5 to 60 subwords in one batch
# would be 60 % padding, which a forward pass computes like real tokens.
MAX_PADDING = 0.1


def length_batches(units: list[Unit], batch_tokens: int, max_padding: float = MAX_PADDING) -> list[list[Unit]]:
    """Split units sorted longest first into consecutive batches for the forward pass.

    A batch's padded size (rows x its longest row) stays within `batch_tokens`, and its padding within
    `max_padding` of that size; a unit longer than `batch_tokens` gets a batch of its own.

    Args:
        units: Units sorted by length, longest first.
        batch_tokens: Padded tokens per forward pass.
        max_padding: Largest fraction of a batch's padded size that may be padding.

    Returns:
        The batches, in order.
    """
    batches, current, rows, width, real = [], [], 0, 0, 0
    for unit in units:
        n, length = len(unit.sequences), unit.length
        new_rows, new_width = rows + n, max(width, length)
        new_real = real + sum(len(s) for s in unit.sequences)
        padded = new_rows * new_width
        if current and (padded > batch_tokens or padded - new_real > max_padding * padded):
            batches.append(current)
            current, new_rows, new_width, new_real = [], n, length, sum(len(s) for s in unit.sequences)
        current.append(unit)
        rows, width, real = new_rows, new_width, new_real
    if current:
        batches.append(current)
    return batches


def _collate(batch: list[Unit], pad_id: int, blocks: int):
    """Pad a batch; sequences of block k of every unit come after those of block k-1.

    Returns:
        `inputs` (tensors for the model) and per-target `(row, start, end, item, block)` with items numbered from
        0 within the batch.
    """
    import torch

    rows, types, targets, item_base = [[] for _ in range(blocks)], [[] for _ in range(blocks)], [], 0
    for unit in batch:
        for k in range(blocks):
            rows[k].append(unit.sequences[k])
            types[k].append(unit.type_ids[k] if unit.type_ids else None)
        n_items = len(unit.items)
        for k in range(blocks):
            row = k * len(batch) + len(rows[k]) - 1
            targets.extend((row, start, end, item_base + item, k) for start, end, item in unit.targets[k])
        item_base += n_items
    sequences = [s for block in rows for s in block]
    type_rows = [t for block in types for t in block]
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for r, s in enumerate(sequences):
        ids[r, :len(s)] = torch.tensor(s)
        mask[r, :len(s)] = 1
    inputs = {"input_ids": ids, "attention_mask": mask}
    if type_rows[0] is not None:
        token_types = torch.zeros_like(ids)
        for r, t in enumerate(type_rows):
            token_types[r, :len(t)] = torch.tensor(t)
        inputs["token_type_ids"] = token_types
    return inputs, targets, item_base


def _pool_index(targets, width: int, reduce: str, n_items: int, blocks: int):
    """Index tensors that turn flattened hidden states `[rows*width, dim]` into item vectors, for every layer.

    Returns:
        `(positions, slots, counts)`: hidden-state rows to read, the output slot (`item * blocks + block`) each one
        adds to, and how many positions each slot averages.
    """
    import torch

    positions, slots = [], []
    for row, start, end, item, block in targets:
        span = {"first": range(start, start + 1), "last": range(end - 1, end), "mean": range(start, end)}[reduce]
        positions.extend(row * width + p for p in span)
        slots.extend([item * blocks + block] * len(span))
    slots_t = torch.tensor(slots)
    counts = torch.bincount(slots_t, minlength=n_items * blocks).clamp(min=1)
    return torch.tensor(positions), slots_t, counts


def run_plan(model, plan: Plan, path: Path, pad_id: int, batch_tokens: int | None = None,
             desc: str = "Extracting") -> dict:
    """Run the model over the plan and write `[layers, items, dim * blocks]` float16 to `path` (`.npy`).

    Rows are written as each batch finishes (with `os.pwrite`, so memory holds one batch, not the data set).
    Values beyond the float16 range are clipped to it and counted.

    Args:
        model: A transformers model (base, task head or PEFT) that returns `hidden_states`.
        plan: What to run (see `plan_ner`, `plan_nli`).
        path: Output `.npy` file.
        pad_id: Padding id.
        batch_tokens: Padded tokens per forward pass (default: `BATCH_TOKENS` of the model's device).
        desc: Progress bar label.

    Returns:
        `{"layers", "items", "dim", "tokens", "clipped"}`.
    """
    import torch
    from tqdm.auto import tqdm

    if plan.n_items == 0:
        raise BioprobeError("There is nothing to extract: the split has no items left (empty, or every word cut by "
                            "--max-length).")
    device = next(model.parameters()).device
    batches = length_batches(plan.units, batch_tokens or BATCH_TOKENS.get(device.type, BATCH_TOKENS["cuda"]))
    handle, header, shape, dtype_size = None, 0, None, np.dtype(np.float16).itemsize
    row, tokens, clipped = 0, 0, 0
    model.eval()
    try:
        with torch.inference_mode():
            for batch in tqdm(batches, desc=desc, unit="batch", leave=False):
                inputs, targets, n_items = _collate(batch, pad_id, plan.blocks)
                tokens += int(inputs["attention_mask"].sum())
                inputs = {k: v.to(device) for k, v in inputs.items()}
                hidden = model(**inputs, output_hidden_states=True).hidden_states
                width = inputs["input_ids"].shape[1]
                positions, slots, counts = (t.to(device) for t in _pool_index(targets, width, plan.reduce, n_items,
                                                                               plan.blocks))
                if handle is None:
                    shape = (len(hidden), plan.n_items, hidden[0].shape[-1] * plan.blocks)
                    handle, header = _open_npy(path, shape)
                for layer, states in enumerate(hidden):
                    flat = states.reshape(-1, states.shape[-1]).float()
                    pooled = torch.zeros((n_items * plan.blocks, flat.shape[1]), device=device, dtype=torch.float32)
                    pooled.index_add_(0, slots, flat.index_select(0, positions))
                    pooled /= counts.unsqueeze(1)
                    if float(pooled.abs().max()) > FP16_MAX:  # rare: count, then clip to the float16 range
                        clipped += int((pooled.abs() > FP16_MAX).sum())
                        pooled.clamp_(-FP16_MAX, FP16_MAX)
                    values = pooled.reshape(n_items, -1).to(torch.float16).cpu().numpy()
                    offset = header + ((layer * shape[1] + row) * shape[2]) * dtype_size
                    os.pwrite(handle, values.data, offset)
                row += n_items
    finally:
        if handle is not None:
            os.close(handle)
    return {"layers": shape[0], "items": shape[1], "dim": shape[2], "tokens": tokens, "clipped": clipped}


def _open_npy(path: Path, shape: tuple[int, int, int]) -> tuple[int, int]:
    """Create an `.npy` file of the given float16 shape (sparse until written); return an fd and the header size."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=shape)
    header = array.offset
    del array
    return os.open(path, os.O_RDWR), header
