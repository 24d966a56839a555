"""Tiny task data sets with a known answer: labels that a small model must learn from one cue word."""

from __future__ import annotations

import json
import random
from pathlib import Path

# Words the tiny tokenizers keep whole (tests/tiny_models.py trains them on biomedical text).
FILLER = ["the", "gene", "protein", "cell", "drug", "kinase", "receptor", "was", "treated", "with", "in", "of",
          "and", "expression"]
NLI_CUE = {"entailment": "increased", "neutral": "cancer", "contradiction": "reduced"}
CHEMICALS = ["insulin", "aspirin"]
DISEASES = ["diabetes"]


def write_cued_nli(folder: Path, sizes=(("train", 240), ("validation", 30), ("test", 60)), seed: int = 0) -> Path:
    """JSONL NLI splits whose label is given by one cue word in the hypothesis (a learnable known answer)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = list(NLI_CUE)
    for split, n in sizes:
        with open(folder / f"{split}.jsonl", "w") as handle:
            for i in range(n):
                label = labels[i % 3]
                premise = " ".join(rng.choice(FILLER) for _ in range(rng.randint(5, 9)))
                words = [rng.choice(FILLER) for _ in range(rng.randint(2, 4))]
                words.insert(rng.randint(0, len(words)), NLI_CUE[label])
                handle.write(json.dumps({"premise": premise, "hypothesis": " ".join(words), "label": label}) + "\n")
    return folder


def write_cued_ner(folder: Path, sizes=(("train", 160), ("dev", 30), ("test", 60)), seed: int = 0) -> Path:
    """CoNLL NER splits in which Chemical and Disease mentions are fixed words (a learnable known answer)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in sizes:
        lines = ["-DOCSTART- O", ""]
        for _ in range(n):
            words = [(w, "O") for w in (rng.choice(FILLER) for _ in range(rng.randint(4, 9)))]
            for entity, kind in ((rng.choice(CHEMICALS), "Chemical"), (rng.choice(DISEASES), "Disease")):
                if rng.random() < 0.8:
                    words.insert(rng.randint(0, len(words)), (entity, f"B-{kind}"))
            lines += [f"{w}\t{t}" for w, t in words] + [""]
        (folder / f"{split}.conll").write_text("\n".join(lines) + "\n")
    return folder


def write_cued_instructions(folder: Path, task: str, sizes=(("train", 96), ("test", 24)), seed: int = 0) -> Path:
    """JSONL instruction splits (instruction, input, output), short so that tiny models train on them fast: NLI
    answered by the label word its hypothesis cue names, NER tagging the Chemical words (`word : B|O` lines)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    words_of = {"entailment": "Entailment", "neutral": "Neutral", "contradiction": "Contradiction"}
    for split, n in sizes:
        with open(folder / f"{split}.jsonl", "w") as handle:
            for i in range(n):
                if task == "nli":
                    label = list(NLI_CUE)[i % 3]
                    text = f"Premise: the {rng.choice(FILLER)}\nHypothesis: {NLI_CUE[label]}"
                    row = {"instruction": "Entailment, Neutral or Contradiction?", "input": text,
                           "output": words_of[label]}
                else:
                    words = [rng.choice(FILLER) for _ in range(rng.randint(2, 4))]
                    words.insert(rng.randint(0, len(words)), rng.choice(CHEMICALS))
                    lines = [f"{w} : {'B' if w in CHEMICALS else 'O'}" for w in words]
                    row = {"instruction": "Tag Chemical named entities (BIO).", "input": " ".join(words),
                           "output": "\n".join(lines)}
                handle.write(json.dumps(row) + "\n")
    return folder
