"""Parse and score generated answers. NER is read by position (output line i belongs to input word i, split on its
last ` : `; where the tokenizer cannot write a newline, entries follow each other on one line) and scored at the entity
level over all items; NLI answers are a normalised label word. Every item counts: an answer that does not parse is
wrong, scores no better than any well-formed answer, and each failure kind is counted."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from bioprobe.instructions import NER_LABEL, NLI_WORDS, SEPARATOR, output_lines
from bioprobe.finetune.decode import squeeze

FAILURES = ("empty", "missing_lines", "extra_lines", "word_mismatch", "unknown_label", "several_labels", "no_stop")
"""Failure kinds, counted per item (an item can have several): no answer at all; fewer lines than input words; more
lines; a line whose word is not the input word at its position; a label that is not B / I / O (NER) or not one of
the three label words (NLI); an NLI answer that names two different labels ("Entailment or Contradiction"); no EOS or
stop text within the length cap."""
NLI_LABELS = tuple(NLI_WORDS)
_NLI_ALIASES = {"entailment": "entailment", "entails": "entailment", "entailed": "entailment",
                "neutral": "neutral", "contradiction": "contradiction", "contradicts": "contradiction",
                "contradictory": "contradiction"}
_LEADING = {"answer", "label", "output", "relation", "relationship", "prediction", "the", "is", "it", "this",
            "final", "a", "an", "class"}
"""Words an NLI answer may start with before its label ("Answer: Entailment", "The relation is neutral")."""


@dataclass
class Parsed:
    """One parsed answer.

    Attributes:
        labels: NER: a label per gold word by position (B / I / O, or typed B-X / I-X; missing or unknown lines
            "O"); NLI: one label name, or "" when none was found.
        failures: Failure kind -> how often it occurred in this answer.
        aligned: NER: a label per gold word from the answer line aligned to it by `align_lines` (a monotone
            alignment on the word text), "O" where no line aligns; what `f1_aligned` scores.
    """

    labels: list[str]
    failures: dict[str, int] = field(default_factory=dict)
    aligned: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the answer parsed without any failure."""
        return not any(self.failures.values())


def flat_lines(text: str) -> list[tuple[str, str | None]]:
    """An NER answer written on one line (`w1 : B w2 : O ...`, as a tokenizer without newlines writes the
    line-per-word answer) as `(word, label)` entries: an entry ends at a `:` token followed by a label token; its word
    is everything since the previous entry (a word may be `:` itself or be spaced by the tokenizer: "b 's"). Trailing
    text without a label is one more entry with label None."""
    tokens = text.split()
    entries, start, k = [], 0, 0
    while k < len(tokens) - 1:
        if tokens[k] == SEPARATOR.strip() and k > start and NER_LABEL.fullmatch(tokens[k + 1]):
            entries.append((" ".join(tokens[start:k]), tokens[k + 1]))
            start = k = k + 2
        else:
            k += 1
    if start < len(tokens):
        entries.append((" ".join(tokens[start:]), None))
    return entries


def align_lines(said: list[str], words: list[str]) -> list[int | None]:
    """A monotone alignment of answer lines to input words on their text (whitespace ignored): the longest common
    subsequence, so a skipped or inserted word shifts nothing after it.

    Args:
        said: The word of each answer line.
        words: The input words.

    Returns:
        For each input word, the index of the answer line aligned to it, or None.
    """
    a, b = [squeeze(w) for w in said], [squeeze(w) for w in words]
    n, m = len(a), len(b)
    table = np.zeros((n + 1, m + 1), dtype=np.int32)
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i, j] = table[i + 1, j + 1] + 1 if a[i] == b[j] else max(table[i + 1, j], table[i, j + 1])
    out: list[int | None] = [None] * m
    i = j = 0
    while i < n and j < m:
        if a[i] == b[j]:
            out[j] = i
            i, j = i + 1, j + 1
        elif table[i + 1, j] >= table[i, j + 1]:
            i += 1
        else:
            j += 1
    return out


