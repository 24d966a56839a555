"""A classifier's logits on an encoded split, length-bucketed under `inference_mode` (the task modules turn them into
metrics: `bioprobe.tasks`)."""

from __future__ import annotations

import numpy as np


def predict_logits(model, dataset, collator, batch_size: int = 32) -> list[np.ndarray]:
    """Logits of every item, in the data set's order, from length-bucketed batches under `inference_mode`.

    Args:
        model: A token- or sequence-classification model.
        dataset: Encoded items (`input_ids`, `attention_mask`, optional `token_type_ids`; `labels` are ignored).
        collator: Pads a list of items into a batch.
        batch_size: Items per forward pass.

    Returns:
        One array per item: `[positions, classes]` (its real positions only) for token classification, or
        `[classes]` for sequence classification.
    """
    import torch
    from tqdm.auto import tqdm

    inputs = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in dataset.column_names]
    columns = dataset.select_columns(inputs)[:]  # lists, read from Arrow once (not one row access per item)
    lengths = np.array([len(ids) for ids in columns["input_ids"]])
    order = np.argsort(-lengths, kind="stable")
    device = next(model.parameters()).device
    out: list = [None] * len(lengths)
    model.eval()
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), batch_size), desc="Evaluating", unit="batch", leave=False):
            chunk = order[start:start + batch_size]
            batch = collator([{c: columns[c][i] for c in inputs} for i in chunk])
            batch = {k: v.to(device) for k, v in batch.items() if k in inputs}
            logits = model(**batch).logits.float().cpu().numpy()
            for row, i in zip(logits, chunk):
                out[i] = row[: lengths[i]] if row.ndim == 2 else row
    return out
