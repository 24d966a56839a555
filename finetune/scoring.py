"""Parse and score generated answers. NER is read by position (output line i belongs to input word i, split on its
last ` : `) and scored with seqeval over whole sentences; NLI answers are a normalised label word. Every item counts:
an answer that does not parse is wrong, and each failure kind is counted."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from bioprobe.instructions import NLI_WORDS, output_lines

FAILURES = ("empty", "missing_lines", "extra_lines", "word_mismatch", "unknown_label", "no_stop")
"""Failure kinds, counted per item (an item can have several): no answer at all; fewer lines than input words; more
lines; a line whose word is not the input word at its position; a label that is not B / I / O (NER) or not one of
the three label words (NLI); no EOS or `###` within the length cap."""
NLI_LABELS = tuple(NLI_WORDS)
_NLI_ALIASES = {"entailment": "entailment", "entails": "entailment", "entailed": "entailment",
                "neutral": "neutral", "contradiction": "contradiction", "contradicts": "contradiction",
                "contradictory": "contradiction"}
_LEADING = {"answer", "label", "output", "relation", "relationship", "prediction", "the", "is", "it", "this",
            "final", "a", "an", "class"}
"""Words an NLI answer may start with before its label ("Answer: Entailment", "The relation is neutral")."""
_LABEL = re.compile(r"[BI](-\S.*)?|O")


@dataclass
class Parsed:
    """One parsed answer.

    Attributes:
        labels: NER: a label per gold word by position (B / I / O, or typed B-X / I-X; missing or unknown lines
            "O"); NLI: one label name, or "" when none was found.
        failures: Failure kind -> how often it occurred in this answer.
    """

    labels: list[str]
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the answer parsed without any failure."""
        return not any(self.failures.values())


def parse_ner(text: str, words: list[str], stopped: bool = True) -> Parsed:
    """Read an NER answer by position: line i is word i.

    Args:
        text: The generated answer.
        words: The gold words (from the gold answer's lines, i.e. the input's words).
        stopped: Whether generation stopped on its own.

    Returns:
        Labels for every gold word and the failures found.
    """
    lines = output_lines(text)
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
        if said != word:
            failures["word_mismatch"] += 1
        if label is None or not _LABEL.fullmatch(label):
            failures["unknown_label"] += 1
            label = "O"
        labels.append(label)
    failures["extra_lines"] = max(0, len(lines) - len(words))
    if failures["empty"]:
        failures["missing_lines"] = 0  # one failure, not one per word
    return Parsed(labels, failures)


def parse_nli(text: str, stopped: bool = True) -> Parsed:
    """Read an NLI answer: case and punctuation ignored, leading words such as "Answer:" or "The relation is"
    skipped; the next word must be a label word (or an alias: entails, contradicts, ...)."""
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
    return Parsed([label], failures)


def typed(labels: list[str], entity_type: str) -> list[str]:
    """B / I / O labels as seqeval IOB2 tags of `entity_type` (already typed labels are kept)."""
    kind = entity_type or "ENT"
    return [label if label == "O" or "-" in label else f"{label}-{kind}" for label in labels]


def ner_scores(gold: list[list[str]], parsed: list[Parsed], entity_types: list[str]) -> dict[str, float]:
    """Entity-level scores over all items.

    Args:
        gold: Gold labels per item (B / I / O by position).
        parsed: The parsed answers.
        entity_types: The type each item's instruction names ("" when unknown).

    Returns:
        `precision`, `recall`, `f1` (seqeval strict IOB2, micro; an answer with any failure predicts no entity),
        `f1/<type>`, `f1_lenient` (every parsed line counts at its position, failures or not), `parse_rate`,
        `failures/<kind>` (items with that failure).
    """
    from bioprobe.finetune.evaluate import ner_metrics

    gold_tags = [typed(g, t) for g, t in zip(gold, entity_types)]
    strict = [typed(p.labels, t) if p.ok else ["O"] * len(g) for p, g, t in zip(parsed, gold, entity_types)]
    lenient = [typed(p.labels, t) for p, t in zip(parsed, entity_types)]
    metrics = ner_metrics(gold_tags, strict)
    metrics["f1_lenient"] = ner_metrics(gold_tags, lenient)["f1"]
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
        bad = [i for i, (_, label) in enumerate(lines, 1) if label is None or not _LABEL.fullmatch(label)]
        if bad or not lines:
            raise BioprobeError(f"Gold answer line {bad[0] if bad else 1} is not 'word : B|I|O': {output[:80]!r}.")
        return [w for w, _ in lines], [label for _, label in lines]
    parsed = parse_nli(output)
    if not parsed.ok:
        raise BioprobeError(f"The gold answer {output!r} is not an NLI label word (Entailment, Neutral or "
                            "Contradiction).")
    return parsed.labels[0]