def parse_ner(text: str, words: list[str], stopped: bool = True, flat: bool = False) -> Parsed:
    """Read an NER answer by position: line i is word i (its word compared with the input word up to whitespace).

    Args:
        text: The generated answer (`bioprobe.finetune.decode.answer_text`: no detokeniser clean-up).
        words: The gold words (from the gold answer's lines, i.e. the input's words).
        stopped: Whether generation stopped on its own.
        flat: The tokenizer cannot write newlines (BioGPT): entries follow each other on one line (`flat_lines`).

    Returns:
        Labels for every gold word, the failures found, and the labels of the aligned reading.
    """
    lines = flat_lines(text) if flat else output_lines(text)
    failures = dict.fromkeys(FAILURES, 0)
    failures["empty"] = int(not text.strip())
    failures["no_stop"] = int(not stopped)
    labels = []
    for i, word in enumerate(words):
        if i >= len(lines):
            failures["missing_lines"] += 1
            labels.append("O")
            continue
        said, label = lines[i]
        if squeeze(said) != squeeze(word):
            failures["word_mismatch"] += 1
        if label is None or not NER_LABEL.fullmatch(label):
            failures["unknown_label"] += 1
            label = "O"
        labels.append(label)
    failures["extra_lines"] = max(0, len(lines) - len(words))
    if failures["empty"]:
        failures["missing_lines"] = 0  # one failure, not one per word
    aligned = []
    for line in align_lines([said for said, _ in lines], words):
        label = lines[line][1] if line is not None else None
        aligned.append(label if label is not None and NER_LABEL.fullmatch(label) else "O")
    return Parsed(labels, failures, aligned)


def parse_nli(text: str, stopped: bool = True) -> Parsed:
    """Read an NLI answer: case and punctuation ignored, leading words such as "Answer:" or "The relation is"
    skipped; the next word must be a label word (or an alias: entails, contradicts, ...). An answer that names
    another label too ("Entailment or Contradiction", "entailment? maybe neutral") is a `several_labels` failure;
    verbs in an explanation ("Neutral: it neither entails nor contradicts it") are not label names."""
    failures = dict.fromkeys(FAILURES, 0)
    failures["no_stop"] = int(not stopped)
    words = re.findall(r"[a-z]+", text.lower())
    if not words:
        failures["empty"] = 1
        return Parsed([""], failures)
    while len(words) > 1 and words[0] in _LEADING:
        words = words[1:]
    label = _NLI_ALIASES.get(words[0], "")
    failures["unknown_label"] = int(not label)
    failures["several_labels"] = int(bool(label) and any(w in NLI_LABELS and w != label for w in words[1:]))
    return Parsed([label], failures)


def typed(labels: list[str], entity_type: str) -> list[str]:
    """B / I / O labels as seqeval IOB2 tags of `entity_type` (already typed labels are kept)."""
    kind = entity_type or "ENT"
    return [label if label == "O" or "-" in label else f"{label}-{kind}" for label in labels]


def _entities(tags: list[str]) -> set[tuple[str, int, int]]:
    """The entities of one IOB2 tag sequence as `(type, start, end)`, read as seqeval's strict IOB2 mode reads them
    (an I- that does not continue a B- of its type starts no entity)."""
    from seqeval.scheme import IOB2, Tokens

    return {(e.tag, e.start, e.end) for e in Tokens(tags, scheme=IOB2).entities}


def entity_scores(gold: list[list[str]], predicted: list[list[str] | None], types: list[str]) -> dict[str, float]:
    """Entity-level micro precision, recall and F1 (strict IOB2, the same counts as seqeval's) and F1 per gold type.

    Args:
        gold: Gold IOB2 tags per item (typed, `B-Disease`).
        predicted: Predicted IOB2 tags per item, or None for an answer that failed to parse.
        types: The entity type each item asks for (where a failed item's false positives are counted).

    Returns:
        `{"precision", "recall", "f1", "f1/<type>" ...}` (per type only for types with gold entities).

    A failed answer counts every gold entity of its item as missed and one false positive per input word, the most
    entities any well-formed answer can predict: so it never scores better than any well-formed answer to the same
    item (where the gold has no entity, an all-O answer would otherwise be perfect).
    """
    right, found, wanted = Counter(), Counter(), Counter()
    for tags, guess, kind in zip(gold, predicted, types):
        truth = _entities(tags)
        wanted.update(e[0] for e in truth)
        if guess is None:
            found[kind] += len(tags)
            continue
        said = _entities(guess)
        found.update(e[0] for e in said)
        right.update(e[0] for e in said & truth)

    def prf(tp: int, n_found: int, n_wanted: int) -> tuple[float, float, float]:
        precision = tp / n_found if n_found else 0.0
        recall = tp / n_wanted if n_wanted else 0.0
        return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    precision, recall, f1 = prf(sum(right.values()), sum(found.values()), sum(wanted.values()))
    out = {"precision": precision, "recall": recall, "f1": f1}
    for kind in sorted(wanted):
        out[f"f1/{kind}"] = prf(right[kind], found[kind], wanted[kind])[2]
    return out


