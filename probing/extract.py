"""One pass of a model over task items, every layer pooled in the same pass and streamed to an fp16 `.npy` file.

What an item is and where its vector is pooled from is the task's plan (`Task.probe_plan`: NER words, NLI pairs, ...);
this module runs plans.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bioprobe.errors import BioprobeError
from bioprobe.units import Plan, Unit, collate, length_batches, longest_first

FP16_MAX = float(np.finfo(np.float16).max)
BATCH_TOKENS = {"cpu": 2048, "cuda": 8192}
"""Default padded tokens per forward pass by device type. On a CPU, 2,048 keeps every activation small enough for
the allocator to reuse its memory; 8,192 ran the same extraction about 20 % slower (benchmarks/extract.py)."""


REDUCE = {"first": "first", "mean": "mean", "last": "last", "joint-mean": "mean", "cls": "first", "entities": "mean"}
"""How a pooling reduces its target positions inside a prompt."""


def plan_in_prompt(task: str, columns: dict, rows: list[int], tokenizer, pooling: str, max_length: int,
                   template: str, seed: int, labels: tuple[str, ...] = ()) -> Plan:
    """Plan item vectors with every item read inside an instruction prompt, as an instruction-tuned model reads its
    input: the item's seeded analysis instruction (`Task.analysis_instruction`: for NER one of the corpus' entity
    types) in `template`, with the input tokenised apart so that its spans are exact
    (`bioprobe.finetune.prompts.prompt_parts`); what is pooled is the task's (`Task.prompted`: NER each word's
    subwords, NLI the pair's tokens or the prompt's last token). An input too long for `max_length` loses its end
    (NER its last words, NLI the end of the premise, as in fine-tuning).

    Args:
        task: The task's name.
        columns: The split's columns.
        rows: Each item's row index in its split (what the seeded instruction is drawn for).
        tokenizer: The model's tokenizer.
        pooling: The task's pooling.
        max_length: Longest prompt in tokens.
        template: "medtuned" or "chat".
        seed: Seed of the instructions.
        labels: The task's label set (NER: the entity types an instruction names are drawn from it).

    Returns:
        The plan; its items are `(item index, word index)` (0 where an item has one vector).

    Raises:
        BioprobeError: when the prompt alone leaves no room for the input within `max_length`.
    """
    from bioprobe.tasks import get_task
    from bioprobe.finetune.prompts import check_template, prompt_parts

    spec = get_task(task)
    check_template(tokenizer, template, type(tokenizer).__name__)
    parts: dict[str, tuple[list[int], list[int]]] = {}
    units, cut = [], 0
    for k, row in enumerate(rows):
        instruction, _ = spec.analysis_instruction(row, seed, labels)
        if instruction not in parts:
            parts[instruction] = prompt_parts(tokenizer, template, instruction)
        prefix, suffix = parts[instruction]
        room = max_length - len(prefix) - len(suffix)
        if room <= 0:
            raise BioprobeError(f"--max-length {max_length} leaves no room for the input inside the prompt "
                                f"({len(prefix) + len(suffix)} tokens); pass a larger --max-length.")
        prompted = spec.prompted(columns, k, tokenizer, pooling, room, len(prefix), len(suffix))
        cut += prompted.truncated
        units.append(Unit([prefix + prompted.ids + suffix], None, [prompted.targets], prompted.items))
    return Plan(longest_first(units), REDUCE[pooling], blocks=spec.prompt_blocks(pooling), n_truncated=cut)


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


def default_batch_tokens(model) -> int:
    """Tokens per extraction pass: `BATCH_TOKENS["cpu"]` on a CPU; on a GPU, from the memory it has free after
    loading (`bioprobe.memory.batch_tokens`, every hidden state kept), at least `BATCH_TOKENS["cuda"]`."""
    from bioprobe import memory

    if next(model.parameters()).device.type != "cuda":
        return BATCH_TOKENS["cpu"]
    return memory.batch_tokens(model, BATCH_TOKENS["cuda"], keep_hidden=True)


def run_plan(model, plan: Plan, path: Path, pad_id: int, batch_tokens: int | None = None,
             desc: str = "Extracting") -> dict:
    """Run the model over the plan and write `[layers, items, dim * blocks]` float16 to `path` (`.npy`).

    Rows are written as each batch finishes (with `os.pwrite`, so memory holds one batch, not the data set).
    Values beyond the float16 range are clipped to it and counted.

    Args:
        model: A transformers model (base, task head or PEFT) that returns `hidden_states`.
        plan: What to run (`Task.probe_plan`, `plan_in_prompt`).
        path: Output `.npy` file.
        pad_id: Padding id.
        batch_tokens: Padded tokens per forward pass (default: `default_batch_tokens`).
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
    batches = length_batches(plan.units, batch_tokens or default_batch_tokens(model))
    handle, header, shape, dtype_size = None, 0, None, np.dtype(np.float16).itemsize
    row, tokens, clipped = 0, 0, 0
    model.eval()
    try:
        with torch.inference_mode():
            for batch in tqdm(batches, desc=desc, unit="batch", leave=False):
                inputs, targets, n_items = collate(batch, pad_id)
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
