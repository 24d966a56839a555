"""Items as forward-pass rows: a `Unit` is one sentence or pair (its sequences and where each item's vector is pooled
from), a `Plan` the units of a split and how their targets reduce; length-bucketed batches of units and their padding.
Task modules build plans (`bioprobe.tasks`); extraction, attention comparison and head importance run them."""

from __future__ import annotations

from dataclasses import dataclass

IGNORE = -100
"""The label of a position no loss or score reads (a word's later subwords, a prompt token)."""


@dataclass
class Unit:
    """One sentence (NER) or pair (NLI) and where its pooled vectors go.

    Attributes:
        sequences: Input ids of each forward-pass row of the unit (two for `separate-mean`, else one).
        type_ids: Token type ids per sequence (pair encoders), or None.
        targets: Per sequence, `(start, end, item)`: pool positions `[start, end)` into item `item` of the unit
            (0-based within the unit); sequence `k` fills column block `k` of the item's vector, or the block a
            fourth element names (`(start, end, item, block)`: two spans of one sequence, RE's two entities).
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


def longest_first(units: list[Unit]) -> list[Unit]:
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


def collate(batch: list[Unit], pad_id: int):
    """Pad a batch; the k-th sequences of every unit come after the (k-1)-th ones (units of one plan have the same
    number of sequences).

    Returns:
        `inputs` (tensors for the model), per-target `(row, start, end, item, block)` with items numbered from 0
        within the batch, and the number of items.
    """
    import torch

    n = len(batch[0].sequences)
    rows, types, targets, item_base = [[] for _ in range(n)], [[] for _ in range(n)], [], 0
    for unit in batch:
        for k in range(n):
            rows[k].append(unit.sequences[k])
            types[k].append(unit.type_ids[k] if unit.type_ids else None)
            row = k * len(batch) + len(rows[k]) - 1
            targets.extend((row, target[0], target[1], item_base + target[2], target[3] if len(target) > 3 else k)
                           for target in unit.targets[k])
        item_base += len(unit.items)
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
