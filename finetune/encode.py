"""Turn task data into model inputs: NER words to first-subword labels, NLI pairs to one sequence."""

from __future__ import annotations

from bioprobe.align import encode_words, first_subword_labels

IGNORE = -100


def encode_ner(dataset, tokenizer, labels: tuple[str, ...], max_length: int):
    """Tokenize NER sentences; each word's first subword carries its tag id, every other position -100.

    Args:
        dataset: `datasets.Dataset` with `tokens: list[str]` and `tags: list[str]`.
        tokenizer: The model's tokenizer.
        labels: Tag names; a tag's id is its position here.
        max_length: Longest input in subwords; words past it are cut (and predicted as O at evaluation).

    Returns:
        A `datasets.Dataset` with `input_ids`, `attention_mask`, `labels`, `length` and `n_truncated_words`.
    """
    label_id = {label: i for i, label in enumerate(labels)}

    def batch(examples):  # a batch of rows as column lists: one Arrow read per batch, not one per sentence
        out = {"input_ids": [], "attention_mask": [], "labels": [], "length": [], "n_truncated_words": []}
        for words, tags in zip(examples["tokens"], examples["tags"]):
            encoding = encode_words(tokenizer, words, max_length=max_length)
            n = len(encoding.input_ids)
            out["input_ids"].append(encoding.input_ids)
            out["attention_mask"].append([1] * n)
            out["labels"].append(first_subword_labels(encoding, [label_id[tag] for tag in tags], ignore_index=IGNORE))
            out["length"].append(n)
            out["n_truncated_words"].append(encoding.n_truncated_words)
        return out

    return dataset.map(batch, batched=True, remove_columns=dataset.column_names, desc="Tokenizing NER")


def uses_native_pair(tokenizer, kind: str) -> bool:
    """Whether the tokenizer marks a sentence pair itself (encoders with [SEP]); decoders get a text template."""
    return kind == "encoder" and tokenizer.sep_token is not None


PREMISE, HYPOTHESIS = "Premise: ", " Hypothesis: "


def encode_nli(dataset, tokenizer, labels: tuple[str, ...], max_length: int, kind: str):
    """Tokenize premise/hypothesis pairs for sequence classification.

    Encoders get the tokenizer's own pair format (`[CLS] p [SEP] h [SEP]`), truncated longest first. Decoders
    read `Premise: p Hypothesis: h` (the boundary is in the ids, so it survives tokenizers that drop newlines,
    like BioGPT's Moses) and classify from the last real token, which is always the hypothesis's last token:
    long pairs lose the end of the premise, never the hypothesis.

    Returns:
        A `datasets.Dataset` with `input_ids`, `attention_mask` (and `token_type_ids` for pair encoders),
        `labels`, `length` and `truncated`.
    """
    from bioprobe.align import special_tokens

    label_id = {label: i for i, label in enumerate(labels)}
    native_pair = uses_native_pair(tokenizer, kind)
    prefix, suffix = special_tokens(tokenizer)

    def batch(examples):
        if native_pair:
            full = tokenizer(examples["premise"], examples["hypothesis"])["input_ids"]
            out = tokenizer(examples["premise"], examples["hypothesis"], truncation="longest_first",
                            max_length=max_length)
            ids = out["input_ids"]
            truncated = [len(a) > len(b) for a, b in zip(full, ids)]
        else:
            premises = tokenizer([PREMISE + p for p in examples["premise"]], add_special_tokens=False)["input_ids"]
            hypotheses = tokenizer([HYPOTHESIS + h for h in examples["hypothesis"]],
                                   add_special_tokens=False)["input_ids"]
            ids, truncated = [], []
            for p_ids, h_ids in zip(premises, hypotheses):
                room = max_length - len(prefix) - len(suffix)
                kept_h = h_ids[:room]
                kept_p = p_ids[:max(room - len(kept_h), 0)]
                ids.append(prefix + kept_p + kept_h + suffix)
                truncated.append(len(kept_p) + len(kept_h) < len(p_ids) + len(h_ids))
            out = {"attention_mask": [[1] * len(row) for row in ids]}
        encoded = {
            "input_ids": ids,
            "attention_mask": out["attention_mask"],
            "labels": [label_id[label] for label in examples["label"]],
            "length": [len(row) for row in ids],
            "truncated": truncated,
        }
        if "token_type_ids" in out:
            encoded["token_type_ids"] = out["token_type_ids"]
        return encoded

    return dataset.map(batch, batched=True, remove_columns=dataset.column_names, desc="Tokenizing NLI")