def ner_scores(gold: list[list[str]], parsed: list[Parsed], entity_types: list[str]) -> dict[str, float]:
    """Entity-level scores over all items.

    Args:
        gold: Gold labels per item (B / I / O by position).
        parsed: The parsed answers.
        entity_types: The type each item's instruction names ("" when unknown).

    Returns:
        `precision`, `recall`, `f1` (strict IOB2, micro; a failed answer scored as `entity_scores` says), `f1/<type>`,
        `f1_lenient` (every parsed line counts at its position, failures or not), `f1_aligned` (every answer line
        counts at the input word it aligns to by its text, `align_lines`: a skipped or inserted word costs its own
        label only), `parse_rate`, `failures/<kind>` (items with that failure).
    """
    gold_tags = [typed(g, t) for g, t in zip(gold, entity_types)]
    kinds = [entity_type or "ENT" for entity_type in entity_types]
    strict = [typed(p.labels, t) if p.ok else None for p, t in zip(parsed, entity_types)]
    metrics = entity_scores(gold_tags, strict, kinds)
    metrics["f1_lenient"] = entity_scores(gold_tags, [typed(p.labels, t) for p, t in zip(parsed, entity_types)],
                                          kinds)["f1"]
    metrics["f1_aligned"] = entity_scores(gold_tags, [typed(p.aligned, t) for p, t in zip(parsed, entity_types)],
                                          kinds)["f1"]
    return {**metrics, **_parse_counts(parsed)}


def nli_scores(gold: list[str], parsed: list[Parsed]) -> dict[str, float]:
    """`accuracy` and `macro_f1` over all items (an answer with any failure is wrong), `parse_rate`,
    `failures/<kind>`."""
    from bioprobe.finetune.evaluate import nli_metrics

    index = {label: i for i, label in enumerate(NLI_LABELS)}
    truth = np.array([index[label] for label in gold])
    predicted = np.array([index[p.labels[0]] if p.ok else -1 for p in parsed])
    return {**nli_metrics(truth, predicted, len(NLI_LABELS)), **_parse_counts(parsed)}


def loglik_scores(gold: list[str], logliks: np.ndarray) -> dict[str, float]:
    """NLI by ranked log-likelihood of the three label words: `loglik_accuracy`, `loglik_macro_f1`."""
    from bioprobe.finetune.evaluate import nli_metrics

    index = {label: i for i, label in enumerate(NLI_LABELS)}
    scores = nli_metrics(np.array([index[label] for label in gold]), logliks.argmax(1), len(NLI_LABELS))
    return {f"loglik_{name}": value for name, value in scores.items()}


def _parse_counts(parsed: list[Parsed]) -> dict[str, float]:
    out = {"parse_rate": float(np.mean([p.ok for p in parsed])) if parsed else float("nan")}
    for kind in FAILURES:
        out[f"failures/{kind}"] = int(sum(p.failures.get(kind, 0) > 0 for p in parsed))
    return out


def gold_labels(task: str, output: str) -> tuple[list[str], list[str]] | str:
    """The gold answer: NER `(words, labels)` from its lines; NLI the label name.

    Raises:
        BioprobeError: for a gold NER line that is not `word : label` or an NLI answer that is no label word.
    """
    from bioprobe.errors import BioprobeError

    if task == "ner":
        lines = output_lines(output)
        bad = [i for i, (_, label) in enumerate(lines, 1) if label is None or not NER_LABEL.fullmatch(label)]
        if bad or not lines:
            raise BioprobeError(f"Gold answer line {bad[0] if bad else 1} is not 'word : B|I|O': {output[:80]!r}.")
        return [w for w, _ in lines], [label for _, label in lines]
    parsed = parse_nli(output)
    if not parsed.ok:
        raise BioprobeError(f"The gold answer {output!r} is not an NLI label word (Entailment, Neutral or "
                            "Contradiction).")
    return parsed.labels[0]
