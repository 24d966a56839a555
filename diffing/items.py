"""The items both models are read on, tokenised and batched once: a decoder's seeded test prompts with their gold
answers (the batches `bioprobe.causal.score.answer_scorer` scores: labels on the answer tokens and EOS only), or an
encoder's test items with a seeded share of their tokens masked (labels: the original tokens there)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE = -100


@dataclass
class Items:
    """Batched items.

    Attributes:
        batches: `(inputs on the device, item index per row)`; inputs hold `input_ids`, `attention_mask` and
            `labels` (-100 where nothing is predicted), right-padded.
        n_items: Items read.
        shift: 1 when position t predicts token t + 1 (decoders), 0 when it predicts its own token (masked LM).
        truncated: Items left out as too long for `--max-length` (prompts) or cut at it (encoders).
    """

    batches: list
    n_items: int
    shift: int
    truncated: int = 0


def prompt_items(spec, pair, rows, labels: tuple[str, ...], s) -> Items:
    """A decoder's seeded test prompts with their gold answers, in `answer_scorer`'s batches."""
    from bioprobe.causal.score import answer_scorer

    scorer = answer_scorer(spec, pair.tokenizer, rows, pair.template, s.seed, labels, s.prompt_length,
                           s.batch_tokens, pair.device, False)
    return Items(scorer.batches, scorer.n_items, 1, scorer.truncated)


def masked_items(spec, tokenizer, rows, share: float, max_length: int, batch_tokens: int, seed: int,
                 device) -> Items:
    """An encoder's items (the task's plain input text, `Task.prompt_input`) with `share` of each item's non-special
    tokens (at least one) replaced by the mask token, chosen with `seed`; labels hold the original tokens there."""
    from bioprobe.errors import BioprobeError
    from bioprobe.finetune.prompts import collate
    from bioprobe.units import Unit, length_batches

    if tokenizer.mask_token_id is None:
        raise BioprobeError("The tokenizer has no mask token, so no token can be masked for the lens to read.")
    rng = np.random.default_rng(seed)
    examples, truncated = [], 0
    for row in rows.to_list():
        encoded = tokenizer(spec.prompt_input(row), truncation=True, max_length=max_length,
                            return_special_tokens_mask=True)
        ids = list(encoded["input_ids"])
        truncated += len(tokenizer(spec.prompt_input(row))["input_ids"]) > max_length
        candidates = [i for i, special in enumerate(encoded["special_tokens_mask"]) if not special]
        chosen = sorted(rng.choice(candidates, size=max(1, round(share * len(candidates))), replace=False)) \
            if candidates else []
        labels = [IGNORE] * len(ids)
        for i in chosen:
            labels[i], ids[i] = ids[i], tokenizer.mask_token_id
        examples.append({"input_ids": ids, "labels": labels})
    units = [Unit([e["input_ids"]], None, [[]], [(i, 0)]) for i, e in enumerate(examples)]
    batches = []
    for batch in length_batches(sorted(units, key=lambda u: -u.length), batch_tokens):
        index = [unit.items[0][0] for unit in batch]
        padded = collate([examples[i] for i in index], tokenizer.pad_token_id)
        batches.append(({k: v.to(device) for k, v in padded.items()}, index))
    return Items(batches, len(examples), 0, truncated)


def read_positions(labels, attention_mask, shift: int):
    """Which gold token each position is read as a prediction of.

    Args:
        labels: `[batch, length]` gold ids, -100 where none.
        attention_mask: `[batch, length]`.
        shift: 1 (position t predicts token t + 1) or 0 (its own token).

    Returns:
        `(rows, positions, gold)`: 1-D tensors of the positions read and their gold tokens.
    """
    import torch

    gold = labels[:, shift:] if shift else labels
    keep = (gold != IGNORE) & (attention_mask[:, shift:] == 1 if shift else attention_mask == 1)
    rows, positions = torch.nonzero(keep, as_tuple=True)
    return rows, positions, gold[rows, positions]
