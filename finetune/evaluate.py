"""Task metrics from predictions: seqeval entity-level scores for NER, accuracy and macro-F1 for NLI."""

from __future__ import annotations

import numpy as np

from bioprobe.finetune.encode import IGNORE


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


def word_predictions(logits: list[np.ndarray], labels: list[list[int]], gold_tags: list[list[str]],
                     names: tuple[str, ...]) -> list[list[str]]:
    """Predicted tag per word, read at each word's first subword.

    Args:
        logits: Per sentence `[positions, classes]`.
        labels: Per sentence, gold ids at first subwords and -100 elsewhere (as `encode_ner` makes them).
        gold_tags: Gold tags per sentence (all words, including any cut by truncation).
        names: Tag names by id.

    Returns:
        Predicted tags with the same shape as `gold_tags`; words cut by truncation are predicted "O".
    """
    predicted = []
    for row_logits, row_labels, gold in zip(logits, labels, gold_tags):
        positions = np.flatnonzero(np.asarray(row_labels) != IGNORE)
        tags = [names[i] for i in row_logits[positions].argmax(-1)]
        predicted.append(tags + ["O"] * (len(gold) - len(tags)))
    return predicted


def ner_metrics(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Entity-level micro precision/recall/F1 (seqeval, strict IOB2) and F1 per entity type.

    Returns:
        `{"precision", "recall", "f1", "f1/<type>" ...}`.
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    report = classification_report(gold, predicted, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    out = {
        "precision": float(report["micro avg"]["precision"]),
        "recall": float(report["micro avg"]["recall"]),
        "f1": float(report["micro avg"]["f1-score"]),
    }
    for name, scores in report.items():
        if name not in ("micro avg", "macro avg", "weighted avg") and scores["support"] > 0:
            out[f"f1/{name}"] = float(scores["f1-score"])
    return out


def nli_metrics(gold: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 over all classes (a class never predicted scores F1 0)."""
    from sklearn.metrics import f1_score

    return {
        "accuracy": float((gold == predicted).mean()),
        "macro_f1": float(f1_score(gold, predicted, labels=list(range(n_classes)), average="macro",
                                   zero_division=0)),
    }
